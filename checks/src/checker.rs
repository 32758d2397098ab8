//! The checker thread and its control-side handle.
//!
//! One thread runs a small epoll-driven monoio runtime with one task per check (health and
//! agent): hundreds of servers cost hundreds of tasks, not threads. First checks are spread
//! over the interval so they do not all start together, and `spread-checks P` moves every
//! interval by a random ±P %. Results go through the shared [`Table`], which publishes the
//! resulting events and log lines through the engine's sink.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringlb_config::model::Level;
use ringlb_config::Config;

use crate::observe::{Link, Outcome, Watches};
use crate::plan::{self, AgentPlan};
use crate::probe::{self, agent, ProbeKind, Target};
use crate::table::{ServerSnapshot, Table};
use crate::{AdminState, LogRecord, Output, Sink};

/// How often the idle checker thread looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

struct Shared {
    table: Mutex<Table>,
    stop: AtomicBool,
    /// `spread-checks`, percent.
    spread: u32,
    rng: AtomicU64,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// `d` moved by a random amount within ±`spread` %.
    fn jitter(&self, d: Duration) -> Duration {
        if self.spread == 0 {
            return d;
        }
        // xorshift: quality does not matter, only that servers drift apart.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        let span = 2 * u64::from(self.spread);
        let pct = 100 - u64::from(self.spread) + x % (span + 1);
        d * pct as u32 / 100
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    NoSuchServer { backend: String, server: String },
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchServer { backend, server } => {
                write!(f, "no such server '{backend}/{server}'")
            }
        }
    }
}

impl std::error::Error for AdminError {}

/// The control side's hold on the running checker. Dropping it stops the thread.
pub struct CheckerHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl CheckerHandle {
    /// Every server's check state, in configuration order.
    pub fn snapshot(&self) -> Vec<ServerSnapshot> {
        self.shared.table().snapshot()
    }

    fn index(&self, table: &Table, backend: &str, server: &str) -> Result<usize, AdminError> {
        table
            .find(backend, server)
            .ok_or_else(|| AdminError::NoSuchServer {
                backend: backend.into(),
                server: server.into(),
            })
    }

    /// `set server B/S state ready|drain|maint`. A server in maintenance is not checked.
    pub fn set_admin(
        &self,
        backend: &str,
        server: &str,
        admin: AdminState,
    ) -> Result<(), AdminError> {
        let mut t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        t.set_admin(i, admin);
        Ok(())
    }

    /// `enable|disable health B/S`: a disabled check neither runs nor holds the server down.
    pub fn set_check_enabled(
        &self,
        backend: &str,
        server: &str,
        on: bool,
    ) -> Result<(), AdminError> {
        let mut t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        t.set_check_enabled(i, on);
        Ok(())
    }

    /// `set server B/S weight N`: the user weight, 0..=256.
    pub fn set_weight(&self, backend: &str, server: &str, weight: u16) -> Result<(), AdminError> {
        let mut t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        t.set_weight(i, weight);
        Ok(())
    }

    /// `set server B/S health up|stopping|down`.
    pub fn force_health(
        &self,
        backend: &str,
        server: &str,
        to: crate::table::ForcedHealth,
    ) -> Result<(), AdminError> {
        let mut t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        t.force_health(i, to);
        Ok(())
    }

    /// `set server B/S agent up|down`: `Ok(false)` when the server has no agent check.
    pub fn force_agent(&self, backend: &str, server: &str, up: bool) -> Result<bool, AdminError> {
        let mut t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        Ok(t.force_agent(i, up))
    }

    /// `set server B/S addr`: the checks follow the new address from their next run.
    pub fn set_addr(
        &self,
        backend: &str,
        server: &str,
        ip: std::net::IpAddr,
        port: Option<u16>,
    ) -> Result<(), AdminError> {
        let mut t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        t.set_addr(i, ip, port);
        Ok(())
    }

    /// `set server B/S check-port N`: `Ok(false)` when the server has no health check.
    pub fn set_check_port(
        &self,
        backend: &str,
        server: &str,
        port: u16,
    ) -> Result<bool, AdminError> {
        let mut t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        Ok(t.set_check_port(i, port))
    }

