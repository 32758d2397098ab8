//! The lowest layer: pooled buffers, reads and writes bounded by a timeout, the latch
//! tasks wait on, and the PROXY protocol header a connection may start with.

pub mod buffer;
pub mod deadline;
pub mod duplex;
pub mod host;
pub mod latch;
pub mod localtime;
pub mod poll_io;
pub mod proxy_protocol;
pub mod socket_file;
pub mod timed;
pub mod tls;
pub mod transport;
pub mod users;
