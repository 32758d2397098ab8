//! Helpers for the routing tests: origins that echo the request head they got, the engine
//! started on a configuration text, and a one-shot HTTP client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ringlb::boot::run::RunHandle;

use crate::support::{free_port, read_head, run_http, serve_each};

/// An origin that answers every request with its name and the request head it received.
pub fn origin(name: &'static str) -> SocketAddr {
    serve_each(move |s| {
        let mut w = s.try_clone().unwrap();
        let mut r = std::io::BufReader::new(s);
        while let Some(head) = read_head(&mut r) {
            let body = format!("{name}\n{head}");
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Origin: {name}\r\n\r\n{body}",
                body.len()
            );
            if w.write_all(resp.as_bytes()).is_err() {
                return;
            }
        }
    })
}

/// Starts the engine on `text`, where `@NAME` stands for the address of origin NAME and
/// each `bind 127.0.0.1:0` gets a free port.
pub fn start(text: &str, origins: &[(&str, SocketAddr)], legacy: bool) -> RunHandle {
    let mut text = text.to_string();
    while let Some(i) = text.find("127.0.0.1:0\n") {
        text.replace_range(i..i + 11, &format!("127.0.0.1:{}", free_port()));
    }
    for (n, a) in origins {
        text = text.replace(&format!("@{n}"), &a.to_string());
    }
    run_http(1, &text, legacy)
}

pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `request` (which must ask for `Connection: close`) and reads the whole answer.
pub fn send(addr: SocketAddr, request: &str) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status: head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0),
        head: head.to_string(),
        body: body.to_string(),
    }
}

pub fn get(addr: SocketAddr, path: &str, host: &str) -> Answer {
    send(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

pub fn served_by(a: &Answer) -> &str {
    a.body.lines().next().unwrap_or("")
}
