//! HTTP/1.x proxying: the codec (heads, framing, chunked bodies, rewriting, connection
//! modes, error pages) and the session that serves one client connection end to end.
//! `LIFECYCLE.md` beside this file describes a connection's states and timeouts.

pub mod chunked;
pub mod conn_mode;
pub mod edits;
pub mod errors;
pub mod framing;
pub mod head;
pub mod persist;
pub mod replies;
pub mod reuse;
pub mod rewrite;
pub mod rules;
pub mod session;
pub mod settings;
pub mod upstream;

mod body;
mod io;
mod response;
mod service;

pub use session::{serve_http, SessionSummary, Termination};
pub use settings::{HttpBackend, HttpFrontend};
pub use upstream::{Pick, Reuse, Router, Upstream, UpstreamConn, UpstreamError};
