//! The master CLI (`-S SOCKET[,OPTIONS]`, master-worker mode): the master's own commands
//! (`help`, `show proc`, `show version`, `reload`, `quit`, `prompt`) and any runtime API
//! command passed on to a worker with `@1 COMMAND` (`@N`: the Nth newest worker, `@!PID`:
//! by pid). Each worker serves an admin-level runtime socket the master bound for it in a
//! private directory and handed over by descriptor (`--master-cli-fd`), so the worker
//! needs no `stats socket` and its `chroot` or `user` does not matter.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringlb_config::model::{AdminLevel, SocketAddress, StatsSocket};

use crate::io::socket_file::{self, SocketFile};

/// How long a command forwarded to a worker may take to answer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// The `-S` argument: where the master CLI listens and how its socket file is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub addr: SocketAddress,
    pub mode: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
}

impl Spec {
    /// `/run/haproxy-master.sock`, `unix@PATH`, `ipv4@127.0.0.1:9999` or `127.0.0.1:9999`,
    /// then comma-separated bind options: `mode 600`, `user U`, `group G`, `uid N`, `gid N`,
    /// `level L` (the master CLI is always at admin level, as haproxy's is).
    pub fn parse(arg: &str) -> Result<Spec, String> {
        let mut words = arg.split(',');
        let addr = words.next().unwrap_or_default();
        let inet = addr
            .strip_prefix("ipv4@")
            .or_else(|| addr.strip_prefix("ipv6@"))
            .unwrap_or(addr);
        let addr = if let Ok(a) = inet.parse::<SocketAddr>() {
            SocketAddress::Inet(a)
        } else if addr.is_empty() || addr != inet {
            return Err(format!("'{addr}' is not a socket path or an address:port"));
        } else {
            SocketAddress::Unix(PathBuf::from(addr.strip_prefix("unix@").unwrap_or(addr)))
        };
        let mut spec = Spec {
            addr,
            mode: None,
            user: None,
            group: None,
        };
        while let Some(option) = words.next() {
            let value = words
                .next()
                .ok_or_else(|| format!("bind option '{option}' needs a value"))?;
            match option {
                "mode" => {
                    spec.mode = Some(
                        u32::from_str_radix(value, 8)
                            .map_err(|_| format!("mode '{value}' is not an octal number"))?,
                    )
                }
                "user" | "uid" => spec.user = Some(value.to_string()),
                "group" | "gid" => spec.group = Some(value.to_string()),
                "level" => {}
                other => {
                    return Err(format!(
                        "bind option '{other}' is not supported on the master CLI \
                         (supported: mode, user, uid, group, gid, level)"
                    ))
                }
            }
        }
        Ok(spec)
    }
}

/// The admin-level runtime socket a worker serves on descriptor `fd` for the master.
pub fn worker_socket(fd: i32) -> StatsSocket {
    StatsSocket {
        location: Default::default(),
        addr: SocketAddress::Fd(fd),
        mode: None,
        level: AdminLevel::Admin,
        user: None,
        group: None,
        expose_fd_listeners: false,
        process: None,
    }
}

/// What `show proc` lists, kept up to date by the master.
#[derive(Debug)]
pub struct Procs {
    started: Instant,
    pub reloads: u32,
    pub failed_reloads: u32,
    /// Newest first, as `show proc` lists them and `@N` counts them.
    workers: Vec<WorkerEntry>,
    /// The private directory of the workers' runtime sockets.
    dir: PathBuf,
    next_socket: u32,
}

#[derive(Debug)]
struct WorkerEntry {
    pid: u32,
    started: Instant,
    /// The master's reload count when this worker started.
    reloads_at_start: u32,
    socket: PathBuf,
}

pub type SharedProcs = Arc<Mutex<Procs>>;

