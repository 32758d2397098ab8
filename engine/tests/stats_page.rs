//! The stats page served from the HTTP path: the `stats uri` prefix, `stats auth` with its
//! realm, exact counters in `;csv` after known traffic, `;up`, `;norefresh`, `stats scope`,
//! and admin form posts answered with 303.

mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use support::*;

fn basic(user_pass: &str) -> String {
    String::from_utf8(ringlb::analysis::acl::fetch::base64(user_pass.as_bytes())).unwrap()
}

fn get_page(addr: SocketAddr, path: &str, extra: &str) -> Response {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"),
    )
}

/// The CSV as (header names, rows of cells).
fn csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    let names = header
        .strip_prefix("# ")
        .expect("header starts with '# '")
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (names, rows)
}

/// The cell `field` of the row `pxname,svname`.
fn field(table: &(Vec<String>, Vec<Vec<String>>), px: &str, sv: &str, field: &str) -> String {
    let col = table
        .0
        .iter()
        .position(|n| n == field)
        .unwrap_or_else(|| panic!("no column {field}"));
    let row = table
        .1
        .iter()
        .find(|r| r[0] == px && r[1] == sv)
        .unwrap_or_else(|| panic!("no row {px},{sv}"));
    row[col].clone()
}

/// Fetches `;csv` until `ok` holds for it (a connection's counters are final once the
/// worker saw it close, slightly after the client did).
fn csv_when(
    addr: SocketAddr,
    path: &str,
    ok: impl Fn(&(Vec<String>, Vec<Vec<String>>)) -> bool,
) -> (Vec<String>, Vec<Vec<String>>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = get_page(addr, path, "");
        assert_eq!(r.status, 200, "{}", r.text());
        let t = csv(&r.text());
        if ok(&t) || Instant::now() > deadline {
            return t;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn auth_is_required_with_the_configured_realm(legacy: bool) {
    let web = Origin::text("hello").addr;
    let port = free_port();
    let h = run_http(
        2,
        &format!(
            "listen admin\n bind 127.0.0.1:{port}\n stats enable\n stats uri /stats\n stats realm Ringlb\\ Stats\n stats auth admin:s3cret\n server web1 {web}\n"
        ),
        legacy,
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let r = get_page(addr, "/stats", "");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"Ringlb Stats\"")
    );
    let wrong = format!("Authorization: Basic {}\r\n", basic("admin:nope"));
    assert_eq!(get_page(addr, "/stats", &wrong).status, 401);
    let csv_path = "/stats;csv";
    assert_eq!(
        get_page(addr, csv_path, "").status,
        401,
        "the CSV is guarded too"
    );
    let right = format!("Authorization: Basic {}\r\n", basic("admin:s3cret"));
    let r = get_page(addr, "/stats", &right);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html"));
    let page = r.text();
    assert!(
        page.contains("<table class=\"tbl\" id=\"admin\">"),
        "{page}"
    );
    assert!(page.contains(">web1</td>"), "{page}");
    // Outside the stats URI the proxy forwards as usual.
    let r = get_page(addr, "/other", "");
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    drop(h);
}
both_drivers!(
    auth_is_required_with_the_configured_realm,
    super::auth_is_required_with_the_configured_realm
);

fn csv_shows_exact_counters_after_known_traffic(legacy: bool) {
    let web = Origin::text("hello").addr;
    let (port, sport) = (free_port(), free_port());
    let h = run_http(
        2,
        &format!(
            "frontend www\n bind 127.0.0.1:{port}\n acl forbidden path_beg /forbidden\n http-request deny if forbidden\n default_backend web\n\
             backend web\n server web1 {web}\n server web2 {web} backup\n\
             listen stats\n bind 127.0.0.1:{sport}\n stats enable\n stats uri /haproxy?stats\n"
        ),
        legacy,
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..6 {
        assert_eq!(http_get(addr, "/").unwrap().0, 200);
    }
    assert_eq!(http_get(addr, "/forbidden").unwrap().0, 403);
    let stats = SocketAddr::from(([127, 0, 0, 1], sport));
    let t = csv_when(stats, "/haproxy?stats;csv", |t| {
        field(t, "www", "FRONTEND", "scur") == "0" && field(t, "web", "web1", "scur") == "0"
    });
    assert!(t
        .0
        .starts_with(&["pxname".into(), "svname".into(), "qcur".into()]));
    assert_eq!(field(&t, "www", "FRONTEND", "stot"), "7");
    assert_eq!(field(&t, "www", "FRONTEND", "req_tot"), "7");
    assert_eq!(field(&t, "www", "FRONTEND", "dreq"), "1");
    assert_eq!(field(&t, "www", "FRONTEND", "hrsp_2xx"), "6");
    assert_eq!(field(&t, "www", "FRONTEND", "hrsp_4xx"), "1");
    assert_eq!(field(&t, "www", "FRONTEND", "status"), "OPEN");
    assert_eq!(field(&t, "web", "web1", "hrsp_2xx"), "6");
    assert_eq!(field(&t, "web", "web2", "hrsp_2xx"), "0");
    assert_eq!(field(&t, "web", "BACKEND", "hrsp_2xx"), "6");
    assert_eq!(field(&t, "web", "web1", "bck"), "0");
    assert_eq!(field(&t, "web", "web2", "bck"), "1");
    // The stats listen itself has its rows too.
    assert_eq!(field(&t, "stats", "FRONTEND", "status"), "OPEN");
    drop(h);
}
both_drivers!(
    csv_shows_exact_counters_after_known_traffic,
    super::csv_shows_exact_counters_after_known_traffic
);

fn the_uri_is_a_prefix_and_options_follow_it(legacy: bool) {
    let web = Origin::text("from server").addr;
    let port = free_port();
    let h = run_http(
        2,
        &format!(
            "listen app\n bind 127.0.0.1:{port}\n stats uri /admin/stats\n stats refresh 5s\n server web1 {web}\n\
             backend other\n server o1 {web}\n"
        ),
        legacy,
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let page = get_page(addr, "/admin/stats", "").text();
    assert!(
        page.contains("http-equiv=\"refresh\" content=\"5\""),
        "{page}"
    );
    let page = get_page(addr, "/admin/stats;norefresh", "").text();
    assert!(!page.contains("http-equiv=\"refresh\""), "{page}");
    let r = get_page(addr, "/admin/statsXYZ;csv", "");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert!(r.text().starts_with("# pxname,svname,"), "{}", r.text());
    // Not the prefix: forwarded.
    assert_eq!(get_page(addr, "/admin/stat", "").text(), "from server");
    // HEAD gets the head alone.
    let r = request(
        addr,
        "HEAD /admin/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    drop(h);
}
both_drivers!(
    the_uri_is_a_prefix_and_options_follow_it,
    super::the_uri_is_a_prefix_and_options_follow_it
);

fn scope_limits_the_proxies_shown(legacy: bool) {
    let web = Origin::text("x").addr;
    let port = free_port();
    let h = run_http(
        2,
        &format!(
            "listen stats\n bind 127.0.0.1:{port}\n stats uri /s\n stats scope web\n stats scope .\n\
             backend web\n server web1 {web}\nbackend hidden\n server h1 {web}\n"
        ),
        legacy,
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let t = csv(&get_page(addr, "/s;csv", "").text());
    let proxies: Vec<&str> = t.1.iter().map(|r| r[0].as_str()).collect();
    assert!(proxies.contains(&"web"), "{proxies:?}");
    assert!(proxies.contains(&"stats"), "{proxies:?}");
    assert!(!proxies.contains(&"hidden"), "{proxies:?}");
    let page = get_page(addr, "/s", "").text();
    assert!(!page.contains("hidden"), "{page}");
    drop(h);
}
both_drivers!(
    scope_limits_the_proxies_shown,
    super::scope_limits_the_proxies_shown
);

fn post(addr: SocketAddr, path: &str, body: &str, extra: &str) -> Response {
    request(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn admin_posts_without_stats_admin_are_denied_with_303(legacy: bool) {
    let web = Origin::text("x").addr;
    let port = free_port();
    let h = run_http(
        2,
        &format!("listen app\n bind 127.0.0.1:{port}\n stats uri /st\n server web1 {web}\n"),
        legacy,
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let page = get_page(addr, "/st", "").text();
    assert!(
        !page.contains("<form"),
        "no admin form without 'stats admin'"
    );
    let r = post(addr, "/st", "s=web1&action=maint&b=%23app", "");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/st;st=DENY"));
    let page = get_page(addr, "/st;st=DENY", "").text();
    assert!(page.contains("Action denied."), "{page}");
    drop(h);
}
both_drivers!(
    admin_posts_without_stats_admin_are_denied_with_303,
    super::admin_posts_without_stats_admin_are_denied_with_303
);

fn admin_post_puts_a_server_in_maintenance_and_routing_follows(legacy: bool) {
    let (one, two) = (Origin::text("one").addr, Origin::text("two").addr);
    let port = free_port();
    let h = run_http(
        2,
        &format!(
            "listen app\n bind 127.0.0.1:{port}\n balance roundrobin\n stats uri /st\n stats admin if LOCALHOST\n\
             server web1 {one}\n server web2 {two}\n"
        ),
        legacy,
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let page = get_page(addr, "/st", "").text();
    assert!(
        page.contains("<form method=\"post\" action=\"/st\">"),
        "{page}"
    );
    assert!(page.contains("name=\"s\" value=\"web1\""), "{page}");
    let r = post(addr, "/st", "s=web1&action=maint&b=app", "");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/st;st=DONE"));
    // The same order again changes nothing.
    let r = post(addr, "/st", "s=web1&action=maint&b=app", "");
    assert_eq!(r.header("location"), Some("/st;st=NONE"));
    let r = post(addr, "/st", "s=nope&action=maint&b=app", "");
    assert_eq!(r.header("location"), Some("/st;st=UNKN"));
    let t = csv(&get_page(addr, "/st;csv", "").text());
    assert_eq!(field(&t, "app", "web1", "status"), "MAINT");
    // Every worker stops sending to web1 within moments.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut bodies = Vec::new();
    while Instant::now() < deadline {
        bodies = (0..8).map(|_| http_get(addr, "/").unwrap().1).collect();
        if bodies.iter().all(|b| b == "two") {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(bodies.iter().all(|b| b == "two"), "{bodies:?}");
    // `;up` hides it from the page; back to ready, it takes traffic again.
    let page = get_page(addr, "/st;up", "").text();
    assert!(!page.contains(">web1</td>"), "{page}");
    let r = post(addr, "/st", "s=web1&action=ready&b=%23app", "");
    assert_eq!(r.header("location"), Some("/st;st=UNKN"), "ids are numbers");
    let r = post(addr, "/st", "s=web1&action=ready&b=%231", "");
    assert_eq!(r.header("location"), Some("/st;st=DONE"));
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let bodies: Vec<String> = (0..8).map(|_| http_get(addr, "/").unwrap().1).collect();
        if bodies.iter().any(|b| b == "one") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "web1 never came back: {bodies:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    drop(h);
}
both_drivers!(
    admin_post_maint,
    super::admin_post_puts_a_server_in_maintenance_and_routing_follows
);

#[test]
fn a_proxy_description_is_shown_beside_its_name() {
    let web = Origin::text("hello").addr;
    let port = free_port();
    let h = run_http(
        1,
        &format!(
            "listen shop\n bind 127.0.0.1:{port}\n description Front <shop> & co\n stats enable\n stats uri /st\n server web1 {web}\n"
        ),
        false,
    );
    let page = get_page(SocketAddr::from(([127, 0, 0, 1], port)), "/st", "").text();
    assert!(
        page.contains(
            "<a name=\"shop\"></a>shop <span class=\"desc\">Front &lt;shop&gt; &amp; co</span></th>"
        ),
        "{page}"
    );
    drop(h);
}
