//! The control → worker channel: `ShardEvent`s over a crossbeam channel, plus a socketpair
//! byte that wakes the worker's event loop so it reacts at once instead of polling.

use crate::backend::BackendTable;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use monoio::io::AsyncReadRent;

/// What the control thread tells a worker.
#[derive(Debug, Clone)]
pub enum ShardEvent {
    /// Stop now: close listeners and every connection.
    Stop,
    /// Close listeners, let in-flight connections finish, then stop.
    SoftStop,
    /// `hard-stop-after` expired: end the exchanges still under way as killed (a request
    /// waiting for its response is answered 502 and logged `KH`), then stop.
    Kill,
    /// A server went up or down (health check or runtime API).
    SetServerState {
        backend: String,
        server: String,
        up: bool,
    },
    /// A server's weight changed (0 means no new traffic).
    SetWeight {
        backend: String,
        server: String,
        weight: u16,
    },
    /// `set server … addr`: new connections to the server go to `ip` and `port`.
    SetServerAddr {
        backend: String,
        server: String,
        ip: std::net::IpAddr,
        port: Option<ringlb_config::model::PortSpec>,
    },
    /// Stop accepting new clients for now (SIGTTOU); queued clients wait.
    Pause,
    /// Accept again after `Pause` (SIGTTIN).
    Resume,
    /// `disable|enable|shutdown frontend`: the frontend at this index (`FrontendPlan::index`)
    /// refuses clients, accepts again, or closes its sockets for good.
    SetFrontendState {
        frontend: usize,
        state: crate::worker::frontends::FrontendState,
    },
    /// `show sess`: this worker's client connections.
    ShowSessions {
        reply: Sender<Vec<crate::worker::streams::StreamInfo>>,
    },
    /// `shutdown session ID`: ends the client connection `id` if this worker has it.
    ShutdownSession { id: u64, reply: Sender<bool> },
    /// `shutdown sessions server B/S`: ends the server's connections in use by requests.
    ShutdownServerSessions { backend: String, server: String },
    /// Report every server's state (for the process taking over).
    ReportServerState {
        reply: Sender<Vec<crate::backend::ServerStatus>>,
    },
    /// Liveness probe: the worker answers with its index and the time since `sent`.
    Probe {
        sent: Instant,
        reply: Sender<(usize, Duration)>,
    },
}

impl ShardEvent {
    /// Applies a server event to `table` when it is addressed to it; returns whether it
    /// changed anything.
    pub fn apply_to(&self, table: &BackendTable) -> bool {
        match self {
            Self::SetServerState {
                backend,
                server,
                up,
            } if *backend == table.name() => table
                .server_id(server)
                .map(|id| table.set_server_state(id, *up))
                .is_some(),
            Self::SetWeight {
                backend,
                server,
                weight,
            } if *backend == table.name() => table
                .server_id(server)
                .map(|id| table.set_weight(id, *weight))
                .is_some(),
            Self::SetServerAddr {
                backend,
                server,
                ip,
                port,
            } if *backend == table.name() => table
                .server_id(server)
                .map(|id| table.set_addr(id, *ip, *port))
                .is_some(),
            Self::ShutdownServerSessions { backend, server } if *backend == table.name() => table
                .server_id(server)
                .map(|id| table.shut_down_sessions(id))
                .is_some(),
            _ => false,
        }
    }
}

/// The control side of one worker's inbox.
pub struct InboxSender {
    tx: Sender<ShardEvent>,
    wake: StdUnixStream,
}

/// The worker side of its inbox, before the worker's runtime exists.
pub struct InboxReceiver {
    rx: Receiver<ShardEvent>,
    wake: StdUnixStream,
}

/// One inbox (sender + receiver pair) for a worker.
pub fn inbox() -> io::Result<(InboxSender, InboxReceiver)> {
    let (a, b) = StdUnixStream::pair()?;
    // The control end never blocks: a full socket buffer already means "wake up".
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    let (tx, rx) = crossbeam_channel::unbounded();
    Ok((InboxSender { tx, wake: a }, InboxReceiver { rx, wake: b }))
}

impl InboxSender {
    /// Queues `event` and wakes the worker. Fails only when the worker is gone.
    pub fn send(&self, event: ShardEvent) -> Result<(), ShardEvent> {
        self.tx.send(event).map_err(|e| e.0)?;
        match (&self.wake).write(&[1]) {
            Ok(_) => Ok(()),
            // A full buffer holds unread wake-ups already; the worker drains the whole queue.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            // The worker closed its end: it has stopped; the event is moot.
            Err(_) => Ok(()),
        }
    }
}

