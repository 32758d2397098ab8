//! Reads and writes bounded by a timeout. When the timeout fires, the socket is shut down in
//! the operation's direction, which makes the kernel complete the pending read (end of
//! stream) or write (broken pipe) at once: the operation hands its buffer back and is
//! awaited, never dropped (a dropped io_uring read keeps its buffer pinned until the kernel
//! lets go). Whatever it would have moved is lost, which is why every timeout of the HTTP
//! path ends its connection.
//!
//! Why not `Canceller`: each cancelable operation is inserted into and removed from the
//! canceller's SipHash set, about 450 instructions per operation and five operations per
//! request, paid on every request for a timeout that almost never fires.
//!
//! Writes, and the first read once a socket is known to be readable, are first tried as a
//! plain non-blocking syscall. With io_uring, an operation submitted as an entry completes
//! only on the event loop's next turn, behind every other connection's completions; a
//! request crossed the loop five times, and under a flood of busy connections (slowloris)
//! each crossing waited for the whole batch. Done at once, a keep-alive request crosses it
//! twice: once for the client's request, once for the server's answer. The ring is used
//! only for what would have to wait.

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use crate::io::transport::Stream;
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

/// How long an operation stopped by its timeout may take to hand its buffer back before it
/// is dropped (the driver then cancels it and frees the buffer once the kernel lets go).
const GRACE: Duration = Duration::from_secs(1);

/// Connections whose timeout fired are ended at most this many per millisecond on a worker.
/// Each ending costs tens of microseconds (an error page, a close, the peer's FIN); when
/// thousands of connections expire together, as a slowloris attack's do, the rest wait for
/// a later millisecond, so the loop keeps turning for the connections being served instead
/// of stalling for the whole batch.
const ENDINGS_PER_MS: u32 = 8;

thread_local! {
    /// The start of the millisecond handed out last to an expired connection, and how many
    /// got it.
    static ENDING_SLOT: std::cell::Cell<(monoio::time::Instant, u32)> =
        std::cell::Cell::new((monoio::time::Instant::now(), 0));
}

/// `fut`'s output, unless `limit` passes first. Like monoio's `timeout`, with the timer on
/// the heap and made only if `fut` is not ready at once: a monoio `Sleep` is 640 bytes
/// aligned to 128, and inline it would size every future that awaits this one, and be
/// copied with it on each of its moves (futures are moved when awaited and when boxed).
/// A plain struct rather than an `async fn`, whose arguments would be stored twice.
pub(crate) fn within<F: Future>(limit: Duration, fut: F) -> Within<F> {
    within_at(monoio::time::Instant::now() + limit, fut)
}

/// [`within`] until an instant.
pub(crate) fn within_at<F: Future>(deadline: monoio::time::Instant, fut: F) -> Within<F> {
    Within {
        fut,
        deadline,
        timer: None,
    }
}

/// Why [`within`] gave up.
#[derive(Debug)]
pub(crate) struct Elapsed;

/// The future of [`within`].
pub(crate) struct Within<F> {
    fut: F,
    deadline: monoio::time::Instant,
    timer: Option<std::pin::Pin<Box<monoio::time::Sleep>>>,
}

impl<F: Future> Future for Within<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // SAFETY: `fut` is pinned with `self` and never moved out; the other fields are
        // not pinned (the timer is boxed).
        let this = unsafe { self.get_unchecked_mut() };
        let fut = unsafe { std::pin::Pin::new_unchecked(&mut this.fut) };
        if let std::task::Poll::Ready(v) = fut.poll(cx) {
            return std::task::Poll::Ready(Ok(v));
        }
        let deadline = this.deadline;
        let timer = this.timer.get_or_insert_with(|| timer_until(deadline));
        timer.as_mut().poll(cx).map(|()| Err(Elapsed))
    }
}

impl<F> Drop for Within<F> {
    fn drop(&mut self) {
        if let Some(t) = self.timer.take() {
            recycle(t);
        }
    }
}

/// Timer allocations kept per worker thread for [`within`], at most this many: a request
/// that waits takes one and gives it back, so none is allocated in steady state. Only the
/// memory is reused: each wait gets a timer of its own, made in it and dropped in place
/// (monoio's timers are not made to be set again once used).
const SPARE_TIMERS: usize = 256;

