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

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

/// How long an operation stopped by its timeout may take to hand its buffer back before it
/// is dropped (the driver then cancels it and frees the buffer once the kernel lets go).
const GRACE: Duration = Duration::from_secs(1);

pub(crate) enum ReadOutcome {
    Data(usize),
    Eof,
    Timeout,
    Failed,
}

/// Runs `op` on the socket `fd`; when `limit` passes first, shuts the socket down in
/// direction `how` and waits for `op` to end. Returns its output (`None` if it outlived the
/// grace period too) and whether the timeout fired.
async fn bounded<F: Future>(
    op: F,
    limit: Option<Duration>,
    fd: std::os::fd::RawFd,
    how: Shutdown,
) -> (Option<F::Output>, bool) {
    let Some(limit) = limit else {
        return (Some(op.await), false);
    };
    let mut op = std::pin::pin!(op);
    if let Ok(r) = monoio::time::timeout(limit, &mut op).await {
        return (Some(r), false);
    }
    // SAFETY: `fd` is the stream's open socket, borrowed for the call; the std stream is
    // never dropped, so the socket is not closed here.
    let sock = std::mem::ManuallyDrop::new(unsafe {
        <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd)
    });
    let _ = sock.shutdown(how);
    (monoio::time::timeout(GRACE, op).await.ok(), true)
}

/// Appends what the peer sends next to `buf`, within its spare capacity. On a timeout the
/// buffer stays with the dropped read and an empty one comes back.
pub(crate) async fn read_more(
    stream: &mut TcpStream,
    buf: Vec<u8>,
    limit: Option<Duration>,
) -> (ReadOutcome, Vec<u8>) {
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
pub(crate) async fn write_all<T: IoBuf + 'static>(
    stream: &mut TcpStream,
    buf: T,
    limit: Option<Duration>,
) -> (Result<(), WriteError>, Option<T>) {
    let fd = stream.as_raw_fd();
    match bounded(stream.write_all(buf), limit, fd, Shutdown::Write).await {
        (r, true) => (Err(WriteError::Timeout), r.map(|(_, buf)| buf)),
        (Some((Ok(_), buf)), false) => (Ok(()), Some(buf)),
        (Some((Err(_), buf)), false) => (Err(WriteError::Failed), Some(buf)),
        (None, false) => (Err(WriteError::Failed), None),
    }
}

pub(crate) enum Readiness {
    Ready,
    Timeout,
    Failed,
}

/// Waits until the peer sends something (or closes) without holding any buffer. Dropping a
/// readiness poll on timeout is safe: it owns no memory.
pub(crate) async fn readable(stream: &TcpStream, limit: Option<Duration>) -> Readiness {
    let res = match limit {
        Some(limit) => match monoio::time::timeout(limit, stream.readable(false)).await {
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
