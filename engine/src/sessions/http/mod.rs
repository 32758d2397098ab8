//! HTTP/1.x proxying: the session that serves one client connection end to end, over the
//! codec in `crate::codec` and the analysis in `crate::analysis` (error pages included).
//! `LIFECYCLE.md` beside this file describes a connection's states and timeouts.

pub mod session;
mod trace;

mod response;
mod service;
mod tunnel;

pub use session::{
    resume_http, serve_http, serve_http_as, Ended, IdleConn, SessionSummary, Termination, Tunnel,
};
