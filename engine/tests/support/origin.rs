//! The origin servers behind the proxy under test, on std threads, and the raw TCP peers.
//!
//! Every HTTP origin is an [`Origin`]: one accept loop and one keep-alive connection loop
//! (request heads, `Expect: 100-continue`, Content-Length and chunked bodies, HTTP/1.0 and
//! `Connection: close`), and a handler that turns each [`Request`] into a [`Reply`]. The
//! ready-made handlers are [`Origin::start`] (the scripted echo origin), [`Origin::named`]
//! (its name and the head it received) and [`Origin::text`] (one fixed body); tests with
//! needs of their own pass a closure to [`Origin::serve`].
//!
//! Peers that are not HTTP servers (an echo, a Redis speaker, a scripted misbehaving
//! backend) take their connections raw from [`serve_each`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::client::Response;

/// One request as the origin received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// The head as received, request line through the blank line.
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Which connection carried it: 1 for the first the origin accepted, and so on.
    pub conn: usize,
}

impl Request {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether the connection ends after the answer: `Connection: close`, or HTTP/1.0
    /// without keep-alive.
    pub fn wants_close(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        conn.contains("close") || (self.minor == 0 && !conn.contains("keep-alive"))
    }
}

/// What an origin sends back for one request. The connection loop adds the framing
/// (`Content-Length`, or `Transfer-Encoding: chunked`) and `Connection: close` when the
/// request asked for it, and leaves the body out when answering HEAD.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunked: bool,
    delay: Duration,
    hang_up: bool,
    raw: Option<Vec<u8>>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            chunked: false,
            delay: Duration::ZERO,
            hang_up: false,
            raw: None,
        }
    }

    /// `200` with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::new(200, body)
    }

    /// `200` with `body` as `Content-Type: text/plain`.
    pub fn text(body: impl Into<Vec<u8>>) -> Self {
        Self::ok(body).header("Content-Type", "text/plain")
    }

    /// Exactly these bytes, then the connection closes.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            raw: Some(bytes.into()),
            ..Self::new(0, Vec::new())
        }
    }

    /// Adds a header line (in the order given, before the framing headers).
    pub fn header(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sends the body chunked (1000-byte chunks) instead of with a Content-Length.
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    /// Waits `delay` before answering.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Closes the connection after this answer without announcing it.
    pub fn hang_up(mut self) -> Self {
        self.hang_up = true;
        self
    }

    /// The answer to `req` on the wire.
    fn bytes(&self, req: &Request) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        if self.chunked {
            out.push_str("Transfer-Encoding: chunked\r\n");
        } else {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if req.wants_close() {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        if req.method == "HEAD" {
            return out;
        }
        if self.chunked {
            for part in self.body.chunks(1000) {
                out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// An HTTP/1.1 origin on a loopback port, answering through its handler on a thread per
/// connection, until the test process ends. Connections idle for 10 s are closed.
pub struct Origin {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Origin {
    /// An origin on an ephemeral loopback port answering every request with `handler`.
    pub fn serve(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self::serve_on("127.0.0.1:0".parse().unwrap(), handler)
    }

    /// [`Origin::serve`] on a chosen address.
    pub fn serve_on(
        addr: SocketAddr,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let handler: Arc<Handler> = Arc::new(handler);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let conn = count.fetch_add(1, Ordering::SeqCst) + 1;
                let handler = handler.clone();
                thread::spawn(move || answer(stream, conn, &*handler));
            }
        });
        Self { addr, accepted }
    }

    /// The scripted echo origin. What it answers depends on the request path: `/echo` (and
    /// any other path) echoes the body and reports what it saw in `X-Conn-Id` and
    /// `X-Seen-*` headers, `/chunked` echoes it chunked, `/big/N` sends N [`pattern`] bytes,
    /// `/garbage` is not HTTP, `/truncated` ends early, `/slow` answers after 1.5 s,
    /// `/http10` is close-delimited HTTP/1.0, `/bye` answers then closes silently.
    pub fn start() -> Self {
        Self::serve(scripted)
    }

    /// An origin answering every request with its `name` on the first body line followed by
    /// the request head it received, and `X-Origin: name`.
    pub fn named(name: &str) -> Self {
        let name = name.to_string();
        Self::serve(move |req| Reply::ok(format!("{name}\n{}", req.head)).header("X-Origin", &name))
    }

    /// An origin answering every request with `200` and `body` as text/plain.
    pub fn text(body: &str) -> Self {
        let body = body.to_string();
        Self::serve(move |_| Reply::text(body.clone()))
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The name of the [`Origin::named`] that answered: the first line of the body.
pub fn origin_name(r: &Response) -> String {
    r.text().lines().next().unwrap_or("").to_string()
}

/// A deterministic byte pattern of `n` bytes.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn scripted(req: &Request) -> Reply {
    let seen = |r: Reply| {
        r.header("X-Conn-Id", req.conn)
            .header("X-Seen-Method", &req.method)
            .header("X-Seen-Version", format!("1.{}", req.minor))
            .header(
                "X-Seen-Connection",
                req.header("connection").unwrap_or("").to_ascii_lowercase(),
            )
            .header("X-Seen-XFF", req.all("x-forwarded-for").join("|"))
            .header("X-Body-Len", req.body.len())
    };
    match req.path.as_str() {
        "/garbage" => Reply::raw(&b"THIS IS NOT HTTP\r\n\r\n"[..]),
        "/truncated" => Reply::raw(&b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"[..]),
        "/slow" => seen(Reply::ok("")).after(Duration::from_millis(1500)),
        "/http10" => {
            let mut head = seen(Reply::ok("")).headers;
            if req.wants_close() {
                head.push(("Connection".into(), "close".into()));
            }
            let lines: String = head.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
            Reply::raw(format!("HTTP/1.0 200 OK\r\n{lines}\r\nuntil-close"))
        }
        "/chunked" => seen(Reply::ok(req.body.clone())).chunked(),
        "/bye" => seen(Reply::ok(req.body.clone())).hang_up(),
        path => match path.strip_prefix("/big/") {
            Some(n) => seen(Reply::ok(pattern(n.parse().unwrap()))),
            None => seen(Reply::ok(req.body.clone())),
        },
    }
}

/// Serves requests on `stream` until the client closes or asks to, or a reply ends the
/// connection.
fn answer(stream: TcpStream, conn: usize, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    while let Some(head) = read_head(&mut r) {
        let Some(mut req) = parse_head(head, conn) else {
            return;
        };
        if req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
            && w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return;
        }
        let chunked = req.header("transfer-encoding").is_some();
        let length = req.header("content-length").and_then(|v| v.parse().ok());
        let Some(body) = read_body(&mut r, length, chunked) else {
            return;
        };
        req.body = body;
        let reply = handler(&req);
        thread::sleep(reply.delay);
        if w.write_all(&reply.bytes(&req)).is_err()
            || reply.raw.is_some()
            || reply.hang_up
            || req.wants_close()
        {
            return;
        }
    }
}

fn parse_head(head: String, conn: usize) -> Option<Request> {
    let mut lines = head.lines();
    let mut parts = lines.next()?.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let minor = if parts.next()? == "HTTP/1.0" { 0 } else { 1 };
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Request {
        method,
        path,
        minor,
        head,
        headers,
        body: Vec::new(),
        conn,
    })
}

/// Reads one message head, through its blank line, as received; `None` when the peer
/// closes or the read fails first.
pub fn read_head(r: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if !matches!(r.read_line(&mut line), Ok(n) if n > 0) {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            return Some(head);
        }
    }
}

/// Reads a message body framed by Content-Length or chunked (trailers skipped).
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

/// A raw TCP peer running `f` for every accepted connection on its own thread.
pub fn serve_each<F>(f: F) -> SocketAddr
where
    F: Fn(TcpStream) + Send + Sync + Clone + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            let f = f.clone();
            thread::spawn(move || f(s));
        }
    });
    addr
}

