//! Reads and writes bounded by a timeout. A timed-out operation is cancelled through
//! `Canceller` and then awaited, never dropped: a dropped io_uring read keeps its buffer
//! pinned until the kernel lets go, and bytes it already received would be lost.
//!
//! A session keeps one `Canceller` for all its operations (they run one at a time): a fresh
//! one per operation costs an allocation and a hash-set growth on every read and write.

use std::io;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{CancelableAsyncReadRent, CancelableAsyncWriteRentExt, Canceller};
use monoio::net::TcpStream;

pub(crate) enum ReadOutcome {
    Data(usize),
    Eof,
    Timeout,
    Failed,
}

/// Runs a cancellable operation; when `limit` passes first, cancels it and waits for it.
/// Returns the result and whether the timer fired.
async fn bounded<F, T>(op: F, canceller: &mut Canceller, limit: Option<Duration>) -> (T, bool)
where
    F: std::future::Future<Output = T>,
{
    let Some(limit) = limit else {
        return (op.await, false);
    };
    let mut op = std::pin::pin!(op);
    let done = monoio::select! {
        r = &mut op => Some(r),
        _ = monoio::time::sleep(limit) => None,
    };
    match done {
        Some(r) => (r, false),
        None => {
            // `cancel` hands back a fresh canceller for the session's next operations.
            *canceller = std::mem::take(canceller).cancel();
            (op.await, true)
        }
    }
}

/// Appends what the peer sends next to `buf`, within its spare capacity.
pub(crate) async fn read_more(
    stream: &mut TcpStream,
    buf: Vec<u8>,
    limit: Option<Duration>,
    canceller: &mut Canceller,
) -> (ReadOutcome, Vec<u8>) {
    let len = buf.len();
    let handle = canceller.handle();
    let ((res, slice), fired) = bounded(
        stream.cancelable_read(buf.slice_mut(len..), handle),
        canceller,
        limit,
    )
    .await;
    let buf = slice.into_inner();
    let outcome = match res {
        Ok(0) => ReadOutcome::Eof,
        Ok(n) => ReadOutcome::Data(n),
        Err(_) if fired => ReadOutcome::Timeout,
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => ReadOutcome::Eof,
        Err(_) => ReadOutcome::Failed,
    };
    (outcome, buf)
}

#[derive(Debug)]
pub(crate) enum WriteError {
    Timeout,
    Failed,
}

/// Writes all of `buf`.
pub(crate) async fn write_all<T: IoBuf + 'static>(
    stream: &mut TcpStream,
    buf: T,
    limit: Option<Duration>,
    canceller: &mut Canceller,
) -> (Result<(), WriteError>, T) {
    let handle = canceller.handle();
    let ((res, buf), fired) = bounded(stream.write_all(buf, handle), canceller, limit).await;
    let res = match res {
        Ok(_) => Ok(()),
        Err(_) if fired => Err(WriteError::Timeout),
        Err(_) => Err(WriteError::Failed),
    };
    (res, buf)
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
