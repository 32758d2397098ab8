//! The tunnel: bytes copied (or spliced) in both directions with half-close carried across,
//! inactivity timeouts, and an abort that ends both directions when one fails.

use std::cell::UnsafeCell;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::io::transport::Stream;
use monoio::buf::IoBuf;
use monoio::io::as_fd::{AsReadFd, AsWriteFd, SharedFdWrapper};
use monoio::io::splice::{SpliceDestination, SpliceSource};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};

use crate::io::buffer::BufferPool;
use crate::io::timed::Fd;
use crate::sessions::tcp::timed::{until_idle, Activity};

/// Inactivity timeouts of a tunnel. `tunnel`, when set, replaces both `client` and
/// `server`: HAProxy applies it once both sides are connected, which in `mode tcp` is the
/// whole tunnel. Once the proxy has closed its sending side towards one peer (that
/// direction ended), the other direction waits on that peer under its `*_fin` timeout
/// when one is set (`timeout client-fin`, `timeout server-fin`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelTimeouts {
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    pub tunnel: Option<Duration>,
    pub client_fin: Option<Duration>,
    pub server_fin: Option<Duration>,
}

/// How bytes move: through a pooled buffer, or kernel-side through a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    Copy,
    Splice,
}

/// Why a tunnel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelEnd {
    /// Both sides closed their sending direction.
    Closed,
    ClientTimeout,
    ServerTimeout,
    /// Reading from or writing to the client failed (reset, broken pipe).
    ClientError,
    ServerError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelStats {
    pub to_server: u64,
    pub to_client: u64,
    pub end: TunnelEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PumpError {
    Timeout,
    Read,
    Write,
}

/// One direction's end of a stream that both directions of the tunnel use: the reading
/// side of one, the writing side of the other. The same sharing monoio's split halves rely
/// on: one thread, and the read and write sides of a socket are independent operations (a
/// TLS stream's halves share its rustls state through a `RefCell` that no operation holds
/// across an await).
struct Half<'a>(&'a UnsafeCell<Stream>);

impl Half<'_> {
    fn stream(&self) -> &Stream {
        // SAFETY: see the type's comment.
        unsafe { &*self.0.get() }
    }

    #[allow(clippy::mut_from_ref)] // the split-half sharing described on the type
    fn stream_mut(&mut self) -> &mut Stream {
        // SAFETY: see the type's comment.
        unsafe { &mut *self.0.get() }
    }
}

/// Joins `client` and `server` until both directions are closed, a timeout fires, or a
/// side fails. The caller closes both streams (by dropping them) afterwards.
pub async fn proxy(
    client: &mut Stream,
    server: &mut Stream,
    timeouts: &TunnelTimeouts,
    pool: &BufferPool,
    transfer: Transfer,
) -> TunnelStats {
    let fds = [client.as_raw_fd(), server.as_raw_fd()];
    // Splicing moves bytes unseen: TLS needs them decrypted or encrypted on the way.
    let transfer = match client.tls().or(server.tls()) {
        Some(_) => Transfer::Copy,
        None => transfer,
    };
    let (client, server) = (UnsafeCell::from_mut(client), UnsafeCell::from_mut(server));
    let (mut client_rd, mut client_wr) = (Half(client), Half(client));
    let (mut server_rd, mut server_wr) = (Half(server), Half(server));
    let act = Activity::new();
    let up_idle = timeouts.tunnel.or(timeouts.client);
    let down_idle = timeouts.tunnel.or(timeouts.server);

    let mut up = pin!(pump(
        &mut client_rd,
        &mut server_wr,
        up_idle,
        &act,
        pool,
        transfer
    ));
    let mut down = pin!(pump(
        &mut server_rd,
        &mut client_wr,
        down_idle,
        &act,
        pool,
        transfer
    ));

    let first = poll_fn(|cx| {
        if let Poll::Ready(r) = up.as_mut().poll(cx) {
            return Poll::Ready((true, r));
        }
        if let Poll::Ready(r) = down.as_mut().poll(cx) {
            return Poll::Ready((false, r));
        }
        Poll::Pending
    })
    .await;
    if first.1 .1.is_err() {
        // Wakes the other direction's pending read or write with end-of-stream or EPIPE,
        // so it finishes on its own instead of being dropped mid-operation.
        abort(fds);
    }
    // One direction ended cleanly: the proxy closed its sending side towards that
    // direction's destination, and the other direction now waits on that same peer.
    let fin = match (first.0, first.1 .1.is_ok()) {
        (true, true) => timeouts.server_fin,
        (false, true) => timeouts.client_fin,
        _ => None,
    };
    let mut fin_expired = false;
    let rest = async {
        if first.0 {
            down.as_mut().await
        } else {
            up.as_mut().await
        }
    };
    let rest_res = match fin {
        None => rest.await,
        Some(t) => match until_idle(rest, Some(t), &act).await {
            Some(r) => r,
            None => {
                fin_expired = true;
                abort(fds);
                if first.0 {
                    down.await
                } else {
                    up.await
                }
            }
        },
    };
    let (up_res, down_res) = if first.0 {
        (first.1, rest_res)
    } else {
        (rest_res, first.1)
    };

    let end = match (up_res.1, down_res.1) {
        // The peer the remaining direction waited on stayed silent past its fin timeout.
        _ if fin_expired && first.0 => TunnelEnd::ServerTimeout,
        _ if fin_expired => TunnelEnd::ClientTimeout,
        (Ok(()), Ok(())) => TunnelEnd::Closed,
        // The direction that failed first decides; the other only saw the abort.
        (Err(e), _) if first.0 || down_res.1.is_ok() => up_end(e),
        (_, Err(e)) => down_end(e),
        (Err(e), Ok(())) => up_end(e),
    };
    TunnelStats {
        to_server: up_res.0,
        to_client: down_res.0,
        end,
    }
}

