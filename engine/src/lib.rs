//! ringlb: the data plane and the command line.

pub mod buffer;
pub mod cli;
pub mod http;
