//! One client connection served end to end: read a request head, answer it or pick a
//! backend, forward the request, relay the response, then keep the connection or close it.
//! See `LIFECYCLE.md` for the states and the timeouts that apply in each.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use crate::io::transport::Stream;
use monoio::buf::IoBuf;

use crate::analysis::decide::{decide, Decision};
use crate::analysis::errors::error_response;
use crate::analysis::settings::{HttpBackend, HttpFrontend};
use crate::backend::persist;
use crate::backend::reuse::{self, OwnConn, PrivateConn};
use crate::backend::upstream::{Pick, Reuse, Upstream, UpstreamConn, UpstreamError};
use crate::codec::body::{forward_body, BodyError, BodyTimeouts, UnreadBody};
use crate::codec::chunked::ChunkedDecoder;
use crate::codec::conn_mode::{ConnectionTokens, ExchangePlan};
use crate::codec::edits::HeadEdits;
use crate::codec::framing::{request_framing, BodyKind, RequestFraming};
use crate::codec::head::{parse_request, RequestHead};
use crate::codec::rewrite::{forwarded_for, original_to, write_request_head, RequestRewrite};
use crate::io::buffer::BufferPool;
use crate::io::timed::{
    expiry_turn, read_more, read_now, readable, write_all, ReadOutcome, Readiness,
};
use crate::log::observer::{Observer, RequestTrace};
use crate::sessions::http::response::RespError;
use crate::sessions::router::Router;
pub use crate::stream::termination::Termination;
use crate::stream::txn::Txn;
use crate::stream::vars::Vars;
use ringlb_config::model::PersistKind;

/// What a client connection did, as [`serve_http`] returns it when the connection ends.
///
/// While the connection lives, the session keeps its running totals here: the request
/// count, the bytes each way and the last status, from which each exchange's counters and
/// log line take their status and byte counts (`Session::trace_end`). The value returned at
/// the end feeds nothing: the worker drops it (`worker::dispatch::serve_http_connection`),
/// and only tests read it.
#[derive(Debug, Clone, Default)]
pub struct SessionSummary {
    pub requests: u32,
    /// Bytes received from the client.
    pub bytes_in: u64,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// Status of the last response sent.
    pub last_status: Option<u16>,
    pub termination: Termination,
}

/// How long an idle keep-alive connection of a stopping process may still send a request.
pub const SOFT_STOP_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Why no request head came: the connection ended, or it idled past the router's
/// `idle_after` (since the instant given) and goes back to its owner.
pub(super) enum NoHead {
    Closed(Termination),
    Idle(monoio::time::Instant),
    /// The client's first bytes were HTTP/2's preface.
    Http2,
    /// The server switched protocols: what is left is the tunnel.
    Switch(Box<crate::sessions::http::tunnel::Switched>),
}

impl From<Termination> for NoHead {
    fn from(t: Termination) -> Self {
        NoHead::Closed(t)
    }
}

/// After one exchange: serve another request on this connection, close it, or join it
/// to the server connection in a tunnel (a `101`; `tunnel.rs`).
pub(super) enum Next {
    KeepAlive,
    Close(Termination),
    Switch(Box<crate::sessions::http::tunnel::Switched>),
}

/// A keep-alive client connection that stayed idle past [`Router::idle_after`]: the session
/// ended and handed it back, holding no buffer and no future, to be watched for readiness
/// by its owner and given to [`resume_http`] once the client sends something (or closes).
pub struct IdleConn {
    /// The connection; it knows its addresses, asked again on resume, unless a PROXY
    /// protocol header announced others (`accept-proxy`), kept here.
    pub client: Stream,
    announced: Option<Box<crate::stream::Addrs>>,
    /// Requests served so far (the next is no first request: keep-alive timeout, reuse).
    requests: u32,
    /// `sess` variables set by rules, which outlive the requests.
    vars: Vars,
    /// When the connection went idle: its keep-alive timeout counts from here.
    pub idle_since: monoio::time::Instant,
}

/// How a session ended: the connection closed, or it went idle and was handed back, or its
/// client spoke HTTP/2 (the connection and the bytes read, preface first, for
/// `sessions::h2`).
#[must_use = "a tunnel handed back runs only when awaited"]
pub enum Ended<'a> {
    Closed(SessionSummary),
    Idle(IdleConn),
    Http2(Stream, Vec<u8>),
    /// The exchange switched protocols: the rest of the connection's life is this tunnel
    /// (it closes both connections and logs the exchange when it ends). Handed back rather
    /// than run inside the session so that the session's own future, and the caller's
    /// around it, are freed for a tunnel's whole life: the tunnel holds the session's state
    /// and its own, no more.
    Tunnel(Tunnel<'a>),
}

