//! Listening sockets handed from a running process to the one replacing it, over a Unix
//! socket with `SCM_RIGHTS` (HAProxy's `expose-fd listeners` / `-x`), together with the
//! server state the new process carries on.
//!
//! Every serving process listens on the abstract socket `@ringlb-listeners-PID`: no file
//! to create, clean up or reach through a `chroot`. Only a peer running as root or as the
//! same user is answered (`SO_PEERCRED`). The answer is a length-prefixed text header, one
//! `listener ADDR` line per socket and one `server …` line per server (see `state.rs`),
//! then each socket as a one-byte message carrying its descriptor, in header order.
//!
//! Handing a socket over shares it: both processes hold the same kernel socket and the
//! same accept queue. From then on the old process must never `shutdown` it (that would
//! reset the queue for the new owner too); it only stops accepting and closes its own
//! descriptors. [`listener::listeners_handed_over`] tells the workers which of the two applies.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::boot::lifecycle::state::ServerState;
use crate::worker::listener;

/// The abstract socket name process `pid` serves its listeners on.
pub fn socket_name(pid: u32) -> String {
    format!("ringlb-listeners-{pid}")
}

/// Where to ask for listeners: `@NAME` is an abstract socket, anything else a path.
pub fn address(spec: &str) -> io::Result<UnixAddr> {
    match spec.strip_prefix('@') {
        Some(name) => UnixAddr::from_abstract_name(name.as_bytes()),
        None => UnixAddr::from_pathname(spec),
    }
}

/// What a process offers to its successor: its listening sockets and a way to read the
/// current server state from its workers.
pub struct Offer {
    pub listeners: Vec<(SocketAddr, TcpListener)>,
    pub state: Box<dyn Fn() -> Vec<ServerState> + Send>,
}

/// Marks this process's listening sockets as shared from the start (a master-worker
/// worker: the master keeps every socket it hands out).
pub fn mark_shared() {
    listener::handed_over_flag().store(true, Ordering::Release);
}

/// Serves `offer` on `@ringlb-listeners-PID` (and on `path` too when given) from a
/// background thread, for as long as the process lives. The returned offer may be changed
/// meanwhile (the master rebinds on reload).
pub fn serve(offer: Offer, path: Option<&Path>) -> io::Result<Arc<Mutex<Offer>>> {
    let mut sockets = vec![UnixListener::bind_addr(&address(&format!(
        "@{}",
        socket_name(std::process::id())
    ))?)?];
    if let Some(p) = path {
        let _ = std::fs::remove_file(p);
        sockets.push(UnixListener::bind(p)?);
    }
    let offer = Arc::new(Mutex::new(offer));
    let shared = offer.clone();
    for sock in sockets {
        let offer = offer.clone();
        std::thread::Builder::new()
            .name("ringlb-fd-server".into())
            .spawn(move || {
                for conn in sock.incoming().flatten() {
                    if let Err(e) = answer(&conn, &offer.lock().unwrap()) {
                        eprintln!("ringlb: cannot hand listening sockets over: {e}");
                    }
                }
            })?;
    }
    Ok(shared)
}

fn answer(conn: &UnixStream, offer: &Offer) -> io::Result<()> {
    let peer = peer_uid(conn)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if peer != 0 && peer != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("peer uid {peer} is neither root nor {me}"),
        ));
    }
    send_offer(conn, offer, listener::handed_over_flag())
}

