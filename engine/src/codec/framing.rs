//! Message framing (RFC 9112 §6): where a request or response body ends, and the request
//! shapes refused because two parties could disagree on it (request smuggling).

use crate::codec::conn_mode::ConnectionTokens;
use crate::codec::head::{list_items, values, HeaderSpan, RequestHead, ResponseHead, Version};
use crate::codec::upgrade::{upgrade_request, UpgradeRequest};

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
    /// Responses only: the body runs until the server closes.
    UntilClose,
}

/// Why a request's framing was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// `Content-Length` together with `Transfer-Encoding`.
    LengthAndChunked,
    /// Signs, blanks, non-digits, empty or overflowing `Content-Length`.
    InvalidLength,
    /// Several `Content-Length` values that differ.
    ConflictingLengths,
    /// `Transfer-Encoding` whose last coding is not `chunked`.
    NotChunked,
    /// A coding other than `chunked` was applied: understood but not implemented.
    UnsupportedCoding,
    /// HTTP/1.0 has no `Transfer-Encoding`.
    ChunkedInHttp10,
    /// `chunked` applied more than once (RFC 9112 §6.1 forbids it).
    ChunkedTwice,
    /// A target in no form its method allows: authority-form without `CONNECT`,
    /// `*` without `OPTIONS`, or not starting with `/` nor a scheme.
    BadTarget,
    /// `CONNECT`: the proxy does not open tunnels.
    Connect,
    /// Several `Host` lines, or an absolute-form target naming another host than `Host`:
    /// the server and the routing rules could each pick a different one (RFC 9112 §3.2).
    AmbiguousHost,
    /// A WebSocket handshake without a valid `Sec-WebSocket-Key` (`codec/upgrade.rs`).
    WebSocketKey,
}

impl FramingError {
    /// The status answered to the client.
    pub fn status(self) -> u16 {
        match self {
            Self::UnsupportedCoding | Self::Connect => 501,
            _ => 400,
        }
    }
}

/// What the proxy needs to know about a request before forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestFraming {
    pub body: BodyKind,
    /// `Expect: 100-continue`: the client waits for an interim response before the body.
    pub expect_continue: bool,
    pub is_head: bool,
    /// The request asks to switch protocols (`codec/upgrade.rs`).
    pub upgrade: Option<UpgradeRequest>,
}

/// Parses one `Content-Length` value list (`5`, `5, 5`); differing elements conflict.
fn content_length<'a>(
    mut vals: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<u64>, FramingError> {
    let mut found: Option<u64> = None;
    vals.try_for_each(|v| {
        for item in v.split(|&b| b == b',') {
            let item = crate::codec::head::trim(item);
            if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
                return Err(FramingError::InvalidLength);
            }
            let n = std::str::from_utf8(item)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(FramingError::InvalidLength)?;
            match found {
                Some(prev) if prev != n => return Err(FramingError::ConflictingLengths),
                _ => found = Some(n),
            }
        }
        Ok(())
    })?;
    Ok(found)
}

/// The codings of every `Transfer-Encoding` line: whether the last is `chunked`, how many
/// there are, and how many of them are `chunked`.
fn transfer_codings(buf: &[u8], headers: &[HeaderSpan]) -> Option<(bool, usize, usize)> {
    let mut count = 0;
    let mut chunked = 0;
    let mut last_chunked = false;
    for item in list_items(buf, headers, "transfer-encoding") {
        count += 1;
        last_chunked = item.eq_ignore_ascii_case(b"chunked");
        chunked += usize::from(last_chunked);
    }
    let present = values(buf, headers, "transfer-encoding").next().is_some();
    present.then_some((last_chunked, count, chunked))
}

