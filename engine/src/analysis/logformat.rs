//! Log-format strings filled in for one stream: `%ci`, `%[req.hdr(host),lower]`, … written
//! into a caller's buffer. Used by rule values, dynamic `use_backend` names and the logs
//! (which add timers, counts and the termination state through [`LogInfo`]).

use std::io::Write;

use ringlb_config::logformat::{LogAlias, LogFlagKind, LogFormat, LogPart};

use crate::analysis::acl::fetch::{convert, fetch_each, to_bytes, unmap as unmapped};
use crate::analysis::log_line::{escape_capture, LogInfo};
use crate::analysis::unique_id;
use crate::codec::head::{values, Version};
use crate::stream::txn::Txn;
use crate::stream::vars::CaptureSide;

/// Appends `lf` evaluated for `txn` to `out`. A variable with no value writes `-`, as
/// HAProxy does in logs; inside rule values an empty sample writes nothing.
pub fn render(lf: &LogFormat, txn: &Txn<'_>, out: &mut Vec<u8>) {
    render_with(lf, txn, None, out);
}

/// Appends a traffic log line: `lf` evaluated for `txn` with the timers, counts and state
/// of `info`. A variable printing nothing (`%hr` without captures) takes one neighbouring
/// space with it, so that default layouts keep single spaces.
pub fn render_log(lf: &LogFormat, txn: &Txn<'_>, info: &LogInfo<'_>, out: &mut Vec<u8>) {
    render_with(lf, txn, Some(info), out);
}

fn render_with(lf: &LogFormat, txn: &Txn<'_>, info: Option<&LogInfo<'_>>, out: &mut Vec<u8>) {
    let mut quote_all = false;
    let mut hex_all = false;
    let mut skip_space = false;
    for part in &lf.parts {
        match part {
            LogPart::Literal(s) => {
                let s = s.as_bytes();
                let s = match s.split_first() {
                    Some((b' ', rest)) if skip_space => rest,
                    _ => s,
                };
                skip_space = false;
                out.extend_from_slice(s);
            }
            LogPart::Options(flags) => {
                // It prints nothing: the space after it is dropped where a space (or the
                // start of the line) precedes it, as HAProxy merges separators.
                skip_space = out.last().is_none_or(|&b| b == b' ');
                for f in flags {
                    if f.kind == LogFlagKind::Quote {
                        quote_all = f.enable;
                    }
                    if f.kind == LogFlagKind::Hex {
                        hex_all = f.enable;
                    }
                }
            }
            LogPart::Alias { alias, flags } => {
                let q = alias.is_text() && quoted(quote_all, flags);
                // The list forms of captures quote each value rather than the list.
                let list = matches!(
                    alias,
                    LogAlias::CapturedRequestHeadersList | LogAlias::CapturedResponseHeadersList
                );
                let outer = q && !list;
                let before = out.len();
                if outer {
                    out.push(b'"');
                }
                let hex = unique_id::hex_flag(hex_all, flags);
                if !(hex && unique_id::write_hex(*alias, txn, out)) {
                    alias_value(*alias, txn, info, q, out);
                }
                if outer {
                    // No value is `""` when quoted, `-` otherwise, as HAProxy writes it.
                    if out[before + 1..] == *b"-" {
                        out.truncate(before + 1);
                    }
                    out.push(b'"');
                }
                skip_space = out.len() == before && out.last() == Some(&b' ');
            }
            LogPart::Sample { expr, flags } => {
                let q = quoted(quote_all, flags);
                if q {
                    out.push(b'"');
                }
                fetch_each(&expr.fetch, txn, &mut |s| {
                    if let Some(v) = convert(s, &expr.converters).and_then(to_bytes) {
                        out.extend_from_slice(&v);
                    }
                    // The first value only, as HAProxy takes the last occurrence's place
                    // for single-valued use; one value keeps the output well-formed.
                    true
                });
                if q {
                    out.push(b'"');
                }
            }
        }
    }
}

fn quoted(all: bool, flags: &[ringlb_config::logformat::LogFlag]) -> bool {
    flags
        .iter()
        .rev()
        .find(|f| f.kind == LogFlagKind::Quote)
        .map_or(all, |f| f.enable)
}

/// Convenience: the format evaluated into a new buffer.
pub fn render_vec(lf: &LogFormat, txn: &Txn<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    render(lf, txn, &mut v);
    v
}

