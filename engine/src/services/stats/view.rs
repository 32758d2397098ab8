//! The statistics rows every reader shows (runtime socket `show stat`, the stats page and
//! its `;csv`): per proxy a frontend row, one row per server and a backend row, with
//! HAProxy's `show stat` fields in HAProxy's order, typed, built from one moment's sources.

use std::time::Duration;

use hdrhistogram::Histogram;
use ringlb_checks::{AdminState, ServerSnapshot as CheckState};
use ringlb_config::model::{Balance, Mode, Proxy};
use ringlb_config::Config;

use crate::backend::ResolvedBackend;
use crate::metrics::{CounterSnapshot, Registry, Snapshot};
use crate::worker::frontends::FrontendState;

/// What the rows are read from; all of it taken at one moment by the caller.
pub struct Sources<'a> {
    pub config: &'a Config,
    /// Every worker's counter blocks (per-worker session counts).
    pub registry: &'a Registry,
    /// `registry.snapshot()`, taken once for the whole view.
    pub counters: &'a Snapshot,
    /// Every server's check and admin state, in configuration order (empty: no checker).
    pub checks: &'a [CheckState],
    /// The backends as the workers run them: addresses, limits, shared connection counts.
    pub backends: &'a [ResolvedBackend],
    /// Total time each server spent DOWN, by (backend, server); `None`: never down.
    pub downtime: &'a dyn Fn(&str, &str) -> Option<Duration>,
    /// The process-wide connection limit (`maxconn` as applied).
    pub maxconn: u64,
    pub pid: u32,
    /// A server's address when `set server … addr` changed it, by (backend, server).
    pub moved: &'a dyn Fn(&str, &str) -> Option<crate::services::admin::state::ServerAddr>,
    /// The running frontends' states and limits as the runtime API set them (`None`:
    /// as configured).
    pub frontends: Option<&'a crate::services::admin::frontends::Frontends>,
}

/// Which part of a proxy a row describes; HAProxy's `type` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    Frontend,
    Backend,
    Server,
}

impl RowKind {
    /// HAProxy's numeric `type`: 0 frontend, 1 backend, 2 server, 3 listener.
    pub fn code(self) -> u8 {
        match self {
            Self::Frontend => 0,
            Self::Backend => 1,
            Self::Server => 2,
        }
    }
}

/// The `status` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// A frontend accepting connections.
    Open,
    /// A frontend that is disabled.
    Stop,
    /// A frontend refusing clients for now (`disable frontend`).
    Paused,
    Up,
    Down,
    /// UP, failing checks: `failed` of `fall` seen.
    GoingDown {
        failed: u32,
        fall: u32,
    },
    /// DOWN, passing checks: `passed` of `rise` seen.
    GoingUp {
        passed: u32,
        rise: u32,
    },
    Maint,
    Drain,
    /// Up, but refusing new load-balanced traffic (`http-check disable-on-404`).
    NoLb,
    /// Not checked, taking traffic.
    NoCheck,
}

impl Status {
    /// HAProxy's text for the status column.
    pub fn text(&self) -> String {
        match self {
            Self::Open => "OPEN".into(),
            Self::Stop => "STOP".into(),
            Self::Paused => "PAUSED".into(),
            Self::Up => "UP".into(),
            Self::Down => "DOWN".into(),
            Self::GoingDown { failed, fall } => format!("UP {failed}/{fall}"),
            Self::GoingUp { passed, rise } => format!("DOWN {passed}/{rise}"),
            Self::Maint => "MAINT".into(),
            Self::Drain => "DRAIN".into(),
            Self::NoLb => "NOLB".into(),
            Self::NoCheck => "no check".into(),
        }
    }

    /// Reads the checker's status text back into a status.
    pub fn from_check_text(s: &str) -> Self {
        let fraction = |rest: &str| -> Option<(u32, u32)> {
            let (a, b) = rest.split_once('/')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        };
        match s {
            "UP" => Self::Up,
            "DOWN" => Self::Down,
            "MAINT" => Self::Maint,
            "DRAIN" => Self::Drain,
            "NOLB" => Self::NoLb,
            _ => {
                if let Some((failed, fall)) = s.strip_prefix("UP ").and_then(fraction) {
                    Self::GoingDown { failed, fall }
                } else if let Some((passed, rise)) = s.strip_prefix("DOWN ").and_then(fraction) {
                    Self::GoingUp { passed, rise }
                } else {
                    Self::NoCheck
                }
            }
        }
    }

