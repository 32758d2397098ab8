//! A worker's event loop: accept loops per listener, the inbox, soft and hard stop.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::io::transport::Stream;
use crate::worker::listener::{Acceptor, Bound};
use crossbeam_channel::Sender;
use monoio::io::Canceller;

use crate::backend::{BackendTable, ResolvedBackend};
use crate::io::buffer::BufferPool;
use crate::io::latch::Latch;
use crate::log::observer::Observer;
use crate::log::{FrontendLog, Hub};
use crate::metrics::Registry;
use crate::worker::dispatch::{BindSide, FrontendPlan};
use crate::worker::frontends::{FrontendState, Gates, OwnedListener};
use crate::worker::inbox::{InboxReceiver, ShardEvent};
use crate::worker::limits::ConnSlot;
use crate::worker::park::Parking;
use crate::worker::streams::Streams;
use crate::worker::WorkerInfo;

/// The sockets a worker accepts on for one frontend's `bind` line, and what that line says
/// of their connections.
pub struct Listening {
    pub plan: Arc<FrontendPlan>,
    pub bind: Arc<BindSide>,
    pub sockets: Vec<Bound>,
}

/// Everything one worker thread starts from (all `Send`).
pub struct WorkerSetup {
    pub frontends: Vec<Listening>,
    pub backends: Arc<Vec<ResolvedBackend>>,
    pub inbox: InboxReceiver,
    pub buffer_size: usize,
    pub ready: Sender<WorkerInfo>,
    /// Counters of every worker, and each frontend's logging.
    pub stats: Registry,
    pub logs: Arc<Vec<Option<Arc<FrontendLog>>>>,
    pub hub: Arc<Hub>,
    /// Applied to the backend tables before the first accept (state carried over a reload).
    pub initial_events: Vec<ShardEvent>,
    /// What the stats page and the Prometheus exporter read.
    pub stats_applet: Arc<dyn crate::sessions::router::StatsApplet + Send + Sync>,
}

/// A worker's own state, shared by its tasks.
pub struct Worker {
    pub index: usize,
    pub pool: BufferPool,
    pub backends: HashMap<String, Rc<BackendTable>>,
    /// This worker's counters, histograms and log output.
    pub obs: Observer,
    pub stats_applet: Arc<dyn crate::sessions::router::StatsApplet + Send + Sync>,
    /// Connections being served.
    active: Cell<usize>,
    /// Set on stop or soft stop: accept loops return and drop their listeners.
    stop_accepting: Latch,
    /// This worker's listening sockets, kept so a stop can close them to new clients at
    /// once, whatever their accept loops are doing at that moment.
    listeners: RefCell<Vec<OwnedListener>>,
    /// SIGTTOU: accept loops wait instead of accepting until SIGTTIN.
    paused: Cell<bool>,
    /// `disable|enable|shutdown frontend`: which frontends accept.
    gates: Gates,
    /// The client connections, for `show sess` and `shutdown session`.
    pub streams: Streams,
    /// Set when `hard-stop-after` expires (`ShardEvent::Kill`), seen by sessions through
    /// `Router::killed`.
    pub killed: Latch,
    /// Idle keep-alive connections waiting without a session (`None` if the worker could
    /// not make its epoll set: sessions then keep their idle connections).
    pub parking: Option<Parking>,
}

impl Worker {
    /// The state of every server as this worker sees it. Every worker receives the same
    /// events, so one worker's view is the process's.
    pub fn server_statuses(&self) -> Vec<crate::backend::ServerStatus> {
        let mut out = Vec::new();
        let mut names: Vec<&String> = self.backends.keys().collect();
        names.sort();
        for name in names {
            let table = &self.backends[name];
            for i in 0..table.server_count() {
                let id = crate::backend::ServerId(i);
                out.push(crate::backend::ServerStatus {
                    backend: name.clone(),
                    server: table.server_name(id).to_string(),
                    up: table.is_up(id),
                    weight: table.weight(id),
                });
            }
        }
        out
    }

    /// Refuses new clients from now on: every listening socket of this worker is shut down
    /// synchronously, so the kernel stops queueing connections on it even while an abandoned
    /// io_uring operation still holds the descriptor open, and the accept loops are told to
    /// return.
    ///
    /// Sockets handed over to a new process are shared with it: shutting one down would
    /// reset the clients queued for the new owner too, so then the loops only stop.
    fn stop_listening(&self) {
        let shared = crate::worker::listener::listeners_handed_over();
        for l in self.listeners.borrow_mut().drain(..) {
            if !shared {
                // SAFETY: `l` keeps the descriptor open for the duration of the call.
                unsafe { libc::shutdown(l.acceptor.as_raw_fd(), libc::SHUT_RDWR) };
            }
        }
        self.stop_accepting.set();
    }

