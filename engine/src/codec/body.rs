//! Streams one message body from one socket to the other through a single buffer, forwarding
//! bytes as they come and stopping exactly where the body ends.

use std::time::Duration;

use crate::io::transport::Stream;
use monoio::buf::IoBuf;

use crate::codec::chunked::ChunkedDecoder;
use crate::codec::framing::BodyKind;
use crate::io::timed::{read_more, write_all, ReadOutcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// The sender closed or failed before the body's end.
    SrcClosed,
    SrcTimeout,
    /// The receiver stopped taking bytes.
    DstFailed,
    DstTimeout,
    /// Bad chunked framing.
    BadChunk,
}

/// Where the body stands in the bytes already read.
fn body_part(
    kind: BodyKind,
    remaining: &mut u64,
    decoder: &mut ChunkedDecoder,
    avail: &[u8],
) -> Result<(usize, bool), BodyError> {
    Ok(match kind {
        BodyKind::None => (0, true),
        BodyKind::Length(_) => {
            let take = (*remaining).min(avail.len() as u64);
            *remaining -= take;
            (take as usize, *remaining == 0)
        }
        BodyKind::Chunked => {
            let take = decoder.feed(avail).map_err(|_| BodyError::BadChunk)?;
            (take, decoder.is_done())
        }
        BodyKind::UntilClose => (avail.len(), false),
    })
}

/// How long each side of a body transfer may stay silent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyTimeouts {
    pub src: Option<Duration>,
    pub dst: Option<Duration>,
}

/// Forwards a body of `kind` from `src` to `dst`; `buf[start..]` holds bytes already read.
/// Returns the body's length and the buffer holding only the bytes read past the body.
pub(crate) async fn forward_body(
    src: &mut Stream,
    dst: &mut Stream,
    mut buf: Vec<u8>,
    start: usize,
    kind: BodyKind,
    timeouts: BodyTimeouts,
) -> (Result<u64, BodyError>, Vec<u8>) {
    let BodyTimeouts {
        src: src_timeout,
        dst: dst_timeout,
    } = timeouts;
    let mut remaining = match kind {
        BodyKind::Length(n) => n,
        _ => 0,
    };
    let mut decoder = ChunkedDecoder::new();
    let mut pos = start;
    let mut total = 0u64;
    loop {
        let (take, done) = match body_part(kind, &mut remaining, &mut decoder, &buf[pos..]) {
            Ok(p) => p,
            Err(e) => return (Err(e), buf),
        };
        if take > 0 {
            let (res, slice) = write_all(dst, buf.slice(pos..pos + take), dst_timeout).await;
            buf = slice.map(|s| s.into_inner()).unwrap_or_default();
            if let Err(e) = res {
                let e = match e {
                    crate::io::timed::WriteError::Timeout => BodyError::DstTimeout,
                    crate::io::timed::WriteError::Failed => BodyError::DstFailed,
                };
                return (Err(e), buf);
            }
            total += take as u64;
        }
        if done {
            buf.drain(..pos + take);
            return (Ok(total), buf);
        }
        buf.clear();
        pos = 0;
        let (outcome, b) = read_more(src, buf, src_timeout).await;
        buf = b;
        match outcome {
            ReadOutcome::Data(_) => {}
            ReadOutcome::Eof if kind == BodyKind::UntilClose => return (Ok(total), buf),
            ReadOutcome::Eof | ReadOutcome::Failed => return (Err(BodyError::SrcClosed), buf),
            ReadOutcome::Timeout => return (Err(BodyError::SrcTimeout), buf),
        }
    }
}
