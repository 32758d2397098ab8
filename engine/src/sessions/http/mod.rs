//! HTTP/1.x proxying: the codec (heads, framing, chunked bodies, rewriting, connection
//! modes, error pages) and the session that serves one client connection end to end.
//! `LIFECYCLE.md` beside this file describes a connection's states and timeouts.

pub mod session;
mod trace;

mod response;
mod service;

pub use session::{serve_http, SessionSummary, Termination};
