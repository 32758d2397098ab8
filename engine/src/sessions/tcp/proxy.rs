//! The tunnel: bytes copied (or spliced) in both directions with half-close carried across,
//! inactivity timeouts, and an abort that ends both directions when one fails.

use std::cell::{Cell, UnsafeCell};
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::io::transport::Stream;
use monoio::buf::IoBuf;
use monoio::io::as_fd::{AsReadFd, AsWriteFd, SharedFdWrapper};
use monoio::io::splice::{SpliceDestination, SpliceSource};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::time::Instant;

use crate::io::buffer::BufferPool;
use crate::io::timed::Fd;

/// How early the tunnel's timer may fire (its wheel counts whole milliseconds) and still
/// end the tunnel, rather than be armed again for what is left.
const TIMER_SLACK: Duration = crate::io::deadline::SLACK;

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
    Read,
    Write,
}

/// When either direction of a tunnel last moved a byte: the tunnel's inactivity limits
/// count from here.
struct Activity(Cell<Instant>);

impl Activity {
    fn new() -> Self {
        Self(Cell::new(Instant::now()))
    }
    fn touch(&self) {
        self.0.set(Instant::now());
    }
    fn deadline(&self, idle: Duration) -> Instant {
        self.0.get() + idle
    }
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

    let mut up = pin!(pump(&mut client_rd, &mut server_wr, &act, pool, transfer));
    let mut down = pin!(pump(&mut server_rd, &mut client_wr, &act, pool, transfer));
    // One deadline for the whole tunnel (the directions wait for their source without
    // one): it passes at the earliest inactivity limit of a direction still running, ends
    // the tunnel there, and is moved as activity moves the limits. The worker's shared
    // timer serves it (`io/deadline.rs`): a few dozen bytes, not a timer of its own.
    let mut timer = crate::io::deadline::Deadline::new();
    let mut up_res: Option<(u64, Result<(), PumpError>)> = None;
    let mut down_res: Option<(u64, Result<(), PumpError>)> = None;
    // Which direction finished first (`true`: client to server).
    let mut up_first = None;
    let mut expired: Option<TunnelEnd> = None;
    poll_fn(|cx| {
        // The timer fired in this poll: a limit within its slack has passed.
        let mut fired = false;
        loop {
            for (is_up, res) in [(true, &mut up_res), (false, &mut down_res)] {
                if res.is_some() {
                    continue;
                }
                let polled = match is_up {
                    true => up.as_mut().poll(cx),
                    false => down.as_mut().poll(cx),
                };
                if let Poll::Ready(r) = polled {
                    if r.1.is_err() && up_first.is_none() {
                        // Wakes the other direction's pending read or write with end-of-stream
                        // or EPIPE, so it finishes on its own instead of being dropped.
                        abort([client, server]);
                    }
                    up_first.get_or_insert(is_up);
                    *res = Some(r);
                }
            }
            if up_res.is_some() && down_res.is_some() {
                return Poll::Ready(());
            }
            if expired.is_some() {
                return Poll::Pending;
            }
            // Once one direction ended cleanly, the proxy has closed its sending side towards
            // that direction's destination, and the other direction waits on that same peer:
            // under its fin timeout, when one is set.
            let clean = |r: &Option<(u64, Result<(), PumpError>)>| matches!(r, Some((_, Ok(()))));
            let limits = [
                (
                    up_res.is_none(),
                    up_idle,
                    timeouts.client_fin,
                    &down_res,
                    TunnelEnd::ClientTimeout,
                ),
                (
                    down_res.is_none(),
                    down_idle,
                    timeouts.server_fin,
                    &up_res,
                    TunnelEnd::ServerTimeout,
                ),
            ];
            let next = limits
                .into_iter()
                .filter(|l| l.0)
                .filter_map(|(_, idle, fin, other, end)| {
                    let limit = if clean(other) { fin.or(idle) } else { idle };
                    limit.map(|l| (act.deadline(l), end))
                })
                .min_by_key(|(when, _)| *when);
            let Some((when, end)) = next else {
                return Poll::Pending;
            };
            let now = Instant::now();
            if when <= now || (fired && when <= now + TIMER_SLACK) {
                expired = Some(end);
                abort([client, server]);
                continue;
            }
            if timer.poll_at(when, cx).is_pending() {
                return Poll::Pending;
            }
            fired = true;
        }
    })
    .await;
    let (up_res, down_res) = (
        up_res.unwrap_or((0, Ok(()))),
        down_res.unwrap_or((0, Ok(()))),
    );
    let first_up = up_first.unwrap_or(true);
    let end = match (expired, up_res.1, down_res.1) {
        (Some(end), _, _) => end,
        (None, Ok(()), Ok(())) => TunnelEnd::Closed,
        // The direction that failed first decides; the other only saw the abort.
        (None, Err(e), _) if first_up || down_res.1.is_ok() => up_end(e),
        (None, _, Err(e)) => down_end(e),
        (None, Err(e), Ok(())) => up_end(e),
    };
    TunnelStats {
        to_server: up_res.0,
        to_client: down_res.0,
        end,
    }
}

fn up_end(e: PumpError) -> TunnelEnd {
    match e {
        PumpError::Read => TunnelEnd::ClientError,
        PumpError::Write => TunnelEnd::ServerError,
    }
}

