//! A worker's server table: servers resolved at startup, weighted round robin, up/down and
//! weight changes from the control thread, connecting with retries, idle connection pools.
//!
//! `ResolvedBackend` is built once (names resolved) and shared; each worker builds its own
//! `BackendTable` from it. The table is not `Send`: no locks on the request path.

mod connect;
mod pool;
mod upstream;

pub use connect::{ConnectError, ConnectErrorKind};

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringlb_config::model::{Host, PortSpec, Proxy};

use crate::shard::inbox::ShardEvent;
use pool::IdlePool;

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
    /// The round-robin position, one per backend for the whole process.
    pub cursor: Arc<RoundRobinCursor>,
}

/// The position in a backend's round-robin schedule, shared by every worker.
///
/// Each worker derives the same schedule from the same server states, and all of them
/// advance one shared counter, so successive requests walk the schedule in order whichever
/// worker accepted them: the aggregate distribution is exactly the weighted round robin a
/// single-threaded balancer would produce. Padded to its own cache line so that the one
/// relaxed `fetch_add` per pick does not contend with anything else.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct RoundRobinCursor(AtomicU64);

impl RoundRobinCursor {
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
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
        Self::resolve_in(proxy, crate::http::rules::Shared::default())
    }

    /// Like [`ResolvedBackend::resolve`], with the configuration's userlists and
    /// http-errors sections for the backend's rules and error pages.
    pub fn resolve_in(
        proxy: &Proxy,
        shared: crate::http::rules::Shared<'_>,
    ) -> Result<Self, ResolveError> {
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
                });
            }
        }
        Ok(Self {
            name: proxy.name.clone(),
            http: HttpBackend::in_config(proxy, shared),
            servers,
            retries: proxy.retries,
            redispatch: proxy.options.redispatch,
            connect_timeout: proxy.timeouts.connect,
            idle_per_server: DEFAULT_IDLE_PER_SERVER,
            cursor: Arc::default(),
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
}

/// A worker's view of one backend.
pub struct BackendTable {
    name: String,
    pub http: HttpBackend,
    servers: Vec<ServerSlot>,
    retries: u32,
    redispatch: bool,
    connect_timeout: Option<Duration>,
    cursor: Arc<RoundRobinCursor>,
    /// The current round-robin schedule; rebuilt after a state or weight change.
    schedule: RefCell<Option<Rc<[ServerId]>>>,
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
        Self {
            name: conf.name.clone(),
            http: conf.http.clone(),
            servers,
            retries: conf.retries,
            redispatch: conf.redispatch,
            connect_timeout: conf.connect_timeout,
            cursor: conf.cursor.clone(),
            schedule: RefCell::new(None),
        }
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

    /// The server whose persistence cookie value is `value`. Several servers may share a
    /// value (seed 003: `webA` checked on port 81 and its backup `bkpA` on port 80): the
    /// first usable one wins, so a client stays on the machine while either is up.
    pub fn server_by_cookie(&self, value: &[u8]) -> Option<ServerId> {
        let named = |s: &&ServerSlot| s.conf.cookie.as_deref().map(str::as_bytes) == Some(value);
        let ids = || self.servers.iter().enumerate().filter(|(_, s)| named(s));
        ids()
            .find(|(_, s)| s.usable())
            .or_else(|| ids().next())
            .map(|(i, _)| ServerId(i))
    }

    /// The persistence cookie value of `id`, if it has one.
    pub fn cookie_of(&self, id: ServerId) -> Option<&str> {
        self.servers[id.0].conf.cookie.as_deref()
    }

    /// Marks a server up or down. Going down drops its idle connections.
    pub fn set_server_state(&self, id: ServerId, up: bool) {
        let s = &self.servers[id.0];
        s.up.set(up);
        self.schedule.replace(None);
        if !up {
            s.idle.borrow_mut().clear();
        }
    }

    /// The weight server `id` has now (its configured one unless changed at run time).
    pub fn weight(&self, id: ServerId) -> u16 {
        self.servers[id.0].weight.get()
    }

    pub fn set_weight(&self, id: ServerId, weight: u16) {
        self.servers[id.0].weight.set(weight);
        self.schedule.replace(None);
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

    /// Picks the next server in the weighted round-robin schedule of usable active
    /// servers, or of usable backups when no active server is usable. `avoid` is skipped
    /// when another server is usable (redispatch).
    pub fn choose_server(&self, avoid: Option<ServerId>) -> Option<ServerId> {
        let schedule = self.schedule();
        let len = schedule.len() as u64;
        if len == 0 {
            return None;
        }
        let n = self.cursor.next();
        (0..len)
            .map(|k| schedule[((n + k) % len) as usize])
            .find(|&id| Some(id) != avoid)
            .or(Some(schedule[(n % len) as usize]))
    }

    fn schedule(&self) -> Rc<[ServerId]> {
        if let Some(s) = &*self.schedule.borrow() {
            return s.clone();
        }
        let usable = |backup: bool| -> Vec<(ServerId, u16)> {
            self.servers
                .iter()
                .enumerate()
                .filter(|(_, s)| s.conf.backup == backup && s.usable())
                .map(|(i, s)| (ServerId(i), s.weight.get()))
                .collect()
        };
        let mut servers = usable(false);
        if servers.is_empty() {
            servers = usable(true);
        }
        let schedule: Rc<[ServerId]> = smooth_weighted_order(&servers).into();
        self.schedule.replace(Some(schedule.clone()));
        schedule
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

/// One cycle of smooth weighted round robin: each server appears `weight / gcd` times,
/// spread out rather than in bursts (weights 5:1:1 give a a b a c a a, not a a a a a b c).
fn smooth_weighted_order(servers: &[(ServerId, u16)]) -> Vec<ServerId> {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = servers
        .iter()
        .fold(0, |g, &(_, w)| gcd(g, u64::from(w)))
        .max(1);
    let weights: Vec<i64> = servers
        .iter()
        .map(|&(_, w)| (u64::from(w) / g) as i64)
        .collect();
    let total: i64 = weights.iter().sum();
    let mut current = vec![0i64; servers.len()];
    let mut order = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for i in 0..servers.len() {
            current[i] += weights[i];
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        order.push(servers[best].0);
    }
    order
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
        }
    }

    fn table(servers: Vec<ResolvedServer>) -> BackendTable {
        BackendTable::new(&ResolvedBackend {
            name: "be".into(),
            servers,
            retries: 0,
            redispatch: false,
            connect_timeout: None,
            idle_per_server: 2,
            cursor: Arc::default(),
            http: crate::http::HttpBackend::from_proxy(&ringlb_config::model::Proxy::new(
                ringlb_config::model::ProxyKind::Backend,
                "be".into(),
                Default::default(),
            )),
        })
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
        let conf = ResolvedBackend {
            name: "be".into(),
            servers: vec![server("a", 1, false), server("b", 1, false)],
            retries: 0,
            redispatch: false,
            connect_timeout: None,
            idle_per_server: 2,
            cursor: Arc::default(),
            http: table(Vec::new()).http.clone(),
        };
        let (w1, w2) = (BackendTable::new(&conf), BackendTable::new(&conf));
        // Requests land on either worker in any order; the sequence still alternates.
        let picks: Vec<&str> = [&w1, &w1, &w2, &w1, &w2, &w2]
            .iter()
            .map(|t| t.server_name(t.choose_server(None).unwrap()))
            .collect();
        assert_eq!(picks, ["a", "b", "a", "b", "a", "b"]);
    }

    #[test]
    fn smooth_order_spreads_heavy_servers_and_reduces_by_gcd() {
        let ids = [(ServerId(0), 10), (ServerId(1), 2), (ServerId(2), 2)];
        let order: Vec<usize> = smooth_weighted_order(&ids).iter().map(|s| s.0).collect();
        assert_eq!(
            order,
            [0, 0, 1, 0, 2, 0, 0],
            "5:1:1 after dividing by 2, never three a in a row"
        );
    }

    #[test]
    fn a_shared_cookie_names_the_server_that_is_up() {
        let mut web = server("webA", 1, false);
        web.cookie = Some("A".into());
        let mut bkp = server("bkpA", 1, true);
        bkp.cookie = Some("A".into());
        let t = table(vec![web, bkp]);
        assert_eq!(t.server_by_cookie(b"A"), t.server_id("webA"));
        t.set_server_state(t.server_id("webA").unwrap(), false);
        assert_eq!(t.server_by_cookie(b"A"), t.server_id("bkpA"));
        t.set_server_state(t.server_id("bkpA").unwrap(), false);
        assert_eq!(
            t.server_by_cookie(b"A"),
            t.server_id("webA"),
            "with both down, the first one (for `option persist`)"
        );
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
