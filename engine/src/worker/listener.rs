//! Listening sockets: `bind` lines expanded to addresses, one `SO_REUSEPORT` socket per
//! address per worker with the line's socket options (`transparent`, `defer-accept`,
//! `interface`), inherited `fd@N` sockets shared by `dup`, and the refusal to share a port
//! with another process.
//!
//! `*:80` and `:80` listen on 0.0.0.0 (IPv4 only); write `[::]:80` with `v4v6` for both
//! families. Port 0 picks a free port once and every worker shares it (used by tests).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use monoio::io::CancelHandle;
use ringlb_config::model::{Bind, BindAddr};
use socket2::{Domain, Protocol, Socket, Type};

use crate::io::socket_file::{self, SocketFile};
use crate::io::transport::{Stream, UNIX_PEER};

/// One address a frontend listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Inet {
        addr: SocketAddr,
        v6only: bool,
        backlog: i32,
        opts: InetOptions,
    },
    /// An inherited listening socket, shared by all workers.
    Fd(RawFd),
    /// A Unix socket path (`unix@PATH`, or a path): one socket, shared by all workers.
    Unix(UnixBind),
}

/// Socket options of a `bind` line on an IP address, set before the socket binds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InetOptions {
    /// `transparent`: accept connections to foreign addresses (`IP_TRANSPARENT`).
    pub transparent: bool,
    /// `defer-accept`: a connection is accepted once data arrived (`TCP_DEFER_ACCEPT`).
    pub defer_accept: bool,
    /// `interface NAME`: only connections arriving on that interface (`SO_BINDTODEVICE`).
    pub interface: Option<String>,
}

impl InetOptions {
    fn of(bind: &Bind) -> Self {
        Self {
            transparent: bind.options.transparent,
            defer_accept: bind.options.defer_accept,
            interface: bind.options.interface.clone(),
        }
    }

    /// Sets the options on a socket not bound yet. A failure is an error, not a warning as
    /// HAProxy makes of `interface` and `defer-accept`: a listener quietly bound to every
    /// interface would accept more than the configuration says.
    fn apply(&self, sock: &Socket, addr: SocketAddr) -> io::Result<()> {
        let fd = sock.as_raw_fd();
        let on: libc::c_int = 1;
        let set = |level, name, what: &str| {
            // SAFETY: `fd` is an open socket; the value is a c_int that outlives the call.
            let r = unsafe {
                libc::setsockopt(
                    fd,
                    level,
                    name,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if r == 0 {
                Ok(())
            } else {
                let e = io::Error::last_os_error();
                Err(io::Error::new(e.kind(), format!("{what}: {e}")))
            }
        };
        if self.transparent {
            if addr.is_ipv6() {
                set(libc::SOL_IPV6, libc::IPV6_TRANSPARENT, "transparent")?;
            } else {
                set(libc::SOL_IP, libc::IP_TRANSPARENT, "transparent")?;
            }
        }
        if self.defer_accept {
            set(libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, "defer-accept")?;
        }
        if let Some(name) = &self.interface {
            sock.bind_device(Some(name.as_bytes()))
                .map_err(|e| io::Error::new(e.kind(), format!("interface '{name}': {e}")))?;
        }
        Ok(())
    }
}

/// A `bind` on a Unix socket path, with the file's `mode`, `user` and `group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixBind {
    pub path: PathBuf,
    pub backlog: i32,
    pub mode: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// A bound listening socket, before a worker's runtime adopts it.
#[derive(Debug)]
pub enum Bound {
    Tcp(TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// A worker's listening socket, accepting [`Stream`]s.
#[derive(Debug)]
pub enum Acceptor {
    Tcp(monoio::net::TcpListener),
    Unix(monoio::net::UnixListener),
}

impl Acceptor {
    /// Adopts a bound socket into the calling worker's runtime.
    pub fn adopt(bound: Bound) -> io::Result<Self> {
        match bound {
            Bound::Tcp(l) => monoio::net::TcpListener::from_std(l).map(Acceptor::Tcp),
            Bound::Unix(l) => {
                l.set_nonblocking(true)?;
                monoio::net::UnixListener::from_std(l).map(Acceptor::Unix)
            }
        }
    }

    /// Waits until a client is queued (not relaxed: see the accept loop).
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Acceptor::Tcp(l) => l.readable(false).await,
            Acceptor::Unix(l) => l.readable(false).await,
        }
    }

    /// Accepts one client; a Unix client's address is [`UNIX_PEER`].
    pub async fn accept(&self, c: CancelHandle) -> io::Result<(Stream, SocketAddr)> {
        match self {
            Acceptor::Tcp(l) => l
                .cancelable_accept(c)
                .await
                .map(|(s, a)| (Stream::Tcp(s), a)),
            Acceptor::Unix(l) => l
                .cancelable_accept(c)
                .await
                .map(|(s, _)| (Stream::Unix(s), UNIX_PEER)),
        }
    }
}

impl AsRawFd for Acceptor {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Acceptor::Tcp(l) => l.as_raw_fd(),
            Acceptor::Unix(l) => l.as_raw_fd(),
        }
    }
}

