//! Sample fetches read in place: the request head as offsets into the read buffer, the
//! connection's addresses, the response head, and the worker's server counts.

use std::borrow::Cow;
use std::net::IpAddr;

use ringlb_config::acl::{Converter, Fetch, SslFetch};

use crate::io::tls::TlsStream;

use crate::analysis::acl::payload;
use crate::codec::head::Version;
use crate::stream::inspected::{Extract, Inspected};
use crate::stream::sample::Sample;
use crate::stream::txn::Txn;

/// Calls `f` with each value `fetch` yields, stopping at the first for which it returns
/// true; returns whether one did. Multi-valued fetches (`hdr` without an occurrence) yield
/// every comma-separated value of every line, as HAProxy's `hdr` does.
pub fn fetch_each<'a>(fetch: &Fetch, txn: &Txn<'a>, f: &mut dyn FnMut(Sample<'a>) -> bool) -> bool {
    let s = |b: &'a [u8]| Sample::Str(Cow::Borrowed(b));
    match fetch {
        Fetch::Src => f(Sample::Ip(unmap(txn.src.ip()))),
        Fetch::SrcPort => f(Sample::Int(i64::from(txn.src.port()))),
        Fetch::Dst => f(Sample::Ip(unmap(txn.dst.ip()))),
        Fetch::DstPort => f(Sample::Int(i64::from(txn.dst.port()))),
        Fetch::Method => txn.method().is_some_and(|m| f(s(m))),
        Fetch::Path => txn.path().is_some_and(|p| f(s(p))),
        Fetch::Url => txn.url().is_some_and(|u| f(s(u))),
        Fetch::Query => txn.query().is_some_and(|q| f(s(q))),
        Fetch::Base => {
            // Host header then path; built only for this rarely used fetch.
            let (Some(host), Some(path)) = (txn.header_lines("host").next(), txn.path()) else {
                return false;
            };
            let mut v = host.to_vec();
            v.extend_from_slice(path);
            f(Sample::Str(Cow::Owned(v)))
        }
        Fetch::ReqVer => match txn.req.map(|h| h.version) {
            Some(_) if txn.h2 => f(s(b"2.0")),
            Some(Version::Http10) => f(s(b"1.0")),
            Some(Version::Http11) => f(s(b"1.1")),
            None => false,
        },
        Fetch::ReqLen => {
            // More bytes may come while a `mode tcp` stream is inspected.
            if let Some(p) = txn.payload {
                p.may_change();
            }
            f(Sample::Int(txn.buf.len() as i64))
        }
        Fetch::ReqProtoHttp => f(Sample::Bool(txn.req.is_some())),
        Fetch::ReqRdpCookieCnt => f(Sample::Int(0)),
        // True once a `mode tcp` stream waits no more: `tcp-request content accept if
        // WAIT_END` holds the connection for the whole inspect-delay. HTTP streams are read
        // whole before rules run.
        Fetch::WaitEnd => match txn.payload {
            Some(p) if !p.done => {
                p.may_change();
                false
            }
            _ => f(Sample::Bool(true)),
        },
        Fetch::ReqSslSni => from_payload(
            txn,
            |p| p.server_name(payload::server_name),
            |n| f(s(n.as_bytes())),
        ),
        Fetch::ReqSslHelloType => from_payload(
            txn,
            |p| match payload::hello_type(p.bytes) {
                // The header counts the hello's bytes, not the headers of the records it
                // may be fragmented into: it is whole once rustls can read it, so that
                // `accept if { req.ssl_hello_type 1 }` leaves `req.ssl_sni` something to read.
                Extract::Found(1) if p.server_name(payload::server_name) == Extract::Short => {
                    Extract::Short
                }
                other => other,
            },
            |t| f(Sample::Int(t)),
        ),
        Fetch::ReqSslVer => from_payload(
            txn,
            |p| payload::ssl_version(p.bytes),
            |v| f(Sample::Int(v)),
        ),
        Fetch::ReqPayload { offset, length } => from_payload(
            txn,
            |p| {
                // All that is buffered from `offset` may still grow.
                if *length == 0 {
                    p.may_change();
                }
                payload::slice(p.bytes, *offset, *length)
            },
            |v| f(s(v)),
        ),
        Fetch::ReqPayloadLv {
            len_offset,
            len_size,
            data,
        } => from_payload(
            txn,
            |p| payload::length_value(p.bytes, *len_offset, *len_size, *data),
            |v| f(s(v)),
        ),
        Fetch::ReqHdr { name, occ } => {
            txn.req.is_some() && header_values(txn.request_lines(), name.as_deref(), *occ, f)
        }
        Fetch::ResHdr { name, occ } => {
            let Some((buf, res)) = txn.res else {
                return false;
            };
            let lines = res
                .headers
                .iter()
                .map(|h| (&buf[h.name.clone()], &buf[h.value.clone()]));
            header_values(lines, name.as_deref(), *occ, f)
        }
        Fetch::ReqHdrCnt { name } => {
            if txn.req.is_none() {
                return false;
            }
            let mut n = 0;
            header_values(txn.request_lines(), name.as_deref(), None, &mut |_| {
                n += 1;
                false
            });
            f(Sample::Int(n))
        }
        Fetch::ReqCook { name } => cookies(txn, name.as_deref(), &mut |v| f(s(v))),
        Fetch::ReqCookCnt { name } => {
            let mut n = 0;
            cookies(txn, name.as_deref(), &mut |_| {
                n += 1;
                false
            });
            f(Sample::Int(n))
        }
        Fetch::UrlParam { name } => {
            let Some(q) = txn.query() else { return false };
            q.split(|&b| b == b'&' || b == b';').any(|kv| {
                let (k, v) = match memchr::memchr(b'=', kv) {
                    Some(i) => (&kv[..i], &kv[i + 1..]),
                    None => (kv, &kv[kv.len()..]),
                };
                match name {
                    Some(n) if k != n.as_bytes() => false,
                    _ => f(s(v)),
                }
            })
        }
        Fetch::Nbsrv { backend } => {
            let name = backend.as_deref().or(txn.backend);
            match name.and_then(|n| (txn.nbsrv)(n)) {
                Some(n) => f(Sample::Int(n as i64)),
                None => false,
            }
        }
        Fetch::BeName => txn.backend.is_some_and(|b| f(s(b.as_bytes()))),
        Fetch::FeName => f(s(txn.frontend.as_bytes())),
        Fetch::UniqueId => {
            crate::analysis::unique_id::of(txn).is_some_and(|v| f(Sample::Str(Cow::Owned(v))))
        }
        Fetch::SrvName => txn.server.is_some_and(|v| f(s(v.as_bytes()))),
        Fetch::Status => txn
            .res
            .is_some_and(|(_, r)| f(Sample::Int(i64::from(r.status)))),
        // Evaluated by the compiled ACL, which holds the userlist; a log-format value has
        // none to check against.
        Fetch::HttpAuth { .. } | Fetch::HttpAuthGroup { .. } => false,
        Fetch::Var { var, default } => match crate::stream::vars::Vars::read(txn.vars, var) {
            Some(v) => f(v),
            None => default
                .as_ref()
                .is_some_and(|d| f(Sample::Str(Cow::Owned(d.clone().into_bytes())))),
        },
        Fetch::Str(v) => f(Sample::Str(Cow::Owned(v.clone().into_bytes()))),
        Fetch::Int(n) => f(Sample::Int(*n)),
        Fetch::AlwaysTrue => f(Sample::Bool(true)),
        Fetch::AlwaysFalse => f(Sample::Bool(false)),
        Fetch::Ssl(which) => ssl_fetch(*which, txn.tls).is_some_and(f),
    }
}

