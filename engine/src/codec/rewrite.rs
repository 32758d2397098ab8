//! The heads the proxy writes: the request to the server and the response to the client,
//! without hop-by-hop headers, with `Connection` set per mode and `X-Forwarded-For` and
//! `X-Original-To` added.

use std::io::Write;
use std::net::IpAddr;

use ringlb_config::model::{ForwardFor, OriginalTo};

use crate::codec::edits::HeadEdits;
use crate::codec::head::{
    list_items, values, HeaderSpan, RequestHead, ResponseHead, Version, MAX_HEADERS,
};

/// Headers that describe one connection, never forwarded.
const HOP_BY_HOP: [&str; 3] = ["connection", "keep-alive", "proxy-connection"];
/// Headers a `Connection` option may not remove: they frame or route the message.
const PROTECTED: [&str; 3] = ["content-length", "transfer-encoding", "host"];

/// How to rewrite a request head for the server.
#[derive(Debug, Clone, Copy)]
pub struct RequestRewrite<'a> {
    /// Ask the server to close after its response (SCL and CLO modes).
    pub server_close: bool,
    /// Header name and address to add, decided by [`forwarded_for`].
    pub forwarded_for: Option<(&'a str, IpAddr)>,
    /// Header name and address to add, decided by [`original_to`].
    pub original_to: Option<(&'a str, IpAddr)>,
    /// The request asks to switch protocols (`codec/upgrade.rs`): its `Upgrade` header is
    /// kept and `Connection: upgrade` replaces what the mode would write.
    pub upgrade: bool,
}

/// How to rewrite a response head for the client.
#[derive(Debug, Clone, Copy)]
pub struct ResponseRewrite {
    pub client_close: bool,
    pub client_version: Version,
    /// The body is chunked or runs to close: a `Content-Length` beside it is dropped.
    pub drop_length: bool,
    /// A `101` that switches protocols: `Upgrade` is kept, `Connection: upgrade` written.
    pub upgrade: bool,
}

/// The size of a head the proxy wrote, counted while writing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Bytes, final empty line included.
    pub len: usize,
    /// Header lines, the proxy's own (`Connection`, `X-Forwarded-For`, rule additions)
    /// included.
    pub lines: usize,
}

impl Written {
    /// Whether the head fits in a buffer of `bufsize` bytes and in [`MAX_HEADERS`] lines,
    /// the limits the proxy itself applies to what it reads. Past either, the rewrite
    /// failed (HAProxy's strict mode): the message is not sent at all, so that the next hop
    /// never sees a head the proxy would refuse or one cut short.
    pub fn fits(self, bufsize: usize) -> bool {
        self.len <= bufsize && self.lines <= MAX_HEADERS
    }
}

/// Whether header `name` is dropped: hop-by-hop, or named by a `Connection` option. When
/// the message switches protocols, `Upgrade` and the WebSocket handshake's headers are
/// kept whatever `Connection` names: the next hop needs them to switch.
fn is_hop_by_hop(buf: &[u8], headers: &[HeaderSpan], name: &[u8], upgrade: bool) -> bool {
    if upgrade
        && (name.eq_ignore_ascii_case(b"upgrade")
            || name.len() > 14 && name[..14].eq_ignore_ascii_case(b"sec-websocket-"))
    {
        return false;
    }
    if HOP_BY_HOP
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
    {
        return true;
    }
    if PROTECTED
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
    {
        return false;
    }
    list_items(buf, headers, "connection").any(|t| t.eq_ignore_ascii_case(name))
}

