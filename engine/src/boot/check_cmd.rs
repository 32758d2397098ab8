//! `ringlb check`: the health hook for keepalived's `vrrp_script`, probing a running ringlb
//! from outside (pidfile, listening port, monitor URI) and answering with an exit code.
//!
//! keepalived only reads the exit status, so the contract is: 0 when every probe given
//! passes, 1 when one fails (with one line on stderr saying which and why), 2 when the
//! command line itself is wrong. Probes run in the order pid, listen, url, socket and stop
//! at the first failure, so the message names the most basic thing that is wrong.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

/// Exit status when every probe passed.
pub const HEALTHY: i32 = 0;
/// Exit status when a probe failed: keepalived lowers the priority or enters FAULT.
pub const UNHEALTHY: i32 = 1;
/// Exit status when the command line cannot be acted on (as clap's own usage errors).
pub const USAGE: i32 = 2;

#[derive(Debug, Clone, Args)]
#[command(
    about = "Probe a running ringlb for keepalived's vrrp_script: exit 0 when healthy, 1 when not",
    after_help = "Every probe given must pass. Pair --url with 'monitor-uri' and \
                  'monitor fail if { nbsrv(BACKEND) lt 1 }' so the proxy itself says whether \
                  a backend has a server up."
)]
pub struct CheckArgs {
    /// GET this URL (http://HOST[:PORT]/PATH); healthy when the answer is 2xx.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Healthy when the process whose id this pidfile holds is alive.
    #[arg(long, value_name = "PIDFILE")]
    pub pid: Option<PathBuf>,

    /// Healthy when ADDR:PORT accepts a TCP connection.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,

    /// Ask the runtime socket at PATH (a `stats socket`): healthy when `show info` answers
    /// and at least one backend has a server up.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Give up on a connection or an answer after this many milliseconds (each probe).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub timeout: u64,

    /// Also print one line on stderr when healthy.
    #[arg(short, long)]
    pub verbose: bool,
}

/// One thing to look at; each passes with a short description or fails with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Pid(PathBuf),
    Listen(SocketAddr),
    Url(HttpUrl),
    /// One request to the runtime socket answers for every worker and backend at once.
    Socket(PathBuf),
}

/// The parts of an `http://` URL a probe needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `host[:port]` as written, for the Host header.
    pub authority: String,
    pub addr: SocketAddr,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// Runs `ringlb check`; returns the process exit status.
pub fn run(args: &CheckArgs) -> i32 {
    let probes = match probes(args) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("ringlb check: {message}");
            return USAGE;
        }
    };
    let timeout = Duration::from_millis(args.timeout.max(1));
    let mut passed = Vec::new();
    for probe in &probes {
        match probe.run(timeout) {
            Ok(what) => passed.push(what),
            Err(why) => {
                eprintln!("ringlb check: FAIL: {why}");
                return UNHEALTHY;
            }
        }
    }
    if args.verbose {
        eprintln!("ringlb check: ok: {}", passed.join("; "));
    }
    HEALTHY
}

/// The probes the command line asks for, in the order they run.
pub fn probes(args: &CheckArgs) -> Result<Vec<Probe>, String> {
    let mut out = Vec::new();
    if let Some(path) = &args.socket {
        out.push(Probe::Socket(path.clone()));
    }
    if let Some(path) = &args.pid {
        out.push(Probe::Pid(path.clone()));
    }
    if let Some(listen) = &args.listen {
        out.push(Probe::Listen(resolve(listen).map_err(|e| {
            format!("--listen {listen}: {e} (expected ADDR:PORT, for example 127.0.0.1:80)")
        })?));
    }
    if let Some(url) = &args.url {
        out.push(Probe::Url(
            parse_url(url).map_err(|e| format!("--url {url}: {e}"))?,
        ));
    }
    if out.is_empty() {
        return Err(
            "nothing to check: give --url URL, --pid PIDFILE, --listen ADDR:PORT or --socket PATH"
                .into(),
        );
    }
    Ok(out)
}

impl Probe {
    /// Passes with what was seen, or fails with why, within `timeout`.
    pub fn run(&self, timeout: Duration) -> Result<String, String> {
        match self {
            Self::Pid(path) => process_alive(path),
            Self::Listen(addr) => TcpStream::connect_timeout(addr, timeout)
                .map(|_| format!("{addr} accepts connections"))
                .map_err(|e| format!("listen {addr}: {e}")),
            Self::Url(url) => {
                let shown = format!("http://{}{}", url.authority, url.path);
                match http_status(url, timeout) {
                    Ok(status) if (200..300).contains(&status) => {
                        Ok(format!("{shown} answered {status}"))
                    }
                    Ok(status) => Err(format!("url {shown} answered {status}")),
                    // A socket timeout reads as EAGAIN ("temporarily unavailable"): say it plainly.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        Err(format!(
                            "url {shown}: no answer within {} ms",
                            timeout.as_millis()
                        ))
                    }
                    Err(e) => Err(format!("url {shown}: {e}")),
                }
            }
            Self::Socket(path) => socket_health(path, timeout),
        }
    }
}

