//! The transport seam: a client or server connection is a [`Stream`], a byte stream over TCP,
//! a Unix socket, or TLS over TCP; or, for the HTTP/1 session serving one HTTP/2 stream, the
//! in-memory end of that stream (`io/duplex.rs`). Sessions, the tunnel and the pools hold a
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

use crate::io::duplex::MuxStream;
use crate::io::tls::TlsStream;

/// Vectored operations on a TLS stream: nothing in ringlb asks for them.
fn unsupported<T>(buf: T) -> BufResult<usize, T> {
    (Err(io::Error::from(io::ErrorKind::Unsupported)), buf)
}

/// One connection's byte stream.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream>),
    /// One stream of an HTTP/2 connection. It has no socket of its own: what works on
    /// descriptors (splicing, parking, `MSG_PEEK`) is never asked of it.
    Mux(Box<MuxStream>),
}

// SAFETY: the socket kinds are `Split` (their read and write sides share nothing but the
// descriptor); a TLS stream's halves share its rustls state, and an HTTP/2 stream's halves
// its two buffers, through a `RefCell` that no operation holds across an await.
unsafe impl Split for Stream {}

/// Runs `$body` with `$s` bound to this stream's own socket kind (a TLS stream's TCP
/// socket): the one place that lists them, for what does not involve the bytes' content.
/// An HTTP/2 stream runs `$mux` instead.
macro_rules! each {
    ($stream:expr, $s:ident => $body:expr, $m:ident => $mux:expr) => {
        match $stream {
            Stream::Tcp($s) => $body,
            Stream::Unix($s) => $body,
            Stream::Tls(t) => {
                let $s = t.tcp();
                $body
            }
            Stream::Mux($m) => $mux,
        }
    };
}

/// Like `each!` with the stream mutable; a TLS stream runs `$tls` instead.
macro_rules! each_mut {
    ($stream:expr, $s:ident => $body:expr, $t:ident => $tls:expr, $m:ident => $mux:expr) => {
        match $stream {
            Stream::Tcp($s) => $body,
            Stream::Unix($s) => $body,
            Stream::Tls($t) => $tls,
            Stream::Mux($m) => $mux,
        }
    };
}

/// An HTTP/2 stream has no vectored or cancelable operations: nothing asks them of it.
fn not_on_mux<T>(buf: T) -> BufResult<usize, T> {
    unsupported(buf)
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
        match self {
            Stream::Tls(t) => t.readable().await,
            Stream::Mux(m) => m.readable().await,
            _ => each!(self, s => s.readable(relaxed).await, _m => unreachable!()),
        }
    }

    /// Waits until a write would not block.
    pub async fn writable(&self, relaxed: bool) -> io::Result<()> {
        each!(self, s => s.writable(relaxed).await, m => m.writable().await)
    }

    /// Acknowledges at once what arrived where TCP would delay the acknowledgement (see
    /// [`quick_ack`]).
    pub fn ack_now(&self) {
        match self {
            Stream::Tcp(_) | Stream::Tls(_) => quick_ack(self.as_raw_fd()),
            Stream::Unix(_) | Stream::Mux(_) => {}
        }
    }

    /// Disables Nagle's algorithm where there is one (TCP).
    pub fn set_nodelay(&self) {
        match self {
            Stream::Tcp(s) => drop(s.set_nodelay(true)),
            Stream::Tls(t) => drop(t.tcp().set_nodelay(true)),
            Stream::Unix(_) | Stream::Mux(_) => {}
        }
    }

    /// Turns on TCP keep-alive probes where there is TCP (`option clitcpka`, `srvtcpka`,
    /// `tcpka`), with the system's timings, as HAProxy does.
    pub fn set_keepalive(&self) {
        let fd = match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Tls(t) => t.tcp().as_raw_fd(),
            Stream::Unix(_) | Stream::Mux(_) => return,
        };
        // SAFETY: `fd` is this stream's open socket, borrowed for the one call.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        drop(socket2::SockRef::from(&fd).set_keepalive(true));
    }

    /// The TLS session, when the stream is TLS (or an HTTP/2 stream carried over TLS).
    pub fn tls(&self) -> Option<&TlsStream> {
        match self {
            Stream::Tls(t) => Some(t),
            Stream::Mux(m) => m.conn().tls(),
            _ => None,
        }
    }

    /// Whether reads and writes go straight to a socket of its own (TCP or Unix, no TLS), so
    /// that a direct non-blocking call on its descriptor does what the driver's would.
    pub fn is_plain(&self) -> bool {
        matches!(self, Stream::Tcp(_) | Stream::Unix(_))
    }

    /// Ends both directions at once, waking whatever waits on either with end-of-stream or
    /// an error: `shutdown(SHUT_RDWR)` on a socket, the HTTP/2 stream broken off.
    pub fn abort(&self) {
        match self {
            Stream::Mux(m) => m.abort(),
            // SAFETY: the descriptor is open while `self` lives.
            _ => unsafe {
                libc::shutdown(self.as_raw_fd(), libc::SHUT_RDWR);
            },
        }
    }

    /// The HTTP/2 stream's end, when this is one.
    pub fn mux(&self) -> Option<&MuxStream> {
        match self {
            Stream::Mux(m) => Some(m),
            _ => None,
        }
    }

    /// The local address: [`UNIX_PEER`] for a Unix socket, or when the kernel cannot say
    /// (the connection is already gone).
    pub fn local_addr(&self) -> SocketAddr {
        match self {
            Stream::Tcp(s) => s.local_addr().unwrap_or(UNIX_PEER),
            Stream::Tls(t) => t.tcp().local_addr().unwrap_or(UNIX_PEER),
            Stream::Unix(_) => UNIX_PEER,
            Stream::Mux(m) => m.local,
        }
    }

    /// The peer's address, with the same fallback as [`Stream::local_addr`].
    pub fn peer_addr(&self) -> SocketAddr {
        match self {
            Stream::Tcp(s) => s.peer_addr().unwrap_or(UNIX_PEER),
            Stream::Tls(t) => t.tcp().peer_addr().unwrap_or(UNIX_PEER),
            Stream::Unix(_) => UNIX_PEER,
            Stream::Mux(m) => m.peer,
        }
    }
}