fn up_end(e: PumpError) -> TunnelEnd {
    match e {
        PumpError::Timeout => TunnelEnd::ClientTimeout,
        PumpError::Read => TunnelEnd::ClientError,
        PumpError::Write => TunnelEnd::ServerError,
    }
}

fn down_end(e: PumpError) -> TunnelEnd {
    match e {
        PumpError::Timeout => TunnelEnd::ServerTimeout,
        PumpError::Read => TunnelEnd::ServerError,
        PumpError::Write => TunnelEnd::ClientError,
    }
}

fn abort(fds: [RawFd; 2]) {
    for fd in fds {
        // SAFETY: both descriptors stay open until `proxy` returns.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
}

async fn pump(
    rd: &mut Half<'_>,
    wr: &mut Half<'_>,
    idle: Option<Duration>,
    act: &Activity,
    pool: &BufferPool,
    transfer: Transfer,
) -> (u64, Result<(), PumpError>) {
    match transfer {
        Transfer::Copy => pump_copy(rd, wr, idle, act, pool).await,
        Transfer::Splice => pump_splice(rd, wr, idle, act).await,
    }
}

/// Waits until the source has data (or end-of-stream) before taking a buffer, so an idle
/// direction holds none. A read that filled the buffer keeps it for the next read: the
/// stream is busy and another readiness round trip would only cost. On plain sockets the
/// read, once the source is readable, and the write are direct non-blocking calls (as on
/// the HTTP path, `io/timed.rs`); only a write the socket does not take whole goes through
/// the driver.
async fn pump_copy(
    rd: &mut Half<'_>,
    wr: &mut Half<'_>,
    idle: Option<Duration>,
    act: &Activity,
    pool: &BufferPool,
) -> (u64, Result<(), PumpError>) {
    let mut total = 0u64;
    let mut held: Option<Vec<u8>> = None;
    let tls = rd.stream().tls().is_some() || wr.stream().tls().is_some();
    loop {
        let buf = match held.take() {
            Some(b) => b,
            None => {
                // Not relaxed: the epoll driver must not take the readiness a direct read
                // used up for a new one.
                match until_idle(rd.stream().readable(false), idle, act).await {
                    None => return (total, Err(PumpError::Timeout)),
                    Some(Err(_)) => return (total, Err(PumpError::Read)),
                    Some(Ok(())) => {}
                }
                pool.take()
            }
        };
        let (res, buf) = if rd.stream().tls().is_some() {
            // A TLS read holds nothing the kernel writes into: dropped at the idle
            // timeout, it loses only its buffer.
            match until_idle(rd.stream_mut().read(buf), idle, act).await {
                Some((r, b)) => (r.ok(), b),
                None => return (total, Err(PumpError::Timeout)),
            }
        } else {
            let mut buf = buf;
            match Fd(rd.stream().as_raw_fd()).recv_into(&mut buf) {
                Ok(n) => (Some(n), buf),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    // Nothing after all (or no more after a full read): wait without a buffer.
                    pool.give(buf);
                    continue;
                }
                Err(_) => (None, buf),
            }
        };
        let n = match res {
            Some(0) => {
                pool.give(buf);
                let _ = wr.stream_mut().shutdown().await;
                return (total, Ok(()));
            }
            Some(n) => n,
            None => {
                pool.give(buf);
                return (total, Err(PumpError::Read));
            }
        };
        act.touch();
        // What the socket takes at once; the rest (and an error) through the driver.
        let sent = if tls {
            0
        } else {
            Fd(wr.stream().as_raw_fd())
                .send_vectored(&[io::IoSlice::new(&buf[..n])], false)
                .unwrap_or(0)
        };
        let mut buf = if sent < n {
            let rest = buf.slice(sent..n);
            let written = match idle {
                Some(t) => match monoio::time::timeout(t, wr.stream_mut().write_all(rest)).await {
                    Ok(r) => r,
                    Err(_) => return (total, Err(PumpError::Timeout)),
                },
                None => wr.stream_mut().write_all(rest).await,
            };
            let (res, rest) = written;
            let buf = rest.into_inner();
            if res.is_err() {
                pool.give(buf);
                return (total, Err(PumpError::Write));
            }
            buf
        } else {
            buf
        };
        total += n as u64;
        act.touch();
        if n == buf.capacity() {
            buf.clear();
            held = Some(buf);
        } else {
            pool.give(buf);
        }
    }
}

