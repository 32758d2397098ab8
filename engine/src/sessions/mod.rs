//! Sessions: the HTTP/1 session serving one client connection request after request, the
//! HTTP/2 multiplexer serving each of a connection's streams through that same session, and
//! the TCP session tunnelling one. They reach their worker through [`router::Router`].

pub mod h2;
pub mod http;
pub mod router;
pub mod tcp;
