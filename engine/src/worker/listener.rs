//! Listening sockets: `bind` lines expanded to addresses, one `SO_REUSEPORT` socket per
//! address per worker, inherited `fd@N` sockets shared by `dup`, and the refusal to share a
//! port with another process.
//!
//! `*:80` and `:80` listen on 0.0.0.0 (IPv4 only); write `[::]:80` with `v4v6` for both
//! families. Port 0 picks a free port once and every worker shares it (used by tests).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use ringlb_config::model::{Bind, BindAddr};
use socket2::{Domain, Protocol, Socket, Type};

/// One address a frontend listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Inet {
        addr: SocketAddr,
        v6only: bool,
        backlog: i32,
    },
    /// An inherited listening socket, shared by all workers.
    Fd(RawFd),
}

#[derive(Debug)]
pub enum ListenError {
    /// Another process already listens there.
    InUse(SocketAddr),
    Bind(SocketAddr, io::Error),
    Fd(RawFd, io::Error),
    Unsupported(String),
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InUse(a) => write!(
                f,
                "cannot bind {a}: address already in use by another process"
            ),
            Self::Bind(a, e) => write!(f, "cannot bind {a}: {e}"),
            Self::Fd(fd, e) => write!(f, "cannot use inherited socket fd@{fd}: {e}"),
            Self::Unsupported(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for ListenError {}

/// Set once this process has given its listening sockets to another process (a reload took
/// them, or a master holds them from the start).
static HANDED_OVER: AtomicBool = AtomicBool::new(false);

/// The flag behind [`listeners_handed_over`], for the code that hands the sockets over.
pub fn handed_over_flag() -> &'static AtomicBool {
    &HANDED_OVER
}

/// Whether another process holds this process's listening sockets now, so stopping must
/// leave their accept queues alone.
pub fn listeners_handed_over() -> bool {
    HANDED_OVER.load(Ordering::Acquire)
}

/// The addresses of a `bind` line, port ranges expanded.
pub fn expand(bind: &Bind, default_backlog: u32) -> Result<Vec<ListenAddr>, ListenError> {
    let backlog = bind
        .options
        .backlog
        .unwrap_or(default_backlog)
        .min(i32::MAX as u32) as i32;
    let mut out = Vec::new();
    for a in &bind.addrs {
        match a {
            BindAddr::Tcp { ip, ports } => {
                let ip = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                let v6only = ip.is_ipv6() && bind.options.v6only && !bind.options.v4v6;
                for port in ports.iter() {
                    out.push(ListenAddr::Inet {
                        addr: SocketAddr::new(ip, port),
                        v6only,
                        backlog,
                    });
                }
            }
            BindAddr::Fd(fd) => out.push(ListenAddr::Fd(*fd)),
            BindAddr::Unix(p) => {
                return Err(ListenError::Unsupported(format!(
                    "bind on unix socket {} is not supported for proxies yet",
                    p.display()
                )))
            }
        }
    }
    Ok(out)
}

/// Refuses an address another process listens on. Our own sockets use `SO_REUSEPORT`, so
/// the kernel would otherwise let a second instance silently share the port; a plain bind
/// (with `SO_REUSEADDR` so lingering TIME_WAIT connections do not count) tells them apart.
pub fn probe_unused(addr: SocketAddr) -> Result<(), ListenError> {
    if addr.port() == 0 {
        return Ok(());
    }
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| ListenError::Bind(addr, e))?;
    sock.set_reuse_address(true)
        .map_err(|e| ListenError::Bind(addr, e))?;
    if addr.is_ipv6() {
        let _ = sock.set_only_v6(false);
    }
    match sock.bind(&addr.into()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(ListenError::InUse(addr)),
        Err(e) => Err(ListenError::Bind(addr, e)),
    }
}

/// One `SO_REUSEPORT` listening socket on `addr`.
pub fn reuseport_listener(addr: SocketAddr, v6only: bool, backlog: i32) -> io::Result<TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(v6only)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    Ok(sock.into())
}

/// A worker's own descriptor for an inherited listening socket.
pub fn adopt_fd(fd: RawFd) -> io::Result<TcpListener> {
    // SAFETY: dup returns a fresh descriptor we own, or -1.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dup` is a valid descriptor owned by nobody else.
    let sock = unsafe { Socket::from_raw_fd(dup) };
    if sock.r#type()? != Type::STREAM || !sock.is_listener()? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a listening TCP socket",
        ));
    }
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// `workers` listening sockets for `addr`, one per worker, after checking no other process
/// holds the address. Returns them with the address actually bound.
pub fn bind_for_workers(
    addr: &ListenAddr,
    workers: usize,
    takeover: bool,
) -> Result<(SocketAddr, Vec<TcpListener>), ListenError> {
    match *addr {
        ListenAddr::Inet {
            addr,
            v6only,
            backlog,
        } => {
            if !takeover {
                probe_unused(addr)?;
            }
            let first =
                reuseport_listener(addr, v6only, backlog).map_err(|e| bind_error(addr, e))?;
            // Port 0: every worker joins the port the first socket got.
            let bound = first.local_addr().map_err(|e| ListenError::Bind(addr, e))?;
            let mut out = vec![first];
            for _ in 1..workers {
                out.push(
                    reuseport_listener(bound, v6only, backlog).map_err(|e| bind_error(bound, e))?,
                );
            }
            Ok((bound, out))
        }
        ListenAddr::Fd(fd) => {
            let mut out = Vec::with_capacity(workers);
            for _ in 0..workers {
                out.push(adopt_fd(fd).map_err(|e| ListenError::Fd(fd, e))?);
            }
            let bound = out[0].local_addr().map_err(|e| ListenError::Fd(fd, e))?;
            Ok((bound, out))
        }
    }
}

fn bind_error(addr: SocketAddr, e: io::Error) -> ListenError {
    if e.kind() == io::ErrorKind::AddrInUse {
        ListenError::InUse(addr)
    } else {
        ListenError::Bind(addr, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlb_config::model::{BindOptions, PortRange};

    #[test]
    fn port_ranges_expand_and_star_means_ipv4_any() {
        let bind = Bind {
            location: Default::default(),
            addrs: vec![BindAddr::Tcp {
                ip: None,
                ports: PortRange {
                    first: 8080,
                    last: 8082,
                },
            }],
            name: None,
            options: BindOptions::default(),
        };
        let addrs = expand(&bind, 100).unwrap();
        let ports: Vec<u16> = addrs
            .iter()
            .map(|a| match a {
                ListenAddr::Inet { addr, .. } => {
                    assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                    addr.port()
                }
                ListenAddr::Fd(_) => unreachable!(),
            })
            .collect();
        assert_eq!(ports, vec![8080, 8081, 8082]);
    }

    #[test]
    fn a_port_held_by_a_plain_listener_is_refused() {
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = other.local_addr().unwrap();
        let err = probe_unused(addr).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot bind {addr}: address already in use by another process")
        );
    }

    #[test]
    fn inherited_socket_is_shared_by_dup() {
        use std::os::fd::AsRawFd;
        let parent = TcpListener::bind("127.0.0.1:0").unwrap();
        let (bound, socks) =
            bind_for_workers(&ListenAddr::Fd(parent.as_raw_fd()), 2, false).unwrap();
        assert_eq!(bound, parent.local_addr().unwrap());
        assert_eq!(socks.len(), 2);
        assert_ne!(socks[0].as_raw_fd(), parent.as_raw_fd());
    }
}
