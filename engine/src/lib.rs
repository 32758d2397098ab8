//! ringlb: the data plane and the command line.

pub mod acl;
pub mod backend;
pub mod buffer;
pub mod cli;
pub mod control;
pub mod http;
pub mod lb;
pub mod limits;
pub mod logformat;
pub mod pending;
pub mod run;
pub mod shard;
pub mod tcp;