type TimerMemory = Box<std::mem::MaybeUninit<monoio::time::Sleep>>;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<TimerMemory>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A timer for `deadline`, in spare memory when there is some.
fn timer_until(deadline: monoio::time::Instant) -> std::pin::Pin<Box<monoio::time::Sleep>> {
    let memory = SPARE
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(Box::new_uninit);
    Box::into_pin(Box::write(memory, monoio::time::sleep_until(deadline)))
}

/// Drops `t` where it is (which takes it off the timer wheel) and keeps its memory.
fn recycle(t: std::pin::Pin<Box<monoio::time::Sleep>>) {
    // SAFETY: the timer is dropped in place, never moved; what is kept afterwards is
    // memory only, treated as uninitialised.
    let raw = Box::into_raw(unsafe { std::pin::Pin::into_inner_unchecked(t) });
    unsafe { std::ptr::drop_in_place(raw) };
    let memory = unsafe { Box::from_raw(raw.cast::<std::mem::MaybeUninit<monoio::time::Sleep>>()) };
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < SPARE_TIMERS {
            s.push(memory);
        }
    });
}

/// Sleeps until `at`, the timer in recycled memory (see [`within`]).
async fn sleep_until(at: monoio::time::Instant) {
    let mut t = timer_until(at);
    t.as_mut().await;
    recycle(t);
}

/// Sleeps for `d` (see [`sleep_until`]).
pub(crate) async fn pause(d: Duration) {
    sleep_until(monoio::time::Instant::now() + d).await
}

/// Waits for an expired connection's turn to be ended (at once, unless many expired
/// together). Turns are handed out in order, each waiter sleeping once.
pub(crate) async fn expiry_turn() {
    let now = monoio::time::Instant::now();
    let at = ENDING_SLOT.with(|slot| {
        let (state, at) = next_turn(slot.get(), now);
        slot.set(state);
        at
    });
    if at > now {
        sleep_until(at).await;
    }
}

/// The turn of a connection expiring at `now` given the last millisecond handed out and
/// its count: the new state, and when the connection may be ended.
fn next_turn<I>((mut at, mut used): (I, u32), now: I) -> ((I, u32), I)
where
    I: Copy + PartialOrd + std::ops::Add<Duration, Output = I>,
{
    const MS: Duration = Duration::from_millis(1);
    if now >= at + MS {
        (at, used) = (now, 0);
    }
    if used == ENDINGS_PER_MS {
        (at, used) = (at + MS, 0);
    }
    ((at, used + 1), at)
}

/// A read into an owned ring-style buffer by code that appends to a `Vec` (TLS, HTTP/2
/// streams): `fill` gets a `Vec` over the buffer's memory, which it must not grow past its
/// capacity; what it wrote is then marked initialised.
pub(crate) async fn read_into_owned<T, F>(mut buf: T, fill: F) -> monoio::BufResult<usize, T>
where
    T: monoio::buf::IoBufMut,
    F: AsyncFnOnce(&mut Vec<u8>) -> io::Result<usize>,
{
    let cap = buf.bytes_total();
    // The Vec never reallocates (nothing is pushed beyond its capacity) and is forgotten,
    // not dropped.
    // SAFETY: `write_ptr` is valid for `bytes_total` bytes while `buf` lives.
    let mut v =
        std::mem::ManuallyDrop::new(unsafe { Vec::from_raw_parts(buf.write_ptr(), 0, cap) });
    let res = fill(&mut v).await;
    if let Ok(n) = res {
        // SAFETY: `n` bytes were written at the start of the buffer.
        unsafe { buf.set_init(n) };
    }
    (res, buf)
}

pub(crate) enum ReadOutcome {
    Data(usize),
    Eof,
    Timeout,
    Failed,
}

/// Runs `op` on the socket `fd`; when `limit` passes first, shuts the socket down in
/// direction `how` and waits for `op` to end. Returns its output (`None` if it outlived the
/// grace period too) and whether the timeout fired.
///
/// A plain function around an `async move` block that polls `op` where it was captured: an
/// `async fn` (or pinning `op` into a local) would hold it twice in the future, and this
/// future is part of every read and write on the request path.
#[allow(clippy::manual_async_fn)] // an `async fn` is what holds `op` twice
fn bounded<F: Future>(
    mut op: F,
    limit: Option<Duration>,
    fd: std::os::fd::RawFd,
    how: Shutdown,
) -> impl Future<Output = (Option<F::Output>, bool)> {
    async move {
        // SAFETY: `op` is part of this future's state, which does not move once polled,
        // and `op` is never moved out of it.
        let mut op = unsafe { std::pin::Pin::new_unchecked(&mut op) };
        let Some(limit) = limit else {
            return (Some(op.await), false);
        };
        if let Ok(r) = within(limit, op.as_mut()).await {
            return (Some(r), false);
        }
        expiry_turn().await;
        // SAFETY: `fd` is the stream's open socket, borrowed for the call; the std stream is
        // never dropped, so the socket is not closed here.
        let sock = std::mem::ManuallyDrop::new(unsafe {
            <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd)
        });
        let _ = sock.shutdown(how);
        (within(GRACE, op).await.ok(), true)
    }
}

