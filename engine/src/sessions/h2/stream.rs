//! One HTTP/2 stream: its request is written as HTTP/1.1 into an in-memory stream that the
//! HTTP/1 session serves, and the HTTP/1.1 response the session writes back becomes the
//! stream's HEADERS, DATA and trailers (`codec/http2.rs`).

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use futures_util::future::{join, select, Either};
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};

use crate::analysis::settings::HttpFrontend;
use crate::codec::framing::{response_framing, BodyKind};
use crate::codec::h2_body::{self, more, Output};
use crate::codec::head::parse_response;
use crate::codec::http2::{self, BodyForm};
use crate::io::buffer::BufferPool;
use crate::io::duplex::{self, Pipe};
use crate::io::transport::Stream;
use crate::sessions::router::Router;

/// What every stream of a connection is served with.
pub(super) struct Ctx<'a, R> {
    pub conn: &'a Rc<Stream>,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub fe: &'a HttpFrontend,
    pub router: &'a R,
    pub pool: &'a BufferPool,
    /// Streams the client reset before their answer, and streams answered: a client that
    /// resets many more than it lets finish makes the backends work for nothing (rapid
    /// reset, CVE-2023-44487).
    pub resets: Cell<u32>,
    pub answered: Cell<u32>,
}

/// Streams a client may reset before their answer without letting as many finish: past
/// that, the connection ends with `ENHANCE_YOUR_CALM`.
pub(super) const EARLY_RESETS: u32 = 100;

impl<R> Ctx<'_, R> {
    /// Whether the client reset too many streams early (see [`EARLY_RESETS`]).
    pub fn abusive(&self) -> bool {
        let resets = self.resets.get();
        resets > EARLY_RESETS && resets > self.answered.get()
    }
}

/// Serves one stream to its end.
pub(super) async fn serve<R: Router>(
    req: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
    ctx: &Ctx<'_, R>,
) {
    let (parts, body) = req.into_parts();
    let (pipe, end) = duplex::pair(ctx.conn.clone(), ctx.local, ctx.peer);
    let mut head = Vec::with_capacity(256);
    let form = http2::write_request_head(&parts, body.is_end_stream(), &mut head);
    pipe.push(&head);
    if form == BodyForm::None {
        pipe.end_input();
    }
    let is_head = parts.method == http::Method::HEAD;
    let session = crate::sessions::http::serve_http(
        Stream::Mux(Box::new(end)),
        ctx.peer,
        ctx.fe,
        ctx.router,
        ctx.pool,
    );
    // A stream that switched protocols (RFC 8441) runs its tunnel to its end here.
    let session = async {
        session.await.finish().await;
    };
    let exchange = async move {
        {
            let limit = ctx.fe.head_limit.min(ctx.pool.buffer_size());
            let tunnel = form == BodyForm::Tunnel;
            let answer = std::pin::pin!(answer(&pipe, respond, is_head, limit, tunnel, ctx));
            match form {
                BodyForm::None => drop(answer.await),
                BodyForm::Tunnel => {
                    if let Some((send, rest)) = answer.await {
                        relay_tunnel(&pipe, body, send, rest, ctx.fe).await;
                    }
                }
                BodyForm::Length | BodyForm::Chunked => {
                    let feed = std::pin::pin!(h2_body::recv_into(body, &pipe, form));
                    // The answer may end first (an error page, a denial): the request body
                    // is then no longer wanted, and dropping it resets the stream's
                    // receiving side.
                    if let Either::Left(((), answer)) = select(feed, answer).await {
                        answer.await;
                    }
                }
            }
        }
        // Whatever the session still does has no client any more.
        drop(pipe);
    };
    join(session, exchange).await;
}

