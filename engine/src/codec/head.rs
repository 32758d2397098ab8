//! HTTP/1.x message heads parsed into offsets of the read buffer, so no header is copied and
//! the buffer's borrow ends as soon as parsing does.

use std::ops::Range;

/// Most header lines accepted in one head, like HAProxy's default `tune.http.maxhdr`.
pub const MAX_HEADERS: usize = 101;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    fn from_minor(minor: u8) -> Self {
        if minor == 0 {
            Self::Http10
        } else {
            Self::Http11
        }
    }
}

/// One header line: where its name and its value sit in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSpan {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// A head's header lines. Their vector is recycled through a free list of the worker's
/// thread when the head is dropped, so parsing a head allocates nothing in steady state
/// while the head itself stays small to move (an inline array would be copied with every
/// move of the futures holding it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<HeaderSpan>);

/// Header vectors kept for reuse per thread, at most this many.
const SPARE_HEADERS: usize = 64;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Vec<HeaderSpan>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Headers {
    /// An empty list, on a recycled vector when one is free.
    fn recycled() -> Self {
        Headers(SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default())
    }
}

impl std::ops::Deref for Headers {
    type Target = [HeaderSpan];
    fn deref(&self) -> &[HeaderSpan] {
        &self.0
    }
}

impl Drop for Headers {
    fn drop(&mut self) {
        if self.0.capacity() == 0 {
            return;
        }
        let mut v = std::mem::take(&mut self.0);
        v.clear();
        let _ = SPARE.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_HEADERS {
                s.push(v);
            }
        });
    }
}

/// A parsed request head. Ranges index the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Range<usize>,
    pub target: Range<usize>,
    pub version: Version,
    pub headers: Headers,
    /// Length of the head, final empty line included; the body starts here.
    pub len: usize,
}

/// A parsed response head. Ranges index the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: Range<usize>,
    pub version: Version,
    pub headers: Headers,
    pub len: usize,
}

/// Why a head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// The first line ended within the space allowed for the head, the header section did
    /// not.
    TooLarge,
    TooManyHeaders,
    /// The first line (request or status line) alone does not fit in the space allowed.
    LineTooLong,
    /// Not HTTP/1.x syntax.
    Invalid,
}

impl HeadError {
    /// The status a client gets for a request head refused this way: 400 whatever the
    /// reason, as haproxy 2.6 answers (and so `errorfile 400` covers a header section too
    /// large or with too many lines, where 431 would bypass it).
    pub fn request_status(self) -> u16 {
        400
    }
}

fn offset(buf: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - buf.as_ptr() as usize;
    start..start + part.len()
}

fn spans(buf: &[u8], headers: &[httparse::Header<'_>]) -> Headers {
    let mut out = Headers::recycled();
    out.0.extend(headers.iter().map(|h| HeaderSpan {
        name: offset(buf, h.name.as_bytes()),
        value: offset(buf, trim(h.value)),
    }));
    out
}

/// Strips optional whitespace around a field value.
pub fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// A head past `limit` bytes: which part did not fit. Only refused heads pay this scan.
fn too_large(buf: &[u8], limit: usize) -> HeadError {
    if buf[..limit.min(buf.len())].contains(&b'\n') {
        HeadError::TooLarge
    } else {
        HeadError::LineTooLong
    }
}

fn map_error(e: httparse::Error) -> HeadError {
    match e {
        httparse::Error::TooManyHeaders => HeadError::TooManyHeaders,
        _ => HeadError::Invalid,
    }
}

/// Parses a request head at the start of `buf`. `Ok(None)` means more bytes are needed;
/// a head longer than `limit` bytes is refused, complete or not.
pub fn parse_request(buf: &[u8], limit: usize) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf).map_err(map_error)? {
        httparse::Status::Partial if buf.len() >= limit => Err(too_large(buf, limit)),
        httparse::Status::Partial => Ok(None),
        httparse::Status::Complete(len) if len > limit => Err(too_large(buf, limit)),
        httparse::Status::Complete(len) => Ok(Some(RequestHead {
            method: offset(buf, req.method.unwrap_or_default().as_bytes()),
            target: offset(buf, req.path.unwrap_or_default().as_bytes()),
            version: Version::from_minor(req.version.unwrap_or(1)),
            headers: spans(buf, req.headers),
            len,
        })),
    }
}

/// Parses a response head at the start of `buf`, like [`parse_request`].
pub fn parse_response(buf: &[u8], limit: usize) -> Result<Option<ResponseHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf).map_err(map_error)? {
        httparse::Status::Partial if buf.len() >= limit => Err(too_large(buf, limit)),
        httparse::Status::Partial => Ok(None),
        httparse::Status::Complete(len) if len > limit => Err(too_large(buf, limit)),
        // Three digits below 100 (`000`, `099`) are no status: refused rather than relayed
        // as a shorter, invalid status line.
        httparse::Status::Complete(_) if resp.code.unwrap_or(0) < 100 => Err(HeadError::Invalid),
        httparse::Status::Complete(len) => {
            let reason = match resp.reason {
                Some(r) if !r.is_empty() => offset(buf, r.as_bytes()),
                _ => 0..0,
            };
            Ok(Some(ResponseHead {
                status: resp.code.unwrap_or(0),
                reason,
                version: Version::from_minor(resp.version.unwrap_or(1)),
                headers: spans(buf, resp.headers),
                len,
            }))
        }
    }
}

