//! Shared fixtures of the HTTP integration tests: a fixture origin server, a test upstream
//! with an idle pool, a blocking HTTP client, and the proxy under test on loopback.
#![allow(dead_code)] // each test file uses its own subset

pub mod client;
pub mod origin;
pub mod proxy;