fn down_end(e: PumpError) -> TunnelEnd {
    match e {
        PumpError::Read => TunnelEnd::ServerError,
        PumpError::Write => TunnelEnd::ClientError,
    }
}

fn abort(ends: [&UnsafeCell<Stream>; 2]) {
    for end in ends {
        // SAFETY: a shared reference for a call that takes `&self` (see `Half`).
        unsafe { &*end.get() }.abort();
    }
}

/// One direction of the tunnel, without a timer of its own: the tunnel's timer ends it
/// (by shutting both sockets down, which completes any wait or transfer it is in) when
/// the tunnel has been inactive too long.
async fn pump(
    rd: &mut Half<'_>,
    wr: &mut Half<'_>,
    act: &Activity,
    pool: &BufferPool,
    transfer: Transfer,
) -> (u64, Result<(), PumpError>) {
    match transfer {
        Transfer::Copy => pump_copy(rd, wr, act, pool).await,
        Transfer::Splice => pump_splice(rd, wr, act).await,
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
    act: &Activity,
    pool: &BufferPool,
) -> (u64, Result<(), PumpError>) {
    let mut total = 0u64;
    let mut held: Option<Vec<u8>> = None;
    // Direct non-blocking calls work on a plain socket only: TLS records and an HTTP/2
    // stream's in-memory buffers go through their stream's own reads and writes.
    let direct_write = wr.stream().is_plain();
    loop {
        let buf = match held.take() {
            Some(b) => b,
            None => {
                // Not relaxed: the epoll driver must not take the readiness a direct read
                // used up for a new one.
                if rd.stream().readable(false).await.is_err() {
                    return (total, Err(PumpError::Read));
                }
                pool.take()
            }
        };
        let (res, buf) = if !rd.stream().is_plain() {
            // Boxed, as the driver's write below: what a copy loop holds while it waits
            // for its source (every idle tunnel, in both directions) stays small.
            let (r, b) = Box::pin(rd.stream_mut().read(buf)).await;
            (r.ok(), b)
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
                let _ = Box::pin(wr.stream_mut().shutdown()).await;
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
        let sent = if direct_write {
            Fd(wr.stream().as_raw_fd())
                .send_vectored(&[io::IoSlice::new(&buf[..n])], false)
                .unwrap_or(0)
        } else {
            0
        };
        let mut buf = if sent < n {
            let rest = buf.slice(sent..n);
            let (res, rest) = Box::pin(wr.stream_mut().write_all(rest)).await;
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
    act: &Activity,
) -> (u64, Result<(), PumpError>) {
    let Ok((mut pipe_out, mut pipe_in)) = monoio::net::unix::new_pipe() else {
        return (0, Err(PumpError::Read));
    };
    let mut total = 0u64;
    loop {
        if rd.stream().readable(true).await.is_err() {
            return (total, Err(PumpError::Read));
        }
        // The source is readable, so this completes without waiting.
        let n = match SpliceEnd(rd.0)
            .splice_to_pipe(&mut pipe_in, SPLICE_CHUNK)
            .await
        {
            Ok(0) => {
                let _ = Box::pin(wr.stream_mut().shutdown()).await;
                return (total, Ok(()));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return (total, Err(PumpError::Read)),
        };
        act.touch();
        let mut left = n;
        while left > 0 {
            match SpliceEnd(wr.0).splice_from_pipe(&mut pipe_out, left).await {
                Ok(0) => return (total, Err(PumpError::Write)),
                Ok(m) => {
                    left -= m;
                    total += u64::from(m);
                    act.touch();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if wr.stream().writable(true).await.is_err() {
                        return (total, Err(PumpError::Write));
                    }
                }
                Err(_) => return (total, Err(PumpError::Write)),
            }
        }
    }
}

/// Whether splicing is worth it on this thread's driver: on io_uring a splice is one
/// submission per hop; on epoll it is two syscalls per hop plus readiness, so copying wins.
pub fn splice_pays_off() -> bool {
    !monoio::utils::is_legacy()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle tunnel holds this future (a WebSocket one too): one deadline on the
    /// worker's shared timer for the tunnel, and per direction no more than a readiness
    /// wait. It was 6,656 bytes with a timer per direction and the slow paths inline, and
    /// 1,664 with one monoio timer of its own (984 now).
    #[test]
    fn a_tunnel_future_stays_small() {
        let pool = BufferPool::new(16384, 4);
        let timeouts = TunnelTimeouts::default();
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let a = l.local_addr().unwrap();
            let mut c: Stream = monoio::net::TcpStream::connect(a).await.unwrap().into();
            let mut s: Stream = monoio::net::TcpStream::connect(a).await.unwrap().into();
            let tunnel = proxy(&mut c, &mut s, &timeouts, &pool, Transfer::Copy);
            let size = std::mem::size_of_val(&tunnel);
            assert!(size <= 1024, "the tunnel future is {size} bytes");
            drop(tunnel);
            let act = Activity::new();
            let (mut rd, mut wr) = (
                Half(UnsafeCell::from_mut(&mut c)),
                Half(UnsafeCell::from_mut(&mut s)),
            );
            let size = std::mem::size_of_val(&pump(&mut rd, &mut wr, &act, &pool, Transfer::Copy));
            assert!(size <= 512, "a direction's future is {size} bytes");
        });
    }
}
