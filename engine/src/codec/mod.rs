//! The HTTP/1 codec: heads parsed into offsets, message framing, chunked bodies, head
//! rewriting and edits, connection modes, protocol upgrades, and streaming a body from one
//! socket to another; and HTTP/2 messages in HTTP/1.1 form and back.

pub mod body;
pub mod chunked;
pub mod conn_mode;
pub mod edits;
pub mod framing;
pub mod h2_body;
pub mod head;
pub mod http2;
pub mod rewrite;
pub mod status;
pub mod upgrade;
