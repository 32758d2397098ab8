//! ringlb: the data plane and the command line, in layers that depend one way only (a
//! module names only those listed above it; see docs/ARCHITECTURE.md).

pub mod analysis;
pub mod backend;
pub mod boot;
pub mod codec;
pub mod io;
pub mod log;
pub mod metrics;
pub mod services;
pub mod sessions;
pub mod stream;
pub mod worker;
