//! Per-server idle connection pool for HTTP keep-alive reuse.
//!
//! Bounded; newest first (a recently used connection is the least likely to have been
//! closed by the server). A server may close an idle connection at any time: `take` checks
//! each candidate with a non-blocking `MSG_PEEK` and drops the ones that read end-of-stream,
//! an error, or unsolicited bytes. Closed connections sitting in the pool are only noticed
//! when taken, so a pool holds at most its bound in stale descriptors.
//!
//! Each connection remembers whether it has carried more than one request: `http-reuse
//! aggressive` sends a client's first request only over such a proven connection.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;

use crate::io::transport::Stream;

pub struct IdlePool {
    conns: VecDeque<Idle>,
    max: usize,
}

struct Idle {
    stream: Stream,
    /// The server already answered more than one request on it.
    proven: bool,
}

impl IdlePool {
    pub fn new(max: usize) -> Self {
        Self {
            conns: VecDeque::new(),
            max,
        }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn clear(&mut self) {
        self.conns.clear();
    }

    /// Keeps `stream`, which just finished a clean exchange. It is not probed here: `take`
    /// probes it before handing it out, which is the one moment a stale connection costs.
    /// `proven`: the connection has now carried more than one request.
    pub fn put(&mut self, stream: Stream, proven: bool) -> bool {
        if self.conns.len() >= self.max {
            return false;
        }
        self.conns.push_front(Idle { stream, proven });
        true
    }

    /// The newest idle connection that is still open, or with `proven_only` the newest one
    /// that has already carried more than one request; a TLS one only if it sent `sni`.
    /// Closed ones met on the way are dropped.
    pub fn take(&mut self, proven_only: bool, sni: Option<&str>) -> Option<Stream> {
        let mut i = 0;
        while i < self.conns.len() {
            let c = &self.conns[i];
            if !still_open(&c.stream) {
                self.conns.remove(i);
            } else if (proven_only && !c.proven) || c.stream.tls().and_then(|t| t.sent_sni()) != sni
            {
                i += 1;
            } else {
                return self.conns.remove(i).map(|c| c.stream);
            }
        }
        None
    }
}

/// An idle connection is reusable when nothing is readable on it: end-of-stream means the
/// server closed it, bytes mean it sent something nobody asked for. Over TLS, records that
/// carry no data (a session ticket) are taken in and do not count.
pub(crate) fn still_open(stream: &Stream) -> bool {
    if let Stream::Tls(t) = stream {
        return t.still_open();
    }
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a local; the descriptor is owned by `stream`.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn closed_and_chatty_connections_are_not_handed_out() {
        let mut rt = crate::backend::test_runtime();
        rt.block_on(async {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let mut pool = IdlePool::new(2);

            let a = Stream::from(monoio::net::TcpStream::connect_addr(addr).await.unwrap());
            let (peer_a, _) = l.accept().unwrap();
            assert!(pool.put(a, false));
            let b = Stream::from(monoio::net::TcpStream::connect_addr(addr).await.unwrap());
            let (_peer_b, _) = l.accept().unwrap();
            assert!(pool.put(b, false));
            let c = Stream::from(monoio::net::TcpStream::connect_addr(addr).await.unwrap());
            let (_peer_c, _) = l.accept().unwrap();
            assert!(!pool.put(c, false), "the pool is bounded");

            // The newest (b) is handed out first and is healthy.
            assert!(pool.take(false, None).is_some());
            // a's server closes: it must not be handed out.
            drop(peer_a);
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(pool.take(false, None).is_none());

            let d = Stream::from(monoio::net::TcpStream::connect_addr(addr).await.unwrap());
            let (mut peer_d, _) = l.accept().unwrap();
            assert!(pool.put(d, false));
            peer_d
                .write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(
                pool.take(false, None).is_none(),
                "a connection with unsolicited bytes is dropped"
            );
        });
    }

    #[test]
    fn proven_only_skips_connections_that_served_a_single_request() {
        let mut rt = crate::backend::test_runtime();
        rt.block_on(async {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let mut pool = IdlePool::new(4);
            let proven = Stream::from(monoio::net::TcpStream::connect_addr(addr).await.unwrap());
            let (_p1, proven_peer) = l.accept().unwrap();
            let fresh = Stream::from(monoio::net::TcpStream::connect_addr(addr).await.unwrap());
            let (_p2, _) = l.accept().unwrap();
            assert!(pool.put(proven, true));
            assert!(pool.put(fresh, false));

            let got = pool.take(true, None).expect("the proven connection");
            assert_eq!(got.local_addr(), proven_peer);
            assert!(
                pool.take(true, None).is_none(),
                "only a single-use one is left"
            );
            assert!(
                pool.take(false, None).is_some(),
                "which any request may take"
            );
        });
    }
}
