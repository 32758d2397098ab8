//! Probes: one connection to a server that ends in a `CheckResult`. TCP connect, HTTP
//! request with an expectation, SSL hello, the agent's one-line reply, `tcp-check` rule
//! sequences and the protocol checks built on them (redis, smtp, mysql, pgsql, ldap). A TCP
//! or HTTP probe may run over TLS ([`tls`]).

pub mod agent;
pub mod http;
pub mod ldap;
pub mod mysql;
pub mod pgsql;
pub mod redis;
pub mod smtp;
pub mod ssl_hello;
pub mod stream;
pub mod tcp_check;
pub mod tls;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

use crate::status::{CheckResult, CheckStatus};
use ringlb_config::model::ProxyVersion;

/// What a health check sends and expects.
#[derive(Debug, Clone)]
pub enum ProbeKind {
    /// A connection that opens is enough (plain `check`).
    Tcp,
    /// `option httpchk`: a request, then the response held against the expectation.
    Http(http::HttpProbe),
    /// `option ssl-hello-chk`: a TLS ClientHello must be answered by a ServerHello.
    SslHello,
    /// `tcp-check` rules, or a protocol check: the probe opens its own connections.
    TcpCheck(std::sync::Arc<tcp_check::TcpCheckProbe>),
}

/// Where and how long to probe.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub addr: SocketAddr,
    /// The server's `source` address, which checks leave from too (as in HAProxy).
    pub source: Option<SocketAddr>,
    /// Bound on establishing the connection.
    pub connect_timeout: Duration,
    /// Bound on the whole exchange once connected.
    pub response_timeout: Duration,
    /// The PROXY header the probe's connection starts with (`check-send-proxy`, or the
    /// server's `send-proxy` when the check goes where the traffic goes); for a `tcp-check`
    /// sequence, what its default connects send.
    pub proxy: Option<ProxyVersion>,
    /// The version a `tcp-check connect send-proxy` sends: the server's.
    pub proxy_version: ProxyVersion,
}

impl Target {
    /// A target probed without a PROXY header.
    pub fn plain(addr: SocketAddr, connect_timeout: Duration, response_timeout: Duration) -> Self {
        Target {
            addr,
            source: None,
            connect_timeout,
            response_timeout,
            proxy: None,
            proxy_version: ProxyVersion::V1,
        }
    }
}

/// Runs one probe of `kind` against `target`.
pub async fn run(kind: &ProbeKind, target: &Target) -> CheckResult {
    run_over(kind, target, None).await
}

/// Runs one probe of `kind` against `target`, over TLS when `tls` is given: the handshake
/// passing is what a TCP probe checks then (`L6OK`). The probes that speak a protocol of
/// their own (`tcp-check`, SSL hello) are never asked to run over TLS (`-c` refuses it).
pub async fn run_over(
    kind: &ProbeKind,
    target: &Target,
    tls: Option<&tls::CheckTls>,
) -> CheckResult {
    let start = Instant::now();
    let mut result = match kind {
        ProbeKind::TcpCheck(t) => t.run(target).await,
        _ => match connect(target).await {
            Err(r) => r,
            Ok(stream) => match tls {
                None => exchange(kind, stream, target).await,
                Some(tls) => {
                    let ip = target.addr.ip();
                    match tls::handshake(stream, tls, ip, target.response_timeout).await {
                        Err(r) => r,
                        Ok(stream) => match kind {
                            ProbeKind::Tcp => CheckResult::new(CheckStatus::L6Ok),
                            _ => exchange(kind, stream, target).await,
                        },
                    }
                }
            },
        },
    };
    result.duration = start.elapsed();
    result
}

/// What a connected probe of `kind` sends and finds.
async fn exchange<S: AsyncReadRent + AsyncWriteRent>(
    kind: &ProbeKind,
    stream: S,
    target: &Target,
) -> CheckResult {
    match kind {
        ProbeKind::Tcp => CheckResult::new(CheckStatus::L4Ok),
        ProbeKind::Http(h) => h.exchange(stream, target.response_timeout).await,
        ProbeKind::SslHello => ssl_hello::exchange(stream, target.response_timeout).await,
        ProbeKind::TcpCheck(_) => unreachable!("runs its own connections"),
    }
}

