//! The layer-6 request fetches of TLS passthrough: `req.ssl_*` and `req.payload*`, their
//! aliases, default match methods, `MAJOR.MINOR` version patterns and `bin` patterns.

use super::tests::{assert_round_trip, ok, strs};
use super::*;

fn exact(n: i64) -> IntPattern {
    IntPattern::Range {
        min: Some(n),
        max: Some(n),
    }
}

#[test]
fn tls_fetches_and_their_aliases_parse() {
    for (line, fetch, method) in [
        (
            "a req.ssl_sni -i a.example",
            Fetch::ReqSslSni,
            MatchMethod::Str,
        ),
        (
            "a req_ssl_sni -m end .b.example",
            Fetch::ReqSslSni,
            MatchMethod::End,
        ),
        (
            "a req.ssl_hello_type 1",
            Fetch::ReqSslHelloType,
            MatchMethod::Int,
        ),
        (
            "a req_ssl_hello_type 1",
            Fetch::ReqSslHelloType,
            MatchMethod::Int,
        ),
        ("a req.ssl_ver 3.1", Fetch::ReqSslVer, MatchMethod::Int),
        ("a req_ssl_ver 3.1", Fetch::ReqSslVer, MatchMethod::Int),
    ] {
        let a = ok(line);
        assert_eq!(a.expr.sample.fetch, fetch, "{line}");
        assert_eq!(a.expr.method(), method, "{line}");
        assert_round_trip(&a);
    }
}

#[test]
fn ssl_ver_patterns_are_versions() {
    let a = ok("a req.ssl_ver 3.1 3.0:3.3 ge 3.3 :3.2 3");
    let Matcher::Int(p) = &a.expr.matcher else {
        panic!("{a:?}")
    };
    let v = |major: i64, minor: i64| major << 16 | minor;
    assert_eq!(
        p,
        &[
            exact(v(3, 1)),
            IntPattern::Range {
                min: Some(v(3, 0)),
                max: Some(v(3, 3))
            },
            IntPattern::Range {
                min: Some(v(3, 3)),
                max: None
            },
            IntPattern::Range {
                min: None,
                max: Some(v(3, 2))
            },
            exact(v(3, 0)),
        ]
    );
    // Written back as versions, so HAProxy reads the same values.
    assert_eq!(a.to_string(), "a req.ssl_ver 3.1 3.0:3.3 3.3: :3.2 3.0");
    assert_round_trip(&a);
    let e = super::tests::err("a req.ssl_ver 3.x");
    assert!(e.message.contains("'3.x' is not a version"), "{e}");
}

#[test]
fn payload_fetches_take_offsets_and_match_hex_bytes() {
    let a = ok("a req.payload(0,3) -m bin 160301 160303");
    assert_eq!(
        a.expr.sample.fetch,
        Fetch::ReqPayload {
            offset: 0,
            length: 3
        }
    );
    assert_eq!(a.expr.matcher, Matcher::Bin(strs(&["160301", "160303"])));
    assert_round_trip(&a);
    // `bin` is the default for a payload, as in HAProxy.
    assert_eq!(ok("a payload(0,1) 16").expr.method(), MatchMethod::Bin);
    for (line, data) in [
        ("a req.payload_lv(3,2) -m found", None),
        (
            "a payload_lv(3,2,+1) -m found",
            Some(DataOffset::Relative(1)),
        ),
        (
            "a req.payload_lv(3,2,-2) -m found",
            Some(DataOffset::Relative(-2)),
        ),
        (
            "a req.payload_lv(3,2,7) -m found",
            Some(DataOffset::Absolute(7)),
        ),
    ] {
        let a = ok(line);
        assert_eq!(
            a.expr.sample.fetch,
            Fetch::ReqPayloadLv {
                len_offset: 3,
                len_size: 2,
                data
            },
            "{line}"
        );
        assert_round_trip(&a);
    }
}

#[test]
fn bad_payload_arguments_and_patterns_are_refused() {
    for (line, needle) in [
        ("a req.payload(0) -m found", "takes two arguments"),
        ("a req.payload(-1,2) -m found", "offset '-1'"),
        ("a req.payload_lv(0,0) -m found", "must be 1 to 4 bytes"),
        ("a req.payload_lv(0,5) -m found", "must be 1 to 4 bytes"),
        (
            "a req.payload_lv(1,2,-9) -m found",
            "points before the start",
        ),
        ("a req.payload_lv(1,2,x) -m found", "is not an integer"),
        (
            "a req.payload(0,2) -m bin 16z3",
            "not a hexadecimal byte string",
        ),
        (
            "a req.payload(0,2) -m bin 160",
            "not a hexadecimal byte string",
        ),
        ("a req.ssl_sni(x) a.example", "takes no argument"),
    ] {
        let e = super::tests::err(line);
        assert!(e.message.contains(needle), "{line}: {e}");
    }
}