/// Appends the value of `a`; `quote`: the `Q` flag is on (the list forms of captures quote
/// each value).
fn alias_value(
    a: LogAlias,
    txn: &Txn<'_>,
    info: Option<&LogInfo<'_>>,
    quote: bool,
    out: &mut Vec<u8>,
) {
    if let Some(info) = info {
        if log_value(a, txn, info, quote, out) {
            return;
        }
    }
    let dash = |out: &mut Vec<u8>| out.push(b'-');
    let sample = |s: Option<&[u8]>, out: &mut Vec<u8>| match s {
        Some(v) => out.extend_from_slice(v),
        None => out.push(b'-'),
    };
    match a {
        LogAlias::ClientIp => {
            let _ = write!(out, "{}", unmapped(txn.src.ip()));
        }
        LogAlias::ClientPort => {
            let _ = write!(out, "{}", txn.src.port());
        }
        LogAlias::FrontendIp => {
            let _ = write!(out, "{}", unmapped(txn.dst.ip()));
        }
        LogAlias::FrontendPort => {
            let _ = write!(out, "{}", txn.dst.port());
        }
        LogAlias::Frontend => out.extend_from_slice(txn.frontend.as_bytes()),
        // HAProxy marks a TLS connection's frontend with `~`.
        LogAlias::FrontendTransport => {
            out.extend_from_slice(txn.frontend.as_bytes());
            if txn.tls.is_some() {
                out.push(b'~');
            }
        }
        LogAlias::SslVersion => sample(
            txn.tls.and_then(|t| t.version_name()).map(str::as_bytes),
            out,
        ),
        LogAlias::SslCipher => sample(
            txn.tls
                .and_then(|t| t.suite())
                .map(|s| s.openssl_name().as_bytes()),
            out,
        ),
        LogAlias::Backend => sample(txn.backend.map(str::as_bytes), out),
        LogAlias::Server => sample(txn.server.map(str::as_bytes), out),
        LogAlias::HttpMethod => sample(txn.method(), out),
        LogAlias::HttpUri => match txn.url() {
            Some(u) => logged_url(txn, u, out),
            None => dash(out),
        },
        LogAlias::HttpPath | LogAlias::HttpPathOnly => sample(txn.path(), out),
        LogAlias::HttpQuery => {
            if let Some(q) = txn.query() {
                out.push(b'?');
                out.extend_from_slice(q);
            }
        }
        LogAlias::HttpVersion => match txn.req.map(|r| r.version) {
            Some(_) if txn.h2 => out.extend_from_slice(b"HTTP/2.0"),
            Some(Version::Http10) => out.extend_from_slice(b"HTTP/1.0"),
            Some(Version::Http11) => out.extend_from_slice(b"HTTP/1.1"),
            None => dash(out),
        },
        LogAlias::RequestLine => match (txn.method(), txn.url(), txn.req) {
            (Some(m), Some(u), Some(r)) => {
                out.extend_from_slice(m);
                out.push(b' ');
                logged_url(txn, u, out);
                out.extend_from_slice(match r.version {
                    _ if txn.h2 => b" HTTP/2.0",
                    Version::Http10 => b" HTTP/1.0",
                    Version::Http11 => b" HTTP/1.1",
                });
            }
            _ => dash(out),
        },
        LogAlias::Status => match txn.res {
            Some((_, r)) => {
                let _ = write!(out, "{}", r.status);
            }
            None => dash(out),
        },
        LogAlias::Pid => {
            let _ = write!(out, "{}", std::process::id());
        }
        LogAlias::Hostname => out.extend_from_slice(crate::io::host::hostname().as_bytes()),
        LogAlias::UniqueId => sample(unique_id::of(txn).as_deref(), out),
        LogAlias::RequestCounter => {
            let _ = write!(out, "{}", unique_id::request_number(txn));
        }
        LogAlias::StartTimestamp => {
            let _ = write!(out, "{}", unique_id::unix_now());
        }
        _ => dash(out),
    }
}

/// The request's target as HAProxy logs it: an HTTP/2 request (whose `:scheme` and
/// `:authority` HAProxy keeps as an absolute URI) as `scheme://authority/path`, any other
/// as it came. The rules still see the path-form target an HTTP/1.1 request would have.
fn logged_url(txn: &Txn<'_>, url: &[u8], out: &mut Vec<u8>) {
    if txn.h2 && url.starts_with(b"/") {
        if let Some(host) = txn.header_lines("host").next() {
            out.extend_from_slice(if txn.tls.is_some() {
                b"https://"
            } else {
                b"http://"
            });
            out.extend_from_slice(crate::codec::head::trim(host));
        }
    }
    out.extend_from_slice(url);
}

