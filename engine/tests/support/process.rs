//! The `ringlb` binary run as a guarded child process, and what tests running it need:
//! temporary directories and loopback ports chosen before the process binds them.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

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
        Self::spawn_with_env(args, &[], stdout, stderr_path)
    }

    /// Starts `ringlb ARGS` with `env` added to its environment (e.g. `NOTIFY_SOCKET`).
    pub fn spawn_with_env<S: AsRef<OsStr>>(
        args: &[S],
        env: &[(&str, &OsStr)],
        stdout: Stdio,
        stderr_path: PathBuf,
    ) -> Self {
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringlb"));
        cmd.envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        // Started as from a terminal, whatever this test runner inherited: a script's
        // background job ignores SIGINT and SIGQUIT, and a signal test would then prove
        // nothing.
        // SAFETY: only signal(2), which is async-signal-safe, runs between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                for s in [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP] {
                    libc::signal(s, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("ringlb starts");
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

    /// Waits until `addr` accepts connections, every worker has announced itself and the
    /// process offers its sockets to a successor;
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
            if self.workers_running()
                && self.offers_its_sockets()
                && TcpStream::connect(addr).is_ok()
            {
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

    /// Whether the process serves its listening sockets to a successor (`-sf`) yet: its
    /// abstract socket `@ringlb-listeners-PID` is bound. Read from /proc/net/unix, since
    /// connecting would take the sockets over.
    fn offers_its_sockets(&self) -> bool {
        let name = format!("@ringlb-listeners-{}", self.pid());
        std::fs::read_to_string("/proc/net/unix")
            .is_ok_and(|t| t.lines().any(|l| l.ends_with(&name)))
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

/// One command on the runtime socket at `path` (waiting for the socket: it opens just
/// after the listeners); the answer ends with a close.
pub fn runtime_command(path: &Path, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut s = loop {
        match UnixStream::connect(path) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => panic!("runtime socket accepts: {e}"),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
