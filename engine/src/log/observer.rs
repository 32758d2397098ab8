//! What a worker's streams report to when they end: the worker's counters, its latency
//! histograms and its log output. One per worker, reached through the worker's router.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::analysis::log_line::{termination_state, LogInfo, Timers};
use crate::analysis::logformat::render_log;
use crate::codec::head::RequestHead;
use crate::log::{FrontendLog, WorkerLog};
use crate::metrics::{LocalHistograms, Registry, WorkerStats};
use crate::stream::termination::Termination;
use crate::stream::txn::Txn;
use ringlb_config::rules::LogLevel;

/// One worker's reporting side.
#[derive(Debug)]
pub struct Observer {
    pub stats: Arc<WorkerStats>,
    pub hist: LocalHistograms,
    registry: Registry,
    log: Option<WorkerLog>,
    /// Logging per frontend index; `None` where a frontend logs nothing.
    fe_logs: Arc<Vec<Option<Arc<FrontendLog>>>>,
    fe_index: HashMap<String, usize>,
}

/// Milliseconds from `a` to `b`, -1 when either step was not reached.
fn ms(a: Option<Instant>, b: Option<Instant>) -> i64 {
    match (a, b) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_millis() as i64,
        _ => -1,
    }
}

/// `Tw`: the milliseconds a request waited in a queue before its server connection was
/// asked for (0 when it did not wait), -1 when it never got that far.
fn queue_wait(asked: Option<Instant>, dequeued: Option<Instant>) -> i64 {
    match (asked, dequeued) {
        (None, _) => -1,
        (Some(_), None) => 0,
        (asked, dequeued) => ms(asked, dequeued),
    }
}

impl Observer {
    pub fn new(
        registry: Registry,
        worker: usize,
        fe_logs: Arc<Vec<Option<Arc<FrontendLog>>>>,
        log: Option<WorkerLog>,
    ) -> Self {
        let layout = registry.layout().clone();
        Self {
            stats: registry.worker(worker).clone(),
            hist: LocalHistograms::new(&layout),
            fe_index: layout
                .frontends
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect(),
            registry,
            log,
            fe_logs,
        }
    }

    pub fn frontend_index(&self, name: &str) -> Option<usize> {
        self.fe_index.get(name).copied()
    }

    pub fn backend_index(&self, name: &str) -> Option<usize> {
        self.registry.backend_index().get(name).copied()
    }

    /// How frontend `fe` logs, when it logs at all.
    pub fn frontend_log(&self, fe: usize) -> Option<&FrontendLog> {
        self.log.as_ref()?;
        self.fe_logs.get(fe)?.as_deref()
    }

    /// Copies the histograms for readers and starts a new second; run once a second.
    pub fn on_tick(&self) {
        self.hist.publish(&self.stats);
        crate::metrics::advance_tick(&self.stats);
    }

    /// Final publication when the worker stops.
    pub fn flush(&self) {
        self.hist.publish(&self.stats);
    }

    /// A request goes to backend `be`.
    #[inline]
    pub fn backend_chosen(&self, be: usize, trace: &mut RequestTrace) {
        if let Some(c) = self.stats.backends.get(be) {
            let tick = self.stats.tick();
            c.session_start(tick);
            c.request(tick);
            trace.backend = Some(be);
        }
    }

    /// Whether frontend `fe`'s log lines print the server connection's addresses.
    pub fn logs_server_addrs(&self, fe: usize) -> bool {
        self.frontend_log(fe).is_some_and(|p| p.server_addrs)
    }

    /// The server chosen for the traced request has `redir`: it answered with a redirect
    /// and no connection was made.
    pub fn server_redirected(&self, srv: usize, started: Instant, trace: &mut RequestTrace) {
        if trace.backend.is_none() {
            return;
        }
        self.server_chosen(srv, trace);
        // No queue wait (`Tw` 0) and no connection (`Tc` -1), as haproxy logs it.
        trace.connect_at = Some(started);
        trace.dequeued_at = None;
        trace.connected_at = None;
    }

