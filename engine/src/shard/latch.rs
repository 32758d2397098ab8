//! A single-threaded latch: set once, and every task waiting on it wakes. Workers use it to
//! tell their accept loops to stop.

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
    waiters: RefCell<Vec<Waker>>,
}

impl Latch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self) {
        self.inner.set.set(true);
        for w in self.inner.waiters.borrow_mut().drain(..) {
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
        }
    }
}

pub struct LatchWait {
    latch: Latch,
}

impl Future for LatchWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.latch.is_set() {
            return Poll::Ready(());
        }
        let mut waiters = self.latch.inner.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
