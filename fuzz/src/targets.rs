//! Fuzz target bodies, shared by the `cargo fuzz` binaries and the stable test that replays
//! the committed corpora: each takes arbitrary bytes and panics only on a real bug (a crash
//! or a broken invariant stated beside the assertion).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;

use ringlb::analysis::rules::ProxyRules;
use ringlb::codec::chunked::{ChunkError, ChunkedDecoder};
use ringlb::codec::conn_mode::ConnectionTokens;
use ringlb::codec::edits::HeadEdits;
use ringlb::codec::framing::{request_framing, response_framing};
use ringlb::codec::head::{
    parse_request, parse_response, HeadError, RequestHead, Version, MAX_HEADERS,
};
use ringlb::codec::rewrite::{
    write_request_head, write_response_head, RequestRewrite, ResponseRewrite,
};
use ringlb::stream::txn::Txn;

/// Head limit used by the targets, the default `tune.bufsize` minus `tune.maxrewrite`.
const HEAD_LIMIT: usize = 16384 - 1024;

/// Rules whose edits copy request bytes into new headers and a new path, so the rewriter
/// writes attacker-chosen bytes.
const REWRITE_RULES: &str = "\
frontend f
 mode http
 bind :80
 http-request set-header X-Copy %[req.hdr(host)]
 http-request add-header X-Path %[path]
 http-request del-header X-Drop
 http-request replace-path /old(.*) /new\\1
 http-request replace-header User-Agent (.*) ua-\\1
 default_backend b
backend b
 mode http
 server s 127.0.0.1:1
";

fn compile(text: &str) -> Option<ProxyRules> {
    let loaded = ringlb_config::parse_str(text, Path::new("fuzz.cfg"));
    ProxyRules::compile(loaded.config?.proxy("f")?).ok()
}

fn rewrite_rules() -> &'static ProxyRules {
    static RULES: OnceLock<ProxyRules> = OnceLock::new();
    RULES.get_or_init(|| compile(REWRITE_RULES).expect("the rewrite rules compile"))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

/// A request on frontend `f` from `src` to `dst`, its head parsed from `buf`.
fn request_txn<'a>(
    buf: &'a [u8],
    head: &'a RequestHead,
    (src, dst): (&str, &str),
    nbsrv: &'a dyn Fn(&str) -> Option<usize>,
) -> Txn<'a> {
    Txn {
        buf,
        req: Some(head),
        ..Txn::connection(addr(src), addr(dst), "f", nbsrv)
    }
}

