//! The HTTP session's view of a worker's backend table: the balancing algorithm picks the
//! server, and an idle connection to that server is reused when the session allows it.

use crate::http::{Pick, Reuse, Router, Upstream, UpstreamConn, UpstreamError};
use crate::shard::worker::Worker;

use super::connect::ConnectErrorKind;
use super::{BackendTable, ServerId};

impl Upstream for BackendTable {
    async fn acquire(&self, reuse: Reuse, pick: &Pick<'_>) -> Result<UpstreamConn, UpstreamError> {
        let preferred = pick
            .prefer
            .map(ServerId)
            .filter(|&id| id.0 < self.server_count() && self.is_usable(id));
        let server = match preferred {
            Some(id) => id,
            None => self.choose_server(None).ok_or(UpstreamError::NoServer)?,
        };
        // Reusing only the chosen server's idle connections keeps the algorithm's
        // distribution exact; an idle connection elsewhere would skew it.
        if reuse == Reuse::Allowed {
            if let Some(stream) = self.take_idle(server) {
                return Ok(UpstreamConn {
                    stream,
                    reused: true,
                    server: server.0,
                    persisted: preferred == Some(server),
                });
            }
        }
        match self.connect_to(server, pick.client_port).await {
            Ok((stream, reached)) => Ok(UpstreamConn {
                stream,
                reused: false,
                server: reached.0,
                persisted: preferred == Some(reached),
            }),
            Err(e) if e.kind == ConnectErrorKind::NoServer => Err(UpstreamError::NoServer),
            Err(e) => Err(UpstreamError::Connect(
                e.source
                    .unwrap_or_else(|| std::io::ErrorKind::TimedOut.into()),
            )),
        }
    }

    fn release(&self, conn: UpstreamConn) {
        self.put_idle(ServerId(conn.server), conn.stream);
    }

    fn server_by_cookie(&self, value: &[u8]) -> Option<usize> {
        self.server_by_cookie(value).map(|id| id.0)
    }

    fn server_cookie(&self, server: usize) -> Option<&str> {
        self.cookie_of(ServerId(server))
    }
}

impl Router for Worker {
    type Upstream = BackendTable;

    fn backend(&self, name: &str) -> Option<(&crate::http::HttpBackend, &BackendTable)> {
        Worker::backend(self, name).map(|t| (&t.http, &**t))
    }

    fn usable_servers(&self, name: &str) -> Option<usize> {
        Worker::backend(self, name).map(|t| t.usable_count())
    }

    fn observer(&self) -> Option<&crate::stats::Observer> {
        Some(&self.obs)
    }

    fn stopping(&self) -> Option<&crate::shard::latch::Latch> {
        Some(Worker::stopping(self))
    }
}
