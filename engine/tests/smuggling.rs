//! Hostile request and response shapes through real sockets: for each, what the client
//! sees (status or a silent close, and whether the connection stays open) and, when the
//! request is forwarded, exactly what the origin received. Nothing the proxy and a strict
//! origin could frame differently may reach the origin, and nothing a server sends past its
//! announced framing may reach the client.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::proxy::{blocking, http_listen, TestProxy};
use support::serve_each;

/// Sent after the first response: answered when the connection stayed open.
const FOLLOW: &[u8] = b"GET /follow HTTP/1.1\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// An origin that records every byte it receives and answers each request it can frame
/// strictly (CRLF lines, one `Content-Length` or a final `chunked`) with `answer`.
struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    fn start(answer: Vec<u8>) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let addr = serve_each(move |s| serve(s, &record, &answer));
        Self { addr, seen }
    }
}

fn serve(mut s: TcpStream, record: &Mutex<Vec<u8>>, answer: &[u8]) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        record.lock().unwrap().extend_from_slice(&buf[..n]);
        pending.extend_from_slice(&buf[..n]);
        while let Some((end, close)) = strict_request_end(&pending) {
            pending.drain(..end);
            if s.write_all(answer).is_err() || close {
                return;
            }
        }
    }
}

/// Where the first request in `b` ends and whether it asks to close, read the strict way.
fn strict_request_end(b: &[u8]) -> Option<(usize, bool)> {
    let head_end = b.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&b[..head_end]).to_ascii_lowercase();
    let close = head.contains("\r\nconnection: close\r\n");
    if head.contains("\r\ntransfer-encoding: chunked\r\n") {
        let mut i = head_end;
        loop {
            let line_end = i + b[i..].windows(2).position(|w| w == b"\r\n")?;
            let size_text = String::from_utf8_lossy(&b[i..line_end]);
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            i = line_end + 2;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let e = i + b[i..].windows(2).position(|w| w == b"\r\n")?;
                    let empty = e == i;
                    i = e + 2;
                    if empty {
                        return Some((i, close));
                    }
                }
            }
            i += size + 2;
            if i > b.len() {
                return None;
            }
        }
    }
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
    (b.len() >= head_end + length).then_some((head_end + length, close))
}

/// What the client saw.
#[derive(Debug, PartialEq)]
struct Seen {
    /// Status of the first response, `None` when the connection closed without one.
    status: Option<u16>,
    /// Whether the connection closed after it (the follow-up request went unanswered).
    closed: bool,
    /// Every byte the client received.
    raw: Vec<u8>,
}

/// Reads one response (Content-Length, chunked or close-delimited); `None` at EOF.
fn read_response(s: &mut TcpStream, raw: &mut Vec<u8>) -> Option<u16> {
    let start = raw.len();
    let mut byte = [0u8; 1];
    let mut buf = [0u8; 4096];
    // Byte by byte up to the end of the head, so nothing of a next response is read.
    while !raw[start..].ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&raw[start..]).to_ascii_lowercase();
    let status: u16 = head.get(9..12)?.parse().ok()?;
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().unwrap());
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Some(status);
    }
    if let Some(n) = length {
        let mut body = vec![0u8; n];
        s.read_exact(&mut body).ok()?;
        raw.extend_from_slice(&body);
    } else if head.contains("transfer-encoding: chunked") {
        // The fixture servers end their chunked bodies with the last-chunk line.
        while !raw.ends_with(b"0\r\n\r\n") {
            match s.read(&mut byte) {
                Ok(1) => raw.push(byte[0]),
                _ => break,
            }
        }
    } else {
        while let Ok(n @ 1..) = s.read(&mut buf) {
            raw.extend_from_slice(&buf[..n]);
        }
    }
    Some(status)
}

/// Sends `request` in one write, reads the answer, then tries [`FOLLOW`].
fn exchange(addr: SocketAddr, request: &[u8]) -> Seen {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut raw = Vec::new();
    let status = read_response(&mut s, &mut raw);
    let closed = status.is_none()
        || s.write_all(FOLLOW).is_err()
        || read_response(&mut s, &mut raw).is_none();
    Seen {
        status,
        closed,
        raw,
    }
}

