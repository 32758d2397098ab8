//! The process around the engine: daemon mode, pidfile, privileges, taking over from an
//! old process on reload (listening sockets and server state by fd passing), and the
//! master-worker supervisor. `LIFECYCLE.md` beside this file describes the process's
//! lifecycle; `docs/operations.md` gives the commands.

pub mod daemon;
pub mod fd_transfer;
pub mod master;
pub mod master_cli;
pub mod notify;
pub mod privileges;
pub mod state;

use std::fs::File;
use std::io::{self, Seek, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;

use ringlb_config::Config;

use crate::boot::run::{self, RunOptions};
use crate::worker::inbox::ShardEvent;
use fd_transfer::{Handover, Inherited, Offer};

/// Environment variable naming the descriptor a supervised worker writes one byte to once
/// it serves (set by the master for its workers).
pub const READY_FD_ENV: &str = "RINGLB_READY_FD";

/// How one serving process starts, beyond its configuration.
#[derive(Debug, Clone, Default)]
pub struct ProcessOptions {
    pub daemon: bool,
    pub quiet: bool,
    pub pidfile: Option<PathBuf>,
    /// Old processes to stop softly once this one serves (`-sf`).
    pub soft_stop_pids: Vec<u32>,
    /// Old processes to stop at once (`-st`).
    pub hard_stop_pids: Vec<u32>,
    /// Where to ask for listening sockets first (`-x`; the master's socket for its workers).
    pub sockets_from: Option<String>,
    /// Where to ask for server state when no `-sf`/`-st` process is named.
    pub state_from: Option<String>,
    /// A server-state file applied at start (before any handed-over state).
    pub state_file: Option<PathBuf>,
    pub legacy_driver: bool,
    /// Started by a master, which keeps every listening socket this process uses.
    pub supervised: bool,
}

/// Serves `config` as one process until stopped; returns the exit code.
pub fn serve(config: Config, opts: &ProcessOptions) -> i32 {
    // `nbproc` is warned about by the parser: workers are threads, one process serves.
    let privileges = match privileges::Plan::from_global(&config.global) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ringlb: cannot start: {e}");
            return 1;
        }
    };
    // Forking is only safe while this is the only thread.
    let detached = if opts.daemon {
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
    // A master's worker leaves the pidfile to the master.
    let pidfile_path = opts
        .pidfile
        .clone()
        .or_else(|| config.global.pidfile.clone())
        .filter(|_| !opts.supervised);
    // Opened now, while the process may still write there; filled in once bound. Not
    // truncated before that: a failed start leaves the old process's pid in place.
    let mut pidfile = match &pidfile_path {
        Some(p) => match std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(p)
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("ringlb: cannot write pidfile {}: {e}", p.display());
                return 1;
            }
        },
        None => None,
    };

    let old_pids: Vec<(u32, libc::c_int)> = opts
        .soft_stop_pids
        .iter()
        .map(|&p| (p, libc::SIGUSR1))
        .chain(opts.hard_stop_pids.iter().map(|&p| (p, libc::SIGTERM)))
        .collect();
    let handover = take_over(opts, &old_pids);
    let mut initial = Vec::new();
    if let Some(path) = &opts.state_file {
        match state::read_file(path) {
            Ok(states) => initial.extend(states),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("ringlb: warning: server state not loaded: {e}"),
        }
    }
    initial.extend(handover.servers);
    let inherited = Inherited::new(handover.listeners);
    if opts.supervised {
        fd_transfer::mark_shared();
    }
    let run_opts = RunOptions {
        legacy_driver: opts.legacy_driver,
        // Ports an old process holds and did not hand over are joined through SO_REUSEPORT.
        takeover: !old_pids.is_empty(),
        inherited: Some(inherited),
        initial_events: initial.iter().flat_map(|s| s.events(&config)).collect(),
        privileges: Some(privileges),
        quiet: opts.quiet,
        ..RunOptions::default()
    };
    let mut handle = match run::start(config, run_opts) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("ringlb: cannot start: {e}");
            return 1;
        }
    };
    if let Some(f) = &mut pidfile {
        if let Err(e) = write_pid(f) {
            eprintln!("ringlb: cannot write pidfile: {e}");
            return 1;
        }
    }
    let owner = handle.runtime().map(|r| r.servers.clone());
    if let Some(rt) = handle.runtime() {
        state::apply_operator_state(&initial, &rt.servers, &rt.config);
    }
    let inboxes = handle.inboxes();
    let offer = Offer {
        listeners: handle.take_listening_sockets(),
        state: Box::new(move || current_state(&inboxes, owner.as_deref())),
    };
    if let Err(e) = fd_transfer::serve(offer, None).map(drop) {
        eprintln!("ringlb: warning: listening sockets cannot be handed to a reload: {e}");
    }
    for (pid, signal) in old_pids {
        // SAFETY: kill(2) with a plain pid and signal number has no memory effects.
        if unsafe { libc::kill(pid as libc::pid_t, signal) } != 0 {
            eprintln!(
                "ringlb: warning: cannot signal old process {pid}: {}",
                io::Error::last_os_error()
            );
        }
    }
    report_ready();
    // Under a master, the master speaks to the service manager.
    if !opts.supervised {
        notify::notify("READY=1");
    }
    if let Some(d) = detached {
        d.ready();
    }
    let result = handle.wait();
    if let Some(path) = &pidfile_path {
        remove_pidfile_if_ours(path);
    }
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ringlb: {e}");
            1
        }
    }
}