impl Procs {
    /// Creates the private directory (mode 0700) the workers' sockets go into.
    pub fn new() -> io::Result<SharedProcs> {
        let dir = std::env::temp_dir().join(format!("ringlb-master-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Arc::new(Mutex::new(Procs {
            started: Instant::now(),
            reloads: 0,
            failed_reloads: 0,
            workers: Vec::new(),
            dir,
            next_socket: 0,
        })))
    }

    /// A fresh listening socket for the next worker, with its path.
    pub fn worker_listener(&mut self) -> io::Result<(UnixListener, PathBuf)> {
        self.next_socket += 1;
        let path = self.dir.join(format!("worker-{}.sock", self.next_socket));
        Ok((UnixListener::bind(&path)?, path))
    }

    /// A worker was started with its runtime socket at `socket`.
    pub fn started(&mut self, pid: u32, socket: PathBuf) {
        self.workers.insert(
            0,
            WorkerEntry {
                pid,
                started: Instant::now(),
                reloads_at_start: self.reloads,
                socket,
            },
        );
    }

    /// A worker exited.
    pub fn exited(&mut self, pid: u32) {
        if let Some(i) = self.workers.iter().position(|w| w.pid == pid) {
            let _ = std::fs::remove_file(&self.workers.remove(i).socket);
        }
    }

    fn show_proc(&self) -> String {
        let version = crate::boot::cli::VERSION;
        let mut out = format!(
            "{:<15} {:<15} {:<15} {:<15} {:<15}\n",
            "#<PID>", "<type>", "<reloads>", "<uptime>", "<version>"
        );
        out.push_str(&format!(
            "{:<15} {:<15} {:<15} {:<15} {}\n# workers\n",
            std::process::id(),
            "master",
            format!("{} [failed: {}]", self.reloads, self.failed_reloads),
            uptime(self.started),
            version
        ));
        for w in &self.workers {
            out.push_str(&format!(
                "{:<15} {:<15} {:<15} {:<15} {}\n",
                w.pid,
                "worker",
                self.reloads - w.reloads_at_start,
                uptime(w.started),
                version
            ));
        }
        out.push_str("# programs\n\n");
        out
    }

    /// The runtime socket of the worker `@N` (1 = newest) or `@!PID` names.
    fn target(&self, prefix: &str) -> Option<PathBuf> {
        let w = match prefix.strip_prefix('!') {
            Some(pid) => {
                let pid: u32 = pid.parse().ok()?;
                self.workers.iter().find(|w| w.pid == pid)
            }
            None => self
                .workers
                .get(prefix.parse::<usize>().ok()?.checked_sub(1)?),
        };
        w.map(|w| w.socket.clone())
    }
}

/// `0d00h00m02s`, as `show proc` prints an uptime.
fn uptime(since: Instant) -> String {
    let s = since.elapsed().as_secs();
    format!(
        "{}d{:02}h{:02}m{:02}s",
        s / 86400,
        s / 3600 % 24,
        s / 60 % 60,
        s % 60
    )
}

/// The master CLI's listener; its socket file and the workers' socket directory are
/// removed on drop.
pub struct MasterCli {
    file: Option<SocketFile>,
    dir: PathBuf,
}

impl Drop for MasterCli {
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            f.remove();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Binds the master CLI and serves it on thread `ringlb-master-cli` for the life of the
/// process.
pub fn start(spec: &Spec, procs: SharedProcs) -> io::Result<MasterCli> {
    let ctx = |e: io::Error| io::Error::new(e.kind(), format!("master CLI socket: {e}"));
    let (incoming, file): (Box<dyn FnMut() -> io::Result<Conn> + Send>, _) = match &spec.addr {
        SocketAddress::Unix(path) => {
            let (l, file) = socket_file::bind(
                path,
                spec.mode,
                spec.user.as_deref(),
                spec.group.as_deref(),
                None,
            )
            .map_err(ctx)?;
            (
                Box::new(move || l.accept().map(|(s, _)| Conn::Unix(s))),
                Some(file),
            )
        }
        SocketAddress::Inet(addr) => {
            let l = TcpListener::bind(addr).map_err(ctx)?;
            (
                Box::new(move || l.accept().map(|(s, _)| Conn::Tcp(s))),
                None,
            )
        }
        SocketAddress::Fd(_) => unreachable!("-S takes no fd@"),
    };
    let mut incoming = incoming;
    let dir = procs.lock().unwrap_or_else(|e| e.into_inner()).dir.clone();
    std::thread::Builder::new()
        .name("ringlb-master-cli".into())
        .spawn(move || loop {
            let Ok(conn) = incoming() else { continue };
            let procs = procs.clone();
            let _ = std::thread::Builder::new()
                .name("ringlb-master-cli-conn".into())
                .spawn(move || serve_conn(conn, &procs));
        })?;
    Ok(MasterCli { file, dir })
}

enum Conn {
    Unix(UnixStream),
    Tcp(std::net::TcpStream),
}

impl Conn {
    fn split(self) -> io::Result<(Box<dyn Read + Send>, Box<dyn Write + Send>)> {
        Ok(match self {
            Conn::Unix(s) => (Box::new(s.try_clone()?), Box::new(s)),
            Conn::Tcp(s) => (Box::new(s.try_clone()?), Box::new(s)),
        })
    }
}

/// One line of commands (`;`-separated), then the connection closes, unless `prompt`
/// turned on the interactive mode.
fn serve_conn(conn: Conn, procs: &SharedProcs) {
    let Ok((r, mut w)) = conn.split() else { return };
    let mut lines = BufReader::new(r).lines();
    let mut interactive = false;
    loop {
        if interactive && w.write_all(b"master> ").is_err() {
            return;
        }
        let Some(Ok(line)) = lines.next() else { return };
        for command in line.split(';').map(str::trim).filter(|c| !c.is_empty()) {
            match run(command, procs) {
                Reply::Text(t) => {
                    if w.write_all(t.as_bytes()).is_err() {
                        return;
                    }
                }
                Reply::Prompt => interactive = !interactive,
                Reply::Quit => return,
            }
        }
        if !interactive {
            return;
        }
    }
}

enum Reply {
    Text(String),
    Prompt,
    Quit,
}

/// Runs one master CLI command.
fn run(command: &str, procs: &SharedProcs) -> Reply {
    if let Some(rest) = command.strip_prefix('@') {
        let (prefix, worker_command) = rest.split_once(' ').unwrap_or((rest, ""));
        let worker_command = worker_command.trim();
        if prefix == "master" {
            return run(worker_command, procs);
        }
        let target = procs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .target(prefix);
        return Reply::Text(match (target, worker_command) {
            (None, _) => format!("Can't find the target process matching the prefix '@{prefix}'\n"),
            (Some(_), "") => format!("Give the command to send to '@{prefix}' on the same line\n"),
            (Some(path), c) => forward(&path, c)
                .unwrap_or_else(|e| format!("Can't reach the process '@{prefix}': {e}\n")),
        });
    }
    let words: Vec<&str> = command.split_whitespace().collect();
    Reply::Text(match words.as_slice() {
        ["help", ..] => HELP.to_string(),
        ["show", "proc"] => procs.lock().unwrap_or_else(|e| e.into_inner()).show_proc(),
        ["show", "version"] => format!("{}\n", crate::boot::cli::VERSION),
        ["reload"] => {
            // The master's signal loop reloads, as on SIGUSR2.
            // SAFETY: kill(2) on this process's own pid.
            unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) };
            String::new()
        }
        ["prompt"] => return Reply::Prompt,
        ["quit"] => return Reply::Quit,
        _ => format!("Unknown command '{command}' on the master CLI.\n{HELP}"),
    })
}

