//! ringlb: the data plane and the command line.

pub mod backend;
pub mod buffer;
pub mod control;
pub mod limits;
pub mod run;
pub mod shard;
pub mod tcp;
