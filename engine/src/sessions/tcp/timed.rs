//! Inactivity timeouts shared by both directions of a tunnel, and waiting under them:
//! only drop-safe waits (readiness, a TLS read, which the kernel writes nothing into) are
//! run under them, and are simply abandoned when the tunnel has been idle too long.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use monoio::time::{sleep_until, Instant};

/// When either direction of a tunnel last moved a byte.
pub struct Activity(Cell<Instant>);

impl Activity {
    pub fn new() -> Self {
        Self(Cell::new(Instant::now()))
    }
    pub fn touch(&self) {
        self.0.set(Instant::now());
    }
    fn deadline(&self, idle: Duration) -> Instant {
        self.0.get() + idle
    }
}

/// Polls `fut` until it completes or `timer` fires, whichever first.
async fn race<F: Future>(fut: std::pin::Pin<&mut F>, deadline: Instant) -> Option<F::Output> {
    let mut fut = fut;
    let mut timer = pin!(sleep_until(deadline));
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Runs a future that may be dropped without losing data (a readiness wait) until it
/// completes or the tunnel has been idle for `idle`. `None` means timed out.
pub async fn until_idle<F: Future>(
    fut: F,
    idle: Option<Duration>,
    act: &Activity,
) -> Option<F::Output> {
    let Some(idle) = idle else {
        return Some(fut.await);
    };
    let mut fut = pin!(fut);
    loop {
        let deadline = act.deadline(idle);
        if deadline <= Instant::now() {
            return None;
        }
        if let Some(out) = race(fut.as_mut(), deadline).await {
            return Some(out);
        }
    }
}