/// Relays an extended CONNECT's tunnel once the server switched protocols: the client's
/// DATA frames to the session as they are, and what the session writes back (starting with
/// `rest`) as DATA frames. The client ending its side half-closes the tunnel (the session
/// carries it to the server); the server's end ends the stream, and a client that then
/// keeps its own side open has `timeout client` to end it before the stream is reset.
async fn relay_tunnel(
    pipe: &Pipe,
    body: RecvStream,
    mut send: SendStream<Bytes>,
    rest: Vec<u8>,
    fe: &HttpFrontend,
) {
    let stall = fe.timeouts.client;
    let down = std::pin::pin!(h2_body::send_from(
        pipe,
        &mut send,
        rest,
        BodyKind::UntilClose,
        stall
    ));
    let up = std::pin::pin!(h2_body::recv_into(body, pipe, BodyForm::Tunnel));
    match select(up, down).await {
        Either::Left(((), down)) => drop(down.await),
        Either::Right((_, up)) => match stall {
            Some(limit) => drop(crate::io::timed::within(limit, up).await),
            None => up.await,
        },
    }
}

/// Reads the session's HTTP/1.1 response from the pipe and sends it on the stream. For an
/// extended CONNECT (`tunnel`), a `101` is the server switching protocols: it goes out as
/// the `200` that opens the tunnel (RFC 8441 §5), and the stream's sending half comes back
/// with the tunnel's first bytes for [`relay_tunnel`].
async fn answer<R>(
    pipe: &Pipe,
    mut respond: SendResponse<Bytes>,
    is_head: bool,
    limit: usize,
    tunnel: bool,
    ctx: &Ctx<'_, R>,
) -> Option<(SendStream<Bytes>, Vec<u8>)> {
    let mut buf = Vec::new();
    let (head, kind) = loop {
        match parse_response(&buf, limit) {
            Ok(Some(head)) if head.status == 101 && tunnel => break (head, BodyKind::UntilClose),
            Ok(Some(head)) if (100..200).contains(&head.status) => {
                // Interim answers (100 Continue, 103 Early Hints) go out as interim HEADERS
                // (RFC 9113 §8.1); a `101` cannot (it is refused before it gets here unless
                // the request asked to switch).
                if head.status != 101 {
                    if let Ok(interim) = http2::response(&buf, &head) {
                        let _ = respond.send_informational(interim);
                    }
                }
                buf.drain(..head.len);
                continue;
            }
            Ok(Some(head)) => match response_framing(&buf, &head, is_head) {
                Ok(kind) => break (head, kind),
                Err(_) => return reset(respond, h2::Reason::INTERNAL_ERROR),
            },
            Ok(None) => {}
            Err(_) => return reset(respond, h2::Reason::INTERNAL_ERROR),
        }
        match more(pipe, &mut buf, |cx| respond.poll_reset(cx).is_ready()).await {
            Output::Bytes => {}
            // The session ended without an answer (`http-request reject`, a client gone).
            Output::End => return reset(respond, h2::Reason::CANCEL),
            Output::Reset => {
                // The session's client is gone: it stops at its next step.
                pipe.break_off();
                ctx.resets.set(ctx.resets.get() + 1);
                return None;
            }
        }
    };
    ctx.answered.set(ctx.answered.get() + 1);
    let mut resp = match http2::response(&buf, &head) {
        Ok(r) => r,
        Err(_) => return reset(respond, h2::Reason::INTERNAL_ERROR),
    };
    let switched = head.status == 101;
    if switched {
        *resp.status_mut() = http::StatusCode::OK;
        resp.headers_mut().remove("sec-websocket-accept");
    }
    let Ok(mut send) = respond.send_response(resp, kind == BodyKind::None) else {
        return None;
    };
    buf.drain(..head.len);
    if switched {
        return Some((send, buf));
    }
    if kind != BodyKind::None {
        let stall = ctx.fe.timeouts.client;
        let _ = h2_body::send_from(pipe, &mut send, buf, kind, stall).await;
    }
    None
}

fn reset<T>(mut respond: SendResponse<Bytes>, reason: h2::Reason) -> Option<T> {
    respond.send_reset(reason);
    None
}
