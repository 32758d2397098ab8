//! Log-format strings filled in for one stream: `%ci`, `%[req.hdr(host),lower]`, … written
//! into a caller's buffer. Used by rule values, dynamic `use_backend` names and the logs.

use std::io::Write;

use ringlb_config::logformat::{LogAlias, LogFlagKind, LogFormat, LogPart};

use crate::acl::fetch::{convert, fetch_each, to_bytes, unmap as unmapped};
use crate::acl::Txn;
use crate::http::head::Version;

/// Appends `lf` evaluated for `txn` to `out`. A variable with no value writes `-`, as
/// HAProxy does in logs; inside rule values an empty sample writes nothing.
pub fn render(lf: &LogFormat, txn: &Txn<'_>, out: &mut Vec<u8>) {
    let mut quote_all = false;
    for part in &lf.parts {
        match part {
            LogPart::Literal(s) => out.extend_from_slice(s.as_bytes()),
            LogPart::Options(flags) => {
                for f in flags {
                    if f.kind == LogFlagKind::Quote {
                        quote_all = f.enable;
                    }
                }
            }
            LogPart::Alias { alias, flags } => {
                let q = quoted(quote_all, flags);
                if q {
                    out.push(b'"');
                }
                alias_value(*alias, txn, out);
                if q {
                    out.push(b'"');
                }
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

fn alias_value(a: LogAlias, txn: &Txn<'_>, out: &mut Vec<u8>) {
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
        LogAlias::Frontend | LogAlias::FrontendTransport => {
            out.extend_from_slice(txn.frontend.as_bytes())
        }
        LogAlias::Backend => sample(txn.backend.map(str::as_bytes), out),
        LogAlias::Server => sample(txn.server.map(str::as_bytes), out),
        LogAlias::HttpMethod => sample(txn.method(), out),
        LogAlias::HttpUri => sample(txn.url(), out),
        LogAlias::HttpPath | LogAlias::HttpPathOnly => sample(txn.path(), out),
        LogAlias::HttpQuery => {
            if let Some(q) = txn.query() {
                out.push(b'?');
                out.extend_from_slice(q);
            }
        }
        LogAlias::HttpVersion => match txn.req.map(|r| r.version) {
            Some(Version::Http10) => out.extend_from_slice(b"HTTP/1.0"),
            Some(Version::Http11) => out.extend_from_slice(b"HTTP/1.1"),
            None => dash(out),
        },
        LogAlias::RequestLine => match (txn.method(), txn.url(), txn.req) {
            (Some(m), Some(u), Some(r)) => {
                out.extend_from_slice(m);
                out.push(b' ');
                out.extend_from_slice(u);
                out.extend_from_slice(match r.version {
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
        _ => dash(out),
    }
}