    /// Whether this worker is stopping: sessions then close their client connections
    /// between requests (see `sessions/http/LIFECYCLE.md`).
    pub fn stopping(&self) -> &Latch {
        &self.stop_accepting
    }

    pub fn backend(&self, name: &str) -> Option<&Rc<BackendTable>> {
        self.backends.get(name)
    }
    pub fn active(&self) -> usize {
        self.active.get()
    }

    /// `disable|enable|shutdown frontend` in this worker.
    fn set_frontend_state(&self, frontend: usize, state: FrontendState) {
        self.gates
            .apply(frontend, state, &mut self.listeners.borrow_mut());
    }

    /// Whether an accept loop of `frontend` waits instead of accepting.
    fn holding(&self, frontend: usize) -> bool {
        self.paused.get() || self.gates.state(frontend) != FrontendState::Open
    }
}

/// An accepted connection's standing in its worker, for as long as the connection lives,
/// through its sessions and the times it is parked between them: counted active, holding
/// its `maxconn` slot, and counted as a current session of its frontend.
pub struct Admitted {
    pub worker: Rc<Worker>,
    pub plan: Arc<FrontendPlan>,
    _slot: ConnSlot,
    /// Its descriptor is in the worker's parking set (parked before).
    pub watched: bool,
    /// Its entry in the worker's `streams`.
    stream_key: usize,
}

