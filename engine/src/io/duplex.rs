//! An in-memory byte stream between two parts of one worker: one HTTP/2 stream's request
//! and response, written as HTTP/1.1 by the connection's multiplexer on one side, read and
//! answered by the HTTP/1 session on the other (`sessions/h2`). The session holds a
//! [`MuxStream`] as its client [`Stream`](crate::io::transport::Stream) and knows nothing
//! else; the multiplexer holds the [`Pipe`].
//!
//! Both ends live on one worker thread (`Rc`, `RefCell`); each side's buffer is bounded, so
//! a fast writer waits for a slow reader on either side.

use std::cell::RefCell;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::io::timed::{expiry_turn, within, ReadOutcome, WriteError};
use crate::io::transport::Stream;

/// The most bytes a side keeps unread before its writer waits.
pub const ROOM: usize = 64 << 10;

#[derive(Default)]
struct Shared {
    /// Bytes for the session to read (the request), and whether more may come.
    to_session: Vec<u8>,
    to_session_end: bool,
    /// Bytes the session wrote (the response), and whether it is done writing.
    from_session: Vec<u8>,
    from_session_end: bool,
    /// The multiplexer's side is gone (the stream was reset, the connection closed).
    broken: bool,
    session_waker: Option<Waker>,
    mux_waker: Option<Waker>,
}

impl Shared {
    fn wake_mux(&mut self) {
        if let Some(w) = self.mux_waker.take() {
            w.wake();
        }
    }

    fn wake_session(&mut self) {
        if let Some(w) = self.session_waker.take() {
            w.wake();
        }
    }
}

/// A new stream: the multiplexer's end, and the session's end as a connection from `peer`
/// to `local` over `conn` (whose TLS session the rules may read).
pub fn pair(conn: Rc<Stream>, local: SocketAddr, peer: SocketAddr) -> (Pipe, MuxStream) {
    let shared = Rc::new(RefCell::new(Shared::default()));
    let end = MuxStream {
        shared: shared.clone(),
        conn,
        local,
        peer,
    };
    (Pipe(shared), end)
}

/// The session's end: what it reads is the request, what it writes the response.
pub struct MuxStream {
    shared: Rc<RefCell<Shared>>,
    conn: Rc<Stream>,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
}

impl std::fmt::Debug for MuxStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MuxStream")
            .field("peer", &self.peer)
            .finish()
    }
}

impl MuxStream {
    /// The connection the stream is carried on.
    pub fn conn(&self) -> &Stream {
        &self.conn
    }

