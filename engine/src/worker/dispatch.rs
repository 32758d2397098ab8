//! Where an accepted connection goes: `tcp-request connection` rules, the PROXY protocol
//! header of an `accept-proxy` bind, TLS, `monitor-net`, then the session of its
//! frontend's mode.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::io::proxy_protocol;
use crate::io::tls::TlsListener;
use crate::io::transport::Stream;
use ringlb_config::model::{HttpProto, Mode};

use crate::analysis::rules::ProxyRules;
use crate::analysis::settings::HttpFrontend;
use crate::sessions::http::{Ended, IdleConn, Tunnel};
use crate::sessions::tcp::proxy::TunnelTimeouts;
use crate::sessions::tcp::session::{serve_tcp, TcpFrontend};
use crate::stream::txn::Txn;
use crate::stream::Addrs;
use crate::worker::event_loop::Worker;
use crate::worker::limits::Limits;

/// What a worker needs to serve one frontend.
#[derive(Debug)]
pub struct FrontendPlan {
    pub name: String,
    /// Position among the frontends, for its counters and logging.
    pub index: usize,
    pub mode: Mode,
    /// The backend connections go to (`default_backend`, or the `listen` itself).
    pub backend: Option<String>,
    pub timeouts: TunnelTimeouts,
    pub limits: Limits,
    /// `option splice-auto` on the frontend or its backend.
    pub splice: bool,
    /// `option clitcpka` (or `tcpka`) on the frontend: TCP keep-alive towards clients.
    pub client_keepalive: bool,
    /// HTTP settings, for `mode http` frontends.
    pub http: Option<HttpFrontend>,
    /// ACLs and rules (shared with `http` for HTTP frontends).
    pub rules: Arc<ProxyRules>,
}

/// What a `bind` line says of its connections; one per line, shared by its addresses and
/// every worker.
#[derive(Debug)]
pub struct BindSide {
    /// The line's `name`, or its position in the frontend (as HAProxy numbers listeners),
    /// for the connection error log.
    pub name: String,
    /// `ssl crt …`: the TLS its connections start with.
    pub tls: Option<Arc<TlsListener>>,
    /// `proto`: the HTTP version spoken whatever the client starts with.
    pub proto: Option<HttpProto>,
    /// `accept-proxy`: every connection starts with a PROXY protocol header.
    pub accept_proxy: bool,
    /// `maxconn`: this line's own ceiling on open connections, over every worker and
    /// address of the line (the frontend's and the global one still apply).
    pub maxconn: Option<Arc<crate::worker::limits::ConnLimit>>,
    /// The line's listen backlog, for listening again after `enable frontend`.
    pub backlog: i32,
}