/// A TLS fetch of the client connection: `None` when it has no value (not TLS, no name
/// sent, no certificate presented), as HAProxy's fetches then fail.
fn ssl_fetch(which: SslFetch, tls: Option<&TlsStream>) -> Option<Sample<'static>> {
    use ringlb_config::tls as x509;
    let owned = |v: Vec<u8>| Sample::Str(Cow::Owned(v));
    let text = |v: &str| owned(v.as_bytes().to_vec());
    if which == SslFetch::Fc {
        return Some(Sample::Bool(tls.is_some()));
    }
    let t = tls?;
    Some(match which {
        SslFetch::Fc => unreachable!("answered above"),
        SslFetch::FcSni => text(&t.sni()?),
        SslFetch::FcHasSni => Sample::Bool(t.sni().is_some()),
        SslFetch::FcProtocol => text(t.version_name()?),
        SslFetch::FcCipher => text(t.suite()?.openssl_name()),
        SslFetch::FcAlpn => owned(t.alpn()?),
        SslFetch::FcIsResumed => Sample::Bool(t.resumed()),
        SslFetch::FcKeysize => Sample::Int(i64::from(t.suite()?.key_bits())),
        SslFetch::CUsed => Sample::Bool(t.peer_cert().is_some()),
        // A certificate that fails verification ends the handshake: any seen here passed.
        SslFetch::CVerify => Sample::Int(0),
        SslFetch::CSDn => text(&x509::cert_dn(&t.peer_cert()?, false)?),
        SslFetch::CIDn => text(&x509::cert_dn(&t.peer_cert()?, true)?),
        SslFetch::CSerial => owned(x509::cert_serial(&t.peer_cert()?)?),
        SslFetch::CSha1 => owned(
            aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                &t.peer_cert()?,
            )
            .as_ref()
            .to_vec(),
        ),
        SslFetch::CNotBefore => text(&x509::cert_time(&t.peer_cert()?, false)?),
        SslFetch::CNotAfter => text(&x509::cert_time(&t.peer_cert()?, true)?),
    })
}

