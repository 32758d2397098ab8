//! How a worker's backend table hands out server connections: the balancing algorithm picks the
//! server (or persistence does), the `maxconn` gate gives a slot, and an idle connection to
//! that server is reused when the session allows it.

use crate::backend::reuse::PrivateConn;
use crate::backend::upstream::{Pick, Reuse, Upstream, UpstreamConn, UpstreamError};

use crate::backend::connect::ConnectErrorKind;
use crate::backend::{BackendTable, ServerId};

impl Upstream for BackendTable {
    /// The balancer (or persistence) picks the server and the `maxconn` gate gives a slot;
    /// then the connection: the client connection's own one to that server, an idle one as
    /// `reuse` allows, or a new one.
    async fn acquire(
        &self,
        reuse: Reuse,
        own: Option<PrivateConn>,
        pick: &Pick<'_>,
    ) -> Result<UpstreamConn, UpstreamError> {
        let mut a = self.assign(pick).await?;
        if let Some(prefix) = &self.servers[a.server.0].conf.redir {
            // HAProxy redirects the requests it may answer without their body: GET, HEAD.
            if let Some(txn) = pick
                .txn
                .filter(|t| matches!(t.method(), Some(b"GET" | b"HEAD")))
            {
                let reply = crate::analysis::replies::server_redirect_reply(prefix, txn);
                // The slot goes back with `a`: no connection will use it.
                self.balancer.borrow().conn_released(a.server);
                return Err(UpstreamError::Redirect(a.server.0, reply));
            }
        }
        let preferred = pick.prefer.map(ServerId);
        let sni_of = |e: &ringlb_config::acl::SampleExpr| pick.sni(e);
        if self.servers[a.server.0].conf.h2 {
            // Boxed: rare next to HTTP/1 servers, and its connection set-up would size
            // every request's future.
            return Box::pin(self.h2_acquire(a, reuse, pick, &sni_of)).await;
        }
        let sni = self.sni_for(a.server, &sni_of);
        let sni = sni.as_deref();
        // A connection that carried a PROXY header names one client: HAProxy reuses it only
        // for a stream whose header would be the same, so it stays with its client
        // connection, as under `http-reuse never`, whatever the reuse mode.
        let private = self.servers[a.server.0].conf.send_proxy.is_some();
        let kept = own
            .filter(|o| {
                o.server == a.server.0
                    && o.stream.tls().and_then(|t| t.sent_sni()) == sni
                    && crate::backend::pool::still_open(&o.stream)
            })
            .map(|o| o.stream);
        // Reusing only the chosen server's idle connections keeps the algorithm's
        // distribution exact; an idle connection elsewhere would skew it.
        let idle = match reuse {
            Reuse::NewOnly => None,
            Reuse::Private => kept,
            _ if private => kept,
            Reuse::Allowed => self.take_idle(a.server, false, sni),
            Reuse::Proven => self.take_idle(a.server, true, sni),
        };
        if let Some(stream) = idle {
            self.track(&mut a.slot, a.server, &stream);
            return Ok(UpstreamConn {
                stream,
                reused: true,
                server: a.server.0,
                persisted: a.persisted,
                slot: Some(a.slot),
                private,
            });
        }
        match self
            .connect_holding(a.server, (pick.src, pick.dst), &sni_of, Some(&mut a.slot))
            .await
        {
            Ok((stream, reached)) => {
                self.track(&mut a.slot, reached, &stream);
                Ok(UpstreamConn {
                    stream,
                    reused: false,
                    server: reached.0,
                    persisted: a.persisted && preferred == Some(reached),
                    slot: Some(a.slot),
                    // A redispatch may have reached another server.
                    private: self.servers[reached.0].conf.send_proxy.is_some(),
                })
            }
            Err(e) if e.kind == ConnectErrorKind::NoServer => Err(UpstreamError::NoServer),
            Err(e) => Err(UpstreamError::Connect(
                e.source
                    .unwrap_or_else(|| std::io::ErrorKind::TimedOut.into()),
            )),
        }
    }

    fn keep_private(&self, conn: UpstreamConn) -> PrivateConn {
        self.balancer.borrow().conn_released(ServerId(conn.server));
        drop(conn.slot);
        PrivateConn {
            server: conn.server,
            stream: conn.stream,
        }
    }

    fn release(&self, conn: UpstreamConn) {
        self.balancer.borrow().conn_released(ServerId(conn.server));
        drop(conn.slot);
        // A connection taken from the pool has now carried at least two requests.
        self.put_idle(ServerId(conn.server), conn.stream, conn.reused);
    }

    fn discard(&self, conn: UpstreamConn) {
        self.balancer.borrow().conn_released(ServerId(conn.server));
        drop(conn);
    }

    fn server_by_cookie(&self, value: &[u8]) -> Option<usize> {
        self.server_by_cookie(value).map(|id| id.0)
    }

    fn server_cookie(&self, server: usize) -> Option<&str> {
        self.cookie_of(ServerId(server))
    }

    fn abort_on_close(&self) -> bool {
        self.lb.abortonclose
    }

    fn observe(&self, server: usize, outcome: ringlb_checks::Outcome) {
        BackendTable::observe(self, ServerId(server), outcome);
    }
}
