//! Resolving a backend once at startup: server names through the system resolver, the
//! balancing settings, and the connection counters every worker will share.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ringlb_config::model::{
    BackendName, Balance, GlobalTls, HashType, Host, Mode, OnMarkedDown, OnMarkedUp, PortSpec,
    Proxy, ProxyKind,
};
use ringlb_config::Config;

use crate::analysis::rules::Shared;
use crate::analysis::settings::HttpBackend;
use crate::backend::load::{BackendLoad, ServerLoad};
use crate::io::tls::TlsConnector;

/// A server with its address resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedServer {
    pub name: String,
    /// A server on a Unix socket (`unix@PATH`, or a path): reached by its path, and `ip`
    /// and `port` are not used.
    pub unix: Option<PathBuf>,
    pub ip: IpAddr,
    /// `None`: the port the client reached; an offset is relative to it.
    pub port: Option<PortSpec>,
    pub weight: u16,
    pub backup: bool,
    pub disabled: bool,
    /// The persistence cookie value that selects this server (`cookie` keyword).
    pub cookie: Option<String>,
    pub maxconn: Option<u32>,
    pub minconn: Option<u32>,
    pub maxqueue: Option<u32>,
    /// `on-marked-down shutdown-sessions`: going down ends the sessions using it.
    pub shutdown_sessions_on_down: bool,
    /// `on-marked-up shutdown-backup-sessions`: coming up ends the backups' sessions.
    pub shutdown_backup_sessions_on_up: bool,
    /// `observe layer4|layer7`: where the request path counts this server's errors; `None`
    /// for servers not observed, which then cost one branch per report.
    pub observe: Option<Arc<ringlb_checks::Watch>>,
    /// `ssl`: connections are TLS, made by this (one per server, shared by every worker).
    pub tls: Option<Arc<TlsConnector>>,
    /// `proto h2`: requests are streams of one HTTP/2 connection per worker (`backend/h2.rs`).
    pub h2: bool,
    /// `send-proxy[-v2]`: every connection starts with a PROXY header naming its client, so
    /// it serves that client only (`backend/reuse.rs`).
    pub send_proxy: Option<ringlb_config::model::ProxyVersion>,
    /// `redir PREFIX`: GET and HEAD requests routed here are answered with a 302 instead.
    pub redir: Option<Box<str>>,
    /// `source ADDR[:PORT]`: the local address connections to it leave from.
    pub source: Option<SocketAddr>,
}

impl ResolvedServer {
    /// A server at `addr` with every setting at its default: weight 1, active, enabled,
    /// no limits, no cookie, no options. `dispatch` makes one; tests start from it.
    pub fn fixed(name: &str, addr: SocketAddr) -> Self {
        ResolvedServer {
            name: name.into(),
            unix: None,
            ip: addr.ip(),
            port: Some(PortSpec::Fixed(addr.port())),
            weight: 1,
            backup: false,
            disabled: false,
            cookie: None,
            maxconn: None,
            minconn: None,
            maxqueue: None,
            shutdown_sessions_on_down: false,
            shutdown_backup_sessions_on_up: false,
            observe: None,
            tls: None,
            h2: false,
            send_proxy: None,
            redir: None,
            source: None,
        }
    }

    /// The IP address to connect to for a client that reached `client_port`.
    pub fn addr(&self, client_port: u16) -> SocketAddr {
        addr_for(self.ip, self.port, client_port)
    }
}

/// The address a server at `ip` and `port` is reached at by a client that reached
/// `client_port` (no port: the same one; an offset: relative to it).
pub fn addr_for(ip: IpAddr, port: Option<PortSpec>, client_port: u16) -> SocketAddr {
    let port = match port {
        None => client_port,
        Some(PortSpec::Fixed(p)) => p,
        Some(PortSpec::Offset(o)) => (i32::from(client_port) + o).clamp(1, 65535) as u16,
    };
    SocketAddr::new(ip, port)
}

impl ResolvedServer {}

/// Where a server connection goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The server's address, and the `source` address to connect from.
    Inet(SocketAddr, Option<SocketAddr>),
    Unix(&'a Path),
}

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Inet(a, _) => write!(f, "{a}"),
            Target::Unix(p) => write!(f, "unix@{}", p.display()),
        }
    }
}