    /// Counts a session on server `srv` of the traced request's backend, ending the one a
    /// redispatch moved away from.
    fn server_chosen(&self, srv: usize, trace: &mut RequestTrace) {
        let Some(be) = trace.backend else {
            return;
        };
        if let Some(c) = self.stats.servers.get(be).and_then(|s| s.get(srv)) {
            if trace.server != Some(srv) {
                if let Some(old) = trace.server.and_then(|o| self.stats.servers[be].get(o)) {
                    old.session_end();
                }
                c.session_start(self.stats.tick());
            }
            trace.server = Some(srv);
        }
    }

    /// A server connection was obtained for the traced request (`started` is when asking
    /// for it began; `dequeued` when it left a queue, if it waited in one).
    #[inline]
    pub fn server_acquired(
        &self,
        srv: usize,
        started: Instant,
        dequeued: Option<Instant>,
        trace: &mut RequestTrace,
    ) {
        let now = Instant::now();
        let Some(be) = trace.backend else {
            return;
        };
        self.server_chosen(srv, trace);
        trace.connect_at = Some(started);
        trace.dequeued_at = dequeued;
        trace.connected_at = Some(now);
        let connecting = dequeued.unwrap_or(started);
        self.hist.record(
            crate::metrics::Latency::Connect,
            be,
            Some(srv),
            now - connecting,
        );
        trace.phase = b'H';
    }

    /// The server's response head arrived.
    #[inline]
    pub fn response_received(&self, trace: &mut RequestTrace) {
        let now = Instant::now();
        if let (Some(be), Some(sent)) = (trace.backend, trace.connected_at) {
            self.hist.record(
                crate::metrics::Latency::Response,
                be,
                trace.server,
                now - sent,
            );
        }
        trace.response_at = Some(now);
        trace.phase = b'D';
    }

    /// actconn, feconn, beconn, srv_conn (summed over workers) and `retries`.
    fn conns(&self, fe: Option<usize>, be: Option<usize>, srv: Option<usize>) -> [u64; 5] {
        let mut c = [0u64; 5];
        for i in 0..self.registry.workers() {
            let w = self.registry.worker(i);
            c[0] += w.process.current();
            c[1] += fe
                .and_then(|f| w.frontends.get(f))
                .map_or(0, |x| x.current());
            c[2] += be
                .and_then(|b| w.backends.get(b))
                .map_or(0, |x| x.current());
            c[3] += be
                .zip(srv)
                .and_then(|(b, s)| w.servers.get(b)?.get(s))
                .map_or(0, |x| x.current());
        }
        c
    }

    fn names(&self, be: Option<usize>, srv: Option<usize>) -> (Option<&str>, Option<&str>) {
        let layout = self.registry.layout();
        let b = be.and_then(|b| layout.backends.get(b));
        let s = b.zip(srv).and_then(|((_, s), i)| s.get(i));
        (b.map(|(n, _)| n.as_str()), s.map(String::as_str))
    }

    /// Counts one finished HTTP exchange on frontend `fe` and writes its log line.
    pub fn finish_request(&self, fe: usize, ctx: &ExchangeEnd<'_>, trace: &mut RequestTrace) {
        let st = &self.stats;
        let front = &st.frontends[fe];
        let (bytes_in, bytes_out) = (ctx.bytes_in - trace.in0, ctx.bytes_out - trace.out0);
        // Pipelined requests arrive in one read: a parsed head counts even without new bytes.
        let null = !trace.got_head && bytes_in == 0;
        if !null {
            front.request(st.tick());
            st.process.request(st.tick());
        }
        front.bytes(bytes_in, bytes_out);
        match ctx.termination {
            Termination::Denied => front.denied_request(),
            Termination::BadRequest | Termination::ClientTimeout if trace.phase == b'R' => {
                front.request_error()
            }
            _ => {}
        }
        if !null {
            front.response(ctx.status);
        }
        if let Some(b) = trace.backend {
            let srv = trace.server;
            let blocks = [
                st.backends.get(b),
                srv.and_then(|s| st.servers.get(b)?.get(s)),
            ];
            for c in blocks.into_iter().flatten() {
                c.bytes(bytes_in, bytes_out);
                if ctx.status.is_some() || trace.response_at.is_some() {
                    c.response(ctx.status);
                }
                match ctx.termination {
                    Termination::NoServer => c.connection_error(),
                    Termination::ServerError
                    | Termination::BadResponse
                    | Termination::ServerTimeout => c.response_error(),
                    _ => {}
                }
            }
        }
        // The backend's and server's sessions end before the line is written: haproxy 2.6
        // logs `%bc`/`%sc` without this exchange (`1/1/0/0/0` for a lone request), while
        // `%ac`/`%fc` still count its client connection.
        if let Some(b) = trace.backend {
            if let Some(c) = st.backends.get(b) {
                c.session_end();
            }
            if let Some(c) = trace.server.and_then(|s| st.servers.get(b)?.get(s)) {
                c.session_end();
            }
        }
        self.log_request(fe, ctx, trace, (bytes_in, bytes_out));
    }