fn write_headers(
    out: &mut Vec<u8>,
    buf: &[u8],
    headers: &[HeaderSpan],
    drop_length: bool,
    upgrade: bool,
    edits: &HeadEdits,
) -> usize {
    let mut lines = 0;
    let mut length_written = false;
    for (i, h) in headers.iter().enumerate() {
        let name = &buf[h.name.clone()];
        let is_length = name.eq_ignore_ascii_case(b"content-length");
        if edits.is_removed(i)
            || is_hop_by_hop(buf, headers, name, upgrade)
            || (is_length && (drop_length || length_written))
        {
            continue;
        }
        let mut value = edits.value(i, buf, h);
        if is_length {
            // Framing accepted repeated lengths only when all are equal (`3, 3`, or two
            // lines): the next hop gets the one value, as a stricter parser would choke on
            // the list and frame the message differently.
            length_written = true;
            value =
                crate::codec::head::trim(value.split(|&b| b == b',').next().unwrap_or_default());
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
        lines += 1;
    }
    for (name, value) in &edits.added {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    lines + edits.added.len()
}

fn version_str(v: Version) -> &'static [u8] {
    match v {
        Version::Http10 => b"HTTP/1.0",
        Version::Http11 => b"HTTP/1.1",
    }
}

/// Writes the request head sent to the server into `out` (cleared first), with the rules'
/// edits applied. The caller checks [`Written::fits`] before sending it.
pub fn write_request_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &RequestHead,
    rw: &RequestRewrite,
    edits: &HeadEdits,
) -> Written {
    out.clear();
    out.extend_from_slice(edits.method.as_deref().unwrap_or(&buf[head.method.clone()]));
    out.push(b' ');
    out.extend_from_slice(edits.target.as_deref().unwrap_or(&buf[head.target.clone()]));
    out.push(b' ');
    out.extend_from_slice(version_str(head.version));
    out.extend_from_slice(b"\r\n");
    let mut lines = write_headers(out, buf, &head.headers, false, rw.upgrade, edits);
    if rw.upgrade {
        out.extend_from_slice(b"Connection: upgrade\r\n");
        lines += 1;
    } else if rw.server_close {
        out.extend_from_slice(b"Connection: close\r\n");
        lines += 1;
    } else if head.version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
        lines += 1;
    }
    for (name, ip) in [rw.forwarded_for, rw.original_to].into_iter().flatten() {
        out.extend_from_slice(name.as_bytes());
        let _ = write!(out, ": {ip}\r\n");
        lines += 1;
    }
    out.extend_from_slice(b"\r\n");
    Written {
        len: out.len(),
        lines,
    }
}

/// Writes the response head sent to the client into `out` (cleared first). The status line
/// is always HTTP/1.1, as the proxy speaks it whatever the server's version. The caller
/// checks [`Written::fits`] before sending it.
pub fn write_response_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &ResponseHead,
    rw: &ResponseRewrite,
    edits: &HeadEdits,
) -> Written {
    out.clear();
    match &edits.status {
        Some((status, reason)) => {
            let reason = reason
                .as_deref()
                .unwrap_or(crate::codec::status::reason(*status));
            let _ = write!(out, "HTTP/1.1 {status} {reason}");
        }
        None => {
            let _ = write!(out, "HTTP/1.1 {} ", head.status);
            out.extend_from_slice(&buf[head.reason.clone()]);
        }
    }
    out.extend_from_slice(b"\r\n");
    let mut lines = write_headers(out, buf, &head.headers, rw.drop_length, rw.upgrade, edits);
    if rw.upgrade {
        out.extend_from_slice(b"Connection: upgrade\r\n");
        lines += 1;
    } else if rw.client_close {
        out.extend_from_slice(b"Connection: close\r\n");
        lines += 1;
    } else if rw.client_version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
        lines += 1;
    }
    out.extend_from_slice(b"\r\n");
    Written {
        len: out.len(),
        lines,
    }
}

/// The `X-Forwarded-For`-like header to add, if any. `forwardfor` is the backend's option
/// when it has one, else the frontend's. A client inside `except` gets none; with
/// `if-none`, a request that already carries the header keeps it alone.
pub fn forwarded_for<'a>(
    forwardfor: Option<&'a ForwardFor>,
    client: IpAddr,
    buf: &[u8],
    headers: &[HeaderSpan],
) -> Option<(&'a str, IpAddr)> {
    let ff = forwardfor?;
    if ff.except.is_some_and(|net| net.contains(client)) {
        return None;
    }
    if ff.if_none && values(buf, headers, &ff.header).next().is_some() {
        return None;
    }
    Some((ff.header.as_str(), unmapped(client)))
}

