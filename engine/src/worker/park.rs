//! Idle keep-alive connections, parked. A client connection that stays idle between requests
//! for [`PARK_AFTER`] ends its session: the session hands the connection back
//! ([`IdleConn`]), its task and futures are freed, and the connection waits here as one slab
//! entry (descriptor, a few addresses and counters, its frontend) registered in the worker's
//! own epoll set, with its keep-alive deadline in a heap. One task per worker watches the
//! set: a connection the client writes to (or closes) gets a new session at once; one whose
//! deadline passes is closed, as an idle session would have been.
//!
//! What a parked connection costs: about two hundred bytes here and an epoll item in the
//! kernel, where a waiting session held its whole future (kilobytes) and a timer. What
//! parking costs: one `epoll_ctl` when the connection parks and a share of one `epoll_wait`
//! when it wakes, paid only by connections idle that long; a busy keep-alive connection
//! never parks, so the request path is unchanged.
//!
//! The same epoll set serves both drivers: the runtime only watches its descriptor for
//! readiness (a poll on io_uring, a registration on epoll).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use monoio::time::Instant;
use slab::Slab;

use crate::metrics::WorkerStats;
use crate::sessions::http::session::SOFT_STOP_IDLE;
use crate::sessions::http::IdleConn;
use crate::worker::event_loop::{Admitted, Worker};

/// How long a keep-alive connection idles before it is parked. Long enough that a client in
/// active use (a browser fetching a page's resources, a load generator) never parks; short
/// enough that connections left open by idle clients cost little within a fraction of a
/// second.
pub const PARK_AFTER: Duration = Duration::from_millis(250);

/// Events taken from the epoll set per call.
const EVENTS: usize = 64;

/// One parked connection.
struct Entry {
    /// Told apart from an earlier entry in the same slot: epoll events and heap items carry it.
    generation: u32,
    /// When the keep-alive timeout closes it; `None`: no timeout applies.
    deadline: Option<Instant>,
    conn: Admitted,
    idle: IdleConn,
}

/// A worker's parked connections.
pub struct Parking {
    /// The epoll set, as the runtime sees it: only its readiness is ever asked for. Owns the
    /// descriptor.
    set: monoio::net::UnixStream,
    entries: RefCell<Slab<Entry>>,
    /// Deadlines, earliest first: (when, slot, generation). An item whose entry is gone, or
    /// whose entry's deadline moved, is skipped when it comes up.
    deadlines: RefCell<BinaryHeap<Reverse<(Instant, usize, u32)>>>,
    generation: Cell<u32>,
    /// The watching task sleeps until this deadline (or for readiness).
    sleeping_until: Cell<Option<Instant>>,
    /// The watching task, woken when a deadline earlier than its sleep comes in.
    watcher: Cell<Option<Waker>>,
    nudged: Cell<bool>,
    /// Where the count of parked connections is published (`Snapshot::parked`).
    stats: Arc<WorkerStats>,
}

impl Parking {
    /// An empty set, for the calling worker's runtime, publishing its count in `stats`.
    pub fn new(stats: Arc<WorkerStats>) -> io::Result<Self> {
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nobody else. It is no Unix stream: the
        // wrapper is the runtime's way to watch any descriptor's readiness, and nothing is
        // ever read from or written to it.
        let std = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
        Ok(Self {
            set: monoio::net::UnixStream::from_std(std)?,
            entries: RefCell::new(Slab::new()),
            deadlines: RefCell::new(BinaryHeap::new()),
            generation: Cell::new(0),
            sleeping_until: Cell::new(None),
            watcher: Cell::new(None),
            nudged: Cell::new(false),
            stats,
        })
    }

    /// Connections parked now.
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parks `idle` until its client sends something, closes, or its keep-alive timeout
    /// passes. When the epoll set refuses it (out of memory), its session resumes instead.
    fn park(&self, worker: &Worker, mut conn: Admitted, idle: IdleConn) {
        let fe = conn.plan.http.as_ref();
        let mut deadline = fe
            .and_then(|fe| fe.keep_alive_timeout())
            .map(|t| idle.idle_since + t);
        if worker.stopping().is_set() {
            deadline = Some(soft_stop_deadline(deadline));
        }
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        let mut entries = self.entries.borrow_mut();
        let slot = entries.vacant_key();
        let fd = idle.client.as_raw_fd();
        if let Err(e) = self.watch(fd, slot, generation, conn.watched) {
            drop(entries);
            eprintln!(
                "ringlb: worker {}: cannot park a connection: {e}",
                worker.index + 1
            );
            monoio::spawn(resume(conn, idle));
            return;
        }
        conn.watched = true;
        entries.insert(Entry {
            generation,
            deadline,
            conn,
            idle,
        });
        self.stats.set_parked(entries.len());
        drop(entries);
        if let Some(d) = deadline {
            self.deadlines
                .borrow_mut()
                .push(Reverse((d, slot, generation)));
            if self.sleeping_until.get().is_none_or(|s| d < s) {
                self.nudge();
            }
        }
    }

