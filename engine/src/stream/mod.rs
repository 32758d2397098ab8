//! The stream: what one request (or one tunnel) is while analysis and the backend work on
//! it — the transaction value fetches read, the samples they yield, the rewrites and
//! variables rules leave on it, and why it ended.

pub mod inspected;
pub mod sample;
pub mod termination;
pub mod txn;
pub mod vars;

/// A client connection's addresses as the stream sees them: the client's, then the one it
/// reached. The socket's own, or those a PROXY protocol header announced (`accept-proxy`).
pub type Addrs = (std::net::SocketAddr, std::net::SocketAddr);
