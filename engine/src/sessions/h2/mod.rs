//! The HTTP/2 multiplexer of a client connection (h2c with prior knowledge, the preface on
//! a clear listener, or `h2` negotiated by TLS ALPN). Framing, HPACK, flow control and the
//! protocol's protections are the `h2` crate's; each stream it accepts is served by the
//! HTTP/1 session over an in-memory stream (`io/duplex.rs`, `stream.rs`), so every request
//! goes through the same rules, backends, logs and counters whatever protocol carried it.
//!
//! One task per connection: it drives the connection and polls its streams. Nothing is
//! shared with other workers.

mod stream;

use std::future::{poll_fn, Future};

use futures_util::stream::{FuturesUnordered, StreamExt};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use crate::analysis::settings::HttpFrontend;
use crate::io::buffer::BufferPool;
use crate::io::transport::Stream;
use crate::sessions::router::Router;

/// The client preface's first line, as an HTTP/1 reader sees it (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a stopping process lets its HTTP/2 connections finish their streams after the
/// GOAWAY.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// How a connection ended, for counters and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2End {
    /// The client closed, or the connection idled out, between streams.
    Normal,
    /// The preface or the SETTINGS exchange failed or did not come in time.
    Handshake,
    /// The client broke the protocol or pushed one of its limits (a GOAWAY with
    /// `PROTOCOL_ERROR`, `ENHANCE_YOUR_CALM`, … was sent).
    Misbehaved(h2::Reason),
    /// The connection failed under us.
    Io,
}

/// Serves an HTTP/2 client connection until it closes. `early`: its first bytes, already
/// read by the HTTP/1 session that saw the preface.
pub async fn serve_h2<R: Router>(
    client: Stream,
    (peer, local): crate::stream::Addrs,
    early: Vec<u8>,
    fe: &HttpFrontend,
    router: &R,
    pool: &BufferPool,
) -> H2End {
    let conn = Rc::new(client);
    let t = &fe.h2;
    let mut b = h2::server::Builder::new();
    b.initial_window_size(t.initial_window_size)
        .max_concurrent_streams(t.max_concurrent_streams)
        .header_table_size(t.header_table_size)
        .max_frame_size(t.max_frame_size.unwrap_or(16384))
        // A head the HTTP/1 session could not take is refused on arrival: no HPACK bomb
        // decodes past it.
        .max_header_list_size(fe.head_limit as u32)
        .max_send_buffer_size(crate::io::duplex::ROOM)
        // WebSocket over HTTP/2 (RFC 8441), as HAProxy announces it.
        .enable_connect_protocol();
    let handshake =
        b.handshake::<_, bytes::Bytes>(crate::io::poll_io::PollIo::new(conn.clone(), early));
    let mut h2 = match fe.head_timeout() {
        Some(limit) => match crate::io::timed::within(limit, handshake).await {
            Ok(Ok(c)) => c,
            _ => return H2End::Handshake,
        },
        None => match handshake.await {
            Ok(c) => c,
            Err(_) => return H2End::Handshake,
        },
    };
    let ctx = stream::Ctx {
        conn: &conn,
        local,
        peer,
        fe,
        router,
        pool,
        resets: std::cell::Cell::new(0),
        answered: std::cell::Cell::new(0),
    };
    let mut calmed = false;
    let idle_limit = fe.keep_alive_timeout();
    // Each stream is polled only when something it waits for happened.
    let mut streams: FuturesUnordered<std::pin::Pin<Box<dyn Future<Output = ()> + '_>>> =
        FuturesUnordered::new();
    let mut idle: Option<std::pin::Pin<Box<monoio::time::Sleep>>> = None;
    let mut stop_wait: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>> =
        router.stopping().map(|l| {
            Box::pin(async move {
                l.wait().await;
            }) as _
        });
    let mut stopped_at: Option<std::pin::Pin<Box<monoio::time::Sleep>>> = None;
    let mut ended: Option<H2End> = None;
    poll_fn(|cx| {
        if let Some(w) = stop_wait.as_mut() {
            if w.as_mut().poll(cx).is_ready() {
                stop_wait = None;
                // Soft stop: GOAWAY, the streams under way finish.
                h2.graceful_shutdown();
                stopped_at = Some(Box::pin(monoio::time::sleep(STOP_GRACE)));
            }
        }
        if let Some(s) = stopped_at.as_mut() {
            if s.as_mut().poll(cx).is_ready() {
                return Poll::Ready(H2End::Normal);
            }
        }
        while ended.is_none() {
            match h2.poll_accept(cx) {
                Poll::Ready(Some(Ok((req, respond)))) => {
                    idle = None;
                    streams.push(Box::pin(stream::serve(req, respond, &ctx)));
                }
                Poll::Ready(Some(Err(e))) => {
                    ended = Some(match e.reason() {
                        Some(r) if e.is_go_away() || e.is_reset() => H2End::Misbehaved(r),
                        _ if e.is_io() => H2End::Io,
                        Some(r) => H2End::Misbehaved(r),
                        None => H2End::Io,
                    })
                }
                Poll::Ready(None) if calmed => {
                    ended = Some(H2End::Misbehaved(h2::Reason::ENHANCE_YOUR_CALM))
                }
                Poll::Ready(None) => ended = Some(H2End::Normal),
                Poll::Pending => break,
            }
        }
        while let Poll::Ready(Some(())) = streams.poll_next_unpin(cx) {}
        if let Some(end) = ended {
            // The connection is gone, and with it every stream's client: each stream's
            // session sees that, ends and logs as an HTTP/1 session whose client left.
            if streams.is_empty() {
                return Poll::Ready(end);
            }
            return Poll::Pending;
        }
        if !calmed && ctx.abusive() {
            // Rapid reset: GOAWAY, and the streams under way are dropped.
            calmed = true;
            h2.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
            streams.clear();
            cx.waker().wake_by_ref();
        }
        if streams.is_empty() {
            if let Some(limit) = idle_limit {
                let sleep = idle.get_or_insert_with(|| Box::pin(monoio::time::sleep(limit)));
                if sleep.as_mut().poll(cx).is_ready() {
                    // Idle past `timeout http-keep-alive` (or `client`): GOAWAY and close
                    // once it is sent.
                    h2.graceful_shutdown();
                    idle = None;
                    stopped_at.get_or_insert_with(|| Box::pin(monoio::time::sleep(STOP_GRACE)));
                    cx.waker().wake_by_ref();
                }
            }
        }
        Poll::Pending
    })
    .await
}