/// A request head parsed, framed, run through the rewrite rules and written for the server.
/// Invariant: what the proxy writes parses again as one complete head with the same method,
/// version and framing, so the server cannot read the body differently from the proxy.
pub fn request_head(data: &[u8]) {
    let Ok(Some(head)) = parse_request(data, HEAD_LIMIT) else {
        return;
    };
    let tokens = ConnectionTokens::parse(data, &head.headers);
    let Ok(framing) = request_framing(data, &head, tokens) else {
        return;
    };
    let nbsrv = |_: &str| Some(1usize);
    let txn = request_txn(data, &head, ("192.0.2.7:5000", "198.51.100.1:80"), &nbsrv);
    let mut edits = HeadEdits::default();
    let _ = rewrite_rules().http_request(&txn, &mut edits);
    let mut out = Vec::new();
    let rw = RequestRewrite {
        server_close: data.len() & 1 == 0,
        forwarded_for: Some(("X-Forwarded-For", txn.src.ip())),
        original_to: Some(("X-Original-To", txn.dst.ip())),
        upgrade: framing.upgrade.is_some(),
    };
    write_request_head(&mut out, data, &head, &rw, &edits);
    let again = match parse_request(&out, usize::MAX) {
        Ok(Some(h)) => h,
        // Lines the proxy adds can take a head that had room under `MAX_HEADERS` past it:
        // a limit of this parser, not a second way to frame the message.
        Err(HeadError::TooManyHeaders)
            if head.headers.len() + 3 + edits.added.len() > MAX_HEADERS =>
        {
            return
        }
        other => panic!(
            "rewritten head does not parse ({other:?}): {:?}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(again.len, out.len(), "rewritten head is one head");
    assert_eq!(again.version, head.version);
    assert_eq!(
        &out[again.method.clone()],
        edits
            .method
            .as_deref()
            .unwrap_or(&data[head.method.clone()])
    );
    let tokens_again = ConnectionTokens::parse(&out, &again.headers);
    let framing_again =
        request_framing(&out, &again, tokens_again).expect("rewritten framing is valid");
    assert_eq!(
        framing_again.body, framing.body,
        "the server frames the body alike"
    );
    assert_eq!(
        framing_again.upgrade.is_some(),
        framing.upgrade.is_some(),
        "the server sees the same upgrade request"
    );
}

/// A response head parsed, framed and written for the client. Invariant: the written head
/// parses again with the same status, and a body the proxy frames by length or chunks is
/// framed the same way by the client.
pub fn response_head(data: &[u8]) {
    let Ok(Some(head)) = parse_response(data, HEAD_LIMIT) else {
        return;
    };
    let is_head_request = data.last().is_some_and(|b| b & 4 != 0);
    let Ok(kind) = response_framing(data, &head, is_head_request) else {
        return;
    };
    let mut out = Vec::new();
    let rw = ResponseRewrite {
        client_close: data.len() & 1 == 0,
        client_version: Version::Http11,
        drop_length: matches!(
            kind,
            ringlb::codec::framing::BodyKind::Chunked
                | ringlb::codec::framing::BodyKind::UntilClose
        ),
        upgrade: false,
    };
    write_response_head(&mut out, data, &head, &rw, &HeadEdits::default());
    let again = match parse_response(&out, usize::MAX) {
        Ok(Some(h)) => h,
        // The `Connection` line the proxy adds, as for requests.
        Err(HeadError::TooManyHeaders) if head.headers.len() + 1 > MAX_HEADERS => return,
        other => panic!(
            "rewritten response does not parse ({other:?}): {:?}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(again.status, head.status);
    let kind_again = response_framing(&out, &again, is_head_request).expect("valid framing");
    assert_eq!(kind_again, kind, "the client frames the body alike");
}

/// Both head targets on one input: the first byte picks which.
pub fn head(data: &[u8]) {
    match data.split_first() {
        Some((b, rest)) if b & 1 == 1 => response_head(rest),
        Some((_, rest)) => request_head(rest),
        None => {}
    }
}

/// Feeds `body` to a decoder in pieces of `step` bytes; returns the body length when it
/// ended, with the error if one came first.
fn decode(body: &[u8], step: usize) -> (usize, Option<ChunkError>, bool) {
    let mut d = ChunkedDecoder::new();
    let mut total = 0;
    for piece in body.chunks(step.max(1)) {
        match d.feed(piece) {
            Ok(n) => {
                total += n;
                assert!(n <= piece.len());
                if d.is_done() {
                    assert!(n == piece.len() || total < body.len());
                    break;
                }
                assert_eq!(n, piece.len(), "an unfinished body takes every byte");
            }
            Err(e) => return (total, Some(e), false),
        }
    }
    (total, None, d.is_done())
}

/// The chunked decoder. Invariant: where the body ends (or which error stops it) does not
/// depend on how the bytes were split into reads. The first byte picks the read size.
pub fn chunked(data: &[u8]) {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let whole = decode(body, body.len());
    let split = decode(body, usize::from(step % 17) + 1);
    match (whole, split) {
        ((a, None, done_a), (b, None, done_b)) => {
            assert_eq!(done_a, done_b, "same end whatever the reads");
            if done_a {
                assert_eq!(a, b, "same body length whatever the reads");
            }
        }
        ((_, ea, _), (_, eb, _)) => assert_eq!(ea, eb, "same error whatever the reads"),
    }
}

/// The configuration parser and validator on arbitrary text. A parsed configuration is
/// dumped, and the dump parses again.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = ringlb_config::parse_str(text, Path::new("/nonexistent/fuzz.cfg"));
    if let Some(config) = loaded.config {
        let _ = ringlb_config::validate(&config);
        let _ = ringlb_config::dump(&config);
    }
}

/// ACL evaluation: the first line is an ACL (`acl a ...` criterion and patterns) put in a
/// frontend, the rest a request it is evaluated against.
pub fn acl(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (line, req) = data.split_at(split);
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let req = req.get(1..).unwrap_or_default();
    let text = format!(
        "frontend f\n mode http\n bind :80\n acl a {line}\n use_backend hit if a\n default_backend miss\nbackend hit\n server s 127.0.0.1:1\nbackend miss\n server s 127.0.0.1:1\n"
    );
    let Some(rules) = compile(&text) else {
        return;
    };
    let Ok(Some(head)) = parse_request(req, HEAD_LIMIT) else {
        return;
    };
    let nbsrv = |n: &str| (n == "hit").then_some(1usize);
    let exists = |n: &str| n == "hit" || n == "miss";
    let txn = request_txn(req, &head, ("[2001:db8::7]:5000", "192.0.2.1:443"), &nbsrv);
    let chosen = rules.choose_backend(&txn, &exists, Some("miss"));
    assert!(matches!(chosen.as_deref(), Some("hit" | "miss")));
    let mut edits = HeadEdits::default();
    let _ = rules.http_request(&txn, &mut edits);
}
