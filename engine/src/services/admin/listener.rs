//! `stats socket` listeners: Unix paths (with `mode`, `user`, `group`), `ipv4@`/`ipv6@`
//! TCP addresses and inherited `fd@N`, served by one control-side thread that polls them
//! and hands each connection to a short-lived thread of its own.
//!
//! A connection without `prompt` answers one line and closes, as HAProxy's does, so both
//! `echo "show info" | socat stdio UNIX-CONNECT:…` and one command per TCP connection work.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringlb_config::model::{AdminLevel, SocketAddress, StatsSocket};

use crate::io::socket_file::SocketFile;
use crate::services::admin::commands::{run_line, Session};
use crate::services::admin::Runtime;

/// How often the idle listener thread looks at the stop flag.
const POLL_MS: i32 = 100;
/// `stats timeout` default: an idle runtime connection is closed after this.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    fn fd(&self) -> RawFd {
        match self {
            Self::Unix(l) => l.as_raw_fd(),
            Self::Tcp(l) => l.as_raw_fd(),
        }
    }
}

/// The running runtime-API listeners. Dropping it stops the thread and removes the socket
/// files it created.
pub struct SocketServer {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Socket files created, removed on stop while they are still ours.
    files: Vec<SocketFile>,
}

impl SocketServer {
    pub fn stop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for f in self.files.drain(..) {
            f.remove();
        }
    }
}

impl Drop for SocketServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What HAProxy's documentation warns about: an operator or admin socket reachable from
/// other hosts hands control of the proxy to anyone who can connect.
pub fn exposure_warning(s: &StatsSocket) -> Option<String> {
    let SocketAddress::Inet(addr) = s.addr else {
        return None;
    };
    let loopback = match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    };
    if loopback || s.level == AdminLevel::User {
        return None;
    }
    let level = match s.level {
        AdminLevel::Operator => "operator",
        _ => "admin",
    };
    Some(format!(
        "stats socket {addr} ({}) at level {level} listens on a non-loopback address: \
         anyone who can reach it can change server states; bind it to 127.0.0.1 or use \
         a Unix socket",
        s.location
    ))
}

fn bind(s: &StatsSocket, files: &mut Vec<SocketFile>) -> io::Result<Listener> {
    let ctx =
        |e: io::Error, what: &str| io::Error::new(e.kind(), format!("stats socket {what}: {e}"));
    match &s.addr {
        SocketAddress::Inet(addr) => TcpListener::bind(addr)
            .map(Listener::Tcp)
            .map_err(|e| ctx(e, &addr.to_string())),
        SocketAddress::Unix(path) => {
            let (l, file) = crate::io::socket_file::bind(
                path,
                s.mode,
                s.user.as_deref(),
                s.group.as_deref(),
                None,
            )
            .map_err(|e| ctx(e, &path.display().to_string()))?;
            files.push(file);
            Ok(Listener::Unix(l))
        }
        SocketAddress::Fd(fd) => {
            let fd = *fd;
            // SAFETY: an all-zero sockaddr_storage is valid; getsockname fills it.
            let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: valid pointers to owned storage.
            let rc = unsafe {
                libc::getsockname(
                    fd,
                    (&mut ss as *mut libc::sockaddr_storage).cast(),
                    &mut len,
                )
            };
            if rc != 0 {
                return Err(ctx(io::Error::last_os_error(), &format!("fd@{fd}")));
            }
            // SAFETY: the configuration hands this descriptor to the runtime API alone.
            Ok(if i32::from(ss.ss_family) == libc::AF_UNIX {
                Listener::Unix(unsafe { UnixListener::from_raw_fd(fd) })
            } else {
                Listener::Tcp(unsafe { TcpListener::from_raw_fd(fd) })
            })
        }
    }
}

/// Binds every `stats socket` of the configuration and starts serving them; `None` when
/// there is none.
pub fn start(rt: Arc<Runtime>) -> io::Result<Option<SocketServer>> {
    let sockets = rt.config.global.stats_sockets.clone();
    if sockets.is_empty() {
        return Ok(None);
    }
    let timeout = rt.config.global.stats_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let mut files = Vec::new();
    let mut listeners = Vec::new();
    for s in &sockets {
        if let Some(w) = exposure_warning(s) {
            eprintln!("[WARNING]  ({}) : {w}", std::process::id());
        }
        let l = bind(s, &mut files)?;
        match &l {
            Listener::Unix(u) => u.set_nonblocking(true)?,
            Listener::Tcp(t) => t.set_nonblocking(true)?,
        }
        listeners.push((l, s.level));
    }
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let thread = std::thread::Builder::new()
        .name("ringlb-cli".into())
        .spawn(move || serve(listeners, rt, stop, timeout))?;
    Ok(Some(SocketServer {
        done,
        thread: Some(thread),
        files,
    }))
}