/// A tunnel handed back by a session ([`Ended::Tunnel`]): await it to run it.
pub type Tunnel<'a> = std::pin::Pin<Box<dyn Future<Output = SessionSummary> + 'a>>;

impl Ended<'_> {
    /// Runs the tunnel, if the session handed one back, and says what the connection did,
    /// for callers that never hand connections back (their router has no `idle_after`).
    pub async fn finish(self) -> SessionSummary {
        match self {
            Ended::Closed(s) => s,
            Ended::Tunnel(t) => t.await,
            Ended::Idle(_) | Ended::Http2(..) => SessionSummary::default(),
        }
    }
}

/// Serves one accepted client connection until it closes, or until it idles past
/// [`Router::idle_after`] between requests. Never panics on bad input; every error is
/// answered (when a response can still be sent) and ends in a close. A client that starts
/// with HTTP/2's preface is handed back ([`Ended::Http2`]).
pub fn serve_http<'a, R: Router>(
    client: Stream,
    peer: SocketAddr,
    frontend: &'a HttpFrontend,
    router: &'a R,
    pool: &'a BufferPool,
) -> impl Future<Output = Ended<'a>> + 'a {
    let local = client.local_addr();
    serve_http_as(client, (peer, local), frontend, router, pool, true)
}

/// [`serve_http`]; with `h2: false` (`bind … proto h1`) HTTP/2's preface is a bad request
/// like any other.
///
/// These entry points are plain functions returning the session's own future: an `async
/// fn` would keep its arguments, and a session built from them, beside that future for as
/// long as the connection lives (kilobytes per connection).
pub fn serve_http_as<'a, R: Router>(
    client: Stream,
    (peer, local): crate::stream::Addrs,
    frontend: &'a HttpFrontend,
    router: &'a R,
    pool: &'a BufferPool,
    h2: bool,
) -> impl Future<Output = Ended<'a>> + 'a {
    client.set_nodelay();
    let mut s = Session::new(client, local, peer, frontend, router, pool);
    s.h2_preface = h2 && s.client.mux().is_none();
    s.serve(false)
}

/// Serves an idle connection again once its client sent something (or closed): the same
/// session as before it was handed back, minus the futures and buffers it did not need.
pub fn resume_http<'a, R: Router>(
    idle: IdleConn,
    frontend: &'a HttpFrontend,
    router: &'a R,
    pool: &'a BufferPool,
) -> impl Future<Output = Ended<'a>> + 'a {
    let (peer, local) = match idle.announced {
        Some(a) => *a,
        None => (idle.client.peer_addr(), idle.client.local_addr()),
    };
    let mut s = Session::new(idle.client, local, peer, frontend, router, pool);
    s.summary.requests = idle.requests;
    s.vars = idle.vars;
    s.serve(true)
}

pub(super) struct Session<'a, R> {
    pub(super) client: Stream,
    /// The address the client reached: servers written without a port are connected on
    /// its port.
    pub(super) local: SocketAddr,
    pub(super) peer: SocketAddr,
    pub(super) fe: &'a HttpFrontend,
    pub(super) router: &'a R,
    pub(super) pool: &'a BufferPool,
    /// The client read buffer: held only while a request is being read or bytes of the next
    /// pipelined request wait in it.
    inbuf: Option<Vec<u8>>,
    pub(super) summary: SessionSummary,
    /// The worker's counters and logs, with this frontend's index in them.
    pub(super) obs: Option<(&'a Observer, usize)>,
    /// What the current exchange did, for counters and the log line.
    pub(super) trace: RequestTrace,
    /// Variables, captures and log level set by rules (empty until one does).
    pub(super) vars: Vars,
    /// `http-reuse never`: the server connection this client connection keeps.
    pub(super) own: OwnConn,
    /// Whether HTTP/2's preface as the first bytes hands the connection to HTTP/2.
    h2_preface: bool,
    /// The rest of a request body the server stopped reading: its response is still
    /// relayed, then this much is read from the client and dropped (`relay_response`).
    pub(super) unread_body: Option<UnreadBody>,
}

/// How far the request body got when the response head arrived.
pub(super) struct Forwarded {
    /// The whole request body reached the server.
    pub(super) body_sent: bool,
    /// The whole request body was read from the client (the connection can carry more).
    pub(super) body_read: bool,
}

impl<'a, R: Router> Session<'a, R> {
    fn new(
        client: Stream,
        local: SocketAddr,
        peer: SocketAddr,
        fe: &'a HttpFrontend,
        router: &'a R,
        pool: &'a BufferPool,
    ) -> Self {
        let obs = router
            .observer()
            .and_then(|o| Some((o, o.frontend_index(&fe.name)?)));
        Session {
            client,
            local,
            peer,
            fe,
            router,
            pool,
            inbuf: None,
            summary: SessionSummary::default(),
            obs,
            trace: RequestTrace::default(),
            vars: Vars::default(),
            own: OwnConn::default(),
            h2_preface: false,
            unread_body: None,
        }
    }