    /// Whether a server in this state takes new load-balanced traffic, weight aside.
    pub fn takes_new_traffic(&self) -> bool {
        self.is_up() && !matches!(self, Self::Drain | Self::NoLb)
    }

    /// Whether the server or backend can take traffic in this state.
    pub fn is_up(&self) -> bool {
        matches!(
            self,
            Self::Open
                | Self::Up
                | Self::GoingDown { .. }
                | Self::NoCheck
                | Self::Drain
                | Self::NoLb
        )
    }
}

/// The last result of a health or agent check, as HAProxy's columns show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckView {
    /// `L4OK`, `L7STS`, … prefixed with `* ` while the check is in progress in HAProxy; here
    /// results are always complete.
    pub status: String,
    pub code: Option<u16>,
    /// Milliseconds.
    pub duration_ms: u64,
    /// What the check saw (`last_chk`): the server's reply or the error.
    pub desc: String,
    /// What the status means (`check_desc`): "Layer4 check passed", …
    pub reason: String,
}

/// Response-time percentiles in microseconds (beyond HAProxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    /// Samples the percentiles come from.
    pub count: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        Self {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            count: h.len(),
        }
    }
}

/// One worker's share of a row's sessions (beyond HAProxy: imbalance between cores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerSessions {
    pub current: u64,
    pub total: u64,
}

/// One line of `show stat`. Fields follow HAProxy's CSV order; `None` is an empty cell
/// (a field that does not apply to this kind of row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub pxname: String,
    pub svname: String,
    pub qcur: Option<u64>,
    pub qmax: Option<u64>,
    pub scur: u64,
    pub smax: u64,
    pub slim: Option<u64>,
    pub stot: u64,
    pub bin: u64,
    pub bout: u64,
    pub dreq: Option<u64>,
    pub dresp: Option<u64>,
    pub ereq: Option<u64>,
    pub econ: Option<u64>,
    pub eresp: Option<u64>,
    pub wretr: Option<u64>,
    pub wredis: Option<u64>,
    pub status: Status,
    /// Effective weight (after drain and agent scaling).
    pub weight: Option<u64>,
    /// Active / backup: 1/0 for a server, counts of such servers up for a backend.
    pub act: Option<u64>,
    pub bck: Option<u64>,
    pub chkfail: Option<u64>,
    pub chkdown: Option<u64>,
    /// Seconds since the last UP/DOWN change.
    pub lastchg: Option<u64>,
    /// Seconds spent DOWN in total.
    pub downtime: Option<u64>,
    pub qlimit: Option<u64>,
    pub pid: u32,
    /// Proxy id, and server id within it (0 for frontend/backend rows).
    pub iid: u32,
    pub sid: u32,
    pub lbtot: Option<u64>,
    pub kind: RowKind,
    pub rate: u64,
    pub rate_lim: Option<u64>,
    pub rate_max: u64,
    pub check: Option<CheckView>,
    /// `[1xx, 2xx, 3xx, 4xx, 5xx, other]`, for HTTP proxies.
    pub hrsp: Option<[u64; 6]>,
    /// HTTP requests in the last whole second and the highest such count (frontends).
    pub req_rate: Option<u64>,
    pub req_rate_max: Option<u64>,
    pub req_tot: Option<u64>,
    pub cli_abrt: Option<u64>,
    pub srv_abrt: Option<u64>,
    /// Average connect and response times, milliseconds.
    pub ctime: Option<u64>,
    pub rtime: Option<u64>,
    pub agent: Option<CheckView>,
    pub check_rise: Option<u32>,
    pub check_fall: Option<u32>,
    pub check_health: Option<u32>,
    pub addr: Option<String>,
    pub cookie: Option<String>,
    pub mode: Mode,
    pub algo: Option<String>,
    pub conn_tot: Option<u64>,
    /// Configured (user) weight.
    pub uweight: Option<u64>,

    // Beyond HAProxy's CSV: what the page shows besides.
    pub admin: Option<AdminState>,
    pub backup: bool,
    pub response: Option<Percentiles>,
    pub per_worker: Vec<WorkerSessions>,
    /// A frontend with a `bind … ssl`: its TLS handshakes.
    pub tls: Option<TlsView>,
    pub h2: Option<H2View>,
    /// `show stat up|no-maint` on a backend: its servers UP and its servers, which
    /// HAProxy then writes after the status (`UP (1/2)`).
    pub servers_up: Option<(usize, usize)>,
}

