//! The proxy under test: an HTTP session per accepted loopback connection, a backend whose
//! upstream connects round robin to fixed addresses with an idle pool, and a model helper.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use monoio::net::{TcpListener, TcpStream};
use ringlb::analysis::settings::{HttpBackend, HttpFrontend};
use ringlb::backend::reuse::PrivateConn;
use ringlb::backend::upstream::{Pick, Reuse, Upstream, UpstreamConn, UpstreamError};
use ringlb::io::buffer::BufferPool;
use ringlb::sessions::http::{serve_http, SessionSummary};
use ringlb::sessions::router::Router;
use ringlb_config::model::{Mode, Proxy, ProxyKind, Timeouts, Tune};

/// A `listen` section in HTTP mode with short timeouts; tests change what they need.
pub fn http_listen(name: &str) -> Proxy {
    let mut p = Proxy::new(ProxyKind::Listen, name.into(), Default::default());
    p.mode = Mode::Http;
    p.timeouts = Timeouts {
        client: Some(Duration::from_secs(5)),
        server: Some(Duration::from_secs(5)),
        connect: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    p.retries = 0;
    p
}

/// Connects round robin to fixed addresses and keeps released connections idle.
pub struct FixedUpstream {
    addrs: Vec<SocketAddr>,
    next: Cell<usize>,
    idle: RefCell<Vec<UpstreamConn>>,
    pub opened: Cell<usize>,
    pub reused: Cell<usize>,
}

impl Upstream for FixedUpstream {
    async fn acquire(
        &self,
        reuse: Reuse,
        _own: Option<PrivateConn>,
        _pick: &Pick<'_>,
    ) -> Result<UpstreamConn, UpstreamError> {
        if reuse == Reuse::Allowed {
            if let Some(mut conn) = self.idle.borrow_mut().pop() {
                conn.reused = true;
                self.reused.set(self.reused.get() + 1);
                return Ok(conn);
            }
        }
        if self.addrs.is_empty() {
            return Err(UpstreamError::NoServer);
        }
        let server = self.next.get() % self.addrs.len();
        self.next.set(server + 1);
        let stream = TcpStream::connect_addr(self.addrs[server])
            .await
            .map_err(UpstreamError::Connect)?;
        self.opened.set(self.opened.get() + 1);
        Ok(UpstreamConn {
            stream: stream.into(),
            reused: false,
            server,
            persisted: false,
            slot: None,
            private: false,
        })
    }

    fn release(&self, conn: UpstreamConn) {
        self.idle.borrow_mut().push(conn);
    }
}

pub struct OneBackend {
    pub settings: HttpBackend,
    pub upstream: FixedUpstream,
}

impl Router for OneBackend {
    type Upstream = FixedUpstream;
    fn backend(&self, name: &str) -> Option<(&HttpBackend, &FixedUpstream)> {
        (name == self.settings.name).then_some((&self.settings, &self.upstream))
    }
}

pub struct TestProxy {
    pub addr: SocketAddr,
    pub router: Rc<OneBackend>,
    pub pool: BufferPool,
    pub summaries: Rc<RefCell<Vec<SessionSummary>>>,
}

impl TestProxy {
    /// Serves `frontend` on a loopback port, routing to `backend` over `servers`.
    pub fn start(frontend: &Proxy, backend: &Proxy, servers: Vec<SocketAddr>) -> Self {
        let fe = Rc::new(HttpFrontend::from_proxy(frontend, &Tune::default()));
        let router = Rc::new(OneBackend {
            settings: HttpBackend::from_proxy(backend),
            upstream: FixedUpstream {
                addrs: servers,
                next: Cell::new(0),
                idle: RefCell::new(Vec::new()),
                opened: Cell::new(0),
                reused: Cell::new(0),
            },
        });
        let pool = BufferPool::new(Tune::default().bufsize as usize, 16);
        let summaries = Rc::new(RefCell::new(Vec::new()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (r, p, s) = (router.clone(), pool.clone(), summaries.clone());
        monoio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                let (fe, r, p, s) = (fe.clone(), r.clone(), p.clone(), s.clone());
                monoio::spawn(async move {
                    let summary = serve_http(stream.into(), peer, &fe, &*r, &p)
                        .await
                        .finish()
                        .await;
                    s.borrow_mut().push(summary);
                });
            }
        });
        Self {
            addr,
            router,
            pool,
            summaries,
        }
    }

    /// A `listen` proxy serving itself.
    pub fn listen(proxy: &Proxy, servers: Vec<SocketAddr>) -> Self {
        Self::start(proxy, proxy, servers)
    }

    pub fn opened(&self) -> usize {
        self.router.upstream.opened.get()
    }
}

/// Runs blocking client code on a thread while the proxy keeps running on this runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let handle = std::thread::spawn(f);
    while !handle.is_finished() {
        monoio::time::sleep(Duration::from_millis(2)).await;
    }
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Waits until the proxy has finished `n` sessions (they end just after the client sees EOF).
pub async fn sessions_done(proxy: &TestProxy, n: usize) {
    for _ in 0..2000 {
        if proxy.summaries.borrow().len() >= n {
            return;
        }
        monoio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!(
        "{} sessions ended, expected {n}",
        proxy.summaries.borrow().len()
    );
}