    /// Runs the session to its end. `ready`: the client is known to have sent something.
    /// The session lives in the returned future once (an `async fn` taking `self` would
    /// hold it twice).
    fn serve(self, ready: bool) -> impl Future<Output = Ended<'a>> + 'a {
        let mut this = self;
        async move {
            let end = this.run(ready).await;
            let early = match end {
                NoHead::Http2 => this.inbuf.as_deref().unwrap_or_default().to_vec(),
                _ => Vec::new(),
            };
            if let Some(buf) = this.inbuf.take() {
                this.pool.give(buf);
            }
            match end {
                NoHead::Switch(s) => Ended::Tunnel(Box::pin(async move {
                    let t = this.tunnel(*s).await;
                    this.trace_end(t);
                    this.summary.termination = t;
                    this.summary
                })),
                NoHead::Http2 => Ended::Http2(this.client, early),
                NoHead::Closed(t) => {
                    this.summary.termination = t;
                    Ended::Closed(this.summary)
                }
                NoHead::Idle(idle_since) => Ended::Idle(IdleConn {
                    announced: {
                        let own = (this.client.peer_addr(), this.client.local_addr());
                        (own != (this.peer, this.local)).then(|| Box::new((this.peer, this.local)))
                    },
                    client: this.client,
                    requests: this.summary.requests,
                    vars: this.vars,
                    idle_since,
                }),
            }
        }
    }

    /// Serves requests until the connection closes, or idles past the router's
    /// `idle_after`.
    async fn run(&mut self, mut ready: bool) -> NoHead {
        loop {
            self.trace_begin();
            let head = match self.read_head(std::mem::take(&mut ready)).await {
                Ok(head) => head,
                Err(NoHead::Closed(t)) => {
                    self.trace_end_without_request(t);
                    return NoHead::Closed(t);
                }
                Err(other) => return other,
            };
            // Boxed: an exchange's state (proxying, relaying, timers) is several KiB, and
            // living inside the session future it would be paid by every idle keep-alive
            // connection too. On the heap it exists only while a request is in flight.
            let end = match Box::pin(self.exchange(head)).await {
                Next::KeepAlive => None,
                Next::Close(t) => Some(t),
                // The exchange's state is gone by now; the tunnel runs once the session's
                // future is gone too (`Ended::Tunnel`).
                Next::Switch(s) => return NoHead::Switch(s),
            };
            self.trace_end(end.unwrap_or(Termination::Normal));
            if let Some(t) = end {
                return NoHead::Closed(t);
            }
        }
    }

    fn buf(&self) -> &[u8] {
        self.inbuf.as_deref().unwrap_or_default()
    }

