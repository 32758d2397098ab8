//! Fixtures of the engine's integration tests, in one home: the engine in-process
//! ([`engine`]), the `ringlb` binary as a child process ([`process`]), the HTTP client
//! ([`client`]), the origin servers behind the proxy ([`origin`]), and the in-process HTTP
//! session harness ([`proxy`]), nginx as a TLS origin ([`nginx`]), Debian's haproxy for side-by-side checks ([`haproxy`]). Each test file says `mod support;` and `use support::*;`;
//! the files that drive the harness import it by name (`use support::proxy::{…}`).
#![allow(dead_code, unused_imports)] // each test binary uses its own subset

pub mod client;
pub mod engine;
pub mod haproxy;
pub mod nginx;
pub mod origin;
pub mod process;
pub mod proxy;
pub mod tls;

pub use client::*;
pub use engine::*;
pub use haproxy::*;
pub use nginx::*;
pub use origin::*;
pub use process::*;
pub use tls::*;

/// Generates `NAME::io_uring` and `NAME::epoll` tests calling `body(legacy_driver)`.
#[macro_export]
macro_rules! both_drivers {
    ($name:ident, $body:path) => {
        mod $name {
            #[test]
            fn io_uring() {
                $body(false)
            }
            #[test]
            fn epoll() {
                $body(true)
            }
        }
    };
}