/// Binds a Unix socket path once for every worker; the file is removed when the returned
/// [`SocketFile`] is.
pub fn bind_unix(u: &UnixBind, workers: usize) -> Result<(Vec<Bound>, SocketFile), ListenError> {
    let fail = |e: io::Error| ListenError::Unix(u.path.clone(), e);
    let (first, file) = socket_file::bind(
        &u.path,
        u.mode,
        u.user.as_deref(),
        u.group.as_deref(),
        Some(u.backlog),
    )
    .map_err(fail)?;
    let mut out = Vec::with_capacity(workers);
    for _ in 1..workers {
        out.push(Bound::Unix(first.try_clone().map_err(fail)?));
    }
    out.push(Bound::Unix(first));
    Ok((out, file))
}

#[derive(Debug)]
pub enum ListenError {
    /// Another process already listens there.
    InUse(SocketAddr),
    Bind(SocketAddr, io::Error),
    Fd(RawFd, io::Error),
    Unix(PathBuf, io::Error),
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
            Self::Unix(p, e) => write!(f, "cannot bind unix@{}: {e}", p.display()),
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
                        opts: InetOptions::of(bind),
                    });
                }
            }
            BindAddr::Fd(fd) => out.push(ListenAddr::Fd(*fd)),
            BindAddr::Unix(p) => out.push(ListenAddr::Unix(UnixBind {
                path: p.clone(),
                backlog,
                mode: bind.options.mode,
                user: bind.options.user.clone(),
                group: bind.options.group.clone(),
            })),
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

/// One `SO_REUSEPORT` listening socket on `addr`, with the `bind` line's options.
pub fn reuseport_listener(
    addr: SocketAddr,
    v6only: bool,
    backlog: i32,
    opts: &InetOptions,
) -> io::Result<TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(v6only)?;
    }
    opts.apply(&sock, addr)?;
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
        // One socket for every worker, bound by `bind_unix`.
        ListenAddr::Unix(ref u) => Err(ListenError::Unsupported(format!(
            "unix@{} is bound once for every worker, not per worker",
            u.path.display()
        ))),
        ListenAddr::Inet {
            addr,
            v6only,
            backlog,
            ref opts,
        } => {
            if !takeover {
                probe_unused(addr)?;
            }
            let first =
                reuseport_listener(addr, v6only, backlog, opts).map_err(|e| bind_error(addr, e))?;
            // Port 0: every worker joins the port the first socket got.
            let bound = first.local_addr().map_err(|e| ListenError::Bind(addr, e))?;
            let mut out = vec![first];
            for _ in 1..workers {
                out.push(
                    reuseport_listener(bound, v6only, backlog, opts)
                        .map_err(|e| bind_error(bound, e))?,
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
                ListenAddr::Fd(_) | ListenAddr::Unix(_) => unreachable!(),
            })
            .collect();
        assert_eq!(ports, vec![8080, 8081, 8082]);
    }

    #[test]
    fn defer_accept_and_interface_are_set_on_the_listening_socket() {
        let opts = InetOptions {
            defer_accept: true,
            interface: Some("lo".into()),
            ..InetOptions::default()
        };
        let l = reuseport_listener("127.0.0.1:0".parse().unwrap(), false, 16, &opts).unwrap();
        let sock = socket2::SockRef::from(&l);
        assert_eq!(sock.device().unwrap().as_deref(), Some(&b"lo"[..]));
        let mut delay: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the listener is open; `delay` and `len` outlive the call.
        let r = unsafe {
            libc::getsockopt(
                l.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&mut delay as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0);
        assert!(delay > 0, "TCP_DEFER_ACCEPT is {delay}");
    }

    #[test]
    fn transparent_is_set_or_refuses_the_bind() {
        let opts = InetOptions {
            transparent: true,
            ..InetOptions::default()
        };
        match reuseport_listener("127.0.0.1:0".parse().unwrap(), false, 16, &opts) {
            Ok(l) => {
                let mut on: libc::c_int = 0;
                let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                // SAFETY: the listener is open; `on` and `len` outlive the call.
                let r = unsafe {
                    libc::getsockopt(
                        l.as_raw_fd(),
                        libc::SOL_IP,
                        libc::IP_TRANSPARENT,
                        (&mut on as *mut libc::c_int).cast(),
                        &mut len,
                    )
                };
                assert_eq!((r, on), (0, 1));
            }
            // Without CAP_NET_ADMIN the start fails, naming the option.
            Err(e) => assert!(e.to_string().starts_with("transparent: "), "{e}"),
        }
    }

    #[test]
    fn an_interface_that_does_not_exist_refuses_the_bind() {
        let opts = InetOptions {
            interface: Some("nosuch0".into()),
            ..InetOptions::default()
        };
        let e = reuseport_listener("127.0.0.1:0".parse().unwrap(), false, 16, &opts).unwrap_err();
        assert!(e.to_string().starts_with("interface 'nosuch0': "), "{e}");
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
