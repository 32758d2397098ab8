//! Tests of `http-request`, `http-response` and `tcp-request` rules, seeds' lines included.

use std::path::{Path, PathBuf};

use super::*;
use crate::acl::{parse_acl, AclDef, AclRef, Ctx, Fetch, Polarity, Predefined};
use crate::diag::Location;
use crate::lexer::split_line;
use crate::logformat::LogPart;

pub(super) fn words(s: &str) -> Vec<String> {
    split_line(s, &|_| None).unwrap()
}

pub(super) fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringlb-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) fn with_ctx<T>(f: impl FnOnce(&Ctx<'_>) -> T) -> T {
    let loc = Location {
        file: "r.cfg".into(),
        line: 3,
    };
    let base = temp_dir();
    let acl_ctx = Ctx {
        location: &loc,
        source_line: "",
        keyword: "acl",
        acls: &[],
        base_dir: &base,
    };
    let acls: Vec<AclDef> = [
        "blacklist src 10.0.0.0/8",
        "site_dead nbsrv(server_web) lt 2",
        "is_api path_beg /api",
        "is_old hdr(host) old.example.com",
    ]
    .iter()
    .map(|l| parse_acl(&words(l), &acl_ctx).unwrap())
    .collect();
    let ctx = Ctx {
        location: &loc,
        source_line: "rule line",
        keyword: "http-request",
        acls: &acls,
        base_dir: &base,
    };
    f(&ctx)
}

fn req(line: &str) -> Result<HttpRequestRule, Diagnostic> {
    with_ctx(|ctx| parse_http_request(&words(line), ctx))
}

fn req_ok(line: &str) -> HttpRequestRule {
    let r = req(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    let text = r.to_string();
    let again = req(&text).unwrap_or_else(|e| panic!("'{text}' does not re-parse: {e}"));
    assert_eq!(
        again, r,
        "'{line}' displayed as '{text}' re-parsed differently"
    );
    r
}

fn req_err(line: &str) -> Diagnostic {
    match req(line) {
        Ok(r) => panic!("{line} parsed as {r:?}"),
        Err(e) => e,
    }
}

pub(super) fn res(line: &str) -> Result<HttpResponseRule, Diagnostic> {
    with_ctx(|ctx| parse_http_response(&words(line), ctx))
}

pub(super) fn res_ok(line: &str) -> HttpResponseRule {
    let r = res(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    let text = r.to_string();
    assert_eq!(res(&text).unwrap(), r, "'{text}'");
    r
}

pub(super) fn tcp(line: &str) -> Result<TcpRequestRule, Diagnostic> {
    with_ctx(|ctx| parse_tcp_request(&words(line), ctx))
}

pub(super) fn tcp_ok(line: &str) -> TcpRequestRule {
    let r = tcp(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(tcp(&r.to_string()).unwrap(), r, "'{r}'");
    r
}

pub(super) fn lf(s: &str) -> LogFormat {
    LogFormat::parse(s).unwrap()
}

#[test]
fn seed_block_folds_into_deny_with_its_condition() {
    // `block if blacklist` is handed over as `deny if blacklist`.
    let r = req_ok("deny if blacklist");
    assert_eq!(
        r.action,
        HttpRequestAction::Deny(ReturnSpec::with_status(403))
    );
    let c = r.condition.unwrap();
    assert_eq!(c.polarity, Polarity::If);
    assert_eq!(c.terms[0][0].acl, AclRef::Named("blacklist".into()));
    assert_eq!(req_ok("deny if blacklist").to_string(), "deny if blacklist");
}

#[test]
fn seed_redirect_without_a_target_is_refused_with_usage() {
    // The seed shows `redirect location` with its URL cut off.
    let e = req_err("redirect location");
    assert!(e.message.contains("expects a target"), "{e}");
    assert!(e
        .help
        .unwrap()
        .contains("redirect location|prefix|scheme VALUE"));
}

#[test]
fn legacy_redirect_takes_a_condition_without_a_code() {
    let r = req_ok("redirect location /x if is_old");
    let HttpRequestAction::Redirect(rd) = &r.action else {
        panic!("{r:?}")
    };
    assert_eq!(rd.kind, RedirectKind::Location);
    assert_eq!(rd.target, lf("/x"));
    assert_eq!(rd.code, 302);
    assert!(r.condition.is_some());
}

#[test]
fn redirect_options_are_typed() {
    let r = req_ok(
        "redirect prefix https://example.com code 301 drop-query append-slash set-cookie SEEN=1 clear-cookie OLD if !is_api",
    );
    let HttpRequestAction::Redirect(rd) = r.action else {
        panic!()
    };
    assert_eq!(rd.kind, RedirectKind::Prefix);
    assert_eq!(rd.code, 301);
    assert!(rd.drop_query && rd.append_slash);
    assert_eq!(
        rd.set_cookie,
        Some(CookieSpec {
            name: "SEEN".into(),
            value: Some("1".into())
        })
    );
    assert_eq!(rd.clear_cookie.as_deref(), Some("OLD"));
    let r = req_ok("redirect scheme https code 308 unless is_api");
    let HttpRequestAction::Redirect(rd) = r.action else {
        panic!()
    };
    assert_eq!((rd.kind, rd.code), (RedirectKind::Scheme, 308));
    req_ok("redirect location https://%[hdr(host)]%[path] code 303");
    req_ok("redirect location /a code 307 set-cookie FLAG");

    for (line, needle) in [
        (
            "redirect location /x code 305",
            "invalid redirect code '305'",
        ),
        ("redirect location /x code", "missing its value"),
        ("redirect elsewhere /x", "unknown redirect type 'elsewhere'"),
        (
            "redirect location /x bounce",
            "unknown redirect option 'bounce'",
        ),
        ("redirect location %[nosuch]", "unknown fetch"),
    ] {
        let e = req_err(line);
        assert!(e.message.contains(needle), "{line}: {e}");
    }
}

#[test]
fn allow_auth_and_simple_actions_parse() {
    assert_eq!(req_ok("allow").action, HttpRequestAction::Allow);
    assert_eq!(
        req_ok("auth").action,
        HttpRequestAction::Auth { realm: None }
    );
    assert_eq!(
        req_ok("auth realm 'Admin area' if !is_api").action,
        HttpRequestAction::Auth {
            realm: Some("Admin area".into())
        }
    );
    assert_eq!(
        req_ok("use-service prometheus-exporter if { path /metrics }").action,
        HttpRequestAction::UseService(Service::PrometheusExporter)
    );
    assert_eq!(
        req_ok("disable-l7-retry").action,
        HttpRequestAction::DisableL7Retry
    );
    assert_eq!(
        req_ok("set-log-level silent if is_api").action,
        HttpRequestAction::SetLogLevel(LogLevel::Silent)
    );
    assert_eq!(
        req_ok("set-log-level warning").action,
        HttpRequestAction::SetLogLevel(LogLevel::Level(crate::model::Level::Warning))
    );
    assert!(req_err("set-log-level loud")
        .message
        .contains("unknown log level 'loud'"));
    assert!(req_err("use-service lua.hello")
        .message
        .contains("unknown service"));
    assert!(req_err("auth realm").message.contains("missing its value"));
}

#[test]
fn deny_and_tarpit_take_status_and_reply() {
    let r = req_ok("deny deny_status 429 content-type text/plain string 'slow down' hdr Retry-After 10 if is_api");
    let HttpRequestAction::Deny(spec) = r.action else {
        panic!()
    };
    assert_eq!(spec.status, 429);
    assert_eq!(spec.content_type.as_deref(), Some("text/plain"));
    assert_eq!(spec.body, ReturnBody::String("slow down".into()));
    assert_eq!(spec.headers, vec![("Retry-After".into(), lf("10"))]);
    // `status` is accepted as the newer spelling.
    let HttpRequestAction::Deny(spec) = req_ok("deny status 401").action else {
        panic!()
    };
    assert_eq!(spec.status, 401);
    let HttpRequestAction::Tarpit(spec) = req_ok("tarpit").action else {
        panic!()
    };
    assert_eq!(spec.status, 500);
    let HttpRequestAction::Tarpit(spec) = req_ok("tarpit deny_status 403 if blacklist").action
    else {
        panic!()
    };
    assert_eq!(spec.status, 403);
    for (line, needle) in [
        ("deny deny_status 99", "invalid HTTP status code '99'"),
        ("deny deny_status abc", "invalid HTTP status code 'abc'"),
        ("deny deny_status", "missing its value"),
        ("deny deny_status 403 status 404", "given twice"),
        ("deny forever", "unknown option 'forever'"),
    ] {
        let e = req_err(line);
        assert!(e.message.contains(needle), "{line}: {e}");
    }
}

#[test]
fn return_defaults_to_200_and_reads_files_at_load() {
    let r = req_ok("return");
    assert_eq!(
        r.action,
        HttpRequestAction::Return(ReturnSpec::with_status(200))
    );

    let r = req_ok(
        "return status 503 content-type 'text/html; charset=utf-8' lf-string 'down: %[be_name]' hdr X-Why maintenance if site_dead",
    );
    let HttpRequestAction::Return(spec) = r.action else {
        panic!()
    };
    assert_eq!(spec.status, 503);
    let ReturnBody::LfString(body) = &spec.body else {
        panic!()
    };
    assert!(matches!(&body.parts[1], LogPart::Sample { expr, .. } if expr.fetch == Fetch::BeName));

    let dir = temp_dir();
    std::fs::write(dir.join("maint.html"), "<h1>maintenance</h1>\n").unwrap();
    std::fs::write(dir.join("hello.lf"), "hello %[src]\n").unwrap();
    std::fs::write(
        dir.join("503.http"),
        "HTTP/1.0 503 Service Unavailable\r\n\r\nbusy\n",
    )
    .unwrap();
    let HttpRequestAction::Return(spec) =
        req_ok("return status 503 content-type text/html file maint.html").action
    else {
        panic!()
    };
    assert_eq!(
        spec.body,
        ReturnBody::File {
            path: dir.join("maint.html"),
            contents: b"<h1>maintenance</h1>\n".to_vec()
        }
    );
    let HttpRequestAction::Return(spec) =
        req_ok("return content-type text/plain lf-file hello.lf").action
    else {
        panic!()
    };
    assert!(matches!(spec.body, ReturnBody::LfFile { ref format, .. } if format.parts.len() == 3));
    let HttpRequestAction::Return(spec) = req_ok("return status 503 errorfile 503.http").action
    else {
        panic!()
    };
    assert!(
        matches!(spec.body, ReturnBody::ErrorFile { ref contents, .. } if contents.starts_with(b"HTTP/1.0 503"))
    );
    let HttpRequestAction::Return(spec) = req_ok("return status 404 default-errorfiles").action
    else {
        panic!()
    };
    assert_eq!(spec.body, ReturnBody::DefaultErrorfiles);

    for (line, needle) in [
        (
            "return content-type text/html file nope.html",
            "cannot read file",
        ),
        ("return string hi", "has a body but no content-type"),
        (
            "return content-type text/plain string a string b",
            "two bodies",
        ),
        (
            "return content-type text/plain errorfile 503.http",
            "cannot set content-type or hdr",
        ),
        (
            "return default-errorfiles hdr X 1",
            "cannot set content-type or hdr",
        ),
        ("return status 700", "invalid HTTP status code"),
        ("return hdr 'bad name' x", "invalid header name"),
        (
            "return content-type text/plain lf-string %[nosuch]",
            "unknown fetch",
        ),
    ] {
        let e = req_err(line);
        assert!(e.message.contains(needle), "{line}: {e}");
    }
}

#[test]
fn header_actions_take_names_formats_and_regexes() {
    assert_eq!(
        req_ok("add-header X-Forwarded-Proto https").action,
        HttpRequestAction::Header(HeaderAction::Add {
            name: "X-Forwarded-Proto".into(),
            value: lf("https")
        })
    );
    assert_eq!(
        req_ok("set-header X-Client %[src] if is_api").action,
        HttpRequestAction::Header(HeaderAction::Set {
            name: "X-Client".into(),
            value: lf("%[src]")
        })
    );
    assert_eq!(
        req_ok("del-header Server").action,
        HttpRequestAction::Header(HeaderAction::Del {
            name: NameMatch::Str("Server".into())
        })
    );
    for (m, expected) in [
        ("beg", NameMatch::Beg("X-".into())),
        ("end", NameMatch::End("X-".into())),
        ("sub", NameMatch::Sub("X-".into())),
        ("str", NameMatch::Str("X-".into())),
    ] {
        assert_eq!(
            req_ok(&format!("del-header X- -m {m}")).action,
            HttpRequestAction::Header(HeaderAction::Del { name: expected })
        );
    }
    let r = req_ok("del-header ^x-debug-.* -m reg");
    assert!(matches!(
        r.action,
        HttpRequestAction::Header(HeaderAction::Del {
            name: NameMatch::Reg(_)
        })
    ));
    let r = req_ok(r"replace-header Cookie '(.*)SID=[^;]*(.*)' '\1\2'");
    let HttpRequestAction::Header(HeaderAction::Replace {
        name,
        regex,
        replacement,
    }) = r.action
    else {
        panic!()
    };
    assert_eq!(name, "Cookie");
    assert_eq!(regex.as_str(), "(.*)SID=[^;]*(.*)");
    assert_eq!(replacement.source, r"\1\2");
    assert!(matches!(
        req_ok(r"replace-value X-Forwarded-For '^192\.168\.(.*)$' '172.16.\1'").action,
        HttpRequestAction::Header(HeaderAction::ReplaceValue { .. })
    ));

    for (line, needle) in [
        ("add-header", "expects a header name"),
        ("add-header X-A", "expects a value"),
        ("set-header 'Bad Name' v", "invalid header name"),
        ("del-header X -m glob", "unknown del-header match method"),
        ("replace-header Host '(unclosed' x", "invalid regex"),
        ("replace-value Host (a)", "expects a replacement"),
        ("add-header X-A %[nosuch]", "unknown fetch"),
        ("add-header X-A 1 2", "unexpected '2' after 'add-header'"),
    ] {
        let e = req_err(line);
        assert!(e.message.contains(needle), "{line}: {e}");
        assert_eq!(e.keyword, "http-request");
        assert_eq!(e.location.line, 3);
    }
}

#[test]
fn uri_rewrites_take_formats_or_regex_and_replacement() {
    assert_eq!(
        req_ok("set-path /v2%[path]").action,
        HttpRequestAction::SetPath(lf("/v2%[path]"))
    );
    assert_eq!(
        req_ok("set-pathq /x?y=1").action,
        HttpRequestAction::SetPathq(lf("/x?y=1"))
    );
    assert_eq!(
        req_ok("set-query a=1").action,
        HttpRequestAction::SetQuery(lf("a=1"))
    );
    assert_eq!(
        req_ok("set-uri http://x/").action,
        HttpRequestAction::SetUri(lf("http://x/"))
    );
    assert_eq!(
        req_ok("set-method GET if is_api").action,
        HttpRequestAction::SetMethod(lf("GET"))
    );
    for w in ["replace-path", "replace-pathq", "replace-uri"] {
        let r = req_ok(&format!(r"{w} '^/api/(.*)' '/\1'"));
        let (regex, replacement) = match r.action {
            HttpRequestAction::ReplacePath { regex, replacement }
            | HttpRequestAction::ReplacePathq { regex, replacement }
            | HttpRequestAction::ReplaceUri { regex, replacement } => (regex, replacement),
            other => panic!("{other:?}"),
        };
        assert_eq!(regex.as_str(), "^/api/(.*)");
        assert_eq!(replacement.source, r"/\1");
        assert!(req_err(&format!("{w} '(?<=x)y' z"))
            .message
            .contains("invalid regex"));
    }
    assert!(req_err("set-path").message.contains("expects a format"));
}

#[test]
fn set_var_and_capture_take_sample_expressions() {
    let r = req_ok("set-var(txn.host) req.hdr(host),lower");
    let HttpRequestAction::SetVar { var, expr } = r.action else {
        panic!()
    };
    assert_eq!(var.scope, VarScope::Txn);
    assert_eq!(var.name, "host");
    assert_eq!(expr.to_string(), "hdr(host),lower");
    let r = req_ok("set-var(txn.x) var(sess.y,none),lower");
    let HttpRequestAction::SetVar { expr, .. } = r.action else {
        panic!()
    };
    assert_eq!(
        expr.fetch,
        Fetch::Var {
            var: VarName::parse("sess.y").unwrap(),
            default: Some("none".into())
        }
    );
    assert_eq!(expr.to_string(), "var(sess.y,none),lower");
    assert!(matches!(
        req_ok("capture src id 2").action,
        HttpRequestAction::Capture {
            id: Some(2),
            len: 0,
            ..
        }
    ));
    assert_eq!(
        req_ok("unset-var(req.a)").action,
        HttpRequestAction::UnsetVar(VarName::parse("req.a").unwrap())
    );
    let r = req_ok("capture req.hdr(User-Agent) len 64");
    assert!(matches!(
        r.action,
        HttpRequestAction::Capture { len: 64, .. }
    ));
    for (line, needle) in [
        ("set-var(global.x) src", "unknown variable scope 'global'"),
        ("set-var(txn) src", "has no scope"),
        ("set-var(txn.x) nosuch", "unknown fetch"),
        ("capture src len 0", "invalid capture length '0'"),
        ("capture src size 4", "expects 'len'"),
        ("capture src id x", "invalid capture id 'x'"),
        ("unset-var(tx.x)", "unknown variable scope 'tx'"),
        ("set-var(txn.x) var(x)", "has no scope"),
        ("set-var(txn.x) int(ten)", "'ten' is not an integer"),
    ] {
        let e = req_err(line);
        assert!(e.message.contains(needle), "{line}: {e}");
    }
}

#[test]
fn unknown_actions_name_the_nearest_one() {
    let e = req_err("set-haeder X y");
    assert!(e
        .message
        .contains("unknown 'http-request' action 'set-haeder'"));
    assert_eq!(e.help.as_deref(), Some("did you mean 'set-header'?"));
    let e = req_err("denny");
    assert_eq!(e.help.as_deref(), Some("did you mean 'deny'?"));
    assert!(req_err("").message.contains("expects an action"));
    let e = res("set-stat 200").unwrap_err();
    assert_eq!(e.help.as_deref(), Some("did you mean 'set-status'?"));
}

#[test]
fn conditions_after_actions_are_checked() {
    let e = req_err("deny if nosuch_acl");
    assert!(e.message.contains("no ACL named 'nosuch_acl'"));
    let e = req_err("allow if");
    assert!(e.message.contains("not followed by any ACL"));
    let r = req_ok("allow if METH_GET is_api || LOCALHOST");
    let c = r.condition.unwrap();
    assert_eq!(c.terms.len(), 2);
    assert_eq!(c.terms[1][0].acl, AclRef::Predefined(Predefined::Localhost));
}

#[test]
fn display_round_trips_every_request_rule_form() {
    for line in [
        "allow",
        "allow if is_api !blacklist || { src 127.0.0.1 }",
        "deny",
        "deny deny_status 400 content-type text/plain string 'bad request\n'",
        "tarpit deny_status 429",
        "auth realm \"it's private\"",
        "redirect location https://example.com/ code 301 if is_old",
        "return status 403 content-type application/json string '{\"e\":1}' hdr Cache-Control no-store",
        "add-header X-Forwarded-Port %[dst_port]",
        "set-header Host 'example.com' unless is_api",
        "del-header X-Debug -m beg",
        r"replace-header Host '^(.*)\.old$' '\1.new'",
        "set-path /",
        "set-query ''",
        "use-service prometheus-exporter",
        "set-var(sess.client) src",
        "capture hdr(host) len 32",
        "capture var(txn.who,nobody) id 1",
        "unset-var(txn.x) if is_api",
        "set-var(txn.k) str(fixed)",
        "set-var(proc.n) int(-3)",
        "set-log-level err",
        "disable-l7-retry if is_api",
    ] {
        req_ok(line);
    }
}

#[test]
fn paths_of_file_bodies_resolve_against_the_config_folder() {
    let dir = temp_dir();
    std::fs::write(dir.join("ok.txt"), "ok").unwrap();
    let r = req_ok("return content-type text/plain file ok.txt");
    let HttpRequestAction::Return(ReturnSpec {
        body: ReturnBody::File { path, .. },
        ..
    }) = &r.action
    else {
        panic!()
    };
    assert_eq!(path, &dir.join("ok.txt"));
    assert!(Path::new(path).is_absolute());
}
