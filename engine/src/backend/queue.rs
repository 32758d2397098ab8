//! A worker's queues for one backend: one FIFO per server (requests bound to that server by
//! persistence or a hash) and one for the backend (requests any server may take), served in
//! order, bounded by `timeout queue`.
//!
//! Slots are counted in shared atomics ([`crate::backend::load`]); the queues themselves are per
//! worker. A slot freed in this worker wakes the first waiter of that server's queue and of
//! the backend queue at once. A slot freed by another worker is noticed by polling: only the
//! first waiter of each queue polls, every [`REMOTE_POLL`]. Order is strict within a worker;
//! across workers, whichever first waiter polls first wins the slot.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// How often the first waiter of a queue looks for a slot freed by another worker.
pub const REMOTE_POLL: Duration = Duration::from_millis(1);

#[derive(Default)]
struct Entry {
    waker: RefCell<Option<Waker>>,
    woken: Cell<bool>,
}

/// One FIFO of waiting requests.
#[derive(Default)]
pub struct WaitList {
    entries: RefCell<VecDeque<Rc<Entry>>>,
}

impl WaitList {
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    /// Wakes the first waiter, which then tries to take a slot.
    pub fn wake_head(&self) {
        if let Some(e) = self.entries.borrow().front() {
            e.woken.set(true);
            if let Some(w) = e.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

/// A place in a [`WaitList`]; leaving it (drop) hands the head position to the next waiter.
pub struct Ticket<'a> {
    list: &'a WaitList,
    entry: Rc<Entry>,
}

impl<'a> Ticket<'a> {
    pub fn join(list: &'a WaitList) -> Self {
        let entry = Rc::new(Entry::default());
        list.entries.borrow_mut().push_back(entry.clone());
        Self { list, entry }
    }

    pub fn is_first(&self) -> bool {
        self.list
            .entries
            .borrow()
            .front()
            .is_some_and(|e| Rc::ptr_eq(e, &self.entry))
    }

    /// Waits until woken by this worker, or, as first waiter, for at most [`REMOTE_POLL`].
    pub async fn wait_turn(&self) {
        let woken = poll_fn(|cx| {
            if self.entry.woken.replace(false) {
                return Poll::Ready(());
            }
            *self.entry.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        });
        if self.is_first() {
            let _ = crate::io::timed::within(REMOTE_POLL, woken).await;
        } else {
            woken.await;
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let was_first = self.is_first();
        self.list
            .entries
            .borrow_mut()
            .retain(|e| !Rc::ptr_eq(e, &self.entry));
        if was_first {
            self.list.wake_head();
        }
    }
}

/// Every queue of one backend in one worker.
pub struct Waiters {
    pub servers: Vec<WaitList>,
    pub backend: WaitList,
}

impl Waiters {
    pub fn new(servers: usize) -> Self {
        Self {
            servers: (0..servers).map(|_| WaitList::default()).collect(),
            backend: WaitList::default(),
        }
    }

    /// A slot on `server` was given back in this worker.
    pub fn slot_freed(&self, server: usize) {
        self.servers[server].wake_head();
        self.backend.wake_head();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaving_the_head_promotes_the_next_waiter_in_order() {
        let list = WaitList::default();
        let a = Ticket::join(&list);
        let b = Ticket::join(&list);
        let c = Ticket::join(&list);
        assert!(a.is_first() && !b.is_first());
        drop(b);
        assert_eq!(list.len(), 2);
        drop(a);
        assert!(c.is_first());
        assert!(
            c.entry.woken.get(),
            "the new head is woken to try for a slot"
        );
        drop(c);
        assert!(list.is_empty());
    }
}