    /// Waits for the next request head; buffers are taken only once the client sent bytes
    /// (`ready`: it is known to have sent some already).
    async fn read_head(&mut self, ready: bool) -> Result<RequestHead, NoHead> {
        let first = self.summary.requests == 0;
        let started = monoio::time::Instant::now();
        // Whether the client is known to have sent bytes that are not read yet.
        let mut readable_now = ready;
        if self.inbuf.is_none() && !ready {
            let idle = if first {
                self.fe.head_timeout()
            } else {
                self.fe.keep_alive_timeout()
            };
            // A keep-alive connection idle this long is handed back (see `IdleConn`); one
            // that keeps a server connection of its own, or of a stopping process, stays a
            // session.
            let stopping = self.router.stopping().is_some_and(|s| s.is_set());
            let hand_back = self.router.idle_after().filter(|after| {
                !first && !stopping && self.own.is_empty() && idle.is_none_or(|i| i > *after)
            });
            let wait = hand_back.or(idle);
            // `None`: a stopping process gave this idle connection its last chance.
            let ready = match self.router.stopping().filter(|_| !first) {
                // Stopping: an idle keep-alive connection is closed only if it stays idle a
                // moment, so a request already on its way is still answered (with close).
                Some(stop) => {
                    let last_chance = async {
                        stop.wait().await;
                        crate::io::timed::pause(SOFT_STOP_IDLE).await;
                    };
                    monoio::select! {
                        r = readable(&self.client, wait) => Some(r),
                        _ = last_chance => None,
                    }
                }
                None => Some(readable(&self.client, wait).await),
            };
            match ready {
                Some(Readiness::Ready) => {}
                Some(Readiness::Timeout) if hand_back.is_some() => {
                    return Err(NoHead::Idle(started))
                }
                Some(Readiness::Timeout) if first => {
                    expiry_turn().await;
                    return Err(self
                        .fail(408, Termination::ClientTimeout, None)
                        .await
                        .into());
                }
                Some(Readiness::Timeout) => {
                    expiry_turn().await;
                    return Err(Termination::IdleTimeout.into());
                }
                None => return Err(Termination::IdleTimeout.into()),
                Some(Readiness::Failed) => return Err(Termination::ClientAborted.into()),
            }
        }
        if self.inbuf.is_none() {
            self.inbuf = Some(self.pool.take());
            readable_now = true;
        }
        if self.trace.logging {
            // Timers count from the request's first byte, not from the idle wait before it.
            self.trace.start = Some(std::time::Instant::now());
        }
        // A head must arrive whole within `timeout http-request`, counted from the first
        // byte of a follow-up request or from the accept of a new connection.
        let deadline = self.fe.head_timeout().map(|d| {
            if first {
                started + d
            } else {
                monoio::time::Instant::now() + d
            }
        });
        loop {
            let buf = self.buf();
            let preface = crate::sessions::h2::PREFACE;
            let h2 = self.h2_preface && first && preface.starts_with(&buf[..buf.len().min(24)]);
            match parse_request(buf, self.fe.head_limit.min(self.pool.buffer_size())) {
                // The whole preface: the connection speaks HTTP/2. Part of it: more is read
                // before deciding.
                _ if h2 && buf.len() >= preface.len() => return Err(NoHead::Http2),
                _ if h2 && !buf.is_empty() => {}
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
                Err(e) => {
                    return Err(self
                        .fail(e.request_status(), Termination::BadRequest, None)
                        .await
                        .into())
                }
            }
            let was_empty = buf.is_empty();
            let mut inbuf = self.inbuf.take().unwrap_or_else(|| self.pool.take());
            let now = match std::mem::take(&mut readable_now) {
                true => read_now(&self.client, &mut inbuf),
                false => None,
            };
            let outcome = match now {
                Some(outcome) => outcome,
                None => {
                    let limit =
                        deadline.map(|d| d.saturating_duration_since(monoio::time::Instant::now()));
                    let (outcome, b) = read_more(&mut self.client, inbuf, limit).await;
                    inbuf = b;
                    outcome
                }
            };
            self.inbuf = Some(inbuf);
            match outcome {
                ReadOutcome::Data(n) => self.summary.bytes_in += n as u64,
                ReadOutcome::Eof | ReadOutcome::Failed if was_empty => {
                    return Err(Termination::Normal.into())
                }
                // Gone in the middle of a head: nobody is left to read a 400, which is only
                // logged (`CR--`, 0 bytes, as haproxy does).
                ReadOutcome::Eof | ReadOutcome::Failed => {
                    self.summary.last_status = Some(400);
                    return Err(Termination::ClientAborted.into());
                }
                ReadOutcome::Timeout => {
                    return Err(self
                        .fail(408, Termination::ClientTimeout, None)
                        .await
                        .into())
                }
            }
        }
    }

    /// Sends an error page (the backend's replacement first, then the frontend's) and closes.
    pub(super) async fn fail(
        &mut self,
        status: u16,
        t: Termination,
        be: Option<&HttpBackend>,
    ) -> Termination {
        // Boxed: error pages are rare, and this write inline would size every future that
        // may send one, the session's own (which a WebSocket tunnel keeps) among them.
        Box::pin(self.send_error_page(status, t, be)).await
    }

    async fn send_error_page(
        &mut self,
        status: u16,
        t: Termination,
        be: Option<&HttpBackend>,
    ) -> Termination {
        let page = match be {
            Some(be) => error_response(&[&be.errors, &self.fe.errors], status),
            None => error_response(&[&self.fe.errors], status),
        };
        self.summary.last_status = Some(status);
        let len = page.len() as u64;
        if write_all(&mut self.client, page, self.fe.timeouts.client)
            .await
            .0
            .is_ok()
        {
            self.summary.bytes_out += len;
        }
        t
    }

    pub(super) async fn send_to_client(&mut self, bytes: Vec<u8>) -> Result<Vec<u8>, Termination> {
        let len = bytes.len() as u64;
        let (res, bytes) = write_all(&mut self.client, bytes, self.fe.timeouts.client).await;
        match res {
            Ok(()) => {
                self.summary.bytes_out += len;
                Ok(bytes.unwrap_or_default())
            }
            Err(_) => Err(Termination::ClientAborted),
        }
    }

    /// Drops the bytes of the request just handled; the client buffer goes back to the pool
    /// unless a pipelined request already sits in it.
    fn consume_request(&mut self, end: usize) {
        if let Some(mut buf) = self.inbuf.take() {
            buf.drain(..end.min(buf.len()));
            if buf.is_empty() {
                self.pool.give(buf);
            } else {
                self.inbuf = Some(buf);
            }
        }
    }