/// Writes the header, sets `shared` (from the first descriptor sent on, the sockets are
/// shared), then sends the descriptors.
fn send_offer(conn: &UnixStream, offer: &Offer, shared: &AtomicBool) -> io::Result<()> {
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    let mut header = String::from("ringlb-listeners 1\n");
    for (addr, _) in &offer.listeners {
        header.push_str(&format!("listener {addr}\n"));
    }
    for s in (offer.state)() {
        header.push_str(&s.to_line());
        header.push('\n');
    }
    let mut w = conn;
    w.write_all(&(header.len() as u32).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    shared.store(true, Ordering::Release);
    for (_, l) in &offer.listeners {
        send_fd(conn, l.as_raw_fd())?;
    }
    Ok(())
}

fn peer_uid(conn: &UnixStream) -> io::Result<u32> {
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` describe a buffer of the right size we own.
    let rc = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// Runs `f` with a message of one data byte and room for one descriptor, the shape both
/// directions of the transfer use.
fn with_fd_msg<T>(f: impl FnOnce(&mut libc::msghdr) -> T) -> T {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut control = vec![0u8; space];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    f(&mut msg)
}

/// Sends one byte carrying `fd` as `SCM_RIGHTS`.
fn send_fd(conn: &UnixStream, fd: RawFd) -> io::Result<()> {
    with_fd_msg(|msg| {
        // SAFETY: the control buffer is CMSG_SPACE bytes, enough for one header and one fd.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        }
        loop {
            // SAFETY: `msg` points at live buffers for the duration of the call.
            let n = unsafe { libc::sendmsg(conn.as_raw_fd(), msg, libc::MSG_NOSIGNAL) };
            if n == 1 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    })
}

/// Receives one byte and the descriptor it carries.
fn recv_fd(conn: &UnixStream) -> io::Result<OwnedFd> {
    with_fd_msg(|msg| {
        let n = loop {
            // SAFETY: `msg` points at live buffers for the duration of the call.
            let n = unsafe { libc::recvmsg(conn.as_raw_fd(), msg, libc::MSG_CMSG_CLOEXEC) };
            if n >= 0 {
                break n;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        // SAFETY: the kernel filled `msg`; CMSG_FIRSTHDR checks the control length.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(msg);
            if cmsg.is_null()
                || (*cmsg).cmsg_level != libc::SOL_SOCKET
                || (*cmsg).cmsg_type != libc::SCM_RIGHTS
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a listener message carried no descriptor",
                ));
            }
            let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
            Ok(OwnedFd::from_raw_fd(fd))
        }
    })
}

/// What a new process received from the process it replaces.
#[derive(Debug, Default)]
pub struct Handover {
    pub listeners: Vec<(SocketAddr, OwnedFd)>,
    pub servers: Vec<ServerState>,
}

/// Asks the process serving at `addr` for its listeners and server state.
pub fn fetch(addr: &UnixAddr) -> io::Result<Handover> {
    let conn = UnixStream::connect_addr(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut r = &conn;
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > 16 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "listener header too long",
        ));
    }
    let mut header = vec![0u8; len];
    r.read_exact(&mut header)?;
    let header = String::from_utf8(header)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "listener header not UTF-8"))?;
    let bad = |line: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected listener header line {line:?}"),
        )
    };
    let mut lines = header.lines();
    if lines.next() != Some("ringlb-listeners 1") {
        return Err(bad(header.lines().next().unwrap_or("")));
    }
    let mut addrs = Vec::new();
    let mut out = Handover::default();
    for line in lines {
        if let Some(a) = line.strip_prefix("listener ") {
            addrs.push(a.parse::<SocketAddr>().map_err(|_| bad(line))?);
        } else {
            out.servers
                .push(ServerState::from_line(line).ok_or_else(|| bad(line))?);
        }
    }
    for a in addrs {
        out.listeners.push((a, recv_fd(&conn)?));
    }
    Ok(out)
}

/// Listening sockets received from an old process, waiting to be claimed by address.
#[derive(Clone, Default)]
pub struct Inherited(Arc<Mutex<HashMap<SocketAddr, Vec<OwnedFd>>>>);

impl std::fmt::Debug for Inherited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<SocketAddr> = self.0.lock().unwrap().keys().copied().collect();
        f.debug_tuple("Inherited").field(&addrs).finish()
    }
}

impl Inherited {
    pub fn new(listeners: Vec<(SocketAddr, OwnedFd)>) -> Self {
        let mut map: HashMap<SocketAddr, Vec<OwnedFd>> = HashMap::new();
        for (a, fd) in listeners {
            map.entry(a).or_default().push(fd);
        }
        Self(Arc::new(Mutex::new(map)))
    }

    /// Every old socket listening on exactly `addr`, removed from the set. Sockets nobody
    /// claims are closed when the set is dropped: the new configuration no longer has them.
    pub fn take(&self, addr: SocketAddr) -> Vec<TcpListener> {
        self.0
            .lock()
            .unwrap()
            .remove(&addr)
            .unwrap_or_default()
            .into_iter()
            .map(TcpListener::from)
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_and_state_cross_a_socket_pair() {
        let name = format!(
            "ringlb-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        );
        let addr = address(&format!("@{name}")).unwrap();
        let server = UnixListener::bind_addr(&addr).unwrap();
        let l1 = TcpListener::bind("127.0.0.1:0").unwrap();
        let a1 = l1.local_addr().unwrap();
        let offer = Offer {
            listeners: vec![(a1, l1.try_clone().unwrap())],
            state: Box::new(|| {
                let mut s = ServerState::new("web", "s1", false, 7);
                s.admin = ringlb_checks::AdminState::Maint;
                vec![s]
            }),
        };
        let shared = AtomicBool::new(false);
        let t = std::thread::spawn(move || {
            let (c, _) = server.accept().unwrap();
            send_offer(&c, &offer, &shared).unwrap();
            shared
        });
        let got = fetch(&addr).unwrap();
        let shared = t.join().unwrap();
        assert!(
            shared.load(Ordering::Acquire),
            "the offer marks the sockets shared"
        );
        assert_eq!(got.servers.len(), 1);
        assert_eq!(got.servers[0].weight, 7);
        assert!(!got.servers[0].up);
        assert_eq!(got.servers[0].admin, ringlb_checks::AdminState::Maint);
        let inherited = Inherited::new(got.listeners);
        let socks = inherited.take(a1);
        assert_eq!(socks.len(), 1);
        // The received descriptor is the same socket: a client queued on it is accepted
        // through the copy.
        let _client = std::net::TcpStream::connect(a1).unwrap();
        let (_, peer) = socks[0].accept().unwrap();
        assert_eq!(peer.ip(), a1.ip());
        assert!(inherited.take(a1).is_empty());
    }
}