/// The `X-Original-To`-like header to add, if any: the address the client reached. Added
/// when the frontend or the backend has `option originalto`, unless that address is inside
/// the `except` of either; the backend's header name wins.
pub fn original_to<'a>(
    backend: Option<&'a OriginalTo>,
    frontend: Option<&'a OriginalTo>,
    dst: IpAddr,
) -> Option<(&'a str, IpAddr)> {
    let named = backend.or(frontend)?;
    let excepted = |o: Option<&OriginalTo>| {
        o.and_then(|o| o.except)
            .is_some_and(|net| net.contains(dst))
    };
    // A Unix-socket client reached no address (HAProxy adds none either).
    if dst.is_unspecified() || excepted(backend) || excepted(frontend) {
        return None;
    }
    Some((named.header.as_str(), unmapped(dst)))
}

/// An IPv4 address the way it was reached, also through an IPv6 socket (`::ffff:a.b.c.d`).
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::head::{parse_request, parse_response};
    use ringlb_config::model::IpNet;

    fn rewrite_req(text: &str, rw: RequestRewrite) -> String {
        let buf = text.as_bytes();
        let head = parse_request(buf, 4096).unwrap().unwrap();
        let mut out = Vec::new();
        write_request_head(&mut out, buf, &head, &rw, &HeadEdits::default());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn request_keeps_line_and_drops_hop_by_hop_headers() {
        let out = rewrite_req(
            "POST /p?q HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret, Content-Length\r\nX-Secret: s\r\nKeep-Alive: 5\r\nContent-Length: 2\r\n\r\n",
            RequestRewrite { server_close: true, forwarded_for: None, original_to: None, upgrade: false },
        );
        assert_eq!(
            out,
            "POST /p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn a_switching_request_and_its_101_keep_upgrade_and_say_connection_upgrade() {
        let out = rewrite_req(
            "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n",
            RequestRewrite {
                server_close: true,
                forwarded_for: None,
                original_to: None,
                upgrade: true,
            },
        );
        assert_eq!(
            out,
            "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nConnection: upgrade\r\n\r\n"
        );
        let buf = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: a\r\n\r\n";
        let head = parse_response(buf, 4096).unwrap().unwrap();
        let mut out = Vec::new();
        let rw = ResponseRewrite {
            client_close: false,
            client_version: Version::Http11,
            drop_length: false,
            upgrade: true,
        };
        write_response_head(&mut out, buf, &head, &rw, &HeadEdits::default());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: a\r\nConnection: upgrade\r\n\r\n"
        );
        // Without the switch, `Upgrade` is a header `Connection` names: dropped.
        let out = rewrite_req(
            "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            RequestRewrite {
                server_close: false,
                forwarded_for: None,
                original_to: None,
                upgrade: false,
            },
        );
        assert_eq!(out, "GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn repeated_equal_lengths_are_sent_as_one() {
        let rw = RequestRewrite {
            server_close: false,
            forwarded_for: None,
            original_to: None,
            upgrade: false,
        };
        let out = rewrite_req(
            "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\nX: y\r\ncontent-length: 3\r\n\r\n",
            rw,
        );
        assert_eq!(out, "POST / HTTP/1.1\r\nContent-Length: 3\r\nX: y\r\n\r\n");
    }

    /// Header lines in a written head: every line but the first and the final empty one.
    fn lines_in(out: &[u8]) -> usize {
        out.windows(2).filter(|w| w == b"\r\n").count() - 2
    }

    #[test]
    fn written_request_counts_the_lines_sent_and_fits_only_within_both_limits() {
        let mut text = String::from("GET / HTTP/1.1\r\nKeep-Alive: 5\r\n");
        for i in 0..98 {
            text.push_str(&format!("X-{i}: v\r\n"));
        }
        text.push_str("\r\n");
        let buf = text.as_bytes();
        let head = parse_request(buf, 1 << 16).unwrap().unwrap();
        let mut edits = HeadEdits::default();
        edits.added.push((b"X-Added".to_vec(), b"1".to_vec()));
        let rw = RequestRewrite {
            server_close: true,
            forwarded_for: Some(("X-Forwarded-For", "10.0.0.1".parse().unwrap())),
            original_to: None,
            upgrade: false,
        };
        let mut out = Vec::new();
        let written = write_request_head(&mut out, buf, &head, &rw, &edits);
        // 98 kept, `Keep-Alive` dropped, one added, `Connection` and `X-Forwarded-For`.
        assert_eq!(written.lines, 101);
        assert_eq!(written.lines, lines_in(&out));
        assert_eq!(written.len, out.len());
        assert!(written.fits(out.len()));
        assert!(!written.fits(out.len() - 1));
        edits.added.push((b"X-Added".to_vec(), b"2".to_vec()));
        let written = write_request_head(&mut out, buf, &head, &rw, &edits);
        assert_eq!(written.lines, 102);
        assert!(!written.fits(1 << 20));
    }

    #[test]
    fn written_response_counts_the_connection_line() {
        let buf = b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        let head = parse_response(buf, 4096).unwrap().unwrap();
        let mut out = Vec::new();
        let rw = ResponseRewrite {
            client_close: true,
            client_version: Version::Http11,
            drop_length: false,
            upgrade: false,
        };
        let written = write_response_head(&mut out, buf, &head, &rw, &HeadEdits::default());
        assert_eq!(written.lines, 2);
        assert_eq!(written.lines, lines_in(&out));
        assert_eq!(written.len, out.len());
    }

    #[test]
    fn http10_request_asks_the_server_for_keep_alive() {
        let ip = "10.0.0.9".parse().unwrap();
        let out = rewrite_req(
            "GET / HTTP/1.0\r\n\r\n",
            RequestRewrite {
                server_close: false,
                forwarded_for: Some(("X-Forwarded-For", ip)),
                original_to: None,
                upgrade: false,
            },
        );
        assert_eq!(
            out,
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n"
        );
    }

    #[test]
    fn response_is_written_as_http11_with_the_client_connection_header() {
        let buf = b"HTTP/1.0 200 Fine\r\nConnection: keep-alive\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = parse_response(buf, 4096).unwrap().unwrap();
        let mut out = Vec::new();
        let rw = ResponseRewrite {
            client_close: true,
            client_version: Version::Http11,
            drop_length: true,
            upgrade: false,
        };
        write_response_head(&mut out, buf, &head, &rw, &HeadEdits::default());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 Fine\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn forwardfor_honours_except_and_if_none() {
        let buf = b"GET / HTTP/1.1\r\nX-Real: 1.1.1.1\r\n\r\n";
        let head = parse_request(buf, 4096).unwrap().unwrap();
        let mut ff = ForwardFor {
            except: None,
            header: "X-Real".into(),
            if_none: false,
        };
        let client: IpAddr = "::ffff:192.168.1.5".parse().unwrap();
        let v4: IpAddr = "192.168.1.5".parse().unwrap();
        assert_eq!(
            forwarded_for(Some(&ff), client, buf, &head.headers),
            Some(("X-Real", v4))
        );
        ff.if_none = true;
        assert_eq!(forwarded_for(Some(&ff), client, buf, &head.headers), None);
        ff.if_none = false;
        ff.except = Some(IpNet {
            addr: "192.168.0.0".parse().unwrap(),
            prefix: 16,
        });
        assert_eq!(forwarded_for(Some(&ff), client, buf, &head.headers), None);
        assert_eq!(forwarded_for(None, client, buf, &head.headers), None);
    }
}
