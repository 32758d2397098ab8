//! `option abortonclose`: noticing, while a request waits for a server, that its client
//! closed. Watches readiness only (no read that would pin a buffer), then peeks one byte:
//! end-of-stream or an error means the client is gone.

use std::os::fd::AsRawFd;

use crate::io::transport::Stream;

/// Completes when `client` has closed (or failed). Never completes while the client is
/// silent; bytes waiting (a pipelined request) end the watch without completing.
pub async fn client_closed(client: &Stream) {
    if let Some(m) = client.mux() {
        // An HTTP/2 stream's client is gone when it reset the stream or left.
        return m.closed().await;
    }
    if let Some(t) = client.tls() {
        // The bytes on the socket are records: a close_notify is bytes too.
        loop {
            if t.readable().await.is_err() {
                return;
            }
            match t.closed_now() {
                Some(true) => return,
                Some(false) => return std::future::pending().await,
                None => {}
            }
        }
    }
    loop {
        if client.readable(false).await.is_err() {
            return;
        }
        let mut byte = 0u8;
        // SAFETY: a one-byte peek into a local; the descriptor is owned by `client`.
        let n = unsafe {
            libc::recv(
                client.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => return,
            n if n > 0 => return std::future::pending().await,
            _ => match std::io::Error::last_os_error().kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => {}
                _ => return,
            },
        }
    }
}