/// The variables only a log line has; `false` for the ones the stream answers.
fn log_value(
    a: LogAlias,
    txn: &Txn<'_>,
    info: &LogInfo<'_>,
    quote: bool,
    out: &mut Vec<u8>,
) -> bool {
    let num = |out: &mut Vec<u8>, n: i64| {
        let _ = write!(out, "{n}");
    };
    let t = &info.timers;
    match a {
        LogAlias::BytesRead => num(out, info.bytes_out as i64),
        LogAlias::BytesUploaded => num(out, info.bytes_in as i64),
        LogAlias::Status => num(out, info.status.map_or(-1, i64::from)),
        LogAlias::Server if txn.server.is_none() => out.extend_from_slice(b"<NOSRV>"),
        LogAlias::Backend if txn.backend.is_none() => {
            out.extend_from_slice(txn.frontend.as_bytes())
        }
        LogAlias::CapturedRequestCookie | LogAlias::CapturedResponseCookie => out.push(b'-'),
        // No handshake and no idle time are counted before a request: Tq is TR.
        LogAlias::RequestTime | LogAlias::RequestReceiveTime => num(out, t.tq),
        LogAlias::QueueTime => num(out, t.tw),
        LogAlias::ConnectTime => num(out, t.tc),
        LogAlias::ResponseTime => num(out, t.tr),
        LogAlias::ActiveTime => num(out, t.ta),
        LogAlias::SessionTime | LogAlias::UserTime => num(out, t.tt),
        LogAlias::HandshakeTime | LogAlias::IdleTime => num(out, 0),
        LogAlias::DataTime => {
            let parts = [t.tq, t.tw, t.tc, t.tr];
            if t.tt < 0 || parts.iter().any(|&p| p < 0) {
                num(out, -1)
            } else {
                num(out, t.tt - parts.iter().sum::<i64>())
            }
        }
        LogAlias::Date | LogAlias::RequestDate => info.date.write_log_date(out, true),
        LogAlias::DateGmt | LogAlias::RequestDateGmt => info.date.write_gmt_date(out),
        LogAlias::RequestDateLocal => info.date.write_local_date(out),
        LogAlias::Milliseconds => {
            let _ = write!(out, "{:03}", info.date.millis);
        }
        LogAlias::LogCounter => num(out, info.log_counter as i64),
        LogAlias::ServerIp | LogAlias::BackendIp | LogAlias::ServerPort | LogAlias::BackendPort => {
            let Some((server, local)) = info.server_conn else {
                out.push(b'-');
                return true;
            };
            let at = if matches!(a, LogAlias::ServerIp | LogAlias::ServerPort) {
                server
            } else {
                local
            };
            if matches!(a, LogAlias::ServerIp | LogAlias::BackendIp) {
                let _ = write!(out, "{}", unmapped(at.ip()));
            } else {
                num(out, i64::from(at.port()));
            }
        }
        LogAlias::ActConn => num(out, info.conns[0] as i64),
        LogAlias::FeConn => num(out, info.conns[1] as i64),
        LogAlias::BeConn => num(out, info.conns[2] as i64),
        LogAlias::SrvConn => num(out, info.conns[3] as i64),
        LogAlias::RetriesCount => num(out, info.conns[4] as i64),
        LogAlias::ServerQueue => num(out, info.queues[0] as i64),
        LogAlias::BackendQueue => num(out, info.queues[1] as i64),
        LogAlias::TerminationState => out.extend_from_slice(&info.state),
        LogAlias::TerminationStateCookie => {
            out.extend_from_slice(&info.state);
            out.extend_from_slice(b"--");
        }
        LogAlias::CapturedRequestHeaders | LogAlias::CapturedRequestHeadersList => {
            if info.request_captures.is_empty() {
                return true;
            }
            let braces = a == LogAlias::CapturedRequestHeaders;
            let ruled = txn.vars.map(|v| v.captures());
            let caps = info
                .request_captures
                .iter()
                .enumerate()
                .map(|(i, (name, len))| {
                    let v = rule_capture(ruled.as_deref(), CaptureSide::Request, i).or_else(|| {
                        txn.req
                            .and_then(|r| values(txn.buf, &r.headers, name).last())
                    });
                    v.map(|v| &v[..v.len().min(*len)])
                });
            captured_block(caps, braces, quote && !braces, out);
        }
        LogAlias::CapturedResponseHeaders | LogAlias::CapturedResponseHeadersList => {
            if info.response_capture_slots == 0 {
                return true;
            }
            let braces = a == LogAlias::CapturedResponseHeaders;
            let ruled = txn.vars.map(|v| v.captures());
            let caps = (0..info.response_capture_slots).map(|i| {
                rule_capture(ruled.as_deref(), CaptureSide::Response, i)
                    .or_else(|| info.response_captures.get(i).and_then(|v| v.as_deref()))
            });
            captured_block(caps, braces, quote && !braces, out);
        }
        LogAlias::RequestLine if info.bad_request => out.extend_from_slice(b"<BADREQ>"),
        _ => return false,
    }
    true
}

/// What an `http-request`/`http-response capture` rule put in a slot: it takes the place
/// of the header the slot declares.
fn rule_capture(
    ruled: Option<&[(CaptureSide, usize, Vec<u8>)]>,
    side: CaptureSide,
    slot: usize,
) -> Option<&[u8]> {
    ruled?
        .iter()
        .find(|(s, i, _)| *s == side && *i == slot)
        .map(|(_, _, v)| v.as_slice())
}

/// `{v1|v2}` (or `v1 v2` for the list form) with each value escaped; `quote_each`: each
/// value in double quotes (`"v1" "v2"`, the list form under the `Q` flag).
fn captured_block<'v>(
    caps: impl Iterator<Item = Option<&'v [u8]>>,
    braces: bool,
    quote_each: bool,
    out: &mut Vec<u8>,
) {
    if braces {
        out.push(b'{');
    }
    for (i, v) in caps.enumerate() {
        if i > 0 {
            out.push(if braces { b'|' } else { b' ' });
        }
        if quote_each {
            out.push(b'"');
        }
        if let Some(v) = v {
            escape_capture(v, out);
        }
        if quote_each {
            out.push(b'"');
        }
    }
    if braces {
        out.push(b'}');
    }
}
