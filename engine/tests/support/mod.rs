//! Fixtures for engine tests: configurations built in code, the engine started in-process on
//! loopback ports, the `ringlb` binary run as a guarded child process, and small blocking
//! backends and clients.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ringlb::boot::run::{start, RunHandle, RunOptions};
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

/// A directory of its own under the system temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ringlb-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port free at the time of the call (bound once, then released), for
/// configurations that must name their port before the process under test binds it.
pub fn free_port() -> u16 {
    reserve_port().local_addr().unwrap().port()
}

/// A loopback port held until the listener is dropped: while several ports are chosen and
/// fixtures started, none of them can be handed out twice.
///
/// Ports come from below the kernel's ephemeral range (32768 and up), walked from a
/// per-process starting point: a port that must stay free until a process under test binds
/// it can then not be taken meanwhile as the local port of some test's outgoing connection.
pub fn reserve_port() -> TcpListener {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 12_000;
    const SPAN: u32 = 20_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    if NEXT.load(Ordering::Relaxed) == u32::MAX {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let start = std::process::id().wrapping_mul(7_919).wrapping_add(nanos) % SPAN;
        let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
    }
    for _ in 0..SPAN {
        let port = FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port as u16)) {
            return l;
        }
    }
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// The workspace root, where `examples/` lives.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `ringlb` binary running as a child process. Its stderr goes to a file so it can be
/// read at any time; dropping the value kills the process if it still runs, so a failing
/// test leaves nothing behind.
pub struct Ringlb {
    child: Child,
    stderr_path: PathBuf,
    status: Option<ExitStatus>,
}

impl Ringlb {
    /// Starts `ringlb ARGS`, its stderr in `stderr_path`.
    pub fn spawn<S: AsRef<OsStr>>(args: &[S], stderr_path: PathBuf) -> Self {
        Self::spawn_to(args, Stdio::null(), stderr_path)
    }

    /// Starts `ringlb ARGS` with its stdout on `stdout` and its stderr in `stderr_path`. A
    /// `Stdio::piped()` stdout stays open, unread, for as long as the value lives.
    pub fn spawn_to<S: AsRef<OsStr>>(args: &[S], stdout: Stdio, stderr_path: PathBuf) -> Self {
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ringlb"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("ringlb starts");
        Self {
            child,
            stderr_path,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn signal(&self, signal: libc::c_int) {
        if self.status.is_none() {
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        }
    }

    /// The exit status if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap();
        }
        self.status
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.exited()
    }

    /// Waits until `addr` accepts connections and every worker has announced itself;
    /// panics with the process's stderr if it exits first or takes longer than 10 s.
    pub fn wait_serving(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.exited() {
                panic!(
                    "ringlb exited with {status} before serving {addr}; stderr:\n{}",
                    self.stderr()
                );
            }
            if self.workers_running() && TcpStream::connect(addr).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ringlb does not serve {addr} after 10 s; stderr:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the startup notice announced as many running workers as it started.
    fn workers_running(&self) -> bool {
        let err = self.stderr();
        let Some(n) = err
            .lines()
            .find_map(|l| l.split(", ").nth(1)?.strip_suffix(" worker(s)"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return false;
        };
        err.lines()
            .filter(|l| l.starts_with("ringlb: worker ") && l.contains(" running on "))
            .count()
            >= n
    }

    /// Waits up to 10 s for `path` to hold a pid and a newline, and returns the pid.
    pub fn wait_pidfile(&self, path: &Path) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = std::fs::read_to_string(path) {
                if let Some(pid) = text.strip_suffix('\n').and_then(|t| t.parse().ok()) {
                    return pid;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no pidfile at {}; stderr:\n{}",
                path.display(),
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` and waits up to 5 s for the exit; returns the status, or panics with
    /// stderr when the process is still running.
    pub fn stop_with(&mut self, signal: libc::c_int) -> ExitStatus {
        self.signal(signal);
        match self.wait_exit(Duration::from_secs(5)) {
            Some(s) => s,
            None => panic!(
                "ringlb still runs 5 s after signal {signal}; stderr:\n{}",
                self.stderr()
            ),
        }
    }
}

impl Drop for Ringlb {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A keep-alive HTTP/1.1 backend answering every request with `200` and `body`; it reads
/// request bodies sized by Content-Length and closes when the client asks to.
pub fn http_server(body: &str) -> SocketAddr {
    http_server_on("127.0.0.1:0".parse().unwrap(), body)
}

/// [`http_server`] on a chosen address.
pub fn http_server_on(addr: SocketAddr, body: &str) -> SocketAddr {
    let body = body.to_string();
    let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            let body = body.clone();
            thread::spawn(move || answer_requests(s, |_| (Duration::ZERO, body.clone())));
        }
    });
    addr
}

/// Serves requests on `s` until the client closes or asks to: for each request head,
/// `respond(path)` says how long to wait and what body to send with a `200`.
pub fn answer_requests(s: TcpStream, respond: impl Fn(&str) -> (Duration, String)) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut w = s.try_clone().unwrap();
    let mut r = std::io::BufReader::new(s);
    loop {
        let mut line = String::new();
        if !matches!(r.read_line(&mut line), Ok(n) if n > 0) {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (mut length, mut close) = (0usize, line.ends_with("HTTP/1.0\r\n"));
        loop {
            let mut h = String::new();
            if !matches!(r.read_line(&mut h), Ok(n) if n > 0) {
                return;
            }
            let h = h.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if let Some(v) = h.strip_prefix("connection:") {
                close = v.contains("close");
            }
        }
        let mut discard = vec![0u8; length];
        if r.read_exact(&mut discard).is_err() {
            return;
        }
        let (delay, body) = respond(&path);
        thread::sleep(delay);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if w.write_all(head.as_bytes()).is_err() || w.write_all(body.as_bytes()).is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

/// Sends `GET path` with `Connection: close` on a new connection and returns the status and
/// body; `Err` when the connection is refused, reset or closed without a complete answer.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())?;
    let raw = read_to_end(&mut s)?;
    parse_response(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "no complete HTTP response: {:?}",
                String::from_utf8_lossy(&raw)
            ),
        )
    })
}

/// Status and body of one complete close-delimited or Content-Length response.
fn parse_response(raw: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()?;
    let length = head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    match length {
        Some(n) if body.len() < n => None,
        Some(n) => Some((status, body[..n].to_string())),
        None => Some((status, body.to_string())),
    }
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