/// Bytes moved per splice call; the default pipe holds 64 KiB.
const SPLICE_CHUNK: u32 = 64 * 1024;

struct SpliceEnd<'a>(&'a UnsafeCell<Stream>);

impl AsReadFd for SpliceEnd<'_> {
    fn as_reader_fd(&mut self) -> &SharedFdWrapper {
        // SAFETY: see `Half`; the reference only names the descriptor.
        unsafe { (*self.0.get()).as_reader_fd() }
    }
}

impl AsWriteFd for SpliceEnd<'_> {
    fn as_writer_fd(&mut self) -> &SharedFdWrapper {
        // SAFETY: as above.
        unsafe { (*self.0.get()).as_writer_fd() }
    }
}

/// Socket → pipe → socket without copying through user memory.
async fn pump_splice(
    rd: &mut Half<'_>,
    wr: &mut Half<'_>,
    idle: Option<Duration>,
    act: &Activity,
) -> (u64, Result<(), PumpError>) {
    let Ok((mut pipe_out, mut pipe_in)) = monoio::net::unix::new_pipe() else {
        return (0, Err(PumpError::Read));
    };
    let mut total = 0u64;
    loop {
        match until_idle(rd.stream().readable(true), idle, act).await {
            None => return (total, Err(PumpError::Timeout)),
            Some(Err(_)) => return (total, Err(PumpError::Read)),
            Some(Ok(())) => {}
        }
        // The source is readable, so this completes without waiting; no timeout needed.
        let n = match SpliceEnd(rd.0)
            .splice_to_pipe(&mut pipe_in, SPLICE_CHUNK)
            .await
        {
            Ok(0) => {
                let _ = wr.stream_mut().shutdown().await;
                return (total, Ok(()));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return (total, Err(PumpError::Read)),
        };
        act.touch();
        let mut left = n;
        while left > 0 {
            let step = until_idle(
                SpliceEnd(wr.0).splice_from_pipe(&mut pipe_out, left),
                idle,
                act,
            )
            .await;
            match step {
                None => return (total, Err(PumpError::Timeout)),
                Some(Ok(0)) => return (total, Err(PumpError::Write)),
                Some(Ok(m)) => {
                    left -= m;
                    total += u64::from(m);
                    act.touch();
                }
                Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    if until_idle(wr.stream().writable(true), idle, act)
                        .await
                        .is_none()
                    {
                        return (total, Err(PumpError::Timeout));
                    }
                }
                Some(Err(_)) => return (total, Err(PumpError::Write)),
            }
        }
    }
}

/// Whether splicing is worth it on this thread's driver: on io_uring a splice is one
/// submission per hop; on epoll it is two syscalls per hop plus readiness, so copying wins.
pub fn splice_pays_off() -> bool {
    !monoio::utils::is_legacy()
}
