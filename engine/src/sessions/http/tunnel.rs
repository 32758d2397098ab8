//! After a `101 Switching Protocols`: the exchange becomes a two-way tunnel between the
//! client and the server (WebSocket, or any protocol the two agreed on), run by the same
//! tunnel as `mode tcp` (`sessions/tcp/proxy.rs`), under `timeout tunnel` (else `timeout
//! client` and `timeout server`) and `timeout client-fin`/`server-fin` once a side closed.
//!
//! The switch happens in two steps so that a long-lived tunnel does not keep the
//! exchange's state (several KiB) alive: the exchange sends the `101` and hands the server
//! connection back to the session loop as [`Switched`]; the loop runs [`Session::tunnel`].

use crate::analysis::settings::HttpBackend;
use crate::backend::upstream::{Upstream, UpstreamConn};
use crate::io::timed::write_all;
use crate::sessions::http::session::{Next, Session, Termination};
use crate::sessions::router::Router;
use crate::sessions::tcp::proxy::{proxy, Transfer, TunnelEnd, TunnelTimeouts};

/// A switched exchange waiting for its tunnel: the server connection, its backend (whose
/// upstream takes the connection back when the tunnel ends) and the tunnel's timeouts.
pub struct Switched {
    conn: UpstreamConn,
    backend: Box<str>,
    timeouts: TunnelTimeouts,
}

impl<R: Router> Session<'_, R> {
    /// Sends the rewritten `101` head (`out`) with whatever the server sent after it
    /// (`sbuf` past `head_len`), then whatever the client sent after its request, and
    /// hands the server connection to the session loop for the tunnel.
    pub(super) async fn switch_protocols(
        &mut self,
        mut conn: UpstreamConn,
        mut out: Vec<u8>,
        sbuf: Vec<u8>,
        head_len: usize,
        be: &HttpBackend,
        upstream: &R::Upstream,
    ) -> Next {
        // The head is counted already; what the server sent after it is counted here.
        let early = &sbuf[head_len.min(sbuf.len())..];
        self.summary.bytes_out += early.len() as u64;
        out.extend_from_slice(early);
        self.pool.give(sbuf);
        let (res, back) = write_all(&mut self.client, out, self.fe.timeouts.client).await;
        self.pool.give(back.unwrap_or_default());
        if res.is_err() {
            upstream.discard(conn);
            return Next::Close(Termination::ClientAborted);
        }
        // Bytes the client sent behind its request (a WebSocket client may speak first)
        // were counted when read; they go to the server before the tunnel starts.
        if let Some(buf) = self.take_pending_input() {
            let (res, back) = write_all(&mut conn.stream, buf, be.timeouts.server).await;
            self.pool.give(back.unwrap_or_default());
            if res.is_err() {
                upstream.discard(conn);
                return Next::Close(Termination::ServerError);
            }
        }
        Next::Switch(Box::new(Switched {
            conn,
            backend: be.name.as_str().into(),
            timeouts: TunnelTimeouts {
                client: self.fe.timeouts.client,
                server: be.timeouts.server,
                tunnel: be.timeouts.tunnel.or(self.fe.timeouts.tunnel),
                client_fin: self.fe.timeouts.client_fin,
                server_fin: be.timeouts.server_fin,
            },
        }))
    }

    /// Joins the client and server connections until the tunnel ends; both close then.
    pub(super) async fn tunnel(&mut self, s: Switched) -> Termination {
        let Switched {
            mut conn,
            backend,
            timeouts,
        } = s;
        let stats = proxy(
            &mut self.client,
            &mut conn.stream,
            &timeouts,
            self.pool,
            Transfer::Copy,
        )
        .await;
        match self.router.backend(&backend) {
            Some((_, upstream)) => upstream.discard(conn),
            None => drop(conn),
        }
        self.summary.bytes_in += stats.to_server;
        self.summary.bytes_out += stats.to_client;
        match stats.end {
            TunnelEnd::Closed => Termination::Normal,
            TunnelEnd::ClientTimeout => Termination::ClientTimeout,
            TunnelEnd::ServerTimeout => Termination::ServerTimeout,
            TunnelEnd::ClientError => Termination::ClientAborted,
            TunnelEnd::ServerError => Termination::ServerError,
        }
    }
}