/// Everything a worker needs to build its table for one backend.
#[derive(Debug, Clone)]
pub struct ResolvedBackend {
    pub name: String,
    /// What an HTTP session needs of this backend (timeouts, connection mode, error pages).
    pub http: HttpBackend,
    pub servers: Vec<ResolvedServer>,
    pub retries: u32,
    pub redispatch: bool,
    pub connect_timeout: Option<Duration>,
    /// `option srvtcpka` (or `tcpka`): TCP keep-alive towards servers.
    pub keepalive: bool,
    /// Idle server connections kept per server for keep-alive reuse.
    pub idle_per_server: usize,
    pub lb: LbSettings,
    /// Connection counts and the round-robin cursor, one set for the whole process.
    pub load: Arc<BackendLoad>,
}

/// How a backend balances and queues.
#[derive(Debug, Clone, Default)]
pub struct LbSettings {
    pub balance: Balance,
    pub hash_type: HashType,
    /// `option allbackups`: spread over every backup, not only the first.
    pub allbackups: bool,
    /// `option persist`: a persistence cookie naming a down server still sends there.
    pub persist: bool,
    /// `option abortonclose`: a queued request whose client closed is dropped.
    pub abortonclose: bool,
    /// `timeout queue`, defaulting to `timeout connect`; `None`: wait as long as it takes.
    pub queue_timeout: Option<Duration>,
}

impl LbSettings {
    pub fn from_proxy(proxy: &Proxy) -> Self {
        Self {
            balance: proxy.balance.clone(),
            hash_type: proxy.hash_type,
            allbackups: proxy.options.allbackups,
            persist: proxy.options.persist,
            abortonclose: proxy.options.abortonclose,
            queue_timeout: proxy.timeouts.queue.or(proxy.timeouts.connect),
        }
    }
}

/// The shared counters for `servers`. `maxconn` on a plain `backend` caps the sum of its
/// server connections (on a `listen` it limits accepted clients instead).
pub fn backend_load(proxy: &Proxy, servers: &[ResolvedServer], fullconn: u32) -> BackendLoad {
    let maxconn = match proxy.kind {
        ProxyKind::Backend => proxy.maxconn.unwrap_or(0),
        _ => 0,
    };
    let servers = servers
        .iter()
        .map(|s| Arc::new(ServerLoad::new(s.maxconn, s.minconn, s.maxqueue)))
        .collect();
    BackendLoad::new(servers, maxconn, fullconn)
}

/// `fullconn` when not set: a tenth of the summed `maxconn` of the frontends that can send
/// to `backend` (its `default_backend` or a `use_backend` naming it, or the `listen`
/// itself), a frontend without `maxconn` counting the global one, as HAProxy derives it.
pub fn default_fullconn(config: &Config, backend: &Proxy) -> u32 {
    let total = frontends_maxconn(config, backend, config.global.maxconn.unwrap_or(0));
    (total / 10).min(u64::from(u32::MAX)) as u32
}

/// The summed `maxconn` of the enabled frontends that can send to `backend`, one without
/// `maxconn` counting `default_maxconn`.
pub fn frontends_maxconn(config: &Config, backend: &Proxy, default_maxconn: u32) -> u64 {
    let reaches = |f: &Proxy| {
        (f.kind == ProxyKind::Listen && f.name == backend.name)
            || f.default_backend.as_deref() == Some(backend.name.as_str())
            || f.use_backends
                .iter()
                .any(|u| matches!(&u.backend, BackendName::Static(n) if *n == backend.name))
    };
    config
        .frontends()
        .filter(|f| !f.disabled && reaches(f))
        .map(|f| u64::from(f.maxconn.unwrap_or(default_maxconn)))
        .sum()
}

/// Resolves every enabled backend of `config`, `fullconn` defaults included.
pub fn resolve_all(config: &Config) -> Result<Vec<ResolvedBackend>, ResolveError> {
    config
        .backends()
        .filter(|p| !p.disabled)
        .map(|p| {
            let mut r = ResolvedBackend::resolve_in(p, Shared::of(config))?;
            r.attach_tls(p, &config.global.tls)?;
            let fullconn = p.fullconn.unwrap_or_else(|| default_fullconn(config, p));
            r.load = Arc::new(backend_load(p, &r.servers, fullconn));
            Ok(r)
        })
        .collect()
}

#[derive(Debug)]
pub enum ResolveError {
    Lookup {
        backend: String,
        server: String,
        host: String,
        error: String,
    },
    /// A server's TLS could not be built (`-c` builds it too, so only a file changed
    /// since the check gets here).
    Tls {
        backend: String,
        server: String,
        error: String,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lookup {
                backend,
                server,
                host,
                error,
            } => {
                write!(
                    f,
                    "backend '{backend}', server '{server}': cannot resolve '{host}': {error}"
                )
            }
            Self::Tls {
                backend,
                server,
                error,
            } => write!(f, "backend '{backend}', server '{server}': ssl: {error}"),
        }
    }
}