/// Calls `f` with what `read` finds in the bytes a `mode tcp` stream buffered. Bytes still
/// missing are noted so that a content rule waits for them; an HTTP stream has no such
/// bytes, and the fetch no value, as in HAProxy.
fn from_payload<'a, T>(
    txn: &Txn<'a>,
    read: impl FnOnce(&'a Inspected<'a>) -> Extract<T>,
    f: impl FnOnce(T) -> bool,
) -> bool {
    let Some(p) = txn.payload else { return false };
    match read(p) {
        Extract::Found(v) => f(v),
        Extract::Absent => false,
        Extract::Short => {
            p.may_change();
            false
        }
    }
}

/// The first value of `fetch` after `converters` (what `set-var` and `capture` store).
pub fn first_value<'a>(
    fetch: &Fetch,
    converters: &[Converter],
    txn: &Txn<'a>,
) -> Option<Sample<'a>> {
    let mut got = None;
    fetch_each(fetch, txn, &mut |s| {
        got = convert(s, converters);
        got.is_some()
    });
    got
}

/// IPv4 clients on a dual-stack socket show up as `::ffff:a.b.c.d`; fetches give `a.b.c.d`.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Header values: every comma-separated item when `occ` is `None`, else the `occ`th item
/// (negative from the last). A missing name means every header.
fn header_values<'a>(
    lines: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    name: Option<&str>,
    occ: Option<i32>,
    f: &mut dyn FnMut(Sample<'a>) -> bool,
) -> bool {
    let items = || {
        lines
            .clone()
            .filter(move |(n, _)| match name {
                Some(want) => n.eq_ignore_ascii_case(want.as_bytes()),
                None => true,
            })
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .map(crate::codec::head::trim)
    };
    let item = match occ {
        None => return items().any(|v| f(Sample::Str(Cow::Borrowed(v)))),
        Some(n) if n > 0 => items().nth(n as usize - 1),
        Some(n) => {
            let count = items().count();
            count
                .checked_sub(n.unsigned_abs() as usize)
                .and_then(|i| items().nth(i))
        }
    };
    item.is_some_and(|v| f(Sample::Str(Cow::Borrowed(v))))
}