    fn log_request(
        &self,
        fe: usize,
        ctx: &ExchangeEnd<'_>,
        trace: &RequestTrace,
        (bytes_in, bytes_out): (u64, u64),
    ) {
        let Some(plan) = self.frontend_log(fe) else {
            return;
        };
        if !trace.got_head && bytes_in == 0 && plan.dontlognull {
            return;
        }
        let st = &self.stats;
        let log = self.log.as_ref().expect("checked by frontend_log");
        let end = Instant::now();
        let start = trace.start;
        let timers = Timers {
            tq: ms(start, trace.head_at),
            tw: queue_wait(trace.connect_at, trace.dequeued_at),
            tc: ms(trace.dequeued_at.or(trace.connect_at), trace.connected_at),
            tr: ms(trace.connected_at, trace.response_at),
            ta: ms(start, Some(end)),
            tt: ms(start, Some(end)),
        };
        let wall = SystemTime::now() - start.map_or(Duration::ZERO, |s| end - s);
        let state = termination_state(ctx.termination, trace.phase);
        let failed = !matches!(
            ctx.termination,
            Termination::Normal | Termination::IdleTimeout
        );
        // HAProxy's test (`strm_log`): an error, a retry or a 5xx is never "normal".
        let normal = !failed && trace.retries == 0 && ctx.status.is_none_or(|s| s < 500);
        if normal && plan.dontlog_normal {
            return;
        }
        let mut conns = self.conns(Some(fe), trace.backend, trace.server);
        conns[4] = trace.retries;
        let (backend, server) = self.names(trace.backend, trace.server);
        // `set-log-level` overrides the level; `silent` drops the line.
        let level = match ctx.vars.and_then(|v| v.log_level()) {
            Some(LogLevel::Silent) => return,
            Some(LogLevel::Level(l)) => l,
            None => plan.level(failed),
        };
        let info = LogInfo {
            date: log.date(wall),
            timers,
            status: ctx.status,
            bytes_out,
            bytes_in,
            state,
            conns,
            queues: [0, 0],
            request_captures: &plan.request_captures,
            response_captures: &trace.response_captures,
            response_capture_slots: plan.response_captures.len(),
            bad_request: trace.head.is_none(),
            server_conn: trace.server_conn,
            log_counter: plan.next_line_number(),
        };
        let nbsrv = |_: &str| None;
        let txn = Txn {
            buf: &trace.head_bytes,
            req: trace.head.as_ref(),
            src: ctx.peer,
            dst: ctx.local,
            frontend: ctx.frontend,
            backend: backend.or(trace.backend.map(|_| ctx.frontend)),
            server,
            res: None,
            payload: None,
            edits: None,
            vars: ctx.vars,
            nbsrv: &nbsrv,
            tls: ctx.tls,
            h2: ctx.h2,
        };
        log.emit(plan, level, st, |out| {
            render_log(&plan.format, &txn, &info, out)
        });
    }

    /// Counts a finished TCP tunnel (or a connection that never reached one) and logs it.
    /// A TLS handshake on frontend `fe` completed (`resumed`: from a ticket or the cache).
    pub fn tls_handshake(&self, fe: usize, resumed: bool) {
        self.stats.process.tls_handshake(resumed);
        self.stats.frontends[fe].tls_handshake(resumed);
    }

    /// An HTTP/2 connection on frontend `fe` ended (`misbehaved`: with a GOAWAY for the
    /// client's errors).
    pub fn h2_ended(&self, fe: usize, misbehaved: bool) {
        self.stats.frontends[fe].h2_ended(misbehaved);
    }

