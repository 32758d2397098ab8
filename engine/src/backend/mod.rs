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
mod h2;
mod handout;
mod in_flight;
pub mod lb;
pub mod load;
pub mod persist;
mod pool;
pub mod queue;
mod resolve;
pub mod reuse;
pub mod upstream;

pub use abort::client_closed;
pub use connect::{ConnectError, ConnectErrorKind};
pub use load::{BackendLoad, ConnSlot, ServerLoad};
pub use resolve::{
    backend_load, default_fullconn, frontends_maxconn, resolve_all, LbSettings, ResolveError,
    ResolvedBackend, ResolvedServer, DEFAULT_IDLE_PER_SERVER,
};

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::upstream::Pick;
use lb::{Balancer, LbServer, PickCtx};
use pool::IdlePool;
use queue::Waiters;

use crate::analysis::settings::HttpBackend;

/// Index of a server in its backend's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub usize);

/// One server's live state in a worker.
struct ServerSlot {
    conf: ResolvedServer,
    /// Where it is reached now: the configured address until `set server … addr`.
    addr: Cell<(std::net::IpAddr, Option<ringlb_config::model::PortSpec>)>,
    weight: Cell<u16>,
    up: Cell<bool>,
    idle: RefCell<IdlePool>,
    /// Connections in use by requests, which a state change or `shutdown sessions server`
    /// may end.
    in_flight: Rc<in_flight::InFlight>,
    /// `proto h2`: the connection this worker's requests to the server are streams of.
    h2: RefCell<Option<Rc<h2::H2Conn>>>,
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
    /// `option srvtcpka`: server connections get TCP keep-alive probes.
    keepalive: bool,
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
                addr: Cell::new((s.ip, s.port)),
                weight: Cell::new(s.weight),
                up: Cell::new(true),
                idle: RefCell::new(IdlePool::new(conf.idle_per_server)),
                in_flight: Rc::new(in_flight::InFlight::default()),
                h2: RefCell::new(None),
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
            keepalive: conf.keepalive,
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
    pub fn server_target(&self, id: ServerId, client_port: u16) -> resolve::Target<'_> {
        let s = &self.servers[id.0];
        match &s.conf.unix {
            Some(path) => resolve::Target::Unix(path),
            None => {
                let (ip, port) = s.addr.get();
                resolve::Target::Inet(resolve::addr_for(ip, port, client_port), s.conf.source)
            }
        }
    }

    /// `set server … addr`: new connections go to `ip` and `port`; idle connections to the
    /// old address are closed, those in use finish where they are.
    pub fn set_addr(
        &self,
        id: ServerId,
        ip: std::net::IpAddr,
        port: Option<ringlb_config::model::PortSpec>,
    ) {
        let s = &self.servers[id.0];
        s.addr.set((ip, port));
        s.idle.borrow_mut().clear();
        s.h2.borrow_mut().take();
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

    /// Marks a server up or down. Going down drops its idle connections; a change ends
    /// sessions in flight where `on-marked-down` / `on-marked-up` ask for it.
    pub fn set_server_state(&self, id: ServerId, up: bool) {
        let s = &self.servers[id.0];
        let was_up = s.up.replace(up);
        self.balancer.borrow_mut().server_state(&self.lb_view(), id);
        if !up {
            s.idle.borrow_mut().clear();
        }
        if was_up != up {
            self.end_sessions_on_change(id, up);
        }
    }

    /// The weight server `id` has now (its configured one unless changed at run time).
    pub fn weight(&self, id: ServerId) -> u16 {
        self.servers[id.0].weight.get()
    }

    pub fn set_weight(&self, id: ServerId, weight: u16) {
        self.servers[id.0].weight.set(weight);
        self.balancer
            .borrow_mut()
            .weight_changed(&self.lb_view(), id);
    }

    /// Picks a server with the backend's algorithm for a request that carries nothing to
    /// hash (TCP without inspection, redispatch), ignoring connection limits. `avoid` is
    /// skipped when another server is eligible (redispatch).
    pub fn choose_server(&self, avoid: Option<ServerId>) -> Option<ServerId> {
        let none = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        let pick = Pick::connection(none, none);
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

    /// An idle connection to `id` that still looks open, if any; with `proven_only`, only
    /// one that has already carried more than one request (`http-reuse aggressive`); over
    /// TLS, only one that sent `sni`.
    pub fn take_idle(
        &self,
        id: ServerId,
        proven_only: bool,
        sni: Option<&str>,
    ) -> Option<crate::io::transport::Stream> {
        self.servers[id.0].idle.borrow_mut().take(proven_only, sni)
    }

    /// Keeps `stream` for reuse; returns false (and drops it) when the pool is full or the
    /// server is down.
    pub fn put_idle(
        &self,
        id: ServerId,
        stream: crate::io::transport::Stream,
        proven: bool,
    ) -> bool {
        let s = &self.servers[id.0];
        s.up.get() && s.idle.borrow_mut().put(stream, proven)
    }

    /// Number of idle connections held for `id`.
    pub fn idle_count(&self, id: ServerId) -> usize {
        self.servers[id.0].idle.borrow().len()
    }
}

/// One server's state as a worker applies it: up or down, and its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    pub backend: String,
    pub server: String,
    pub up: bool,
    pub weight: u16,
}

/// The runtime the backend's unit tests drive real sockets on (the epoll driver, with
/// timers).
#[cfg(test)]
pub(crate) fn test_runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ringlb_config::model::{PortSpec, Proxy, ProxyKind};

    pub(crate) fn server(name: &str, weight: u16, backup: bool) -> ResolvedServer {
        ResolvedServer {
            weight,
            backup,
            ..ResolvedServer::fixed(name, ([127, 0, 0, 1], 1).into())
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
            keepalive: false,
            idle_per_server: 2,
            lb: LbSettings::default(),
            http: crate::analysis::settings::HttpBackend::from_proxy(&proxy),
        }
    }

    pub(crate) fn table(servers: Vec<ResolvedServer>) -> BackendTable {
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
        t.set_server_state(t.server_id("a").unwrap(), false);
        assert!(names(&t, 3).iter().all(|n| n == "bk"));
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
        use crate::backend::upstream::{Reuse, Upstream};
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
        let mut rt = test_runtime();
        rt.block_on(async {
            let pick = Pick {
                prefer: Some(0),
                ..Pick::connection(
                    "127.0.0.1:9".parse().unwrap(),
                    "127.0.0.1:0".parse().unwrap(),
                )
            };
            let got = |t: &'static str, c: crate::backend::upstream::UpstreamConn| {
                (t, c.server, c.persisted)
            };
            let c = plain.acquire(Reuse::NewOnly, None, &pick).await.unwrap();
            assert_eq!(got("drain", c), ("drain", 0, true));
            plain.set_server_state(ServerId(0), false);
            persist.set_server_state(ServerId(0), false);
            let c = plain.acquire(Reuse::NewOnly, None, &pick).await.unwrap();
            assert_eq!(got("down", c), ("down", 1, false));
            let c = persist.acquire(Reuse::NewOnly, None, &pick).await.unwrap();
            assert_eq!(got("persist", c), ("persist", 0, true));
        });
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
