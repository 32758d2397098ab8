//! The entry point: a `Config` turned into bound listeners, pinned workers and a control
//! thread; plus the handle tests and the command line use to stop it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringlb_config::model::{Mode, Proxy, ProxyKind};
use ringlb_config::Config;

use crate::analysis::errors::ErrorPages;
use crate::analysis::rules::{ProxyRules, Shared};
use crate::analysis::settings::HttpFrontend;
use crate::backend::{ResolveError, ResolvedBackend};
use crate::boot::control;
use crate::io::tls::TlsListener;
use crate::log::{FrontendLog, Hub};
use crate::metrics::{Layout, Registry, Snapshot};
use crate::sessions::tcp::TunnelTimeouts;
use crate::worker::dispatch::{BindSide, FrontendPlan};
use crate::worker::event_loop::{worker_main, Listening, WorkerSetup};
use crate::worker::inbox::{self, Inboxes, ShardEvent};
use crate::worker::limits::{self, ConnLimit, FdBudget, LimitError, Limits};
use crate::worker::listener::{self, Bound, ListenAddr, ListenError};
use crate::worker::{self, pin, WorkerInfo};

/// How to run, beyond the configuration.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Overrides `nbthread`.
    pub nbthread: Option<usize>,
    /// Forces the epoll driver (also forced by `MONOIO_FORCE_LEGACY_DRIVER=1`).
    pub legacy_driver: bool,
    /// Take SIGINT/SIGTERM/SIGUSR1… in a control thread. Off for in-process tests.
    pub handle_signals: bool,
    /// io_uring submission queue entries per worker.
    pub ring_entries: u32,
    /// Another process (being replaced, `-sf`/`-st`) legitimately holds the ports: join
    /// them with SO_REUSEPORT instead of refusing to start.
    pub takeover: bool,
    /// Listening sockets handed over by the process being replaced, used instead of new
    /// ones wherever the addresses match.
    pub inherited: Option<crate::boot::lifecycle::fd_transfer::Inherited>,
    /// Events every worker applies before it accepts (server state carried over).
    pub initial_events: Vec<ShardEvent>,
    /// `chroot` and `user`/`group` to apply once bound, before any worker starts.
    pub privileges: Option<crate::boot::lifecycle::privileges::Plan>,
    /// `-q` or `quiet`: no startup notices (the limits line, one line per worker), as
    /// haproxy prints none.
    pub quiet: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            nbthread: None,
            legacy_driver: false,
            handle_signals: true,
            ring_entries: 4096,
            takeover: false,
            inherited: None,
            initial_events: Vec::new(),
            privileges: None,
            quiet: false,
        }
    }
}

#[derive(Debug)]
pub enum RunError {
    Config(String),
    Resolve(ResolveError),
    Listen(ListenError),
    Limits(LimitError),
    Io(io::Error),
    /// A worker thread failed to start or panicked.
    Worker(usize, String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(s) => f.write_str(s),
            Self::Resolve(e) => e.fmt(f),
            Self::Listen(e) => e.fmt(f),
            Self::Limits(e) => e.fmt(f),
            Self::Io(e) => e.fmt(f),
            Self::Worker(i, s) => write!(f, "worker {}: {s}", i + 1),
        }
    }
}

impl std::error::Error for RunError {}

/// A running engine.
pub struct RunHandle {
    inboxes: Arc<Inboxes>,
    workers: Vec<JoinHandle<io::Result<()>>>,
    control: Option<JoinHandle<()>>,
    control_done: Arc<AtomicBool>,
    bound: Vec<(String, SocketAddr)>,
    infos: Vec<WorkerInfo>,
    budget: FdBudget,
    stats: Registry,
    hub: Arc<Hub>,
    /// Server states (admin, health, weight), counters and configuration for the runtime
    /// API and the stats page; its checker runs even when no server is checked.
    runtime: Option<Arc<crate::services::admin::Runtime>>,
    /// The `stats socket` listeners.
    cli: Option<crate::services::admin::listener::SocketServer>,
    /// A descriptor of every listening socket, for handing them to a reload.
    listening: Vec<(SocketAddr, std::net::TcpListener)>,
    /// The Unix socket files of `bind` lines, removed once the workers have stopped.
    socket_files: Vec<crate::io::socket_file::SocketFile>,
}

