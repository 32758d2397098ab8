//! TLS as a transport: a TCP connection with a rustls connection over it.
//!
//! Readiness-driven, not ring-driven: bytes move between the socket and rustls by direct
//! non-blocking `recv`/`send` (`sendmsg` for several records at once), and waiting is a
//! readiness poll, which holds no buffer. So a TLS operation can be abandoned at any await
//! (a timeout, a race) without the pinned-buffer problem of a pending ring read, and the
//! plaintext a session reads lands straight in its own buffer.
//!
//! Both halves of a tunnel use one connection: the rustls state sits in a `RefCell` that is
//! never borrowed across an await.

pub mod connect;
pub mod listen;
mod record;

use std::cell::RefCell;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use monoio::net::TcpStream;

pub(crate) use record::{Session, Side};

use crate::io::timed::{expiry_turn, Fd, ReadOutcome, WriteError};

pub use connect::TlsConnector;
pub use listen::TlsListener;

/// TLS connections open in the process, every worker's (`CurrSslConns`).
static OPEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// TLS connections open now, handshake done.
pub fn open_connections() -> u64 {
    OPEN.load(std::sync::atomic::Ordering::Relaxed)
}

/// A TLS connection over TCP, handshake done.
pub struct TlsStream {
    tcp: TcpStream,
    st: RefCell<Session>,
    /// The SNI: the name the client asked for on a listener's connection, the name sent on
    /// a connection to a server (pooled connections are reused only for requests that
    /// would send the same).
    pub(crate) name: Option<Box<str>>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("fd", &self.tcp.as_raw_fd())
            .finish()
    }
}

/// What a handshake ended with, when it did not succeed.
#[derive(Debug)]
pub enum HandshakeError {
    /// The peer did not complete it within the timeout.
    Timeout,
    /// The peer closed, or the socket failed.
    Closed,
    /// The peer spoke something that is not acceptable TLS (or strict SNI found no
    /// certificate); the alert, if any, was sent.
    Refused(String),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("handshake timed out"),
            Self::Closed => f.write_str("connection closed during the handshake"),
            Self::Refused(e) => write!(f, "handshake failed: {e}"),
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Waits until `tcp` is readable (or writable), within what is left before `deadline`.
async fn ready(
    tcp: &TcpStream,
    write: bool,
    deadline: Option<monoio::time::Instant>,
) -> Result<(), HandshakeError> {
    let wait = async {
        match write {
            true => tcp.writable(false).await,
            false => tcp.readable(false).await,
        }
    };
    let res = match deadline {
        Some(d) => match crate::io::timed::within_at(d, wait).await {
            Ok(r) => r,
            Err(_) => return Err(HandshakeError::Timeout),
        },
        None => wait.await,
    };
    res.map_err(|_| HandshakeError::Closed)
}

impl TlsStream {
    /// Completes the handshake of `st` over `tcp` by `deadline`; `sni` is what the client
    /// asked for (listener side).
    pub(crate) async fn handshake(
        tcp: TcpStream,
        mut st: Session,
        sni: Option<Box<str>>,
        deadline: Option<monoio::time::Instant>,
    ) -> Result<Self, HandshakeError> {
        let mut fd = Fd(tcp.as_raw_fd());
        loop {
            st.process(None);
            // Whatever is queued goes out first: an alert for a refused handshake too.
            loop {
                match st.send(&mut fd, false) {
                    Ok(()) => break,
                    Err(e) if would_block(&e) && st.failed.is_none() => {
                        ready(&tcp, true, deadline).await?
                    }
                    Err(_) if st.failed.is_some() => break,
                    Err(_) => return Err(HandshakeError::Closed),
                }
            }
            if let Some(e) = st.failed.take() {
                return Err(HandshakeError::Refused(e.into_string()));
            }
            if !st.handshaking {
                break;
            }
            if st.eof || st.peer_closed {
                return Err(HandshakeError::Closed);
            }
            match st.recv(&mut fd) {
                Ok(_) => {}
                Err(e) if would_block(&e) => ready(&tcp, false, deadline).await?,
                Err(_) => return Err(HandshakeError::Closed),
            }
        }
        if st.is_server() {
            // The client's last handshake flight is only acknowledged with the server's
            // next segment; with no session ticket to send, that is the response, and a
            // client with Nagle's algorithm on holds its request back until then.
            crate::io::transport::quick_ack(tcp.as_raw_fd());
        }
        st.trim();
        OPEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Self {
            tcp,
            st: RefCell::new(st),
            name: sni,
        })
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Whether the handshake resumed an earlier session (a ticket or the session cache).
    pub fn resumed(&self) -> bool {
        self.st.borrow().common().handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// The name the client asked for (listener side), or the one sent (server side).
    pub fn sni(&self) -> Option<String> {
        self.name.as_deref().map(str::to_string)
    }

    /// The name this client connection sent (SNI), if any.
    pub fn sent_sni(&self) -> Option<&str> {
        match self.st.borrow().is_server() {
            true => None,
            false => self.name.as_deref(),
        }
    }

    /// Whether an idle connection may carry another exchange: what arrived meanwhile (a
    /// session ticket, a key update) is taken in; close_notify, an error or unsolicited
    /// data make it unusable.
    pub(crate) fn still_open(&self) -> bool {
        self.closed_now().is_none()
    }

    /// `TLSv1.2` or `TLSv1.3`.
    pub fn version_name(&self) -> Option<&'static str> {
        Some(match self.st.borrow().common().protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
            _ => return None,
        })
    }

