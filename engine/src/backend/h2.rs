//! Servers spoken to in HTTP/2 (`server … proto h2`): each worker keeps one connection per
//! such server, and every request to it is a stream of that connection, many at once. The
//! HTTP/1 session still writes the request as HTTP/1.1 and reads the response as HTTP/1.1,
//! over an in-memory stream (`io/duplex.rs`); the bridge here turns them into the stream's
//! frames and back (`codec/http2.rs`, `codec/h2_body.rs`). gRPC passes as it is: bodies of
//! unknown length, trailers (`grpc-status`) after the last DATA.

use std::cell::Cell;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use h2::client::SendRequest;

use crate::codec::conn_mode::ConnectionTokens;
use crate::codec::framing::{request_framing, BodyKind};
use crate::codec::h2_body::{self, more, Output};
use crate::codec::head::parse_request;
use crate::codec::http2::{self, BodyForm};
use crate::io::duplex::{self, Pipe};
use crate::io::poll_io::PollIo;
use crate::io::transport::Stream;

/// Most bytes of a request head the bridge reads before giving up on it.
const HEAD_LIMIT: usize = 64 << 10;

/// One HTTP/2 connection to a server.
pub struct H2Conn {
    send: SendRequest<Bytes>,
    conn: Rc<Stream>,
    /// The connection ended (GOAWAY, close, failure): the next request opens another.
    closed: Rc<Cell<bool>>,
    https: bool,
}

impl H2Conn {
    /// Speaks HTTP/2 on `stream`, just connected: the preface and SETTINGS exchange. The
    /// connection is then driven by a task of its own until it ends.
    pub async fn open(stream: Stream) -> Result<Self, h2::Error> {
        let https = stream.tls().is_some();
        let conn = Rc::new(stream);
        let (send, connection) = h2::client::Builder::new()
            .handshake::<_, Bytes>(PollIo::new(conn.clone(), Vec::new()))
            .await?;
        let closed = Rc::new(Cell::new(false));
        let ended = closed.clone();
        monoio::spawn(async move {
            let _ = connection.await;
            ended.set(true);
        });
        Ok(H2Conn {
            send,
            conn,
            closed,
            https,
        })
    }

    /// Whether new streams may still be opened on it.
    pub fn usable(&self) -> bool {
        !self.closed.get()
    }

    /// A new stream for one request: the session's end of it, as a server connection from
    /// `local` to `peer`.
    pub fn stream(&self, local: SocketAddr, peer: SocketAddr) -> Stream {
        let (pipe, end) = duplex::pair(self.conn.clone(), local, peer);
        let send = self.send.clone();
        let https = self.https;
        monoio::spawn(async move {
            if bridge(&pipe, send, https).await.is_err() {
                // Nothing reached the session: it sees an empty answer (502, or the request
                // sent again on a new connection when it can be).
                pipe.end_input();
            }
        });
        Stream::Mux(Box::new(end))
    }
}

/// The request failed before any of its answer was written.
struct Failed;

/// Carries one exchange: the session's HTTP/1.1 request out on a new stream, the stream's
/// response back as HTTP/1.1.
async fn bridge(pipe: &Pipe, mut send: SendRequest<Bytes>, https: bool) -> Result<(), Failed> {
    let mut buf = Vec::new();
    let head = loop {
        match parse_request(&buf, HEAD_LIMIT) {
            Ok(Some(head)) => break head,
            Ok(None) => {}
            Err(_) => return Err(Failed),
        }
        if more(pipe, &mut buf, |_| false).await != Output::Bytes {
            return Err(Failed);
        }
    };
    let tokens = ConnectionTokens::parse(&buf, &head.headers);
    let kind = request_framing(&buf, &head, tokens)
        .map_err(|_| Failed)?
        .body;
    let req = http2::request(&buf, &head, https).map_err(|_| Failed)?;
    poll_fn(|cx| send.poll_ready(cx))
        .await
        .map_err(|_| Failed)?;
    let ended = kind == BodyKind::None;
    let (response, mut body) = send.send_request(req, ended).map_err(|_| Failed)?;
    buf.drain(..head.len);
    // The request body goes up while the response comes down: a gRPC stream may answer
    // before it has read everything.
    let up = async {
        if !ended {
            let _ = h2_body::send_from(pipe, &mut body, buf, kind, None).await;
        }
        std::future::pending::<()>().await
    };
    let down = async {
        let resp = response.await.map_err(|_| Failed)?;
        let (parts, recv) = resp.into_parts();
        let mut out = Vec::with_capacity(256);
        let form = http2::write_response_head(&parts, recv.is_end_stream(), &mut out);
        pipe.push(&out);
        match form {
            BodyForm::None => pipe.end_input(),
            form => h2_body::recv_into(recv, pipe, form).await,
        }
        Ok(())
    };
    monoio::select! {
        r = down => r,
        _ = up => Ok(()),
    }
}

impl crate::backend::BackendTable {
    /// A stream to `a.server`, an HTTP/2 server: on this worker's connection to it, or on a
    /// new one when there is none, it ended, or `reuse` asks for a new connection (a request
    /// sent again after its stream failed).
    pub(super) async fn h2_acquire(
        &self,
        mut a: crate::backend::assign::Assignment,
        reuse: crate::backend::upstream::Reuse,
        pick: &crate::backend::upstream::Pick<'_>,
        sni_of: crate::backend::connect::SniOf<'_>,
    ) -> Result<crate::backend::upstream::UpstreamConn, crate::backend::upstream::UpstreamError>
    {
        use crate::backend::upstream::{Reuse, UpstreamConn, UpstreamError};
        let slot = &self.servers[a.server.0];
        let kept = slot
            .h2
            .borrow()
            .clone()
            .filter(|c| c.usable() && reuse != Reuse::NewOnly);
        let (conn, reused, server) = match kept {
            Some(c) => (c, true, a.server),
            None => {
                let (stream, reached) = self
                    .connect_holding(a.server, (pick.src, pick.dst), sni_of, Some(&mut a.slot))
                    .await
                    .map_err(|e| match e.kind {
                        crate::backend::connect::ConnectErrorKind::NoServer => {
                            UpstreamError::NoServer
                        }
                        _ => UpstreamError::Connect(
                            e.source
                                .unwrap_or_else(|| std::io::ErrorKind::TimedOut.into()),
                        ),
                    })?;
                let open = H2Conn::open(stream);
                let conn = match self.connect_timeout {
                    Some(t) => crate::io::timed::within(t, open)
                        .await
                        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))
                        .and_then(|r| r.map_err(std::io::Error::other)),
                    None => open.await.map_err(std::io::Error::other),
                };
                let conn = match conn {
                    Ok(c) => Rc::new(c),
                    Err(e) => {
                        self.observe(reached, ringlb_checks::Outcome::ConnectFailed);
                        return Err(UpstreamError::Connect(e));
                    }
                };
                *self.servers[reached.0].h2.borrow_mut() = Some(conn.clone());
                (conn, false, reached)
            }
        };
        let (local, peer) = (conn.conn.local_addr(), conn.conn.peer_addr());
        Ok(UpstreamConn {
            stream: conn.stream(local, peer),
            reused,
            server: server.0,
            persisted: a.persisted,
            slot: Some(a.slot),
            // `-c` refuses `send-proxy` with `proto h2`.
            private: false,
        })
    }
}
