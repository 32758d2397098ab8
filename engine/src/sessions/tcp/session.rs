//! A `mode tcp` session: `tcp-request content` rules (waiting for the bytes they inspect)
//! and the backend choice, a server connection from the backend, the inspected bytes sent
//! to it, then the tunnel; its log line and counters when it ends.

use crate::io::transport::Stream;

use crate::analysis::rules::ProxyRules;
use crate::backend::upstream::{Pick, Reuse, Upstream, UpstreamConn};
use crate::io::buffer::BufferPool;
use crate::io::timed::{write_all, WriteError};
use crate::log::observer::{Observer, TunnelEnd};
use crate::sessions::router::Router;
use crate::sessions::tcp::inspect::{inspect, Inspection};
use crate::sessions::tcp::proxy::{self, Transfer, TunnelEnd as End, TunnelTimeouts};
use crate::stream::inspected::Inspected;
use crate::stream::txn::Txn;

/// What a TCP session needs from its frontend.
pub struct TcpFrontend<'a> {
    pub name: &'a str,
    /// Position among the frontends, for its counters.
    pub index: usize,
    pub rules: &'a ProxyRules,
    /// The backend connections go to when no `use_backend` rule matches.
    pub default_backend: Option<&'a str>,
    pub timeouts: &'a TunnelTimeouts,
    /// `option splice-auto` on the frontend or its backend.
    pub splice: bool,
}

/// `mode tcp`: connect to a server of the frontend's backend and tunnel.
pub async fn serve_tcp<R: Router>(
    router: &R,
    obs: &Observer,
    pool: &BufferPool,
    fe: &TcpFrontend<'_>,
    client: Stream,
    (peer, local): crate::stream::Addrs,
) {
    let mut end = TunnelEnd {
        frontend: fe.name,
        peer,
        local,
        accepted: std::time::Instant::now(),
        connect_at: None,
        dequeued_at: None,
        connected_at: None,
        backend: None,
        server: None,
        bytes_in: 0,
        bytes_out: 0,
        state: *b"PR",
        server_conn: None,
    };
    tunnel(router, obs, pool, fe, client, &mut end).await;
    obs.finish_tunnel(fe.index, &end);
}

async fn tunnel<R: Router>(
    router: &R,
    obs: &Observer,
    pool: &BufferPool,
    fe: &TcpFrontend<'_>,
    mut client: Stream,
    end: &mut TunnelEnd<'_>,
) {
    let nbsrv = |n: &str| router.usable_servers(n);
    let txn = Txn {
        tls: client.tls(),
        ..Txn::connection(end.peer, end.local, fe.name, &nbsrv)
    };
    let rules = fe.rules;
    let client_timeout = fe.timeouts.client;
    let head = match inspect(&client, rules, &txn, client_timeout, pool).await {
        Inspection::Accept(head) => head,
        Inspection::Reject => {
            obs.stats.frontends[fe.index].denied_request();
            return;
        }
        Inspection::ClientTimeout => {
            end.state = *b"cR";
            return;
        }
    };
    // `use_backend` decides on the bytes the content rules waited for, without waiting more.
    let bytes = Inspected::new(&head, true);
    let txn = Txn {
        buf: &head,
        payload: Some(&bytes),
        ..txn
    };
    let exists = |n: &str| router.backend(n).is_some();
    let chosen = rules.choose_backend(&txn, &exists, fe.default_backend);
    let Some((name, (http, table))) = chosen
        .as_deref()
        .and_then(|b| router.backend(b).map(|t| (b, t)))
    else {
        end.state = *b"SC";
        return;
    };
    let stats = &obs.stats;
    if let Some(b) = http.stats_index.or_else(|| obs.backend_index(name)) {
        stats.backends[b].session_start(stats.tick());
        end.backend = Some(b);
    }
    end.connect_at = Some(std::time::Instant::now());
    end.state = *b"SC";
    let pick = Pick {
        txn: Some(&txn),
        ..Pick::connection(end.peer, end.local)
    };
    // Boxed, as the write of the inspected bytes below: the future of a tunnel lives as
    // long as the tunnel, so it keeps no room for what only setting it up needs.
    let acquired = Box::pin(table.acquire(Reuse::NewOnly, None, &pick)).await;
    // The slot counts this tunnel against its server until the tunnel ends.
    let Ok(UpstreamConn {
        stream: mut server,
        server: id,
        slot,
        ..
    }) = acquired
    else {
        pool.give(head);
        return;
    };
    end.dequeued_at = slot.as_ref().and_then(|s| s.dequeued_at());
    if obs.logs_server_addrs(fe.index) {
        end.server_conn = Some((server.peer_addr(), server.local_addr()));
    }
    let now = std::time::Instant::now();
    end.connected_at = Some(now);
    if let Some(b) = end.backend {
        if let Some(c) = stats.servers[b].get(id) {
            c.session_start(stats.tick());
            end.server = Some(id);
        }
        let took = now - end.dequeued_at.or(end.connect_at).unwrap_or(now);
        let which = crate::metrics::Latency::Connect;
        obs.hist.record(which, b, end.server, took);
    }
    // The bytes the rules inspected go first, as they came.
    if !head.is_empty() {
        let sent = head.len() as u64;
        let limit = fe.timeouts.tunnel.or(fe.timeouts.server);
        match Box::pin(write_all(&mut server, head, limit)).await {
            (Ok(()), back) => {
                pool.give(back.unwrap_or_default());
                end.bytes_in = sent;
            }
            (Err(e), back) => {
                pool.give(back.unwrap_or_default());
                end.state = match e {
                    WriteError::Timeout => *b"sD",
                    WriteError::Failed => *b"SD",
                };
                return;
            }
        }
    }
    let transfer = if fe.splice && proxy::splice_pays_off() {
        Transfer::Splice
    } else {
        Transfer::Copy
    };
    let t = proxy::proxy(&mut client, &mut server, fe.timeouts, pool, transfer).await;
    end.bytes_in += t.to_server;
    end.bytes_out = t.to_client;
    end.state = match t.end {
        End::Closed => *b"--",
        End::ClientTimeout => *b"cD",
        End::ServerTimeout => *b"sD",
        End::ClientError => *b"CD",
        End::ServerError => *b"SD",
    };
}
