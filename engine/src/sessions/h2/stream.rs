//! One HTTP/2 stream: its request is written as HTTP/1.1 into an in-memory stream that the
//! HTTP/1 session serves, and the HTTP/1.1 response the session writes back becomes the
//! stream's HEADERS, DATA and trailers (`codec/http2.rs`).

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};

use crate::analysis::settings::HttpFrontend;
use crate::codec::chunked::ChunkedDecoder;
use crate::codec::framing::{response_framing, BodyKind};
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
    let mut session = std::pin::pin!(session);
    let exchange = async move {
        {
            let limit = ctx.fe.head_limit.min(ctx.pool.buffer_size());
            let answer = std::pin::pin!(answer(&pipe, respond, is_head, limit, ctx));
            if form == BodyForm::None {
                answer.await;
            } else {
                let feed = std::pin::pin!(feed(body, &pipe, form));
                // The answer may end first (an error page, a denial): the request body is
                // then no longer wanted, and dropping it resets the stream's receiving side.
                match first(feed, answer).await {
                    First::A(answer) => answer.await,
                    First::B(()) => {}
                }
            }
        }
        // Whatever the session still does has no client any more.
        drop(pipe);
    };
    // Both to their end, polled in place (a join would move them into its own state).
    let mut exchange = std::pin::pin!(exchange);
    let (mut session_done, mut exchange_done) = (false, false);
    poll_fn(|cx| {
        session_done = session_done || session.as_mut().poll(cx).is_ready();
        exchange_done = exchange_done || exchange.as_mut().poll(cx).is_ready();
        match session_done && exchange_done {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    })
    .await
}

enum First<A, B> {
    A(A),
    B(B),
}

