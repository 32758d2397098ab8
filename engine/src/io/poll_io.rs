//! A connection as the `h2` crate reads and writes it (tokio's `AsyncRead` and
//! `AsyncWrite`): direct non-blocking system calls (rustls for TLS), and a readiness wait on
//! the worker's driver when the socket has nothing or takes nothing. No buffer stays pinned
//! by a pending ring operation, so an idle HTTP/2 connection holds only the `h2` state.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::io::timed::{read_now, Fd, ReadOutcome};
use crate::io::transport::Stream;

/// Encrypted bytes a TLS connection may queue before a write waits for the socket.
const TLS_QUEUE: usize = 64 << 10;

type Wait = Pin<Box<dyn Future<Output = io::Result<()>>>>;

pub struct PollIo {
    conn: Rc<Stream>,
    /// Bytes read before the connection was known to speak HTTP/2 (its preface).
    early: Vec<u8>,
    early_at: usize,
    read_wait: Option<Wait>,
    write_wait: Option<Wait>,
    /// The last read from the TCP socket took less than it had room for: the socket had
    /// nothing more then, so the next read waits for readiness first instead of paying a
    /// system call that would say so (as HAProxy does with a short read).
    drained: bool,
}

impl PollIo {
    pub fn new(conn: Rc<Stream>, early: Vec<u8>) -> Self {
        PollIo {
            conn,
            early,
            early_at: 0,
            read_wait: None,
            write_wait: None,
            drained: false,
        }
    }

    /// Whether a readiness wait (`write`: to write) is under way: the socket said it had
    /// nothing (or took nothing) and has not said otherwise since, so trying it again
    /// would only cost a system call.
    fn waiting(&self, write: bool) -> bool {
        match write {
            true => self.write_wait.is_some(),
            false => self.read_wait.is_some(),
        }
    }

    /// Waits for readiness (`write`: to write) through a future kept across polls.
    fn poll_ready(&mut self, cx: &mut Context<'_>, write: bool) -> Poll<io::Result<()>> {
        let slot = if write {
            &mut self.write_wait
        } else {
            &mut self.read_wait
        };
        let wait = slot.get_or_insert_with(|| {
            let conn = self.conn.clone();
            Box::pin(async move {
                match write {
                    true => conn.writable(false).await,
                    false => conn.readable(false).await,
                }
            })
        });
        let res = ready!(wait.as_mut().poll(cx));
        *slot = None;
        Poll::Ready(res)
    }

    /// Sends `pieces` now: how many bytes went (`WouldBlock` when none could).
    fn send_now(&self, pieces: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match &*self.conn {
            Stream::Tls(t) => {
                if t.flush_now()? >= TLS_QUEUE {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                t.write_now(pieces)?;
                Ok(pieces.iter().map(|p| p.len()).sum())
            }
            conn => Fd(conn.as_raw_fd()).send_vectored(pieces, false),
        }
    }

    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        pieces: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.waiting(true) {
            ready!(self.poll_ready(cx, true))?;
        }
        loop {
            match self.send_now(pieces) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                res => return Poll::Ready(res),
            }
            ready!(self.poll_ready(cx, true))?;
        }
    }
}

impl AsyncRead for PollIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.early_at < this.early.len() {
            let n = buf.remaining().min(this.early.len() - this.early_at);
            buf.put_slice(&this.early[this.early_at..this.early_at + n]);
            this.early_at += n;
            if this.early_at == this.early.len() {
                this.early = Vec::new();
                this.early_at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if this.waiting(false) || std::mem::take(&mut this.drained) {
            ready!(this.poll_ready(cx, false))?;
        }
        loop {
            // SAFETY: the bytes are only written, never read, and the Vec over them never
            // grows past its capacity (the unfilled part) and is forgotten, not dropped.
            let unfilled = unsafe { buf.unfilled_mut() };
            let mut v = std::mem::ManuallyDrop::new(unsafe {
                Vec::from_raw_parts(unfilled.as_mut_ptr().cast::<u8>(), 0, unfilled.len())
            });
            match read_now(&this.conn, &mut v) {
                Some(ReadOutcome::Data(n)) => {
                    // SAFETY: read_now initialised `n` bytes at the start of the unfilled part.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    // TLS reads until the socket has nothing whole: no such shortcut.
                    this.drained = n < v.capacity() && this.conn.tls().is_none();
                    return Poll::Ready(Ok(()));
                }
                Some(ReadOutcome::Eof) => return Poll::Ready(Ok(())),
                Some(_) => return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
                None if buf.remaining() == 0 => return Poll::Ready(Ok(())),
                None => {}
            }
            ready!(this.poll_ready(cx, false))?;
        }
    }
}

impl AsyncWrite for PollIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_send(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_send(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let conn = this.conn.clone();
        let Some(t) = conn.tls() else {
            return Poll::Ready(Ok(()));
        };
        if this.waiting(true) {
            ready!(this.poll_ready(cx, true))?;
        }
        while t.flush_now()? > 0 {
            ready!(this.poll_ready(cx, true))?;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(t) = self.conn.tls() {
            t.close_notify();
        }
        ready!(self.as_mut().poll_flush(cx))?;
        // SAFETY: the descriptor is the connection's open socket.
        unsafe { libc::shutdown(self.conn.as_raw_fd(), libc::SHUT_WR) };
        Poll::Ready(Ok(()))
    }
}
