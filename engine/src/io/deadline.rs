//! Deadlines that cost a few dozen bytes each: one monoio timer per worker thread serves
//! them all from a heap. For waits that sit for long with a limit armed, such as an idle
//! tunnel's inactivity timeout, where a monoio `Sleep` each (640 bytes, aligned to 128)
//! was the largest part of their memory.
//!
//! A deadline moved later (a busy tunnel's, at every transfer) costs no heap item: the item
//! already queued fires early, finds the deadline moved, and is queued again for the new
//! one. Only a deadline moved earlier queues a new item.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::{poll_fn, Future};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use monoio::time::Instant;
use slab::Slab;

/// How early a deadline counts as passed: the runtime's timer wheel counts whole
/// milliseconds, and waking again for what is left would only cost.
pub const SLACK: Duration = Duration::from_millis(1);

struct Entry {
    /// Told apart from an earlier entry in the same slot: heap items carry it.
    generation: u32,
    deadline: Instant,
    /// The earliest heap item queued for this entry, if one is.
    queued: Option<Instant>,
    waker: Option<Waker>,
    /// The driver found the deadline passed.
    fired: bool,
}

#[derive(Default)]
struct Wheel {
    entries: Slab<Entry>,
    heap: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    generation: u32,
    /// The driving task runs, sleeping until `driver_until`.
    driving: bool,
    driver_until: Option<Instant>,
    driver: Option<Waker>,
}

thread_local! {
    static WHEEL: RefCell<Wheel> = RefCell::default();
}

/// One deadline, armed by [`Deadline::poll_at`]; dropping it disarms it.
#[derive(Default)]
pub struct Deadline {
    slot: Option<(usize, u32)>,
}

impl Deadline {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ready once `when` has passed (within [`SLACK`]); until then the task is woken at
    /// `when`. The deadline may move between calls, either way.
    pub fn poll_at(&mut self, when: Instant, cx: &mut Context<'_>) -> Poll<()> {
        if when <= Instant::now() {
            return Poll::Ready(());
        }
        WHEEL.with(|w| {
            let mut w = w.borrow_mut();
            let w = &mut *w;
            let (slot, generation) = match self.slot {
                Some((slot, generation)) => {
                    let e = &mut w.entries[slot];
                    if e.fired && e.deadline == when {
                        return Poll::Ready(());
                    }
                    e.deadline = when;
                    e.fired = false;
                    match &mut e.waker {
                        Some(old) => old.clone_from(cx.waker()),
                        None => e.waker = Some(cx.waker().clone()),
                    }
                    if e.queued.is_some_and(|q| when >= q) {
                        // The queued item fires first and queues the rest of the wait.
                        return Poll::Pending;
                    }
                    e.queued = Some(when);
                    (slot, generation)
                }
                None => {
                    w.generation = w.generation.wrapping_add(1);
                    let generation = w.generation;
                    let slot = w.entries.insert(Entry {
                        generation,
                        deadline: when,
                        queued: Some(when),
                        waker: Some(cx.waker().clone()),
                        fired: false,
                    });
                    self.slot = Some((slot, generation));
                    (slot, generation)
                }
            };
            w.heap.push(Reverse((when, slot, generation)));
            if !w.driving {
                w.driving = true;
                w.driver_until = Some(when);
                monoio::spawn(drive());
            } else if w.driver_until.is_none_or(|d| when < d) {
                w.driver_until = Some(when);
                if let Some(d) = w.driver.take() {
                    d.wake();
                }
            }
            Poll::Pending
        })
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some((slot, generation)) = self.slot {
            // A thread ending drops its tasks after its own thread locals may be gone.
            let _ = WHEEL.try_with(|w| {
                let mut w = w.borrow_mut();
                if w.entries
                    .get(slot)
                    .is_some_and(|e| e.generation == generation)
                {
                    w.entries.remove(slot);
                }
                if w.entries.is_empty() {
                    // What the heap still holds is stale: give its memory back.
                    w.heap.clear();
                    w.heap.shrink_to_fit();
                    w.entries.shrink_to_fit();
                }
            });
        }
    }
}

impl Wheel {
    /// Wakes the entries whose deadline passed, queues again those whose deadline moved
    /// later, and returns the next deadline to sleep until (`None`: nothing is armed).
    fn fire(&mut self, now: Instant) -> Option<Instant> {
        while let Some(&Reverse((at, slot, generation))) = self.heap.peek() {
            if at > now + SLACK {
                return Some(at);
            }
            self.heap.pop();
            let Some(e) = self
                .entries
                .get_mut(slot)
                .filter(|e| e.generation == generation)
            else {
                continue;
            };
            if e.queued != Some(at) {
                // A stale item: a later one, queued when the deadline moved earlier, stands.
                continue;
            }
            if e.deadline <= now + SLACK {
                e.fired = true;
                e.queued = None;
                if let Some(w) = e.waker.take() {
                    w.wake();
                }
            } else {
                e.queued = Some(e.deadline);
                self.heap.push(Reverse((e.deadline, slot, generation)));
            }
        }
        None
    }
}

/// The thread's driving task: sleeps until the earliest deadline, wakes what passed, and
/// ends when nothing is armed (the next deadline starts it again).
async fn drive() {
    loop {
        let next = WHEEL.with(|w| {
            let mut w = w.borrow_mut();
            let next = w.fire(Instant::now());
            w.driver_until = next;
            if next.is_none() {
                w.driving = false;
            }
            next
        });
        let Some(next) = next else {
            return;
        };
        let mut sleep = std::pin::pin!(monoio::time::sleep_until(next));
        poll_fn(|cx| {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            WHEEL.with(|w| {
                let mut w = w.borrow_mut();
                if w.driver_until.is_some_and(|d| d < next) {
                    // An earlier deadline came in.
                    return Poll::Ready(());
                }
                w.driver = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    async fn wait(d: &mut Deadline, when: Instant) {
        poll_fn(|cx| d.poll_at(when, cx)).await
    }

    /// Deadlines fire in their order, one moved later fires at its new time, one moved
    /// earlier at its new time, and a dropped one leaves nothing behind.
    #[test]
    fn deadlines_fire_when_due_wherever_they_moved() {
        runtime().block_on(async {
            let start = Instant::now();
            let ms = |n| start + Duration::from_millis(n);
            let mut a = Deadline::new();
            wait(&mut a, ms(30)).await;
            assert!(Instant::now() >= ms(29));
            // Armed at 200 ms, then moved to 60 ms: it fires at 60.
            let mut b = Deadline::new();
            let armed = poll_fn(|cx| Poll::Ready(b.poll_at(ms(200), cx))).await;
            assert!(armed.is_pending());
            wait(&mut b, ms(60)).await;
            let t = Instant::now();
            assert!(t >= ms(59) && t < ms(150), "{:?}", t - start);
            // Armed at 70 ms, then moved to 120 ms: the first item fires early and the
            // wait goes on to 120.
            let mut c = Deadline::new();
            let armed = poll_fn(|cx| Poll::Ready(c.poll_at(ms(70), cx))).await;
            assert!(armed.is_pending());
            wait(&mut c, ms(120)).await;
            assert!(Instant::now() >= ms(119));
            drop((a, b, c));
            WHEEL.with(|w| {
                let w = w.borrow();
                assert!(w.entries.is_empty() && w.heap.is_empty());
            });
        });
    }
}
