//! `mode tcp`: a client connection and a server connection joined into a tunnel.
//! See `LIFECYCLE.md` for the states a tunnel goes through and who closes what.

pub mod proxy;
mod timed;

pub use proxy::{proxy, Transfer, TunnelEnd, TunnelStats, TunnelTimeouts};
