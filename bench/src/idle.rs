//! Idle keep-alive connections: the harness opens them itself, plain or TLS, sends one
//! request on each, reads the answer and leaves the connection open, so the proxy's memory
//! per idle client can be read from VmRSS.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use ringlb_config::tls::client::ClientTls;
use rustls::{ClientConnection, HandshakeKind, StreamOwned};

/// One of the harness's client connections to a proxy.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Conn {
    /// How the TLS handshake went; `None` on a plain connection or before the handshake.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        match self {
            Conn::Plain(_) => None,
            Conn::Tls(s) => s.conn.handshake_kind(),
        }
    }

    /// Whether the connection is still open and the proxy has sent nothing since the answer:
    /// a proxy that closed it (keep-alive timeout) or announced its close (a TLS alert) is
    /// no longer holding an idle connection.
    pub fn still_idle(&self) -> bool {
        let tcp = match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        };
        let mut byte = [0u8; 1];
        // SAFETY: `byte` is writable for its length; MSG_PEEK leaves the data in the socket.
        let n = unsafe {
            libc::recv(
                tcp.as_raw_fd(),
                byte.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
    }

    /// Ends the connection cleanly: TLS `close_notify`, then the TCP shutdown.
    pub fn close(&mut self) {
        let tcp = match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => {
                s.conn.send_close_notify();
                let _ = s.flush();
                &s.sock
            }
        };
        let _ = tcp.shutdown(Shutdown::Both);
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// What an idle connection's one request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// An HTTP/1.1 keep-alive `GET`.
    Get,
    /// A WebSocket handshake: the connection is then a tunnel.
    WebSocket,
    /// A `GET` on an HTTP/2 connection (h2c with prior knowledge, or ALPN over TLS).
    H2,
}

/// A fresh connection to `addr`, over TLS with `tls`, that has made one request.
pub fn after_one_request(
    addr: SocketAddr,
    tls: Option<&ClientTls>,
    ask: Ask,
) -> std::io::Result<Conn> {
    let mut c = connect(addr, tls)?;
    match ask {
        Ask::H2 => one_h2_request(&mut c)?,
        _ => one_request(&mut c, ask == Ask::WebSocket)?,
    }
    Ok(c)
}

/// The client preface, empty SETTINGS, and `GET /?s=6` on stream 1: `:method GET`,
/// `:scheme http` and `:authority bench` (literal) and `:path /?s=6` (literal), HPACK
/// without Huffman coding.
fn h2_hello() -> Vec<u8> {
    let frame = |kind: u8, flags: u8, stream: u32, payload: &[u8]| {
        let len = payload.len() as u32;
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    let mut block = vec![0x82, 0x86, 0x01, 5];
    block.extend_from_slice(b"bench");
    block.extend_from_slice(&[0x04, 5]);
    block.extend_from_slice(b"/?s=6");
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &[]));
    out.extend(frame(1, 0x5, 1, &block));
    out
}

/// Sends [`h2_hello`] and reads frames until stream 1 ends, acknowledging the server's
/// SETTINGS (so that nothing is left for it to wait for).
fn one_h2_request(s: &mut Conn) -> std::io::Result<()> {
    s.write_all(&h2_hello())?;
    loop {
        let mut head = [0u8; 9];
        s.read_exact(&mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload)?;
        match kind {
            // SETTINGS, not an ACK: acknowledged.
            4 if flags & 1 == 0 => s.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0])?,
            // GOAWAY, RST_STREAM: refused.
            7 | 3 => return Err(std::io::Error::other(format!("frame type {kind}"))),
            // DATA or HEADERS ending stream 1: answered.
            0 | 1 if stream == 1 && flags & 1 != 0 => return Ok(()),
            _ => {}
        }
    }
}

/// A WebSocket handshake (RFC 6455's example key; the fixture answers with its accept).
const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: bench\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Connects to `addr`, over TLS with `tls` (the handshake completes with the first request).
fn connect(addr: SocketAddr, tls: Option<&ClientTls>) -> std::io::Result<Conn> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    // As wrk does. Without it, a TLS client's request is held back (Nagle) until the proxy
    // acknowledges the client's Finished, which takes a delayed ACK (40 ms) from a proxy that
    // sends nothing after the handshake (ringlb without session tickets).
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let Some(config) = tls else {
        return Ok(Conn::Plain(s));
    };
    let conn = crate::tls::connect(config, addr)?;
    Ok(Conn::Tls(Box::new(StreamOwned::new(conn, s))))
}

/// Sends one request (or a WebSocket handshake) and reads the whole response.
fn one_request(s: &mut Conn, upgrade: bool) -> std::io::Result<()> {
    let (request, status) = match upgrade {
        true => (UPGRADE, "http/1.1 101"),
        false => (
            &b"GET /?s=6 HTTP/1.1\r\nHost: bench\r\n\r\n"[..],
            "http/1.1 200",
        ),
    };
    s.write_all(request)?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            if !head.starts_with(status) {
                return Err(std::io::Error::other(format!("answer: {head}")));
            }
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Ok(());
            }
        }
    }
}

/// What opening `count` idle connections did.
pub struct Opened {
    pub conns: Vec<Conn>,
    pub errors: u64,
    pub first_error: Option<String>,
}

pub fn open(addr: SocketAddr, count: usize, tls: Option<&ClientTls>, ask: Ask) -> Opened {
    let mut o = Opened {
        conns: Vec::with_capacity(count),
        errors: 0,
        first_error: None,
    };
    for _ in 0..count {
        match after_one_request(addr, tls, ask) {
            Ok(c) => o.conns.push(c),
            Err(e) => {
                o.errors += 1;
                o.first_error.get_or_insert_with(|| e.to_string());
                // A proxy refusing connections is not going to take the rest either.
                if o.errors > 50 {
                    break;
                }
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_connection_the_server_closed_or_wrote_to_is_no_longer_idle() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let pair = || {
            let c = connect(addr, None).unwrap();
            (c, l.accept().unwrap().0)
        };
        let (quiet, _kept) = pair();
        let (closed, server) = pair();
        drop(server);
        let (spoken_to, mut server) = pair();
        server
            .write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(quiet.still_idle());
        assert!(!closed.still_idle());
        assert!(!spoken_to.still_idle());
    }
}
