//! Traffic counters and latency histograms: one block per worker, proxy and server, written
//! by its worker alone, summed on read into a [`Snapshot`] (stats page, runtime API, tests).

pub mod counters;
pub mod histogram;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

pub use counters::{CounterSnapshot, Counters};
pub use histogram::Latency;
use histogram::{new_histogram, Local, Published};

/// The names counters are kept for, in index order: frontends in configuration order,
/// backends as the worker's server tables hold them, servers in their backend's order.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub frontends: Vec<String>,
    pub backends: Vec<(String, Vec<String>)>,
}

impl Layout {
    /// The layout of the named frontends and of the named backends with their servers.
    pub fn new(
        frontends: impl IntoIterator<Item = String>,
        backends: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> Self {
        Self {
            frontends: frontends.into_iter().collect(),
            backends: backends.into_iter().collect(),
        }
    }
}

/// A backend's or server's two histograms, as published.
#[derive(Debug, Default)]
struct PublishedPair([Published; 2]);

/// One worker's counters, shared read-only with readers.
#[derive(Debug)]
pub struct WorkerStats {
    /// Every connection the worker accepted (`CurrConns`, `CumConns`, `CumReq`).
    pub process: Counters,
    pub frontends: Vec<Counters>,
    pub backends: Vec<Counters>,
    pub servers: Vec<Vec<Counters>>,
    backend_hist: Vec<PublishedPair>,
    server_hist: Vec<Vec<PublishedPair>>,
    /// Seconds since the worker started; advanced by the worker's timer.
    tick: AtomicU64,
    /// Log lines this worker could not hand to a log target (receiver slow, gone or full).
    log_drops: AtomicU64,
    /// Idle keep-alive connections parked now (`worker/park.rs`).
    parked: AtomicU64,
    /// The worker's buffer pool at its last tick: buffer size and free buffers.
    pool: [AtomicU64; 2],
}

impl WorkerStats {
    pub fn new(layout: &Layout) -> Self {
        let blocks = |n: usize| (0..n).map(|_| Counters::default()).collect::<Vec<_>>();
        Self {
            process: Counters::default(),
            frontends: blocks(layout.frontends.len()),
            backends: blocks(layout.backends.len()),
            servers: layout
                .backends
                .iter()
                .map(|(_, s)| blocks(s.len()))
                .collect(),
            backend_hist: layout
                .backends
                .iter()
                .map(|_| PublishedPair::default())
                .collect(),
            server_hist: layout
                .backends
                .iter()
                .map(|(_, s)| s.iter().map(|_| PublishedPair::default()).collect())
                .collect(),
            tick: AtomicU64::new(1),
            log_drops: AtomicU64::new(0),
            parked: AtomicU64::new(0),
            pool: Default::default(),
        }
    }

    /// Publishes the worker's buffer pool: buffer size and free buffers.
    pub fn set_pool(&self, size: usize, free: usize) {
        self.pool[0].store(size as u64, Relaxed);
        self.pool[1].store(free as u64, Relaxed);
    }

    /// The buffer pool as last published: buffer size and free buffers.
    pub fn pool(&self) -> (u64, u64) {
        (self.pool[0].load(Relaxed), self.pool[1].load(Relaxed))
    }

    pub fn set_parked(&self, n: usize) {
        self.parked.store(n as u64, Relaxed);
    }

    #[inline]
    pub fn tick(&self) -> u64 {
        self.tick.load(Relaxed)
    }

    pub fn log_dropped(&self) {
        self.log_drops
            .store(self.log_drops.load(Relaxed) + 1, Relaxed);
    }

    pub fn log_drops(&self) -> u64 {
        self.log_drops.load(Relaxed)
    }
}

/// A worker's live histograms: per backend and per server, connect and response time.
#[derive(Debug)]
pub struct LocalHistograms {
    backends: Vec<[Local; 2]>,
    servers: Vec<Vec<[Local; 2]>>,
}

impl LocalHistograms {
    pub fn new(layout: &Layout) -> Self {
        Self {
            backends: layout.backends.iter().map(|_| Default::default()).collect(),
            servers: layout
                .backends
                .iter()
                .map(|(_, s)| s.iter().map(|_| Default::default()).collect())
                .collect(),
        }
    }

    /// Records `d` for backend `be` and, when known, its server `srv`.
    #[inline]
    pub fn record(&self, which: Latency, be: usize, srv: Option<usize>, d: Duration) {
        let i = which as usize;
        if let Some(b) = self.backends.get(be) {
            b[i].record(d);
        }
        if let Some(s) = srv.and_then(|s| self.servers.get(be)?.get(s)) {
            s[i].record(d);
        }
    }

    /// Publishes every changed histogram to `to`, and advances the worker's second.
    pub fn publish(&self, to: &WorkerStats) {
        for (l, p) in self.backends.iter().zip(&to.backend_hist) {
            l[0].publish(&p.0[0]);
            l[1].publish(&p.0[1]);
        }
        for (ls, ps) in self.servers.iter().zip(&to.server_hist) {
            for (l, p) in ls.iter().zip(ps) {
                l[0].publish(&p.0[0]);
                l[1].publish(&p.0[1]);
            }
        }
    }
}

/// Advances a worker's second counter (session rates count in it).
pub fn advance_tick(stats: &WorkerStats) {
    stats.tick.store(stats.tick.load(Relaxed) + 1, Relaxed);
}

/// Every worker's counters, for readers.
#[derive(Debug, Clone)]
pub struct Registry {
    layout: Arc<Layout>,
    pub(crate) workers: Vec<Arc<WorkerStats>>,
    backend_index: Arc<HashMap<String, usize>>,
    /// The totals at the last `clear counters all`, subtracted on read: the workers alone
    /// write their counters, so readers, not a reset, make them start again from zero.
    baseline: Arc<Mutex<Option<Snapshot>>>,
}

impl Registry {
    /// Counter blocks for `workers` workers over `layout`.
    pub fn new(layout: Layout, workers: usize) -> Self {
        let backend_index = layout
            .backends
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        Self {
            workers: (0..workers)
                .map(|_| Arc::new(WorkerStats::new(&layout)))
                .collect(),
            layout: Arc::new(layout),
            backend_index: Arc::new(backend_index),
            baseline: Arc::new(Mutex::new(None)),
        }
    }

