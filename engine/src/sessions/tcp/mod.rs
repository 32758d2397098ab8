//! `mode tcp`: the session choosing a server, and the tunnel joining the two connections.
//! See `LIFECYCLE.md` for the states a tunnel goes through and who closes what.

pub mod inspect;
pub mod proxy;
pub mod session;

pub use proxy::{proxy, Transfer, TunnelEnd, TunnelStats, TunnelTimeouts};
