//! Sessions: the HTTP/1 session serving one client connection request after request, and
//! the TCP session tunnelling one. Both reach their worker through [`router::Router`].

pub mod http;
pub mod router;
pub mod tcp;