/// Every server's state now: up/down and weight as the workers apply them, and what the
/// state owner holds beyond that.
fn current_state(
    inboxes: &crate::worker::inbox::Inboxes,
    owner: Option<&crate::services::admin::ServerStates>,
) -> Vec<state::ServerState> {
    let (tx, rx) = crossbeam_channel::unbounded();
    inboxes.broadcast(&ShardEvent::ReportServerState { reply: tx });
    let mut states: Vec<state::ServerState> = rx
        .recv_timeout(std::time::Duration::from_secs(2))
        .unwrap_or_default()
        .iter()
        .map(|s| state::ServerState::new(&s.backend, &s.server, s.up, s.weight))
        .collect();
    if let Some(owner) = owner {
        state::add_operator_state(&mut states, owner);
    }
    states
}

/// Listening sockets and server state from the process being replaced: listeners from
/// `-x` when given, else from the first old process that answers; state from the first
/// old process (or `state_from`) that answers. Nothing answering is not an error: the
/// ports are then bound (joined) afresh.
fn take_over(opts: &ProcessOptions, old_pids: &[(u32, libc::c_int)]) -> Handover {
    let mut sources: Vec<String> = Vec::new();
    sources.extend(opts.sockets_from.clone());
    sources.extend(
        old_pids
            .iter()
            .map(|(p, _)| format!("@{}", fd_transfer::socket_name(*p))),
    );
    sources.extend(opts.state_from.clone());
    let mut out = Handover::default();
    let mut have_listeners = false;
    let mut have_state = false;
    for spec in sources {
        if have_listeners && have_state {
            break;
        }
        let got = fd_transfer::address(&spec).and_then(|a| fd_transfer::fetch(&a));
        match got {
            Ok(h) => {
                if !have_listeners && !h.listeners.is_empty() {
                    if !opts.quiet {
                        eprintln!(
                            "ringlb: took {} listening socket(s) from {spec}",
                            h.listeners.len()
                        );
                    }
                    out.listeners = h.listeners;
                    have_listeners = true;
                }
                if !have_state && !h.servers.is_empty() {
                    out.servers = h.servers;
                    have_state = true;
                }
            }
            Err(e) => eprintln!("ringlb: warning: nothing taken over from {spec}: {e}"),
        }
    }
    out
}

fn write_pid(f: &mut File) -> io::Result<()> {
    f.set_len(0)?;
    f.rewind()?;
    f.write_all(format!("{}\n", std::process::id()).as_bytes())
}

/// A reload writes the new pid into the same file: the old process leaves it alone.
fn remove_pidfile_if_ours(path: &std::path::Path) {
    let ours = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        == Some(std::process::id());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

/// Tells a supervising master this worker serves (see [`READY_FD_ENV`]).
fn report_ready() {
    let Some(fd) = std::env::var(READY_FD_ENV)
        .ok()
        .and_then(|v| v.parse::<RawFd>().ok())
    else {
        return;
    };
    // SAFETY: the master passed this descriptor for exactly this use; it is ours to close.
    let mut f = unsafe { File::from_raw_fd(fd) };
    let _ = f.write_all(b"1");
}
