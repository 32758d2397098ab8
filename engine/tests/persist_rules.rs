//! `ignore-persist` and `force-persist` through the engine: which server a request carrying
//! a persistence cookie reaches when a rule matches, and when none does.

mod support;

use std::net::SocketAddr;

use ringlb::boot::run::RunHandle;
use support::*;

/// A server answering every request with its name.
fn app(name: &'static str) -> SocketAddr {
    Origin::serve(move |_| Reply::ok(name)).addr
}

fn start(rules: &str, a_params: &str, legacy: bool) -> (RunHandle, SocketAddr) {
    let h = run_http(
        1,
        &format!(
            "listen shop\n bind 127.0.0.1:{}\n balance roundrobin\n cookie SRV insert indirect\n\
             {rules} server a {} cookie a {a_params}\n server b {} cookie b\n",
            free_port(),
            app("a"),
            app("b"),
        ),
        legacy,
    );
    let addr = addr_of(&h, "shop");
    (h, addr)
}

fn served(addr: SocketAddr, path: &str, extra: &str) -> String {
    let r = request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: shop\r\nCookie: SRV=a\r\n{extra}\r\n"),
    );
    assert_eq!(r.status, 200);
    r.text()
}

fn ignore_persist_balances_matching_requests_despite_the_cookie(legacy: bool) {
    let (_h, addr) = start(
        " acl static path_beg /static\n ignore-persist if static\n",
        "",
        legacy,
    );
    let statics: Vec<String> = (0..4).map(|_| served(addr, "/static/x.css", "")).collect();
    assert!(
        statics.iter().any(|s| s == "a") && statics.iter().any(|s| s == "b"),
        "balanced: {statics:?}"
    );
    for _ in 0..4 {
        assert_eq!(
            served(addr, "/cart", ""),
            "a",
            "the cookie still holds elsewhere"
        );
    }
}
both_drivers!(
    ignore_persist_balances_matching_requests_despite_the_cookie,
    super::ignore_persist_balances_matching_requests_despite_the_cookie
);

fn force_persist_reaches_a_server_in_maintenance(legacy: bool) {
    let (_h, addr) = start(
        " acl debug hdr_cnt(X-Debug) gt 0\n force-persist if debug\n",
        "disabled",
        legacy,
    );
    for _ in 0..3 {
        assert_eq!(served(addr, "/", "X-Debug: 1\r\n"), "a");
        assert_eq!(
            served(addr, "/", ""),
            "b",
            "without the rule, a is in maintenance"
        );
    }
}
both_drivers!(
    force_persist_reaches_a_server_in_maintenance,
    super::force_persist_reaches_a_server_in_maintenance
);

fn the_first_matching_persist_rule_wins(legacy: bool) {
    let (_h, addr) = start(
        " acl debug hdr_cnt(X-Debug) gt 0\n ignore-persist if debug\n force-persist if debug\n",
        "disabled",
        legacy,
    );
    for _ in 0..3 {
        assert_eq!(served(addr, "/", "X-Debug: 1\r\n"), "b");
    }
}
both_drivers!(
    the_first_matching_persist_rule_wins,
    super::the_first_matching_persist_rule_wins
);

fn persist_conditions_see_server_counts_and_rewritten_headers(legacy: bool) {
    // With a in maintenance, one server of `shop` is usable.
    let (_h, addr) = start(
        " force-persist if { nbsrv(shop) lt 2 }\n",
        "disabled",
        legacy,
    );
    assert_eq!(
        served(addr, "/", ""),
        "a",
        "nbsrv counts the usable servers"
    );
    // A header the request rules added is seen as the backend sees the request.
    let (_h, addr) = start(
        " http-request set-header X-Debug 1 if { path_beg /debug }\n \
         acl debug hdr_cnt(X-Debug) gt 0\n force-persist if debug\n",
        "disabled",
        legacy,
    );
    assert_eq!(served(addr, "/debug", ""), "a");
    assert_eq!(served(addr, "/", ""), "b");
}
both_drivers!(
    persist_conditions_see_server_counts_and_rewritten_headers,
    super::persist_conditions_see_server_counts_and_rewritten_headers
);
