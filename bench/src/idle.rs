//! Idle keep-alive connections: the harness opens them itself, sends one request on each,
//! reads the answer and leaves the connection open, so the proxy's memory per idle client
//! can be read from VmRSS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Sends one request on a fresh connection and reads the whole response; keeps the stream.
fn one_request(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /?s=6 HTTP/1.1\r\nHost: bench\r\n\r\n")?;
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
            if !head.starts_with("http/1.1 200") {
                return Err(std::io::Error::other(format!("answer: {head}")));
            }
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Ok(s);
            }
        }
    }
}

/// What opening `count` idle connections did.
pub struct Opened {
    pub streams: Vec<TcpStream>,
    pub errors: u64,
    pub first_error: Option<String>,
}

pub fn open(addr: SocketAddr, count: usize) -> Opened {
    let mut o = Opened {
        streams: Vec::with_capacity(count),
        errors: 0,
        first_error: None,
    };
    for _ in 0..count {
        match one_request(addr) {
            Ok(s) => o.streams.push(s),
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
