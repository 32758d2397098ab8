//! `http-reuse`: which server connection a request may travel over, and the connection a
//! client connection keeps for itself under `http-reuse never` or to a `send-proxy` server.
//!
//! HAProxy's reason for `safe` is that a server may close an idle connection just as a
//! request is sent over it, and the client could not tell that failure from a real one.
//! ringlb probes an idle connection before using it and sends a request whose body is
//! complete in its buffer once more on a new connection when the idle one fails before any
//! response byte. So under `safe` a first request that can be sent again may take an idle
//! connection; one that cannot (a body still streaming from the client) gets a new one.

use crate::io::transport::Stream;
use ringlb_config::model::HttpReuse;

use crate::analysis::settings::HttpBackend;
use crate::backend::upstream::{Reuse, Upstream, UpstreamConn};

/// A server connection kept by one client connection between its requests.
pub struct PrivateConn {
    /// The server's position in its backend.
    pub server: usize,
    pub stream: Stream,
}

/// The connection a client connection keeps under `http-reuse never`, with the backend it
/// leads to: a server index means nothing in another backend.
#[derive(Default)]
pub struct OwnConn {
    kept: Option<(*const HttpBackend, PrivateConn)>,
}

impl OwnConn {
    /// Whether no server connection is kept.
    pub fn is_empty(&self) -> bool {
        self.kept.is_none()
    }

    /// The kept connection if it belongs to `be`; one to another backend is closed.
    pub fn take_for(&mut self, be: &HttpBackend) -> Option<PrivateConn> {
        let (to, conn) = self.kept.take()?;
        std::ptr::eq(to, be).then_some(conn)
    }

    /// Ends a clean exchange: under `http-reuse never`, or when the server connection
    /// started with a PROXY header naming this client (`send-proxy`), the client connection
    /// keeps the server connection; otherwise it goes to the shared idle pool. A stream of an
    /// HTTP/2 connection carried its one request: it ends here (its connection stays shared).
    pub fn release<U: Upstream>(&mut self, be: &HttpBackend, upstream: &U, conn: UpstreamConn) {
        if conn.stream.mux().is_some() {
            upstream.discard(conn);
        } else if be.reuse == HttpReuse::Never || conn.private {
            self.kept = Some((be, upstream.keep_private(conn)));
        } else {
            upstream.release(conn);
        }
    }
}

/// How the first attempt at sending a request may get its server connection.
/// `first_request`: the client connection sent nothing before; `replayable`: the whole
/// request is in the buffer and can be sent again on a new connection.
pub fn first_attempt(mode: HttpReuse, first_request: bool, replayable: bool) -> Reuse {
    match mode {
        HttpReuse::Never => Reuse::Private,
        HttpReuse::Always => Reuse::Allowed,
        _ if !first_request || replayable => Reuse::Allowed,
        HttpReuse::Aggressive => Reuse::Proven,
        HttpReuse::Safe => Reuse::NewOnly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_first_request_that_cannot_be_replayed_is_restricted() {
        use HttpReuse::*;
        let cases = [
            (Safe, true, false, Reuse::NewOnly),
            (Safe, true, true, Reuse::Allowed),
            (Safe, false, false, Reuse::Allowed),
            (Aggressive, true, false, Reuse::Proven),
            (Aggressive, false, false, Reuse::Allowed),
            (Always, true, false, Reuse::Allowed),
            (Never, false, true, Reuse::Private),
        ];
        for (mode, first, replayable, want) in cases {
            assert_eq!(
                first_attempt(mode, first, replayable),
                want,
                "{mode:?} first={first} replayable={replayable}"
            );
        }
    }
}