/// TLS handshakes of a frontend: completed, of them resumed, and failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsView {
    pub handshakes: u64,
    pub resumed: u64,
    pub failures: u64,
}

/// A `mode http` frontend's HTTP/2 connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2View {
    pub connections: u64,
    /// Ended with a GOAWAY for the client's errors (protocol, floods, limits).
    pub misbehaved: u64,
}

/// One proxy's rows, in HAProxy's display order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyView {
    pub name: String,
    /// `description TEXT`: shown beside the name in the page's proxy header.
    pub description: Option<String>,
    pub mode: Mode,
    pub frontend: Option<Row>,
    pub servers: Vec<Row>,
    pub backend: Option<Row>,
}

impl ProxyView {
    /// Frontend, servers, backend.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.frontend
            .iter()
            .chain(self.servers.iter())
            .chain(self.backend.iter())
    }
}

/// HAProxy's numeric id (`iid`) of the `i`th proxy: its `id`, or its rank in the
/// configuration. With a `stats socket`, HAProxy's own CLI proxy comes first and holds 1,
/// so the configuration's proxies count from 2: the same numbers here keep scripts that
/// address proxies by id (`show stat 3 -1 -1`) working.
pub fn proxy_iid(config: &Config, i: usize) -> u32 {
    let first = if config.global.stats_sockets.is_empty() {
        1
    } else {
        2
    };
    config.proxies[i].id.unwrap_or(i as u32 + first)
}

/// Every proxy of the configuration, in configuration order; with a non-empty `scope`,
/// only the proxies it names (`stats scope`).
pub fn proxies(src: &Sources, scope: &[String]) -> Vec<ProxyView> {
    let mut out = Vec::new();
    for (i, p) in src.config.proxies.iter().enumerate() {
        if !scope.is_empty() && !scope.iter().any(|s| s == &p.name || s == ".") {
            continue;
        }
        let iid = proxy_iid(src.config, i);
        let frontend = (p.kind.has_frontend()).then(|| frontend_row(src, p, iid));
        let resolved = src.backends.iter().find(|b| b.name == p.name);
        let (servers, backend) = match resolved.filter(|_| p.kind.has_backend()) {
            Some(rb) => {
                let servers: Vec<Row> = rb
                    .servers
                    .iter()
                    .enumerate()
                    .map(|(j, s)| server_row(src, p, rb, j, s, iid))
                    .collect();
                let be = backend_row(src, p, rb, &servers, iid);
                (servers, Some(be))
            }
            None => (Vec::new(), None),
        };
        out.push(ProxyView {
            name: p.name.clone(),
            description: p.description.clone(),
            mode: p.mode,
            frontend,
            servers,
            backend,
        });
    }
    out
}

fn per_worker(
    src: &Sources,
    block: impl Fn(&crate::metrics::WorkerStats) -> Option<&crate::metrics::Counters>,
) -> Vec<WorkerSessions> {
    let n = src.registry_workers();
    (0..n)
        .filter_map(|w| {
            let stats = src.registry.worker(w);
            let c = block(stats)?;
            let mut s = CounterSnapshot::default();
            c.add_to(&mut s, stats.tick());
            Some(WorkerSessions {
                current: s.sess_cur,
                total: s.sess_total,
            })
        })
        .collect()
}

impl Sources<'_> {
    fn registry_workers(&self) -> usize {
        self.registry.workers()
    }
}

fn http_only(p: &Proxy, c: &CounterSnapshot) -> Option<[u64; 6]> {
    (p.mode == Mode::Http).then_some(c.responses)
}

