//! Layer-7 rules end to end on loopback, under io_uring and epoll: Basic authentication
//! against userlists, error pages from `http-errors` sections, `http-response return` and
//! `redirect`, and rules that see the request as earlier rules rewrote it.

mod support;

use support::*;

fn basic(user: &str, pass: &str) -> String {
    let creds = format!("{user}:{pass}");
    String::from_utf8(ringlb::analysis::acl::fetch::base64(creds.as_bytes())).unwrap()
}

fn get_as(addr: std::net::SocketAddr, path: &str, creds: Option<(&str, &str)>) -> Response {
    let auth = creds
        .map(|(u, p)| format!("Authorization: Basic {}\r\n", basic(u, p)))
        .unwrap_or_default();
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
    )
}

fn auth(legacy: bool) {
    let o = Origin::named("app").addr;
    // `openssl passwd -5 -salt saltsalt secret`
    let h = run_with_origins(
        "userlist L\n group admin users alice\n user alice insecure-password a1\n\
         user bob password $5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA groups ops\n\
         frontend f\n bind 127.0.0.1:0\n\
         acl auth_ok http_auth(L)\n acl admins http_auth_group(L) admin\n\
         http-request auth realm Staff if !auth_ok\n\
         http-request deny if { path_beg /admin } !admins\n\
         default_backend app\n\
         backend app\n server a @app\n",
        &[("app", o)],
        legacy,
    );
    let fe = addr_of(&h, "f");
    let none = get_as(fe, "/", None);
    assert_eq!(none.status, 401, "{}", none.head);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Basic realm=\"Staff\"")
    );
    let alice = get_as(fe, "/", Some(("alice", "a1")));
    assert_eq!(alice.status, 200, "{}", alice.head);
    assert_eq!(origin_name(&alice), "app");
    assert_eq!(get_as(fe, "/", Some(("alice", "a2"))).status, 401);
    assert_eq!(get_as(fe, "/", Some(("carol", "a1"))).status, 401);
    // SHA-256-crypt hash.
    assert_eq!(get_as(fe, "/", Some(("bob", "secret"))).status, 200);
    assert_eq!(get_as(fe, "/", Some(("bob", "Secret"))).status, 401);
    // Group membership from a `group … users` line; bob is only in `ops`.
    assert_eq!(get_as(fe, "/admin/x", Some(("alice", "a1"))).status, 200);
    assert_eq!(get_as(fe, "/admin/x", Some(("bob", "secret"))).status, 403);
    // A malformed Authorization header is no credential at all.
    let bad = request(
        fe,
        "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(bad.status, 401);
}
both_drivers!(
    http_auth_asks_for_credentials_then_admits_the_right_ones,
    super::auth
);

fn http_errors(legacy: bool) {
    let dir = TempDir::new("http-errors");
    let p503 = dir.write(
        "503.http",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nsection 503",
    );
    let p403 = dir.write(
        "403.http",
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nsection 403",
    );
    let p404 = dir.write(
        "404.http",
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nsection 404",
    );
    let own = dir.write(
        "own403.http",
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\nConnection: close\r\n\r\nown 403",
    );
    let h = run_with_origins(
        &format!(
            "http-errors site\n errorfile 503 {}\n errorfile 403 {}\n errorfile 404 {}\n\
             frontend f\n bind 127.0.0.1:0\n errorfiles site\n\
             http-request deny if {{ path /deny }}\n\
             http-request return status 404 errorfiles site if {{ path /missing }}\n\
             use_backend other if {{ path /other }}\n\
             default_backend dead\n\
             backend dead\n server d @dead\n\
             frontend g\n bind 127.0.0.1:0\n errorfiles site 503\n errorfile 403 {}\n\
             http-request deny if {{ path /deny }}\n default_backend dead\n\
             backend other\n server d @dead\n",
            p503.display(),
            p403.display(),
            p404.display(),
            own.display()
        ),
        &[("dead", dead_addr())],
        legacy,
    );
    let f = addr_of(&h, "f");
    for (path, status, body) in [
        ("/", 503, "section 503"),
        ("/deny", 403, "section 403"),
        ("/missing", 404, "section 404"),
    ] {
        let a = get(f, path, "x");
        assert_eq!(
            (a.status, a.text().as_str()),
            (status, body),
            "{path}: {}",
            a.head
        );
    }
    // A backend without pages of its own falls back to the frontend's.
    let a = get(f, "/other", "x");
    assert_eq!((a.status, a.text().as_str()), (503, "section 503"));
    // Only the codes listed are imported, and the proxy's own errorfile wins.
    let g = addr_of(&h, "g");
    assert_eq!(get(g, "/", "x").text(), "section 503");
    assert_eq!(get(g, "/deny", "x").text(), "own 403");
}
both_drivers!(errors_come_from_http_errors_sections, super::http_errors);