/// A TCP connection to `addr`, from the server's `source` address when it has one: used
/// by checks and by the engine's connections to servers alike.
pub async fn connect_tcp(addr: SocketAddr, source: Option<SocketAddr>) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect_addr(addr).await;
    };
    // Bound before connecting, which monoio's connect cannot do: a non-blocking connect
    // on our own socket, then a wait for it to become writable and its error, if any.
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.bind(&source.into())?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let tcp = TcpStream::from_std(std::net::TcpStream::from(sock))?;
    tcp.writable(false).await?;
    // SAFETY: the descriptor is `tcp`'s, open for the length of the call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(tcp.as_raw_fd()) };
    match socket2::SockRef::from(&fd).take_error()? {
        Some(e) => Err(e),
        None => Ok(tcp),
    }
}

/// Opens the connection, or says why not (`L4TOUT`, `L4CON` with the OS error as info).
/// The PROXY header `target.proxy` asks for is sent first, within the same bound.
pub async fn connect(target: &Target) -> Result<TcpStream, CheckResult> {
    let open = async {
        let mut s = connect_tcp(target.addr, target.source).await?;
        let _ = s.set_nodelay(true);
        if let Some(v) = target.proxy {
            s.write_all(proxy_header(v, &s)?).await.0?;
        }
        Ok::<_, io::Error>(s)
    };
    match monoio::time::timeout(target.connect_timeout, open).await {
        Err(_) => Err(CheckResult::new(CheckStatus::L4Timeout)),
        Ok(Err(e)) => Err(CheckResult::new(CheckStatus::L4Con).with_info(os_error_text(&e))),
        Ok(Ok(s)) => Ok(s),
    }
}

/// The header a health check sends, as haproxy 2.6 does. A check has no client: version 1
/// names the check connection's own addresses (its local one, then the server's), version
/// 2 is a `LOCAL` command without addresses.
fn proxy_header(version: ProxyVersion, conn: &TcpStream) -> io::Result<Vec<u8>> {
    use ppp::{v1, v2};
    Ok(match version {
        ProxyVersion::V1 => {
            let (src, dst) = (conn.local_addr()?, conn.peer_addr()?);
            match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    v1::Addresses::new_tcp4(s, d, src.port(), dst.port())
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    v1::Addresses::new_tcp6(s, d, src.port(), dst.port())
                }
                _ => v1::Addresses::Unknown,
            }
            .to_string()
            .into_bytes()
        }
        ProxyVersion::V2 => {
            v2::Builder::with_addresses(0x20, v2::Protocol::Unspecified, v2::Addresses::Unspecified)
                .build()?
        }
    })
}

/// The OS error without Rust's " (os error N)" suffix, as `strerror` words it.
pub fn os_error_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// How a read-until-done exchange ended.
pub enum Exchange {
    /// The bytes gathered; `done` said enough, or the peer closed.
    Read(Vec<u8>),
    TimedOut(Vec<u8>),
    Failed(io::Error),
}

/// Writes `request` (if any), then reads until `done(bytes)` says enough, the peer closes,
/// `limit` bytes arrived, or `timeout` passes.
pub async fn write_then_read<S: AsyncReadRent + AsyncWriteRent>(
    stream: &mut S,
    request: Vec<u8>,
    timeout: Duration,
    limit: usize,
    done: impl Fn(&[u8]) -> bool,
) -> Exchange {
    let deadline = Instant::now() + timeout;
    if !request.is_empty() {
        let write = stream.write_all(request);
        match monoio::time::timeout(timeout, write).await {
            Err(_) => return Exchange::TimedOut(Vec::new()),
            Ok((Err(e), _)) => return Exchange::Failed(e),
            Ok((Ok(_), _)) => {}
        }
    }
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Exchange::TimedOut(got);
        }
        let buf = Vec::with_capacity(4096);
        match monoio::time::timeout(left, stream.read(buf)).await {
            Err(_) => return Exchange::TimedOut(got),
            Ok((Err(e), _)) => {
                if got.is_empty() {
                    return Exchange::Failed(e);
                }
                return Exchange::Read(got);
            }
            Ok((Ok(0), _)) => return Exchange::Read(got),
            Ok((Ok(_), buf)) => {
                got.extend_from_slice(&buf);
                if got.len() >= limit {
                    got.truncate(limit);
                    return Exchange::Read(got);
                }
                if done(&got) {
                    return Exchange::Read(got);
                }
            }
        }
    }
}