fn mean_ms(h: &Histogram<u64>) -> Option<u64> {
    Some(if h.is_empty() {
        0
    } else {
        (h.mean() / 1000.0).round() as u64
    })
}

/// A row with what every kind shares: names and ids, the session, byte and rate counters,
/// the responses by class, and no value for the fields only some kinds have.
fn counted_row(
    src: &Sources,
    p: &Proxy,
    c: &CounterSnapshot,
    (svname, kind, iid): (String, RowKind, u32),
    status: Status,
) -> Row {
    Row {
        pxname: p.name.clone(),
        svname,
        qcur: None,
        qmax: None,
        scur: c.sess_cur,
        smax: c.sess_max,
        slim: None,
        stot: c.sess_total,
        bin: c.bytes_in,
        bout: c.bytes_out,
        dreq: None,
        dresp: Some(c.denied_resp),
        ereq: None,
        econ: None,
        eresp: None,
        wretr: None,
        wredis: None,
        status,
        weight: None,
        act: None,
        bck: None,
        chkfail: None,
        chkdown: None,
        lastchg: None,
        downtime: None,
        qlimit: None,
        pid: src.pid,
        iid,
        sid: 0,
        lbtot: None,
        kind,
        rate: c.sess_rate,
        rate_lim: None,
        rate_max: c.sess_rate_max,
        check: None,
        hrsp: http_only(p, c),
        req_rate: None,
        req_rate_max: None,
        req_tot: None,
        cli_abrt: None,
        srv_abrt: None,
        ctime: None,
        rtime: None,
        agent: None,
        check_rise: None,
        check_fall: None,
        check_health: None,
        addr: None,
        cookie: None,
        mode: p.mode,
        algo: None,
        conn_tot: None,
        uweight: None,
        admin: None,
        backup: false,
        response: None,
        per_worker: Vec::new(),
        tls: None,
        h2: None,
        servers_up: None,
    }
}

fn frontend_row(src: &Sources, p: &Proxy, iid: u32) -> Row {
    let empty = CounterSnapshot::default();
    let c = src.counters.frontend(&p.name).unwrap_or(&empty);
    let index = src
        .registry
        .layout()
        .frontends
        .iter()
        .position(|n| n == &p.name);
    let running = src.frontends.and_then(|f| f.get(&p.name));
    let status = match running.map(|f| f.state()) {
        _ if p.disabled => Status::Stop,
        Some(FrontendState::Paused) => Status::Paused,
        Some(FrontendState::Stopped) => Status::Stop,
        _ => Status::Open,
    };
    let base = counted_row(
        src,
        p,
        c,
        ("FRONTEND".into(), RowKind::Frontend, iid),
        status,
    );
    Row {
        slim: Some(u64::from(running.map_or_else(
            || p.maxconn.unwrap_or(src.maxconn as u32),
            |f| f.maxconn(),
        ))),
        dreq: Some(c.denied_req),
        ereq: Some(c.err_req),
        rate_lim: Some(0),
        req_rate: (p.mode == Mode::Http).then_some(c.req_rate),
        req_rate_max: (p.mode == Mode::Http).then_some(c.req_rate_max),
        req_tot: (p.mode == Mode::Http).then_some(c.req_total),
        conn_tot: Some(c.sess_total),
        tls: p
            .binds
            .iter()
            .any(|b| b.options.tls.is_some())
            .then_some(TlsView {
                handshakes: c.tls_handshakes,
                resumed: c.tls_resumed,
                failures: c.tls_failures,
            }),
        h2: (p.mode == Mode::Http).then_some(H2View {
            connections: c.h2_conns,
            misbehaved: c.h2_errors,
        }),
        per_worker: match index {
            Some(i) => per_worker(src, |w| w.frontends.get(i)),
            None => Vec::new(),
        },
        ..base
    }
}

fn check_view(r: &ringlb_checks::CheckResult) -> CheckView {
    CheckView {
        status: r.status.code().to_string(),
        code: r.code,
        duration_ms: r.duration.as_millis() as u64,
        desc: r
            .info
            .clone()
            .unwrap_or_else(|| r.status.reason().to_string()),
        reason: r.status.reason().to_string(),
    }
}

