//! The HTTP/1.1 client of the tests: a blocking connection reading each response by its
//! framing (Content-Length, chunked, or until the close), the way a browser would, and the
//! one-shot requests built on it. Raw TCP helpers for tests that speak bytes, not HTTP.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::origin::read_body;

/// One response as the client received it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The head as received, status line through the blank line.
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the response announces `Connection: close`.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One client connection; requests are sent as raw bytes, responses read one at a time.
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl Client {
    /// Connects to `addr` (within 2 s; reads time out after 10 s), panicking on failure.
    pub fn connect(addr: SocketAddr) -> Self {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    /// [`Client::connect`] returning the failure.
    pub fn try_connect(addr: SocketAddr) -> std::io::Result<Self> {
        Self::connect_within(addr, Duration::from_secs(2), Duration::from_secs(10))
    }

    /// Connects to `addr` within `connect`; each read then times out after `read`.
    pub fn connect_within(
        addr: SocketAddr,
        connect: Duration,
        read: Duration,
    ) -> std::io::Result<Self> {
        let s = TcpStream::connect_timeout(&addr, connect)?;
        s.set_read_timeout(Some(read))?;
        Ok(Self {
            writer: s.try_clone()?,
            reader: BufReader::new(s),
        })
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// [`Client::send`] returning the failure.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Reads one response, panicking when none comes whole; `head` is whether it answers a
    /// HEAD request.
    pub fn read(&mut self, head: bool) -> Response {
        self.try_read(head)
            .unwrap_or_else(|e| panic!("no complete response: {e}"))
    }

    /// [`Client::read`] returning the failure: the I/O error as it happened, or
    /// `UnexpectedEof` / `InvalidData` when the connection ends early or the bytes are not
    /// a response.
    pub fn try_read(&mut self, head: bool) -> std::io::Result<Response> {
        let eof = || std::io::Error::new(ErrorKind::UnexpectedEof, "incomplete response");
        let mut text = String::new();
        if self.reader.read_line(&mut text)? == 0 {
            return Err(eof());
        }
        let status = text
            .strip_prefix("HTTP/1.")
            .and_then(|s| s.get(2..5))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    ErrorKind::InvalidData,
                    format!("not a status line: {text:?}"),
                )
            })?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(eof());
            }
            text.push_str(&line);
            let h = line.trim_end();
            if h.is_empty() {
                break;
            }
            let (n, v) = h.split_once(':').ok_or_else(|| {
                std::io::Error::new(ErrorKind::InvalidData, format!("bad header line {h:?}"))
            })?;
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        let mut resp = Response {
            status,
            head: text,
            headers,
            body: Vec::new(),
        };
        if head || status == 204 || status == 304 || (100..200).contains(&status) {
            return Ok(resp);
        }
        let chunked = resp.header("transfer-encoding").is_some();
        let length = match resp.header("content-length") {
            Some(v) => Some(v.parse::<usize>().map_err(|_| {
                std::io::Error::new(ErrorKind::InvalidData, format!("Content-Length {v:?}"))
            })?),
            None => None,
        };
        if chunked || length.is_some() {
            resp.body = read_body(&mut self.reader, length, chunked).ok_or_else(eof)?;
        } else {
            self.reader.read_to_end(&mut resp.body)?;
        }
        Ok(resp)
    }

    /// Sends `GET path` with `Host: x` on this connection and reads the response.
    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        self.read(false)
    }

    /// Whether the peer closed the connection (EOF with nothing more to read).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

/// Sends `raw` on a new connection and reads one response, panicking when none comes. When
/// the request or the response says `Connection: close`, it returns once the proxy closed
/// (or reset) the connection too: the exchange is over on both sides (logged, counted).
pub fn request(addr: SocketAddr, raw: &str) -> Response {
    try_request(addr, raw).unwrap_or_else(|e| panic!("{raw:?} to {addr}: {e}"))
}

/// [`request`] returning the failure (refused, reset, closed without a whole response).
pub fn try_request(addr: SocketAddr, raw: &str) -> std::io::Result<Response> {
    let mut c = Client::try_connect(addr)?;
    c.try_send(raw.as_bytes())?;
    let r = c.try_read(raw.starts_with("HEAD "))?;
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    let asked = head
        .to_ascii_lowercase()
        .lines()
        .any(|l| l.starts_with("connection:") && l.contains("close"));
    if asked || r.closes() {
        // A reset here (the proxy closing on unread request bytes) ends the wait too.
        let _ = c.reader.read_to_end(&mut Vec::new());
    }
    Ok(r)
}

/// `GET path` with `Host: host` and `Connection: close` on a new connection.
pub fn get(addr: SocketAddr, path: &str, host: &str) -> Response {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

/// `GET path` with `Connection: close` on a new connection: the status and body, or the
/// failure when the connection is refused, reset or closed without a whole response.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    try_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
    .map(|r| (r.status, r.text()))
}

/// A raw TCP connection to `addr`, reads timing out after 10 s.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends `msg` and reads the same number of bytes back.
pub fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).unwrap();
    back
}

/// Reads until end-of-stream; `Err` when the read timed out or failed.
pub fn read_to_end(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

/// `echo LINE | socat stdio UNIX-CONNECT:PATH`: the runtime API's answer.
pub fn socat(path: &std::path::Path, line: &str) -> String {
    let mut child = std::process::Command::new("socat")
        .arg("stdio")
        .arg(format!("UNIX-CONNECT:{}", path.display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("socat runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{line}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The cell `column` of row `px,sv` in a `show stat` / `;csv` answer; empty when there is
/// no such row.
pub fn csv_cell(csv: &str, px: &str, sv: &str, column: &str) -> String {
    let header: Vec<&str> = csv
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let i = header
        .iter()
        .position(|c| *c == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    csv.lines()
        .find(|l| l.starts_with(&format!("{px},{sv},")))
        .and_then(|row| row.split(',').nth(i))
        .unwrap_or_default()
        .to_string()
}
