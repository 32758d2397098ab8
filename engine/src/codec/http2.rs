//! HTTP/2 messages in HTTP/1.1 form and back (RFC 9113 §8): a request received on an
//! HTTP/2 stream is written as an HTTP/1.1 head for the session that analyses and forwards
//! it, and the HTTP/1.1 response the session relays becomes the stream's HEADERS, DATA and
//! trailers. The framing, HPACK and stream rules are the `h2` crate's; it has already refused
//! what RFC 9113 forbids (connection-specific fields, upper-case names, CR, LF or NUL in a
//! value, a `content-length` that disagrees with the data).

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::codec::head::{ResponseHead, MAX_HEADERS};

/// How the HTTP/1.1 form of a request carries its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyForm {
    /// No body: the stream ended with its HEADERS.
    None,
    /// The request said how long its body is: the DATA frames' bytes as they are.
    Length,
    /// Length unknown: the DATA frames go out as chunks, the trailers after the last one.
    Chunked,
    /// Requests only: an extended CONNECT (RFC 8441), written as an HTTP/1.1 upgrade. It
    /// has no body; once the server switches protocols, the DATA frames both ways are the
    /// tunnel's bytes as they are.
    Tunnel,
}

/// Writes `parts` as an HTTP/1.1 request head into `out`. `ended`: the stream ended with
/// its HEADERS (no body follows).
///
/// An extended CONNECT (RFC 8441 §4: `CONNECT` with a `:protocol`) becomes the HTTP/1.1
/// upgrade it stands for (RFC 8441 §5): `GET` with `Connection: upgrade` and `Upgrade:
/// PROTOCOL`, and for WebSocket a fresh `Sec-WebSocket-Key` (HTTP/2 has none, RFC 6455
/// requires it).
pub fn write_request_head(
    parts: &http::request::Parts,
    ended: bool,
    out: &mut Vec<u8>,
) -> BodyForm {
    let upgrade = extended_connect(parts);
    if upgrade.is_some() {
        out.extend_from_slice(b"GET");
    } else {
        out.extend_from_slice(parts.method.as_str().as_bytes());
    }
    out.push(b' ');
    let uri = &parts.uri;
    if parts.method == http::Method::CONNECT && upgrade.is_none() {
        // Authority-form: the session answers a tunnel request as it answers HTTP/1's.
        out.extend_from_slice(uri.authority().map_or("", |a| a.as_str()).as_bytes());
    } else {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        out.extend_from_slice(if path.is_empty() {
            b"/"
        } else {
            path.as_bytes()
        });
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    // `:authority` stands for `Host` (RFC 9113 §8.3.1), and wins over one sent as well.
    let authority = uri.authority();
    if let Some(a) = authority {
        header(out, b"host", a.as_str().as_bytes());
    }
    let mut cookies: Option<Vec<u8>> = None;
    let mut length = false;
    for (name, value) in &parts.headers {
        if name == http::header::HOST && authority.is_some() {
            continue;
        }
        if name == http::header::COOKIE {
            // Cookie crumbs go back into one header line (RFC 9113 §8.2.3).
            match &mut cookies {
                Some(c) => {
                    c.extend_from_slice(b"; ");
                    c.extend_from_slice(value.as_bytes());
                }
                None => cookies = Some(value.as_bytes().to_vec()),
            }
            continue;
        }
        length |= name == http::header::CONTENT_LENGTH;
        header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(c) = cookies {
        header(out, b"cookie", &c);
    }
    if let Some(protocol) = upgrade {
        header(out, b"connection", b"upgrade");
        header(out, b"upgrade", protocol.as_bytes());
        if protocol.eq_ignore_ascii_case("websocket")
            && !parts.headers.contains_key("sec-websocket-key")
        {
            header(out, b"sec-websocket-key", &websocket_key());
        }
        out.extend_from_slice(b"\r\n");
        return BodyForm::Tunnel;
    }
    let form = body_form(ended, length, out);
    out.extend_from_slice(b"\r\n");
    form
}

/// The protocol an extended CONNECT asks for (RFC 8441 §4), `None` for any other request.
fn extended_connect(parts: &http::request::Parts) -> Option<&str> {
    if parts.method != http::Method::CONNECT {
        return None;
    }
    parts
        .extensions
        .get::<h2::ext::Protocol>()
        .map(|p| p.as_str())
}

/// A `Sec-WebSocket-Key`: the base64 of 16 random bytes (RFC 6455 §4.1).
fn websocket_key() -> Vec<u8> {
    let mut nonce = [0u8; 16];
    // The key only proves that the server speaks WebSocket; should the system's random
    // source fail, a fixed nonce still does that.
    let _ = aws_lc_rs::rand::fill(&mut nonce);
    use base64ct::Encoding;
    base64ct::Base64::encode_string(&nonce).into_bytes()
}

/// How a message whose HTTP/1.1 head is being written into `out` carries its body: none
/// when its stream `ended` with its HEADERS, as it is when it has a `content-length`
/// (`length`), chunked otherwise (the `transfer-encoding` field is written then).
fn body_form(ended: bool, length: bool, out: &mut Vec<u8>) -> BodyForm {
    match (ended, length) {
        (true, _) => BodyForm::None,
        (false, true) => BodyForm::Length,
        (false, false) => {
            header(out, b"transfer-encoding", b"chunked");
            BodyForm::Chunked
        }
    }
}

fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes the start of a chunk of `len` bytes.
pub fn chunk_start(len: usize, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, "{len:x}\r\n");
}

/// Writes the last chunk with `trailers` after it.
pub fn last_chunk(trailers: Option<&HeaderMap>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers.into_iter().flatten() {
        header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Fields of HTTP/1.1 that HTTP/2 forbids (RFC 9113 §8.2.2): they describe the
/// connection, not the message (`TE: trailers` is put back by [`request`]).
fn connection_specific(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 6] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
        b"te",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// The request head parsed from `buf` as the HEADERS of a stream to a server (`https`: the
/// connection is TLS): `Host` (or an absolute-form target) becomes `:authority`, and the
/// fields HTTP/2 forbids stay behind (`TE` but `trailers`).
pub fn request(
    buf: &[u8],
    head: &crate::codec::head::RequestHead,
    https: bool,
) -> Result<http::Request<()>, Unsendable> {
    let target = &buf[head.target.clone()];
    let host = crate::codec::head::values(buf, &head.headers, "host").next();
    let uri = if target.starts_with(b"/") || target == b"*" {
        let mut u = Vec::with_capacity(target.len() + 32);
        u.extend_from_slice(if https { b"https://" } else { b"http://" });
        u.extend_from_slice(host.ok_or(Unsendable)?);
        u.extend_from_slice(if target == b"*" { b"" } else { target });
        http::Uri::try_from(u).map_err(|_| Unsendable)?
    } else {
        http::Uri::try_from(target).map_err(|_| Unsendable)?
    };
    let method = http::Method::from_bytes(&buf[head.method.clone()]).map_err(|_| Unsendable)?;
    let mut req = http::Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    let spans = head
        .headers
        .iter()
        .filter(|h| !buf[h.name.clone()].eq_ignore_ascii_case(b"host"))
        .map(|h| (h.name.clone(), h.value.clone()));
    fields(buf, spans, req.headers_mut())?;
    let te = crate::codec::head::values(buf, &head.headers, "te");
    if te
        .flat_map(|v| v.split(|&b| b == b','))
        .any(|v| crate::codec::head::trim(v).eq_ignore_ascii_case(b"trailers"))
    {
        req.headers_mut()
            .insert(http::header::TE, HeaderValue::from_static("trailers"));
    }
    Ok(req)
}

/// Writes the HEADERS of a server's response as an HTTP/1.1 response head into `out`.
/// `ended`: the stream ended with them (no body follows).
pub fn write_response_head(
    parts: &http::response::Parts,
    ended: bool,
    out: &mut Vec<u8>,
) -> BodyForm {
    let status = parts.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut length = false;
    for (name, value) in &parts.headers {
        length |= name == http::header::CONTENT_LENGTH;
        header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    let bodiless = status.is_informational() || status == 204 || status == 304;
    if ended && !length && !bodiless {
        // An HTTP/1.1 response without a length would run until the connection closes.
        header(out, b"content-length", b"0");
    }
    let form = body_form(ended, length, out);
    out.extend_from_slice(b"\r\n");
    form
}

/// Why an HTTP/1.1 message cannot be sent on an HTTP/2 stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsendable;

/// The response head parsed from `buf` as the stream's HEADERS.
pub fn response(buf: &[u8], head: &ResponseHead) -> Result<http::Response<()>, Unsendable> {
    let mut resp = http::Response::new(());
    *resp.status_mut() = http::StatusCode::from_u16(head.status).map_err(|_| Unsendable)?;
    fields(
        buf,
        head.headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone())),
        resp.headers_mut(),
    )?;
    Ok(resp)
}

/// Adds the fields at `spans` of `buf` to `map`, leaving out the connection-specific ones.
fn fields(
    buf: &[u8],
    spans: impl Iterator<Item = (std::ops::Range<usize>, std::ops::Range<usize>)>,
    map: &mut HeaderMap,
) -> Result<(), Unsendable> {
    for (name, value) in spans {
        let name = &buf[name];
        if connection_specific(name) {
            continue;
        }
        let name = HeaderName::from_bytes(name).map_err(|_| Unsendable)?;
        let value = HeaderValue::from_bytes(&buf[value]).map_err(|_| Unsendable)?;
        map.append(name, value);
    }
    Ok(())
}

/// The trailer section of a chunked body (its lines and the final empty line) as the
/// stream's trailing HEADERS; `None` when it has no field.
pub fn trailers(section: &[u8]) -> Result<Option<HeaderMap>, Unsendable> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let parsed = match httparse::parse_headers(section, &mut headers) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed,
        _ => return Err(Unsendable),
    };
    if parsed.is_empty() {
        return Ok(None);
    }
    let base = section.as_ptr() as usize;
    let at = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let mut map = HeaderMap::new();
    fields(
        section,
        parsed.iter().map(|h| (at(h.name.as_bytes()), at(h.value))),
        &mut map,
    )?;
    Ok(Some(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::head::{parse_request, parse_response};

    fn parts_of(build: http::request::Builder) -> http::request::Parts {
        build.body(()).unwrap().into_parts().0
    }

    /// `:authority` becomes `Host` and wins over a `host` field, cookie crumbs join, and a
    /// body of unknown length is chunked; the head parses as the session will parse it.
    #[test]
    fn a_request_reads_as_http11() {
        let parts = parts_of(
            http::Request::post("https://example.test/a?b=1")
                .header("host", "other.test")
                .header("cookie", "a=1")
                .header("cookie", "b=2")
                .header("user-agent", "curl"),
        );
        let mut out = Vec::new();
        assert_eq!(
            write_request_head(&parts, false, &mut out),
            BodyForm::Chunked
        );
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST /a?b=1 HTTP/1.1\r\nhost: example.test\r\nuser-agent: curl\r\n\
             cookie: a=1; b=2\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        let head = parse_request(&out, 4096).unwrap().unwrap();
        assert_eq!(head.len, out.len());

        let parts = parts_of(http::Request::get("http://h.test/").header("content-length", "3"));
        let mut out = Vec::new();
        assert_eq!(write_request_head(&parts, true, &mut out), BodyForm::None);
        let parts = parts_of(http::Request::put("http://h.test/").header("content-length", "3"));
        assert_eq!(
            write_request_head(&parts, false, &mut Vec::new()),
            BodyForm::Length
        );
    }

    /// The response's connection-specific fields stay behind; the rest goes as it is.
    #[test]
    fn a_response_leaves_its_connection_fields_behind() {
        let buf = b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\
                    Keep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Y: z\r\n\r\n";
        let head = parse_response(buf, 4096).unwrap().unwrap();
        let resp = response(buf, &head).unwrap();
        assert_eq!(resp.status(), 200);
        let names: Vec<&str> = resp.headers().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["set-cookie", "set-cookie", "x-y"]);
    }

    /// A request head to a server: `Host` becomes the authority, `TE: trailers` stays,
    /// connection fields go.
    #[test]
    fn a_request_to_a_server_reads_as_http2() {
        let buf = b"POST /svc/Call?x=1 HTTP/1.1\r\nHost: grpc.test:50051\r\nTE: trailers\r\n\
                    Connection: keep-alive\r\nContent-Type: application/grpc\r\n\
                    Transfer-Encoding: chunked\r\n\r\n";
        let head = parse_request(buf, 4096).unwrap().unwrap();
        let req = request(buf, &head, false).unwrap();
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri(), "http://grpc.test:50051/svc/Call?x=1");
        let names: Vec<&str> = req.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["content-type", "te"]);
        let buf = b"GET / HTTP/1.1\r\n\r\n";
        let head = parse_request(buf, 4096).unwrap().unwrap();
        assert_eq!(
            request(buf, &head, true).err(),
            Some(Unsendable),
            "no authority"
        );
    }

    /// A server's response head reads as HTTP/1.1, delimited as the stream will be.
    #[test]
    fn a_server_response_reads_as_http11() {
        let parts = |b: http::response::Builder| b.body(()).unwrap().into_parts().0;
        let mut out = Vec::new();
        let p = parts(
            http::Response::builder()
                .status(200)
                .header("content-type", "application/grpc"),
        );
        assert_eq!(write_response_head(&p, false, &mut out), BodyForm::Chunked);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        out.clear();
        let p = parts(http::Response::builder().status(404));
        assert_eq!(write_response_head(&p, true, &mut out), BodyForm::None);
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        out.clear();
        let p = parts(
            http::Response::builder()
                .status(200)
                .header("content-length", "5"),
        );
        assert_eq!(write_response_head(&p, false, &mut out), BodyForm::Length);
    }

    #[test]
    fn trailers_become_a_header_map() {
        let t = trailers(b"grpc-status: 0\r\ngrpc-message: ok\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(t["grpc-status"], "0");
        assert_eq!(t["grpc-message"], "ok");
        assert_eq!(trailers(b"\r\n").unwrap(), None);
        assert!(trailers(b"bad line\r\n\r\n").is_err());
        let mut out = Vec::new();
        last_chunk(Some(&t), &mut out);
        assert_eq!(out, b"0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n");
    }
}