fn server_row(
    src: &Sources,
    p: &Proxy,
    rb: &ResolvedBackend,
    j: usize,
    s: &crate::backend::ResolvedServer,
    iid: u32,
) -> Row {
    let empty = crate::metrics::ServerSnapshot {
        name: s.name.clone(),
        counters: CounterSnapshot::default(),
        connect: crate::metrics::histogram::new_histogram(),
        response: crate::metrics::histogram::new_histogram(),
    };
    let snap = src
        .counters
        .backend(&p.name)
        .and_then(|b| b.servers.get(j))
        .unwrap_or(&empty);
    let c = &snap.counters;
    let state = src
        .checks
        .iter()
        .find(|c| c.backend == p.name && c.server == s.name);
    let load = rb.load.servers.get(j);
    let status = match state {
        Some(st) => Status::from_check_text(&st.status),
        None if s.disabled => Status::Maint,
        None => Status::NoCheck,
    };
    let checked = state.is_some_and(|st| st.checked);
    let weight = state.map_or(s.weight, |st| st.weight);
    let be_index = src.registry.backend_index().get(&p.name).copied();
    // The limit as the workers apply it now (`set maxconn server` changes it).
    let maxconn = load.map_or(s.maxconn.unwrap_or(0), |l| l.maxconn());
    let base = counted_row(src, p, c, (s.name.clone(), RowKind::Server, iid), status);
    Row {
        qcur: Some(load.map_or(0, |l| u64::from(l.queued.load(RELAXED)))),
        scur: load.map_or(c.sess_cur, |l| u64::from(l.current())),
        slim: (maxconn > 0).then_some(u64::from(maxconn)),
        weight: Some(u64::from(weight)),
        act: Some(u64::from(!s.backup)),
        bck: Some(u64::from(s.backup)),
        chkfail: checked.then(|| state.map_or(0, |st| st.failed_checks)),
        chkdown: checked.then(|| state.map_or(0, |st| st.downs)),
        lastchg: state.map(|st| st.since_change.as_secs()),
        downtime: checked.then(|| (src.downtime)(&p.name, &s.name).map_or(0, |d| d.as_secs())),
        qlimit: s.maxqueue.map(u64::from),
        sid: j as u32 + 1,
        check: state
            .filter(|st| st.checked)
            .and_then(|st| st.last_check.as_ref())
            .map(check_view),
        agent: state.and_then(|st| st.last_agent.as_ref()).map(check_view),
        check_rise: state.filter(|st| st.checked).map(|st| st.rise),
        check_fall: state.filter(|st| st.checked).map(|st| st.fall),
        check_health: state.filter(|st| st.checked).map(|st| st.health),
        addr: Some({
            let (ip, port) = (src.moved)(&p.name, &s.name).unwrap_or((s.ip, s.port));
            match (&s.unix, port) {
                (Some(path), _) => format!("unix@{}", path.display()),
                (None, Some(ringlb_config::model::PortSpec::Fixed(port))) => {
                    std::net::SocketAddr::new(ip, port).to_string()
                }
                (None, _) => ip.to_string(),
            }
        }),
        cookie: s.cookie.clone(),
        uweight: Some(u64::from(s.weight)),
        admin: Some(state.map_or(
            if s.disabled {
                AdminState::Maint
            } else {
                AdminState::Ready
            },
            |st| st.admin,
        )),
        backup: s.backup,
        per_worker: match be_index {
            Some(b) => per_worker(src, |w| w.servers.get(b)?.get(j)),
            None => Vec::new(),
        },
        ..with_backend_counters(base, c, &snap.connect, &snap.response)
    }
}

/// The fields server and backend rows both fill from their counters and histograms:
/// queue peak, connection and response errors, retries, connect and response times.
fn with_backend_counters(
    row: Row,
    c: &CounterSnapshot,
    connect: &Histogram<u64>,
    response: &Histogram<u64>,
) -> Row {
    Row {
        qmax: Some(c.queue_max),
        econ: Some(c.err_conn),
        eresp: Some(c.err_resp),
        wretr: Some(c.retries),
        wredis: Some(c.redispatches),
        lbtot: Some(c.sess_total),
        cli_abrt: Some(0),
        srv_abrt: Some(0),
        ctime: mean_ms(connect),
        rtime: mean_ms(response),
        response: Some(Percentiles::of(response)),
        ..row
    }
}