    /// Arms `fd` in the set for one readiness event carrying `slot` and `generation`. A
    /// descriptor parked before is still in the set, disarmed since its event came.
    fn watch(&self, fd: i32, slot: usize, generation: u32, known: bool) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
            u64: (u64::from(generation) << 32) | slot as u64,
        };
        let set = self.set.as_raw_fd();
        // SAFETY: both descriptors are open; `ev` is a valid event for the call.
        let mut ctl = |op| match unsafe { libc::epoll_ctl(set, op, fd, &mut ev) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        };
        let (first, other) = match known {
            true => (libc::EPOLL_CTL_MOD, libc::EPOLL_CTL_ADD),
            false => (libc::EPOLL_CTL_ADD, libc::EPOLL_CTL_MOD),
        };
        // The guess is wrong only if the descriptor left the set (or never did) behind our
        // back: try the other operation once.
        match ctl(first) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOENT)) => ctl(other),
            r => r,
        }
    }

    fn nudge(&self) {
        self.nudged.set(true);
        if let Some(w) = self.watcher.take() {
            w.wake();
        }
    }

    /// Takes the entries whose clients wrote or closed, as the set reports them now.
    fn take_ready(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        loop {
            // SAFETY: `events` is writable for EVENTS entries; a zero timeout never blocks.
            let n = unsafe {
                libc::epoll_wait(self.set.as_raw_fd(), events.as_mut_ptr(), EVENTS as i32, 0)
            };
            if n <= 0 {
                return out;
            }
            let mut entries = self.entries.borrow_mut();
            for ev in &events[..n as usize] {
                let data = ev.u64;
                let (slot, generation) = ((data & 0xffff_ffff) as usize, (data >> 32) as u32);
                if entries
                    .get(slot)
                    .is_some_and(|e| e.generation == generation)
                {
                    out.push(entries.remove(slot));
                }
            }
            self.stats.set_parked(entries.len());
            if (n as usize) < EVENTS {
                return out;
            }
        }
    }

    /// Takes the entries whose deadline passed; returns them and the next deadline.
    fn take_expired(&self, now: Instant) -> (Vec<Entry>, Option<Instant>) {
        let mut out = Vec::new();
        let mut next = None;
        let mut heap = self.deadlines.borrow_mut();
        let mut entries = self.entries.borrow_mut();
        while let Some(&Reverse((at, slot, generation))) = heap.peek() {
            if at > now {
                next = Some(at);
                break;
            }
            heap.pop();
            let due = entries.get(slot).is_some_and(|e| {
                e.generation == generation && e.deadline.is_some_and(|d| d <= now)
            });
            if due {
                out.push(entries.remove(slot));
            }
        }
        self.stats.set_parked(entries.len());
        if entries.is_empty() {
            // A burst of parked connections is gone (what the heap still holds is stale):
            // give its memory back.
            heap.clear();
            entries.shrink_to_fit();
            heap.shrink_to_fit();
            next = None;
        }
        (out, next)
    }

    /// The process stops softly: every parked connection gets the last moment an idle
    /// session would have had to send one more request.
    fn stopping(&self) {
        let mut entries = self.entries.borrow_mut();
        let mut heap = self.deadlines.borrow_mut();
        for (slot, e) in entries.iter_mut() {
            let d = soft_stop_deadline(e.deadline);
            e.deadline = Some(d);
            heap.push(Reverse((d, slot, e.generation)));
        }
    }

    /// Closes every parked connection (the worker is ending).
    pub fn clear(&self) {
        let all: Vec<Entry> = self.entries.borrow_mut().drain().collect();
        self.deadlines.borrow_mut().clear();
        self.stats.set_parked(0);
        close(all);
    }
}

/// Closes parked connections. Their sockets are shut down at once: on io_uring a dropped
/// socket is closed by an operation the runtime submits later, which a worker ending right
/// after (its last connection gone) may never submit, leaving the client waiting.
fn close(entries: Vec<Entry>) {
    for e in entries {
        e.idle.client.abort();
    }
}

/// The deadline of a connection idle while the process stops softly.
fn soft_stop_deadline(deadline: Option<Instant>) -> Instant {
    let last = Instant::now() + SOFT_STOP_IDLE;
    deadline.map_or(last, |d| d.min(last))
}

/// The worker's watching task: resumes the sessions of connections that became readable,
/// closes those whose deadline passed.
pub async fn watch(worker: Rc<Worker>) {
    let Some(parking) = &worker.parking else {
        return;
    };
    let mut stop_seen = false;
    loop {
        for e in parking.take_ready() {
            monoio::spawn(resume(e.conn, e.idle));
        }
        let (expired, next) = parking.take_expired(Instant::now());
        // Closed as a session ending on its keep-alive timeout would be: no response, no
        // log line (no request came), the connection's counters released with it.
        close(expired);
        if !stop_seen && worker.stopping().is_set() {
            stop_seen = true;
            parking.stopping();
            continue;
        }
        parking.sleeping_until.set(next);
        let ready = parking.set.readable(false);
        let sleep = async {
            match next {
                Some(at) => monoio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let nudged = poll_fn(|cx| {
            if parking.nudged.take() {
                return Poll::Ready(());
            }
            parking.watcher.set(Some(cx.waker().clone()));
            Poll::Pending
        });
        let stop = async {
            if stop_seen {
                std::future::pending::<()>().await;
            }
            worker.stopping().wait().await;
        };
        monoio::select! {
            _ = ready => {}
            _ = sleep => {}
            _ = nudged => {}
            _ = stop => {}
        }
        parking.sleeping_until.set(None);
    }
}

/// Parks a connection gone idle in its worker; without a parking set, it is served again
/// by a session that keeps it to the end.
pub fn park(worker: &Worker, conn: Admitted, idle: IdleConn) {
    match &worker.parking {
        Some(p) => p.park(worker, conn, idle),
        None => {
            monoio::spawn(resume(conn, idle));
        }
    }
}

/// Serves a parked connection again, and parks it again if it goes idle again.
async fn resume(conn: Admitted, idle: IdleConn) {
    let worker = conn.worker.clone();
    let again = crate::worker::dispatch::resume_http_connection(&worker, &conn.plan, idle).await;
    if let Some(idle) = again {
        park(&worker, conn, idle);
    }
}