/// Runs both; when `a` ends first, hands `b` back to be finished.
async fn first<'b, A, B>(
    mut a: std::pin::Pin<&mut A>,
    mut b: std::pin::Pin<&'b mut B>,
) -> First<std::pin::Pin<&'b mut B>, B::Output>
where
    A: std::future::Future<Output = ()>,
    B: std::future::Future,
{
    let mut a_done = false;
    let out = poll_fn(|cx| {
        if !a_done && a.as_mut().poll(cx).is_ready() {
            a_done = true;
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if a_done {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    match out {
        Some(v) => First::B(v),
        None => First::A(b),
    }
}

/// Moves the request body from the stream into the pipe, in the form its head announced.
async fn feed(mut body: RecvStream, pipe: &Pipe, form: BodyForm) {
    let mut framing = Vec::new();
    loop {
        poll_fn(|cx| pipe.poll_room(cx)).await;
        match body.data().await {
            Some(Ok(data)) => {
                let n = data.len();
                if form == BodyForm::Chunked && n > 0 {
                    framing.clear();
                    http2::chunk_start(n, &mut framing);
                    pipe.push(&framing);
                    pipe.push(&data);
                    pipe.push(b"\r\n");
                } else {
                    pipe.push(&data);
                }
                // The window opens again once the session's side took the bytes.
                let _ = body.flow_control().release_capacity(n);
            }
            Some(Err(_)) => {
                // Reset by the client, or the connection failed: the session sees its
                // client gone.
                pipe.break_off();
                return;
            }
            None => break,
        }
    }
    if form == BodyForm::Chunked {
        let trailers = match body.trailers().await {
            Ok(t) => t,
            Err(_) => {
                pipe.break_off();
                return;
            }
        };
        framing.clear();
        http2::last_chunk(trailers.as_ref(), &mut framing);
        pipe.push(&framing);
    }
    pipe.end_input();
}

/// What the session wrote next.
#[derive(PartialEq, Eq)]
enum Output {
    /// More bytes, appended to the buffer.
    Bytes,
    /// It wrote everything.
    End,
    /// The client reset the stream meanwhile (`reset` said so).
    Reset,
}

/// Takes the session's next output into `buf`, watching for the client's reset.
async fn more(
    pipe: &Pipe,
    buf: &mut Vec<u8>,
    mut reset: impl FnMut(&mut Context<'_>) -> bool,
) -> Output {
    poll_fn(|cx| {
        if reset(cx) {
            return Poll::Ready(Output::Reset);
        }
        pipe.poll_output(cx, buf).map(|more| match more {
            true => Output::Bytes,
            false => Output::End,
        })
    })
    .await
}

/// Reads the session's HTTP/1.1 response from the pipe and sends it on the stream.
async fn answer<R>(
    pipe: &Pipe,
    mut respond: SendResponse<Bytes>,
    is_head: bool,
    limit: usize,
    ctx: &Ctx<'_, R>,
) {
    let mut buf = Vec::new();
    let (head, kind) = loop {
        match parse_response(&buf, limit) {
            Ok(Some(head)) if (100..200).contains(&head.status) => {
                // Interim answers (100 Continue, 103) stay behind: the h2 client needs none.
                buf.drain(..head.len);
                continue;
            }
            Ok(Some(head)) => match response_framing(&buf, &head, is_head) {
                Ok(kind) => break (head, kind),
                Err(_) => return respond.send_reset(h2::Reason::INTERNAL_ERROR),
            },
            Ok(None) => {}
            Err(_) => return respond.send_reset(h2::Reason::INTERNAL_ERROR),
        }
        match more(pipe, &mut buf, |cx| respond.poll_reset(cx).is_ready()).await {
            Output::Bytes => {}
            // The session ended without an answer (`http-request reject`, a client gone).
            Output::End => return respond.send_reset(h2::Reason::CANCEL),
            Output::Reset => {
                // The session's client is gone: it stops at its next step.
                pipe.break_off();
                ctx.resets.set(ctx.resets.get() + 1);
                return;
            }
        }
    };
    ctx.answered.set(ctx.answered.get() + 1);
    let resp = match http2::response(&buf, &head) {
        Ok(r) => r,
        Err(_) => return respond.send_reset(h2::Reason::INTERNAL_ERROR),
    };
    let Ok(mut send) = respond.send_response(resp, kind == BodyKind::None) else {
        return;
    };
    buf.drain(..head.len);
    let _ = match kind {
        BodyKind::None => Ok(()),
        BodyKind::Length(n) => send_length(pipe, &mut send, buf, n).await,
        BodyKind::UntilClose => send_until_end(pipe, &mut send, buf).await,
        BodyKind::Chunked => send_chunked(pipe, &mut send, buf).await,
    };
}

/// Why a body stopped before its end.
struct Stopped;

/// [`more`] while a body is sent: a reset stops it, and the session with it.
async fn next(
    pipe: &Pipe,
    send: &mut SendStream<Bytes>,
    buf: &mut Vec<u8>,
) -> Result<Output, Stopped> {
    match more(pipe, buf, |cx| send.poll_reset(cx).is_ready()).await {
        Output::Reset => {
            pipe.break_off();
            Err(Stopped)
        }
        out => Ok(out),
    }
}

/// Sends `data` as DATA frames within the stream's flow-control window (`last`: the stream
/// ends with it).
async fn send_data(send: &mut SendStream<Bytes>, data: &[u8], last: bool) -> Result<(), Stopped> {
    let mut at = 0;
    while at < data.len() {
        send.reserve_capacity(data.len() - at);
        let granted = match poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(Ok(n)) => n,
            _ => return Err(Stopped),
        };
        if granted == 0 {
            continue;
        }
        let n = granted.min(data.len() - at);
        let end = last && at + n == data.len();
        send.send_data(Bytes::copy_from_slice(&data[at..at + n]), end)
            .map_err(|_| Stopped)?;
        at += n;
    }
    if last && data.is_empty() {
        send.send_data(Bytes::new(), true).map_err(|_| Stopped)?;
    }
    Ok(())
}

async fn send_length(
    pipe: &Pipe,
    send: &mut SendStream<Bytes>,
    mut buf: Vec<u8>,
    len: u64,
) -> Result<(), Stopped> {
    let mut left = len;
    loop {
        let n = (buf.len() as u64).min(left) as usize;
        left -= n as u64;
        send_data(send, &buf[..n], left == 0).await?;
        if left == 0 {
            return Ok(());
        }
        buf.clear();
        if next(pipe, send, &mut buf).await? == Output::End {
            // Cut short: the client must not take it for a whole answer.
            send.send_reset(h2::Reason::INTERNAL_ERROR);
            return Err(Stopped);
        }
    }
}

async fn send_until_end(
    pipe: &Pipe,
    send: &mut SendStream<Bytes>,
    mut buf: Vec<u8>,
) -> Result<(), Stopped> {
    loop {
        send_data(send, &buf, false).await?;
        buf.clear();
        if next(pipe, send, &mut buf).await? == Output::End {
            return send_data(send, &[], true).await;
        }
    }
}

async fn send_chunked(
    pipe: &Pipe,
    send: &mut SendStream<Bytes>,
    mut buf: Vec<u8>,
) -> Result<(), Stopped> {
    let mut dec = ChunkedDecoder::new();
    let mut trailers = Vec::new();
    let mut at = 0;
    loop {
        while at < buf.len() && !dec.is_done() {
            let in_trailers = dec.in_trailers();
            let (n, data) = dec.next_data(&buf[at..]).map_err(|_| Stopped)?;
            if in_trailers {
                trailers.extend_from_slice(&buf[at..at + n]);
            } else if !data.is_empty() {
                let data = at + data.start..at + data.end;
                send_data(send, &buf[data], false).await?;
            }
            at += n;
        }
        if dec.is_done() {
            return match http2::trailers(&trailers) {
                Ok(Some(t)) => send.send_trailers(t).map_err(|_| Stopped),
                Ok(None) => send_data(send, &[], true).await,
                Err(_) => {
                    send.send_reset(h2::Reason::INTERNAL_ERROR);
                    Err(Stopped)
                }
            };
        }
        buf.clear();
        at = 0;
        if next(pipe, send, &mut buf).await? == Output::End {
            send.send_reset(h2::Reason::INTERNAL_ERROR);
            return Err(Stopped);
        }
    }
}
