//! Fixtures for engine tests: configurations built in code, the engine started in-process on
//! loopback ports, and small blocking backends.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use ringlb::run::{start, RunHandle, RunOptions};
use ringlb_config::model::*;
use ringlb_config::Config;

/// Generates `NAME_io_uring` and `NAME_epoll` tests calling `body(legacy_driver)`.
#[macro_export]
macro_rules! both_drivers {
    ($name:ident, $body:path) => {
        mod $name {
            #[test]
            fn io_uring() {
                $body(false)
            }
            #[test]
            fn epoll() {
                $body(true)
            }
        }
    };
}

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
    Server {
        location: Default::default(),
        name: name.into(),
        addr: ServerAddr {
            host: Host::Ip(addr.ip()),
            port: Some(PortSpec::Fixed(addr.port())),
        },
        weight: Weight::DEFAULT,
        backup: false,
        disabled: false,
        maxconn: None,
        minconn: None,
        maxqueue: None,
        cookie: None,
        check: ServerCheck::default(),
        source: None,
        redir: None,
        send_proxy: false,
        ssl: false,
    }
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

pub fn addr_of(h: &RunHandle, frontend: &str) -> SocketAddr {
    h.addrs(frontend)[0]
}

/// A backend that echoes every byte and mirrors half-close: after the client's FIN it
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

/// A backend running `f` for every accepted connection on its own thread.
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

/// An address nothing listens on (connections are refused).
pub fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

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