impl std::error::Error for ResolveError {}

/// Idle connections kept per server and worker unless configured otherwise. HAProxy keeps
/// idle server connections without a bound by default; a bound well above any client
/// concurrency per worker keeps keep-alive clients on reused connections (a bound below
/// it closed and reopened a server connection for one request in six under 50 clients),
/// while `maxconn` still bounds what can be open at all.
pub const DEFAULT_IDLE_PER_SERVER: usize = 1024;

impl ResolvedBackend {
    /// The backend's name and its servers' names, in order: its place in the counters'
    /// [`crate::metrics::Layout`].
    pub fn names(&self) -> (String, Vec<String>) {
        (
            self.name.clone(),
            self.servers.iter().map(|s| s.name.clone()).collect(),
        )
    }

    /// Resolves the servers of `proxy` (names through the system resolver, once). A backend
    /// without servers but with `dispatch ADDR` gets one server named `dispatch`.
    pub fn resolve(proxy: &Proxy) -> Result<Self, ResolveError> {
        Self::resolve_in(proxy, Shared::default())
    }

    /// Like [`ResolvedBackend::resolve`], with the configuration's userlists and
    /// http-errors sections for the backend's rules and error pages.
    pub fn resolve_in(proxy: &Proxy, shared: Shared<'_>) -> Result<Self, ResolveError> {
        let mut servers = Vec::with_capacity(proxy.servers.len());
        for s in &proxy.servers {
            let ip = match &s.addr.host {
                Host::Ip(ip) => *ip,
                Host::Name(name) => lookup(name).map_err(|error| ResolveError::Lookup {
                    backend: proxy.name.clone(),
                    server: s.name.clone(),
                    host: name.clone(),
                    error,
                })?,
                Host::Unix(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            };
            servers.push(ResolvedServer {
                name: s.name.clone(),
                unix: match &s.addr.host {
                    Host::Unix(p) => Some(p.clone()),
                    _ => None,
                },
                ip,
                port: s.addr.port,
                weight: s.weight.get(),
                backup: s.backup,
                disabled: s.disabled,
                cookie: s.cookie.clone(),
                maxconn: s.maxconn,
                minconn: s.minconn,
                maxqueue: s.maxqueue,
                shutdown_sessions_on_down: s.check.on_marked_down
                    == Some(OnMarkedDown::ShutdownSessions),
                shutdown_backup_sessions_on_up: s.check.on_marked_up
                    == Some(OnMarkedUp::ShutdownBackupSessions),
                observe: None,
                tls: None,
                h2: s.proto == Some(ringlb_config::model::HttpProto::H2),
                send_proxy: s.send_proxy,
                redir: s.redir.as_deref().map(Box::from),
                source: s.source,
            });
        }
        if servers.is_empty() {
            if let Some(d) = proxy.dispatch {
                servers.push(ResolvedServer::fixed("dispatch", d));
            }
        }
        // Without the whole configuration, only a `listen`'s own `maxconn` is known.
        let own = proxy.kind.has_frontend().then_some(proxy.maxconn).flatten();
        let fullconn = proxy.fullconn.unwrap_or(own.unwrap_or(0) / 10);
        let load = Arc::new(backend_load(proxy, &servers, fullconn));
        Ok(Self {
            name: proxy.name.clone(),
            http: HttpBackend::in_config(proxy, shared),
            servers,
            retries: proxy.retries,
            redispatch: proxy.options.redispatch,
            connect_timeout: proxy.timeouts.connect,
            keepalive: proxy.options.srvtcpka || proxy.options.tcpka,
            idle_per_server: DEFAULT_IDLE_PER_SERVER,
            lb: LbSettings::from_proxy(proxy),
            load,
        })
    }
}

impl ResolvedBackend {
    /// Builds the TLS of each server of `proxy` with `ssl`, once for every worker.
    pub fn attach_tls(&mut self, proxy: &Proxy, g: &GlobalTls) -> Result<(), ResolveError> {
        let http = proxy.mode == Mode::Http;
        for (r, s) in self.servers.iter_mut().zip(&proxy.servers) {
            if s.ssl {
                r.tls = Some(
                    TlsConnector::new(s, g, http).map_err(|error| ResolveError::Tls {
                        backend: proxy.name.clone(),
                        server: s.name.clone(),
                        error,
                    })?,
                );
            }
        }
        Ok(())
    }
}

fn lookup(name: &str) -> Result<IpAddr, String> {
    (name, 0)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| "no address".to_string())
}