/// Every worker's inbox, as the control thread holds them.
#[derive(Default)]
pub struct Inboxes {
    senders: Vec<InboxSender>,
    /// A stop (soft or hard) went to every worker: `show info`'s `Stopping`.
    stopping: std::sync::atomic::AtomicBool,
}

impl Inboxes {
    pub fn new(senders: Vec<InboxSender>) -> Self {
        Self {
            senders,
            stopping: Default::default(),
        }
    }

    /// Whether the workers were told to stop.
    pub fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends `event` to worker `i` (from 0); false when there is no such worker running.
    pub fn send_to(&self, i: usize, event: ShardEvent) -> bool {
        self.senders.get(i).is_some_and(|s| s.send(event).is_ok())
    }

    /// Sends a copy of `event` to every worker still running.
    pub fn broadcast(&self, event: &ShardEvent) {
        if matches!(
            event,
            ShardEvent::SoftStop | ShardEvent::Stop | ShardEvent::Kill
        ) {
            self.stopping
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        for s in &self.senders {
            let _ = s.send(event.clone());
        }
    }

    /// Sends `event` to every worker and waits (up to `within`) until each has applied it,
    /// so a runtime command answers once its change holds everywhere. Each worker applies
    /// its events in order, so its answer to a probe sent after `event` says it is done.
    pub fn broadcast_and_wait(&self, event: &ShardEvent, within: Duration) {
        self.broadcast(event);
        self.wait_applied(within);
    }

    /// Waits (up to `within`) until every worker has applied the events sent so far.
    pub fn wait_applied(&self, within: Duration) {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.broadcast(&ShardEvent::Probe {
            sent: Instant::now(),
            reply: tx,
        });
        let deadline = Instant::now() + within;
        for _ in 0..self.senders.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if rx.recv_timeout(left).is_err() {
                break;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.senders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }
}

/// The worker side of an inbox inside the worker's runtime.
pub struct WorkerInbox {
    rx: Receiver<ShardEvent>,
    wake: monoio::net::UnixStream,
    scratch: Option<Vec<u8>>,
}

impl InboxReceiver {
    /// Registers the wake-up socket with the calling thread's runtime.
    pub fn into_worker(self) -> io::Result<WorkerInbox> {
        let wake = monoio::net::UnixStream::from_std(self.wake)?;
        Ok(WorkerInbox {
            rx: self.rx,
            wake,
            scratch: Some(Vec::with_capacity(64)),
        })
    }

    /// Drains pending events without a runtime (for a worker that failed to start).
    pub fn drain(&mut self) -> Vec<ShardEvent> {
        let mut buf = [0u8; 64];
        while matches!(self.wake.read(&mut buf), Ok(n) if n > 0) {}
        self.rx.try_iter().collect()
    }
}

impl WorkerInbox {
    /// Waits until at least one event is queued and returns all queued events.
    /// A vanished control side reads as `Stop`.
    pub async fn next_batch(&mut self) -> Vec<ShardEvent> {
        loop {
            let mut batch = Vec::new();
            loop {
                match self.rx.try_recv() {
                    Ok(ev) => batch.push(ev),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        batch.push(ShardEvent::Stop);
                        return batch;
                    }
                }
            }
            if !batch.is_empty() {
                return batch;
            }
            // Events are queued before their wake byte is written, so draining first and
            // then waiting for a byte never misses one.
            let buf = self
                .scratch
                .take()
                .unwrap_or_else(|| Vec::with_capacity(64));
            let (res, mut buf) = self.wake.read(buf).await;
            buf.clear();
            self.scratch = Some(buf);
            match res {
                Ok(0) => return vec![ShardEvent::Stop],
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return vec![ShardEvent::Stop],
            }
        }
    }
}

#[cfg(test)]
mod apply_tests {
    use super::ShardEvent;
    use crate::backend::tests::{server, table};

    #[test]
    fn server_events_change_only_the_backend_they_name() {
        let t = table(vec![server("a", 1, false), server("b", 1, false)]);
        let a = t.server_id("a").unwrap();
        assert!(ShardEvent::SetServerState {
            backend: "be".into(),
            server: "a".into(),
            up: false
        }
        .apply_to(&t));
        assert!(!t.is_usable(a));
        assert!(!ShardEvent::SetWeight {
            backend: "other".into(),
            server: "a".into(),
            weight: 3
        }
        .apply_to(&t));
        assert_eq!(t.weight(a), 1);
        assert!(!ShardEvent::SetServerState {
            backend: "be".into(),
            server: "nosuch".into(),
            up: false
        }
        .apply_to(&t));
    }
}
