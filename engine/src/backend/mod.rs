//! A worker's server table: servers resolved at startup, the `balance` algorithm, up/down
//! and weight changes from the control thread, connection limits and queues, connecting
//! with retries, idle connection pools.
//!
//! `ResolvedBackend` is built once (names resolved, shared counters allocated) and shared;
//! each worker builds its own `BackendTable` from it. The table is not `Send`: no locks on
//! the request path; what workers share are atomics ([`load`]).

mod abort;
mod assign;
mod connect;
pub mod load;
mod pool;
pub mod queue;
mod upstream;

pub use abort::client_closed;
pub use connect::{ConnectError, ConnectErrorKind};
pub use load::{BackendLoad, ConnSlot, ServerLoad};

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use ringlb_config::model::{BackendName, Balance, HashType, Host, PortSpec, Proxy, ProxyKind};
use ringlb_config::Config;

use crate::http::Pick;
use crate::lb::{self, Balancer, LbServer, PickCtx};
use crate::shard::inbox::ShardEvent;
use pool::IdlePool;
use queue::Waiters;

use crate::http::HttpBackend;

/// Index of a server in its backend's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub usize);

/// A server with its address resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedServer {
    pub name: String,
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
}

impl ResolvedServer {
    /// The address to connect to for a client that reached `client_port`.
    pub fn addr(&self, client_port: u16) -> SocketAddr {
        let port = match self.port {
            None => client_port,
            Some(PortSpec::Fixed(p)) => p,
            Some(PortSpec::Offset(o)) => (i32::from(client_port) + o).clamp(1, 65535) as u16,
        };
        SocketAddr::new(self.ip, port)
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
    let reaches = |f: &Proxy| {
        (f.kind == ProxyKind::Listen && f.name == backend.name)
            || f.default_backend.as_deref() == Some(backend.name.as_str())
            || f.use_backends
                .iter()
                .any(|u| matches!(&u.backend, BackendName::Static(n) if *n == backend.name))
    };
    let total: u64 = config
        .frontends()
        .filter(|f| !f.disabled && reaches(f))
        .map(|f| u64::from(f.maxconn.or(config.global.maxconn).unwrap_or(0)))
        .sum();
    (total / 10).min(u64::from(u32::MAX)) as u32
}

/// Resolves every enabled backend of `config`, `fullconn` defaults included.
pub fn resolve_all(config: &Config) -> Result<Vec<ResolvedBackend>, ResolveError> {
    config
        .backends()
        .filter(|p| !p.disabled)
        .map(|p| {
            let mut r = ResolvedBackend::resolve(p)?;
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
    Unsupported {
        backend: String,
        server: String,
        what: &'static str,
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
            Self::Unsupported {
                backend,
                server,
                what,
            } => {
                write!(
                    f,
                    "backend '{backend}', server '{server}': {what} is not supported"
                )
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// Idle connections kept per server unless configured otherwise.
pub const DEFAULT_IDLE_PER_SERVER: usize = 32;

impl ResolvedBackend {
    /// Resolves the servers of `proxy` (names through the system resolver, once). A backend
    /// without servers but with `dispatch ADDR` gets one server named `dispatch`.
    pub fn resolve(proxy: &Proxy) -> Result<Self, ResolveError> {
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
                Host::Unix(_) => {
                    return Err(ResolveError::Unsupported {
                        backend: proxy.name.clone(),
                        server: s.name.clone(),
                        what: "a unix socket server address",
                    })
                }
            };
            servers.push(ResolvedServer {
                name: s.name.clone(),
                ip,
                port: s.addr.port,
                weight: s.weight.get(),
                backup: s.backup,
                disabled: s.disabled,
                cookie: s.cookie.clone(),
                maxconn: s.maxconn,
                minconn: s.minconn,
                maxqueue: s.maxqueue,
            });
        }
        if servers.is_empty() {
            if let Some(d) = proxy.dispatch {
                servers.push(ResolvedServer {
                    name: "dispatch".into(),
                    ip: d.ip(),
                    port: Some(PortSpec::Fixed(d.port())),
                    weight: 1,
                    backup: false,
                    disabled: false,
                    cookie: None,
                    maxconn: None,
                    minconn: None,
                    maxqueue: None,
                });
            }
        }
        // Without the whole configuration, only a `listen`'s own `maxconn` is known.
        let own = proxy.kind.has_frontend().then_some(proxy.maxconn).flatten();
        let fullconn = proxy.fullconn.unwrap_or(own.unwrap_or(0) / 10);
        let load = Arc::new(backend_load(proxy, &servers, fullconn));
        Ok(Self {
            name: proxy.name.clone(),
            http: HttpBackend::from_proxy(proxy),
            servers,
            retries: proxy.retries,
            redispatch: proxy.options.redispatch,
            connect_timeout: proxy.timeouts.connect,
            idle_per_server: DEFAULT_IDLE_PER_SERVER,
            lb: LbSettings::from_proxy(proxy),
            load,
        })
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

/// One server's live state in a worker.
struct ServerSlot {
    conf: ResolvedServer,
    weight: Cell<u16>,
    up: Cell<bool>,
    idle: RefCell<IdlePool>,
}

impl ServerSlot {
    fn usable(&self) -> bool {
        !self.conf.disabled && self.up.get() && self.weight.get() > 0
    }

    fn lb_view(&self) -> LbServer {
        LbServer {
            weight: self.weight.get(),
            conf_weight: self.conf.weight,
            up: self.up.get() && !self.conf.disabled,
            backup: self.conf.backup,
        }
    }
}

/// A worker's view of one backend.
pub struct BackendTable {
    name: String,
    pub http: HttpBackend,
    servers: Vec<ServerSlot>,
    retries: u32,
    redispatch: bool,
    connect_timeout: Option<Duration>,
    lb: LbSettings,
    load: Arc<BackendLoad>,
    /// The `balance` algorithm; told of every state and weight change.
    balancer: RefCell<Box<dyn Balancer>>,
    /// This worker's queues; slots given back here wake them directly.
    waiters: Rc<Waiters>,
}

impl BackendTable {
    pub fn new(conf: &ResolvedBackend) -> Self {
        let servers = conf
            .servers
            .iter()
            .map(|s| ServerSlot {
                conf: s.clone(),
                weight: Cell::new(s.weight),
                up: Cell::new(true),
                idle: RefCell::new(IdlePool::new(conf.idle_per_server)),
            })
            .collect();
        let servers: Vec<ServerSlot> = servers;
        let view: Vec<LbServer> = servers.iter().map(ServerSlot::lb_view).collect();
        let balancer = lb::build(
            &conf.lb.balance,
            conf.lb.hash_type,
            conf.lb.allbackups,
            conf.load.clone(),
            &view,
        );
        Self {
            name: conf.name.clone(),
            http: conf.http.clone(),
            waiters: Rc::new(Waiters::new(servers.len())),
            servers,
            retries: conf.retries,
            redispatch: conf.redispatch,
            connect_timeout: conf.connect_timeout,
            lb: conf.lb.clone(),
            load: conf.load.clone(),
            balancer: RefCell::new(balancer),
        }
    }

    /// The counters this backend shares with the other workers.
    pub fn load(&self) -> &Arc<BackendLoad> {
        &self.load
    }

    /// Requests using a connection to `id` now, across all workers.
    pub fn current_conns(&self, id: ServerId) -> u32 {
        self.load.servers[id.0].current()
    }

    fn lb_view(&self) -> Vec<LbServer> {
        self.servers.iter().map(ServerSlot::lb_view).collect()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    pub fn server_id(&self, name: &str) -> Option<ServerId> {
        self.servers
            .iter()
            .position(|s| s.conf.name == name)
            .map(ServerId)
    }

    pub fn server_name(&self, id: ServerId) -> &str {
        &self.servers[id.0].conf.name
    }

    /// The address server `id` is reached at for a client that connected to `client_port`.
    pub fn server_addr(&self, id: ServerId, client_port: u16) -> SocketAddr {
        self.servers[id.0].conf.addr(client_port)
    }

    /// Servers that can take traffic now (`nbsrv`): usable active ones, else usable backups.
    pub fn usable_count(&self) -> usize {
        let count = |backup: bool| {
            self.servers
                .iter()
                .filter(|s| s.conf.backup == backup && s.usable())
                .count()
        };
        match count(false) {
            0 => count(true),
            n => n,
        }
    }

    pub fn is_up(&self, id: ServerId) -> bool {
        self.servers[id.0].up.get()
    }

    /// Whether `id` may take new traffic now (up, enabled, weight above 0).
    pub fn is_usable(&self, id: ServerId) -> bool {
        self.servers[id.0].usable()
    }

    /// The server whose persistence cookie value is `value`.
    pub fn server_by_cookie(&self, value: &[u8]) -> Option<ServerId> {
        self.servers
            .iter()
            .position(|s| s.conf.cookie.as_deref().map(str::as_bytes) == Some(value))
            .map(ServerId)
    }

    /// The persistence cookie value of `id`, if it has one.
    pub fn cookie_of(&self, id: ServerId) -> Option<&str> {
        self.servers[id.0].conf.cookie.as_deref()
    }

    /// Marks a server up or down. Going down drops its idle connections.
    pub fn set_server_state(&self, id: ServerId, up: bool) {
        let s = &self.servers[id.0];
        s.up.set(up);
        self.balancer.borrow_mut().server_state(&self.lb_view(), id);
        if !up {
            s.idle.borrow_mut().clear();
        }
    }

    pub fn set_weight(&self, id: ServerId, weight: u16) {
        self.servers[id.0].weight.set(weight);
        self.balancer
            .borrow_mut()
            .weight_changed(&self.lb_view(), id);
    }

    /// Applies an event addressed to this backend; returns whether it changed anything.
    pub fn apply(&self, event: &ShardEvent) -> bool {
        match event {
            ShardEvent::SetServerState {
                backend,
                server,
                up,
            } if *backend == self.name => self
                .server_id(server)
                .map(|id| self.set_server_state(id, *up))
                .is_some(),
            ShardEvent::SetWeight {
                backend,
                server,
                weight,
            } if *backend == self.name => self
                .server_id(server)
                .map(|id| self.set_weight(id, *weight))
                .is_some(),
            _ => false,
        }
    }

    /// Picks a server with the backend's algorithm for a request that carries nothing to
    /// hash (TCP without inspection, redispatch), ignoring connection limits. `avoid` is
    /// skipped when another server is eligible (redispatch).
    pub fn choose_server(&self, avoid: Option<ServerId>) -> Option<ServerId> {
        let pick = Pick::connection(std::net::SocketAddr::from(([0, 0, 0, 0], 0)), 0);
        self.pick_server(&pick, avoid, false)
    }

    /// Picks a server for `pick`. With `skip_full`, load-driven algorithms pass over
    /// servers at their limit (and return `None` when all are); hashing may still return a
    /// full server, which the request then waits for.
    pub fn pick_server(
        &self,
        pick: &Pick<'_>,
        avoid: Option<ServerId>,
        skip_full: bool,
    ) -> Option<ServerId> {
        let b = self.balancer.borrow();
        let ctx = PickCtx {
            request: pick,
            load: &self.load,
            avoid,
            skip_full,
        };
        b.pick(&ctx).or_else(|| {
            // The failed server is retried when it is the only one eligible.
            avoid?;
            b.pick(&PickCtx { avoid: None, ..ctx })
        })
    }

    /// An idle connection to `id` that still looks open, if any.
    pub fn take_idle(&self, id: ServerId) -> Option<monoio::net::TcpStream> {
        self.servers[id.0].idle.borrow_mut().take()
    }

    /// Keeps `stream` for reuse; returns false (and drops it) when the pool is full or the
    /// server is down.
    pub fn put_idle(&self, id: ServerId, stream: monoio::net::TcpStream) -> bool {
        let s = &self.servers[id.0];
        s.up.get() && s.idle.borrow_mut().put(stream)
    }

    /// Number of idle connections held for `id`.
    pub fn idle_count(&self, id: ServerId) -> usize {
        self.servers[id.0].idle.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, weight: u16, backup: bool) -> ResolvedServer {
        ResolvedServer {
            name: name.into(),
            ip: "127.0.0.1".parse().unwrap(),
            port: Some(PortSpec::Fixed(1)),
            weight,
            backup,
            disabled: false,
            cookie: None,
            maxconn: None,
            minconn: None,
            maxqueue: None,
        }
    }

    fn conf(servers: Vec<ResolvedServer>) -> ResolvedBackend {
        let proxy = Proxy::new(ProxyKind::Backend, "be".into(), Default::default());
        ResolvedBackend {
            name: "be".into(),
            load: Arc::new(backend_load(&proxy, &servers, 0)),
            servers,
            retries: 0,
            redispatch: false,
            connect_timeout: None,
            idle_per_server: 2,
            lb: LbSettings::default(),
            http: crate::http::HttpBackend::from_proxy(&proxy),
        }
    }

    fn table(servers: Vec<ResolvedServer>) -> BackendTable {
        BackendTable::new(&conf(servers))
    }

    fn names(t: &BackendTable, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| t.server_name(t.choose_server(None).unwrap()).to_string())
            .collect()
    }

    #[test]
    fn round_robin_follows_weights_and_interleaves() {
        let t = table(vec![server("a", 2, false), server("b", 1, false)]);
        let picks = names(&t, 6);
        assert_eq!(picks.iter().filter(|n| *n == "a").count(), 4);
        assert_eq!(picks.iter().filter(|n| *n == "b").count(), 2);
        assert_ne!(
            picks[0], picks[1],
            "smooth round robin does not send bursts to one server: {picks:?}"
        );
    }

    #[test]
    fn weight_zero_disabled_and_down_servers_get_nothing() {
        let mut d = server("d", 1, false);
        d.disabled = true;
        let t = table(vec![
            server("a", 1, false),
            server("z", 0, false),
            d,
            server("x", 1, false),
        ]);
        t.set_server_state(t.server_id("x").unwrap(), false);
        assert!(names(&t, 4).iter().all(|n| n == "a"));
    }

    #[test]
    fn backups_serve_only_when_no_active_server_is_usable() {
        let t = table(vec![server("a", 1, false), server("bk", 1, true)]);
        assert!(names(&t, 3).iter().all(|n| n == "a"));
        assert!(t.apply(&ShardEvent::SetServerState {
            backend: "be".into(),
            server: "a".into(),
            up: false
        }));
        assert!(names(&t, 3).iter().all(|n| n == "bk"));
        assert!(!t.apply(&ShardEvent::SetWeight {
            backend: "other".into(),
            server: "a".into(),
            weight: 3
        }));
    }

    #[test]
    fn redispatch_avoids_the_failed_server_when_another_exists() {
        let t = table(vec![server("a", 1, false), server("b", 1, false)]);
        let a = t.server_id("a").unwrap();
        for _ in 0..4 {
            assert_ne!(t.choose_server(Some(a)), Some(a));
        }
        let single = table(vec![server("a", 1, false)]);
        assert_eq!(
            single.choose_server(Some(ServerId(0))),
            Some(ServerId(0)),
            "a lone server is retried"
        );
    }

    #[test]
    fn workers_sharing_a_cursor_alternate_between_servers() {
        let conf = conf(vec![server("a", 1, false), server("b", 1, false)]);
        let (w1, w2) = (BackendTable::new(&conf), BackendTable::new(&conf));
        // Requests land on either worker in any order; the sequence still alternates.
        let picks: Vec<&str> = [&w1, &w1, &w2, &w1, &w2, &w2]
            .iter()
            .map(|t| t.server_name(t.choose_server(None).unwrap()))
            .collect();
        assert_eq!(picks, ["a", "b", "a", "b", "a", "b"]);
    }

    #[test]
    fn fullconn_defaults_to_a_tenth_of_the_frontends_reaching_the_backend() {
        let text = "global\n maxconn 3000\ndefaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
                    frontend a\n bind :80\n maxconn 10000\n default_backend app\n\
                    frontend b\n bind :81\n use_backend app if TRUE\n default_backend other\n\
                    frontend c\n bind :82\n maxconn 500\n default_backend other\n\
                    backend app\n server s 127.0.0.1:8080 minconn 4 maxconn 12\n\
                    backend other\n fullconn 77\n server s 127.0.0.1:8080\n";
        let loaded = ringlb_config::parse_str(text, std::path::Path::new("t.cfg"));
        let config = loaded
            .config
            .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        let all = resolve_all(&config).unwrap();
        assert_eq!(all[0].load.fullconn, 1300, "(10000 + global 3000) / 10");
        assert_eq!(all[1].load.fullconn, 77, "set explicitly");
    }

    #[test]
    fn persistence_reaches_a_drained_server_and_a_down_one_only_with_persist() {
        use crate::http::{Reuse, Upstream};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let at = |name: &str, weight| {
            let mut s = server(name, weight, false);
            s.port = Some(PortSpec::Fixed(port));
            s
        };
        let mut persist = conf(vec![at("a", 0), at("b", 1)]);
        persist.lb.persist = true;
        let plain = table(vec![at("a", 0), at("b", 1)]);
        let persist = BackendTable::new(&persist);
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async {
            let pick = Pick {
                prefer: Some(0),
                ..Pick::connection("127.0.0.1:9".parse().unwrap(), 0)
            };
            let got = |t: &'static str, c: crate::http::UpstreamConn| (t, c.server, c.persisted);
            let c = plain.acquire(Reuse::NewOnly, &pick).await.unwrap();
            assert_eq!(got("drain", c), ("drain", 0, true));
            plain.set_server_state(ServerId(0), false);
            persist.set_server_state(ServerId(0), false);
            let c = plain.acquire(Reuse::NewOnly, &pick).await.unwrap();
            assert_eq!(got("down", c), ("down", 1, false));
            let c = persist.acquire(Reuse::NewOnly, &pick).await.unwrap();
            assert_eq!(got("persist", c), ("persist", 0, true));
        });
    }

    #[test]
    fn offset_and_missing_ports_follow_the_client_port() {
        let mut s = server("a", 1, false);
        s.port = None;
        assert_eq!(s.addr(8080).port(), 8080);
        s.port = Some(PortSpec::Offset(1000));
        assert_eq!(s.addr(8080).port(), 9080);
    }
}
