//! The transport seam: a client or server connection is a [`Stream`], a byte stream over TCP
//! or a Unix socket (TLS comes as a third kind). Sessions, the tunnel and the pools hold a
//! `Stream` and use only what it offers: ring reads and writes (cancelable ones for the
//! tunnel), readiness, its descriptor for direct non-blocking `send`/`recv`, splitting into
//! halves, and shutdown. One match per operation, no allocation, no dynamic dispatch.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::as_fd::{AsReadFd, AsWriteFd, SharedFdWrapper};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, CancelHandle, CancelableAsyncReadRent, CancelableAsyncWriteRent,
    Split,
};
use monoio::net::{TcpStream, UnixStream};
use monoio::BufResult;

/// One connection's byte stream.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

// SAFETY: both kinds are `Split` (their read and write sides share nothing but the
// descriptor), so the enum over them is too.
unsafe impl Split for Stream {}

/// Runs `$body` with `$s` bound to this stream's own kind: the one place that lists them.
macro_rules! each {
    ($stream:expr, $s:ident => $body:expr) => {
        match $stream {
            Stream::Tcp($s) => $body,
            Stream::Unix($s) => $body,
        }
    };
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Self {
        Stream::Tcp(s)
    }
}

impl From<UnixStream> for Stream {
    fn from(s: UnixStream) -> Self {
        Stream::Unix(s)
    }
}

/// The address a Unix-socket peer is reported with where an IP address is expected (logs,
/// fetches): HAProxy reports no address for such clients either.
pub const UNIX_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

impl Stream {
    /// Waits until a read would not block (`relaxed`: a spurious wake is acceptable).
    pub async fn readable(&self, relaxed: bool) -> io::Result<()> {
        each!(self, s => s.readable(relaxed).await)
    }

    /// Waits until a write would not block.
    pub async fn writable(&self, relaxed: bool) -> io::Result<()> {
        each!(self, s => s.writable(relaxed).await)
    }

    /// Disables Nagle's algorithm where there is one (TCP).
    pub fn set_nodelay(&self) {
        if let Stream::Tcp(s) = self {
            let _ = s.set_nodelay(true);
        }
    }

    /// The local address: [`UNIX_PEER`] for a Unix socket, or when the kernel cannot say
    /// (the connection is already gone).
    pub fn local_addr(&self) -> SocketAddr {
        match self {
            Stream::Tcp(s) => s.local_addr().unwrap_or(UNIX_PEER),
            Stream::Unix(_) => UNIX_PEER,
        }
    }

    /// The peer's address, with the same fallback as [`Stream::local_addr`].
    pub fn peer_addr(&self) -> SocketAddr {
        match self {
            Stream::Tcp(s) => s.peer_addr().unwrap_or(UNIX_PEER),
            Stream::Unix(_) => UNIX_PEER,
        }
    }
}

impl AsReadFd for Stream {
    fn as_reader_fd(&mut self) -> &SharedFdWrapper {
        each!(self, s => s.as_reader_fd())
    }
}

impl AsWriteFd for Stream {
    fn as_writer_fd(&mut self) -> &SharedFdWrapper {
        each!(self, s => s.as_writer_fd())
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        each!(self, s => s.as_raw_fd())
    }
}

impl AsyncReadRent for Stream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        each!(self, s => s.read(buf).await)
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        each!(self, s => s.readv(buf).await)
    }
}

impl AsyncWriteRent for Stream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        each!(self, s => s.write(buf).await)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        each!(self, s => s.writev(buf).await)
    }

    async fn flush(&mut self) -> io::Result<()> {
        each!(self, s => s.flush().await)
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        each!(self, s => s.shutdown().await)
    }
}

impl CancelableAsyncReadRent for Stream {
    async fn cancelable_read<T: IoBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        each!(self, s => s.cancelable_read(buf, c).await)
    }

    async fn cancelable_readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        each!(self, s => s.cancelable_readv(buf, c).await)
    }
}

impl CancelableAsyncWriteRent for Stream {
    async fn cancelable_write<T: IoBuf>(&mut self, buf: T, c: CancelHandle) -> BufResult<usize, T> {
        each!(self, s => s.cancelable_write(buf, c).await)
    }

    async fn cancelable_writev<T: IoVecBuf>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        each!(self, s => s.cancelable_writev(buf, c).await)
    }

    async fn cancelable_flush(&mut self, c: CancelHandle) -> io::Result<()> {
        each!(self, s => s.cancelable_flush(c).await)
    }

    async fn cancelable_shutdown(&mut self, c: CancelHandle) -> io::Result<()> {
        each!(self, s => s.cancelable_shutdown(c).await)
    }
}