    /// `set server B/S check-addr IP [port N]`: `Ok(false)` when the server has no check.
    pub fn set_check_addr(
        &self,
        backend: &str,
        server: &str,
        ip: std::net::IpAddr,
        port: Option<u16>,
    ) -> Result<bool, AdminError> {
        let mut t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        Ok(t.set_check_addr(i, ip, port))
    }

    /// `set server B/S agent-addr|agent-port|agent-send`: `Ok(false)` without an agent.
    pub fn change_agent(
        &self,
        backend: &str,
        server: &str,
        f: impl FnOnce(&mut AgentPlan),
    ) -> Result<bool, AdminError> {
        let mut t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        Ok(t.change_agent(i, f))
    }

    /// Whether a server's check has a port of its own (`port`, `set server … check-port`).
    pub fn own_check_port(&self, backend: &str, server: &str) -> Result<bool, AdminError> {
        let t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        Ok(t.own_check_port(i))
    }

    /// The address a server's health check probes (`None`: not checked).
    pub fn check_target(
        &self,
        backend: &str,
        server: &str,
    ) -> Result<Option<crate::probe::Target>, AdminError> {
        let t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        Ok(t.check_target(i))
    }

    /// The configured (user) weight of a server.
    pub fn user_weight(&self, backend: &str, server: &str) -> Result<u16, AdminError> {
        let t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        Ok(t.plan(i).weight)
    }

    /// Reports a traffic outcome for a server with `observe`, as the workers do; ignored
    /// for other servers. The checker acts on it within milliseconds.
    pub fn observe(&self, backend: &str, server: &str, outcome: Outcome) {
        let watch = {
            let t = self.shared.table();
            t.find(backend, server).and_then(|i| t.watch(i).cloned())
        };
        if let Some(w) = watch {
            w.report(outcome);
        }
    }

    /// Tells the thread to end without waiting for it (for holders that share the handle).
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CheckerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts checking every server of `config` that asks for it; `None` when none does.
/// Servers start UP, as HAProxy's do; the first failed check takes one DOWN.
pub fn start(config: &Config, sink: Sink) -> io::Result<Option<CheckerHandle>> {
    if !plan::wants_checks(config) {
        return Ok(None);
    }
    start_always(config, sink).map(Some)
}

/// Starts the checker even when no server is checked: its table is then only the home of
/// every server's admin state and weight (runtime API, stats page), and its thread idles.
pub fn start_always(config: &Config, sink: Sink) -> io::Result<CheckerHandle> {
    start_observed(config, sink, &Watches::new(config))
}

/// [`start_always`], acting on the triggers of `watches`: the counts the workers keep for
/// the servers with `observe`.
pub fn start_observed(config: &Config, sink: Sink, watches: &Watches) -> io::Result<CheckerHandle> {
    let (plans, notes) = plan::plan(config);
    for (backend, message) in notes {
        sink(Output::Log(LogRecord {
            level: Level::Warning,
            backend,
            message,
        }));
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9)
        | 1;
    let mut table = Table::new(plans.clone(), sink);
    // Where each watch's triggers apply, in `Trigger::watch` order.
    let targets: Vec<Option<usize>> = watches
        .iter()
        .map(|(backend, server, w)| {
            let i = table.find(backend, server)?;
            table.attach_watch(i, w.clone());
            Some(i)
        })
        .collect();
    let observed = (!watches.is_empty()).then(|| (watches.link().clone(), targets));
    let shared = Arc::new(Shared {
        table: Mutex::new(table),
        stop: AtomicBool::new(false),
        spread: u32::from(config.global.spread_checks.unwrap_or(0)).min(50),
        rng: AtomicU64::new(seed),
    });
    let inner = shared.clone();
    let thread = std::thread::Builder::new()
        .name("ringlb-checks".into())
        .spawn(move || run(inner, plans, observed))?;
    Ok(CheckerHandle {
        shared,
        thread: Some(thread),
    })
}

/// The link the workers report through, and the table index each watch applies to.
type Observed = (Arc<Link>, Vec<Option<usize>>);

fn run(shared: Arc<Shared>, plans: Vec<plan::ServerPlan>, observed: Option<Observed>) {
    let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build();
    let mut rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ringlb: health checks cannot start: {e}");
            return;
        }
    };
    rt.block_on(async move {
        // The first checks spread over the smallest interval, in server order.
        let checked = plans.iter().filter(|p| p.check.is_some()).count().max(1) as u32;
        let mut pos = 0;
        let kicks: Vec<Rc<Kick>> = plans.iter().map(|_| Rc::default()).collect();
        for (i, p) in plans.iter().enumerate() {
            if let Some((kind, target)) = &p.check {
                let offset = p.intervals.inter * pos / checked;
                pos += 1;
                let check = CheckTask {
                    shared: shared.clone(),
                    i,
                    kick: kicks[i].clone(),
                };
                monoio::spawn(check.run(kind.clone(), *target, offset));
            }
            if let Some(a) = &p.agent {
                monoio::spawn(agent_loop(shared.clone(), i, a.clone()));
            }
        }
        if let Some((link, targets)) = observed {
            monoio::spawn(observe_loop(shared.clone(), link, targets, kicks));
        }
        while !shared.stopped() {
            monoio::time::sleep(STOP_POLL).await;
        }
    });
}

