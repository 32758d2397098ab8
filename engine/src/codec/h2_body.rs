//! Message bodies between an HTTP/2 stream and the HTTP/1.1 form of its message in an
//! in-memory stream (`io/duplex.rs`), both ways: an HTTP/2 body written as HTTP/1.1 (as it
//! is, or chunked with its trailers), and an HTTP/1.1 body, however it is delimited, sent as
//! DATA frames within the stream's flow-control window, trailers last. The same for a client
//! stream (`sessions/h2`) and a server stream (`backend/h2.rs`).

use std::future::poll_fn;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::{RecvStream, SendStream};

use crate::codec::chunked::ChunkedDecoder;
use crate::codec::framing::BodyKind;
use crate::codec::http2::{self, BodyForm};
use crate::io::duplex::Pipe;

/// Moves a body received on an HTTP/2 stream into the pipe, in the HTTP/1.1 `form` its
/// head announced, then ends the pipe's input. A failed stream (reset, connection gone)
/// breaks the pipe instead: the reader sees its peer gone, not a whole message.
pub async fn recv_into(mut body: RecvStream, pipe: &Pipe, form: BodyForm) {
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
                // The window opens again once the pipe took the bytes.
                let _ = body.flow_control().release_capacity(n);
            }
            Some(Err(_)) => return pipe.break_off(),
            None => break,
        }
    }
    if form == BodyForm::Chunked {
        let Ok(trailers) = body.trailers().await else {
            return pipe.break_off();
        };
        framing.clear();
        http2::last_chunk(trailers.as_ref(), &mut framing);
        pipe.push(&framing);
    }
    pipe.end_input();
}

/// What the pipe's writer wrote next.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// More bytes, appended to the buffer.
    Bytes,
    /// It wrote everything.
    End,
    /// The stream was reset meanwhile (`reset` said so).
    Reset,
}

/// Takes what the pipe's writer wrote next into `buf`, watching for the stream's reset.
pub async fn more(
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

/// Why a body stopped before its end.
#[derive(Debug)]
pub struct Stopped;

/// [`more`] while a body is sent: a reset stops it, and the pipe with it.
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

/// How long a stream may wait for its peer to open its window (`None`: as long as it
/// takes); past it, the stream is reset. A peer that never reads holds nothing longer.
pub type Stall = Option<std::time::Duration>;

/// Sends `data` as DATA frames within the stream's flow-control window (`last`: the stream
/// ends with it).
pub async fn send_data(
    send: &mut SendStream<Bytes>,
    data: &[u8],
    last: bool,
    stall: Stall,
) -> Result<(), Stopped> {
    let mut at = 0;
    while at < data.len() {
        send.reserve_capacity(data.len() - at);
        let capacity = poll_fn(|cx| send.poll_capacity(cx));
        let granted = match stall {
            Some(limit) => crate::io::timed::within(limit, capacity)
                .await
                .map_err(|_| Stopped)?,
            None => capacity.await,
        };
        let granted = match granted {
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

/// Sends the HTTP/1.1 body the pipe's writer writes, delimited as `kind` says and starting
/// with the bytes already in `buf`, on the stream; a body cut short resets the stream, so
/// that the peer never takes it for a whole one.
pub async fn send_from(
    pipe: &Pipe,
    send: &mut SendStream<Bytes>,
    buf: Vec<u8>,
    kind: BodyKind,
    stall: Stall,
) -> Result<(), Stopped> {
    let res = match kind {
        BodyKind::None => send_data(send, &[], true, stall).await,
        BodyKind::Length(n) => send_length(pipe, send, buf, n, stall).await,
        BodyKind::UntilClose => send_until_end(pipe, send, buf, stall).await,
        BodyKind::Chunked => send_chunked(pipe, send, buf, stall).await,
    };
    if res.is_err() {
        // The peer must not take it for a whole body, and the pipe's writer learns that
        // its peer is gone.
        send.send_reset(h2::Reason::INTERNAL_ERROR);
        pipe.break_off();
    }
    res
}

async fn send_length(
    pipe: &Pipe,
    send: &mut SendStream<Bytes>,
    mut buf: Vec<u8>,
    len: u64,
    stall: Stall,
) -> Result<(), Stopped> {
    let mut left = len;
    loop {
        let n = (buf.len() as u64).min(left) as usize;
        left -= n as u64;
        send_data(send, &buf[..n], left == 0, stall).await?;
        if left == 0 {
            return Ok(());
        }
        buf.clear();
        if next(pipe, send, &mut buf).await? == Output::End {
            return Err(Stopped);
        }
    }
}

async fn send_until_end(
    pipe: &Pipe,
    send: &mut SendStream<Bytes>,
    mut buf: Vec<u8>,
    stall: Stall,
) -> Result<(), Stopped> {
    loop {
        send_data(send, &buf, false, stall).await?;
        buf.clear();
        if next(pipe, send, &mut buf).await? == Output::End {
            return send_data(send, &[], true, stall).await;
        }
    }
}

async fn send_chunked(
    pipe: &Pipe,
    send: &mut SendStream<Bytes>,
    mut buf: Vec<u8>,
    stall: Stall,
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
                send_data(send, &buf[data], false, stall).await?;
            }
            at += n;
        }
        if dec.is_done() {
            return match http2::trailers(&trailers) {
                Ok(Some(t)) => send.send_trailers(t).map_err(|_| Stopped),
                Ok(None) => send_data(send, &[], true, stall).await,
                Err(_) => Err(Stopped),
            };
        }
        buf.clear();
        at = 0;
        if next(pipe, send, &mut buf).await? == Output::End {
            return Err(Stopped);
        }
    }
}