impl Admitted {
    fn new(
        worker: Rc<Worker>,
        plan: Arc<FrontendPlan>,
        slot: ConnSlot,
        stream: &Stream,
        peer: SocketAddr,
    ) -> Self {
        worker.active.set(worker.active.get() + 1);
        let stream_key = worker.streams.insert(stream.as_raw_fd(), peer, plan.index);
        let stats = &worker.obs.stats;
        let tick = stats.tick();
        stats.process.session_start(tick);
        stats.frontends[plan.index].session_start(tick);
        Self {
            worker,
            plan,
            _slot: slot,
            watched: false,
            stream_key,
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.worker.streams.remove(self.stream_key);
        let stats = &self.worker.obs.stats;
        stats.frontends[self.plan.index].session_end();
        stats.process.session_end();
        self.worker.active.set(self.worker.active.get() - 1);
    }
}

/// Free buffers a worker keeps around however long they stay unused.
const POOL_KEEP: usize = 1024;

/// How long an accept loop at `maxconn` waits before looking at the counters again.
const LIMIT_RECHECK: Duration = Duration::from_millis(5);

/// How long a worker waits, once `hard-stop-after` expired, for its killed exchanges to
/// send their 502 and log before it stops anyway.
const KILL_GRACE: Duration = Duration::from_millis(500);

/// The worker body: starts accepting, then serves inbox events until stopped.
pub async fn worker_main(info: WorkerInfo, setup: WorkerSetup) {
    let WorkerSetup {
        frontends,
        backends,
        inbox,
        buffer_size,
        ready,
        stats,
        logs,
        hub,
        initial_events,
        stats_applet,
    } = setup;
    let log = logs
        .iter()
        .any(Option::is_some)
        .then(|| hub.worker_log(logs.iter().flatten().map(|l| &**l)));
    drop(hub);
    let mut inbox = match inbox.into_worker() {
        Ok(i) => i,
        Err(e) => {
            eprintln!(
                "ringlb: worker {}: cannot set up its inbox: {e}",
                info.index + 1
            );
            return;
        }
    };
    let stats_frontends = stats.layout().frontends.len();
    let obs = Observer::new(stats, info.index, logs, log);
    let obs_stats = obs.stats.clone();
    let worker = Rc::new(Worker {
        index: info.index,
        pool: BufferPool::new(buffer_size, POOL_KEEP),
        backends: backends
            .iter()
            .map(|b| (b.name.clone(), Rc::new(BackendTable::new(b))))
            .collect(),
        obs,
        stats_applet,
        active: Cell::new(0),
        stop_accepting: Latch::new(),
        killed: Latch::new(),
        listeners: RefCell::new(Vec::new()),
        paused: Cell::new(false),
        gates: Gates::new(stats_frontends),
        streams: Streams::new(info.index),
        parking: match Parking::new(obs_stats) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!(
                    "ringlb: worker {}: idle connections will not be parked: {e}",
                    info.index + 1
                );
                None
            }
        },
    });
    for ev in &initial_events {
        for b in worker.backends.values() {
            ev.apply_to(b);
        }
    }
    for Listening {
        plan,
        bind,
        sockets,
    } in frontends
    {
        for l in sockets {
            match Acceptor::adopt(l) {
                Ok(l) => {
                    let l = Rc::new(l);
                    worker.listeners.borrow_mut().push(OwnedListener {
                        frontend: plan.index,
                        backlog: bind.backlog,
                        acceptor: l.clone(),
                    });
                    monoio::spawn(accept_loop(worker.clone(), plan.clone(), bind.clone(), l));
                }
                Err(e) => eprintln!(
                    "ringlb: worker {}: frontend '{}': {e}",
                    info.index + 1,
                    plan.name
                ),
            }
        }
    }
    monoio::spawn(tick(worker.clone()));
    monoio::spawn(release_memory(worker.clone()));
    if worker.parking.is_some() {
        monoio::spawn(crate::worker::park::watch(worker.clone()));
    }
    let _ = ready.send(info);
    let _flush = Flush(worker.clone());

    let mut soft = false;
    loop {
        let batch = if soft {
            // Soft stop: leave as soon as the last connection is gone, still obeying a
            // hard stop meanwhile. Abandoning the inbox wait loses at most a wake-up byte;
            // the events themselves stay queued in the channel.
            let drained = async {
                while worker.active() > 0 {
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            match first_of(inbox.next_batch(), drained).await {
                Some(b) => b,
                None => return,
            }
        } else {
            inbox.next_batch().await
        };
        for ev in batch {
            match ev {
                ShardEvent::Stop => {
                    worker.stop_listening();
                    return;
                }
                ShardEvent::SoftStop => {
                    worker.stop_listening();
                    soft = true;
                }
                ShardEvent::Kill => {
                    worker.stop_listening();
                    worker.killed.set();
                    // The killed exchanges write their 502 and their log line, then go.
                    let ended = async {
                        while worker.active() > 0 {
                            monoio::time::sleep(Duration::from_millis(5)).await;
                        }
                    };
                    let _ = crate::io::timed::within(KILL_GRACE, ended).await;
                    return;
                }
                ShardEvent::Pause => worker.paused.set(true),
                ShardEvent::Resume => worker.paused.set(false),
                ShardEvent::SetFrontendState { frontend, state } => {
                    worker.set_frontend_state(frontend, state)
                }
                ShardEvent::ShowSessions { reply } => {
                    let _ = reply.send(worker.streams.list());
                }
                ShardEvent::ShutdownSession { id, reply } => {
                    let _ = reply.send(worker.streams.shut_down(id));
                }
                ShardEvent::ReportServerState { reply } => {
                    let _ = reply.send(worker.server_statuses());
                }
                ShardEvent::Probe { sent, reply } => {
                    let _ = reply.send((worker.index, sent.elapsed()));
                }
                ref other => {
                    for b in worker.backends.values() {
                        other.apply_to(b);
                    }
                }
            }
        }
    }
}

/// Once a second: histograms published for readers, the session-rate second advanced, and
/// the buffer pool's retention window stepped (and its state published for `show pools`).
async fn tick(worker: Rc<Worker>) {
    loop {
        monoio::time::sleep(Duration::from_secs(1)).await;
        worker.obs.on_tick();
        worker.pool.trim();
        worker
            .obs
            .stats
            .set_pool(worker.pool.buffer_size(), worker.pool.free_count());
    }
}

/// How often a worker looks whether sessions ended, to give their memory back.
const RELEASE_EVERY: Duration = Duration::from_millis(100);

/// Sessions (a few KiB each) that must have ended since the busiest moment before memory is
/// given back: fewer would come and go with ordinary traffic, whose memory is better reused.
const RELEASE_AFTER_ENDED: usize = 256;

/// Gives the memory of ended sessions back to the system once many of them ended: mimalloc
/// (the binary's allocator, `main.rs`) keeps freed pages resident for a second and then
/// purges them only as a side effect of later allocations, so the sessions of a burst of
/// connections that then sit parked, or go, would keep their memory on a quiet worker. The
/// count looked at is live sessions (parked connections have none); a worker under steady
/// load never calls the allocator here.
async fn release_memory(worker: Rc<Worker>) {
    let sessions = |w: &Worker| {
        let parked = w.parking.as_ref().map_or(0, Parking::len);
        w.active().saturating_sub(parked)
    };
    let mut busiest = sessions(&worker);
    loop {
        monoio::time::sleep(RELEASE_EVERY).await;
        let now = sessions(&worker);
        busiest = busiest.max(now);
        if busiest - now >= RELEASE_AFTER_ENDED {
            // SAFETY: `mi_collect` takes no pointers and may be called from any thread at
            // any time. Under the test harness's allocator it only tidies mimalloc's own
            // empty heap.
            unsafe { libmimalloc_sys::mi_collect(true) };
            busiest = now;
        }
    }
}

/// Publishes the histograms one last time when the worker returns, and closes the parked
/// connections (which hold the worker, so they would not go with it).
struct Flush(Rc<Worker>);

impl Drop for Flush {
    fn drop(&mut self) {
        if let Some(p) = &self.0.parking {
            p.clear();
        }
        self.0.obs.flush();
    }
}

/// `Some(a)` when `a` finishes first, `None` when `b` does.
async fn first_of<A: Future, B: Future>(a: A, b: B) -> Option<A::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if b.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

async fn accept_loop(
    worker: Rc<Worker>,
    plan: Arc<FrontendPlan>,
    bind: Arc<BindSide>,
    listener: Rc<Acceptor>,
) {
    loop {
        // Paused: clients queue in the kernel until SIGTTIN, or until a stop. A disabled
        // frontend's sockets refuse clients meanwhile (`worker/frontends.rs`).
        while worker.holding(plan.index) {
            if worker.stop_accepting.is_set()
                || worker.gates.state(plan.index) == FrontendState::Stopped
            {
                return;
            }
            let _ = first_of(
                worker.stop_accepting.wait(),
                monoio::time::sleep(LIMIT_RECHECK),
            )
            .await;
        }
        // Take a slot only once a client is waiting on this worker's own socket: a slot
        // held by an idle accept would starve a worker whose queue has clients in it.
        // Abandoning a readiness wait loses nothing. Not relaxed: the epoll driver would
        // otherwise answer from a cached readiness that an earlier accept already used up.
        match first_of(listener.readable(), worker.stop_accepting.wait()).await {
            None => return,
            Some(Err(_)) => {
                monoio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            // Paused while waiting: the client stays queued.
            Some(Ok(())) if worker.holding(plan.index) => continue,
            Some(Ok(())) => {}
        }
        // Above maxconn nothing is accepted; waiting clients stay in the kernel backlog.
        let slot = loop {
            if worker.stop_accepting.is_set() {
                return;
            }
            if let Some(slot) = plan.limits.try_acquire_on(bind.maxconn.as_ref()) {
                break slot;
            }
            let _ = first_of(
                worker.stop_accepting.wait(),
                monoio::time::sleep(LIMIT_RECHECK),
            )
            .await;
        };
        // While this worker waited for a slot, its queued client may have gone (or, on an
        // inherited `fd@` socket, another worker took it). Blocking in accept with the slot
        // would keep it from a worker whose client is still waiting.
        if !connection_pending(&listener) {
            drop(slot);
            continue;
        }
        let canceller = Canceller::new();
        let mut accept = pin!(listener.accept(canceller.handle()));
        let res = match first_of(accept.as_mut(), worker.stop_accepting.wait()).await {
            Some(r) => r,
            None => {
                // Stop listening, cancel, then collect: a connection accepted meanwhile is
                // served, not lost. Shutting the listening socket down also refuses new
                // clients at once, even before the last reference to it is dropped, and
                // completes an accept the cancellation did not reach.
                // A socket handed over to a new process is left alone (see `stop_listening`):
                // the cancellation alone ends the accept.
                if !crate::worker::listener::listeners_handed_over() {
                    // SAFETY: the descriptor belongs to `listener`, alive here.
                    unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
                }
                let _fresh = canceller.cancel();
                accept.await
            }
        };
        match res {
            Ok((stream, peer)) => {
                let conn = Admitted::new(worker.clone(), plan.clone(), slot, &stream, peer);
                monoio::spawn(serve(conn, stream, peer, bind.clone()));
            }
            Err(e) => {
                if worker.stop_accepting.is_set() {
                    return;
                }
                // The frontend was disabled while the accept was under way.
                if worker.holding(plan.index) {
                    continue;
                }
                // Out of descriptors or memory: back off instead of spinning.
                eprintln!("ringlb: frontend '{}': accept failed: {e}", plan.name);
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Whether a client waits in the listening socket's queue right now (a zero-timeout poll).
fn connection_pending(listener: &Acceptor) -> bool {
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    unsafe { libc::poll(&mut pfd, 1, 0) > 0 }
}

/// Serves an accepted connection; parks it if it goes idle.
async fn serve(conn: Admitted, stream: Stream, peer: SocketAddr, bind: Arc<BindSide>) {
    let worker = conn.worker.clone();
    let idle =
        crate::worker::dispatch::serve_connection(&worker, &conn.plan, stream, peer, &bind).await;
    if let Some(idle) = idle {
        crate::worker::park::park(&worker, conn, idle);
    }
}
