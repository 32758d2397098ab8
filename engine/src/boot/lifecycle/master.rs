//! Master-worker mode (`-W`, `master-worker`): a master process binds and keeps the
//! listening sockets and runs one worker process that serves. SIGUSR2 (or SIGHUP) reloads:
//! the master re-reads the configuration (errors keep the running worker, printed), starts
//! a new worker, which takes the sockets from the master and the server state from the old
//! worker, and once it serves the old worker stops softly. A worker that dies unasked is
//! restarted. SIGTERM/SIGINT/SIGUSR1 are passed to the workers and the master exits after
//! them; SIGTTOU/SIGTTIN are passed to the serving worker. With `-S` the master serves the
//! master CLI (`master_cli`).

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringlb_config::Config;

use crate::boot::lifecycle::fd_transfer::{self, Inherited, Offer};
use crate::boot::lifecycle::master_cli::{self, Procs, SharedProcs};
use crate::boot::lifecycle::{daemon, notify, ProcessOptions, READY_FD_ENV};
use crate::boot::overrides::Overrides;
use crate::worker::listener::{self, ListenAddr, ListenError};

/// A worker that dies within this long of its start is restarted only after this long.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// `workers` listening sockets for `addr`, reusing the ones in `inherited` bound to the
/// same address (all of them, even more than `workers`: each holds clients in its queue),
/// then new `SO_REUSEPORT` sockets joining them until every worker has one.
pub fn bind_or_inherit(
    addr: &ListenAddr,
    workers: usize,
    takeover: bool,
    inherited: Option<&Inherited>,
) -> Result<(SocketAddr, Vec<TcpListener>), ListenError> {
    if let (
        ListenAddr::Inet {
            addr: a,
            v6only,
            backlog,
            opts,
        },
        Some(inherited),
    ) = (addr, inherited)
    {
        let a = *a;
        let mut socks = if a.port() == 0 {
            Vec::new()
        } else {
            inherited.take(a)
        };
        if !socks.is_empty() {
            for s in &socks {
                s.set_nonblocking(true)
                    .map_err(|e| ListenError::Bind(a, e))?;
                // The old process may have had the frontend disabled (`disable frontend`
                // shuts its sockets down): listening again re-arms such a socket, and on a
                // listening one only sets the backlog.
                // SAFETY: a plain syscall on a descriptor `s` owns.
                if unsafe { libc::listen(s.as_raw_fd(), *backlog) } != 0 {
                    return Err(ListenError::Bind(a, std::io::Error::last_os_error()));
                }
            }
            while socks.len() < workers {
                socks.push(
                    listener::reuseport_listener(a, *v6only, *backlog, opts)
                        .map_err(|e| ListenError::Bind(a, e))?,
                );
            }
            return Ok((a, socks));
        }
    }
    listener::bind_for_workers(addr, workers, takeover)
}

/// The worker count `run::start` will choose for `config`.
fn nbthread(config: &Config) -> usize {
    config
        .global
        .nbthread
        .map(usize::from)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1)
}

/// Binds every frontend address of `config`, keeping the sockets of `old` whose address is
/// still configured; the others are closed.
fn bind_all(
    config: &Config,
    old: Vec<(SocketAddr, TcpListener)>,
) -> Result<Vec<(SocketAddr, TcpListener)>, String> {
    let n = nbthread(config);
    let inherited = Inherited::new(
        old.into_iter()
            .map(|(a, l)| (a, OwnedFd::from(l)))
            .collect(),
    );
    let mut out = Vec::new();
    for fe in config.frontends().filter(|p| !p.disabled) {
        let backlog = fe.backlog.or(fe.maxconn).unwrap_or(1024);
        for b in &fe.binds {
            for a in listener::expand(b, backlog).map_err(|e| e.to_string())? {
                // Each worker process binds its Unix socket paths itself.
                if matches!(a, ListenAddr::Unix(_)) {
                    continue;
                }
                let (at, socks) =
                    bind_or_inherit(&a, n, false, Some(&inherited)).map_err(|e| e.to_string())?;
                out.extend(socks.into_iter().map(|s| (at, s)));
            }
        }
    }
    Ok(out)
}

/// What the master needs to start workers.
pub struct MasterOptions {
    pub files: Vec<PathBuf>,
    pub process: ProcessOptions,
    /// `-m`, `-n`, `-N`: given to every worker and applied to every reload.
    pub overrides: Overrides,
    /// `-S`: the master CLI.
    pub cli: Option<master_cli::Spec>,
}

/// A worker process and what the master knows of it.
struct WorkerProc {
    pid: u32,
    started: Instant,
    /// The readiness pipe while the worker has not reported yet.
    ready: Option<std::fs::File>,
}

