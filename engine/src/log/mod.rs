//! Logging: traffic lines (`option httplog`, `option tcplog`, `log-format`) written by the
//! workers, control-side messages ([`emit_global`]), syslog framing and the targets they go to.
//! A slow or dead receiver never holds a worker up: lines it cannot take are dropped and
//! counted.

pub mod observer;
pub mod syslog;
pub mod target;
pub mod writer;

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use ringlb_config::logformat::{LogAlias, LogFormat, LogPart};
use ringlb_config::model::{CaptureSide, Level, Mode, Proxy};
use ringlb_config::Config;

use crate::analysis::log_line::{CLF_HTTPLOG, HTTPLOG, TCPLOG};
use crate::io::localtime::{Dates, LocalTime};
use syslog::{frame, Identity};
use target::Sink;
use writer::{LineSender, StdioWriter};

use crate::metrics::WorkerStats;

/// How one frontend logs its traffic.
#[derive(Debug)]
pub struct FrontendLog {
    pub sinks: Vec<Sink>,
    pub format: LogFormat,
    /// `option dontlognull`: connections that sent nothing are not logged.
    pub dontlognull: bool,
    /// `option dontlog-normal`: only streams that failed, retried or got a 5xx are logged.
    pub dontlog_normal: bool,
    /// `option log-separate-errors`: lines of failed streams are sent at `err` level.
    pub separate_errors: bool,
    pub request_captures: Vec<(String, usize)>,
    pub response_captures: Vec<(String, usize)>,
    /// The format prints an end of the server connection (`%si`, `%sp`, `%bi`, `%bp`): the
    /// session then records both addresses, which costs two system calls.
    pub server_addrs: bool,
    /// Lines built so far, over every worker (`%lc`).
    count: AtomicU64,
}

impl FrontendLog {
    /// The frontend's logging, or `None` when it has no target or no format asks for lines.
    pub fn from_proxy(p: &Proxy, config: &Config) -> Option<Self> {
        let sinks = target::resolve(&p.logs, &config.global.logs);
        if sinks.is_empty() {
            return None;
        }
        let source = match (&p.log_format, p.options.httplog, p.options.tcplog) {
            (Some(lf), _, _) => lf.clone(),
            (None, Some(h), _) if p.mode == Mode::Http => {
                LogFormat::parse(if h.clf { CLF_HTTPLOG } else { HTTPLOG }).ok()?
            }
            (None, Some(_), _) | (None, None, true) => LogFormat::parse(TCPLOG).ok()?,
            (None, None, false) => return None,
        };
        let captures = |side: CaptureSide| {
            p.captures
                .iter()
                .filter(|c| c.side == side)
                .map(|c| (c.name.clone(), c.len as usize))
                .collect::<Vec<_>>()
        };
        Some(Self {
            sinks,
            dontlognull: p.options.dontlognull,
            dontlog_normal: p.options.dontlog_normal,
            separate_errors: p.options.log_separate_errors,
            // `http-request capture … len` slots follow the declared ones.
            request_captures: captures(CaptureSide::Request)
                .into_iter()
                .chain(crate::stream::vars::rule_capture_lens(p).map(|l| (String::new(), l)))
                .collect(),
            response_captures: captures(CaptureSide::Response),
            server_addrs: source.parts.iter().any(|part| {
                matches!(
                    part,
                    LogPart::Alias {
                        alias: LogAlias::ServerIp
                            | LogAlias::ServerPort
                            | LogAlias::BackendIp
                            | LogAlias::BackendPort,
                        ..
                    }
                )
            }),
            format: source,
            count: AtomicU64::new(0),
        })
    }

    /// The number of this line among the frontend's lines, from 0 (`%lc`).
    pub fn next_line_number(&self) -> u64 {
        self.count.fetch_add(1, Ordering::Relaxed)
    }

    /// The level a traffic line is sent at.
    pub fn level(&self, failed: bool) -> Level {
        if failed && self.separate_errors {
            Level::Err
        } else {
            Level::Info
        }
    }
}

/// Process-wide logging: the identity lines are signed with, the global targets, the
/// stdout/stderr writer thread, and the control thread's own sender.
#[derive(Debug)]
pub struct Hub {
    identity: Identity,
    global: Vec<Sink>,
    stdio: StdioWriter,
    control: Mutex<(LineSender, Vec<u8>, Dates)>,
    control_drops: AtomicU64,
}

