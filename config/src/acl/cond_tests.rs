//! Tests of conditions and predefined ACLs.

use std::path::Path;

use super::tests::{assert_round_trip, hdr, location, ok, strs, with_ctx, words};
use super::*;

fn declared(lines: &[&str]) -> Vec<AclDef> {
    lines.iter().map(|l| ok(l)).collect()
}

fn cond_with(acls: &[AclDef], line: &str) -> Result<Condition, Diagnostic> {
    with_ctx(acls, Path::new("/nonexistent"), |ctx| {
        parse_condition(&words(line), ctx)
    })
}

fn term(name: &str, negate: bool) -> CondTerm {
    CondTerm {
        negate,
        acl: AclRef::Named(name.into()),
    }
}

fn assert_cond_round_trip(acls: &[AclDef], c: &Condition) {
    let text = c.to_string();
    let again = cond_with(acls, &text).unwrap_or_else(|e| panic!("'{text}': {e}"));
    assert_eq!(&again, c, "'{text}' re-parsed differently");
}

#[test]
fn seed_conditions_resolve_declared_and_predefined_acls() {
    let acls = declared(&[
        "blacklist src",
        "site_dead nbsrv(server_web) lt 2",
        "jfedu_web hdr_reg(host) -i ^(www1.jfedu.net|www2.jfedu.net)$",
        "url_static path_beg -i /static",
        "file_req path_end .html",
        "dir_req path_end /",
        "missing_cl hdr_cnt(Content-length) eq 0",
    ]);
    for (line, expected) in [
        ("if blacklist", vec![vec![term("blacklist", false)]]),
        ("if site_dead", vec![vec![term("site_dead", false)]]),
        ("if jfedu_web", vec![vec![term("jfedu_web", false)]]),
        ("if url_static", vec![vec![term("url_static", false)]]),
        ("if missing_cl", vec![vec![term("missing_cl", false)]]),
        (
            "if !file_req || dir_req",
            vec![vec![term("file_req", true)], vec![term("dir_req", false)]],
        ),
    ] {
        let c = cond_with(&acls, line).unwrap();
        assert_eq!(c.polarity, Polarity::If);
        assert_eq!(c.terms, expected, "{line}");
        assert_cond_round_trip(&acls, &c);
    }
    // `stats admin if TRUE`
    let c = cond_with(&[], "if TRUE").unwrap();
    assert_eq!(
        c.terms,
        vec![vec![CondTerm {
            negate: false,
            acl: AclRef::Predefined(Predefined::True)
        }]]
    );
}

#[test]
fn juxtaposition_ands_and_or_separates_groups() {
    let acls = declared(&["a src 1.1.1.1", "b path /", "c method GET", "d status 200"]);
    let c = cond_with(&acls, "unless a !b or c d").unwrap();
    assert_eq!(c.polarity, Polarity::Unless);
    assert_eq!(
        c.terms,
        vec![
            vec![term("a", false), term("b", true)],
            vec![term("c", false), term("d", false)]
        ]
    );
    // `!` may stand alone before its ACL.
    let c2 = cond_with(&acls, "if ! a").unwrap();
    assert_eq!(c2.terms, vec![vec![term("a", true)]]);
    assert_cond_round_trip(&acls, &c);

    // holds(): if (a && !b) || (c && d)
    let eval = |a: bool, b: bool, cc: bool, d: bool| {
        c.holds(|r| match r {
            AclRef::Named(n) => match n.as_str() {
                "a" => a,
                "b" => b,
                "c" => cc,
                _ => d,
            },
            _ => unreachable!(),
        })
    };
    for bits in 0..16u8 {
        let (a, b, cc, d) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0, bits & 8 != 0);
        assert_eq!(eval(a, b, cc, d), !((a && !b) || (cc && d)), "{bits:04b}");
    }
}

#[test]
fn anonymous_acls_parse_inline_and_round_trip() {
    let acls = declared(&["api path_beg /api"]);
    let c = cond_with(
        &acls,
        "if { hdr(host) -i example.com } !{ src 10.0.0.0/8 } || api",
    )
    .unwrap();
    assert_eq!(c.terms.len(), 2);
    let AclRef::Anonymous(e) = &c.terms[0][0].acl else {
        panic!("{c:?}")
    };
    assert_eq!(e.sample.fetch, hdr("host"));
    assert!(e.ignore_case);
    assert!(c.terms[0][1].negate);
    assert!(matches!(c.terms[0][1].acl, AclRef::Anonymous(_)));
    assert_cond_round_trip(&acls, &c);

    for (line, needle) in [
        ("if { path_beg /x", "missing its closing '}'"),
        ("if { }", "empty anonymous ACL"),
        ("if }", "without an opening"),
        ("if { nosuch x }", "unknown ACL criterion"),
    ] {
        let e = cond_with(&acls, line).unwrap_err();
        assert!(e.message.contains(needle), "{line}: {e}");
    }
}

