//! Connection counts shared by every worker: one padded set of atomics per server and per
//! backend, the `maxconn` / `minconn` + `fullconn` limits read from them, and the slot a
//! request holds while it uses a server connection.
//!
//! A slot is taken when a request gets a server connection and given back when its exchange
//! ends; idle pooled connections hold none, as in HAProxy, so `leastconn` and `maxconn`
//! see requests in progress.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// One server's counters, on a cache line of its own: workers update them on every request.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ServerLoad {
    /// Requests using a connection to this server now, across all workers.
    pub conns: AtomicU32,
    /// Requests waiting in this server's queues, across all workers.
    pub queued: AtomicU32,
    /// `maxconn` (0: no limit); the runtime API may change it (`set maxconn server`).
    pub maxconn: AtomicU32,
    /// The `maxconn` the configuration gave, to tell a run-time change from it.
    pub configured_maxconn: u32,
    /// `minconn` (0: none): the limit at low backend load when `fullconn` applies.
    pub minconn: u32,
    /// `maxqueue` (0: no limit).
    pub maxqueue: u32,
}

impl ServerLoad {
    pub fn new(maxconn: Option<u32>, minconn: Option<u32>, maxqueue: Option<u32>) -> Self {
        Self {
            maxconn: AtomicU32::new(maxconn.unwrap_or(0)),
            configured_maxconn: maxconn.unwrap_or(0),
            minconn: minconn.unwrap_or(0),
            maxqueue: maxqueue.unwrap_or(0),
            ..Self::default()
        }
    }

    pub fn current(&self) -> u32 {
        self.conns.load(Ordering::Relaxed)
    }

    /// The server's `maxconn` now (0: no limit).
    pub fn maxconn(&self) -> u32 {
        self.maxconn.load(Ordering::Relaxed)
    }

    /// The concurrent connections this server accepts now. With `minconn` and a backend
    /// `fullconn`, the limit grows with the backend's load: `minconn` while the backend is
    /// quiet, `maxconn` once it carries `fullconn` requests, proportionally in between.
    pub fn limit(&self, backend_load: u32, fullconn: u32) -> u32 {
        let maxconn = self.maxconn();
        if maxconn == 0 {
            return u32::MAX;
        }
        if self.minconn == 0 || self.minconn >= maxconn || fullconn == 0 {
            return maxconn;
        }
        if backend_load >= fullconn {
            return maxconn;
        }
        let scaled = u64::from(backend_load) * u64::from(maxconn) / u64::from(fullconn);
        (scaled as u32).max(self.minconn).max(1)
    }

    /// Whether a new request must wait: the server is at its limit, or others already wait
    /// for it and would be overtaken.
    pub fn full(&self, backend_load: u32, fullconn: u32) -> bool {
        self.maxconn() != 0
            && (self.queued.load(Ordering::Relaxed) > 0
                || self.current() >= self.limit(backend_load, fullconn))
    }

    /// Whether the server's queue has room for one more request (`maxqueue`).
    pub fn queue_has_room(&self) -> bool {
        self.maxqueue == 0 || self.queued.load(Ordering::Relaxed) < self.maxqueue
    }
}

/// A backend's counters and limits shared by every worker.
#[derive(Debug)]
pub struct BackendLoad {
    /// The round-robin position (see [`crate::backend::lb::roundrobin`]). Padded with the rest:
    /// one relaxed `fetch_add` per pick.
    pub cursor: AtomicU64,
    /// Requests assigned to this backend now, queued or connected (HAProxy's `beconn`):
    /// the load `fullconn` compares against.
    pub sessions: AtomicU32,
    /// Requests using a server connection now.
    pub conns: AtomicU32,
    /// Requests waiting in the backend queue, across all workers.
    pub queued: AtomicU32,
    /// Backend `maxconn` (0: no limit on the sum of server connections).
    pub maxconn: u32,
    /// `fullconn` (0: `minconn` does not apply).
    pub fullconn: u32,
    pub servers: Vec<Arc<ServerLoad>>,
}

impl BackendLoad {
    pub fn new(servers: Vec<Arc<ServerLoad>>, maxconn: u32, fullconn: u32) -> Self {
        Self {
            cursor: AtomicU64::new(0),
            sessions: AtomicU32::new(0),
            conns: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            maxconn,
            fullconn,
            servers,
        }
    }

    pub fn next_cursor(&self) -> u64 {
        self.cursor.fetch_add(1, Ordering::Relaxed)
    }

    pub fn load(&self) -> u32 {
        self.sessions.load(Ordering::Relaxed)
    }

    /// Whether server `i` must not take a new request now (see [`ServerLoad::full`]).
    pub fn server_full(&self, i: usize) -> bool {
        (self.maxconn != 0 && self.conns.load(Ordering::Relaxed) >= self.maxconn)
            || self.servers[i].full(self.load(), self.fullconn)
    }

