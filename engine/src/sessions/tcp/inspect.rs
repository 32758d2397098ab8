//! `tcp-request content` rules of a `mode tcp` stream, waiting up to `tcp-request
//! inspect-delay` for the request bytes their conditions need (a TLS ClientHello for
//! `req.ssl_sni`). The bytes read are kept, to be forwarded to the server unchanged.

use std::os::fd::AsRawFd;
use std::time::Duration;

use monoio::time::Instant;

use crate::analysis::rules::{ProxyRules, TcpVerdict};
use crate::io::buffer::BufferPool;
use crate::io::timed::{read_now, readable, ReadOutcome, Readiness};
use crate::io::transport::Stream;
use crate::stream::inspected::Inspected;
use crate::stream::txn::Txn;

/// How the content rules ended.
pub enum Inspection {
    /// Accepted, with the bytes read meanwhile (a pool buffer, or an empty vector when the
    /// rules decided before any byte was read).
    Accept(Vec<u8>),
    Reject,
    /// `timeout client` passed before the rules could decide: the client is closed.
    ClientTimeout,
}

/// Runs the content rules on what the client has sent, reading more while a rule waits for
/// bytes, as HAProxy's `tcp_inspect_request`: a fetch short of bytes keeps its rule
/// undecided until they come, the client closes, the buffer is full or the inspect-delay
/// ends; then it decides on what is there. Without an inspect-delay the rules decide at once.
pub async fn inspect(
    client: &Stream,
    rules: &ProxyRules,
    base: &Txn<'_>,
    client_timeout: Option<Duration>,
    pool: &BufferPool,
) -> Inspection {
    let start = Instant::now();
    let delay_ends = rules.inspect_delay.map(|d| start + d);
    let client_gives_up = client_timeout.map(|t| start + t);
    let mut buf = Vec::new();
    let mut closed = false;
    loop {
        let now = Instant::now();
        let done = closed
            || delay_ends.is_none_or(|end| now >= end)
            || (buf.capacity() > 0 && buf.len() == buf.capacity());
        let bytes = Inspected::new(&buf, done);
        let txn = Txn {
            buf: &buf,
            payload: Some(&bytes),
            ..*base
        };
        match ProxyRules::tcp_verdict(&rules.tcp_content, &rules.acls, &txn) {
            TcpVerdict::Accept => return Inspection::Accept(buf),
            TcpVerdict::Reject => {
                pool.give(buf);
                hang_up(client);
                return Inspection::Reject;
            }
            TcpVerdict::Wait => {}
        }
        if client_gives_up.is_some_and(|end| now >= end) {
            pool.give(buf);
            hang_up(client);
            return Inspection::ClientTimeout;
        }
        // `Wait` comes only before the delay ends, so there is a deadline to wait for.
        let until = match (delay_ends, client_gives_up) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, _) => now,
        };
        match readable(client, Some(until.saturating_duration_since(now))).await {
            Readiness::Timeout => continue,
            Readiness::Failed => closed = true,
            Readiness::Ready => {
                if buf.capacity() == 0 {
                    buf = pool.take();
                }
                match read_now(client, &mut buf) {
                    None | Some(ReadOutcome::Data(_)) => {}
                    Some(_) => closed = true,
                }
            }
        }
    }
}

/// Ends the connection now. Closing the socket alone may wait: on io_uring, a readiness
/// wait abandoned at its timeout holds the descriptor until the kernel confirms the cancel,
/// and the client would not see the close until then.
fn hang_up(client: &Stream) {
    // SAFETY: the descriptor belongs to `client`, open for the borrow's length.
    unsafe { libc::shutdown(client.as_raw_fd(), libc::SHUT_RDWR) };
}