/// Values of the request cookies named `name` (every cookie when `None`).
fn cookies<'a>(txn: &Txn<'a>, name: Option<&str>, f: &mut dyn FnMut(&'a [u8]) -> bool) -> bool {
    txn.header_lines("cookie")
        .flat_map(|line| line.split(|&b| b == b';'))
        .any(|c| {
            let c = crate::codec::head::trim(c);
            let (k, v) = match memchr::memchr(b'=', c) {
                Some(i) => (&c[..i], &c[i + 1..]),
                None => (c, &c[c.len()..]),
            };
            match name {
                Some(n) if k != n.as_bytes() => false,
                _ => f(v),
            }
        })
}

/// Applies converters in order. `lower`/`upper`/`hex`/`base64` build a new value; the
/// compiler folds `lower`/`upper` away for string matches, so they only allocate before a
/// regex or in a log-format value.
pub fn convert<'a>(mut s: Sample<'a>, converters: &[Converter]) -> Option<Sample<'a>> {
    for c in converters {
        s = match c {
            Converter::Lower | Converter::Upper => {
                let mut v = to_bytes(s)?.into_owned();
                if *c == Converter::Lower {
                    v.make_ascii_lowercase()
                } else {
                    v.make_ascii_uppercase()
                }
                Sample::Str(Cow::Owned(v))
            }
            Converter::Length => Sample::Int(to_bytes(s)?.len() as i64),
            Converter::Hex => {
                let b = to_bytes(s)?;
                let mut v = Vec::with_capacity(b.len() * 2);
                for x in b.iter() {
                    v.extend_from_slice(format!("{x:02X}").as_bytes());
                }
                Sample::Str(Cow::Owned(v))
            }
            Converter::Base64 => Sample::Str(Cow::Owned(base64(&to_bytes(s)?))),
            Converter::Field {
                index,
                delimiters,
                count,
            }
            | Converter::Word {
                index,
                delimiters,
                count,
            } => {
                let skip_empty = matches!(c, Converter::Word { .. });
                let b = to_bytes(s)?;
                let range = field(
                    &b,
                    *index,
                    delimiters.as_bytes(),
                    count.unwrap_or(1),
                    skip_empty,
                )?;
                Sample::Str(match b {
                    Cow::Borrowed(b) => Cow::Borrowed(&b[range]),
                    Cow::Owned(v) => Cow::Owned(v[range].to_vec()),
                })
            }
        };
    }
    Some(s)
}

/// A sample as bytes; integers and addresses are written out (rare, so they allocate).
pub fn to_bytes(s: Sample<'_>) -> Option<Cow<'_, [u8]>> {
    Some(match s {
        Sample::Str(b) => b,
        Sample::Int(n) => Cow::Owned(n.to_string().into_bytes()),
        Sample::Ip(ip) => Cow::Owned(ip.to_string().into_bytes()),
        Sample::Bool(b) => Cow::Borrowed(if b { b"1" } else { b"0" }),
    })
}

/// The byte range of `count` fields starting at the `index`th (1-based, negative from the end).
fn field(
    b: &[u8],
    index: i32,
    delims: &[u8],
    count: i32,
    skip_empty: bool,
) -> Option<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, x) in b.iter().enumerate() {
        if delims.contains(x) {
            spans.push(start..i);
            start = i + 1;
        }
    }
    spans.push(start..b.len());
    if skip_empty {
        spans.retain(|r| !r.is_empty());
    }
    let n = spans.len() as i32;
    let first = if index > 0 { index - 1 } else { n + index };
    if first < 0 || first >= n {
        return None;
    }
    let last = if count <= 0 {
        n - 1
    } else {
        (first + count - 1).min(n - 1)
    };
    Some(spans[first as usize].start..spans[last as usize].end)
}

/// Standard base64 with padding (the `base64` converter).
pub fn base64(b: &[u8]) -> Vec<u8> {
    use base64ct::Encoding;
    base64ct::Base64::encode_string(b).into_bytes()
}
