//! ACLs parsed from configuration text and evaluated against real request heads.

use std::net::SocketAddr;
use std::path::Path;

use super::*;
use crate::codec::head::{parse_request, parse_response};

/// Compiles the `acl` lines (and the `use_backend … if NAME` that uses each) of a frontend.
/// Lines are `acl NAME …` (tested by name) or `if COND` (tested by its text).
fn table(acl_lines: &str) -> (AclTable, Vec<(String, Cond)>) {
    let names: Vec<&str> = acl_lines
        .lines()
        .map(|l| match l.strip_prefix("if ") {
            Some(c) => c,
            None => l.split_whitespace().nth(1).unwrap(),
        })
        .collect();
    let mut text = String::from("frontend f\n bind :80\n");
    for l in acl_lines.lines().filter(|l| l.starts_with("acl")) {
        text.push_str(&format!(" {l}\n"));
    }
    for n in &names {
        text.push_str(&format!(" use_backend b if {n}\n"));
    }
    text.push_str(" default_backend b\nbackend b\n server s 127.0.0.1:1\n");
    let config = load(&text);
    let fe = config.proxy("f").unwrap();
    let mut c = AclCompiler::new(&fe.acls);
    let conds = fe
        .use_backends
        .iter()
        .zip(&names)
        .map(|(u, n)| {
            (
                n.to_string(),
                c.condition(u.condition.as_ref().unwrap()).unwrap(),
            )
        })
        .collect();
    (c.finish(), conds)
}

fn load(text: &str) -> ringlb_config::Config {
    let loaded = ringlb_config::parse_str(text, Path::new("t.cfg"));
    loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics))
}

/// Names of the ACLs that match `request` from `src`.
fn matching(acl_lines: &str, request: &str, src: &str) -> Vec<String> {
    let (t, conds) = table(acl_lines);
    let buf = request.as_bytes();
    let head = parse_request(buf, 8192).unwrap().unwrap();
    let nbsrv = |n: &str| (n == "app").then_some(1usize);
    let txn = Txn {
        buf,
        req: Some(&head),
        src: src.parse::<SocketAddr>().unwrap(),
        dst: "10.0.0.1:8080".parse().unwrap(),
        frontend: "f",
        backend: Some("b"),
        server: None,
        res: None,
        nbsrv: &nbsrv,
        payload: None,
        edits: None,
        vars: None,
        tls: None,
        h2: false,
    };
    conds
        .into_iter()
        .filter(|(_, c)| c.holds(&t, &txn))
        .map(|(n, _)| n)
        .collect()
}

const REQ: &str = "GET /static/img/Logo.PNG?size=2&lang=fr HTTP/1.1\r\nHost: WWW.Example.com:8080\r\nAccept: text/html, image/png\r\nCookie: SID=abc; theme=dark\r\nContent-Length: 0\r\nX-Forwarded-For: 192.168.1.9\r\n\r\n";

#[test]
fn string_methods_match_path_and_url() {
    let got = matching(
        "acl beg path_beg /static /images\n\
         acl beg_miss path_beg /api\n\
         acl end_i path_end -i .png .jpg\n\
         acl end_case path_end .png\n\
         acl sub url_sub size=\n\
         acl dir path_dir img\n\
         acl dir_partial path_dir im\n\
         acl reg url_reg [.](png|gif)[?]\n\
         acl reg_i path_reg -i logo[.]png$\n\
         acl str path /static/img/Logo.PNG\n\
         acl len path_len 20\n\
         acl len_gt path_len gt 30",
        REQ,
        "192.168.1.9:5000",
    );
    assert_eq!(
        got,
        ["beg", "end_i", "sub", "dir", "reg_i", "str", "len"],
        "case-sensitive and partial-component patterns must not match"
    );
}

#[test]
fn headers_cookies_params_and_counts() {
    let got = matching(
        "acl host_dom hdr_dom(host) -i example.com\n\
         acl host_dom_miss hdr_dom(host) -i ample.com\n\
         acl host_reg hdr_reg(host) -i ^www[.]\n\
         acl host_lower hdr(host),lower,field(1,:) www.example.com\n\
         acl host_lower_caps hdr(host),lower WWW.Example.com:8080\n\
         acl accept_item hdr(accept) image/png\n\
         acl cl_zero hdr_cnt(content-length) eq 0\n\
         acl cl_one hdr_cnt(content-length) eq 1\n\
         acl xff_ip hdr_ip(x-forwarded-for) 192.168.0.0/16\n\
         acl has_cookie req.cook(SID) -m found\n\
         acl cookie_val cook(theme) dark\n\
         acl no_cookie cook(none) -m found\n\
         acl param url_param(lang) fr\n\
         acl param_cnt urlp(size) -m int gt 1\n\
         acl ver req.ver 1.1\n\
         acl meth method GET\n\
         if METH_GET\n\
         acl fe fe_name f\n\
         acl be be_name b",
        REQ,
        "192.168.1.9:5000",
    );
    assert_eq!(
        got,
        [
            "host_dom",
            "host_reg",
            "host_lower",
            "accept_item",
            "cl_one",
            "xff_ip",
            "has_cookie",
            "cookie_val",
            "param",
            "param_cnt",
            "ver",
            "meth",
            "METH_GET",
            "fe",
            "be"
        ]
    );
}