#[derive(Debug, Clone, Copy)]
enum Want {
    /// The proxy answers this status itself and closes; the origin sees nothing.
    Refused(u16),
    /// Forwarded: the origin saw exactly these bytes (then the follow-up request, when
    /// `open`), and the client got the origin's `200`.
    Forwarded { origin: &'static [u8], open: bool },
    /// Forwarded, the connection kept: the origin saw exactly these bytes, the follow-up
    /// request (as the proxy rewrote it) included.
    Kept(&'static [u8]),
    /// The origin answered, but the client got only this status from the proxy and a
    /// close: no byte of the origin's response.
    Withheld(u16),
}

struct Row {
    name: &'static str,
    raw: &'static [u8],
    want: Want,
}

const fn refused(name: &'static str, raw: &'static [u8], status: u16) -> Row {
    Row {
        name,
        raw,
        want: Want::Refused(status),
    }
}

const fn forwarded(name: &'static str, raw: &'static [u8], origin: &'static [u8]) -> Row {
    Row {
        name,
        raw,
        want: Want::Forwarded { origin, open: true },
    }
}

/// The request shapes: framing (CL/TE), chunked bodies, head syntax, targets, limits.
fn request_rows() -> Vec<Row> {
    vec![
        // Content-Length and Transfer-Encoding.
        refused("cl_then_te", b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        refused("te_then_cl", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
        refused("two_different_lengths", b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        refused("length_list_differs", b"POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd", 400),
        forwarded("same_length_twice_is_sent_once", b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
        forwarded("length_list_of_equal_values_is_sent_once", b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
        refused("length_plus_sign", b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400),
        refused("length_minus_sign", b"POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\nabc", 400),
        refused("length_inner_space", b"POST / HTTP/1.1\r\nContent-Length: 1 0\r\n\r\nabc", 400),
        refused("length_hex", b"POST / HTTP/1.1\r\nContent-Length: 0x3\r\n\r\nabc", 400),
        refused("length_overflow", b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\nabc", 400),
        refused("length_empty", b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\nabc", 400),
        refused("length_trailing_letter", b"POST / HTTP/1.1\r\nContent-Length: 3a\r\n\r\nabc", 400),
        forwarded("length_with_blanks_around", b"POST / HTTP/1.1\r\nContent-Length:  3 \t\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
        refused("te_not_chunked", b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400),
        refused("te_chunked_not_last", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
        refused("te_chunked_twice", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        refused("te_chunked_twice_in_list", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
        refused("te_other_coding_then_chunked", b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        refused("te_lookalike", b"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
        refused("te_in_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        refused("te_space_before_colon", b"POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
        refused("te_vertical_tab", b"POST / HTTP/1.1\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400),
        forwarded("te_mixed_case_with_tab", b"POST / HTTP/1.1\r\nTransfer-Encoding:\tChunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        forwarded("connection_cannot_drop_the_length", b"POST / HTTP/1.1\r\nConnection: Content-Length\r\nContent-Length: 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
        forwarded("connection_cannot_drop_transfer_encoding", b"POST / HTTP/1.1\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        // Chunked bodies.
        refused("chunk_size_overflow", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc\r\n0\r\n\r\n", 400),
        refused("chunk_size_hex_prefix", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", 400),
        refused("chunk_size_negative", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", 400),
        refused("chunk_size_missing", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n", 400),
        refused("chunk_data_without_crlf", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400),
        refused("chunk_data_longer_than_size", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", 400),
        refused("chunk_size_bare_lf", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
        refused("chunk_data_bare_lf", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", 400),
        refused("chunk_extension_bare_lf", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x\nabc\r\n0\r\n\r\n", 400),
        refused("chunk_bare_cr", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc\r\n0\r\n\r\n", 400),
        refused("last_chunk_bare_lf", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\n\n", 400),
        forwarded("chunk_extension_and_trailer_pass_verbatim", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;name=\"v\"\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;name=\"v\"\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n"),
        // Head syntax.
        refused("obs_fold", b"GET / HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\n", 400),
        refused("obs_fold_of_transfer_encoding", b"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400),
        refused("bare_cr_in_value", b"GET / HTTP/1.1\r\nX-A: 1\r2\r\n\r\n", 400),
        refused("bare_cr_line_end", b"GET / HTTP/1.1\rX-A: 1\r\n\r\n", 400),
        refused("nul_in_value", b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400),
        refused("nul_in_name", b"GET / HTTP/1.1\r\nX\x00A: a\r\n\r\n", 400),
        refused("control_char_in_value", b"GET / HTTP/1.1\r\nX-A: a\x01b\r\n\r\n", 400),
        refused("del_in_value", b"GET / HTTP/1.1\r\nX-A: a\x7fb\r\n\r\n", 400),
        refused("space_before_colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        refused("tab_before_colon", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
        refused("empty_header_name", b"GET / HTTP/1.1\r\n: a\r\n\r\n", 400),
        refused("header_without_colon", b"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400),
        forwarded("bare_lf_head_is_rewritten_with_crlf", b"GET /lf HTTP/1.1\nHost: a\n\n",
            b"GET /lf HTTP/1.1\r\nHost: a\r\n\r\n"),
        forwarded("obs_text_in_value_passes", b"GET / HTTP/1.1\r\nX-A: caf\xc3\xa9\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-A: caf\xc3\xa9\r\n\r\n"),
        // Methods, versions and targets.
        refused("method_with_separator", b"G(T / HTTP/1.1\r\n\r\n", 400),
        refused("method_with_nul", b"GE\x00T / HTTP/1.1\r\n\r\n", 400),
        refused("double_space_in_request_line", b"GET  / HTTP/1.1\r\n\r\n", 400),
        refused("space_in_target", b"GET /a b HTTP/1.1\r\n\r\n", 400),
        refused("control_char_in_target", b"GET /a\x01 HTTP/1.1\r\n\r\n", 400),
        refused("version_1_2", b"GET / HTTP/1.2\r\n\r\n", 400),
        refused("version_2_0", b"GET / HTTP/2.0\r\n\r\n", 400),
        refused("version_lowercase", b"GET / http/1.1\r\n\r\n", 400),
        refused("http09_request", b"GET /\r\n\r\n", 400),
        forwarded("absolute_form_matching_host", b"GET http://example.com/p HTTP/1.1\r\nHost: example.com\r\n\r\n",
            b"GET http://example.com/p HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        refused("absolute_form_other_host", b"GET http://evil.example/p HTTP/1.1\r\nHost: example.com\r\n\r\n", 400),
        refused("two_host_headers", b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", 400),
        refused("authority_form_without_connect", b"GET example.com:80 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400),
        refused("connect_is_not_tunnelled", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501),
        refused("asterisk_form_without_options", b"GET * HTTP/1.1\r\n\r\n", 400),
        forwarded("asterisk_form_options", b"OPTIONS * HTTP/1.1\r\n\r\n", b"OPTIONS * HTTP/1.1\r\n\r\n"),
    ]
}

/// Rows built at run time: limits (`tune.bufsize`, `tune.http.maxhdr`) and sequences.
fn sized_rows() -> Vec<(String, Vec<u8>, Want)> {
    let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(20_000));
    let long_header = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "b".repeat(20_000));
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..102 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    // Fewer than 101 lines, together past `tune.bufsize` − `tune.maxrewrite`.
    let mut wide = String::from("GET / HTTP/1.1\r\n");
    for i in 0..80 {
        wide.push_str(&format!("X-{i}: {}\r\n", "w".repeat(200)));
    }
    wide.push_str("\r\n");
    vec![
        ("request_line_over_bufsize".into(), long_line.into_bytes(), Want::Refused(400)),
        ("header_line_over_bufsize".into(), long_header.into_bytes(), Want::Refused(400)),
        ("header_section_over_bufsize".into(), wide.into_bytes(), Want::Refused(400)),
        ("more_than_maxhdr_headers".into(), many.into_bytes(), Want::Refused(400)),
        (
            "request_after_connection_close_is_not_forwarded".into(),
            b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n".to_vec(),
            Want::Forwarded {
                origin: b"GET /a HTTP/1.1\r\n\r\n",
                open: false,
            },
        ),
        (
            "http10_without_keep_alive_closes".into(),
            b"GET /a HTTP/1.0\r\n\r\nGET /smuggled HTTP/1.0\r\n\r\n".to_vec(),
            Want::Forwarded {
                origin: b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                open: false,
            },
        ),
        (
            "pipelined_chunked_then_get_are_both_forwarded".into(),
            b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /q HTTP/1.1\r\n\r\n".to_vec(),
            Want::Forwarded {
                origin: b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /q HTTP/1.1\r\n\r\n",
                open: true,
            },
        ),
    ]
}

/// What the client must see for `want`, and what the origin must have received.
fn check(name: &str, want: Want, seen: &Seen, origin: &[u8]) -> Result<(), String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let fail = |what: &str| {
        Err(format!(
            "{name}: {what}\n  client saw {:?} closed={}: {:?}\n  origin saw {:?}",
            seen.status,
            seen.closed,
            text(&seen.raw),
            text(origin)
        ))
    };
    // Forwarded with the origin's 200: the origin saw exactly `expected`.
    let forwarded = |expected: &[u8], open: bool| {
        if seen.status != Some(200) || seen.closed == open {
            return fail(&format!("expected 200, open={open}"));
        }
        if origin != expected {
            return fail(&format!("origin should have seen {:?}", text(expected)));
        }
        Ok(())
    };
    match want {
        Want::Refused(status) => {
            if seen.status != Some(status) || !seen.closed {
                return fail(&format!("expected {status} and a close"));
            }
            if !origin.is_empty() {
                return fail("the origin received bytes");
            }
        }
        Want::Forwarded {
            origin: exp,
            open: true,
        } => return forwarded(&[exp, FOLLOW].concat(), true),
        Want::Forwarded {
            origin: exp,
            open: false,
        } => return forwarded(exp, false),
        Want::Kept(exp) => return forwarded(exp, true),
        Want::Withheld(status) => {
            if seen.status != Some(status) || !seen.closed {
                return fail(&format!("expected {status} and a close"));
            }
            if origin.is_empty() {
                return fail("the request never reached the origin");
            }
            if seen
                .raw
                .windows(6)
                .any(|w| w.eq_ignore_ascii_case(b"x-big:"))
            {
                return fail("the origin's response reached the client");
            }
        }
    }
    Ok(())
}

#[monoio::test_all(timer_enabled = true)]
async fn hostile_requests_are_refused_or_forwarded_unambiguously() {
    let mut rows: Vec<(String, Vec<u8>, Want)> = request_rows()
        .into_iter()
        .map(|r| (r.name.to_string(), r.raw.to_vec(), r.want))
        .collect();
    rows.extend(sized_rows());
    assert!(rows.len() >= 40, "{} rows", rows.len());
    let setups: Vec<_> = rows
        .into_iter()
        .map(|(name, raw, want)| {
            let origin = Recorder::start(OK.to_vec());
            let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
            (name, raw, want, origin, proxy.addr, proxy)
        })
        .collect();
    let jobs: Vec<_> = setups
        .iter()
        .map(|(name, raw, want, origin, addr, _)| {
            (name.clone(), raw.clone(), *want, origin.seen.clone(), *addr)
        })
        .collect();
    let failures = blocking(move || {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|(name, raw, want, seen_by_origin, addr)| {
                std::thread::spawn(move || {
                    let seen = exchange(addr, &raw);
                    // The origin answered before the client saw a 200; a refused request
                    // is given a moment to (wrongly) arrive.
                    std::thread::sleep(Duration::from_millis(50));
                    let origin = seen_by_origin.lock().unwrap().clone();
                    check(&name, want, &seen, &origin)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap().err())
            .collect::<Vec<_>>()
    })
    .await;
    drop(setups);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A `listen` proxy like [`listen`] with configuration `lines` added to its section.
fn listen_with(lines: &str) -> ringlb_config::model::Proxy {
    let text = format!("listen web\n mode http\n{lines}");
    let loaded = ringlb_config::parse_str(&text, std::path::Path::new("limits.cfg"));
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    let mut proxy = config.proxy("web").unwrap().clone();
    let base = http_listen("web");
    proxy.timeouts = base.timeouts;
    proxy.retries = base.retries;
    proxy
}

/// A request head with `n` header lines, each `X-i: v`, after `GET / HTTP/1.1`.
fn with_lines(n: usize) -> String {
    let mut head = String::from("GET / HTTP/1.1\r\n");
    for i in 0..n {
        head.push_str(&format!("X-{i}: v\r\n"));
    }
    head
}

/// Heads the proxy's own additions take past the buffer or past 101 lines are a failed
/// rewrite (HAProxy's strict mode): the request is answered 500 and never sent, the
/// response is replaced by a 502. Just within the limits, they are forwarded whole.
#[monoio::test_all(timer_enabled = true)]
async fn proxy_additions_past_the_head_limits_are_never_sent() {
    const COPY: &str = " http-request set-header X-Copy %[req.hdr(x-big)]\n";
    const ADD_TWO: &str = " http-request add-header X-A 1\n http-request add-header X-B 2\n";
    let big = |n: usize| format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "b".repeat(n));
    // `head` and then the follow-up request forwarded, each with lines added.
    let forwarded = |head: &str, extra: &str, follow_extra: &str| -> &'static [u8] {
        let add = |h: &str, x| format!("{}{x}\r\n", h.strip_suffix("\r\n").unwrap_or(h));
        let follow = String::from_utf8_lossy(FOLLOW);
        (add(head, extra) + &add(&follow, follow_extra))
            .into_bytes()
            .leak()
    };
    let open = Want::Kept;
    let copied = |n: usize| format!("X-Copy: {}\r\n", "b".repeat(n));
    let mut big_response = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    big_response.resize(big_response.len() + 9_000, b'y');
    big_response.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
    let rows: Vec<(&str, String, String, Vec<u8>, Want)> = vec![
        // A 9000-byte value copied: ~18 KB, past the 16 KB buffer.
        (
            "copied_header_past_bufsize",
            COPY.into(),
            big(9_000),
            OK.to_vec(),
            Want::Refused(500),
        ),
        (
            "copied_header_within_bufsize",
            COPY.into(),
            big(5_000),
            OK.to_vec(),
            open(forwarded(&big(5_000), &copied(5_000), "X-Copy: \r\n")),
        ),
        (
            "added_lines_past_maxhdr",
            ADD_TWO.into(),
            with_lines(100) + "\r\n",
            OK.to_vec(),
            Want::Refused(500),
        ),
        (
            "added_lines_up_to_maxhdr",
            ADD_TWO.into(),
            with_lines(99) + "\r\n",
            OK.to_vec(),
            open(forwarded(
                &(with_lines(99) + "\r\n"),
                "X-A: 1\r\nX-B: 2\r\n",
                "X-A: 1\r\nX-B: 2\r\n",
            )),
        ),
        (
            "forwardfor_past_maxhdr",
            " option forwardfor\n".into(),
            with_lines(101) + "\r\n",
            OK.to_vec(),
            Want::Refused(500),
        ),
        (
            "forwardfor_up_to_maxhdr",
            " option forwardfor\n".into(),
            with_lines(100) + "\r\n",
            OK.to_vec(),
            open(forwarded(
                &(with_lines(100) + "\r\n"),
                "X-Forwarded-For: 127.0.0.1\r\n",
                "X-Forwarded-For: 127.0.0.1\r\n",
            )),
        ),
        (
            "response_addition_past_bufsize",
            " http-response set-header X-Copy %[res.hdr(x-big)]\n".into(),
            "GET / HTTP/1.1\r\n\r\n".into(),
            big_response,
            Want::Withheld(502),
        ),
    ];
    let setups: Vec<_> = rows
        .into_iter()
        .map(|(name, lines, raw, answer, want)| {
            let origin = Recorder::start(answer);
            let proxy = TestProxy::listen(&listen_with(&lines), vec![origin.addr]);
            (name, raw, want, origin, proxy.addr, proxy)
        })
        .collect();
    let jobs: Vec<_> = setups
        .iter()
        .map(|(name, raw, want, origin, addr, _)| {
            (*name, raw.clone(), *want, origin.seen.clone(), *addr)
        })
        .collect();
    let failures = blocking(move || {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|(name, raw, want, seen_by_origin, addr)| {
                std::thread::spawn(move || {
                    let seen = exchange(addr, raw.as_bytes());
                    std::thread::sleep(Duration::from_millis(50));
                    let origin = seen_by_origin.lock().unwrap().clone();
                    check(name, want, &seen, &origin)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap().err())
            .collect::<Vec<_>>()
    })
    .await;
    drop(setups);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A server-side shape: what the origin answers to `GET /`, what the client must see.
struct ResponseRow {
    name: &'static str,
    answer: Vec<u8>,
    status: Option<u16>,
    /// Whether the client connection closes after the response.
    closed: bool,
    /// Bytes that must never reach the client.
    never: &'static [u8],
}

fn response_rows() -> Vec<ResponseRow> {
    let mut big = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    big.resize(big.len() + 20_000, b'x');
    big.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..102 {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    vec![
        ResponseRow { name: "invalid_status_code", answer: b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(), status: Some(502), closed: true, never: b"ok" },
        ResponseRow { name: "status_below_100", answer: b"HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\nok".to_vec(), status: Some(502), closed: true, never: b"ok" },
        ResponseRow { name: "not_http", answer: b"HELLO\r\n\r\nok".to_vec(), status: Some(502), closed: true, never: b"HELLO" },
        ResponseRow { name: "unsupported_version", answer: b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(), status: Some(502), closed: true, never: b"ok" },
        ResponseRow { name: "conflicting_lengths", answer: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!".to_vec(), status: Some(502), closed: true, never: b"ok" },
        ResponseRow { name: "signed_length", answer: b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok".to_vec(), status: Some(502), closed: true, never: b"ok" },
        ResponseRow { name: "space_before_colon", answer: b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok".to_vec(), status: Some(502), closed: true, never: b"ok" },
        ResponseRow { name: "obs_fold", answer: b"HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok".to_vec(), status: Some(502), closed: true, never: b"ok" },
        ResponseRow { name: "nul_in_header", answer: b"HTTP/1.1 200 OK\r\nX-A: \x00\r\nContent-Length: 2\r\n\r\nok".to_vec(), status: Some(502), closed: true, never: b"ok" },
        ResponseRow { name: "head_over_bufsize", answer: big, status: Some(502), closed: true, never: b"xxxx" },
        ResponseRow { name: "more_than_maxhdr_headers", answer: many, status: Some(502), closed: true, never: b"X-1:" },
        ResponseRow { name: "switching_protocols_unasked", answer: b"HTTP/1.1 101 Switching Protocols\r\n\r\nok".to_vec(), status: Some(502), closed: true, never: b"ok" },
        ResponseRow { name: "closed_without_response", answer: Vec::new(), status: Some(502), closed: true, never: b"HTTP/1.1 200" },
        // Forwarded shapes: the excess after the announced body never reaches the client,
        // and the follow-up request is answered on a fresh server connection.
        ResponseRow { name: "longer_than_announced", answer: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL".to_vec(), status: Some(200), closed: false, never: b"EVIL" },
        ResponseRow { name: "no_content_with_a_body", answer: b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL".to_vec(), status: Some(204), closed: false, never: b"EVIL" },
        ResponseRow { name: "chunked_wins_over_length", answer: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nEVIL".to_vec(), status: Some(200), closed: false, never: b"content-length: 100" },
    ]
}

#[monoio::test_all(timer_enabled = true)]
async fn hostile_responses_get_502_or_are_cut_at_their_framing() {
    let rows = response_rows();
    let setups: Vec<_> = rows
        .into_iter()
        .map(|row| {
            let ResponseRow {
                name,
                answer,
                status,
                closed,
                never,
            } = row;
            let closes_silently = answer.is_empty();
            let origin = if closes_silently {
                // Accepts, reads the request, closes without a byte.
                serve_each(|mut s| {
                    let _ = s.read(&mut [0u8; 1024]);
                })
            } else {
                let r = Recorder::start(answer);
                let addr = r.addr;
                std::mem::forget(r);
                addr
            };
            let proxy = TestProxy::listen(&http_listen("web"), vec![origin]);
            (name, status, closed, never, proxy.addr, proxy)
        })
        .collect();
    let jobs: Vec<_> = setups
        .iter()
        .map(|(name, status, closed, never, addr, _)| (*name, *status, *closed, *never, *addr))
        .collect();
    let failures = blocking(move || {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|(name, status, closed, never, addr)| {
                std::thread::spawn(move || {
                    let seen = exchange(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
                    let lower = String::from_utf8_lossy(&seen.raw).to_ascii_lowercase();
                    let leaked = lower.contains(&String::from_utf8_lossy(never).to_ascii_lowercase());
                    if seen.status != status || seen.closed != closed || leaked {
                        Err(format!(
                            "{name}: expected {status:?} closed={closed}, never {:?}; client saw {:?} closed={}: {:?}",
                            String::from_utf8_lossy(never),
                            seen.status,
                            seen.closed,
                            String::from_utf8_lossy(&seen.raw)
                        ))
                    } else {
                        Ok(())
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap().err())
            .collect::<Vec<_>>()
    })
    .await;
    drop(setups);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