impl RunHandle {
    /// The addresses frontend `name` listens on (ports resolved when the config said 0).
    pub fn addrs(&self, frontend: &str) -> Vec<SocketAddr> {
        self.bound
            .iter()
            .filter(|(n, _)| n == frontend)
            .map(|(_, a)| *a)
            .collect()
    }

    /// What every worker reported at start, by index.
    pub fn workers(&self) -> &[WorkerInfo] {
        &self.infos
    }

    pub fn fd_budget(&self) -> &FdBudget {
        &self.budget
    }

    /// Every worker's counters summed, histograms as last published (at most a second old,
    /// exact once the workers stopped).
    pub fn stats(&self) -> Snapshot {
        self.stats.snapshot()
    }

    /// The counter blocks themselves, for readers that keep polling (stats page, runtime API).
    pub fn stats_registry(&self) -> &Registry {
        &self.stats
    }

    /// Process-wide logging: control-side messages go through [`Hub::emit`].
    pub fn log_hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The health checker (check states, admin states).
    pub fn checker(&self) -> Option<&ringlb_checks::CheckerHandle> {
        self.runtime.as_ref().map(|r| r.servers.checker())
    }

    /// What the runtime API and the stats page read and change: the one owner of server
    /// state, the counters and the configuration.
    pub fn runtime(&self) -> Option<&Arc<crate::services::admin::Runtime>> {
        self.runtime.as_ref()
    }

    /// The workers' inboxes, for threads that outlive a borrow of the handle.
    pub fn inboxes(&self) -> Arc<Inboxes> {
        self.inboxes.clone()
    }

    /// Every listening socket (one entry per worker socket), to offer to a reload.
    pub fn take_listening_sockets(&mut self) -> Vec<(SocketAddr, std::net::TcpListener)> {
        std::mem::take(&mut self.listening)
    }

    /// Sends an event to every worker.
    pub fn broadcast(&self, event: ShardEvent) {
        self.inboxes.broadcast(&event);
    }

    /// Same as SIGTERM.
    pub fn stop(&self) {
        self.broadcast(ShardEvent::Stop);
    }

    /// Same as SIGUSR1.
    pub fn soft_stop(&self) {
        self.broadcast(ShardEvent::SoftStop);
    }

    /// Sends a probe to every worker and returns each worker's delivery latency.
    pub fn probe(&self, wait: Duration) -> Vec<(usize, Duration)> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.broadcast(ShardEvent::Probe {
            sent: Instant::now(),
            reply: tx,
        });
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        while out.len() < self.infos.len() {
            match rx.recv_deadline(deadline) {
                Ok(r) => out.push(r),
                Err(_) => break,
            }
        }
        out.sort();
        out
    }

    /// Waits until every worker has stopped.
    pub fn wait(mut self) -> Result<(), RunError> {
        self.join()
    }

    fn join(&mut self) -> Result<(), RunError> {
        let mut result = Ok(());
        for (i, w) in self.workers.drain(..).enumerate() {
            match w.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(RunError::Worker(i, e.to_string())),
                Err(_) => result = Err(RunError::Worker(i, "panicked".into())),
            }
        }
        drop(self.cli.take());
        if let Some(rt) = self.runtime.take() {
            rt.servers.stop();
        }
        for f in self.socket_files.drain(..) {
            f.remove();
        }
        // The workers' log senders are gone with them: write out what stdout/stderr queued.
        self.hub.finish();
        self.control_done.store(true, Ordering::Release);
        if let Some(c) = self.control.take() {
            let _ = c.join();
        }
        result
    }
}

impl Drop for RunHandle {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            self.stop();
            let _ = self.join();
        }
    }
}

/// Runs `config` until stopped (signal or event).
pub fn run(config: Config, opts: RunOptions) -> Result<(), RunError> {
    start(config, opts)?.wait()
}

