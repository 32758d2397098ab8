//! The client connections a worker serves, for `show sess` and `shutdown session`: one
//! slab entry per accepted connection, from accept to close (through its sessions and the
//! times it is parked).
//!
//! Cost on the connection path: one `RefCell` borrow and one slot write at accept, the
//! same at close. The slab reuses freed slots, so it allocates only while it grows to the
//! worker's peak of concurrent connections. Nothing is shared with other workers.
//!
//! A connection's ID names its worker and is never reused by that worker: the worker's
//! number (from 1) in the bits above [`WORKER_SHIFT`], a per-worker serial below. `show
//! sess` prints it in hex as HAProxy prints a stream's address, and `shutdown session`
//! takes it back, so a script that feeds one to the other works as with HAProxy.
//!
//! Ending a connection shuts its descriptor down (`SHUT_RDWR`), as `in_flight` does for
//! server connections: whatever read or write is pending completes, the session ends
//! through its usual path and its owner closes the descriptor exactly once.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Where the worker's number starts in an ID.
pub const WORKER_SHIFT: u32 = 40;

/// One client connection as `show sess` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub id: u64,
    pub peer: SocketAddr,
    /// Its frontend's position (`FrontendPlan::index`).
    pub frontend: usize,
    pub age: Duration,
    pub fd: RawFd,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    fd: RawFd,
    peer: SocketAddr,
    frontend: usize,
    since: Instant,
}

/// The worker's client connections.
#[derive(Debug)]
pub struct Streams {
    /// The worker's number (from 1) shifted into place.
    prefix: u64,
    next: Cell<u64>,
    slab: RefCell<slab::Slab<Entry>>,
}

impl Streams {
    pub fn new(worker: usize) -> Self {
        Self {
            prefix: (worker as u64 + 1) << WORKER_SHIFT,
            next: Cell::new(1),
            slab: RefCell::default(),
        }
    }

    /// The worker (from 0) an ID names, if any.
    pub fn worker_of(id: u64) -> Option<usize> {
        (id >> WORKER_SHIFT).checked_sub(1).map(|w| w as usize)
    }

    /// Registers an accepted connection; the key goes back to [`Self::remove`].
    pub fn insert(&self, fd: RawFd, peer: SocketAddr, frontend: usize) -> usize {
        let serial = self.next.get();
        // 2^40 connections per worker before the serial would reach the worker's bits.
        self.next.set((serial + 1) & ((1 << WORKER_SHIFT) - 1));
        let entry = Entry {
            id: self.prefix | serial,
            fd,
            peer,
            frontend,
            since: Instant::now(),
        };
        self.slab.borrow_mut().insert(entry)
    }

    pub fn remove(&self, key: usize) {
        self.slab.borrow_mut().try_remove(key);
    }

    /// Every connection, oldest slot first.
    pub fn list(&self) -> Vec<StreamInfo> {
        self.slab
            .borrow()
            .iter()
            .map(|(_, e)| StreamInfo {
                id: e.id,
                peer: e.peer,
                frontend: e.frontend,
                age: e.since.elapsed(),
                fd: e.fd,
            })
            .collect()
    }

    /// Ends the connection `id`; false when this worker has none by that ID.
    pub fn shut_down(&self, id: u64) -> bool {
        let fd = self
            .slab
            .borrow()
            .iter()
            .find(|(_, e)| e.id == id)
            .map(|(_, e)| e)
            .map(|e| e.fd);
        match fd {
            // SAFETY: the entry lives while its connection's owner keeps the descriptor
            // open (it leaves the slab before the descriptor is closed).
            Some(fd) => unsafe { libc::shutdown(fd, libc::SHUT_RDWR) == 0 },
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;

    #[test]
    fn ids_name_their_worker_and_a_shut_down_connection_reads_its_end() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (served, peer) = l.accept().unwrap();
        let s = Streams::new(2);
        let k = s.insert(served.as_raw_fd(), peer, 0);
        let listed = s.list();
        assert_eq!(listed.len(), 1);
        assert_eq!(Streams::worker_of(listed[0].id), Some(2));
        assert!(!s.shut_down(listed[0].id + 1));
        assert!(s.shut_down(listed[0].id));
        let mut b = [0u8; 1];
        assert_eq!(client.read(&mut b).unwrap(), 0, "the client sees the close");
        s.remove(k);
        assert!(s.list().is_empty());
        let k2 = s.insert(served.as_raw_fd(), peer, 0);
        assert_eq!(k2, k, "slots are reused");
        assert_ne!(s.list()[0].id, listed[0].id, "IDs are not");
        assert_eq!(Streams::worker_of(0x1), None);
    }
}