const HELP: &str = "\
The master CLI's commands:
  help                 : this list
  show proc            : the master and its workers: pid, reloads, uptime, version
  show version         : the version of ringlb
  reload               : re-read the configuration and start new workers (as SIGUSR2)
  prompt               : toggle the interactive mode
  quit                 : close the connection
  @<n> <command>       : run a runtime API command in the n-th newest worker (@1: the serving one)
  @!<pid> <command>    : run a runtime API command in the worker with this pid
  @master <command>    : run a command of this list
";

/// Sends `command` to a worker's runtime socket and returns its whole answer.
fn forward(path: &Path, command: &str) -> io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(FORWARD_TIMEOUT))?;
    s.write_all(format!("{command}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_takes_a_path_or_an_address_then_bind_options() {
        let s = Spec::parse("/run/haproxy-master.sock").unwrap();
        assert_eq!(
            s.addr,
            SocketAddress::Unix("/run/haproxy-master.sock".into())
        );
        let s = Spec::parse("/run/m.sock,mode,600,level,admin,user,root").unwrap();
        assert_eq!((s.mode, s.user.as_deref()), (Some(0o600), Some("root")));
        let s = Spec::parse("ipv4@127.0.0.1:9999").unwrap();
        assert_eq!(
            s.addr,
            SocketAddress::Inet("127.0.0.1:9999".parse().unwrap())
        );
        assert!(Spec::parse("/m.sock,mode")
            .unwrap_err()
            .contains("needs a value"));
        assert!(Spec::parse("/m.sock,accept-proxy,x")
            .unwrap_err()
            .contains("accept-proxy"));
        assert!(Spec::parse("ipv4@nowhere").is_err());
    }

    #[test]
    fn workers_are_counted_newest_first() {
        let procs = Procs::new().unwrap();
        let mut p = procs.lock().unwrap();
        p.started(10, "/a".into());
        p.reloads += 1;
        p.started(11, "/b".into());
        assert_eq!(p.target("1"), Some(PathBuf::from("/b")));
        assert_eq!(p.target("2"), Some(PathBuf::from("/a")));
        assert_eq!(p.target("!10"), Some(PathBuf::from("/a")));
        assert_eq!(p.target("3"), None);
        assert_eq!(p.target("0"), None);
        let table = p.show_proc();
        assert!(table.starts_with("#<PID>          <type>"), "{table}");
        assert!(table.contains("master          1 [failed: 0]"), "{table}");
        assert!(
            table.contains("\n11              worker          0  "),
            "{table}"
        );
        assert!(
            table.contains("\n10              worker          1  "),
            "{table}"
        );
        let _ = std::fs::remove_dir_all(&p.dir);
    }
}