/// Values of every header named `name` (case-insensitive), in order.
pub fn values<'b>(
    buf: &'b [u8],
    headers: &'b [HeaderSpan],
    name: &'b str,
) -> impl Iterator<Item = &'b [u8]> + 'b {
    headers
        .iter()
        .filter(move |h| buf[h.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
        .map(move |h| &buf[h.value.clone()])
}

/// Comma-separated list elements of every header named `name`, trimmed, empty ones skipped.
pub fn list_items<'b>(
    buf: &'b [u8],
    headers: &'b [HeaderSpan],
    name: &'b str,
) -> impl Iterator<Item = &'b [u8]> + 'b {
    values(buf, headers, name)
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim)
        .filter(|t| !t.is_empty())
}

/// Splits a request target into its path and its query (without `?`).
pub fn path_of(url: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut u = url;
    if u.first() != Some(&b'/') {
        // `http://host/path`: the path starts at the first `/` after `://`.
        if let Some(p) = memchr::memmem::find(u, b"://") {
            let rest = &u[p + 3..];
            // No path: the empty slice at the end of `url`, so callers can still locate it
            // in `url` by address (rewrites keep what precedes it).
            u = match memchr::memchr2(b'/', b'?', rest) {
                Some(i) => &rest[i..],
                None => &rest[rest.len()..],
            };
        }
    }
    match memchr::memchr(b'?', u) {
        Some(i) => (&u[..i], Some(&u[i + 1..])),
        None => (u, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_is_parsed_into_offsets() {
        let buf = b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Long:  v  \r\n\r\nBODY";
        let head = parse_request(buf, 1024).unwrap().unwrap();
        assert_eq!(&buf[head.method.clone()], b"GET");
        assert_eq!(&buf[head.target.clone()], b"/a?b=1");
        assert_eq!(head.version, Version::Http11);
        assert_eq!(&buf[head.len..], b"BODY");
        let v: Vec<_> = values(buf, &head.headers, "x-long").collect();
        assert_eq!(v, vec![&b"v"[..]]);
    }

    #[test]
    fn partial_head_asks_for_more_until_the_limit() {
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost:", 100), Ok(None));
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nHost: aaaaaaaaaa", 20),
            Err(HeadError::TooLarge)
        );
        let full = b"GET / HTTP/1.1\r\nHost: aaaaaaaaaa\r\n\r\n";
        assert_eq!(parse_request(full, 20), Err(HeadError::TooLarge));
    }

    #[test]
    fn too_many_headers_and_garbage_are_refused() {
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            req.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        assert_eq!(parse_request(&req, 1 << 20), Err(HeadError::TooManyHeaders));
        assert_eq!(
            parse_request(b"\x01\x02 garbage\r\n\r\n", 100),
            Err(HeadError::Invalid)
        );
        assert_eq!(
            parse_request(b"GET / HTTP/2.0\r\n\r\n", 100),
            Err(HeadError::Invalid)
        );
    }

    #[test]
    fn a_request_line_that_does_not_fit_is_told_apart_from_a_large_header_section() {
        let line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(100));
        assert_eq!(
            parse_request(line.as_bytes(), 64),
            Err(HeadError::LineTooLong)
        );
        assert_eq!(
            parse_request(&line.as_bytes()[..64], 64),
            Err(HeadError::LineTooLong)
        );
        let section = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "b".repeat(100));
        assert_eq!(
            parse_request(section.as_bytes(), 64),
            Err(HeadError::TooLarge)
        );
        assert_eq!(
            parse_request(&section.as_bytes()[..64], 64),
            Err(HeadError::TooLarge)
        );
        // The line end must fall within the limit: `GET / HTTP/1.1\r\n` is 16 bytes.
        let partial = b"GET / HTTP/1.1\r\nX-Big: bbbbbbbbbbbbbbbbbbbbbbbb";
        assert_eq!(parse_request(partial, 16), Err(HeadError::TooLarge));
        assert_eq!(parse_request(partial, 15), Err(HeadError::LineTooLong));
        // A bare-LF line end counts as well.
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\nX-Big: bbbbbbbbbbbbbbbbbbbbbbbb", 20),
            Err(HeadError::TooLarge)
        );
    }

    #[test]
    fn every_refused_request_head_maps_to_400() {
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let status = |buf: &[u8], limit| parse_request(buf, limit).unwrap_err().request_status();
        assert_eq!(status(&many, 1 << 20), 400);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nX-Big: bbbbbbbbbbbbbbbb\r\n\r\n", 24),
            400
        );
        assert_eq!(
            status(b"GET /aaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n", 24),
            400
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nX A: 1\r\n\r\n", 1024), 400);
    }

    #[test]
    fn response_head_keeps_status_and_reason() {
        let buf = b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let head = parse_response(buf, 1024).unwrap().unwrap();
        assert_eq!(head.status, 404);
        assert_eq!(&buf[head.reason.clone()], b"Not Found");
        assert_eq!(head.version, Version::Http10);
        assert_eq!(head.len, buf.len());
        assert_eq!(
            parse_response(b"HTTP/1.1 099 Low\r\n\r\n", 1024),
            Err(HeadError::Invalid)
        );
    }

    #[test]
    fn list_items_split_every_header_line() {
        let buf = b"GET / HTTP/1.1\r\nConnection: keep-alive , Foo\r\nconnection: close\r\n\r\n";
        let head = parse_request(buf, 1024).unwrap().unwrap();
        let items: Vec<_> = list_items(buf, &head.headers, "Connection").collect();
        assert_eq!(items, vec![&b"keep-alive"[..], b"Foo", b"close"]);
    }
}
