//! The lowest layer: pooled buffers, reads and writes bounded by a timeout, and the latch
//! tasks wait on.

pub mod buffer;
pub mod duplex;
pub mod latch;
pub mod localtime;
pub mod poll_io;
pub mod socket_file;
pub mod timed;
pub mod tls;
pub mod transport;
pub mod users;