/// Serves one accepted connection according to its frontend's mode, after `monitor-net`
/// and `tcp-request connection` rules had their say. Returns an HTTP connection that went
/// idle between requests (to be parked), `None` once the connection is closed.
pub async fn serve_connection(
    worker: &Worker,
    plan: &FrontendPlan,
    stream: Stream,
    mut peer: SocketAddr,
    bind: &BindSide,
) -> Option<IdleConn> {
    let accepted_at = std::time::SystemTime::now();
    stream.set_nodelay();
    if plan.client_keepalive {
        stream.set_keepalive();
    }
    let mut local = stream.local_addr();
    let rules = &plan.rules;
    let accepted = {
        let nbsrv = |n: &str| worker.backend(n).map(|t| t.usable_count());
        let txn = Txn::connection(peer, local, &plan.name, &nbsrv);
        ProxyRules::tcp_accepts(&rules.tcp_connection, &rules.acls, &txn)
    };
    if !accepted {
        // Closed right after accept, before any byte is read.
        return None;
    }
    // As in HAProxy, `tcp-request connection` rules saw the real addresses; from here on
    // (TLS errors, `monitor-net`, rules, logs, `src`, X-Forwarded-For, `send-proxy`) the
    // header's addresses stand in for them.
    if bind.accept_proxy {
        // Boxed: only `accept-proxy` connections pay for its state.
        match Box::pin(proxy_protocol::read_header(&stream, plan.timeouts.client)).await {
            Ok(Some((src, dst))) => (peer, local) = (src, dst),
            Ok(None) => {}
            Err(e) => {
                worker
                    .obs
                    .proxy_header_failure(plan.index, peer, accepted_at, &bind.name, e);
                return None;
            }
        }
    }
    // TLS comes after `tcp-request connection` rules (they see only addresses), before
    // anything else, `monitor-net` included.
    let stream = match (stream, bind.tls.as_deref()) {
        // Boxed, as the sessions below are: this task lives as long as the connection, so
        // its future holds only what every connection needs, never the largest state of
        // one phase (the handshake, an HTTP exchange, a tunnel).
        (Stream::Tcp(tcp), Some(tls)) => {
            match Box::pin(tls.accept(tcp, plan.timeouts.client)).await {
                Ok(t) => {
                    worker.obs.tls_handshake(plan.index, t.resumed());
                    Stream::Tls(Box::new(t))
                }
                Err(e) => {
                    worker
                        .obs
                        .tls_failure(plan.index, peer, &tls.name, &e.to_string());
                    return None;
                }
            }
        }
        (stream, _) => stream,
    };
    let peer_ip = crate::analysis::acl::fetch::unmap(peer.ip());
    if rules.monitor_net.iter().any(|n| n.contains(peer_ip)) {
        if plan.mode == Mode::Http {
            // Boxed: rare, and inline it would size every connection's task.
            let _ = Box::pin(monoio::io::AsyncWriteRentExt::write_all(
                &mut { stream },
                b"HTTP/1.0 200 OK\r\n\r\n".to_vec(),
            ))
            .await;
        }
        return None;
    }
    match plan.mode {
        Mode::Http => {
            let served = Box::pin(serve_http_connection(
                worker,
                plan,
                stream,
                (peer, local),
                bind.proto,
            ))
            .await;
            match served {
                Served::Closed => None,
                Served::Idle(conn) => Some(conn),
                // The session's future is gone by now: the tunnel holds only its own state.
                Served::Tunnel(t) => {
                    t.await;
                    None
                }
            }
        }
        Mode::Tcp | Mode::Health => {
            let fe = TcpFrontend {
                name: &plan.name,
                index: plan.index,
                rules: &plan.rules,
                default_backend: plan.backend.as_deref(),
                timeouts: &plan.timeouts,
                splice: plan.splice,
            };
            Box::pin(serve_tcp(
                worker,
                &worker.obs,
                &worker.pool,
                &fe,
                stream,
                (peer, local),
            ))
            .await;
            None
        }
    }
}

/// `mode http`: the HTTP session serves the connection, request after request, until it
/// closes or goes idle; or the HTTP/2 multiplexer does, when TLS negotiated `h2`, the bind
/// says `proto h2`, or the client starts with HTTP/2's preface (unless `proto h1`).
pub async fn serve_http_connection<'w>(
    worker: &'w Worker,
    plan: &'w FrontendPlan,
    stream: Stream,
    addrs: Addrs,
    proto: Option<HttpProto>,
) -> Served<'w> {
    let Some(http) = plan.http.as_ref() else {
        return Served::Closed;
    };
    let alpn_h2 = stream
        .tls()
        .and_then(|t| t.alpn())
        .is_some_and(|p| p == b"h2");
    let (stream, early) = if alpn_h2 || proto == Some(HttpProto::H2) {
        (stream, Vec::new())
    } else {
        let h2 = proto != Some(HttpProto::H1);
        let ended =
            crate::sessions::http::serve_http_as(stream, addrs, http, worker, &worker.pool, h2);
        match ended.await {
            Ended::Http2(stream, early) => (stream, early),
            ended => return served(ended),
        }
    };
    let end = Box::pin(crate::sessions::h2::serve_h2(
        stream,
        addrs,
        early,
        http,
        worker,
        &worker.pool,
    ))
    .await;
    let misbehaved = matches!(end, crate::sessions::h2::H2End::Misbehaved(_));
    worker.obs.h2_ended(plan.index, misbehaved);
    Served::Closed
}

/// A parked connection's client sent something: a session serves it again.
pub async fn resume_http_connection(
    worker: &Worker,
    plan: &FrontendPlan,
    conn: IdleConn,
) -> Option<IdleConn> {
    let http = plan.http.as_ref()?;
    match served(crate::sessions::http::resume_http(conn, http, worker, &worker.pool).await) {
        Served::Tunnel(t) => {
            t.await;
            None
        }
        Served::Idle(conn) => Some(conn),
        Served::Closed => None,
    }
}

/// How an HTTP connection's session ended, for its owner.
pub enum Served<'a> {
    Closed,
    /// It went idle between requests: to be parked.
    Idle(IdleConn),
    /// It became a tunnel, to be run once the session's future is gone.
    Tunnel(Tunnel<'a>),
}

fn served(ended: Ended<'_>) -> Served<'_> {
    match ended {
        Ended::Closed(_) | Ended::Http2(..) => Served::Closed,
        Ended::Idle(conn) => Served::Idle(conn),
        Ended::Tunnel(t) => Served::Tunnel(t),
    }
}