    async fn exchange(&mut self, head: RequestHead) -> Next {
        self.summary.requests += 1;
        self.summary.last_status = None;
        self.vars.next_transaction();
        self.trace
            .head_read(self.inbuf.as_deref().unwrap_or_default(), &head);
        let tokens = ConnectionTokens::parse(self.buf(), &head.headers);
        let framing = match request_framing(self.buf(), &head, tokens) {
            Ok(f) => f,
            Err(e) => {
                return Next::Close(self.fail(e.status(), Termination::BadRequest, None).await)
            }
        };
        // The proxy's own answers keep the connection when the client allows it and sent no
        // body that would have to be read first.
        let keep = self.fe.mode != ringlb_config::model::HttpConnMode::Close
            && tokens.persistent(head.version)
            && framing.body == BodyKind::None
            && !self.router.stopping().is_some_and(|l| l.is_set());
        let mut edits = HeadEdits::default();
        let router = self.router;
        let nbsrv = |n: &str| router.usable_servers(n);
        let decision = {
            let txn = self.request_txn(&head, &nbsrv);
            if let Some(u) = &self.fe.unique_id {
                u.assign(&txn, &mut edits);
            }
            let lookup = |name: &str| router.backend(name);
            decide(self.fe, &lookup, &txn, &mut edits, keep)
        };
        match decision {
            Decision::Forward(be, upstream) => {
                if let Some((o, _)) = self.obs {
                    if let Some(i) = be.stats_index.or_else(|| o.backend_index(&be.name)) {
                        o.backend_chosen(i, &mut self.trace);
                    }
                }
                self.proxy(head, framing, tokens, be, upstream, edits).await
            }
            Decision::NoBackend => Next::Close(self.fail(503, Termination::NoServer, None).await),
            Decision::Reject => Next::Close(Termination::Denied),
            Decision::Reply {
                bytes,
                status,
                close,
                delay,
                denied,
            } => {
                if let Some(d) = delay {
                    self.trace.phase = b'T';
                    crate::io::timed::pause(d).await;
                }
                let end = if denied {
                    Termination::Denied
                } else {
                    Termination::Normal
                };
                self.reply_and_continue(bytes, status, (close, end), head.len)
                    .await
            }
            Decision::Stats { page, admin } => {
                self.serve_stats(head, framing, page, admin, keep).await
            }
            Decision::Prometheus => self.serve_prometheus(head, framing, keep).await,
        }
    }

    /// Sends the proxy's own answer, then closes (ending as `end`) or waits for the next
    /// request.
    pub(super) async fn reply_and_continue(
        &mut self,
        bytes: Vec<u8>,
        status: u16,
        (close, end): (bool, Termination),
        head_len: usize,
    ) -> Next {
        self.summary.last_status = Some(status);
        if let Err(t) = self.send_to_client(bytes).await {
            return Next::Close(t);
        }
        if close {
            return Next::Close(end);
        }
        self.consume_request(head_len);
        Next::KeepAlive
    }

    /// The client buffer's bytes (empty when no buffer is held).
    pub(super) fn inbuf_bytes(&self) -> &[u8] {
        self.buf()
    }

    pub(super) fn take_inbuf(&mut self) -> Vec<u8> {
        self.inbuf.take().unwrap_or_else(|| self.pool.take())
    }

    /// The client buffer, when bytes wait in it (they came after the request just handled).
    pub(super) fn take_pending_input(&mut self) -> Option<Vec<u8>> {
        let buf = self.inbuf.take()?;
        if buf.is_empty() {
            self.pool.give(buf);
            return None;
        }
        Some(buf)
    }

    pub(super) fn put_inbuf(&mut self, buf: Vec<u8>) {
        self.inbuf = Some(buf);
    }

    /// Removes `start..end` from the client buffer (a request body consumed in place).
    pub(super) fn drop_request_range(&mut self, start: usize, end: usize) {
        if let Some(buf) = self.inbuf.as_mut() {
            let end = end.min(buf.len());
            buf.drain(start.min(end)..end);
        }
    }

