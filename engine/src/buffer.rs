//! The worker's buffer pool: read buffers are taken only when data is ready and given back
//! as soon as a message is forwarded, so idle connections hold no buffer.

use std::cell::RefCell;
use std::rc::Rc;

/// A per-worker pool of equally sized byte buffers. Cheap to clone (shared handle);
/// not `Send`: each worker owns its own.
#[derive(Clone)]
pub struct BufferPool {
    inner: Rc<Inner>,
}

struct Inner {
    size: usize,
    /// Free buffers kept for reuse; beyond `keep` a returned buffer is freed, so a burst
    /// does not pin its peak memory forever.
    free: RefCell<Vec<Vec<u8>>>,
    keep: usize,
}

impl BufferPool {
    /// A pool of `size`-byte buffers keeping at most `keep` free ones.
    pub fn new(size: usize, keep: usize) -> Self {
        Self {
            inner: Rc::new(Inner {
                size,
                free: RefCell::new(Vec::new()),
                keep,
            }),
        }
    }

    /// The capacity of every buffer in this pool.
    pub fn buffer_size(&self) -> usize {
        self.inner.size
    }

    /// An empty buffer with the pool's capacity.
    pub fn take(&self) -> Vec<u8> {
        match self.inner.free.borrow_mut().pop() {
            Some(buf) => buf,
            None => Vec::with_capacity(self.inner.size),
        }
    }

    /// Gives a buffer back. Buffers of another capacity (grown or foreign) are dropped.
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() != self.inner.size {
            return;
        }
        let mut free = self.inner.free.borrow_mut();
        if free.len() < self.inner.keep {
            buf.clear();
            free.push(buf);
        }
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
    fn buffers_are_reused_cleared_and_bounded() {
        let pool = BufferPool::new(64, 2);
        let mut a = pool.take();
        assert_eq!(a.capacity(), 64);
        a.extend_from_slice(b"hello");
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take();
        assert_eq!(b.as_ptr(), ptr, "a returned buffer is handed out again");
        assert!(b.is_empty(), "a reused buffer comes back empty");
        pool.give(b);
        pool.give(pool.take());
        pool.give(Vec::with_capacity(64));
        pool.give(Vec::with_capacity(64));
        assert_eq!(
            pool.free_count(),
            2,
            "the pool keeps at most `keep` buffers"
        );
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