/// `show info` then `show stat` on the runtime socket: the process answers, and some
/// backend has a server up.
fn socket_health(path: &std::path::Path, timeout: Duration) -> Result<String, String> {
    let shown = path.display();
    let answer = (|| -> io::Result<String> {
        let mut s = std::os::unix::net::UnixStream::connect(path)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.write_all(b"show info;show stat\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })()
    .map_err(|e| format!("runtime socket {shown}: {e}"))?;
    if !answer.starts_with("Name: ") {
        return Err(format!(
            "runtime socket {shown}: 'show info' did not answer"
        ));
    }
    let backends: Vec<&str> = answer
        .lines()
        .filter(|l| l.split(',').nth(1) == Some("BACKEND"))
        .collect();
    let up = backends
        .iter()
        .filter(|l| l.split(',').nth(17) == Some("UP"))
        .count();
    if up == 0 {
        return Err(format!(
            "runtime socket {shown}: no backend has a server up ({} backends)",
            backends.len()
        ));
    }
    Ok(format!(
        "runtime socket {shown}: {up} of {} backends up",
        backends.len()
    ))
}

fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
}

/// Splits `http://HOST[:PORT][/PATH]`; the port defaults to 80 and the path to `/`.
pub fn parse_url(url: &str) -> Result<HttpUrl, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs can be probed")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() {
        return Err("no host".into());
    }
    // A bracketed IPv6 literal carries colons of its own; only a colon after `]` is a port.
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    let target = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = resolve(&target).map_err(|e| format!("cannot resolve {target}: {e}"))?;
    Ok(HttpUrl {
        authority: authority.to_string(),
        addr,
        path,
    })
}

/// Sends one `GET` with `Connection: close` and returns the status of the answer.
fn http_status(url: &HttpUrl, timeout: Duration) -> io::Result<u16> {
    let deadline = Instant::now() + timeout;
    let mut s = TcpStream::connect_timeout(&url.addr, timeout)?;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))
    };
    s.set_write_timeout(Some(left()?))?;
    s.write_all(
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ringlb-check\r\nConnection: close\r\n\r\n",
            url.path, url.authority
        )
        .as_bytes(),
    )?;
    // The status line is all that decides; the rest of the answer is not waited for.
    let mut head = Vec::with_capacity(128);
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') {
        s.set_read_timeout(Some(left()?))?;
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 4096 {
            break;
        }
    }
    status_of(&head).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            if head.is_empty() {
                "connection closed without an answer".to_string()
            } else {
                "the answer is not HTTP".to_string()
            },
        )
    })
}

/// The status code of an `HTTP/1.x NNN …` status line.
fn status_of(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    if rest.get(1) != Some(&b' ') || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// Whether the pidfile names a live process: `kill(pid, 0)` finds it and it is not a zombie
/// (a crashed child of a supervisor that has not reaped it still answers `kill`).
fn process_alive(path: &Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("pidfile {}: {e}", path.display()))?;
    let pid: libc::pid_t = text
        .trim()
        .parse()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("pidfile {}: no process id in it", path.display()))?;
    // SAFETY: kill(2) with signal 0 only checks that the process exists; no memory effects.
    if unsafe { libc::kill(pid, 0) } != 0 {
        let e = io::Error::last_os_error();
        // EPERM: the process exists but belongs to another user (keepalived's script_user).
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(format!(
                "process {pid} from {} is not running",
                path.display()
            ));
        }
    }
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the command name, which is in parentheses and may hold
        // spaces or parentheses itself: look after the last ')'.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, Some('Z' | 'X')) {
            return Err(format!("process {pid} from {} has exited", path.display()));
        }
    }
    Ok(format!("process {pid} is alive"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_without_port_or_path_means_port_80_and_root() {
        let u = parse_url("http://127.0.0.1").unwrap();
        assert_eq!(u.addr, "127.0.0.1:80".parse().unwrap());
        assert_eq!(u.path, "/");
        assert_eq!(u.authority, "127.0.0.1");
    }

    #[test]
    fn url_keeps_port_path_and_query() {
        let u = parse_url("http://127.0.0.1:8404/healthz?full=1").unwrap();
        assert_eq!(u.addr, "127.0.0.1:8404".parse().unwrap());
        assert_eq!(u.path, "/healthz?full=1");
        let q = parse_url("http://127.0.0.1:81?x").unwrap();
        assert_eq!(q.path, "/?x");
    }

    #[test]
    fn ipv6_literal_urls_default_to_port_80() {
        let u = parse_url("http://[::1]/h").unwrap();
        assert_eq!(u.addr, "[::1]:80".parse().unwrap());
        assert_eq!(u.authority, "[::1]");
        let p = parse_url("http://[::1]:81/h").unwrap();
        assert_eq!(p.addr.port(), 81);
    }

    #[test]
    fn only_plain_http_urls_are_accepted() {
        assert!(parse_url("https://127.0.0.1/").is_err());
        assert!(parse_url("127.0.0.1/").is_err());
        assert!(parse_url("http:///x").is_err());
    }

    #[test]
    fn status_line_is_read_from_the_answer_head() {
        assert_eq!(status_of(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            status_of(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_of(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_of(b"HTTP/1.1 2x0 OK\r\n"), None);
    }
}