/// Runs the master until every worker is gone after a stop; returns the exit code.
pub fn run_master(config: Config, opts: MasterOptions) -> i32 {
    if let Err(e) = crate::boot::control::block_signals() {
        eprintln!("ringlb: cannot start the master: {e}");
        return 1;
    }
    let listeners = match bind_all(&config, Vec::new()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ringlb: cannot start: {e}");
            return 1;
        }
    };
    drop(config);
    let (procs, _cli) = match &opts.cli {
        Some(spec) => {
            let started = Procs::new().and_then(|procs| {
                master_cli::start(spec, procs.clone()).map(|cli| (Some(procs), Some(cli)))
            });
            match started {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("ringlb: cannot start: {e}");
                    return 1;
                }
            }
        }
        None => (None, None),
    };
    let detached = if opts.process.daemon {
        match daemon::detach() {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("ringlb: cannot run as a daemon: {e}");
                return 1;
            }
        }
    } else {
        None
    };
    let offer = match fd_transfer::serve(
        Offer {
            listeners,
            state: Box::new(Vec::new),
        },
        None,
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ringlb: cannot offer the listening sockets to workers: {e}");
            return 1;
        }
    };
    let mut master = Master {
        opts,
        offer,
        serving: None,
        starting: None,
        others: Vec::new(),
        stopping: false,
        restart_at: None,
        procs,
        announced: false,
    };
    if let Err(e) = master.start_worker(None) {
        eprintln!("ringlb: cannot start a worker: {e}");
        return 1;
    }
    // The first worker must serve before the master reports success.
    loop {
        master.tick();
        if master.serving.is_some() {
            break;
        }
        if master.starting.is_none() {
            eprintln!("ringlb: the first worker did not start");
            return 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(p) = &master.opts.process.pidfile {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            eprintln!("ringlb: cannot write pidfile {}: {e}", p.display());
        }
    }
    notify::notify(&format!("READY=1\nMAINPID={}", std::process::id()));
    master.announced = true;
    if let Some(d) = detached {
        d.ready();
    }
    master.serve_signals();
    if let Some(p) = &master.opts.process.pidfile {
        let _ = std::fs::remove_file(p);
    }
    0
}

struct Master {
    opts: MasterOptions,
    offer: Arc<Mutex<Offer>>,
    /// The worker serving now.
    serving: Option<WorkerProc>,
    /// A worker started by a reload or a restart that has not reported yet.
    starting: Option<WorkerProc>,
    /// Old workers finishing their connections.
    others: Vec<u32>,
    stopping: bool,
    /// When to start a replacement for a worker that died.
    restart_at: Option<Instant>,
    /// What the master CLI shows, with `-S`.
    procs: Option<SharedProcs>,
    /// Whether the service manager was told the master serves.
    announced: bool,
}

