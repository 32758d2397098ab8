//! Replies the rules make the proxy send: `return` with log-format values, `deny`,
//! `auth` (401), `redirect`, and the monitor answers.

use ringlb_config::rules::{LogFormat, Redirect, RedirectKind, ReturnBody, ReturnSpec};

use crate::analysis::errors::{default_error, error_response, ErrorPages};
use crate::analysis::logformat::render;
use crate::codec::status::reason;
use crate::stream::txn::Txn;

fn status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
}

fn end_head(out: &mut Vec<u8>, body_len: usize, close: bool) {
    out.extend_from_slice(format!("Content-Length: {body_len}\r\n").as_bytes());
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The reply of `http-request return`, `deny` or `tarpit` with its spec: log-format
/// values are filled in for `txn`. A spec with no body and no header is the proxy's error
/// page for its status (the `errorfile`/`errorloc` replacing it first).
pub fn spec_reply(spec: &ReturnSpec, close: bool, txn: &Txn<'_>, pages: &[&ErrorPages]) -> Vec<u8> {
    let lf = |f: &LogFormat| {
        let mut v = Vec::new();
        render(f, txn, &mut v);
        v
    };
    let body: Vec<u8> = match &spec.body {
        ReturnBody::None if spec.headers.is_empty() && spec.status >= 400 => {
            return error_response(pages, spec.status)
        }
        ReturnBody::None => Vec::new(),
        ReturnBody::String(s) => s.as_bytes().to_vec(),
        ReturnBody::LfString(f) => lf(f),
        ReturnBody::File { contents, .. } => contents.clone(),
        ReturnBody::LfFile { format, .. } => lf(format),
        ReturnBody::ErrorFile { contents, .. } => return contents.clone(),
        // `errorfiles NAME` is resolved when rules compile; one left is `default-errorfiles`.
        ReturnBody::DefaultErrorfiles | ReturnBody::ErrorFiles { .. } => {
            return pages
                .iter()
                .find_map(|p| p.get(spec.status))
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|| default_error(spec.status))
        }
    };
    let mut out = Vec::with_capacity(128 + body.len());
    status_line(&mut out, spec.status);
    if let Some(ct) = &spec.content_type {
        out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
    }
    for (name, value) in &spec.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&lf(value));
        out.extend_from_slice(b"\r\n");
    }
    end_head(&mut out, body.len(), close);
    out.extend_from_slice(&body);
    out
}

/// 401 asking for Basic credentials in `realm`.
pub fn auth_reply(realm: &str, close: bool) -> Vec<u8> {
    let body = b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
    let mut out = Vec::with_capacity(256 + body.len());
    status_line(&mut out, 401);
    out.extend_from_slice(b"Content-Type: text/html\r\nCache-Control: no-cache\r\n");
    out.extend_from_slice(format!("WWW-Authenticate: Basic realm=\"{realm}\"\r\n").as_bytes());
    end_head(&mut out, body.len(), close);
    out.extend_from_slice(body);
    out
}

/// The `Location` of a redirect for the request in `txn`.
pub fn redirect_location(r: &Redirect, txn: &Txn<'_>) -> Vec<u8> {
    let mut value = Vec::new();
    render(&r.target, txn, &mut value);
    let path = txn.path().unwrap_or(b"/");
    let query = txn.query();
    let mut loc = Vec::with_capacity(value.len() + 64);
    let tail = |loc: &mut Vec<u8>| {
        loc.extend_from_slice(path);
        if r.append_slash && !path.ends_with(b"/") {
            loc.push(b'/');
        }
        if let (false, Some(q)) = (r.drop_query, query) {
            loc.push(b'?');
            loc.extend_from_slice(q);
        }
    };
    match r.kind {
        RedirectKind::Location => loc = value,
        RedirectKind::Prefix => {
            // A prefix of `/` keeps the path as it is (a redirect to the same host).
            if value != b"/" {
                loc.extend_from_slice(value.strip_suffix(b"/").unwrap_or(&value));
            }
            tail(&mut loc);
        }
        RedirectKind::Scheme => {
            loc.extend_from_slice(&value);
            loc.extend_from_slice(b"://");
            if let Some(host) = txn.header_lines("host").next() {
                loc.extend_from_slice(host);
            }
            tail(&mut loc);
        }
    }
    loc
}

/// The redirect response.
pub fn redirect_reply(r: &Redirect, txn: &Txn<'_>, close: bool) -> Vec<u8> {
    let loc = redirect_location(r, txn);
    let mut out = Vec::with_capacity(160 + loc.len());
    status_line(&mut out, r.code);
    out.extend_from_slice(b"Location: ");
    out.extend_from_slice(&loc);
    out.extend_from_slice(b"\r\nCache-Control: no-cache\r\n");
    if let Some(c) = &r.set_cookie {
        let v = c.value.as_deref().unwrap_or("");
        out.extend_from_slice(format!("Set-Cookie: {}={v}; path=/\r\n", c.name).as_bytes());
    }
    if let Some(c) = &r.clear_cookie {
        out.extend_from_slice(
            format!("Set-Cookie: {c}=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/\r\n")
                .as_bytes(),
        );
    }
    end_head(&mut out, 0, close);
    out
}

/// The answer for a server with `redir PREFIX` (HAProxy's `http_perform_server_redirect`):
/// a 302 to the prefix followed by the request's path and query, a prefix of `/` keeping
/// the path alone. The connection closes after it, as in HAProxy.
pub fn server_redirect_reply(prefix: &str, txn: &Txn<'_>) -> Vec<u8> {
    let url = txn.url().unwrap_or(b"/");
    // The path and what follows it, without the `scheme://authority` of an absolute URI.
    let path = crate::codec::head::path_of(url).0;
    let from = (path.as_ptr() as usize).saturating_sub(url.as_ptr() as usize);
    let tail = url.get(from..).unwrap_or(url);
    let mut out = Vec::with_capacity(128 + prefix.len() + tail.len());
    status_line(&mut out, 302);
    out.extend_from_slice(b"Cache-Control: no-cache\r\nContent-Length: 0\r\nLocation: ");
    if prefix != "/" {
        out.extend_from_slice(prefix.as_bytes());
    }
    out.extend_from_slice(tail);
    out.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    out
}

/// The answer to the monitor URI: 200, or 503 while a `monitor fail` condition holds.
pub fn monitor_reply(failing: bool, close: bool) -> Vec<u8> {
    let status = if failing { 503 } else { 200 };
    let body = format!(
        "<html><body><h1>{status} {}</h1>\n{}\n</body></html>\n",
        reason(status),
        if failing {
            "Service unavailable."
        } else {
            "Service ready."
        }
    );
    let mut out = Vec::with_capacity(160 + body.len());
    status_line(&mut out, status);
    out.extend_from_slice(b"Content-Type: text/html\r\nCache-Control: no-cache\r\n");
    end_head(&mut out, body.len(), close);
    out.extend_from_slice(body.as_bytes());
    out
}