#[test]
fn addresses_ports_and_nbsrv() {
    let got = matching(
        "acl lan src 192.168.0.0/16 10.0.0.0/8\n\
         acl v6 src ::1\n\
         acl port src_port 1024:\n\
         acl low_port src_port :1023\n\
         acl local dst 10.0.0.1\n\
         acl dport dst_port 8080\n\
         acl app_dead nbsrv(app) lt 2\n\
         acl unknown_dead nbsrv(none) lt 2\n\
         acl yes always_true\n\
         acl no always_false",
        REQ,
        "[::ffff:192.168.1.9]:5000",
    );
    assert_eq!(got, ["lan", "port", "local", "dport", "app_dead", "yes"]);
    assert_eq!(
        matching("acl v6 src ::1\nif LOCALHOST\nif !HTTP_1.0", REQ, "[::1]:1"),
        ["v6", "LOCALHOST", "!HTTP_1.0"],
        "predefined ACLs are usable in conditions"
    );
}

#[test]
fn conditions_combine_with_and_or_and_negation() {
    let text = "frontend f\n bind :80\n acl a path_beg /static\n acl b method POST\n acl c src 10.0.0.0/8\n\
                use_backend b if a b || c\n use_backend b if !b a\n use_backend b unless a\n default_backend b\n\
                backend b\n server s 127.0.0.1:1\n";
    let config = load(text);
    let fe = config.proxy("f").unwrap();
    let mut comp = AclCompiler::new(&fe.acls);
    let cs: Vec<Cond> = fe
        .use_backends
        .iter()
        .map(|u| comp.condition(u.condition.as_ref().unwrap()).unwrap())
        .collect();
    let t2 = comp.finish();
    let buf = REQ.as_bytes();
    let head = parse_request(buf, 8192).unwrap().unwrap();
    let nbsrv = |_: &str| None;
    let txn = Txn {
        buf,
        req: Some(&head),
        ..Txn::connection(
            "192.168.1.9:1".parse().unwrap(),
            "10.0.0.1:80".parse().unwrap(),
            "f",
            &nbsrv,
        )
    };
    let held: Vec<bool> = cs.iter().map(|c| c.holds(&t2, &txn)).collect();
    assert_eq!(held, [false, true, false]);
}

#[test]
fn response_fetches_read_the_response_head() {
    let text = "backend b\n mode http\n acl err status ge 500\n acl json res.hdr(content-type) -m beg application/json\n\
                http-response deny if err\n http-response deny if json\n server s 127.0.0.1:1\n";
    let config = load(text);
    let be = config.proxy("b").unwrap();
    let mut comp = AclCompiler::new(&be.acls);
    let cs: Vec<Cond> = be
        .http_response
        .iter()
        .map(|r| comp.condition(r.condition.as_ref().unwrap()).unwrap())
        .collect();
    let t = comp.finish();
    let rbuf = b"HTTP/1.1 503 Busy\r\nContent-Type: application/json; charset=utf-8\r\n\r\n";
    let res = parse_response(rbuf, 1024).unwrap().unwrap();
    let nbsrv = |_: &str| None;
    let mut txn = Txn::connection(
        "1.2.3.4:1".parse().unwrap(),
        "5.6.7.8:2".parse().unwrap(),
        "f",
        &nbsrv,
    );
    txn.res = Some((rbuf, &res));
    assert!(cs.iter().all(|c| c.holds(&t, &txn)));
}

#[test]
fn lower_converter_folds_into_a_case_insensitive_set() {
    let e = load("frontend f\n bind :80\n acl h hdr(host),lower example.com Example.com\n")
        .proxy("f")
        .unwrap()
        .acls[0]
        .expr
        .clone();
    let c = CompiledExpr::compile(&e).unwrap();
    assert!(c.converters.is_empty() && c.ignore_case);
    match &c.matcher {
        CompiledMatcher::Str(set) => assert_eq!(
            set.len(),
            1,
            "a capitalised pattern never matches a lowered value"
        ),
        other => panic!("{other:?}"),
    }
}

/// How each `if COND` line stands on `bytes` a `mode tcp` stream buffered so far, with more
/// still expected unless `done`.
fn tested(cond_lines: &str, bytes: &[u8], done: bool) -> Vec<Test> {
    let (t, conds) = table(cond_lines);
    let nbsrv = |_: &str| None;
    let inspected = crate::stream::inspected::Inspected::new(bytes, done);
    let txn = Txn {
        buf: bytes,
        payload: Some(&inspected),
        ..Txn::connection(
            "192.168.1.9:1".parse().unwrap(),
            "10.0.0.1:443".parse().unwrap(),
            "f",
            &nbsrv,
        )
    };
    conds.iter().map(|(_, c)| c.test(&t, &txn)).collect()
}

#[test]
fn layer6_conditions_wait_for_bytes_until_inspection_is_done() {
    use Test::{Fail, Miss, Pass};
    let lines = "if { req.ssl_hello_type 1 }\n\
                 if !{ req.ssl_hello_type 1 }\n\
                 if { req.ssl_sni -i a.example } || { req.len gt 2 }\n\
                 if { req.payload(0,1) -m bin 16 }\n\
                 if WAIT_END";
    let start = [0x16, 0x03, 0x01];
    // A negated undecided ACL stays undecided; a match is final even if more may come.
    assert_eq!(tested(lines, &start, false), [Miss, Miss, Pass, Pass, Miss]);
    assert_eq!(tested(lines, &start, true), [Fail, Pass, Pass, Pass, Pass]);
    assert_eq!(tested(lines, b"", false), [Miss, Miss, Miss, Miss, Miss]);
    // Not TLS: the TLS fetches know at once.
    assert_eq!(
        tested(lines, b"GET /", false),
        [Fail, Pass, Pass, Fail, Miss]
    );
}

#[test]
fn layer6_fetches_yield_nothing_on_an_http_stream() {
    let lines = "acl sni req.ssl_sni -m found\nacl ver req.ssl_ver -m found\nacl p req.payload(0,3) -m found";
    assert!(matching(lines, REQ, "192.168.1.9:1234").is_empty());
}