    /// The negotiated suite, in the configuration's terms.
    pub fn suite(&self) -> Option<ringlb_config::tls::Suite> {
        let negotiated = self.st.borrow().common().negotiated_cipher_suite()?.suite();
        ringlb_config::tls::SUITES
            .iter()
            .copied()
            .find(|s| ringlb_config::tls::provider::suite(*s).suite() == negotiated)
    }

    /// The protocol ALPN settled on.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.st
            .borrow()
            .common()
            .alpn_protocol()
            .map(<[u8]>::to_vec)
    }

    /// The DER of the peer's leaf certificate, when it presented one.
    pub fn peer_cert(&self) -> Option<Vec<u8>> {
        let st = self.st.borrow();
        st.common().peer_certificates()?.first().map(|c| c.to_vec())
    }

    fn fd(&self) -> Fd {
        Fd(self.tcp.as_raw_fd())
    }

    /// Appends to `buf` what the peer has sent, decrypted, without waiting: `None` when
    /// nothing whole has arrived yet (or `buf` has no room).
    pub(crate) fn read_now(&self, buf: &mut Vec<u8>) -> Option<ReadOutcome> {
        if buf.spare_capacity_mut().is_empty() {
            return None;
        }
        let mut st = self.st.borrow_mut();
        if st.has_plain() {
            return Some(ReadOutcome::Data(st.take_plain(buf)));
        }
        let mut fd = self.fd();
        let outcome = loop {
            let before = buf.len();
            st.process(Some(buf));
            // A key update or a ticket may want an answer: sent if the socket takes it.
            let _ = st.send(&mut fd, false);
            if buf.len() > before {
                break Some(ReadOutcome::Data(buf.len() - before));
            }
            if st.failed.is_some() {
                break Some(ReadOutcome::Failed);
            }
            // The peer closed, with close_notify or without (for HTTP, an end like any
            // other).
            if st.peer_closed || st.eof {
                break Some(ReadOutcome::Eof);
            }
            match st.recv(&mut fd) {
                Ok(_) => {}
                Err(e) if would_block(&e) => break None,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    break Some(ReadOutcome::Eof)
                }
                Err(_) => break Some(ReadOutcome::Failed),
            }
        };
        st.trim();
        outcome
    }

    /// Whether the peer has closed, from what has arrived: `Some(true)` when it closed (or
    /// the connection failed), `Some(false)` when data waits, `None` when nothing came.
    /// Decrypted data is kept, never handed out: a pipelined request stays for the session.
    pub(crate) fn closed_now(&self) -> Option<bool> {
        let mut st = self.st.borrow_mut();
        let mut fd = self.fd();
        let answer = loop {
            st.process(None);
            let _ = st.send(&mut fd, false);
            if st.failed.is_some() || st.peer_closed || st.eof {
                break Some(true);
            }
            if st.has_plain() {
                break Some(false);
            }
            match st.recv(&mut fd) {
                Ok(_) => {}
                Err(e) if would_block(&e) => break None,
                Err(_) => break Some(true),
            }
        };
        st.trim();
        answer
    }

    /// Waits until [`TlsStream::read_now`] may have something: decrypted bytes already
    /// wait, or the socket is readable.
    pub async fn readable(&self) -> io::Result<()> {
        {
            let st = self.st.borrow();
            if st.has_plain() || st.peer_closed || st.eof || st.failed.is_some() {
                return Ok(());
            }
        }
        self.tcp.readable(false).await
    }

    /// Appends what the peer sends next to `buf`, waiting at most `limit`.
    pub(crate) async fn read_more(
        &self,
        buf: &mut Vec<u8>,
        limit: Option<Duration>,
    ) -> ReadOutcome {
        let deadline = limit.map(|l| monoio::time::Instant::now() + l);
        loop {
            if let Some(o) = self.read_now(buf) {
                return o;
            }
            if buf.spare_capacity_mut().is_empty() {
                return ReadOutcome::Failed;
            }
            match ready(&self.tcp, false, deadline).await {
                Ok(()) => {}
                Err(HandshakeError::Timeout) => {
                    expiry_turn().await;
                    return ReadOutcome::Timeout;
                }
                Err(_) => return ReadOutcome::Failed,
            }
        }
    }

    /// Sends what is queued, waiting for room within `deadline`.
    async fn flush(
        &self,
        deadline: Option<monoio::time::Instant>,
        more: bool,
    ) -> Result<(), WriteError> {
        let mut fd = self.fd();
        loop {
            let res = self.st.borrow_mut().send(&mut fd, more);
            match res {
                Ok(()) => {
                    self.st.borrow_mut().trim();
                    return Ok(());
                }
                Err(e) if would_block(&e) => match ready(&self.tcp, true, deadline).await {
                    Ok(()) => {}
                    Err(HandshakeError::Timeout) => {
                        expiry_turn().await;
                        return Err(WriteError::Timeout);
                    }
                    Err(_) => return Err(WriteError::Failed),
                },
                Err(_) => return Err(WriteError::Failed),
            }
        }
    }

    /// Encrypts and sends `pieces` in order, all of them, within `limit`. Records of every
    /// piece leave together in as few `sendmsg` calls as the socket allows; with `more`,
    /// they may wait in the socket for what follows (see [`Fd::send_vectored`]).
    pub(crate) async fn write_all(
        &self,
        pieces: &[&[u8]],
        limit: Option<Duration>,
        more: bool,
    ) -> Result<(), WriteError> {
        let deadline = limit.map(|l| monoio::time::Instant::now() + l);
        {
            let mut st = self.st.borrow_mut();
            for piece in pieces.iter().filter(|p| !p.is_empty()) {
                if !st.encrypt(piece) {
                    return Err(WriteError::Failed);
                }
            }
        }
        self.flush(deadline, more).await
    }

    /// Encrypts `pieces` and sends what the socket takes now, without waiting; the rest
    /// stays queued for [`TlsStream::flush_now`]. Fails only on a broken connection.
    pub(crate) fn write_now<P: std::ops::Deref<Target = [u8]>>(
        &self,
        pieces: &[P],
    ) -> io::Result<()> {
        let mut st = self.st.borrow_mut();
        for p in pieces.iter().filter(|p| !p.is_empty()) {
            if !st.encrypt(p) {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
        }
        match st.send(&mut self.fd(), false) {
            Ok(()) => st.trim(),
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Sends what is queued, without waiting: how many bytes are still queued.
    pub(crate) fn flush_now(&self) -> io::Result<usize> {
        let mut st = self.st.borrow_mut();
        match st.send(&mut self.fd(), false) {
            Ok(()) => st.trim(),
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(e),
        }
        Ok(st.queued())
    }

    /// Queues close_notify and sends it if the socket takes it at once.
    pub fn close_notify(&self) {
        let mut st = self.st.borrow_mut();
        st.close_notify();
        let _ = st.send(&mut self.fd(), false);
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.close_notify();
    }
}

/// The ring-style operations (owned buffers), for code written against monoio's traits
/// (the tunnel). Readiness-driven like the rest: nothing stays pinned when they are dropped.
impl TlsStream {
    pub async fn read_owned<T: monoio::buf::IoBufMut>(
        &self,
        mut buf: T,
    ) -> monoio::BufResult<usize, T> {
        let cap = buf.bytes_total();
        crate::io::timed::read_into_owned(buf, async |v: &mut Vec<u8>| loop {
            match self.read_now(v) {
                Some(ReadOutcome::Data(n)) => return Ok(n),
                Some(ReadOutcome::Eof) => return Ok(0),
                Some(_) => return Err(io::Error::from(io::ErrorKind::ConnectionAborted)),
                None if cap == 0 => return Ok(0),
                None => self.tcp.readable(false).await?,
            }
        })
        .await
    }

    pub async fn write_owned<T: monoio::buf::IoBuf>(&self, buf: T) -> monoio::BufResult<usize, T> {
        // SAFETY: an `IoBuf` is readable at `read_ptr` for `bytes_init` bytes while it lives.
        let bytes = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let res = match self.write_all(&[bytes], None, false).await {
            Ok(()) => Ok(bytes.len()),
            Err(_) => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
        };
        (res, buf)
    }

    /// Sends close_notify, then shuts the socket's sending side.
    pub async fn shutdown(&self) -> io::Result<()> {
        self.close_notify();
        let _ = self.flush(None, false).await;
        // SAFETY: the descriptor is this stream's open socket.
        unsafe { libc::shutdown(self.tcp.as_raw_fd(), libc::SHUT_WR) };
        Ok(())
    }
}
#[cfg(test)]
mod tests {
    /// A parked TLS connection is mostly this one allocation: kept within 1280 bytes, it
    /// takes mimalloc's 1280-byte size class instead of the 1536-byte one (256 bytes per
    /// idle connection, measured with `ringlb-bench --workloads tls-idle`).
    #[test]
    fn a_tls_stream_fits_its_size_class() {
        let size = std::mem::size_of::<super::TlsStream>();
        assert!(size <= 1280, "TlsStream grew to {size} bytes");
    }
}
