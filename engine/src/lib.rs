//! ringlb: the data plane and the command line.

pub mod acl;
pub mod admin;
pub mod backend;
pub mod buffer;
pub mod check_cmd;
pub mod cli;
pub mod control;
pub mod health;
pub mod http;
pub mod lb;
pub mod lifecycle;
pub mod limits;
pub mod log;
pub mod logformat;
pub mod pending;
pub mod run;
pub mod shard;
pub mod stats;
pub mod tcp;
pub mod unique_id;
