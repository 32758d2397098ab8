//! The checker thread and its control-side handle.
//!
//! One thread runs a small epoll-driven monoio runtime with one task per check (health and
//! agent): hundreds of servers cost hundreds of tasks, not threads. First checks are spread
//! over the interval so they do not all start together, and `spread-checks P` moves every
//! interval by a random ±P %. Results go through the shared [`Table`], which publishes the
//! resulting events and log lines through the engine's sink.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringlb_config::model::Level;
use ringlb_config::Config;

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

    /// The configured (user) weight of a server.
    pub fn user_weight(&self, backend: &str, server: &str) -> Result<u16, AdminError> {
        let t = self.shared.table();
        let i = self.index(&t, backend, server)?;
        Ok(t.plan(i).weight)
    }

    /// A traffic outcome for `observe layer4|layer7` (`layer7`: an HTTP-level error or
    /// success, else a connection-level one).
    pub fn observe(&self, backend: &str, server: &str, layer7: bool, error: bool) {
        let mut t = self.shared.table();
        if let Some(i) = t.find(backend, server) {
            t.observe(i, layer7, error);
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
    let shared = Arc::new(Shared {
        table: Mutex::new(Table::new(plans.clone(), sink)),
        stop: AtomicBool::new(false),
        spread: u32::from(config.global.spread_checks.unwrap_or(0)).min(50),
        rng: AtomicU64::new(seed),
    });
    let inner = shared.clone();
    let thread = std::thread::Builder::new()
        .name("ringlb-checks".into())
        .spawn(move || run(inner, plans))?;
    Ok(CheckerHandle {
        shared,
        thread: Some(thread),
    })
}

fn run(shared: Arc<Shared>, plans: Vec<plan::ServerPlan>) {
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
        for (i, p) in plans.iter().enumerate() {
            if let Some((kind, target)) = &p.check {
                let offset = p.intervals.inter * pos / checked;
                pos += 1;
                monoio::spawn(check_loop(shared.clone(), i, kind.clone(), *target, offset));
            }
            if let Some(a) = &p.agent {
                monoio::spawn(agent_loop(shared.clone(), i, a.clone()));
            }
        }
        while !shared.stopped() {
            monoio::time::sleep(STOP_POLL).await;
        }
    });
}

async fn check_loop(
    shared: Arc<Shared>,
    i: usize,
    kind: ProbeKind,
    target: Target,
    first: Duration,
) {
    monoio::time::sleep(first).await;
    while !shared.stopped() {
        if shared.table().check_due(i) {
            let result = probe::run(&kind, &target).await;
            if shared.stopped() {
                return;
            }
            shared.table().record_check(i, result);
        }
        let wait = shared.jitter(shared.table().next_interval(i));
        monoio::time::sleep(wait).await;
    }
}

/// The agent keeps running in maintenance: its "ready" is how a server comes back.
async fn agent_loop(shared: Arc<Shared>, i: usize, plan: AgentPlan) {
    while !shared.stopped() {
        let start = Instant::now();
        let reply = agent::probe(&plan.target, plan.send.as_deref())
            .await
            .map(|r| (r, start.elapsed()));
        if shared.stopped() {
            return;
        }
        shared.table().record_agent(i, reply);
        monoio::time::sleep(shared.jitter(plan.inter)).await;
    }
}
