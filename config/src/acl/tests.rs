//! Tests of ACL lines and conditions, seeds' lines included.

use std::path::{Path, PathBuf};

use super::*;
use crate::diag::Location;
use crate::lexer::split_line;
use crate::net::IpNet;

pub(super) fn words(s: &str) -> Vec<String> {
    split_line(s, &|_| None).unwrap()
}

pub(super) fn location() -> Location {
    Location {
        file: "test.cfg".into(),
        line: 12,
    }
}

pub(super) fn with_ctx<T>(acls: &[AclDef], base: &Path, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
    let loc = location();
    let ctx = Ctx {
        location: &loc,
        source_line: "the line",
        keyword: "acl",
        acls,
        base_dir: base,
    };
    f(&ctx)
}

fn acl(line: &str) -> Result<AclDef, Diagnostic> {
    with_ctx(&[], Path::new("/nonexistent"), |ctx| {
        parse_acl(&words(line), ctx)
    })
}

pub(super) fn ok(line: &str) -> AclDef {
    acl(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

pub(super) fn err(line: &str) -> Diagnostic {
    match acl(line) {
        Ok(a) => panic!("{line} parsed as {a:?}"),
        Err(e) => e,
    }
}

pub(super) fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub(super) fn hdr(name: &str) -> Fetch {
    Fetch::ReqHdr {
        name: Some(name.into()),
        occ: None,
    }
}

fn range(min: Option<i64>, max: Option<i64>) -> IntPattern {
    IntPattern::Range { min, max }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// Display, then parse again: the value must not change.
pub(super) fn assert_round_trip(def: &AclDef) {
    let text = def.to_string();
    let again = acl(&text).unwrap_or_else(|e| panic!("'{text}' does not re-parse: {e}"));
    assert_eq!(&again, def, "'{text}' re-parsed differently");
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringlb-acl-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn seed_acl_lines_parse_into_typed_acls() {
    let a = ok("url_static       path_beg       -i /static /images /javascript /stylesheets");
    assert_eq!(a.name, "url_static");
    assert_eq!(a.expr.sample, SampleExpr::new(Fetch::Path));
    assert!(a.expr.ignore_case);
    assert_eq!(
        a.expr.matcher,
        Matcher::Beg(strs(&["/static", "/images", "/javascript", "/stylesheets"]))
    );

    let a = ok("url_static       path_end       -i .jpg .gif .png .css .js");
    assert_eq!(
        a.expr.matcher,
        Matcher::End(strs(&[".jpg", ".gif", ".png", ".css", ".js"]))
    );

    let a = ok("jfedu_web hdr_reg(host) -i ^(www1.jfedu.net|www2.jfedu.net)$");
    assert_eq!(a.expr.sample.fetch, hdr("host"));
    assert_eq!(a.expr.method(), MatchMethod::Reg);
    let Matcher::Reg(r) = &a.expr.matcher else {
        panic!()
    };
    let re = r[0].compile(a.expr.ignore_case).unwrap();
    assert!(re.is_match("WWW1.jfedu.net"));
    assert!(!re.is_match("www3.jfedu.net"));

    // The seed's trailing comment is stripped by the lexer.
    let a = ok("site_dead nbsrv(server_web) lt 2 # Define the policy when the website is down");
    assert_eq!(
        a.expr.sample.fetch,
        Fetch::Nbsrv {
            backend: Some("server_web".into())
        }
    );
    assert_eq!(a.expr.matcher, Matcher::Int(vec![range(None, Some(1))]));

    // No pattern: accepted, and it matches nothing.
    let a = ok("blacklist src");
    assert_eq!(a.expr.matcher, Matcher::Ip(vec![]));
}

#[test]
fn every_fetch_has_its_default_match_method() {
    let cases: &[(&str, Fetch, MatchMethod)] = &[
        ("src", Fetch::Src, MatchMethod::Ip),
        ("dst", Fetch::Dst, MatchMethod::Ip),
        ("src_port", Fetch::SrcPort, MatchMethod::Int),
        ("dst_port", Fetch::DstPort, MatchMethod::Int),
        ("method", Fetch::Method, MatchMethod::Str),
        ("path", Fetch::Path, MatchMethod::Str),
        ("url", Fetch::Url, MatchMethod::Str),
        ("query", Fetch::Query, MatchMethod::Str),
        ("base", Fetch::Base, MatchMethod::Str),
        ("req.ver", Fetch::ReqVer, MatchMethod::Str),
        ("req_ver", Fetch::ReqVer, MatchMethod::Str),
        ("req.len", Fetch::ReqLen, MatchMethod::Int),
        ("req.proto_http", Fetch::ReqProtoHttp, MatchMethod::Bool),
        (
            "req.rdp_cookie_cnt",
            Fetch::ReqRdpCookieCnt,
            MatchMethod::Int,
        ),
        ("wait_end", Fetch::WaitEnd, MatchMethod::Bool),
        ("hdr(host)", hdr("host"), MatchMethod::Str),
        ("req.hdr(host)", hdr("host"), MatchMethod::Str),
        (
            "hdr(x-forwarded-for,-1)",
            Fetch::ReqHdr {
                name: Some("x-forwarded-for".into()),
                occ: Some(-1),
            },
            MatchMethod::Str,
        ),
        (
            "hdr",
            Fetch::ReqHdr {
                name: None,
                occ: None,
            },
            MatchMethod::Str,
        ),
        (
            "hdr_cnt(host)",
            Fetch::ReqHdrCnt {
                name: Some("host".into()),
            },
            MatchMethod::Int,
        ),
        (
            "res.hdr(server)",
            Fetch::ResHdr {
                name: Some("server".into()),
                occ: None,
            },
            MatchMethod::Str,
        ),
        (
            "req.cook(SID)",
            Fetch::ReqCook {
                name: Some("SID".into()),
            },
            MatchMethod::Str,
        ),
        (
            "cook(SID)",
            Fetch::ReqCook {
                name: Some("SID".into()),
            },
            MatchMethod::Str,
        ),
        (
            "req.cook_cnt(SID)",
            Fetch::ReqCookCnt {
                name: Some("SID".into()),
            },
            MatchMethod::Int,
        ),
        (
            "url_param(id)",
            Fetch::UrlParam {
                name: Some("id".into()),
            },
            MatchMethod::Str,
        ),
        (
            "urlp(id)",
            Fetch::UrlParam {
                name: Some("id".into()),
            },
            MatchMethod::Str,
        ),
        (
            "nbsrv(app)",
            Fetch::Nbsrv {
                backend: Some("app".into()),
            },
            MatchMethod::Int,
        ),
        ("nbsrv", Fetch::Nbsrv { backend: None }, MatchMethod::Int),
        ("be_name", Fetch::BeName, MatchMethod::Str),
        ("fe_name", Fetch::FeName, MatchMethod::Str),
        ("srv_name", Fetch::SrvName, MatchMethod::Str),
        ("status", Fetch::Status, MatchMethod::Int),
        ("always_true", Fetch::AlwaysTrue, MatchMethod::Bool),
        ("always_false", Fetch::AlwaysFalse, MatchMethod::Bool),
    ];
    for (criterion, fetch, method) in cases {
        let bool_like = matches!(method, MatchMethod::Bool);
        let line = if bool_like {
            format!("a {criterion}")
        } else if *method == MatchMethod::Int {
            format!("a {criterion} 1")
        } else if *method == MatchMethod::Ip {
            format!("a {criterion} 10.0.0.1")
        } else {
            format!("a {criterion} x")
        };
        let a = ok(&line);
        assert_eq!(&a.expr.sample.fetch, fetch, "{line}");
        assert_eq!(a.expr.method(), *method, "{line}");
        assert_round_trip(&a);
    }
}

#[test]
fn derived_keywords_set_fetch_and_method() {
    let cases: &[(&str, Fetch, MatchMethod)] = &[
        ("path_beg", Fetch::Path, MatchMethod::Beg),
        ("path_end", Fetch::Path, MatchMethod::End),
        ("path_sub", Fetch::Path, MatchMethod::Sub),
        ("path_reg", Fetch::Path, MatchMethod::Reg),
        ("path_dir", Fetch::Path, MatchMethod::Dir),
        ("path_dom", Fetch::Path, MatchMethod::Dom),
        ("path_len", Fetch::Path, MatchMethod::Len),
        ("url_beg", Fetch::Url, MatchMethod::Beg),
        ("url_end", Fetch::Url, MatchMethod::End),
        ("url_sub", Fetch::Url, MatchMethod::Sub),
        ("url_reg", Fetch::Url, MatchMethod::Reg),
        ("url_dir", Fetch::Url, MatchMethod::Dir),
        ("url_dom", Fetch::Url, MatchMethod::Dom),
        ("url_len", Fetch::Url, MatchMethod::Len),
        ("base_beg", Fetch::Base, MatchMethod::Beg),
        ("hdr_beg(host)", hdr("host"), MatchMethod::Beg),
        ("hdr_end(host)", hdr("host"), MatchMethod::End),
        ("hdr_sub(host)", hdr("host"), MatchMethod::Sub),
        ("hdr_reg(host)", hdr("host"), MatchMethod::Reg),
        ("hdr_dom(host)", hdr("host"), MatchMethod::Dom),
        ("hdr_dir(host)", hdr("host"), MatchMethod::Dir),
        ("hdr_len(host)", hdr("host"), MatchMethod::Len),
        (
            "hdr_val(content-length)",
            hdr("content-length"),
            MatchMethod::Int,
        ),
        ("hdr_ip(x-real-ip)", hdr("x-real-ip"), MatchMethod::Ip),
        (
            "cook_beg(SID)",
            Fetch::ReqCook {
                name: Some("SID".into()),
            },
            MatchMethod::Beg,
        ),
        (
            "cook_sub(SID)",
            Fetch::ReqCook {
                name: Some("SID".into()),
            },
            MatchMethod::Sub,
        ),
        (
            "cook_val(n)",
            Fetch::ReqCook {
                name: Some("n".into()),
            },
            MatchMethod::Int,
        ),
        (
            "urlp_beg(id)",
            Fetch::UrlParam {
                name: Some("id".into()),
            },
            MatchMethod::Beg,
        ),
        (
            "urlp_val(id)",
            Fetch::UrlParam {
                name: Some("id".into()),
            },
            MatchMethod::Int,
        ),
        (
            "shdr_sub(server)",
            Fetch::ResHdr {
                name: Some("server".into()),
                occ: None,
            },
            MatchMethod::Sub,
        ),
    ];
    for (criterion, fetch, method) in cases {
        let value = match method {
            MatchMethod::Int | MatchMethod::Len => "3",
            MatchMethod::Ip => "10.0.0.0/8",
            _ => "x",
        };
        let a = ok(&format!("a {criterion} {value}"));
        assert_eq!(&a.expr.sample.fetch, fetch, "{criterion}");
        assert_eq!(a.expr.method(), *method, "{criterion}");
        // Written back with the same derived keyword.
        assert!(
            a.to_string().starts_with(&format!("a {criterion} ")),
            "{criterion} displayed as {a}"
        );
        assert_round_trip(&a);
    }
}

#[test]
fn dash_m_selects_every_match_method() {
    let cases: &[(&str, Matcher)] = &[
        ("path -m str /a", Matcher::Str(strs(&["/a"]))),
        ("path -m beg /a", Matcher::Beg(strs(&["/a"]))),
        ("path -m end .js", Matcher::End(strs(&[".js"]))),
        ("path -m sub adm", Matcher::Sub(strs(&["adm"]))),
        ("path -m dir api", Matcher::Dir(strs(&["api"]))),
        ("hdr(host) -m dom example", Matcher::Dom(strs(&["example"]))),
        ("path -m len 5", Matcher::Len(vec![range(Some(5), Some(5))])),
        ("hdr(host) -m found", Matcher::Found),
        ("hdr_cnt(x) -m bool", Matcher::Bool),
        (
            "hdr(x) -m int 7",
            Matcher::Int(vec![range(Some(7), Some(7))]),
        ),
        (
            "hdr(x-ip) -m ip 10.0.0.0/8",
            Matcher::Ip(vec![net("10.0.0.0/8")]),
        ),
    ];
    for (line, matcher) in cases {
        let a = ok(&format!("a {line}"));
        assert_eq!(&a.expr.matcher, matcher, "{line}");
        assert_round_trip(&a);
    }
    let a = ok("a path -m reg ^/api/v[0-9]+/");
    assert_eq!(a.expr.method(), MatchMethod::Reg);
    assert_round_trip(&a);
    // A method given before -i works as well as after.
    assert_eq!(ok("a path -m beg -i /A"), ok("a path -i -m beg /A"));
}

#[test]
fn ignore_case_and_no_dns_flags_are_kept() {
    let a = ok("a hdr(host) -i -n Example.COM");
    assert!(a.expr.ignore_case && a.expr.no_dns);
    assert_round_trip(&a);
    let a = ok("a hdr(host) Example.COM");
    assert!(!a.expr.ignore_case && !a.expr.no_dns);
}

#[test]
fn double_dash_ends_flags_so_patterns_may_start_with_a_dash() {
    let a = ok("a hdr(x) -- -i -weird");
    assert!(!a.expr.ignore_case);
    assert_eq!(a.expr.matcher, Matcher::Str(strs(&["-i", "-weird"])));
    assert_round_trip(&a);
    let a = ok("a hdr_val(x) -- -5");
    assert_eq!(
        a.expr.matcher,
        Matcher::Int(vec![range(Some(-5), Some(-5))])
    );
    assert_round_trip(&a);
    let e = err("a hdr(x) -weird");
    assert!(e.message.contains("unknown ACL flag '-weird'"), "{e}");
    assert!(e.help.unwrap().contains("--"));
}

#[test]
fn pattern_files_are_read_relative_to_the_config_with_comments_skipped() {
    let dir = temp_dir("patterns");
    std::fs::write(
        dir.join("bad_ips.lst"),
        "# blocked networks\n10.0.0.0/8\n\n   192.168.1.7  \n# end\n2001:db8::/32\n",
    )
    .unwrap();
    let a = with_ctx(&[], &dir, |ctx| {
        parse_acl(&words("blocked src -f bad_ips.lst 172.16.0.1"), ctx)
    })
    .unwrap();
    assert_eq!(
        a.expr.matcher,
        Matcher::Ip(vec![
            net("10.0.0.0/8"),
            net("192.168.1.7"),
            net("2001:db8::/32"),
            net("172.16.0.1"),
        ])
    );
    // Patterns are inlined, so the dump stands alone.
    assert_round_trip(&a);

    let abs = dir.join("bad_ips.lst");
    let b = with_ctx(&[], Path::new("/elsewhere"), |ctx| {
        parse_acl(
            &words(&format!("blocked src -f {} 172.16.0.1", abs.display())),
            ctx,
        )
    })
    .unwrap();
    assert_eq!(a, b);

    // -m may come after -f: patterns are read with the final method.
    std::fs::write(dir.join("paths.lst"), "/admin\n/private\n").unwrap();
    let c = with_ctx(&[], &dir, |ctx| {
        parse_acl(&words("p path -f paths.lst -m beg -i"), ctx)
    })
    .unwrap();
    assert_eq!(c.expr.matcher, Matcher::Beg(strs(&["/admin", "/private"])));
}

#[test]
fn pattern_file_errors_name_the_file_and_line() {
    let dir = temp_dir("badfile");
    std::fs::write(dir.join("nets.lst"), "10.0.0.0/8\n10.0.0.0/40\n").unwrap();
    let e = with_ctx(&[], &dir, |ctx| parse_acl(&words("x src -f nets.lst"), ctx)).unwrap_err();
    assert!(e.message.contains("nets.lst:2"), "{e}");
    assert!(e.message.contains("10.0.0.0/40"), "{e}");

    let e = with_ctx(&[], &dir, |ctx| {
        parse_acl(&words("x src -f missing.lst"), ctx)
    })
    .unwrap_err();
    assert!(e.message.contains("cannot read pattern file"), "{e}");
    assert!(e.message.contains("missing.lst"), "{e}");
    assert!(err("x src -f").message.contains("missing its value"));
}

#[test]
fn integer_operators_and_ranges_become_inclusive_bounds() {
    let cases: &[(&str, IntPattern)] = &[
        ("eq 5", range(Some(5), Some(5))),
        ("ne 5", IntPattern::Ne(5)),
        ("lt 5", range(None, Some(4))),
        ("le 5", range(None, Some(5))),
        ("gt 5", range(Some(6), None)),
        ("ge 5", range(Some(5), None)),
        ("5", range(Some(5), Some(5))),
        ("1024:65535", range(Some(1024), Some(65535))),
        ("1024:", range(Some(1024), None)),
        (":1023", range(None, Some(1023))),
    ];
    for (pat, expected) in cases {
        let a = ok(&format!("a dst_port {pat}"));
        assert_eq!(a.expr.matcher, Matcher::Int(vec![*expected]), "{pat}");
        assert_round_trip(&a);
    }
    // An operator applies to the one value after it.
    let a = ok("a status lt 200 404 ge 500");
    assert_eq!(
        a.expr.matcher,
        Matcher::Int(vec![
            range(None, Some(199)),
            range(Some(404), Some(404)),
            range(Some(500), None)
        ])
    );
    let Matcher::Int(p) = &a.expr.matcher else {
        panic!()
    };
    let matches = |v: i64| p.iter().any(|x| x.matches(v));
    assert!(matches(150) && matches(404) && matches(503));
    assert!(!matches(200) && !matches(403));
    assert!(IntPattern::Ne(5).matches(4) && !IntPattern::Ne(5).matches(5));
}

#[test]
fn bad_integers_are_errors_with_help() {
    for (line, needle) in [
        ("a dst_port eighty", "invalid integer 'eighty'"),
        ("a dst_port 90:80", "range '90:80' is empty"),
        ("a dst_port :", "invalid integer ':'"),
        ("a dst_port lt", "missing its value"),
        ("a dst_port lt gt 3", "follows another operator"),
        ("a path_len x", "invalid integer 'x'"),
    ] {
        let e = err(line);
        assert!(e.message.contains(needle), "{line}: {e}");
        assert_eq!(e.keyword, "acl");
        assert_eq!(e.location.line, 12);
        assert!(e.help.is_some(), "{line}");
        assert_eq!(e.source_line, "the line");
    }
}

#[test]
fn ip_patterns_accept_v4_and_v6_addresses_and_networks() {
    let a = ok("a src 10.0.0.1 192.168.0.0/16 10.1.0.0/255.255.0.0 ::1 2001:db8::/32");
    let Matcher::Ip(nets) = &a.expr.matcher else {
        panic!()
    };
    assert_eq!(nets.len(), 5);
    let hit = |ip: &str| nets.iter().any(|n| n.contains(ip.parse().unwrap()));
    assert!(hit("10.0.0.1") && hit("192.168.44.2") && hit("10.1.2.3"));
    assert!(hit("::1") && hit("2001:db8:1::5"));
    assert!(!hit("10.0.0.2") && !hit("2001:db9::1"));
    assert_round_trip(&a);

    for bad in [
        "10.0.0.0/33",
        "::/129",
        "300.0.0.1",
        "example.com",
        "10.0.0.0/x",
    ] {
        let e = err(&format!("a src {bad}"));
        assert!(e.message.contains(bad), "{bad}: {e}");
        assert!(e.help.as_deref().unwrap().contains("CIDR"), "{bad}");
    }
}

#[test]
fn invalid_regexes_are_refused_at_load_with_syntax_help() {
    let e = err(r"a path_reg '^/(a)\1$'");
    assert!(e.message.contains("invalid regex"), "{e}");
    assert!(e.help.as_deref().unwrap().contains("backreferences"));
    let e = err("a hdr_reg(host) (?=lookahead)");
    assert!(e.message.contains("invalid regex"), "{e}");
    let e = err("a url_reg ([unclosed");
    assert!(e.message.contains("([unclosed"), "{e}");
}

#[test]
fn unknown_criteria_suggest_the_nearest_fetch() {
    let e = err("a path_begin /x");
    assert!(
        e.message.contains("unknown ACL criterion 'path_begin'"),
        "{e}"
    );
    assert_eq!(e.help.as_deref(), Some("did you mean 'path_beg'?"));
    let e = err("a hdr_rg(host) x");
    assert_eq!(e.help.as_deref(), Some("did you mean 'hdr_reg'?"));
    let e = err("a srcc 1.2.3.4");
    assert_eq!(e.help.as_deref(), Some("did you mean 'src'?"));
    let e = err("a zzzzzzzzzz x");
    assert!(e.help.is_some());
}

#[test]
fn malformed_acl_lines_are_errors() {
    for (line, needle) in [
        ("", "expects a name"),
        ("lonely", "missing its criterion"),
        ("bad!name src", "invalid character '!'"),
        ("a hdr(host -i x", "missing ')'"),
        ("a path -m nope x", "unknown match method 'nope'"),
        ("a path -m", "missing its value"),
        ("a path_beg -m sub x", "cannot change the match method"),
        ("a hdr(host) -m found x", "takes no pattern"),
        ("a always_true x", "takes no pattern"),
        ("a src(x) 1.2.3.4", "takes no argument"),
        ("a hdr(host,first) x", "not an integer"),
        ("a hdr(host),nosuch x", "unknown converter"),
    ] {
        let e = err(line);
        assert!(e.message.contains(needle), "{line:?}: {e}");
    }
}

#[test]
fn converters_apply_and_set_the_default_method() {
    let a = ok("a hdr(host),lower www.example.com");
    assert_eq!(a.expr.sample.converters, vec![Converter::Lower]);
    assert_eq!(a.expr.method(), MatchMethod::Str);
    assert_round_trip(&a);
    let a = ok("a req.hdr(host),upper,field(1,:) WWW");
    assert_eq!(
        a.expr.sample.converters,
        vec![
            Converter::Upper,
            Converter::Field {
                index: 1,
                delimiters: ":".into(),
                count: None
            }
        ]
    );
    assert_round_trip(&a);
    let a = ok("a path,length gt 100");
    assert_eq!(a.expr.method(), MatchMethod::Int);
    assert_round_trip(&a);
    let a = ok("a hdr(host),lower -m beg www.");
    assert_eq!(a.expr.method(), MatchMethod::Beg);
    assert_round_trip(&a);
}

#[test]
fn display_round_trips_every_form() {
    for line in [
        "a path_beg -i /static /images",
        "a path_end .jpg",
        "a path_reg '^/a b/'",
        "a hdr(host) 'two words' \"it's\"",
        "a hdr_dom(host) -i example.com",
        "a nbsrv(app) lt 2",
        "a dst_port ne 80 443 8000:8100",
        "a src 10.0.0.0/8 ::1",
        "a method GET HEAD",
        "a urlp(id) -m found",
        "a req.ver 1.1",
        "a path -m dir api",
        "a status 200:299",
        "a always_false",
        "a hdr(x-forwarded-for,-1) -m ip 10.0.0.0/8",
        "a cook(SID) -m sub '#x'",
    ] {
        assert_round_trip(&ok(line));
    }
}
