//! A single-threaded latch: set once, and every task waiting on it wakes. Workers use it to
//! tell their accept loops to stop, and idle keep-alive connections to close softly.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Clone, Default)]
pub struct Latch {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    set: Cell<bool>,
    waiters: RefCell<Waiters>,
}

/// The wakers of the waits pending now, one slot per wait. A wait frees its slot when it is
/// dropped, so an idle connection that waits once per request costs one slot for as long as
/// it waits, not one more waker per request, and the list stays as long as the number of
/// waits pending at the same time.
#[derive(Default)]
struct Waiters {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Latch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self) {
        self.inner.set.set(true);
        // Taken out first: a woken task may drop its wait, which borrows the list again.
        let woken: Vec<Waker> = self
            .inner
            .waiters
            .borrow_mut()
            .slots
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in woken {
            w.wake();
        }
    }

    pub fn is_set(&self) -> bool {
        self.inner.set.get()
    }

    /// Completes once the latch is set. Dropping it loses nothing.
    pub fn wait(&self) -> LatchWait {
        LatchWait {
            latch: self.clone(),
            slot: None,
        }
    }

    #[cfg(test)]
    fn registered(&self) -> usize {
        let w = self.inner.waiters.borrow();
        w.slots.iter().filter(|s| s.is_some()).count()
    }
}

pub struct LatchWait {
    latch: Latch,
    /// The slot holding this wait's waker, once it was polled.
    slot: Option<usize>,
}

impl Future for LatchWait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.latch.is_set() {
            return Poll::Ready(());
        }
        let inner = Rc::clone(&self.latch.inner);
        let mut w = inner.waiters.borrow_mut();
        match self.slot {
            Some(i) => match &mut w.slots[i] {
                Some(old) if old.will_wake(cx.waker()) => {}
                s => *s = Some(cx.waker().clone()),
            },
            None => {
                let waker = Some(cx.waker().clone());
                let i = match w.free.pop() {
                    Some(i) => {
                        w.slots[i] = waker;
                        i
                    }
                    None => {
                        w.slots.push(waker);
                        w.slots.len() - 1
                    }
                };
                self.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for LatchWait {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let mut w = self.latch.inner.waiters.borrow_mut();
            w.slots[i] = None;
            w.free.push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll(w: &mut LatchWait, waker: &Waker) -> Poll<()> {
        Pin::new(w).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn setting_wakes_every_pending_wait_once_and_they_complete() {
        let latch = Latch::new();
        let counts: Vec<Arc<Count>> = (0..3).map(|_| Arc::default()).collect();
        let wakers: Vec<Waker> = counts.iter().map(|c| Waker::from(c.clone())).collect();
        let mut waits: Vec<LatchWait> = (0..3).map(|_| latch.wait()).collect();
        for (w, k) in waits.iter_mut().zip(&wakers) {
            assert!(poll(w, k).is_pending());
            assert!(poll(w, k).is_pending(), "polled twice, registered once");
        }
        latch.set();
        for c in &counts {
            assert_eq!(c.0.load(Ordering::Relaxed), 1);
        }
        for (w, k) in waits.iter_mut().zip(&wakers) {
            assert!(poll(w, k).is_ready());
        }
        assert!(poll(&mut latch.wait(), &wakers[0]).is_ready());
    }

    #[test]
    fn a_dropped_wait_leaves_no_waker_behind() {
        let latch = Latch::new();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        // One idle period per request on a long keep-alive connection.
        for _ in 0..1000 {
            let mut w = latch.wait();
            assert!(poll(&mut w, &waker).is_pending());
            assert_eq!(latch.registered(), 1);
        }
        assert_eq!(latch.registered(), 0);
        assert_eq!(latch.inner.waiters.borrow().slots.len(), 1, "slot reused");
        let mut w = latch.wait();
        assert!(poll(&mut w, &waker).is_pending());
        drop(w);
        latch.set();
        assert_eq!(
            count.0.load(Ordering::Relaxed),
            0,
            "dropped waits are not woken"
        );
    }
}