/// Acts on every trigger the workers send, as soon as it arrives, and gets the server's
/// next check rescheduled for `fastinter`.
async fn observe_loop(
    shared: Arc<Shared>,
    link: Arc<Link>,
    targets: Vec<Option<usize>>,
    kicks: Vec<Rc<Kick>>,
) {
    loop {
        let t = link.recv().await;
        let Some(&Some(i)) = targets.get(t.watch) else {
            continue;
        };
        shared.table().observe_errors(i, &t);
        kicks[i].kick();
    }
}

/// Wakes one check task from another task of the checker's runtime.
#[derive(Default)]
struct Kick {
    set: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Kick {
    fn kick(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    async fn kicked(&self) {
        std::future::poll_fn(|cx| {
            if self.set.replace(false) {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// One server's health check task.
struct CheckTask {
    shared: Arc<Shared>,
    i: usize,
    kick: Rc<Kick>,
}

impl CheckTask {
    async fn run(self, kind: ProbeKind, mut target: Target, first: Duration) {
        self.wait(first).await;
        while !self.shared.stopped() {
            if self.shared.table().check_due(self.i) {
                // `set server … addr|check-port` may have moved it since the last check.
                if let Some(t) = self.shared.table().check_target(self.i) {
                    target = t;
                }
                let tls = self.shared.table().plan(self.i).check_tls.clone();
                let result = probe::run_over(&kind, &target, tls.as_deref()).await;
                if self.shared.stopped() {
                    return;
                }
                self.shared.table().record_check(self.i, result);
            }
            let wait = self
                .shared
                .jitter(self.shared.table().next_interval(self.i));
            self.wait(wait).await;
        }
    }

    /// Sleeps `wait`, or less when observed errors ask for the next check sooner.
    async fn wait(&self, wait: Duration) {
        let mut due = Instant::now() + wait;
        loop {
            let left = due.saturating_duration_since(Instant::now());
            monoio::select! {
                _ = monoio::time::sleep(left) => return,
                _ = self.kick.kicked() => {
                    let sooner = self.shared.table().next_interval(self.i);
                    due = due.min(Instant::now() + sooner);
                }
            }
        }
    }
}

/// The agent keeps running in maintenance: its "ready" is how a server comes back.
async fn agent_loop(shared: Arc<Shared>, i: usize, plan: AgentPlan) {
    while !shared.stopped() {
        let start = Instant::now();
        // `set server … addr|agent-addr|agent-port|agent-send` may have changed it.
        let now = shared.table().plan(i).agent.clone();
        let now = now.as_ref().unwrap_or(&plan);
        let reply = agent::probe(&now.target, now.send.as_deref())
            .await
            .map(|r| (r, start.elapsed()));
        if shared.stopped() {
            return;
        }
        shared.table().record_agent(i, reply);
        monoio::time::sleep(shared.jitter(plan.inter)).await;
    }
}
