//! Streams one message body from one socket to the other through a single buffer, forwarding
//! bytes as they come and stopping exactly where the body ends.

use std::time::Duration;

use crate::io::transport::Stream;
use monoio::buf::IoBuf;

use crate::codec::chunked::ChunkedDecoder;
use crate::codec::framing::BodyKind;
use crate::io::timed::{
    push, read_more, read_now, readable, write_all_then, write_pair, ReadOutcome, Readiness,
    WriteError,
};

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

/// How a body transfer runs: how long each side may stay silent, and whether every write
/// must leave at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyTimeouts {
    pub src: Option<Duration>,
    pub dst: Option<Duration>,
    /// `option http-no-delay`: the head is never held back for the body bytes after it.
    pub no_delay: bool,
}

/// What [`forward_body`] hands back: the body's length (or why it stopped), the buffer
/// holding only the bytes read past the body, and the head's buffer once it was written.
pub(crate) struct BodyEnd {
    pub result: Result<u64, BodyError>,
    pub buf: Vec<u8>,
    pub head: Option<Vec<u8>>,
    /// When the receiver failed (`DstFailed`) with the buffer handed back: the part of the
    /// body not read yet, to be discarded ([`discard_body`]); `buf` then holds the bytes read
    /// from the sender and not yet counted in the body.
    pub unread: Option<UnreadBody>,
}

/// The rest of a body the receiver stopped taking: how much of it the sender still owes.
#[derive(Debug, Clone)]
pub(crate) struct UnreadBody {
    kind: BodyKind,
    remaining: u64,
    decoder: ChunkedDecoder,
    done: bool,
}

/// Body bytes read with a head that are copied behind it to leave in one write; more are
/// sent from their own buffer with the head in one vectored write (a 16 KiB copy per 64 KiB
/// response was 2.5 % of the proxy's CPU).
const MERGE_MAX: usize = 1024;

/// How long bytes held back with `MSG_MORE` wait for the ones that follow before they are
/// pushed on their own.
const HOLD: Duration = Duration::from_millis(1);

/// Forwards a body of `kind` from `src` to `dst`; `buf[start..]` holds bytes already read.
/// `head` (the message head, or empty) goes first, in the same system call as the body
/// bytes already read, so a small message leaves in one write and one segment instead of
/// two. When the body does not end in those bytes, the head (and then each body part but
/// the last) is sent with `MSG_MORE`: the body's next bytes, usually there by then or soon
/// after, join it in the same segment; if they do not come within [`HOLD`], what was held
/// back is pushed before the wait for them.
pub(crate) async fn forward_body(
    src: &mut Stream,
    dst: &mut Stream,
    mut head: Vec<u8>,
    mut buf: Vec<u8>,
    start: usize,
    kind: BodyKind,
    timeouts: BodyTimeouts,
) -> BodyEnd {
    let BodyTimeouts {
        src: src_timeout,
        dst: dst_timeout,
        no_delay,
    } = timeouts;
    let mut remaining = match kind {
        BodyKind::Length(n) => n,
        _ => 0,
    };
    let mut decoder = ChunkedDecoder::new();
    let mut pos = start;
    let mut total = 0u64;
    let mut head_back = None;
    // Bytes sent with `MSG_MORE` wait in `dst` for the next write (or a push).
    let mut corked = false;
    // Whether what arrived from `src` was acknowledged at once before the first wait.
    let mut acked = false;
    let end = |result, buf, head| BodyEnd {
        result,
        buf,
        head,
        unread: None,
    };
    loop {
        let (mut take, done) = match body_part(kind, &mut remaining, &mut decoder, &buf[pos..]) {
            Ok(p) => p,
            Err(e) => return end(Err(e), buf, head_back),
        };
        // Where the body bytes counted so far end, should the receiver fail.
        let counted = pos + take;
        let cut = |e: WriteError, mut buf: Vec<u8>, head, decoder: &ChunkedDecoder| {
            let unread = match e {
                WriteError::Failed if buf.len() >= counted => {
                    buf.drain(..counted);
                    Some(UnreadBody {
                        kind,
                        remaining,
                        decoder: decoder.clone(),
                        done,
                    })
                }
                _ => None,
            };
            BodyEnd {
                result: Err(dst_error(e)),
                buf,
                head,
                unread,
            }
        };
        if !head.is_empty() {
            corked = !done && !no_delay;
            // A few body bytes are copied behind the head; more leave with it from their own
            // buffer in the same system call.
            let (res, sent) = if take <= MERGE_MAX && head.len() + take <= head.capacity() {
                head.extend_from_slice(&buf[pos..pos + take]);
                let head = std::mem::take(&mut head);
                let (res, back) = write_all_then(dst, head, dst_timeout, corked).await;
                head_back = back;
                (res, std::mem::replace(&mut take, 0))
            } else if take > 0 {
                let range = pos..pos + take;
                let head = std::mem::take(&mut head);
                let (res, back, b) = write_pair(dst, head, buf, range, dst_timeout, corked).await;
                (head_back, buf) = (back, b);
                (res, std::mem::replace(&mut take, 0))
            } else {
                let head = std::mem::take(&mut head);
                let (res, back) = write_all_then(dst, head, dst_timeout, corked).await;
                head_back = back;
                (res, 0)
            };
            if let Err(e) = res {
                return cut(e, buf, head_back, &decoder);
            }
            pos += sent;
            total += sent as u64;
        }
        if take > 0 {
            corked = !done && !no_delay;
            let part = buf.slice(pos..pos + take);
            let (res, slice) = write_all_then(dst, part, dst_timeout, corked).await;
            buf = slice.map(|s| s.into_inner()).unwrap_or_default();
            if let Err(e) = res {
                return cut(e, buf, head_back, &decoder);
            }
            total += take as u64;
        }
        if done {
            buf.drain(..pos + take);
            return end(Ok(total), buf, head_back);
        }
        buf.clear();
        pos = 0;
        if !std::mem::replace(&mut acked, true) {
            // The body did not come whole with the head. A sender with Nagle's algorithm on
            // (Python's http.server writes head and body apart) holds the body back until
            // its head is acknowledged, which TCP delays up to 40 ms on a connection in
            // request/response rhythm (a reused server connection): acknowledged now, once
            // per message, as large bodies are acknowledged every two segments anyway.
            src.ack_now();
        }
        let mut ready = if corked {
            read_now(src, &mut buf)
        } else {
            None
        };
        if corked && ready.is_none() {
            // The next bytes are usually close behind: what was held back waits for them
            // a moment, not longer (haproxy leaves it to the kernel's 200 ms).
            if let Readiness::Ready = readable(src, Some(HOLD)).await {
                ready = read_now(src, &mut buf);
            }
        }
        let outcome = match ready {
            // Leaves with the corked bytes at the next write.
            Some(ReadOutcome::Data(n)) => ReadOutcome::Data(n),
            ready => {
                if std::mem::take(&mut corked) {
                    push(dst);
                }
                match ready {
                    Some(outcome) => outcome,
                    None => {
                        let (outcome, b) = read_more(src, buf, src_timeout).await;
                        buf = b;
                        outcome
                    }
                }
            }
        };
        match outcome {
            ReadOutcome::Data(_) => {}
            ReadOutcome::Eof if kind == BodyKind::UntilClose => {
                return end(Ok(total), buf, head_back)
            }
            ReadOutcome::Eof | ReadOutcome::Failed => {
                return end(Err(BodyError::SrcClosed), buf, head_back)
            }
            ReadOutcome::Timeout => return end(Err(BodyError::SrcTimeout), buf, head_back),
        }
    }
}