    /// A TLS handshake on frontend `fe` failed: counted, and logged as HAProxy logs a
    /// connection error, `IP:PORT [DATE] FRONTEND/BIND: SSL handshake failure (REASON)`.
    pub fn tls_failure(&self, fe: usize, peer: std::net::SocketAddr, bind: &str, reason: &str) {
        let st = &self.stats;
        st.process.tls_failure();
        st.frontends[fe].tls_failure();
        self.log_connection_error(fe, peer, SystemTime::now(), bind, |out| {
            use std::io::Write as _;
            let _ = write!(out, "SSL handshake failure ({reason})");
        });
    }

    /// An `accept-proxy` connection accepted at `at` brought no valid PROXY protocol
    /// header: logged as HAProxy logs it (`option dontlognull` drops the connections that
    /// sent nothing).
    pub fn proxy_header_failure(
        &self,
        fe: usize,
        peer: std::net::SocketAddr,
        at: SystemTime,
        bind: &str,
        e: crate::io::proxy_protocol::HeaderError,
    ) {
        if e.is_null() && self.frontend_log(fe).is_some_and(|p| p.dontlognull) {
            return;
        }
        self.log_connection_error(fe, peer, at, bind, |out| {
            out.extend_from_slice(e.message().as_bytes())
        });
    }

    /// HAProxy's connection error line: `IP:PORT [DATE] FRONTEND/BIND: MESSAGE`.
    fn log_connection_error(
        &self,
        fe: usize,
        peer: std::net::SocketAddr,
        at: SystemTime,
        bind: &str,
        message: impl FnOnce(&mut Vec<u8>),
    ) {
        let Some(plan) = self.frontend_log(fe) else {
            return;
        };
        let log = self.log.as_ref().expect("checked by frontend_log");
        let date = log.date(at);
        let name = self
            .registry
            .layout()
            .frontends
            .get(fe)
            .cloned()
            .unwrap_or_default();
        log.emit(plan, plan.level(true), &self.stats, |out| {
            use std::io::Write as _;
            let ip = crate::analysis::acl::fetch::unmap(peer.ip());
            let _ = write!(out, "{ip}:{} [", peer.port());
            date.write_log_date(out, true);
            let _ = write!(out, "] {name}/{bind}: ");
            message(out);
        });
    }

    pub fn finish_tunnel(&self, fe: usize, t: &TunnelEnd<'_>) {
        let st = &self.stats;
        st.frontends[fe].bytes(t.bytes_in, t.bytes_out);
        if let Some(b) = t.backend {
            let blocks = [
                st.backends.get(b),
                t.server.and_then(|s| st.servers.get(b)?.get(s)),
            ];
            for c in blocks.into_iter().flatten() {
                c.bytes(t.bytes_in, t.bytes_out);
                if t.state == *b"SC" {
                    c.connection_error();
                }
            }
        }
        // As for HTTP: `%bc`/`%sc` no longer count this tunnel when it is logged.
        if let Some(b) = t.backend {
            if let Some(c) = st.backends.get(b) {
                c.session_end();
            }
            if let Some(c) = t.server.and_then(|s| st.servers.get(b)?.get(s)) {
                c.session_end();
            }
        }
        self.log_tunnel(fe, t);
    }

    fn log_tunnel(&self, fe: usize, t: &TunnelEnd<'_>) {
        let st = &self.stats;
        let Some(plan) = self.frontend_log(fe) else {
            return;
        };
        if plan.dontlognull && t.bytes_in == 0 {
            return;
        }
        let failed = t.state != *b"--";
        if plan.dontlog_normal && !failed {
            return;
        }
        let log = self.log.as_ref().expect("checked by frontend_log");
        let end = Instant::now();
        let wall = SystemTime::now() - (end - t.accepted);
        let mut conns = self.conns(Some(fe), t.backend, t.server);
        conns[4] = 0;
        let (backend, server) = self.names(t.backend, t.server);
        let info = LogInfo {
            date: log.date(wall),
            timers: Timers {
                tq: 0,
                tw: queue_wait(t.connect_at, t.dequeued_at),
                tc: ms(t.dequeued_at.or(t.connect_at), t.connected_at),
                tr: -1,
                ta: ms(Some(t.accepted), Some(end)),
                tt: ms(Some(t.accepted), Some(end)),
            },
            status: None,
            bytes_out: t.bytes_out,
            bytes_in: t.bytes_in,
            state: t.state,
            conns,
            queues: [0, 0],
            request_captures: &[],
            response_captures: &[],
            response_capture_slots: 0,
            bad_request: false,
            server_conn: t.server_conn,
            log_counter: plan.next_line_number(),
        };
        let nbsrv = |_: &str| None;
        let txn = Txn::connection(t.peer, t.local, t.frontend, &nbsrv);
        let txn = Txn {
            backend: backend.or(t.backend.map(|_| t.frontend)),
            server,
            ..txn
        };
        log.emit(plan, plan.level(failed), st, |out| {
            render_log(&plan.format, &txn, &info, out)
        });
    }
}