// Splicing moves bytes kernel-side, unseen: a TLS stream is never spliced (the tunnel
// copies when either side is TLS), and reaching for its descriptor this way is a bug.
impl AsReadFd for Stream {
    fn as_reader_fd(&mut self) -> &SharedFdWrapper {
        each_mut!(self, s => s.as_reader_fd(), _t => unreachable!("a TLS stream is not spliced"),
            _m => unreachable!("an HTTP/2 stream is not spliced"))
    }
}

impl AsWriteFd for Stream {
    fn as_writer_fd(&mut self) -> &SharedFdWrapper {
        each_mut!(self, s => s.as_writer_fd(), _t => unreachable!("a TLS stream is not spliced"),
            _m => unreachable!("an HTTP/2 stream is not spliced"))
    }
}

/// Acknowledges at once what has arrived on TCP socket `fd` (`TCP_QUICKACK`), instead of
/// up to 40 ms later. A peer with Nagle's algorithm on sends nothing more while a small
/// segment of its is unacknowledged: a delayed acknowledgement holds its next bytes back.
pub(crate) fn quick_ack(fd: RawFd) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and an int option value of the right size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// An HTTP/2 stream answers -1, a descriptor no system call accepts: the paths on
/// descriptors check for it first (`Stream::mux`), and one that would not fails harmlessly.
impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        each!(self, s => s.as_raw_fd(), _m => -1)
    }
}

impl AsyncReadRent for Stream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        each_mut!(self, s => s.read(buf).await, t => t.read_owned(buf).await, m => m.read_owned(buf).await)
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        each_mut!(self, s => s.readv(buf).await, _t => unsupported(buf), _m => not_on_mux(buf))
    }
}

impl AsyncWriteRent for Stream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        each_mut!(self, s => s.write(buf).await, t => t.write_owned(buf).await, m => m.write_owned(buf).await)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        each_mut!(self, s => s.writev(buf).await, _t => unsupported(buf), _m => not_on_mux(buf))
    }

    async fn flush(&mut self) -> io::Result<()> {
        each_mut!(self, s => s.flush().await, _t => Ok(()), _m => Ok(()))
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        each_mut!(self, s => s.shutdown().await, t => t.shutdown().await, m => m.shutdown())
    }
}

impl CancelableAsyncReadRent for Stream {
    async fn cancelable_read<T: IoBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        each_mut!(self, s => s.cancelable_read(buf, c).await, t => t.read_owned(buf).await, m => m.read_owned(buf).await)
    }

    async fn cancelable_readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        each_mut!(self, s => s.cancelable_readv(buf, c).await, _t => unsupported(buf), _m => not_on_mux(buf))
    }
}

impl CancelableAsyncWriteRent for Stream {
    async fn cancelable_write<T: IoBuf>(&mut self, buf: T, c: CancelHandle) -> BufResult<usize, T> {
        each_mut!(self, s => s.cancelable_write(buf, c).await, t => t.write_owned(buf).await, m => m.write_owned(buf).await)
    }

    async fn cancelable_writev<T: IoVecBuf>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        each_mut!(self, s => s.cancelable_writev(buf, c).await, _t => unsupported(buf), _m => not_on_mux(buf))
    }

    async fn cancelable_flush(&mut self, c: CancelHandle) -> io::Result<()> {
        each_mut!(self, s => s.cancelable_flush(c).await, _t => Ok(()), _m => Ok(()))
    }

    async fn cancelable_shutdown(&mut self, c: CancelHandle) -> io::Result<()> {
        each_mut!(self, s => s.cancelable_shutdown(c).await, t => t.shutdown().await, m => m.shutdown())
    }
}