impl Master {
    fn serve_signals(&mut self) {
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: initialising a set we own.
        unsafe {
            libc::sigemptyset(&mut set);
            for s in crate::boot::control::HANDLED_SIGNALS {
                libc::sigaddset(&mut set, s);
            }
        }
        let slice = libc::timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        loop {
            // SAFETY: valid set and timeout.
            let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &slice) };
            match sig {
                libc::SIGUSR2 | libc::SIGHUP => self.reload(),
                libc::SIGTERM | libc::SIGINT | libc::SIGUSR1 => {
                    eprintln!("ringlb: master: signal {sig} received, stopping the workers");
                    notify::notify("STOPPING=1");
                    self.stopping = true;
                    for pid in self.all_pids() {
                        send(pid, sig);
                    }
                }
                libc::SIGTTOU | libc::SIGTTIN => {
                    if let Some(w) = &self.serving {
                        send(w.pid, sig);
                    }
                }
                _ => {}
            }
            self.tick();
            if self.stopping && self.all_pids().is_empty() {
                return;
            }
        }
    }

    fn all_pids(&self) -> Vec<u32> {
        self.serving
            .iter()
            .chain(self.starting.iter())
            .map(|w| w.pid)
            .chain(self.others.iter().copied())
            .collect()
    }

    /// Re-reads the configuration; when valid, rebinds and starts a new worker.
    fn reload(&mut self) {
        eprintln!("ringlb: master: reloading");
        notify::notify("RELOADING=1");
        self.with_procs(|p| p.reloads += 1);
        let loaded = ringlb_config::load(&self.opts.files);
        crate::boot::cli::print_diagnostics(&loaded, self.opts.process.quiet);
        let Some(mut config) = loaded.config else {
            eprintln!("ringlb: master: reload refused, the running worker keeps serving");
            self.with_procs(|p| p.failed_reloads += 1);
            notify::notify("READY=1");
            return;
        };
        self.opts.overrides.apply(&mut config);
        let old = std::mem::take(&mut self.offer.lock().unwrap().listeners);
        let kept: Vec<(SocketAddr, TcpListener)> = old
            .iter()
            .filter_map(|(a, l)| l.try_clone().ok().map(|l| (*a, l)))
            .collect();
        match bind_all(&config, kept) {
            Ok(l) => self.offer.lock().unwrap().listeners = l,
            Err(e) => {
                self.offer.lock().unwrap().listeners = old;
                eprintln!("ringlb: master: reload refused ({e}), the running worker keeps serving");
                self.with_procs(|p| p.failed_reloads += 1);
                notify::notify("READY=1");
                return;
            }
        }
        if let Some(w) = self.starting.take() {
            // A worker still starting is replaced by this newer one.
            send(w.pid, libc::SIGTERM);
            self.others.push(w.pid);
        }
        let from = self.serving.as_ref().map(|w| w.pid);
        if let Err(e) = self.start_worker(from) {
            eprintln!("ringlb: master: cannot start a worker: {e}");
        }
    }

    /// Starts a worker taking the sockets from the master and the state from `state_from`.
    fn start_worker(&mut self, state_from: Option<u32>) -> io::Result<()> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptors we own.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let p = &self.opts.process;
        let mut cmd = Command::new(std::env::current_exe()?);
        for f in &self.opts.files {
            cmd.arg("-f").arg(f);
        }
        cmd.arg("--master-child")
            .arg("-x")
            .arg(format!("@{}", fd_transfer::socket_name(std::process::id())));
        if let Some(pid) = state_from {
            cmd.arg("--state-from")
                .arg(format!("@{}", fd_transfer::socket_name(pid)));
        }
        if p.legacy_driver {
            cmd.arg("--legacy-driver");
        }
        if p.quiet {
            cmd.arg("-q");
        }
        if let Some(s) = &p.state_file {
            cmd.arg("--server-state").arg(s);
        }
        cmd.args(self.opts.overrides.worker_args());
        // With a master CLI, the worker serves the runtime API on a socket bound here.
        let cli = match &self.procs {
            Some(procs) => Some(
                procs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .worker_listener()?,
            ),
            None => None,
        };
        let cli_fd = cli.as_ref().map(|(l, _)| l.as_raw_fd());
        if let Some(fd) = cli_fd {
            cmd.arg("--master-cli-fd").arg(fd.to_string());
        }
        let wfd = w.as_raw_fd();
        cmd.env(READY_FD_ENV, wfd.to_string()).stdin(Stdio::null());
        // SAFETY: only fcntl, which is async-signal-safe, runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for fd in std::iter::once(wfd).chain(cli_fd) {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        drop(w);
        if let Some((_, path)) = cli {
            self.with_procs(|p| p.started(child.id(), path));
        }
        let ready = std::fs::File::from(r);
        set_nonblocking(&ready);
        eprintln!("ringlb: master: started worker {}", child.id());
        self.starting = Some(WorkerProc {
            pid: child.id(),
            started: Instant::now(),
            ready: Some(ready),
        });
        Ok(())
    }

    /// Collects readiness reports and exited workers, restarts a dead serving worker.
    fn tick(&mut self) {
        if let Some(w) = &mut self.starting {
            let mut byte = [0u8; 1];
            let got = w.ready.as_mut().map(|f| f.read(&mut byte));
            match got {
                Some(Ok(1)) => {
                    let mut w = self.starting.take().unwrap();
                    w.ready = None;
                    if let Some(old) = self.serving.replace(w) {
                        send(old.pid, libc::SIGUSR1);
                        self.others.push(old.pid);
                    }
                    // The first READY=1 carries the master's pid (`run_master`).
                    if self.announced {
                        notify::notify("READY=1");
                    }
                }
                Some(Ok(_)) => {
                    // End of file: the worker died before serving; the old one keeps serving.
                    eprintln!(
                        "ringlb: master: worker {} did not start, the running worker keeps serving",
                        w.pid
                    );
                    w.ready = None;
                    let pid = w.pid;
                    self.starting = None;
                    self.others.push(pid);
                    if self.serving.is_none() && !self.stopping {
                        self.restart_at = Some(Instant::now() + RESTART_BACKOFF);
                    }
                }
                _ => {}
            }
        }
        loop {
            let mut status = 0;
            // SAFETY: reaping our own children without blocking.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            let pid = pid as u32;
            self.others.retain(|&p| p != pid);
            self.with_procs(|p| p.exited(pid));
            if self.serving.as_ref().is_some_and(|w| w.pid == pid) {
                let w = self.serving.take().unwrap();
                if !self.stopping {
                    eprintln!(
                        "ringlb: master: worker {pid} exited unexpectedly ({}), restarting it",
                        describe_status(status)
                    );
                    self.restart_at = Some(if w.started.elapsed() < RESTART_BACKOFF {
                        Instant::now() + RESTART_BACKOFF
                    } else {
                        Instant::now()
                    });
                }
            }
        }
        if self.restart_at.is_some_and(|t| Instant::now() >= t) && self.starting.is_none() {
            self.restart_at = None;
            if let Err(e) = self.start_worker(None) {
                eprintln!("ringlb: master: cannot restart a worker: {e}");
                self.restart_at = Some(Instant::now() + RESTART_BACKOFF);
            }
        }
    }
}

impl Master {
    /// Updates what the master CLI shows, when there is one.
    fn with_procs(&self, f: impl FnOnce(&mut Procs)) {
        if let Some(procs) = &self.procs {
            f(&mut procs.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }
}

fn send(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a child's pid.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

fn set_nonblocking(f: &std::fs::File) {
    // SAFETY: flag changes on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

fn describe_status(status: libc::c_int) -> String {
    if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit status {}", libc::WEXITSTATUS(status))
    }
}
