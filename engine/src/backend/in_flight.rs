//! `on-marked-down shutdown-sessions`, `on-marked-up shutdown-backup-sessions` and the
//! runtime API's `shutdown sessions server`: the server connections a worker's requests are
//! using right now, and ending them.
//!
//! A connection is registered when a request takes it and leaves the registry with the
//! request's connection slot (see `ConnSlot`), before it goes back to the idle pool or is
//! closed. Ending a session does not close anything: the descriptor is shut down
//! (`SHUT_RDWR`), so whatever read or write is pending on it, under io_uring or epoll,
//! completes with end-of-stream or an error, even a download the server stopped feeding.
//! The session then ends through its usual error path and its owner closes the descriptor
//! exactly once.
//!
//! Every server has a registry, since `shutdown sessions server` may name any of them: a
//! request pays one `RefCell` borrow and one slot write when it takes a connection and the
//! same when it lets go; the slab reuses freed slots and allocates only while it grows to
//! the worker's peak of connections in use to that server.

use std::cell::RefCell;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::rc::Rc;

use crate::io::transport::Stream;

use crate::backend::load::ConnSlot;
use crate::backend::{BackendTable, ServerId};

/// The descriptors of one server's connections in use by this worker's requests.
#[derive(Debug, Default)]
pub struct InFlight(RefCell<Slab>);

/// A slab: a free entry holds `None`, and its index waits in `free`.
#[derive(Debug, Default)]
struct Slab {
    fds: Vec<Option<RawFd>>,
    free: Vec<usize>,
}

/// A connection's place in its server's registry; dropping it leaves the registry.
#[derive(Debug)]
pub struct Tracked {
    registry: Rc<InFlight>,
    key: usize,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut slab = self.registry.0.borrow_mut();
        slab.fds[self.key] = None;
        slab.free.push(self.key);
    }
}

impl InFlight {
    /// Registers `fd` until the returned guard is dropped.
    pub fn register(self: &Rc<Self>, fd: RawFd) -> Tracked {
        let mut slab = self.0.borrow_mut();
        let key = match slab.free.pop() {
            Some(k) => {
                slab.fds[k] = Some(fd);
                k
            }
            None => {
                slab.fds.push(Some(fd));
                slab.fds.len() - 1
            }
        };
        Tracked {
            registry: self.clone(),
            key,
        }
    }

    /// Connections registered now.
    pub fn in_use(&self) -> usize {
        self.0.borrow().fds.iter().flatten().count()
    }

    /// Shuts down every registered connection whose peer is `server`; returns how many.
    ///
    /// A descriptor stays registered only while its request holds the connection, so it
    /// is open and names that connection; the peer check keeps even a broken promise from
    /// cutting a socket that is not a connection to this server.
    pub fn shut_down_all(&self, server: IpAddr) -> usize {
        let fds: Vec<RawFd> = self.0.borrow().fds.iter().flatten().copied().collect();
        fds.into_iter()
            // A server at 0.0.0.0 is reached at a local address the peer check cannot name.
            .filter(|&fd| server.is_unspecified() || peer_ip(fd) == Some(server))
            // SAFETY: a plain syscall on a descriptor its owner keeps open (see above).
            .filter(|&fd| unsafe { libc::shutdown(fd, libc::SHUT_RDWR) } == 0)
            .count()
    }
}

/// The address `fd` is connected to, if it is a connected socket.
fn peer_ip(fd: RawFd) -> Option<IpAddr> {
    // SAFETY: the std stream only borrows the descriptor: `ManuallyDrop` never closes it.
    let borrowed = std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
    borrowed.peer_addr().ok().map(|a| a.ip())
}

impl BackendTable {
    /// Registers `stream`, the connection to `id` a request holds `slot` for, when a state
    /// change of `id` may have to end it.
    pub(super) fn track(&self, slot: &mut ConnSlot, id: ServerId, stream: &Stream) {
        slot.tracked = Some(self.servers[id.0].in_flight.register(stream.as_raw_fd()));
    }

    /// `shutdown sessions server`: ends every connection this worker's requests hold to
    /// `id`; returns how many.
    pub fn shut_down_sessions(&self, id: ServerId) -> usize {
        let s = &self.servers[id.0];
        s.in_flight.shut_down_all(s.addr.get().0)
    }

    /// What HAProxy does to sessions in flight when `id` changes state: going down with
    /// `on-marked-down shutdown-sessions` ends its own; an active server that can take
    /// traffic coming up with `on-marked-up shutdown-backup-sessions` ends those on every
    /// backup server. Returns how many connections were cut.
    pub(super) fn end_sessions_on_change(&self, id: ServerId, up: bool) -> usize {
        let s = &self.servers[id.0];
        let cut = |t: &crate::backend::ServerSlot| t.in_flight.shut_down_all(t.addr.get().0);
        if !up {
            return if s.conf.shutdown_sessions_on_down {
                cut(s)
            } else {
                0
            };
        }
        if s.conf.shutdown_backup_sessions_on_up && !s.conf.backup && s.usable() {
            return self.servers.iter().filter(|t| t.conf.backup).map(cut).sum();
        }
        0
    }