    /// Waits until [`MuxStream::read_now`] has an answer (never fails: the answer says).
    pub async fn readable(&self) -> std::io::Result<()> {
        poll_fn(|cx| {
            let mut s = self.shared.borrow_mut();
            if !s.to_session.is_empty() || s.to_session_end || s.broken {
                return Poll::Ready(Ok(()));
            }
            s.session_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Waits until a write would not wait (never fails: the write says).
    pub async fn writable(&self) -> std::io::Result<()> {
        poll_fn(|cx| {
            let mut s = self.shared.borrow_mut();
            if s.from_session.len() < ROOM || s.broken {
                return Poll::Ready(Ok(()));
            }
            s.session_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Completes once the multiplexer's side is gone: the client reset the stream or the
    /// connection ended (`option abortonclose`).
    pub async fn closed(&self) {
        poll_fn(|cx| {
            let mut s = self.shared.borrow_mut();
            if s.broken {
                return Poll::Ready(());
            }
            s.session_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Appends to `buf`, within its spare capacity, what waits: `None` when nothing does.
    pub(crate) fn read_now(&self, buf: &mut Vec<u8>) -> Option<ReadOutcome> {
        let room = buf.capacity() - buf.len();
        if room == 0 {
            return None;
        }
        let mut s = self.shared.borrow_mut();
        // What was given stays readable after the other side is gone: a response written
        // whole by a bridge that then ended.
        if s.to_session.is_empty() {
            return match (s.to_session_end, s.broken) {
                (true, _) => Some(ReadOutcome::Eof),
                (false, true) => Some(ReadOutcome::Failed),
                (false, false) => None,
            };
        }
        let n = room.min(s.to_session.len());
        buf.extend_from_slice(&s.to_session[..n]);
        s.to_session.drain(..n);
        s.wake_mux();
        Some(ReadOutcome::Data(n))
    }

    /// Appends what comes next to `buf`, waiting at most `limit`.
    pub(crate) async fn read_more(
        &self,
        buf: &mut Vec<u8>,
        limit: Option<Duration>,
    ) -> ReadOutcome {
        if buf.capacity() == buf.len() {
            return ReadOutcome::Failed;
        }
        if let Some(o) = self.read_now(buf) {
            return o;
        }
        match limit {
            Some(l) => {
                if within(l, self.readable()).await.is_err() {
                    expiry_turn().await;
                    return ReadOutcome::Timeout;
                }
            }
            None => drop(self.readable().await),
        }
        self.read_now(buf).unwrap_or(ReadOutcome::Failed)
    }

    /// Writes `pieces` in order once there is room, waiting at most `limit` for it.
    pub(crate) async fn write_all(
        &self,
        pieces: &[&[u8]],
        limit: Option<Duration>,
    ) -> Result<(), WriteError> {
        match limit {
            Some(l) => {
                if within(l, self.writable()).await.is_err() {
                    expiry_turn().await;
                    return Err(WriteError::Timeout);
                }
            }
            None => drop(self.writable().await),
        }
        let mut s = self.shared.borrow_mut();
        if s.broken || s.from_session_end {
            return Err(WriteError::Failed);
        }
        for p in pieces {
            s.from_session.extend_from_slice(p);
        }
        s.wake_mux();
        Ok(())
    }

    /// [`MuxStream::read_more`] for code written against monoio's traits.
    pub async fn read_owned<T: monoio::buf::IoBufMut>(
        &self,
        mut buf: T,
    ) -> monoio::BufResult<usize, T> {
        let cap = buf.bytes_total();
        crate::io::timed::read_into_owned(buf, async |v: &mut Vec<u8>| {
            match self.read_more(v, None).await {
                ReadOutcome::Data(n) => Ok(n),
                ReadOutcome::Eof => Ok(0),
                _ if cap == 0 => Ok(0),
                _ => Err(std::io::Error::from(std::io::ErrorKind::ConnectionAborted)),
            }
        })
        .await
    }

    /// [`MuxStream::write_all`] for code written against monoio's traits.
    pub async fn write_owned<T: monoio::buf::IoBuf>(&self, buf: T) -> monoio::BufResult<usize, T> {
        // SAFETY: an `IoBuf` is readable at `read_ptr` for `bytes_init` bytes while it lives.
        let bytes = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let res = match self.write_all(&[bytes], None).await {
            Ok(()) => Ok(bytes.len()),
            Err(_) => Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
        };
        (res, buf)
    }

    /// The session gives up on the stream: its reads and writes fail from now on, whatever
    /// waits on them wakes, and the multiplexer sees the session's writing end.
    pub fn abort(&self) {
        let mut s = self.shared.borrow_mut();
        s.broken = true;
        s.from_session_end = true;
        s.wake_session();
        s.wake_mux();
    }

    /// The session is done writing: the response ends here.
    pub fn shutdown(&self) -> std::io::Result<()> {
        let mut s = self.shared.borrow_mut();
        s.from_session_end = true;
        s.wake_mux();
        Ok(())
    }
}

impl Drop for MuxStream {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The multiplexer's end.
pub struct Pipe(Rc<RefCell<Shared>>);

impl Pipe {
    /// Gives the session `bytes` to read.
    pub fn push(&self, bytes: &[u8]) {
        let mut s = self.0.borrow_mut();
        s.to_session.extend_from_slice(bytes);
        s.wake_session();
    }

    /// Nothing more comes for the session to read.
    pub fn end_input(&self) {
        let mut s = self.0.borrow_mut();
        s.to_session_end = true;
        s.wake_session();
    }

    /// The multiplexer's side is gone: the session's reads and writes fail from now on.
    pub fn break_off(&self) {
        let mut s = self.0.borrow_mut();
        s.broken = true;
        s.wake_session();
    }

    /// Waits until the session's side has room for more.
    pub fn poll_room(&self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut s = self.0.borrow_mut();
        if s.to_session.len() < ROOM {
            return Poll::Ready(());
        }
        s.mux_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Takes what the session wrote, appending it to `out`: `Ready(false)` when it is done
    /// writing and nothing is left, `Pending` when nothing waits yet.
    pub fn poll_output(&self, cx: &mut std::task::Context<'_>, out: &mut Vec<u8>) -> Poll<bool> {
        let mut s = self.0.borrow_mut();
        if !s.from_session.is_empty() {
            if out.is_empty() {
                std::mem::swap(out, &mut s.from_session);
            } else {
                out.append(&mut s.from_session);
            }
            s.wake_session();
            return Poll::Ready(true);
        }
        if s.from_session_end {
            return Poll::Ready(false);
        }
        s.mux_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.break_off();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn conn() -> Rc<Stream> {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        Rc::new(Stream::Unix(monoio::net::UnixStream::from_std(a).unwrap()))
    }

    /// What the multiplexer pushes is read in order, then the end; a session write waits
    /// while the other side is full and goes on once it is drained.
    #[monoio::test_all(timer_enabled = true)]
    async fn bytes_flow_both_ways_within_the_room() {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 80);
        let (pipe, end) = pair(conn(), addr, addr);
        pipe.push(b"GET / HTTP/1.1\r\n\r\n");
        pipe.end_input();
        let mut buf = Vec::with_capacity(8);
        assert!(matches!(end.read_now(&mut buf), Some(ReadOutcome::Data(8))));
        buf.reserve(64);
        assert!(matches!(
            end.read_now(&mut buf),
            Some(ReadOutcome::Data(10))
        ));
        assert_eq!(buf, b"GET / HTTP/1.1\r\n\r\n");
        assert!(matches!(end.read_now(&mut buf), Some(ReadOutcome::Eof)));

        let big = vec![7u8; ROOM];
        end.write_all(&[&big], None).await.unwrap();
        // Full: the next write waits for the multiplexer, then goes through.
        let blocked =
            monoio::time::timeout(Duration::from_millis(20), end.write_all(&[b"x"], None)).await;
        assert!(blocked.is_err());
        let mut out = Vec::new();
        let mut cx = std::task::Context::from_waker(Waker::noop());
        assert_eq!(pipe.poll_output(&mut cx, &mut out), Poll::Ready(true));
        assert_eq!(out.len(), ROOM);
        end.write_all(&[b"x"], None).await.unwrap();
        drop(end);
        out.clear();
        assert_eq!(pipe.poll_output(&mut cx, &mut out), Poll::Ready(true));
        assert_eq!(out, b"x");
        assert_eq!(pipe.poll_output(&mut cx, &mut out), Poll::Ready(false));
    }

    /// Once the multiplexer's side is gone, the session's reads fail and writes fail.
    #[monoio::test_all(timer_enabled = true)]
    async fn a_broken_pipe_fails_the_session_side() {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 80);
        let (pipe, end) = pair(conn(), addr, addr);
        drop(pipe);
        let mut buf = Vec::with_capacity(8);
        assert!(matches!(end.read_now(&mut buf), Some(ReadOutcome::Failed)));
        assert!(end.write_all(&[b"x"], None).await.is_err());
        end.closed().await;
    }
}
