//! Starting and stopping the process: configuration to running workers, the command line,
//! signals, and the lifecycle (daemon, master-worker, reload by descriptor passing).

pub mod check_cmd;
pub mod cli;
pub mod control;
pub mod lifecycle;
pub mod overrides;
pub mod pending;
pub mod run;
