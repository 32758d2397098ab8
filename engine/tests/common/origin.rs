//! A fixture origin server on std threads. What it answers depends on the request path:
//! `/echo` (default) echoes the body and reports what it saw in `X-Seen-*` headers,
//! `/chunked` echoes it chunked, `/big/N` sends N pattern bytes, `/garbage`, `/truncated`,
//! `/slow`, `/http10` (close-delimited HTTP/1.0), `/bye` (answers then closes silently).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Origin {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Origin {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let id = count.fetch_add(1, Ordering::SeqCst) + 1;
                std::thread::spawn(move || serve(stream, id));
            }
        });
        Self { addr, accepted }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A 10 MiB-capable deterministic byte pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

struct Request {
    method: String,
    path: String,
    minor: u8,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn read_head(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let minor = if parts.next()? == "HTTP/1.0" { 0 } else { 1 };
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    Some(Request {
        method,
        path,
        minor,
        headers,
    })
}

/// Reads a request body (Content-Length or chunked).
pub fn read_body(r: &mut impl BufRead, length: Option<usize>, chunked: bool) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut line = String::new();
            r.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                loop {
                    let mut t = String::new();
                    r.read_line(&mut t).ok()?;
                    if t.trim().is_empty() {
                        return Some(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).ok()?;
            let mut crlf = String::new();
            r.read_line(&mut crlf).ok()?;
        }
    }
    if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body).ok()?;
    }
    Some(body)
}

fn serve(stream: TcpStream, id: usize) {
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    while let Some(req) = read_head(&mut r) {
        if req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
        }
        let chunked = req.header("transfer-encoding").is_some();
        let length = req.header("content-length").and_then(|v| v.parse().ok());
        let Some(body) = read_body(&mut r, length, chunked) else {
            return;
        };
        let conn = req.header("connection").unwrap_or("").to_ascii_lowercase();
        let close = conn.contains("close") || (req.minor == 0 && !conn.contains("keep-alive"));
        let seen = format!(
            "X-Conn-Id: {id}\r\nX-Seen-Method: {}\r\nX-Seen-Version: 1.{}\r\nX-Seen-Connection: {conn}\r\nX-Seen-XFF: {}\r\nX-Body-Len: {}\r\n{}",
            req.method,
            req.minor,
            req.all("x-forwarded-for").join("|"),
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        let path = req.path.clone();
        let out: Vec<u8> = if path == "/garbage" {
            let _ = w.write_all(b"THIS IS NOT HTTP\r\n\r\n");
            return;
        } else if path == "/truncated" {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
            return;
        } else if path == "/slow" {
            std::thread::sleep(Duration::from_millis(1500));
            format!("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n{seen}\r\n").into_bytes()
        } else if path == "/http10" {
            let _ = w.write_all(format!("HTTP/1.0 200 OK\r\n{seen}\r\nuntil-close").as_bytes());
            return;
        } else if let Some(n) = path.strip_prefix("/big/") {
            let n: usize = n.parse().unwrap();
            let mut out =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n{seen}\r\n").into_bytes();
            out.extend_from_slice(&pattern(n));
            out
        } else if path == "/chunked" {
            let mut out =
                format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{seen}\r\n").into_bytes();
            for part in body.chunks(1000) {
                out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        } else {
            let len = if req.method == "HEAD" { 0 } else { body.len() };
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{seen}\r\n",
                body.len()
            )
            .into_bytes();
            out.extend_from_slice(&body[..len]);
            out
        };
        if w.write_all(&out).is_err() || close || path == "/bye" {
            return;
        }
    }
}
