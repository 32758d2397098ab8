//! The worker's buffer pool: read buffers are taken only when data is ready and given back
//! as soon as a message is forwarded, so idle connections hold no buffer.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// A per-worker pool of equally sized byte buffers. Cheap to clone (shared handle);
/// not `Send`: each worker owns its own.
///
/// Every returned buffer is kept. Beyond `keep`, free buffers that no `take` needed for a
/// whole retention window are freed by `trim` (called once a second): memory from a burst
/// goes back within a minute or so, but a burst that comes back within the window (a
/// slowloris attack reconnecting after its 408s) finds its buffers ready instead of
/// faulting tens of megabytes in again while other connections wait.
#[derive(Clone)]
pub struct BufferPool {
    inner: Rc<Inner>,
}

struct Inner {
    size: usize,
    free: RefCell<Vec<Vec<u8>>>,
    keep: usize,
    /// The fewest free buffers seen since the current window began: buffers above that
    /// count sat unused for the whole window.
    low_water: Cell<usize>,
    /// Trims so far in the current window.
    trims: Cell<u32>,
}

/// Trims (seconds, at one per worker tick) a free buffer must stay unneeded to be freed.
const RETAIN_TRIMS: u32 = 30;

impl BufferPool {
    /// A pool of `size`-byte buffers keeping at least `keep` free ones.
    pub fn new(size: usize, keep: usize) -> Self {
        Self {
            inner: Rc::new(Inner {
                size,
                free: RefCell::new(Vec::new()),
                keep,
                low_water: Cell::new(0),
                trims: Cell::new(0),
            }),
        }
    }

    /// The capacity of every buffer in this pool.
    pub fn buffer_size(&self) -> usize {
        self.inner.size
    }

    /// An empty buffer with the pool's capacity.
    pub fn take(&self) -> Vec<u8> {
        let mut free = self.inner.free.borrow_mut();
        match free.pop() {
            Some(buf) => {
                if free.len() < self.inner.low_water.get() {
                    self.inner.low_water.set(free.len());
                }
                buf
            }
            None => {
                self.inner.low_water.set(0);
                Vec::with_capacity(self.inner.size)
            }
        }
    }

    /// Gives a buffer back. Buffers of another capacity (grown or foreign) are dropped.
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() != self.inner.size {
            return;
        }
        buf.clear();
        self.inner.free.borrow_mut().push(buf);
    }

    /// Ends a step of the retention window; at the window's end, frees the buffers beyond
    /// `keep` that stayed free all through it. Returns how many it freed.
    pub fn trim(&self) -> usize {
        let inner = &self.inner;
        let trims = inner.trims.get() + 1;
        if trims < RETAIN_TRIMS {
            inner.trims.set(trims);
            return 0;
        }
        let mut free = inner.free.borrow_mut();
        let idle = inner.low_water.get().min(free.len());
        let excess = idle.saturating_sub(inner.keep);
        // The stack's bottom holds the buffers unused longest.
        free.drain(..excess);
        let kept = free.len().max(inner.keep);
        free.shrink_to(kept);
        inner.trims.set(0);
        inner.low_water.set(free.len());
        excess
    }

    /// Number of free buffers held, for stats and tests.
    pub fn free_count(&self) -> usize {
        self.inner.free.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_cleared() {
        let pool = BufferPool::new(64, 2);
        let mut a = pool.take();
        assert_eq!(a.capacity(), 64);
        a.extend_from_slice(b"hello");
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take();
        assert_eq!(b.as_ptr(), ptr, "a returned buffer is handed out again");
        assert!(b.is_empty(), "a reused buffer comes back empty");
    }

    /// Runs one whole retention window of trims; returns how many buffers it freed.
    fn window(pool: &BufferPool) -> usize {
        (0..RETAIN_TRIMS).map(|_| pool.trim()).sum()
    }

    #[test]
    fn a_burst_is_kept_for_a_window_then_freed_down_to_keep() {
        let pool = BufferPool::new(64, 2);
        let burst: Vec<_> = (0..6).map(|_| pool.take()).collect();
        burst.into_iter().for_each(|b| pool.give(b));
        assert_eq!(pool.free_count(), 6, "every returned buffer is kept");
        assert_eq!(window(&pool), 0, "they were in use during this window");
        assert_eq!(pool.free_count(), 6);
        for _ in 0..RETAIN_TRIMS - 1 {
            assert_eq!(pool.trim(), 0, "nothing is freed before the window ends");
        }
        assert_eq!(
            pool.trim(),
            4,
            "a whole window unused: freed down to `keep`"
        );
        assert_eq!(pool.free_count(), 2);
        assert_eq!(window(&pool), 0, "`keep` buffers stay");
    }

    #[test]
    fn buffers_needed_during_the_window_are_not_freed() {
        let pool = BufferPool::new(64, 1);
        let burst: Vec<_> = (0..6).map(|_| pool.take()).collect();
        burst.into_iter().for_each(|b| pool.give(b));
        window(&pool);
        // Three taken at once in the middle of the next window: only the other three
        // stayed free all through it, and only those beyond `keep` go.
        for _ in 0..RETAIN_TRIMS / 2 {
            pool.trim();
        }
        let held: Vec<_> = (0..3).map(|_| pool.take()).collect();
        held.into_iter().for_each(|b| pool.give(b));
        let freed: usize = (RETAIN_TRIMS / 2..RETAIN_TRIMS).map(|_| pool.trim()).sum();
        assert_eq!(freed, 2);
        assert_eq!(pool.free_count(), 4);
    }

    #[test]
    fn grown_buffers_are_not_kept() {
        let pool = BufferPool::new(8, 4);
        let mut a = pool.take();
        a.extend_from_slice(&[0; 100]);
        pool.give(a);
        assert_eq!(pool.free_count(), 0);
    }
}