const RELAXED: std::sync::atomic::Ordering = std::sync::atomic::Ordering::Relaxed;

impl Row {
    /// The `status` cell: the status, and for `show stat up|no-maint` the servers UP.
    pub fn status_text(&self) -> String {
        match self.servers_up {
            Some((up, all)) => format!("{} ({up}/{all})", self.status.text()),
            None => self.status.text(),
        }
    }

    /// A server row that takes new load-balanced traffic: in a state that does, with a
    /// weight above 0.
    pub fn takes_new_traffic(&self) -> bool {
        self.status.takes_new_traffic() && self.weight.unwrap_or(0) > 0
    }
}

/// HAProxy's name for a `balance` algorithm.
pub fn algo_name(b: &Balance) -> &'static str {
    match b {
        Balance::RoundRobin => "roundrobin",
        Balance::StaticRr => "static-rr",
        Balance::LeastConn => "leastconn",
        Balance::First => "first",
        Balance::Source => "source",
        Balance::Uri { .. } => "uri",
        Balance::UrlParam { .. } => "url_param",
        Balance::Hdr { .. } => "hdr",
        Balance::Random { .. } => "random",
        Balance::RdpCookie { .. } => "rdp-cookie",
    }
}

fn backend_row(src: &Sources, p: &Proxy, rb: &ResolvedBackend, servers: &[Row], iid: u32) -> Row {
    let empty = crate::metrics::BackendSnapshot {
        name: p.name.clone(),
        counters: CounterSnapshot::default(),
        connect: crate::metrics::histogram::new_histogram(),
        response: crate::metrics::histogram::new_histogram(),
        servers: Vec::new(),
    };
    let snap = src.counters.backend(&p.name).unwrap_or(&empty);
    let c = &snap.counters;
    // As HAProxy counts them: servers taking new load-balanced traffic (running, not
    // draining nor NOLB, weight above 0).
    let up_servers = |backup: bool| {
        servers
            .iter()
            .filter(move |s| s.backup == backup && s.takes_new_traffic())
    };
    let (act, bck) = (
        up_servers(false).count() as u64,
        up_servers(true).count() as u64,
    );
    let weight = |backup: bool| -> u64 { up_servers(backup).map(|s| s.weight.unwrap_or(0)).sum() };
    // HAProxy counts the active servers' weight, or the backups' when no active is up.
    let total_weight = if act > 0 { weight(false) } else { weight(true) };
    let checked: Vec<&CheckState> = src.checks.iter().filter(|c| c.backend == p.name).collect();
    let be_index = src.registry.backend_index().get(&p.name).copied();
    // HAProxy's rule: UP while some weight can take traffic, and a backend without servers
    // is UP too (it may still answer, with `http-request return` or a redirect).
    let status = if total_weight > 0 || servers.is_empty() {
        Status::Up
    } else {
        Status::Down
    };
    let base = counted_row(src, p, c, ("BACKEND".into(), RowKind::Backend, iid), status);
    Row {
        qcur: Some(u64::from(rb.load.queued.load(RELAXED))),
        // HAProxy shows a backend's `fullconn` here, derived as it does when not set.
        slim: Some(match p.fullconn {
            Some(n) => u64::from(n),
            None => crate::backend::frontends_maxconn(src.config, p, src.maxconn as u32)
                .div_ceil(10)
                .max(1),
        }),
        dreq: Some(c.denied_req),
        weight: Some(total_weight),
        act: Some(act),
        bck: Some(bck),
        chkdown: Some(checked.iter().map(|c| c.downs).sum()),
        lastchg: checked.iter().map(|c| c.since_change.as_secs()).min(),
        req_tot: (p.mode == Mode::Http).then_some(c.req_total),
        cookie: p.cookie.as_ref().map(|c| c.name.clone()),
        algo: Some(algo_name(&p.balance).to_string()),
        uweight: Some(total_weight),
        per_worker: match be_index {
            Some(b) => per_worker(src, |w| w.backends.get(b)),
            None => Vec::new(),
        },
        ..with_backend_counters(base, c, &snap.connect, &snap.response)
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