    pub fn layout(&self) -> &Arc<Layout> {
        &self.layout
    }

    pub fn worker(&self, i: usize) -> &Arc<WorkerStats> {
        &self.workers[i]
    }

    /// The index of backend `name` in the layout.
    pub fn backend_index(&self) -> &Arc<HashMap<String, usize>> {
        &self.backend_index
    }

    /// `clear counters`: every peak (sessions, session and request rates, queue) starts
    /// again from what is seen next.
    pub fn clear_maxima(&self) {
        for w in &self.workers {
            let blocks = std::iter::once(&w.process)
                .chain(&w.frontends)
                .chain(&w.backends)
                .chain(w.servers.iter().flatten());
            for c in blocks {
                c.clear_maxima();
            }
        }
    }

    /// `clear counters all`: the peaks, and every total counts again from zero.
    pub fn clear_all(&self) {
        self.clear_maxima();
        let now = self.raw_snapshot();
        *self.baseline.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
    }

    /// Sums every worker's counters and merges their published histograms; totals count
    /// from the last `clear counters all`.
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = self.raw_snapshot();
        if let Some(base) = &*self.baseline.lock().unwrap_or_else(|p| p.into_inner()) {
            snap.process.subtract_totals(&base.process);
            for ((_, c), (_, b)) in snap.frontends.iter_mut().zip(&base.frontends) {
                c.subtract_totals(b);
            }
            for (be, bb) in snap.backends.iter_mut().zip(&base.backends) {
                be.counters.subtract_totals(&bb.counters);
                for (s, sb) in be.servers.iter_mut().zip(&bb.servers) {
                    s.counters.subtract_totals(&sb.counters);
                }
            }
        }
        snap
    }

    fn raw_snapshot(&self) -> Snapshot {
        let mut snap = Snapshot {
            process: CounterSnapshot::default(),
            frontends: self
                .layout
                .frontends
                .iter()
                .map(|n| (n.clone(), CounterSnapshot::default()))
                .collect(),
            backends: self
                .layout
                .backends
                .iter()
                .map(|(name, servers)| BackendSnapshot {
                    name: name.clone(),
                    counters: CounterSnapshot::default(),
                    connect: new_histogram(),
                    response: new_histogram(),
                    servers: servers
                        .iter()
                        .map(|s| ServerSnapshot {
                            name: s.clone(),
                            counters: CounterSnapshot::default(),
                            connect: new_histogram(),
                            response: new_histogram(),
                        })
                        .collect(),
                })
                .collect(),
            log_drops: 0,
            parked: 0,
        };
        for w in &self.workers {
            let tick = w.tick();
            w.process.add_to(&mut snap.process, tick);
            for (c, (_, s)) in w.frontends.iter().zip(&mut snap.frontends) {
                c.add_to(s, tick);
            }
            for (i, b) in snap.backends.iter_mut().enumerate() {
                w.backends[i].add_to(&mut b.counters, tick);
                w.backend_hist[i].0[0].add_to(&mut b.connect);
                w.backend_hist[i].0[1].add_to(&mut b.response);
                for (j, s) in b.servers.iter_mut().enumerate() {
                    w.servers[i][j].add_to(&mut s.counters, tick);
                    w.server_hist[i][j].0[0].add_to(&mut s.connect);
                    w.server_hist[i][j].0[1].add_to(&mut s.response);
                }
            }
            snap.log_drops += w.log_drops();
            snap.parked += w.parked.load(Relaxed);
        }
        snap
    }
}

/// Counters of the whole process at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub process: CounterSnapshot,
    pub frontends: Vec<(String, CounterSnapshot)>,
    pub backends: Vec<BackendSnapshot>,
    /// Log lines dropped because a log target could not take them.
    pub log_drops: u64,
    /// Idle keep-alive connections parked without a session (they count in `sess_cur`).
    pub parked: u64,
}

impl Snapshot {
    pub fn frontend(&self, name: &str) -> Option<&CounterSnapshot> {
        self.frontends
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
    }
    pub fn backend(&self, name: &str) -> Option<&BackendSnapshot> {
        self.backends.iter().find(|b| b.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct BackendSnapshot {
    pub name: String,
    pub counters: CounterSnapshot,
    /// Connect times, microseconds.
    pub connect: Histogram<u64>,
    /// Response times (request sent to response head), microseconds.
    pub response: Histogram<u64>,
    pub servers: Vec<ServerSnapshot>,
}

impl BackendSnapshot {
    pub fn server(&self, name: &str) -> Option<&ServerSnapshot> {
        self.servers.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct ServerSnapshot {
    pub name: String,
    pub counters: CounterSnapshot,
    pub connect: Histogram<u64>,
    pub response: Histogram<u64>,
}