#[test]
fn unknown_and_later_declared_names_are_errors() {
    let acls = declared(&["url_static path_beg /static"]);
    let e = cond_with(&acls, "if url_statc").unwrap_err();
    assert!(e.message.contains("no ACL named 'url_statc'"), "{e}");
    assert_eq!(e.help.as_deref(), Some("did you mean 'url_static'?"));
    let e = cond_with(&acls, "if METH_GETT").unwrap_err();
    assert_eq!(e.help.as_deref(), Some("did you mean 'METH_GET'?"));
    // Declared after use: not in ctx.acls yet.
    let e = cond_with(&[], "if blacklist").unwrap_err();
    assert!(
        e.help.unwrap().contains("must come before"),
        "{}",
        e.message
    );
}

#[test]
fn empty_or_dangling_conditions_are_errors() {
    let acls = declared(&["a src 1.1.1.1"]);
    for (line, needle) in [
        ("if", "not followed by any ACL"),
        ("unless", "not followed by any ACL"),
        ("if a ||", "no ACL on its right"),
        ("if || a", "no ACL on its left"),
        ("if a || || a", "no ACL on its left"),
        ("if !", "must be followed by an ACL"),
        ("when a", "expected 'if' or 'unless'"),
    ] {
        let e = cond_with(&acls, line).unwrap_err();
        assert!(e.message.contains(needle), "{line}: {e}");
    }
    assert!(with_ctx(&acls, Path::new("/"), |ctx| parse_condition(&[], ctx)).is_err());
}

#[test]
fn declared_names_shadow_predefined_ones() {
    let acls = declared(&["TRUE always_false"]);
    let c = cond_with(&acls, "if TRUE").unwrap();
    assert_eq!(c.terms, vec![vec![term("TRUE", false)]]);
}

#[test]
fn every_predefined_acl_resolves_and_has_its_meaning() {
    for p in Predefined::ALL {
        let c = cond_with(&[], &format!("if {}", p.name())).unwrap();
        assert_eq!(c.terms[0][0].acl, AclRef::Predefined(p));
        assert_cond_round_trip(&[], &c);
        // Each meaning is an ordinary ACL that survives display and parsing.
        let def = AclDef {
            location: location(),
            name: "x".into(),
            expr: p.expr(),
        };
        assert_round_trip(&def);
    }
    assert_eq!(Predefined::from_name("HTTP_1.1"), Some(Predefined::Http11));
    assert_eq!(
        Predefined::MethGet.expr().matcher,
        Matcher::Str(strs(&["GET", "HEAD"]))
    );
    assert_eq!(Predefined::True.expr().sample.fetch, Fetch::AlwaysTrue);
    assert_eq!(Predefined::False.expr().sample.fetch, Fetch::AlwaysFalse);
    assert_eq!(Predefined::Http.expr().sample.fetch, Fetch::ReqProtoHttp);
    assert_eq!(
        Predefined::HttpContent.expr(),
        ok("x hdr_val(content-length) gt 0").expr
    );
    assert_eq!(
        Predefined::HttpUrlAbs.expr(),
        ok("x url_reg ^[^/:]*://").expr
    );
    assert_eq!(Predefined::HttpUrlSlash.expr(), ok("x url_beg /").expr);
    assert_eq!(Predefined::HttpUrlStar.expr(), ok("x url *").expr);
    assert_eq!(Predefined::ReqContent.expr(), ok("x req.len gt 0").expr);
    assert_eq!(
        Predefined::RdpCookie.expr(),
        ok("x req.rdp_cookie_cnt gt 0").expr
    );
    assert_eq!(Predefined::WaitEnd.expr(), ok("x wait_end").expr);
    assert_eq!(Predefined::Http10.expr(), ok("x req.ver 1.0").expr);
    let Matcher::Ip(local) = Predefined::Localhost.expr().matcher else {
        panic!()
    };
    assert!(local
        .iter()
        .any(|n| n.contains("127.0.0.1".parse().unwrap())));
    assert!(local.iter().any(|n| n.contains("::1".parse().unwrap())));
    for (p, m) in [
        (Predefined::MethConnect, "CONNECT"),
        (Predefined::MethDelete, "DELETE"),
        (Predefined::MethHead, "HEAD"),
        (Predefined::MethOptions, "OPTIONS"),
        (Predefined::MethPost, "POST"),
        (Predefined::MethPut, "PUT"),
        (Predefined::MethTrace, "TRACE"),
    ] {
        assert_eq!(p.expr(), ok(&format!("x method {m}")).expr);
    }
}