/// Reads and drops the rest of a body whose receiver stopped taking it, so that the sender
/// can go on with its next message (haproxy drains a request body the server no longer
/// reads once it answered). `buf` holds bytes already read; what it holds past the body's
/// end comes back in it.
pub(crate) async fn discard_body(
    src: &mut Stream,
    mut buf: Vec<u8>,
    unread: UnreadBody,
    limit: Option<Duration>,
) -> (Result<u64, BodyError>, Vec<u8>) {
    let UnreadBody {
        kind,
        mut remaining,
        mut decoder,
        mut done,
    } = unread;
    let mut total = 0u64;
    loop {
        if done {
            return (Ok(total), buf);
        }
        let (take, end) = match body_part(kind, &mut remaining, &mut decoder, &buf) {
            Ok(p) => p,
            Err(e) => return (Err(e), buf),
        };
        buf.drain(..take);
        total += take as u64;
        done = end;
        if done {
            continue;
        }
        let (outcome, b) = read_more(src, buf, limit).await;
        buf = b;
        match outcome {
            ReadOutcome::Data(_) => {}
            ReadOutcome::Eof if kind == BodyKind::UntilClose => return (Ok(total), buf),
            ReadOutcome::Eof | ReadOutcome::Failed => return (Err(BodyError::SrcClosed), buf),
            ReadOutcome::Timeout => return (Err(BodyError::SrcTimeout), buf),
        }
    }
}

fn dst_error(e: WriteError) -> BodyError {
    match e {
        WriteError::Timeout => BodyError::DstTimeout,
        WriteError::Failed => BodyError::DstFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    /// A connected loopback pair: the side the proxy drives, and the peer as a std socket.
    fn tcp_pair() -> (Stream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (ours, _) = l.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        ours.set_nodelay(true).unwrap();
        let ours = monoio::net::TcpStream::from_std(ours).unwrap();
        (Stream::Tcp(ours), peer)
    }

    fn data_segments_in(s: &TcpStream) -> u32 {
        // SAFETY: a zeroed tcp_info is valid; getsockopt writes at most `len` bytes of it.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        info.tcpi_data_segs_in
    }

    /// A head whose body is not in the bytes read with it waits in the socket for the body
    /// bytes that follow, and both reach the client in one segment; with `no_delay` the head
    /// leaves at once, and the body in a segment of its own.
    #[monoio::test_all(timer_enabled = true)]
    async fn a_head_leaves_with_the_body_that_follows_it_unless_no_delay() {
        for (no_delay, segments) in [(false, 1), (true, 2)] {
            let (mut src, mut server) = tcp_pair();
            let (mut dst, mut client) = tcp_pair();
            // The body is already in the source socket when the head is written.
            server.write_all(b"hello\n").unwrap();
            std::thread::sleep(Duration::from_millis(20));
            let head = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n".to_vec();
            let limit = Some(Duration::from_secs(5));
            let timeouts = BodyTimeouts {
                src: limit,
                dst: limit,
                no_delay,
            };
            let kind = BodyKind::Length(6);
            let buf = Vec::with_capacity(4096);
            let end = forward_body(&mut src, &mut dst, head.clone(), buf, 0, kind, timeouts).await;
            assert_eq!(end.result, Ok(6));
            let mut got = vec![0u8; head.len() + 6];
            client.read_exact(&mut got).unwrap();
            assert!(got.ends_with(b"\r\n\r\nhello\n"));
            assert_eq!(data_segments_in(&client), segments, "no_delay: {no_delay}");
        }
    }
}
