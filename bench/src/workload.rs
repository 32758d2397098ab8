//! The workloads: what is requested, through which kind of proxy configuration, by which
//! load generator, and which targets take part.

use crate::idle::Ask;
use crate::load::Gen;
use crate::targets::{self, Mode, Target};
use crate::tls::KeyType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Requests under load for a fixed time.
    Load,
    /// Idle keep-alive connections opened one by one; memory per connection.
    Idle,
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub name: &'static str,
    pub about: &'static str,
    pub kind: Kind,
    pub mode: Mode,
    pub gen: Gen,
    pub path: String,
    pub close: bool,
    pub routing: bool,
    /// Clients speak TLS to the proxy, which presents a certificate with this key; the
    /// backend stays plain HTTP.
    pub tls: Option<KeyType>,
    /// Idle workload: each connection's one request (a WebSocket handshake, which the
    /// fixture accepts with `101` so that what stays open is a tunnel, or HTTP/2).
    pub ask: Ask,
    pub targets: Vec<Target>,
}

impl Workload {
    fn load(name: &'static str, about: &'static str, path: &str) -> Self {
        Workload {
            name,
            about,
            kind: Kind::Load,
            mode: Mode::Http,
            gen: Gen::Wrk,
            path: path.to_owned(),
            close: false,
            routing: false,
            tls: None,
            ask: Ask::Get,
            targets: Target::ALL.to_vec(),
        }
    }

    /// A load through the proxies alone (the fixture backend does not speak TLS), TLS from
    /// the clients, ECDSA P-256 certificate.
    fn tls_load(name: &'static str, about: &'static str) -> Self {
        Workload {
            tls: Some(KeyType::EcdsaP256),
            targets: vec![Target::Ringlb, Target::Haproxy, Target::Nginx],
            ..Workload::load(name, about, "/?s=6")
        }
    }
}

/// Every workload, in report order.
pub fn all() -> Vec<Workload> {
    let proxies = vec![Target::Ringlb, Target::Haproxy, Target::Nginx];
    let mut tcp_targets = vec![Target::Ringlb, Target::Haproxy];
    if targets::nginx_has_stream() {
        tcp_targets.push(Target::Nginx);
    }
    vec![
        Workload::load("keepalive", "keep-alive, 6-byte responses", "/?s=6"),
        Workload {
            close: true,
            ..Workload::load(
                "close",
                "one connection per request (`Connection: close`), 6-byte responses",
                "/?s=6",
            )
        },
        Workload {
            close: true,
            ..Workload::load(
                "nagle",
                "one client connection per request, the server sending head and body in two \
                 writes with Nagle's algorithm on: a proxy that delays its acknowledgements \
                 of reused server connections shows ~40 ms in the latency columns",
                "/?s=6&n=1",
            )
        },
        Workload::load("64k", "keep-alive, 64 KiB responses", "/?s=65536"),
        Workload {
            mode: Mode::Tcp,
            targets: tcp_targets.clone(),
            ..Workload::load(
                "tcp",
                "TCP mode (`mode tcp` / nginx stream), keep-alive HTTP inside, 64 KiB responses",
                "/?s=65536",
            )
        },
        Workload {
            routing: true,
            targets: proxies.clone(),
            ..Workload::load(
                "routing",
                "100 path ACLs + 50 backends, request matches the last ACL, keep-alive, 6 bytes",
                &format!("{}?s=6", targets::routing_path()),
            )
        },
        Workload {
            gen: Gen::H2load,
            ..Workload::load(
                "h2load",
                "keep-alive, 6-byte responses, h2load --h1",
                "/?s=6",
            )
        },
        Workload {
            gen: Gen::H2,
            targets: proxies.clone(),
            ..Workload::load(
                "h2",
                "HTTP/2 to the proxy (h2c, h2load -m10: 10 streams per connection), HTTP/1.1 \
                 keep-alive to the backend, 6-byte responses",
                "/?s=6",
            )
        },
        Workload {
            kind: Kind::Idle,
            ask: Ask::H2,
            targets: proxies.clone(),
            ..Workload::load(
                "h2-idle",
                "idle HTTP/2 connections (h2c, one request each), proxy RSS per connection",
                "/?s=6",
            )
        },
        Workload {
            kind: Kind::Idle,
            targets: proxies,
            ..Workload::load(
                "idle",
                "idle keep-alive connections, one request each, proxy RSS per connection",
                "/?s=6",
            )
        },
        Workload {
            kind: Kind::Idle,
            ask: Ask::WebSocket,
            targets: vec![Target::Ringlb, Target::Haproxy, Target::Nginx],
            ..Workload::load(
                "ws-idle",
                "idle WebSocket tunnels (one handshake each, `101` from the backend), proxy RSS \
                 per connection",
                "/ws",
            )
        },
        Workload {
            kind: Kind::Idle,
            mode: Mode::Tcp,
            targets: tcp_targets.clone(),
            ..Workload::load(
                "tcp-idle",
                "idle `mode tcp` tunnels (one keep-alive request through each), proxy RSS per \
                 connection",
                "/?s=6",
            )
        },
        // wrk, not h2load, for the handshakes: with `Connection: close` it opens a new TLS
        // connection per request. wrk keeps each connection's OpenSSL session and offers it
        // on the next connect, so the proxies are configured to refuse it (no tickets, no
        // session cache), and `run` checks, before each of these runs, that the proxy
        // resumed no session for the harness's own client: every request is a full TLS 1.3
        // handshake.
        Workload {
            close: true,
            ..Workload::tls_load(
                "tls-handshake",
                "full TLS 1.3 handshake per request (ECDSA P-256, no resumption, \
                 `Connection: close`), 6-byte responses",
            )
        },
        Workload {
            close: true,
            tls: Some(KeyType::Rsa2048),
            ..Workload::tls_load(
                "tls-handshake-rsa",
                "full TLS 1.3 handshake per request (RSA-2048, no resumption, \
                 `Connection: close`), 6-byte responses",
            )
        },
        Workload::tls_load(
            "tls-keepalive",
            "TLS 1.3 keep-alive (ECDSA P-256), 6-byte responses",
        ),
        Workload {
            kind: Kind::Idle,
            ..Workload::tls_load(
                "tls-idle",
                "idle TLS keep-alive connections (ECDSA P-256), one request each, proxy RSS \
                 per connection",
            )
        },
    ]
}