fn response_replies(legacy: bool) {
    let o = Origin::named("app").addr;
    let h = run_with_origins(
        "frontend f\n bind 127.0.0.1:0\n\
         http-response return status 451 content-type text/plain string gone hdr X-Why legal if { res.hdr(x-origin) app } { fe_name f } { status 200 } !{ be_name none }\n\
         default_backend app\n\
         frontend g\n bind 127.0.0.1:0\n default_backend moved\n\
         backend app\n server a @app\n\
         backend moved\n server a @app\n\
         http-response redirect location https://elsewhere.example/ code 301\n",
        &[("app", o)],
        legacy,
    );
    let a = get(addr_of(&h, "f"), "/", "x");
    assert_eq!(a.status, 451, "{}", a.head);
    assert_eq!(a.header("x-why"), Some("legal"));
    assert_eq!(a.header("content-type"), Some("text/plain"));
    assert_eq!(a.text(), "gone");
    let a = get(addr_of(&h, "g"), "/", "x");
    assert_eq!(a.status, 301, "{}", a.head);
    assert_eq!(a.header("location"), Some("https://elsewhere.example/"));
}
both_drivers!(
    http_response_return_and_redirect_replace_the_response,
    super::response_replies
);

fn response_return_keeps_the_connection(legacy: bool) {
    let o = Origin::named("app").addr;
    let h = run_with_origins(
        "frontend f\n bind 127.0.0.1:0\n\
         http-response return status 200 content-type text/plain string replaced\n\
         default_backend app\n\
         backend app\n server a @app\n",
        &[("app", o)],
        legacy,
    );
    let mut c = Client::connect(addr_of(&h, "f"));
    for _ in 0..2 {
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = c.read(false);
        assert_eq!((r.status, r.text().as_str()), (200, "replaced"));
        assert!(!r.closes());
    }
}
both_drivers!(
    http_response_return_keeps_a_keep_alive_client,
    super::response_return_keeps_the_connection
);

fn rewrites_seen(legacy: bool) {
    let (a, b) = (Origin::named("a").addr, Origin::named("b").addr);
    let h = run_with_origins(
        "frontend f\n bind 127.0.0.1:0\n\
         http-request set-path /x if { path /old }\n\
         http-request deny deny_status 403 if { path /x }\n\
         http-request set-header X-A 1 if { path /tag }\n\
         http-request del-header X-Gone\n\
         http-request deny deny_status 409 if { req.hdr(x-gone) -m found }\n\
         http-request set-method POST if { path /post }\n\
         http-request return status 200 content-type text/plain lf-string %[method] if { method POST }\n\
         use_backend b if { req.hdr(x-a) 1 }\n\
         default_backend a\n\
         backend a\n server s @a\n\
         backend b\n server s @b\n",
        &[("a", a), ("b", b)],
        legacy,
    );
    let fe = addr_of(&h, "f");
    assert_eq!(get(fe, "/old", "x").status, 403);
    assert_eq!(origin_name(&get(fe, "/tag", "x")), "b");
    assert_eq!(origin_name(&get(fe, "/", "x")), "a");
    let gone = request(
        fe,
        "GET / HTTP/1.1\r\nHost: x\r\nX-Gone: 1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(gone.status, 200, "a deleted header is not found later");
    let post = get(fe, "/post", "x");
    assert_eq!((post.status, post.text().as_str()), (200, "POST"));
}
both_drivers!(
    conditions_and_use_backend_see_earlier_rewrites,
    super::rewrites_seen
);