/// How an HTTP exchange ended, as the session knows it.
pub struct ExchangeEnd<'a> {
    pub termination: Termination,
    pub status: Option<u16>,
    /// The session's byte totals now.
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub frontend: &'a str,
    /// What the exchange's rules stored: captures and a chosen log level.
    pub vars: Option<&'a crate::stream::vars::Vars>,
    /// The client connection's TLS, for `%sslv`, `%sslc` and `ssl_*` fetches.
    pub tls: Option<&'a crate::io::tls::TlsStream>,
    /// The request came on an HTTP/2 stream.
    pub h2: bool,
}

/// How a TCP connection ended.
pub struct TunnelEnd<'a> {
    pub frontend: &'a str,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub accepted: Instant,
    pub connect_at: Option<Instant>,
    /// When the tunnel left a server queue, if it waited in one.
    pub dequeued_at: Option<Instant>,
    pub connected_at: Option<Instant>,
    pub backend: Option<usize>,
    pub server: Option<usize>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub state: [u8; 2],
    /// The server connection's addresses (server, local), when the format prints them.
    pub server_conn: Option<(SocketAddr, SocketAddr)>,
}

/// What one HTTP exchange did, gathered along the request path. Reused from one request to
/// the next on a connection, so that logging allocates nothing once warmed up.
#[derive(Debug, Default)]
pub struct RequestTrace {
    /// The frontend logs: keep the request head and read the extra clocks.
    pub logging: bool,
    /// A request head was parsed.
    pub got_head: bool,
    pub start: Option<Instant>,
    pub head_at: Option<Instant>,
    pub connect_at: Option<Instant>,
    /// When the request left a server queue, if it waited in one: `Tw` ends there.
    pub dequeued_at: Option<Instant>,
    pub connected_at: Option<Instant>,
    pub response_at: Option<Instant>,
    pub backend: Option<usize>,
    pub server: Option<usize>,
    pub retries: u64,
    /// The step reached: `R` request, `C` connect, `H` response head, `D` data, `T` tarpit.
    pub phase: u8,
    /// The session's byte totals when the exchange started.
    pub in0: u64,
    pub out0: u64,
    /// A copy of the request head for the log line (only when logging).
    pub head_bytes: Vec<u8>,
    pub head: Option<RequestHead>,
    pub response_captures: Vec<Option<Vec<u8>>>,
    /// The server connection's addresses (server, local), when the format prints them.
    pub server_conn: Option<(std::net::SocketAddr, std::net::SocketAddr)>,
}

impl RequestTrace {
    /// Starts a new exchange; `bytes` are the session's totals (in, out) so far.
    pub fn begin(&mut self, logging: bool, bytes: (u64, u64)) {
        self.logging = logging;
        self.got_head = false;
        self.start = logging.then(Instant::now);
        self.head_at = None;
        self.connect_at = None;
        self.dequeued_at = None;
        self.connected_at = None;
        self.response_at = None;
        self.backend = None;
        self.server = None;
        self.server_conn = None;
        self.retries = 0;
        self.phase = b'R';
        (self.in0, self.out0) = bytes;
        self.head = None;
        self.head_bytes.clear();
        self.response_captures.clear();
    }

    /// The request head is complete: keep what the log line needs of it.
    pub fn head_read(&mut self, buf: &[u8], head: &RequestHead) {
        self.got_head = true;
        if self.logging {
            self.head_at = Some(Instant::now());
            self.head_bytes
                .extend_from_slice(&buf[..head.len.min(buf.len())]);
            self.head = Some(head.clone());
        }
    }
}

impl Registry {
    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }
}