/// A server answering each request with a head, then (after `gap`) a 6-byte body, each in a
/// write of its own.
pub fn split_writer(gap: Duration) -> SocketAddr {
    split_writer_with(gap, true)
}

/// [`split_writer`]; with `nodelay` false, Nagle's algorithm stays on, as on Python's
/// `http.server`: the body waits in the server until its head is acknowledged.
pub fn split_writer_with(gap: Duration, nodelay: bool) -> SocketAddr {
    serve_each(move |s| {
        s.set_nodelay(nodelay).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        while read_head(&mut r).is_some() {
            let head = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n";
            if w.write_all(head).is_err() {
                return;
            }
            std::thread::sleep(gap);
            if w.write_all(b"hello\n").is_err() {
                return;
            }
        }
    })
}

/// A TCP backend that echoes every byte and mirrors half-close: after the client's FIN it
/// finishes writing and closes.
pub fn echo_server() -> SocketAddr {
    serve_each(|mut s| {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = s.shutdown(std::net::Shutdown::Write);
    })
}

/// An address nothing listens on (connections are refused).
pub fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A WebSocket server echoing every text and binary message (pings are answered by
/// tungstenite itself, and so is the close handshake).
pub fn ws_echo() -> SocketAddr {
    serve_each(|s| {
        let Ok(mut ws) = tungstenite::accept(s) else {
            return;
        };
        loop {
            match ws.read() {
                Ok(m @ (tungstenite::Message::Text(_) | tungstenite::Message::Binary(_))) => {
                    if ws.send(m).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    })
}