/// Appends to `buf` what the peer has already sent, without waiting: `None` when nothing is
/// there yet (or `buf` has no room), the outcome otherwise.
pub(crate) fn read_now(stream: &Stream, buf: &mut Vec<u8>) -> Option<ReadOutcome> {
    match stream {
        Stream::Tls(t) => return t.read_now(buf),
        Stream::Mux(m) => return m.read_now(buf),
        _ => {}
    }
    if buf.spare_capacity_mut().is_empty() {
        return None;
    }
    match Fd(stream.as_raw_fd()).recv_into(buf) {
        Ok(0) => Some(ReadOutcome::Eof),
        Ok(n) => Some(ReadOutcome::Data(n)),
        Err(e) => match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => None,
            io::ErrorKind::ConnectionReset => Some(ReadOutcome::Eof),
            _ => Some(ReadOutcome::Failed),
        },
    }
}

/// A socket as `io::Read`/`io::Write` with non-blocking `recv` and `send`/`sendmsg` (no
/// SIGPIPE): the direct system calls of the paths here, and the bytes rustls moves.
pub(crate) struct Fd(pub RawFd);

impl Fd {
    /// One non-blocking `recv` into `len` bytes at `to`.
    ///
    /// # Safety
    /// `to` must be writable (initialised or not) for `len` bytes.
    unsafe fn recv(&self, to: *mut u8, len: usize) -> io::Result<usize> {
        // SAFETY: the caller's promise; recv writes at most `len` bytes and says how many.
        let n = unsafe { libc::recv(self.0, to.cast(), len, libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Appends to `buf`, within its spare capacity, what the socket has now.
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let spare = buf.spare_capacity_mut();
        // SAFETY: the spare capacity is writable for its length.
        let n = unsafe { self.recv(spare.as_mut_ptr().cast(), spare.len()) }?;
        // SAFETY: recv initialised the first `n` spare bytes.
        unsafe { buf.set_len(buf.len() + n) };
        Ok(n)
    }

    /// Sends `bufs` in order with one non-blocking `sendmsg` (no SIGPIPE). With `more`, TCP
    /// is told that more bytes follow at once (`MSG_MORE`): it keeps a partial segment back
    /// until the next send without it, or a [`push`], so that both leave in one segment.
    pub fn send_vectored(&mut self, bufs: &[io::IoSlice<'_>], more: bool) -> io::Result<usize> {
        // SAFETY: a zeroed msghdr is valid (no name, no control data).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // `IoSlice` is guaranteed ABI-compatible with `iovec`; sendmsg only reads them.
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len() as _;
        let more = if more { libc::MSG_MORE } else { 0 };
        // SAFETY: every vector points at readable memory for its length.
        let n =
            unsafe { libc::sendmsg(self.0, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL | more) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl io::Read for Fd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is writable for its length.
        unsafe { self.recv(buf.as_mut_ptr(), buf.len()) }
    }
}

impl io::Write for Fd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send_vectored(&[io::IoSlice::new(buf)], false)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.send_vectored(bufs, false)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends what the socket takes at once, without waiting (`more`: see
/// [`Fd::send_vectored`]); returns how many bytes that was (0 on an error, which the write
/// through the driver that follows reports).
fn send_now(fd: RawFd, bytes: &[u8], more: bool) -> usize {
    if bytes.is_empty() {
        return 0;
    }
    Fd(fd)
        .send_vectored(&[io::IoSlice::new(bytes)], more)
        .unwrap_or(0)
}

/// [`send_now`] for two pieces in one call (`sendmsg` with two vectors): how many bytes of
/// `first` then `second` the socket took.
fn send_now_pair(fd: RawFd, first: &[u8], second: &[u8], more: bool) -> usize {
    let pieces = [io::IoSlice::new(first), io::IoSlice::new(second)];
    Fd(fd).send_vectored(&pieces, more).unwrap_or(0)
}

/// Sends on its way what a write with `more` kept back: a TCP socket (or a TLS stream's)
/// pushes its partial segment; other sockets keep nothing back.
pub(crate) fn push(stream: &Stream) {
    stream.set_nodelay();
}

/// Writes `first`, then `second[range]`: in one system call and one segment when the socket
/// takes both at once, with no copy of either. What it does not take goes through
/// [`write_all`]. With `more`, the bytes the socket takes at once may wait in it for what
/// follows (see [`Fd::send_vectored`]; the caller writes again or calls [`push`]). Hands
/// both buffers back (`first` as `None`, and `second` empty, when a timed-out write
/// outlived its grace period).
pub(crate) async fn write_pair(
    stream: &mut Stream,
    first: Vec<u8>,
    second: Vec<u8>,
    range: std::ops::Range<usize>,
    limit: Option<Duration>,
    more: bool,
) -> (Result<(), WriteError>, Option<Vec<u8>>, Vec<u8>) {
    match stream {
        Stream::Tls(t) => {
            let res = t.write_all(&[&first, &second[range]], limit, more).await;
            return (res, Some(first), second);
        }
        Stream::Mux(m) => {
            let res = m.write_all(&[&first, &second[range]], limit).await;
            return (res, Some(first), second);
        }
        _ => {}
    }
    let sent = send_now_pair(stream.as_raw_fd(), &first, &second[range.clone()], more);
    // Bytes of `second` already sent.
    let into_second = sent.saturating_sub(first.len());
    let first = if sent < first.len() {
        let (res, back) = write_all(stream, first.slice(sent..), limit).await;
        let back = back.map(|s| s.into_inner());
        if let Err(e) = res {
            return (Err(e), back, second);
        }
        back
    } else {
        Some(first)
    };
    let from = range.start + into_second;
    if from >= range.end {
        return (Ok(()), first, second);
    }
    let (res, back) = write_all(stream, second.slice(from..range.end), limit).await;
    (res, first, back.map(|s| s.into_inner()).unwrap_or_default())
}

/// Appends what the peer sends next to `buf`, within its spare capacity. On a timeout the
/// buffer stays with the dropped read and an empty one comes back.
pub(crate) async fn read_more(
    stream: &mut Stream,
    buf: Vec<u8>,
    limit: Option<Duration>,
) -> (ReadOutcome, Vec<u8>) {
    let mut buf = buf;
    match stream {
        Stream::Tls(t) => return (t.read_more(&mut buf, limit).await, buf),
        Stream::Mux(m) => return (m.read_more(&mut buf, limit).await, buf),
        _ => {}
    }
    let len = buf.len();
    let fd = stream.as_raw_fd();
    let read = stream.read(buf.slice_mut(len..));
    let (res, slice) = match bounded(read, limit, fd, Shutdown::Read).await {
        (Some(r), false) => r,
        (Some((_, slice)), true) => return (ReadOutcome::Timeout, slice.into_inner()),
        (None, _) => return (ReadOutcome::Timeout, Vec::new()),
    };
    let outcome = match res {
        Ok(0) => ReadOutcome::Eof,
        Ok(n) => ReadOutcome::Data(n),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => ReadOutcome::Eof,
        Err(_) => ReadOutcome::Failed,
    };
    (outcome, slice.into_inner())
}

#[derive(Debug)]
pub(crate) enum WriteError {
    Timeout,
    Failed,
}

/// Writes all of `buf`, and hands it back unless a timed-out write outlived its grace period.
/// What the socket takes at once is sent directly; only the rest goes through the driver.
pub(crate) async fn write_all<T: IoBuf + 'static>(
    stream: &mut Stream,
    buf: T,
    limit: Option<Duration>,
) -> (Result<(), WriteError>, Option<T>) {
    write_all_then(stream, buf, limit, false).await
}

/// [`write_all`]; with `more`, what the socket takes at once may wait in it for what follows
/// (see [`Fd::send_vectored`]; the caller writes again or calls [`push`]).
pub(crate) async fn write_all_then<T: IoBuf + 'static>(
    stream: &mut Stream,
    buf: T,
    limit: Option<Duration>,
    more: bool,
) -> (Result<(), WriteError>, Option<T>) {
    // SAFETY: an `IoBuf` is readable at `read_ptr` for `bytes_init` bytes while it lives.
    let bytes = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
    match stream {
        Stream::Tls(t) => return (t.write_all(&[bytes], limit, more).await, Some(buf)),
        Stream::Mux(m) => return (m.write_all(&[bytes], limit).await, Some(buf)),
        _ => {}
    }
    let fd = stream.as_raw_fd();
    let sent = send_now(fd, bytes, more);
    if sent == bytes.len() {
        return (Ok(()), Some(buf));
    }
    match bounded(
        stream.write_all(buf.slice(sent..)),
        limit,
        fd,
        Shutdown::Write,
    )
    .await
    {
        (r, true) => (Err(WriteError::Timeout), r.map(|(_, s)| s.into_inner())),
        (Some((Ok(_), s)), false) => (Ok(()), Some(s.into_inner())),
        (Some((Err(_), s)), false) => (Err(WriteError::Failed), Some(s.into_inner())),
        (None, false) => (Err(WriteError::Failed), None),
    }
}

pub(crate) enum Readiness {
    Ready,
    Timeout,
    Failed,
}

/// Waits until the peer sends something (or closes) without holding any buffer. Dropping a
/// readiness poll on timeout is safe: it owns no memory. A caller that ends the connection
/// on `Timeout` takes its [`expiry_turn`] first.
pub(crate) async fn readable(stream: &Stream, limit: Option<Duration>) -> Readiness {
    let res = match limit {
        Some(limit) => match within(limit, stream.readable(false)).await {
            Ok(r) => r,
            Err(_) => return Readiness::Timeout,
        },
        None => stream.readable(false).await,
    };
    match res {
        Ok(()) => Readiness::Ready,
        Err(_) => Readiness::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// `write_pair` delivers both pieces whole and in order, whether the socket takes them
    /// at once, takes part of the second, or (full beforehand) takes nothing of either.
    #[monoio::test_all(timer_enabled = true)]
    async fn write_pair_sends_both_pieces_in_order_whatever_the_socket_takes() {
        for (prefill, body_len) in [(false, 10), (false, 3 << 20), (true, 3 << 20)] {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let mut expected = Vec::new();
            if prefill {
                // Fill the socket until it takes nothing more: the head cannot leave at once.
                let junk = vec![b'x'; 64 << 10];
                while let Ok(n) = std::io::Write::write(&mut &a, &junk) {
                    expected.extend_from_slice(&junk[..n]);
                }
            }
            let head = b"HEAD".repeat(25);
            let body: Vec<u8> = (0..body_len + 7).map(|i| (i % 251) as u8).collect();
            expected.extend_from_slice(&head);
            expected.extend_from_slice(&body[7..]);
            let want = expected.len();
            let reader = std::thread::spawn(move || {
                // Late, so that the full socket is still full when the pair is written.
                std::thread::sleep(Duration::from_millis(50));
                let mut got = vec![0u8; want];
                std::io::Read::read_exact(&mut &b, &mut got).unwrap();
                got
            });
            let mut stream = Stream::Unix(monoio::net::UnixStream::from_std(a).unwrap());
            let limit = Some(Duration::from_secs(10));
            let len = body.len();
            let (res, head_back, body_back) =
                write_pair(&mut stream, head.clone(), body, 7..len, limit, false).await;
            assert!(res.is_ok());
            assert_eq!(head_back.as_deref(), Some(&head[..]), "the head comes back");
            assert_eq!(body_back.len(), len, "the body buffer comes back");
            assert!(
                reader.join().unwrap() == expected,
                "bytes lost or out of order"
            );
        }
    }

    #[test]
    fn expiries_together_are_spread_over_milliseconds_in_order() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut state = (t0 - Duration::from_secs(1), 0);
        let mut turns = Vec::new();
        for _ in 0..20 {
            let (s, at) = next_turn(state, t0);
            state = s;
            turns.push(at);
        }
        let per = ENDINGS_PER_MS as usize;
        assert!(
            turns[..per].iter().all(|&t| t == t0),
            "the first ones at once"
        );
        assert!(turns[per..2 * per].iter().all(|&t| t == ms(1)));
        assert!(turns[2 * per..].iter().all(|&t| t == ms(2)));
        // One expiring while turns are still queued waits behind them.
        assert_eq!(next_turn(state, ms(1)).1, ms(2));
        // Once the queue has drained, an expiry is ended at once again.
        assert_eq!(next_turn(state, ms(5)).1, ms(5));
    }
}
