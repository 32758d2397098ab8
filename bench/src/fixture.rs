//! The fixture backend: a keep-alive HTTP/1.1 server, one monoio runtime per pinned core,
//! answering `/?s=BYTES&d=MILLIS` with a body of that size after that delay.
//!
//! It runs in its own process (`ringlb-bench fixture …`) so that its CPU time can be read
//! from /proc apart from the harness and the proxy, and it does as little as possible per
//! request so that every target is measured against the same, cheap backend.

use std::net::SocketAddr;
use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};

use crate::procfs;

/// Largest response body the fixture serves; larger `s=` values are clamped.
const MAX_BODY: usize = 16 << 20;
/// A request head larger than this is refused by closing the connection.
const MAX_HEAD: usize = 16 << 10;

/// Serves on `127.0.0.1:port` with one thread per entry of `cpus` (pinned to it); never returns.
pub fn serve(port: u16, cpus: &[usize]) -> ! {
    let body: &'static [u8] = Box::leak(vec![b'x'; MAX_BODY].into_boxed_slice());
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut handles = Vec::new();
    for &cpu in cpus {
        handles.push(std::thread::spawn(move || {
            procfs::pin_current_thread(&[cpu]);
            let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                .enable_timer()
                .build()
                .expect("fixture runtime");
            rt.block_on(accept_loop(addr, body));
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    std::process::exit(1);
}

async fn accept_loop(addr: SocketAddr, body: &'static [u8]) {
    let opts = ListenerOpts::new().reuse_port(true).backlog(4096);
    let listener = TcpListener::bind_with_config(addr, &opts).expect("fixture bind");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                monoio::spawn(serve_connection(stream, body));
            }
            Err(_) => monoio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// What one request asks of the fixture.
#[derive(Debug, PartialEq, Eq)]
pub struct Ask {
    pub size: usize,
    pub delay_ms: u64,
    pub close: bool,
    /// Bytes of request body that follow the head and must be skipped.
    pub content_length: usize,
    /// The request asks to switch protocols (`Upgrade`): it is answered `101` and the
    /// connection is then held open, read and discarded, until the peer closes.
    pub upgrade: bool,
    /// `n=1`: the answer goes out with Nagle's algorithm on, head and body in two sends, as
    /// from a server that never sets `TCP_NODELAY` (Python's `http.server`): the body
    /// waits for the peer to acknowledge the head, which a delayed acknowledgement holds
    /// up to 40 ms.
    pub nagle: bool,
}

/// Reads `s=` and `d=` from the request line's query and `Connection: close` /
/// `Content-Length` from the headers of one complete head.
pub fn parse_ask(head: &[u8]) -> Ask {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or("");
    let target = line.split(' ').nth(1).unwrap_or("/");
    let mut ask = Ask {
        size: 6,
        delay_ms: 0,
        close: line.ends_with("HTTP/1.0"),
        content_length: 0,
        upgrade: false,
        nagle: false,
    };
    if let Some((_, query)) = target.split_once('?') {
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("s", v)) => ask.size = v.parse().unwrap_or(6).min(MAX_BODY),
                Some(("d", v)) => ask.delay_ms = v.parse().unwrap_or(0),
                Some(("n", v)) => ask.nagle = v == "1",
                _ => {}
            }
        }
    }
    for h in lines {
        if let Some((name, value)) = h.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("connection") {
                ask.close = value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case("content-length") {
                ask.content_length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("upgrade") {
                ask.upgrade = !value.is_empty();
            }
        }
    }
    ask
}

async fn serve_connection(mut stream: TcpStream, body: &'static [u8]) {
    let mut buf: Vec<u8> = Vec::with_capacity(MAX_HEAD);
    loop {
        // Complete heads already buffered (pipelining) are answered before reading again.
        let end = match memchr_head_end(&buf) {
            Some(end) => end,
            None => {
                if buf.len() == buf.capacity() {
                    return;
                }
                let len = buf.len();
                let (res, slice) = stream.read(buf.slice_mut(len..)).await;
                buf = slice.into_inner();
                match res {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        };
        let ask = parse_ask(&buf[..end]);
        // Request bodies are not used by any workload; skip what is buffered of it.
        let consumed = (end + ask.content_length).min(buf.len());
        buf.drain(..consumed);
        if ask.upgrade {
            // The accept of RFC 6455's example key, the one the harness's clients send.
            let head = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
            if stream.write_all(head.to_vec()).await.0.is_err() {
                return;
            }
            let mut buf = buf;
            loop {
                buf.clear();
                let (res, b) = stream.read(buf).await;
                buf = b;
                if !matches!(res, Ok(n) if n > 0) {
                    return;
                }
            }
        }
        if ask.delay_ms > 0 {
            monoio::time::sleep(Duration::from_millis(ask.delay_ms)).await;
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            ask.size,
            if ask.close {
                "Connection: close\r\n"
            } else {
                ""
            }
        );
        let _ = stream.set_nodelay(!ask.nagle);
        let (res, _) = stream.write_all(head.into_bytes()).await;
        if res.is_err() {
            return;
        }
        if ask.size > 0 {
            let (res, _) = stream.write_all(&body[..ask.size]).await;
            if res.is_err() {
                return;
            }
        }
        if ask.close {
            return;
        }
    }
}

fn memchr_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_sets_size_and_delay() {
        let ask = parse_ask(b"GET /?s=65536&d=5 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(ask.size, 65536);
        assert_eq!(ask.delay_ms, 5);
        assert!(!ask.close && !ask.nagle);
        assert!(parse_ask(b"GET /?s=6&n=1 HTTP/1.1\r\n\r\n").nagle);
    }

    #[test]
    fn connection_close_header_and_http10_close() {
        assert!(parse_ask(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").close);
        assert!(parse_ask(b"GET / HTTP/1.0\r\n\r\n").close);
        assert!(!parse_ask(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").close);
    }

    #[test]
    fn oversized_body_request_is_clamped() {
        assert_eq!(
            parse_ask(b"GET /?s=999999999 HTTP/1.1\r\n\r\n").size,
            MAX_BODY
        );
    }
}