    /// Connections this worker's requests hold to `id` that a state change could end.
    pub fn sessions_tracked(&self, id: ServerId) -> usize {
        self.servers[id.0].in_flight.in_use()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::upstream::{Pick, Reuse, Upstream};
    use crate::backend::{backend_load, LbSettings, ResolvedBackend, ResolvedServer};
    use ringlb_config::model::{Proxy, ProxyKind};
    use std::io::Read;
    use std::sync::Arc;

    /// Servers `a` (active, both options) and `bk` (backup) on `port`, one connection
    /// each kept idle.
    fn table(port: u16) -> BackendTable {
        let server = |name: &str, backup: bool| ResolvedServer {
            backup,
            shutdown_sessions_on_down: !backup,
            shutdown_backup_sessions_on_up: !backup,
            ..ResolvedServer::fixed(name, ([127, 0, 0, 1], port).into())
        };
        let servers = vec![server("a", false), server("bk", true)];
        let proxy = Proxy::new(ProxyKind::Backend, "be".into(), Default::default());
        BackendTable::new(&ResolvedBackend {
            name: "be".into(),
            load: Arc::new(backend_load(&proxy, &servers, 0)),
            servers,
            retries: 0,
            redispatch: false,
            connect_timeout: None,
            keepalive: false,
            idle_per_server: 1,
            lb: LbSettings::default(),
            http: crate::analysis::settings::HttpBackend::from_proxy(&proxy),
        })
    }

    #[test]
    fn a_connection_is_tracked_while_a_request_holds_it_and_cut_on_the_state_change() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let t = table(l.local_addr().unwrap().port());
        let (a, bk) = (t.server_id("a").unwrap(), t.server_id("bk").unwrap());
        let mut rt = crate::backend::test_runtime();
        rt.block_on(async {
            let pick = Pick::connection(
                "127.0.0.1:9".parse().unwrap(),
                "127.0.0.1:0".parse().unwrap(),
            );
            let c = t.acquire(Reuse::Allowed, None, &pick).await.unwrap();
            let (mut peer, _) = l.accept().unwrap();
            assert_eq!((ServerId(c.server), t.sessions_tracked(a)), (a, 1));
            t.release(c);
            assert_eq!(
                t.sessions_tracked(a),
                0,
                "an idle connection is not a session"
            );
            let c = t.acquire(Reuse::Allowed, None, &pick).await.unwrap();
            assert!(c.reused);
            assert_eq!(t.sessions_tracked(a), 1, "a reused one is tracked again");

            t.set_server_state(a, false);
            let mut byte = [0u8; 1];
            assert_eq!(peer.read(&mut byte).unwrap(), 0, "the server sees the cut");
            assert_eq!(t.sessions_tracked(a), 1, "the session itself lets go");
            t.discard(c);
            assert_eq!(t.sessions_tracked(a), 0);

            // With `a` down the backup serves; `a` coming back ends that session.
            let c = t.acquire(Reuse::Allowed, None, &pick).await.unwrap();
            let (mut peer, _) = l.accept().unwrap();
            assert_eq!((ServerId(c.server), t.sessions_tracked(bk)), (bk, 1));
            t.set_server_state(a, false);
            peer.set_nonblocking(true).unwrap();
            assert!(peer.read(&mut byte).is_err(), "no change, no cut");
            t.set_server_state(a, true);
            peer.set_nonblocking(false).unwrap();
            assert_eq!(
                peer.read(&mut byte).unwrap(),
                0,
                "the backup's session is cut"
            );
            drop(c);
            assert_eq!(t.sessions_tracked(bk), 0);
        });
    }

    #[test]
    fn shutting_down_ends_the_peers_stream_and_dropping_the_guard_unregisters() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut peer_a, _) = l.accept().unwrap();
        let b = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut peer_b, _) = l.accept().unwrap();
        peer_b.set_nonblocking(true).unwrap();

        let reg = Rc::new(InFlight::default());
        let ga = reg.register(a.as_raw_fd());
        let gb = reg.register(b.as_raw_fd());
        drop(gb);
        assert_eq!(reg.in_use(), 1);
        assert_eq!(
            reg.shut_down_all("127.0.0.2".parse().unwrap()),
            0,
            "another server's"
        );
        assert_eq!(reg.shut_down_all("127.0.0.1".parse().unwrap()), 1);

        let mut byte = [0u8; 1];
        assert_eq!(
            peer_a.read(&mut byte).unwrap(),
            0,
            "the server sees the connection end"
        );
        assert!(
            peer_b.read(&mut byte).is_err(),
            "an unregistered connection is left alone (nothing to read, not closed)"
        );
        drop(ga);
        assert_eq!(reg.in_use(), 0);
        let _gc = reg.register(b.as_raw_fd());
        assert_eq!(reg.0.borrow().fds.len(), 2, "freed entries are reused");
    }
}