/// The syslog tag without `log-tag`: haproxy's (its program name), because the rules that
/// sort HAProxy's lines match it (Debian's `/etc/rsyslog.d/49-haproxy.conf`: `:programname,
/// startswith, "haproxy"` to `/var/log/haproxy.log`), and so do log shippers' parsers.
pub const DEFAULT_TAG: &str = "haproxy";

/// The hub of the engine started last, for [`emit_global`].
static CURRENT: Mutex<Option<Weak<Hub>>> = Mutex::new(None);

impl Hub {
    pub fn new(config: &Config) -> io::Result<Arc<Self>> {
        let global = target::resolve(&config.global.logs, &[]);
        let stdio = StdioWriter::start()?;
        let control = LineSender::new(global.iter(), stdio.sender());
        let hub = Arc::new(Self {
            identity: Identity {
                tag: config
                    .global
                    .log_tag
                    .clone()
                    .unwrap_or_else(|| DEFAULT_TAG.into()),
                pid: std::process::id(),
            },
            global,
            stdio,
            control: Mutex::new((control, Vec::new(), Dates::default())),
            control_drops: AtomicU64::new(0),
        });
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::downgrade(&hub));
        Ok(hub)
    }

    /// Whether `global` has log targets.
    pub fn has_targets(&self) -> bool {
        !self.global.is_empty()
    }

    /// A message from the control side (server state changes, warnings) to the global
    /// targets; to stderr when there are none.
    pub fn emit(&self, level: Level, msg: &str) {
        if self.global.is_empty() {
            eprintln!("ringlb: {msg}");
            return;
        }
        let mut guard = self.control.lock().unwrap_or_else(|e| e.into_inner());
        let (sender, buf, dates) = &mut *guard;
        let now = dates.local(SystemTime::now());
        for sink in &self.global {
            let Some(sev) = sink.severity(level) else {
                continue;
            };
            frame(buf, sink, sev, &self.identity, &now, msg.as_bytes());
            if !sender.send(&sink.dest, buf) {
                self.control_drops.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Control-side lines dropped (worker drops are in each worker's counters).
    pub fn control_drops(&self) -> u64 {
        self.control_drops.load(Ordering::Relaxed)
    }

    /// Opens a worker's sockets for `plans`' targets.
    pub fn worker_log<'a>(
        &self,
        plans: impl Iterator<Item = &'a FrontendLog> + Clone,
    ) -> WorkerLog {
        let sinks = plans.flat_map(|p| p.sinks.iter());
        WorkerLog {
            identity: self.identity.clone(),
            sender: LineSender::new(sinks, self.stdio.sender()),
            buffers: RefCell::new((Vec::with_capacity(512), Vec::with_capacity(1024))),
            dates: RefCell::new(Dates::default()),
        }
    }

    /// Writes out what is queued for stdout/stderr; call once the workers have stopped.
    pub fn finish(&self) {
        self.stdio.finish();
    }
}

/// Sends a control-side message through the global log targets of the running engine, or
/// to stderr when none is running or it has no global target.
pub fn emit_global(level: Level, msg: &str) {
    let hub = CURRENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(Weak::upgrade);
    match hub {
        Some(h) => h.emit(level, msg),
        None => eprintln!("ringlb: {msg}"),
    }
}

/// One worker's log output: its sockets and reusable line buffers.
#[derive(Debug)]
pub struct WorkerLog {
    identity: Identity,
    sender: LineSender,
    /// The message, then the framed line.
    buffers: RefCell<(Vec<u8>, Vec<u8>)>,
    dates: RefCell<Dates>,
}

impl WorkerLog {
    /// Local time of `t`, converted at most once per second.
    pub fn date(&self, t: SystemTime) -> LocalTime {
        self.dates.borrow_mut().local(t)
    }

    /// Builds the message with `write` and sends it to every target of `plan` that takes
    /// `level`. Lines a target cannot take now are counted in `stats`.
    pub fn emit(
        &self,
        plan: &FrontendLog,
        level: Level,
        stats: &WorkerStats,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let mut bufs = self.buffers.borrow_mut();
        let (msg, line) = &mut *bufs;
        msg.clear();
        write(msg);
        let now = self.date(SystemTime::now());
        for sink in &plan.sinks {
            let Some(sev) = sink.severity(level) else {
                continue;
            };
            frame(line, sink, sev, &self.identity, &now, msg);
            if !self.sender.send(&sink.dest, line) {
                stats.log_dropped();
            }
        }
    }
}