    /// Forwards one request to `be` and relays its response.
    async fn proxy(
        &mut self,
        head: RequestHead,
        framing: RequestFraming,
        tokens: ConnectionTokens,
        be: &HttpBackend,
        upstream: &R::Upstream,
        mut edits: HeadEdits,
    ) -> Next {
        let seen = self.read_persistence(&head, be, &mut edits);
        let rule = if be.rules.persist.is_empty() || seen.presented.is_none() {
            None
        } else {
            let router = self.router;
            let nbsrv = |n: &str| router.usable_servers(n);
            let txn = Txn {
                backend: Some(&be.name),
                ..self.request_txn(&head, &nbsrv)
            };
            persist::rule(be, &txn.with_edits(&edits))
        };
        let prefer = seen
            .presented
            .as_ref()
            .filter(|c| !c.expired && rule != Some(PersistKind::Ignore))
            .and_then(|c| upstream.server_by_cookie(&c.server));
        let plan = ExchangePlan::new(self.fe.mode, be.mode, head.version, tokens);
        let ff = forwarded_for(
            be.forwardfor.as_ref().or(self.fe.forwardfor.as_ref()),
            self.peer.ip(),
            self.buf(),
            &head.headers,
        );
        let xot = original_to(
            be.originalto.as_ref(),
            self.fe.originalto.as_ref(),
            self.local.ip(),
        );
        let mut out = self.pool.take();
        let rw = RequestRewrite {
            server_close: !plan.server_keep_alive,
            forwarded_for: ff,
            original_to: xot,
            upgrade: framing.upgrade.is_some(),
        };
        let written = write_request_head(&mut out, self.buf(), &head, &rw, &edits);
        if !written.fits(self.pool.buffer_size()) {
            // The proxy's own additions outgrew the head: a failed rewrite, nothing is sent.
            return Next::Close(self.fail(500, Termination::BadRequest, Some(be)).await);
        }

        // A body already complete in the buffer can be sent again on another connection.
        let buffered_end = match framing.body {
            BodyKind::None => Some(head.len),
            BodyKind::Length(n) => {
                ((self.buf().len() - head.len) as u64 >= n).then(|| head.len + n as usize)
            }
            BodyKind::Chunked => {
                let mut d = ChunkedDecoder::new();
                match d.feed(&self.buf()[head.len..]) {
                    Ok(n) if d.is_done() => Some(head.len + n),
                    Ok(_) => None,
                    Err(_) => {
                        return Next::Close(self.fail(400, Termination::BadRequest, None).await)
                    }
                }
            }
            BodyKind::UntilClose => None,
        };

        let first = self.summary.requests == 1;
        let mut reuse = reuse::first_attempt(be.reuse, first, buffered_end.is_some());
        self.trace.phase = b'C';
        let (conn, resp, sbuf, fwd) = loop {
            let own = self.own.take_for(be);
            // A server's `sni` reads the request as the rules left it.
            let router = self.router;
            let nbsrv = |n: &str| router.usable_servers(n);
            let txn = Txn {
                backend: Some(&be.name),
                ..self.request_txn(&head, &nbsrv)
            };
            let txn = txn.with_edits(&edits);
            let pick = Pick {
                src: self.peer,
                dst: self.local,
                buf: self.buf(),
                req: Some(&head),
                prefer,
                force_persist: rule == Some(PersistKind::Force),
                txn: Some(&txn),
            };
            let asked = std::time::Instant::now();
            let mut conn = match connect(upstream, reuse, own, &pick, &self.client).await {
                Ok(c) => {
                    if let Some((o, fe)) = self.obs {
                        let dequeued = c.slot.as_ref().and_then(|s| s.dequeued_at());
                        o.server_acquired(c.server, asked, dequeued, &mut self.trace);
                        if o.logs_server_addrs(fe) {
                            self.trace.server_conn =
                                Some((c.stream.peer_addr(), c.stream.local_addr()));
                        }
                    }
                    c
                }
                Err(NoConn::Aborted) => return Next::Close(Termination::ClientAborted),
                Err(NoConn::Failed) => {
                    return Next::Close(self.fail(503, Termination::NoServer, Some(be)).await)
                }
                Err(NoConn::Redirect(server, reply)) => {
                    if let Some((o, _)) = self.obs {
                        o.server_redirected(server, asked, &mut self.trace);
                    }
                    self.pool.give(out);
                    let end = (true, Termination::ServerRedirect);
                    return self.reply_and_continue(reply, 302, end, head.len).await;
                }
            };
            // A pooled connection the server already closed fails before any response byte;
            // the request is then sent once more on a fresh connection when it can be.
            let retry = conn.reused && buffered_end.is_some() && reuse != Reuse::NewOnly;
            let sent = self
                .send_request(&mut conn, out, &head, framing, buffered_end, be)
                .await;
            let fwd = match sent {
                (Ok(fwd), o) => {
                    out = o;
                    fwd
                }
                (Err(None), o) if retry => {
                    out = o;
                    upstream.discard(conn);
                    reuse = Reuse::NewOnly;
                    continue;
                }
                (Err(e), _) => {
                    if e.is_none() {
                        // The server broke the connection while taking the request.
                        upstream.observe(conn.server, ringlb_checks::Outcome::ReadError);
                    }
                    upstream.discard(conn);
                    return Next::Close(match e {
                        Some(t) => t,
                        None => self.fail(502, Termination::ServerError, Some(be)).await,
                    });
                }
            };
            let sbuf = self.pool.take();
            let mut pending = (!fwd.body_sent).then_some((head.len, framing.body));
            let request = (framing, head.version);
            let killed = router.killed();
            let fd = conn.stream.as_raw_fd();
            let got = self.read_response_head(&mut conn, sbuf, be, &request, &mut pending);
            let got = match killed {
                // `hard-stop-after`: the server connection is shut down, which ends the
                // read in flight (and gives its buffer back); the client gets a 502 `KH`.
                Some(k) => {
                    let kill = async {
                        k.wait().await;
                        // SAFETY: `conn` keeps the descriptor open while `got` runs.
                        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                        std::future::pending::<()>().await
                    };
                    monoio::select! {
                        got = got => got,
                        _ = kill => unreachable!("never completes"),
                    }
                }
                None => got.await,
            };
            if killed.is_some_and(|k| k.is_set()) {
                let (_, sbuf) = got;
                self.pool.give(sbuf);
                upstream.discard(conn);
                self.unread_body = None;
                return Next::Close(self.fail(502, Termination::Killed, Some(be)).await);
            }
            if let Some(o) = crate::sessions::http::response::observed(&got.0, retry) {
                upstream.observe(conn.server, o);
            }
            match got {
                (Ok(resp), sbuf) => {
                    self.trace_response(&sbuf, &resp);
                    let fwd = if pending.is_none() {
                        Forwarded {
                            body_sent: true,
                            body_read: true,
                        }
                    } else {
                        fwd
                    };
                    break (conn, resp, sbuf, fwd);
                }
                (Err(RespError::Empty), sbuf) if retry => {
                    self.pool.give(sbuf);
                    upstream.discard(conn);
                    reuse = Reuse::NewOnly;
                }
                (Err(e), sbuf) => {
                    self.pool.give(sbuf);
                    upstream.discard(conn);
                    self.unread_body = None;
                    let t = match e {
                        RespError::Timeout => {
                            self.fail(504, Termination::ServerTimeout, Some(be)).await
                        }
                        RespError::Gone(t) => t,
                        RespError::Invalid => {
                            self.fail(502, Termination::BadResponse, Some(be)).await
                        }
                        RespError::Empty | RespError::Cut => {
                            self.fail(502, Termination::ServerError, Some(be)).await
                        }
                    };
                    return Next::Close(t);
                }
            }
        };
        self.pool.give(out);
        if let Some(end) = buffered_end {
            self.consume_request(end);
        } else if fwd.body_read {
            self.consume_request(0);
        }
        let client_version = head.version;
        self.relay_response(
            conn,
            resp,
            sbuf,
            (framing, client_version),
            plan,
            fwd,
            (be, &seen),
            upstream,
        )
        .await
    }

