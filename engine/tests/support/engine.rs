//! The engine in-process: configurations built in code or parsed from text, started on
//! loopback ports with or without the legacy driver, its health checker's view, and a
//! syslog receiver for its log lines.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use ringlb::boot::run::{start, RunHandle, RunOptions};
use ringlb_config::model::*;
use ringlb_config::Config;

use super::process::free_port;

/// A proxy with nothing set, as a section with only its header line would be.
pub fn proxy(kind: ProxyKind, name: &str) -> Proxy {
    Proxy::new(kind, name.into(), Default::default())
}

pub fn bind(addr: SocketAddr) -> Bind {
    Bind {
        location: Default::default(),
        addrs: vec![BindAddr::Tcp {
            ip: Some(addr.ip()),
            ports: PortRange::single(addr.port()),
        }],
        name: None,
        options: BindOptions::default(),
    }
}

pub fn server(name: &str, addr: SocketAddr) -> Server {
    Server::new(
        name.into(),
        ServerAddr {
            host: Host::Ip(addr.ip()),
            port: Some(PortSpec::Fixed(addr.port())),
        },
    )
}

/// `listen NAME` on an ephemeral loopback port with `servers`.
pub fn listen(name: &str, servers: &[(&str, SocketAddr)]) -> Proxy {
    let mut p = proxy(ProxyKind::Listen, name);
    p.binds.push(bind("127.0.0.1:0".parse().unwrap()));
    p.servers = servers.iter().map(|(n, a)| server(n, *a)).collect();
    p.timeouts.connect = Some(Duration::from_secs(2));
    p
}

pub fn config(nbthread: u16, proxies: Vec<Proxy>) -> Config {
    let mut c = Config::default();
    c.global.nbthread = Some(nbthread);
    c.proxies = proxies;
    c
}

/// Starts the engine in-process without signal handling.
pub fn run(config: Config, legacy: bool) -> RunHandle {
    start(
        config,
        RunOptions {
            legacy_driver: legacy,
            handle_signals: false,
            ..RunOptions::default()
        },
    )
    .expect("engine starts")
}

/// Parses `text`, panicking with the diagnostics when it is not a valid configuration.
pub fn parse_config(text: &str) -> Config {
    let loaded = ringlb_config::parse_str(text, Path::new("test.cfg"));
    loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics))
}

/// Starts the engine on `text` behind a `global` section with `nbthread` workers and HTTP
/// `defaults` (client and server timeouts 5 s, connect 1 s).
pub fn run_http(nbthread: u16, text: &str, legacy: bool) -> RunHandle {
    let full = format!(
        "global\n nbthread {nbthread}\ndefaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n{text}"
    );
    run(parse_config(&full), legacy)
}

/// [`run_http`] with one worker on `text`, where `@NAME` stands for the address of origin
/// NAME and each `bind 127.0.0.1:0` gets a free port.
pub fn run_with_origins(text: &str, origins: &[(&str, SocketAddr)], legacy: bool) -> RunHandle {
    let mut text = text.to_string();
    while let Some(i) = text.find("127.0.0.1:0\n") {
        text.replace_range(i..i + 11, &format!("127.0.0.1:{}", free_port()));
    }
    for (n, a) in origins {
        text = text.replace(&format!("@{n}"), &a.to_string());
    }
    run_http(1, &text, legacy)
}

pub fn addr_of(h: &RunHandle, frontend: &str) -> SocketAddr {
    h.addrs(frontend)[0]
}

/// A syslog receiver on a loopback UDP port.
pub struct Receiver(UdpSocket);

impl Receiver {
    pub fn new() -> Self {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Self(s)
    }
    pub fn addr(&self) -> SocketAddr {
        self.0.local_addr().unwrap()
    }
    pub fn line(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self.0.recv(&mut buf).expect("a log line arrives");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
    /// No line arrives within `wait`.
    pub fn silent(&self, wait: Duration) -> bool {
        self.0.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 4096];
        let r = self.0.recv(&mut buf);
        self.0
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        r.is_err()
    }
}

impl Default for Receiver {
    fn default() -> Self {
        Self::new()
    }
}

/// A server at `addr` with a TCP check every `inter_ms` (rise 2, fall 2).
pub fn checked(name: &str, addr: SocketAddr, inter_ms: u64) -> Server {
    let mut s = server(name, addr);
    s.check.enabled = true;
    s.check.inter = Duration::from_millis(inter_ms);
    s.check.rise = 2;
    s.check.fall = 2;
    s
}

/// Whether the health checker has `server` up now.
pub fn is_up(h: &RunHandle, server: &str) -> bool {
    let snap = h.checker().expect("a checker runs").snapshot();
    snap.iter().find(|s| s.server == server).unwrap().up
}

/// Waits up to 5 s until the health checker says `server` is up (or down), then lets the
/// workers apply the change.
pub fn wait_state(h: &RunHandle, server: &str, up: bool) {
    wait_state_within(h, server, up, Duration::from_secs(5));
}

/// Waits until the health checker says `server` is up (or down), failing past `limit`;
/// then lets the workers apply the change (they do within milliseconds of the decision).
pub fn wait_state_within(h: &RunHandle, server: &str, up: bool, limit: Duration) {
    let deadline = Instant::now() + limit;
    while is_up(h, server) != up {
        assert!(
            Instant::now() < deadline,
            "{server} did not become up={up} within {limit:?}"
        );
        thread::sleep(Duration::from_millis(2));
    }
    thread::sleep(Duration::from_millis(50));
}

/// The descriptors this process has open now (the engine under test runs in it).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Starts the engine with one worker, a syslog receiver, HTTP `defaults` logging `httplog`
/// (client and server timeouts 5 s, connect 1 s) and `text` after them, where `@PORT` is a
/// free port for the frontend and each `(name, value)` of `subs` replaces `name`. Returns
/// the frontend's address and the receiver.
pub fn run_logged(
    text: &str,
    subs: &[(&str, String)],
    legacy: bool,
) -> (RunHandle, SocketAddr, Receiver) {
    let rx = Receiver::new();
    let port = super::process::free_port();
    let mut full = format!(
        "global\n nbthread 1\n log {} local0 info\ndefaults\n mode http\n log global\n option httplog\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n{text}",
        rx.addr()
    )
    .replace("@PORT", &port.to_string());
    for (name, value) in subs {
        full = full.replace(name, value);
    }
    let h = run(parse_config(&full), legacy);
    (h, SocketAddr::from(([127, 0, 0, 1], port)), rx)
}