    /// Counts one request in the backend until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>) -> Assigned {
        self.sessions.fetch_add(1, Ordering::Relaxed);
        Assigned(self.clone())
    }

    /// Takes a connection slot on server `i` if both its limit and the backend's allow it.
    /// Queue order is the caller's business; this only enforces the counts.
    pub fn try_take(&self, i: usize) -> bool {
        let s = &self.servers[i];
        let limit = s.limit(self.load(), self.fullconn);
        if !bump_below(&s.conns, limit) {
            return false;
        }
        let be_limit = if self.maxconn == 0 {
            u32::MAX
        } else {
            self.maxconn
        };
        if !bump_below(&self.conns, be_limit) {
            s.conns.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn give_back(&self, i: usize) {
        self.servers[i].conns.fetch_sub(1, Ordering::Relaxed);
        self.conns.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Increments `counter` unless it already reached `limit`.
fn bump_below(counter: &AtomicU32, limit: u32) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
            (n < limit).then_some(n + 1)
        })
        .is_ok()
}

/// A request counted in its backend's load (`sessions`) until dropped.
#[derive(Debug)]
pub struct Assigned(Arc<BackendLoad>);

impl Drop for Assigned {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One counted connection slot on one server. Dropping it gives the slot back and wakes
/// this worker's first waiter for that server or backend.
///
/// It also carries the connection's registration for `on-marked-down shutdown-sessions`
/// (see `in_flight`): whoever holds the slot must drop it no later than the connection.
pub struct ConnSlot {
    pub(super) server: usize,
    pub(super) backend: Arc<BackendLoad>,
    pub(super) _assigned: Assigned,
    pub(super) on_release: Option<std::rc::Rc<crate::backend::queue::Waiters>>,
    pub(super) tracked: Option<crate::backend::in_flight::Tracked>,
    /// When a request that waited in a queue got this slot (`None`: it did not wait).
    pub(super) dequeued_at: Option<std::time::Instant>,
}

impl ConnSlot {
    /// The server the slot counts against (its position in the backend).
    pub fn server(&self) -> usize {
        self.server
    }

    /// When the request holding the slot left a queue for it: the end of its `Tw`.
    pub fn dequeued_at(&self) -> Option<std::time::Instant> {
        self.dequeued_at
    }

    /// Moves the slot to `server`, whose count the caller already took (redispatch).
    pub(super) fn move_to(&mut self, server: usize) {
        let old = std::mem::replace(&mut self.server, server);
        self.backend.give_back(old);
        if let Some(w) = &self.on_release {
            w.slot_freed(old);
        }
    }
}

impl std::fmt::Debug for ConnSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnSlot")
            .field("server", &self.server)
            .finish()
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.backend.give_back(self.server);
        if let Some(w) = &self.on_release {
            w.slot_freed(self.server);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_without_minconn_is_maxconn_and_none_is_unlimited() {
        assert_eq!(ServerLoad::new(None, None, None).limit(5, 100), u32::MAX);
        assert_eq!(ServerLoad::new(Some(4), None, None).limit(5, 100), 4);
    }

    /// Seed 003 (section 7): `minconn 4 maxconn 12`, a listen with `maxconn 10000` whose
    /// `fullconn` defaults to a tenth of it: 4 per server at low load, growing to 12.
    #[test]
    fn dynamic_limit_grows_from_minconn_to_maxconn_with_backend_load() {
        let s = ServerLoad::new(Some(12), Some(4), None);
        let fullconn = 1000;
        assert_eq!(s.limit(0, fullconn), 4);
        assert_eq!(
            s.limit(200, fullconn),
            4,
            "12 * 200 / 1000 = 2.4 stays at minconn"
        );
        assert_eq!(s.limit(500, fullconn), 6);
        assert_eq!(s.limit(1000, fullconn), 12);
        assert_eq!(s.limit(3000, fullconn), 12);
        // The seed's worked example: 3000 clients over 3 servers held to 4 connections each,
        // 10 ms per request, wait at most 3000 / 3 / 4 * 10 ms = 2.5 s in the queue.
        let waits_ms = 3000 / 3 / s.limit(0, fullconn) * 10;
        assert_eq!(waits_ms, 2500);
    }

    #[test]
    fn try_take_respects_server_and_backend_limits() {
        let servers = vec![
            Arc::new(ServerLoad::new(Some(1), None, None)),
            Arc::new(ServerLoad::new(None, None, None)),
        ];
        let be = BackendLoad::new(servers, 2, 0);
        assert!(be.try_take(0));
        assert!(!be.try_take(0), "server maxconn 1");
        assert!(be.try_take(1));
        assert!(!be.try_take(1), "backend maxconn 2");
        be.give_back(0);
        assert!(be.try_take(1));
        assert_eq!(be.servers[1].current(), 2);
    }
}
