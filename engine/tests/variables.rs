//! Variables and rule captures end to end on loopback, under io_uring and epoll: `set-var`
//! read back by `var()` in ACLs, header values and `http-response` rules, in each scope;
//! `http-request`/`http-response capture` and `set-log-level` seen in the log line.

mod support;

use std::time::Duration;

use support::*;

fn var_routes_and_fills_headers(legacy: bool) {
    let h = run_with_origins(
        "frontend f\n bind 127.0.0.1:0\n\
         http-request set-var(txn.tier) req.hdr(x-tier),lower\n\
         http-request set-var(req.r) str(only-request)\n\
         http-request set-header X-Tier %[var(txn.tier)]\n\
         http-request set-header X-Req %[var(req.r)]\n\
         use_backend gold if { var(txn.tier) -m str gold }\n\
         default_backend app\n\
         http-response set-header X-Seen-Tier %[var(txn.tier,none)]\n\
         http-response set-header X-Req-Var %[var(req.r,gone)]\n\
         http-response set-status 299 if { var(txn.tier) silver }\n\
         backend app\n server a @app\n\
         backend gold\n server g @gold\n",
        &[
            ("app", Origin::named("app").addr),
            ("gold", Origin::named("gold").addr),
        ],
        legacy,
    );
    let fe = addr_of(&h, "f");
    let ask = |tier: Option<&str>| {
        let hdr = tier.map(|t| format!("X-Tier: {t}\r\n")).unwrap_or_default();
        request(
            fe,
            &format!("GET / HTTP/1.1\r\nHost: x\r\n{hdr}Connection: close\r\n\r\n"),
        )
    };
    // The variable, set from a header, picks the backend through an ACL.
    let gold = ask(Some("GOLD"));
    assert_eq!(origin_name(&gold), "gold", "{}", gold.text());
    // … and fills request header values the server sees.
    assert!(gold.text().contains("X-Tier: gold\r\n"), "{}", gold.text());
    assert!(
        gold.text().contains("X-Req: only-request\r\n"),
        "{}",
        gold.text()
    );
    // A txn variable lives on into the response rules; a req one does not.
    assert_eq!(gold.header("x-seen-tier"), Some("gold"), "{}", gold.head);
    assert_eq!(gold.header("x-req-var"), Some("gone"), "{}", gold.head);
    assert_eq!(gold.status, 200);

    let silver = ask(Some("Silver"));
    assert_eq!(origin_name(&silver), "app");
    assert_eq!(silver.status, 299, "{}", silver.head);
    assert_eq!(silver.header("x-seen-tier"), Some("silver"));

    // No header: the variable is never set; the default of `var()` shows.
    let none = ask(None);
    assert_eq!(origin_name(&none), "app");
    assert_eq!(none.header("x-seen-tier"), Some("none"), "{}", none.head);
    assert!(none.text().contains("X-Tier: \r\n"), "{}", none.text());
}
both_drivers!(
    a_variable_routes_and_fills_header_values,
    super::var_routes_and_fills_headers
);

fn scopes(legacy: bool) {
    // `proc` variables are shared by every engine of the test process: one name per driver.
    let prev = if legacy { "prev_epoll" } else { "prev_uring" };
    let h = run_with_origins(
        &"frontend f\n bind 127.0.0.1:0\n\
         http-request set-var(sess.first) path if !{ var(sess.first) -m found }\n\
         http-request set-var(txn.n) int(1) if { path /one }\n\
         http-request set-header X-Prev %[var(proc.var_test_prev,none)]\n\
         http-request set-var(proc.var_test_prev) path\n\
         http-request unset-var(sess.first) if { path /forget }\n\
         default_backend app\n\
         http-response set-header X-First %[var(sess.first,-)]\n\
         http-response set-header X-N %[var(txn.n,0)]\n\
         backend app\n server a @app\n"
            .replace("var_test_prev", prev),
        &[("app", Origin::named("app").addr)],
        legacy,
    );
    let fe = addr_of(&h, "f");
    let mut c = Client::connect(fe);
    let mut ask = |path: &str| {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        c.read(false)
    };
    let a = ask("/one");
    assert_eq!(a.header("x-first"), Some("/one"));
    assert_eq!(a.header("x-n"), Some("1"));
    // Same connection: the session variable stays, the transaction one is gone.
    let b = ask("/two");
    assert_eq!(b.header("x-first"), Some("/one"));
    assert_eq!(b.header("x-n"), Some("0"));
    let f = ask("/forget");
    assert_eq!(f.header("x-first"), Some("-"));
    drop(c);

    // A new connection starts a new session but sees the process-wide variable.
    let r = get(fe, "/three", "x");
    assert_eq!(r.header("x-first"), Some("/three"));
    assert!(r.text().contains("X-Prev: /forget\r\n"), "{}", r.text());
}
both_drivers!(variables_live_as_long_as_their_scope, super::scopes);

/// The syslog message of a line: what follows `tag[pid]: `.
fn message(line: &str) -> &str {
    line.split_once("]: ").map_or(line, |(_, m)| m)
}

fn captures_and_levels(legacy: bool) {
    let rx = Receiver::new();
    let h = run_with_origins(
        &format!(
            "frontend f\n bind 127.0.0.1:0\n log {} local0 info\n\
             log-format \"%hr %hs %HP\"\n\
             capture request header Host len 8\n\
             capture response header X-Origin len 2\n\
             http-request capture req.hdr(x-tier),upper len 3\n\
             http-request capture path id 0 if {{ path_beg /id }}\n\
             http-request set-log-level silent if {{ path /quiet }}\n\
             http-request set-log-level err if {{ path /loud }}\n\
             http-request set-var(txn.path) path\n\
             default_backend app\n\
             http-response capture res.hdr(x-origin),length id 0 if {{ var(txn.path) -m beg /len }}\n\
             backend app\n server a @app\n",
            rx.addr()
        ),
        &[("app", Origin::named("app").addr)],
        legacy,
    );
    let fe = addr_of(&h, "f");
    let ask = |path: &str| {
        request(
            fe,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: www.example.com\r\nX-Tier: gold\r\nConnection: close\r\n\r\n"
            ),
        )
    };
    assert_eq!(ask("/plain").status, 200);
    // The declared slot shows the Host header; the rule's own slot follows it.
    let plain = rx.line();
    assert_eq!(message(&plain), "{www.exam|GOL} {ap} /plain", "{plain}");
    assert!(plain.starts_with("<134>"), "local0 info: {plain}");

    ask("/id/x");
    let id = rx.line();
    assert_eq!(message(&id), "{/id/x|GOL} {ap} /id/x", "{id}");

    ask("/len");
    let len = rx.line();
    assert_eq!(message(&len), "{www.exam|GOL} {3} /len", "{len}");

    ask("/quiet");
    assert!(
        rx.silent(Duration::from_millis(300)),
        "silent drops the line"
    );
    ask("/loud");
    let loud = rx.line();
    assert!(loud.starts_with("<131>"), "local0 err: {loud}");
    assert!(loud.ends_with(" /loud"), "{loud}");
}
both_drivers!(
    rule_captures_and_log_levels_show_in_the_log,
    super::captures_and_levels
);
