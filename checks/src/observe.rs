//! `observe layer4|layer7`: counting consecutive traffic errors per server on the request
//! path, and handing the checker a trigger once `error-limit` is reached.
//!
//! Workers count, as HAProxy does, in one atomic per server: a success is a load (and a
//! store only when errors were pending), an error one `fetch_add`. Nothing crosses threads
//! until the limit is reached; then a [`Trigger`] goes through a bounded channel with
//! `try_send` (a worker never waits; a full channel already holds triggers the checker has
//! yet to act on) and the checker thread is woken at once. Counters read by the checker on
//! its tick would lose the order of errors and successes that "consecutive" depends on,
//! and a message per request would put every response on a shared queue.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use ringlb_config::model::{self, OnError};
use ringlb_config::Config;

/// Triggers waiting for the checker before workers start dropping them.
const PENDING: usize = 256;

/// What one exchange with a server showed, in HAProxy's terms (its `HANA_STATUS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The connection was established.
    Connected,
    /// Connecting failed or timed out.
    ConnectFailed,
    /// A response head with this status.
    Response(u16),
    /// The response head could not be parsed.
    InvalidResponse,
    /// Reading the response failed after some of it arrived.
    ReadError,
    /// `timeout server` expired waiting for the response.
    ReadTimeout,
    /// The server closed before sending anything.
    ServerClosed,
}

impl Outcome {
    /// Whether this counts as an error (`Some(true)`), a success (`Some(false)`), or is
    /// ignored (`None`) under `observe layer7` (`layer7`) or `layer4`.
    pub fn verdict(self, layer7: bool) -> Option<bool> {
        match self {
            // A connect failure is an error in both modes; a success only counts in layer4,
            // where it is the only success there is.
            Self::ConnectFailed => Some(true),
            Self::Connected => (!layer7).then_some(false),
            // Valid statuses are 100 to 499, 501 and 505.
            Self::Response(s) => layer7.then_some(!(100..500).contains(&s) && s != 501 && s != 505),
            Self::InvalidResponse | Self::ReadError | Self::ReadTimeout | Self::ServerClosed => {
                layer7.then_some(true)
            }
        }
    }

    /// How HAProxy names it after "last one was: ".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Connected => "L4 successful connection",
            Self::ConnectFailed => "L4 unsuccessful connection",
            Self::Response(_) if self.verdict(true) == Some(false) => "Correct http response",
            Self::Response(_) => "Wrong http response",
            Self::InvalidResponse => "Invalid http response (headers)",
            Self::ReadError => "Read error (http)",
            Self::ReadTimeout => "Read timeout (http)",
            Self::ServerClosed => "Close from server (http)",
        }
    }
}

/// `error-limit` consecutive errors on one server: what the checker acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// The server's position in [`Watches`].
    pub watch: usize,
    /// The errors counted (the limit, or more when workers raced past it).
    pub errors: u32,
    pub last: Outcome,
    pub on_error: OnError,
}

impl Trigger {
    /// The `info` HAProxy logs with the resulting state change.
    pub fn info(&self) -> String {
        format!(
            "Detected {} consecutive errors, last one was: {}",
            self.errors,
            self.last.describe()
        )
    }
}

/// The channel from the workers to the checker thread, with the waker that gets it to act
/// within the same loop iteration instead of at its next timer.
pub struct Link {
    tx: Sender<Trigger>,
    rx: Receiver<Trigger>,
    waker: Mutex<Option<Waker>>,
}

impl Link {
    fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(PENDING);
        Self {
            tx,
            rx,
            waker: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Waker>> {
        self.waker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `t` without blocking and wakes the checker. The lock is only ever held to
    /// swap the waker, never across a wait.
    fn send(&self, t: Trigger) {
        match self.tx.try_send(t) {
            Ok(()) => {}
            // The checker is behind on triggers it will act on anyway: dropping one more
            // loses nothing a worker should wait for.
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => return,
        }
        if let Some(w) = self.lock().take() {
            w.wake();
        }
    }

    /// The next trigger, waiting for one (on the checker's runtime).
    pub fn recv(&self) -> Recv<'_> {
        Recv { link: self }
    }
}

/// The future returned by [`Link::recv`].
pub struct Recv<'a> {
    link: &'a Link,
}