/// The authority of an absolute-form target (`scheme://authority/...`), if it is one.
fn absolute_authority(target: &[u8]) -> Option<&[u8]> {
    let sep = target.windows(3).position(|w| w == b"://")?;
    let scheme = &target[..sep];
    if scheme.is_empty()
        || !scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
    {
        return None;
    }
    let rest = &target[sep + 3..];
    let end = rest
        .iter()
        .position(|b| b"/?#".contains(b))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Refuses a target its method does not allow and any doubt about the host (RFC 9112 §3.2,
/// §3.2.2): a proxy routing on `Host` must see the same host the server will use.
fn check_target(buf: &[u8], head: &RequestHead) -> Result<(), FramingError> {
    let method = &buf[head.method.clone()];
    let target = &buf[head.target.clone()];
    if method == b"CONNECT" {
        return Err(FramingError::Connect);
    }
    let mut hosts = values(buf, &head.headers, "host");
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(FramingError::AmbiguousHost);
    }
    if target == b"*" {
        return if method == b"OPTIONS" {
            Ok(())
        } else {
            Err(FramingError::BadTarget)
        };
    }
    if target.starts_with(b"/") {
        return Ok(());
    }
    let Some(authority) = absolute_authority(target) else {
        return Err(FramingError::BadTarget);
    };
    match host {
        Some(h) if !h.eq_ignore_ascii_case(authority) => Err(FramingError::AmbiguousHost),
        _ => Ok(()),
    }
}

/// Decides a request's framing, refusing every ambiguous shape.
pub fn request_framing(
    buf: &[u8],
    head: &RequestHead,
    tokens: ConnectionTokens,
) -> Result<RequestFraming, FramingError> {
    check_target(buf, head)?;
    let te = transfer_codings(buf, &head.headers);
    let has_cl = values(buf, &head.headers, "content-length")
        .next()
        .is_some();
    let body = match te {
        Some(_) if head.version == Version::Http10 => return Err(FramingError::ChunkedInHttp10),
        Some(_) if has_cl => return Err(FramingError::LengthAndChunked),
        Some((_, _, 2..)) => return Err(FramingError::ChunkedTwice),
        Some((true, 1, _)) => BodyKind::Chunked,
        Some((true, _, _)) => return Err(FramingError::UnsupportedCoding),
        Some((false, _, _)) => return Err(FramingError::NotChunked),
        None => match content_length(values(buf, &head.headers, "content-length"))? {
            Some(0) | None => BodyKind::None,
            Some(n) => BodyKind::Length(n),
        },
    };
    let expect_continue = head.version == Version::Http11
        && values(buf, &head.headers, "expect").any(|v| v.eq_ignore_ascii_case(b"100-continue"));
    let upgrade = match tokens.upgrade {
        true => upgrade_request(buf, head, tokens).map_err(|_| FramingError::WebSocketKey)?,
        false => None,
    };
    Ok(RequestFraming {
        body,
        expect_continue,
        is_head: buf[head.method.clone()] == *b"HEAD",
        upgrade,
    })
}

/// Decides a response's framing. `Transfer-Encoding` wins over `Content-Length` (the
/// rewrite then drops the length); a coding list not ending in `chunked` runs to close.
pub fn response_framing(
    buf: &[u8],
    head: &ResponseHead,
    request_is_head: bool,
) -> Result<BodyKind, FramingError> {
    if request_is_head || (100..200).contains(&head.status) || matches!(head.status, 204 | 304) {
        return Ok(BodyKind::None);
    }
    match transfer_codings(buf, &head.headers) {
        Some((true, _, _)) => Ok(BodyKind::Chunked),
        Some((false, _, _)) => Ok(BodyKind::UntilClose),
        None => match content_length(values(buf, &head.headers, "content-length"))? {
            Some(0) => Ok(BodyKind::None),
            Some(n) => Ok(BodyKind::Length(n)),
            None => Ok(BodyKind::UntilClose),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::head::{parse_request, parse_response};

    fn req(text: &str) -> Result<RequestFraming, FramingError> {
        let buf = text.as_bytes();
        let head = parse_request(buf, 4096).unwrap().unwrap();
        request_framing(buf, &head, ConnectionTokens::parse(buf, &head.headers))
    }

    fn body(text: &str) -> Result<BodyKind, FramingError> {
        req(text).map(|f| f.body)
    }

    #[test]
    fn request_framing_table() {
        use BodyKind::*;
        let cases: &[(&str, Result<BodyKind, FramingError>)] = &[
            ("GET / HTTP/1.1\r\n\r\n", Ok(None)),
            ("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Ok(None)),
            (
                "POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n",
                Ok(Length(12)),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 7, 7\r\n\r\n",
                Ok(Length(7)),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n",
                Ok(Length(7)),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n",
                Ok(Chunked),
            ),
            (
                "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n",
                Ok(Length(3)),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&body(text), want, "{text:?}");
        }
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        use FramingError::*;
        let cases: &[(&str, FramingError)] = &[
            ("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", LengthAndChunked),
            ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", ConflictingLengths),
            ("POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n", ConflictingLengths),
            ("POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n", InvalidLength),
            ("POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n", InvalidLength),
            ("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", InvalidLength),
            ("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", InvalidLength),
            ("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", InvalidLength),
            ("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", InvalidLength),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", NotChunked),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", NotChunked),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", UnsupportedCoding),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ChunkedTwice),
            ("GET * HTTP/1.1\r\n\r\n", BadTarget),
            ("GET host:80 HTTP/1.1\r\n\r\n", BadTarget),
            ("CONNECT host:443 HTTP/1.1\r\n\r\n", Connect),
            ("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", AmbiguousHost),
            ("GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n", AmbiguousHost),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ChunkedInHttp10),
        ];
        for (text, want) in cases {
            assert_eq!(body(text), Err(*want), "{text:?}");
        }
        assert_eq!(UnsupportedCoding.status(), 501);
        assert_eq!(LengthAndChunked.status(), 400);
    }

    #[test]
    fn expect_continue_and_head_are_detected() {
        let f = req("PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").unwrap();
        assert!(f.expect_continue);
        assert!(
            !req("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n")
                .unwrap()
                .expect_continue
        );
        assert!(req("HEAD / HTTP/1.1\r\n\r\n").unwrap().is_head);
    }

    fn resp(text: &str, head_req: bool) -> BodyKind {
        let buf = text.as_bytes();
        let head = parse_response(buf, 4096).unwrap().unwrap();
        response_framing(buf, &head, head_req).unwrap()
    }

    #[test]
    fn response_framing_table() {
        use BodyKind::*;
        assert_eq!(
            resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true),
            None
        );
        assert_eq!(resp("HTTP/1.1 204 No Content\r\n\r\n", false), None);
        assert_eq!(
            resp(
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false
            ),
            None
        );
        assert_eq!(resp("HTTP/1.1 100 Continue\r\n\r\n", false), None);
        assert_eq!(
            resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false),
            Length(5)
        );
        assert_eq!(
            resp(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false
            ),
            Chunked
        );
        assert_eq!(
            resp(
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                false
            ),
            Chunked
        );
        assert_eq!(
            resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false),
            UntilClose
        );
        assert_eq!(resp("HTTP/1.0 200 OK\r\n\r\n", false), UntilClose);
    }
}
