//! Giving a request a server and a connection slot on it: persistence first, then the
//! `balance` algorithm, then the `maxconn` gate with its queues.
//!
//! As in HAProxy: a request bound to one server (a persistence cookie, or a hash key) waits
//! in that server's queue when the server is full; any other request waits in the backend
//! queue and takes the first server that frees a slot. A server queue at `maxqueue` sends
//! the request to the backend queue instead (persistence is then broken). New requests do
//! not overtake queued ones. The wait is bounded by `timeout queue`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::backend::upstream::{Pick, UpstreamError};

use crate::backend::load::{Assigned, ConnSlot};
use crate::backend::queue::Ticket;
use crate::backend::{BackendTable, ServerId};

/// A server and a slot on it for one request.
pub(super) struct Assignment {
    pub server: ServerId,
    pub slot: ConnSlot,
    /// The server is the one the persistence cookie named.
    pub persisted: bool,
}

/// Counts a request in a shared queue length while it waits.
struct Queued<'a>(&'a AtomicU32);

impl<'a> Queued<'a> {
    fn enter(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl BackendTable {
    /// Chooses the server for `pick` and waits for a slot on it (or on any server).
    pub(super) async fn assign(&self, pick: &Pick<'_>) -> Result<Assignment, UpstreamError> {
        let assigned = self.load.enter();
        let deadline = self.lb.queue_timeout.map(|t| Instant::now() + t);

        if let Some(id) = self.persistent_target(pick) {
            if self.load.servers[id.0].queue_has_room() {
                let slot = self.wait_for_server(id, assigned, deadline).await?;
                return Ok(Assignment {
                    server: id,
                    slot,
                    persisted: true,
                });
            }
        }

        let picked = (self.load.queued.load(Ordering::Relaxed) == 0)
            .then(|| self.pick_server(pick, None, true))
            .flatten();
        if let Some(id) = picked {
            if !self.load.server_full(id.0) {
                if self.load.try_take(id.0) {
                    return Ok(self.assignment(id, assigned));
                }
            } else if self.load.servers[id.0].queue_has_room() {
                // Only a key-bound algorithm returns a full server: the key waits for it.
                let slot = self.wait_for_server(id, assigned, deadline).await?;
                return Ok(Assignment {
                    server: id,
                    slot,
                    persisted: false,
                });
            }
        }
        if self.usable_count() == 0 {
            return Err(UpstreamError::NoServer);
        }
        self.wait_for_any(pick, assigned, deadline).await
    }

    /// The server a persistence cookie names, when it may take the request: enabled and
    /// up (even in drain, weight 0), or down with `option persist`; with `force-persist`,
    /// down or in maintenance too.
    fn persistent_target(&self, pick: &Pick<'_>) -> Option<ServerId> {
        let id = ServerId(pick.prefer?);
        let s = self.servers.get(id.0)?;
        let usable = !s.conf.disabled && (s.up.get() || self.lb.persist);
        (usable || pick.force_persist).then_some(id)
    }

    fn assignment(&self, server: ServerId, assigned: Assigned) -> Assignment {
        Assignment {
            server,
            slot: self.slot(server, assigned),
            persisted: false,
        }
    }

    /// Wraps a slot already counted by `try_take`.
    pub(super) fn slot(&self, server: ServerId, assigned: Assigned) -> ConnSlot {
        self.balancer.borrow().conn_taken(server);
        ConnSlot {
            server: server.0,
            backend: self.load.clone(),
            _assigned: assigned,
            on_release: Some(self.waiters.clone()),
            tracked: None,
            dequeued_at: None,
        }
    }

    /// Waits in `id`'s queue for a slot on `id`.
    async fn wait_for_server(
        &self,
        id: ServerId,
        assigned: Assigned,
        deadline: Option<Instant>,
    ) -> Result<ConnSlot, UpstreamError> {
        if !self.load.server_full(id.0) && self.load.try_take(id.0) {
            return Ok(self.slot(id, assigned));
        }
        let _queued = Queued::enter(&self.load.servers[id.0].queued);
        let ticket = Ticket::join(&self.waiters.servers[id.0]);
        let wait = async {
            loop {
                if ticket.is_first() && self.load.try_take(id.0) {
                    return;
                }
                ticket.wait_turn().await;
            }
        };
        until(deadline, wait).await?;
        Ok(dequeued(self.slot(id, assigned)))
    }

    /// Waits in the backend queue for a slot on whichever server frees one first.
    async fn wait_for_any(
        &self,
        pick: &Pick<'_>,
        assigned: Assigned,
        deadline: Option<Instant>,
    ) -> Result<Assignment, UpstreamError> {
        let _queued = Queued::enter(&self.load.queued);
        let ticket = Ticket::join(&self.waiters.backend);
        let wait = async {
            loop {
                if ticket.is_first() {
                    if let Some(id) = self.take_any(pick) {
                        return id;
                    }
                }
                ticket.wait_turn().await;
            }
        };
        let id = until(deadline, wait).await?;
        Ok(Assignment {
            server: id,
            slot: dequeued(self.slot(id, assigned)),
            persisted: false,
        })
    }

    /// A slot on the server the algorithm prefers among those with room, or on any
    /// eligible server with room.
    fn take_any(&self, pick: &Pick<'_>) -> Option<ServerId> {
        if let Some(id) = self.pick_server(pick, None, true) {
            if self.load.try_take(id.0) {
                return Some(id);
            }
        }
        let backup_only = self.servers.iter().all(|s| s.conf.backup || !s.usable());
        (0..self.servers.len())
            .map(ServerId)
            .filter(|&id| self.is_usable(id) && self.servers[id.0].conf.backup == backup_only)
            .find(|&id| self.load.try_take(id.0))
    }
}

/// Marks `slot` as given to a request that waited for it, now (the end of its `Tw`).
fn dequeued(mut slot: ConnSlot) -> ConnSlot {
    slot.dequeued_at = Some(Instant::now());
    slot
}

/// Runs `wait` until `deadline`; past it, the queue timed out.
async fn until<T>(
    deadline: Option<Instant>,
    wait: impl std::future::Future<Output = T>,
) -> Result<T, UpstreamError> {
    match deadline {
        None => Ok(wait.await),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            crate::io::timed::within(left.max(Duration::from_micros(1)), wait)
                .await
                .map_err(|_| UpstreamError::QueueTimeout)
        }
    }
}