impl Future for Recv<'_> {
    type Output = Trigger;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Trigger> {
        if let Ok(t) = self.link.rx.try_recv() {
            return Poll::Ready(t);
        }
        *self.link.lock() = Some(cx.waker().clone());
        // A trigger sent between the first look and storing the waker found no waker to
        // wake: look once more now that it is stored.
        match self.link.rx.try_recv() {
            Ok(t) => Poll::Ready(t),
            Err(_) => Poll::Pending,
        }
    }
}

impl Drop for Recv<'_> {
    fn drop(&mut self) {
        // The checker's runtime may be going away: nobody should wake it any more.
        *self.link.lock() = None;
    }
}

/// One observed server: its settings and its consecutive error count.
pub struct Watch {
    id: usize,
    layer7: bool,
    limit: u32,
    on_error: OnError,
    errors: AtomicU32,
    link: Arc<Link>,
}

// A watch is one server's: two are the same only when they are one.
impl PartialEq for Watch {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Watch {}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("layer7", &self.layer7)
            .field("limit", &self.limit)
            .field("on_error", &self.on_error)
            .field("errors", &self.errors())
            .finish()
    }
}

impl Watch {
    /// Counts one outcome of traffic to this server; called by workers on the request path.
    #[inline]
    pub fn report(&self, outcome: Outcome) {
        if let Some(t) = self.count(outcome) {
            self.link.send(t);
        }
    }

    /// Counts `outcome`; returns the trigger when it makes `error-limit` consecutive errors.
    pub fn count(&self, outcome: Outcome) -> Option<Trigger> {
        match outcome.verdict(self.layer7)? {
            false => {
                self.reset();
                None
            }
            true => {
                let errors = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
                if errors < self.limit {
                    return None;
                }
                // The count starts over once the action is taken, as in HAProxy.
                self.errors.store(0, Ordering::Relaxed);
                Some(Trigger {
                    watch: self.id,
                    errors,
                    last: outcome,
                    on_error: self.on_error,
                })
            }
        }
    }

    /// Forgets pending errors (a success, or a passed health check).
    #[inline]
    pub fn reset(&self) {
        // Most successes find nothing to clear: reading first keeps the line shared.
        if self.errors.load(Ordering::Relaxed) != 0 {
            self.errors.store(0, Ordering::Relaxed);
        }
    }

    /// Errors counted since the last success.
    pub fn errors(&self) -> u32 {
        self.errors.load(Ordering::Relaxed)
    }

    pub fn layer7(&self) -> bool {
        self.layer7
    }
}

/// Every observed server of a configuration, and the link they report through.
pub struct Watches {
    link: Arc<Link>,
    servers: Vec<(String, String, Arc<Watch>)>,
}

impl Watches {
    /// A watch for every server with `observe` and `check`: HAProxy observes only checked
    /// servers, since only checks bring a server back.
    pub fn new(config: &Config) -> Self {
        let link = Arc::new(Link::new());
        let mut servers = Vec::new();
        for p in config.backends().filter(|p| !p.disabled) {
            for s in p.servers.iter().filter(|s| s.check.enabled) {
                let Some(mode) = s.check.observe else {
                    continue;
                };
                let watch = Watch {
                    id: servers.len(),
                    layer7: mode == model::Observe::Layer7,
                    limit: s.check.error_limit.max(1),
                    on_error: s.check.on_error.unwrap_or(OnError::FailCheck),
                    errors: AtomicU32::new(0),
                    link: link.clone(),
                };
                servers.push((p.name.clone(), s.name.clone(), Arc::new(watch)));
            }
        }
        Self { link, servers }
    }

    /// The watch of `backend/server`, when it is observed.
    pub fn get(&self, backend: &str, server: &str) -> Option<Arc<Watch>> {
        self.servers
            .iter()
            .find(|(b, s, _)| b == backend && s == server)
            .map(|(_, _, w)| w.clone())
    }

    /// Every watch with its backend and server names, in [`Trigger::watch`] order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &Arc<Watch>)> {
        self.servers
            .iter()
            .map(|(b, s, w)| (b.as_str(), s.as_str(), w))
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }
}

#[cfg(test)]
#[path = "observe_tests.rs"]
mod tests;