    /// The request in `head` as the frontend's rules see it; a backend's rules set
    /// `backend` on it.
    fn request_txn<'t>(
        &'t self,
        head: &'t RequestHead,
        nbsrv: &'t dyn Fn(&str) -> Option<usize>,
    ) -> Txn<'t> {
        Txn {
            buf: self.buf(),
            req: Some(head),
            vars: Some(&self.vars),
            tls: self.client.tls(),
            h2: self.client.mux().is_some(),
            ..Txn::connection(self.peer, self.local, &self.fe.name, nbsrv)
        }
    }

    /// Cookie persistence on the request: the client's cookie, hidden from the server as the
    /// backend's `cookie` line asks.
    fn read_persistence(
        &self,
        head: &RequestHead,
        be: &HttpBackend,
        edits: &mut HeadEdits,
    ) -> persist::Seen {
        let Some(cfg) = &be.cookie else {
            return persist::Seen::default();
        };
        let now = persist::unix_now();
        let method = edits
            .method
            .as_deref()
            .unwrap_or(&self.buf()[head.method.clone()]);
        persist::Seen {
            post: method == b"POST",
            presented: persist::edit_request(cfg, self.buf(), &head.headers, edits, now),
            now,
        }
    }

    /// Sends the head and, unless the client waits for `100 Continue`, the body. Errors:
    /// `None` when the server side failed (502 or a retry), `Some` when the exchange is over.
    async fn send_request(
        &mut self,
        conn: &mut UpstreamConn,
        out: Vec<u8>,
        head: &RequestHead,
        framing: RequestFraming,
        buffered_end: Option<usize>,
        be: &HttpBackend,
    ) -> (Result<Forwarded, Option<Termination>>, Vec<u8>) {
        let timeout = be.timeouts.server;
        let (res, out) = write_all(&mut conn.stream, out, timeout).await;
        // A timed-out write that never ended kept its buffer: no retry can send it again.
        let Some(out) = out else {
            let t = self.fail(502, Termination::ServerError, Some(be)).await;
            return (Err(Some(t)), Vec::new());
        };
        if res.is_err() {
            return (Err(None), out);
        }
        if let Some(end) = buffered_end {
            if end > head.len {
                let inbuf = self.inbuf.take().unwrap_or_default();
                let (res, slice) =
                    write_all(&mut conn.stream, inbuf.slice(head.len..end), timeout).await;
                let Some(slice) = slice else {
                    let t = self.fail(502, Termination::ServerError, Some(be)).await;
                    return (Err(Some(t)), out);
                };
                self.inbuf = Some(slice.into_inner());
                if res.is_err() {
                    return (Err(None), out);
                }
            }
            return (
                Ok(Forwarded {
                    body_sent: true,
                    body_read: true,
                }),
                out,
            );
        }
        if framing.expect_continue && self.buf().len() == head.len {
            // The body follows the server's `100 Continue`, relayed with the response.
            return (
                Ok(Forwarded {
                    body_sent: false,
                    body_read: false,
                }),
                out,
            );
        }
        let r = self
            .stream_request_body(conn, head.len, framing.body, be)
            .await;
        (
            r.map(|()| Forwarded {
                body_sent: true,
                body_read: true,
            })
            .map_err(Some),
            out,
        )
    }

    /// Streams the request body from the client to the server.
    pub(super) async fn stream_request_body(
        &mut self,
        conn: &mut UpstreamConn,
        start: usize,
        kind: BodyKind,
        be: &HttpBackend,
    ) -> Result<(), Termination> {
        let inbuf = self.inbuf.take().unwrap_or_else(|| self.pool.take());
        // The server waits for the body: as in haproxy, a client that stalls mid-body is
        // bounded by `timeout server` and answered 504 (`sH`), not by `timeout client`.
        // Without a `timeout server`, `timeout client` bounds it (408) rather than nothing.
        let stall = be.timeouts.server;
        let body = forward_body(
            &mut self.client,
            &mut conn.stream,
            Vec::new(),
            inbuf,
            start,
            kind,
            BodyTimeouts {
                src: stall.or(self.fe.timeouts.client),
                dst: be.timeouts.server,
                no_delay: self.fe.no_delay || be.no_delay,
            },
        )
        .await;
        self.inbuf = Some(body.buf);
        if let Some(unread) = body.unread {
            // The server stopped reading (it may have answered already, as servers refusing
            // an upload do): its response decides, read next; a missing one is a 502 there.
            self.unread_body = Some(unread);
            return Ok(());
        }
        match body.result {
            Ok(n) => {
                self.summary.bytes_in += n;
                Ok(())
            }
            Err(BodyError::BadChunk) => {
                Err(self.fail(400, Termination::BadRequest, Some(be)).await)
            }
            // The body is the request's data phase: haproxy logs a client gone here as `CD`.
            Err(BodyError::SrcClosed) => {
                self.trace.phase = b'D';
                Err(Termination::ClientAborted)
            }
            Err(BodyError::SrcTimeout) if stall.is_none() => {
                Err(self.fail(408, Termination::ClientTimeout, Some(be)).await)
            }
            Err(BodyError::SrcTimeout | BodyError::DstTimeout) => {
                Err(self.fail(504, Termination::ServerTimeout, Some(be)).await)
            }
            Err(BodyError::DstFailed) => {
                Err(self.fail(502, Termination::ServerError, Some(be)).await)
            }
        }
    }
}

/// Why no server connection was made for a request.
enum NoConn {
    /// The upstream owns `timeout connect`, `timeout queue`, `retries` and `redispatch`, so
    /// a failure is final (503).
    Failed,
    /// `abortonclose`: the client closed while waiting; nothing was sent.
    Aborted,
    /// The server chosen (its position) has `redir`: its redirect is the answer.
    Redirect(usize, Vec<u8>),
}

/// Gets a server connection. With `abortonclose`, a client that closes meanwhile ends the
/// wait.
async fn connect<U: Upstream>(
    upstream: &U,
    reuse: Reuse,
    own: Option<PrivateConn>,
    pick: &Pick<'_>,
    client: &Stream,
) -> Result<UpstreamConn, NoConn> {
    let why = |e| match e {
        UpstreamError::Redirect(server, reply) => NoConn::Redirect(server, reply),
        _ => NoConn::Failed,
    };
    let acquire = upstream.acquire(reuse, own, pick);
    if !upstream.abort_on_close() {
        return acquire.await.map_err(why);
    }
    monoio::select! {
        got = acquire => got.map_err(why),
        _ = crate::backend::client_closed(client) => Err(NoConn::Aborted),
    }
}