fn serve(
    listeners: Vec<(Listener, AdminLevel)>,
    rt: Arc<Runtime>,
    done: Arc<AtomicBool>,
    timeout: Duration,
) {
    let mut fds: Vec<libc::pollfd> = listeners
        .iter()
        .map(|(l, _)| libc::pollfd {
            fd: l.fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    while !done.load(Ordering::Acquire) {
        // SAFETY: `fds` is a valid array of pollfd for its length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL_MS) };
        if n <= 0 {
            continue;
        }
        for (pfd, (l, level)) in fds.iter_mut().zip(&listeners) {
            if pfd.revents == 0 {
                continue;
            }
            pfd.revents = 0;
            let conn = match l {
                Listener::Unix(u) => u.accept().map(|(s, _)| Conn::Unix(s)),
                Listener::Tcp(t) => t.accept().map(|(s, _)| Conn::Tcp(s)),
            };
            let Ok(conn) = conn else {
                continue;
            };
            let (rt, level) = (rt.clone(), *level);
            let _ = std::thread::Builder::new()
                .name("ringlb-cli-conn".into())
                .spawn(move || {
                    let _ = converse(conn, &rt, level, timeout);
                });
        }
    }
}

enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// What a runtime API connection needs of its socket, Unix or TCP.
trait CliSocket: io::Read + Write + Sized + 'static {
    fn set_blocking(&self) -> io::Result<()>;
    fn set_idle_timeout(&self, d: Duration) -> io::Result<()>;
    fn duplicate(&self) -> io::Result<Self>;
}

macro_rules! cli_socket {
    ($($t:ty),*) => {$(
        impl CliSocket for $t {
            fn set_blocking(&self) -> io::Result<()> {
                self.set_nonblocking(false)
            }
            fn set_idle_timeout(&self, d: Duration) -> io::Result<()> {
                self.set_read_timeout(Some(d))
            }
            fn duplicate(&self) -> io::Result<Self> {
                self.try_clone()
            }
        }
    )*};
}
cli_socket!(UnixStream, TcpStream);

/// Changes a connection's idle timeout (`set timeout cli`).
type SetTimeout = Box<dyn Fn(Duration) -> io::Result<()>>;

/// A connection's reader, writer, and idle timeout changer.
type Halves = (Box<dyn io::Read>, Box<dyn Write>, SetTimeout);

/// A blocking connection with its idle timeout, as a reader, a writer and its timeout.
fn halves<S: CliSocket>(s: S, timeout: Duration) -> io::Result<Halves> {
    s.set_blocking()?;
    s.set_idle_timeout(timeout)?;
    let t = s.duplicate()?;
    Ok((
        Box::new(s.duplicate()?),
        Box::new(s),
        Box::new(move |d| t.set_idle_timeout(d)),
    ))
}

/// Reads lines and answers them until the session ends, the peer closes or it idles out.
fn converse(conn: Conn, rt: &Runtime, level: AdminLevel, timeout: Duration) -> io::Result<()> {
    let (reader, mut writer, set_timeout) = match conn {
        Conn::Unix(s) => halves(s, timeout)?,
        Conn::Tcp(s) => halves(s, timeout)?,
    };
    let mut reader = BufReader::new(reader);
    let mut session = Session::new(level);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut cmd = line.trim_end_matches(['\r', '\n']).to_string();
        // `… <<`: the lines up to an empty one are the command's payload (PEM text).
        let payload = match cmd.strip_suffix("<<") {
            Some(head) => {
                cmd = head.trim_end().to_string();
                let mut payload = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 {
                        break;
                    }
                    let l = line.trim_end_matches(['\r', '\n']);
                    if l.is_empty() {
                        break;
                    }
                    payload.push_str(l);
                    payload.push('\n');
                }
                Some(payload)
            }
            None => None,
        };
        let answer = run_line(rt, &mut session, &cmd, payload.as_deref());
        if let Some(t) = session.timeout.take() {
            set_timeout(t)?;
        }
        writer.write_all(answer.as_bytes())?;
        writer.flush()?;
        if session.quit {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(addr: &str, level: AdminLevel) -> StatsSocket {
        StatsSocket {
            location: Default::default(),
            addr: SocketAddress::Inet(addr.parse().unwrap()),
            mode: None,
            level,
            user: None,
            group: None,
            expose_fd_listeners: false,
            process: None,
        }
    }

    #[test]
    fn an_admin_socket_on_a_public_address_warns() {
        assert!(exposure_warning(&socket("0.0.0.0:9999", AdminLevel::Admin)).is_some());
        assert!(exposure_warning(&socket("[::]:9999", AdminLevel::Operator)).is_some());
        assert!(exposure_warning(&socket("127.0.0.1:9999", AdminLevel::Admin)).is_none());
        assert!(exposure_warning(&socket("0.0.0.0:9999", AdminLevel::User)).is_none());
    }
}