/// Binds, spawns the workers and the control thread, and returns once every worker serves.
pub fn start(config: Config, opts: RunOptions) -> Result<RunHandle, RunError> {
    if opts.handle_signals {
        // Before any thread exists, so every thread inherits the mask.
        control::block_signals().map_err(RunError::Io)?;
    }
    let nbthread = opts
        .nbthread
        .or(config.global.nbthread.map(usize::from))
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1);
    let legacy = opts.legacy_driver || worker::legacy_forced_by_env();

    let mut backends: Vec<ResolvedBackend> =
        crate::backend::resolve_all(&config).map_err(RunError::Resolve)?;
    // The counters' layout below lists the backends in this order.
    for (i, b) in backends.iter_mut().enumerate() {
        b.http.stats_index = Some(i);
    }
    let watches = ringlb_checks::Watches::new(&config);
    crate::services::health::attach_watches(&mut backends, &watches);

    let frontends: Vec<&Proxy> = config.frontends().filter(|p| !p.disabled).collect();
    let mut addrs = Vec::new();
    let mut tls_listeners = Vec::new();
    for fe in &frontends {
        let backlog = fe.backlog.or(fe.maxconn).unwrap_or(1024);
        for (n, b) in fe.binds.iter().enumerate() {
            // One per `bind … ssl` line, shared by all its addresses and every worker: one
            // session cache and one ticket key for all of them.
            let tls = match &b.options.tls {
                Some(t) => Some(Arc::new(
                    TlsListener::new(
                        b.name.clone().unwrap_or_else(|| (n + 1).to_string()),
                        t,
                        &config.global.tls,
                        fe.mode == Mode::Http,
                    )
                    .map_err(|e| {
                        RunError::Config(format!(
                            "{}:{}: bind: {e}",
                            b.location.file.display(),
                            b.location.line
                        ))
                    })?,
                )),
                None => None,
            };
            tls_listeners.extend(tls.clone());
            let side = Arc::new(BindSide {
                name: b.name.clone().unwrap_or_else(|| (n + 1).to_string()),
                tls,
                proto: b.options.proto,
                accept_proxy: b.options.accept_proxy,
                maxconn: b.options.maxconn.map(ConnLimit::new),
                backlog: b.options.backlog.unwrap_or(backlog).min(i32::MAX as u32) as i32,
            });
            for a in listener::expand(b, backlog).map_err(RunError::Listen)? {
                addrs.push((fe.name.clone(), a, side.clone()));
            }
        }
    }
    let any_splice = frontends.iter().any(|fe| fe.options.splice_auto)
        || config.backends().any(|b| b.options.splice_auto);
    let budget = limits::fd_budget(
        config.global.maxconn,
        config.global.ulimit_n,
        (addrs.len() * nbthread) as u64,
        any_splice,
    )
    .map_err(RunError::Limits)?;
    if !opts.quiet {
        eprintln!(
            "ringlb: maxconn {} (file descriptor limit {} allows {}), {} worker(s)",
            budget.maxconn, budget.nofile, budget.maxconn_fit, nbthread
        );
    }
    let global = ConnLimit::new(budget.maxconn);

    let mut plans = Vec::new();
    let mut logs = Vec::new();
    for (index, fe) in frontends.iter().enumerate() {
        logs.push(FrontendLog::from_proxy(fe, &config).map(Arc::new));
        let backend_name = match fe.kind {
            ProxyKind::Listen => Some(fe.name.clone()),
            _ => fe.default_backend.clone(),
        };
        let be = match &backend_name {
            Some(n) => Some(
                config
                    .proxy(n)
                    .filter(|p| p.kind.has_backend())
                    .ok_or_else(|| {
                        RunError::Config(format!(
                            "frontend '{}': default_backend '{n}' does not exist",
                            fe.name
                        ))
                    })?,
            ),
            None => None,
        };
        check_routing(&config, fe)?;
        let rules = Arc::new(
            ProxyRules::compile_in(fe, Shared::of(&config)).map_err(|e| {
                RunError::Config(format!("{} '{}': {e}", fe.kind.keyword(), fe.name))
            })?,
        );
        plans.push(Arc::new(FrontendPlan {
            name: fe.name.clone(),
            index,
            mode: fe.mode,
            backend: backend_name,
            timeouts: TunnelTimeouts {
                client: fe.timeouts.client,
                server: be.and_then(|b| b.timeouts.server),
                tunnel: be.and_then(|b| b.timeouts.tunnel).or(fe.timeouts.tunnel),
                client_fin: fe.timeouts.client_fin,
                server_fin: be.and_then(|b| b.timeouts.server_fin),
            },
            limits: Limits {
                global: global.clone(),
                frontend: ConnLimit::new(fe.maxconn.unwrap_or(budget.maxconn)),
            },
            splice: fe.options.splice_auto || be.is_some_and(|b| b.options.splice_auto),
            client_keepalive: fe.options.clitcpka || fe.options.tcpka,
            http: (fe.mode == Mode::Http).then(|| HttpFrontend {
                errors: ErrorPages::in_config(fe, Shared::of(&config)),
                ..HttpFrontend::with_rules(fe, &config.global.tune, rules.clone())
            }),
            rules,
        }));
    }

    // Bind everything before starting any worker, so a refusal leaves nothing running.
    let mut per_worker: Vec<Vec<Listening>> = (0..nbthread).map(|_| Vec::new()).collect();
    let mut bound = Vec::new();
    let mut listening = Vec::new();
    let mut socket_files = Vec::new();
    for (fe_name, addr, side) in &addrs {
        let plan = plans
            .iter()
            .find(|p| &p.name == fe_name)
            .expect("plan per frontend")
            .clone();
        let socks = if let ListenAddr::Unix(u) = addr {
            // Not handed over on reload: the next process binds the path anew.
            let (socks, file) = listener::bind_unix(u, nbthread).map_err(RunError::Listen)?;
            socket_files.push(file);
            socks
        } else {
            let (at, socks) = crate::boot::lifecycle::master::bind_or_inherit(
                addr,
                nbthread,
                opts.takeover,
                opts.inherited.as_ref(),
            )
            .map_err(RunError::Listen)?;
            bound.push((fe_name.clone(), at));
            for s in &socks {
                if let Ok(dup) = s.try_clone() {
                    listening.push((at, dup));
                }
            }
            socks.into_iter().map(Bound::Tcp).collect()
        };
        // Inherited sockets may outnumber the workers: some workers then serve several.
        for (i, s) in socks.into_iter().enumerate() {
            match per_worker[i % nbthread]
                .iter_mut()
                .find(|l| Arc::ptr_eq(&l.plan, &plan) && Arc::ptr_eq(&l.bind, side))
            {
                Some(l) => l.sockets.push(s),
                None => per_worker[i % nbthread].push(Listening {
                    plan: plan.clone(),
                    bind: side.clone(),
                    sockets: vec![s],
                }),
            }
        }
    }
    if let Some(plan) = opts.privileges.as_ref().filter(|p| !p.is_empty()) {
        plan.apply().map_err(RunError::Io)?;
    }

    let layout = Layout::new(
        frontends.iter().map(|f| f.name.clone()),
        backends.iter().map(ResolvedBackend::names),
    );
    let stats = Registry::new(layout, nbthread);
    let backends = Arc::new(backends);
    let frontend_states = Arc::new(crate::services::admin::frontends::Frontends::new(&plans));
    let stats_context = Arc::new(crate::services::stats::service::StatsContext::new(
        Arc::new(config.clone()),
        stats.clone(),
        backends.clone(),
        u64::from(budget.maxconn),
        frontend_states.clone(),
    ));
    let logs = Arc::new(logs);
    let hub = Hub::new(&config).map_err(RunError::Io)?;
    let allowed = pin::allowed_cpus();
    let (ready_tx, ready_rx) = crossbeam_channel::unbounded();
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for (i, frontends) in per_worker.into_iter().enumerate() {
        let (tx, rx) = inbox::inbox().map_err(RunError::Io)?;
        senders.push(tx);
        let cpus = pin::cpus_for_thread(
            &config.global.cpu_map,
            i as u32 + 1,
            nbthread as u32,
            &allowed,
        );
        let setup = WorkerSetup {
            frontends,
            backends: backends.clone(),
            inbox: rx,
            buffer_size: config.global.tune.bufsize as usize,
            ready: ready_tx.clone(),
            stats: stats.clone(),
            logs: logs.clone(),
            hub: hub.clone(),
            initial_events: opts.initial_events.clone(),
            stats_applet: stats_context.clone(),
        };
        let runtime = (legacy, opts.ring_entries);
        let handle = worker::spawn_worker(i, cpus, runtime, opts.quiet, move |info| {
            worker_main(info, setup)
        })
        .map_err(RunError::Io)?;
        workers.push(handle);
    }
    drop(ready_tx);
    let inboxes = Arc::new(Inboxes::new(senders));
    let control_done = Arc::new(AtomicBool::new(false));
    let mut handle = RunHandle {
        inboxes: inboxes.clone(),
        workers,
        control: None,
        control_done: control_done.clone(),
        bound,
        infos: Vec::new(),
        budget,
        stats,
        hub,
        runtime: None,
        cli: None,
        listening,
        socket_files,
    };
    let mut infos = Vec::new();
    while infos.len() < nbthread {
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(info) => infos.push(info),
            Err(_) => {
                // A worker died before serving: collect its error.
                handle.stop();
                let err = handle.join().err();
                return Err(
                    err.unwrap_or_else(|| RunError::Worker(infos.len(), "did not start".into()))
                );
            }
        }
    }
    infos.sort_by_key(|i| i.index);
    handle.infos = infos;
    // Once every worker serves, so the first check results find every inbox listening.
    let downtime = Arc::new(crate::services::admin::state::Downtime::default());
    let checker = crate::services::health::start(
        &config,
        &watches,
        inboxes.clone(),
        handle.hub.clone(),
        downtime.clone(),
    )
    .map_err(RunError::Io)?;
    let runtime = Arc::new(crate::services::admin::Runtime {
        config: Arc::new(config.clone()),
        stats: handle.stats.clone(),
        servers: Arc::new(crate::services::admin::ServerStates::new(
            checker, backends, downtime,
        )),
        started: Instant::now(),
        maxconn: u64::from(handle.budget.maxconn),
        nofile: handle.budget.nofile,
        nbthread,
        certs: crate::services::admin::certs::Certs::new(tls_listeners),
        global_limit: global,
        frontends: frontend_states,
        inboxes: inboxes.clone(),
    });
    stats_context.set_states(runtime.servers.clone());
    handle.runtime = Some(runtime.clone());
    let hangup = {
        let (runtime, hub) = (runtime.clone(), handle.hub.clone());
        Box::new(move || crate::services::admin::hangup::dump_server_states(&runtime, &hub))
    };
    handle.cli = crate::services::admin::listener::start(runtime).map_err(RunError::Io)?;
    if opts.handle_signals {
        handle.control = Some(
            control::spawn_control(
                inboxes,
                control_done,
                config.global.hard_stop_after,
                config.proxies.iter().filter_map(|p| p.grace).max(),
                hangup,
            )
            .map_err(RunError::Io)?,
        );
    }
    Ok(handle)
}

/// What the engine refuses to start with although the parser accepts it: `use_backend`
/// naming no backend.
fn check_routing(config: &Config, fe: &Proxy) -> Result<(), RunError> {
    for u in &fe.use_backends {
        if let ringlb_config::model::BackendName::Static(n) = &u.backend {
            if !config.proxy(n).is_some_and(|p| p.kind.has_backend()) {
                return Err(RunError::Config(format!(
                    "{} '{}' ({}): use_backend '{n}' does not exist",
                    fe.kind.keyword(),
                    fe.name,
                    u.location
                )));
            }
        }
    }
    Ok(())
}
