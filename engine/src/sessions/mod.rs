//! Sessions: the HTTP/1 session serving one client connection, and the TCP tunnel.

pub mod http;
pub mod tcp;
