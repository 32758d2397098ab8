//! Layer-7 routing end to end through the engine on loopback: ACL-driven `use_backend`,
//! `http-request` deny/redirect/return/rewrites, `http-response` edits, errorloc, monitor
//! URI with `nbsrv`, `monitor-net` and `tcp-request` rules, under io_uring and epoll.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use ringlb::worker::inbox::ShardEvent;
use support::*;

fn host_routing_and_static_split(legacy: bool) {
    let (s, d, img, api) = (
        Origin::named("static").addr,
        Origin::named("dynamic").addr,
        Origin::named("img").addr,
        Origin::named("api").addr,
    );
    let h = run_with_origins(
        "frontend www\n bind 127.0.0.1:0\n\
         acl is_static path_beg -i /static /images\n\
         acl is_static path_end -i .jpg .gif .png .css\n\
         acl host_img hdr_dom(host) -i img.example.com\n\
         acl host_api hdr_reg(host) -i ^api[.]\n\
         use_backend img if host_img\n\
         use_backend api if host_api\n\
         use_backend static if is_static\n\
         use_backend %[req.hdr(x-backend),lower] if { req.hdr(x-backend) -m found }\n\
         default_backend dynamic\n\
         backend static\n server s @static\n\
         backend dynamic\n server d @dynamic\n\
         backend img\n server i @img\n\
         backend api\n server a @api\n",
        &[("static", s), ("dynamic", d), ("img", img), ("api", api)],
        legacy,
    );
    let fe = addr_of(&h, "www");
    assert_eq!(origin_name(&get(fe, "/static/app.js", "x")), "static");
    assert_eq!(origin_name(&get(fe, "/STATIC/app.js", "x")), "static", "-i");
    assert_eq!(origin_name(&get(fe, "/a/b/logo.GIF?v=1", "x")), "static");
    assert_eq!(origin_name(&get(fe, "/index.php", "x")), "dynamic");
    assert_eq!(origin_name(&get(fe, "/", "IMG.example.com")), "img");
    assert_eq!(
        origin_name(&get(fe, "/static/x", "cdn.img.example.com")),
        "img",
        "first match wins"
    );
    assert_eq!(origin_name(&get(fe, "/", "api.example.com")), "api");
    assert_eq!(origin_name(&get(fe, "/", "notimg.example.com")), "dynamic");
    let dynamic = |name: &str| {
        request(
            fe,
            &format!("GET / HTTP/1.1\r\nHost: x\r\nX-Backend: {name}\r\nConnection: close\r\n\r\n"),
        )
    };
    assert_eq!(
        origin_name(&dynamic("API")),
        "api",
        "use_backend %[…] names a backend"
    );
    assert_eq!(
        origin_name(&dynamic("nope")),
        "dynamic",
        "unknown name: default_backend"
    );
}
both_drivers!(
    host_routing_and_static_split_choose_the_backend,
    super::host_routing_and_static_split
);

fn read_write_split(legacy: bool) {
    let (r, w) = (Origin::named("read").addr, Origin::named("write").addr);
    let h = run_with_origins(
        "frontend db\n bind 127.0.0.1:0\n\
         acl write method POST PUT DELETE\n\
         use_backend writers if write\n\
         use_backend readers if METH_GET\n\
         backend writers\n server w @write\n\
         backend readers\n server r @read\n",
        &[("read", r), ("write", w)],
        legacy,
    );
    let fe = addr_of(&h, "db");
    assert_eq!(origin_name(&get(fe, "/", "x")), "read");
    let post = request(
        fe,
        "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    assert_eq!(origin_name(&post), "write");
    let head = request(
        fe,
        "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        head.header("x-origin"),
        Some("read"),
        "METH_GET includes HEAD"
    );
    let opt = request(
        fe,
        "OPTIONS / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        opt.status, 503,
        "no rule matches and there is no default_backend"
    );
}
both_drivers!(read_write_split_by_method, super::read_write_split);

fn blacklist(legacy: bool) {
    let o = Origin::named("app").addr;
    let h = run_with_origins(
        "frontend deny\n bind 127.0.0.1:0\n\
         acl blacklist src 127.0.0.0/8\n\
         block if blacklist\n\
         default_backend app\n\
         frontend errorloc\n bind 127.0.0.1:0\n\
         acl blacklist src 127.0.0.1\n\
         http-request deny if blacklist\n\
         errorloc 403 http://example.com/blocked.html\n\
         default_backend app\n\
         frontend status\n bind 127.0.0.1:0\n\
         http-request deny deny_status 429 if { path_beg /slow }\n\
         http-request deny content-type text/plain string nope if { path /custom }\n\
         http-request allow if { src 10.0.0.0/8 }\n\
         default_backend app\n\
         backend app\n server a @app\n",
        &[("app", o)],
        legacy,
    );
    let a = get(addr_of(&h, "deny"), "/", "x");
    assert_eq!(a.status, 403);
    assert!(a.text().contains("403 Forbidden"), "{}", a.text());
    let a = get(addr_of(&h, "errorloc"), "/", "x");
    assert_eq!(a.status, 302);
    assert_eq!(
        a.header("location"),
        Some("http://example.com/blocked.html")
    );
    let st = addr_of(&h, "status");
    assert_eq!(get(st, "/slow/x", "x").status, 429);
    let c = get(st, "/custom", "x");
    assert_eq!((c.status, c.text().as_str()), (403, "nope"));
    assert_eq!(origin_name(&get(st, "/ok", "x")), "app");
}
both_drivers!(
    blacklist_gets_403_or_the_errorloc_redirect,
    super::blacklist
);

fn redirects_and_returns(legacy: bool) {
    let o = Origin::named("app").addr;
    let h = run_with_origins(
        "frontend r\n bind 127.0.0.1:0\n\
         http-request redirect location https://example.com/new code 301 if { path /old }\n\
         http-request redirect prefix /v2 drop-query append-slash if { path_beg /docs }\n\
         http-request redirect scheme https if { path_beg /secure }\n\
         http-request return status 200 content-type text/plain lf-string \"hello %[req.hdr(host)] from %ci\" hdr X-Path %[path] if { path /hello }\n\
         redirect prefix /keep if { path_beg /q }\n\
         default_backend app\n\
         backend app\n server a @app\n",
        &[("app", o)],
        legacy,
    );
    let fe = addr_of(&h, "r");
    let a = get(fe, "/old", "x");
    assert_eq!(
        (a.status, a.header("location")),
        (301, Some("https://example.com/new"))
    );
    let a = get(fe, "/docs/api?x=1", "x");
    assert_eq!(
        (a.status, a.header("location")),
        (302, Some("/v2/docs/api/"))
    );
    let a = get(fe, "/secure/a?b=1", "site.example");
    assert_eq!(
        a.header("location"),
        Some("https://site.example/secure/a?b=1")
    );
    let a = get(fe, "/q/a?b=1", "x");
    assert_eq!(a.header("location"), Some("/keep/q/a?b=1"));
    let a = get(fe, "/hello", "example.org");
    assert_eq!(a.status, 200);
    assert_eq!(a.text(), "hello example.org from 127.0.0.1");
    assert_eq!(a.header("x-path"), Some("/hello"));
    assert_eq!(origin_name(&get(fe, "/other", "x")), "app");
}
both_drivers!(
    redirects_and_conditional_returns_answer_from_the_proxy,
    super::redirects_and_returns
);

fn rewrites(legacy: bool) {
    let o = Origin::named("app").addr;
    // `\\1` in the file: the configuration lexer takes a lone backslash as an escape.
    let h = run_with_origins(
        "frontend f\n bind 127.0.0.1:0\n\
         http-request set-header X-Client %[src]\n\
         http-request add-header X-Added one\n\
         http-request del-header X-Secret\n\
         http-request del-header x-drop- -m beg\n\
         http-request replace-header User-Agent (.*)/([0-9]+) \\\\2-\\\\1\n\
         http-request replace-value Accept ^text/(.*) app/\\\\1\n\
         http-request replace-path /api/(.*) /\\\\1 if { path_beg /api/ }\n\
         http-request set-query lang=fr if { path /q }\n\
         http-request set-method PUT if { path /m }\n\
         http-request set-uri /rewritten?all=1 if { path /u }\n\
         http-response set-header X-Served-By %[be_name]\n\
         http-response del-header X-Origin\n\
         http-response set-status 203 if { status 200 }\n\
         default_backend app\n\
         backend app\n server a @app\n\
         http-request set-header X-Backend-Rule yes\n",
        &[("app", o)],
        legacy,
    );
    let fe = addr_of(&h, "f");
    let a = request(
        fe,
        "GET /api/users?id=3 HTTP/1.1\r\nHost: x\r\nX-Secret: s\r\nX-Drop-A: 1\r\nx-drop-b: 2\r\nX-Client: forged\r\nUser-Agent: curl/8\r\nAccept: text/html, text/plain, image/png\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(a.status, 203);
    assert_eq!(a.header("x-served-by"), Some("app"));
    assert_eq!(a.header("x-origin"), None);
    let seen = &a.text();
    assert!(
        seen.starts_with("app\nGET /users?id=3 HTTP/1.1\r\n"),
        "{seen}"
    );
    assert!(
        seen.contains("X-Client: 127.0.0.1\r\n") && !seen.contains("forged"),
        "{seen}"
    );
    assert!(seen.contains("X-Added: one\r\n"), "{seen}");
    assert!(
        !seen.contains("X-Secret") && !seen.to_ascii_lowercase().contains("x-drop-"),
        "{seen}"
    );
    assert!(seen.contains("User-Agent: 8-curl\r\n"), "{seen}");
    assert!(
        seen.contains("Accept: app/html, app/plain, image/png\r\n"),
        "{seen}"
    );
    assert!(
        seen.contains("X-Backend-Rule: yes\r\n"),
        "backend rules run too: {seen}"
    );
    let seen = get(fe, "/q?x=1", "x").text();
    assert!(seen.contains("GET /q?lang=fr HTTP/1.1"), "{seen}");
    let seen = get(fe, "/m", "x").text();
    assert!(seen.contains("PUT /m HTTP/1.1"), "{seen}");
    let seen = get(fe, "/u", "x").text();
    assert!(seen.contains("GET /rewritten?all=1 HTTP/1.1"), "{seen}");
}
both_drivers!(
    request_and_response_rules_rewrite_the_heads,
    super::rewrites
);

fn monitor(legacy: bool) {
    let (a1, a2) = (Origin::named("a1").addr, Origin::named("a2").addr);
    let h = run_with_origins(
        "frontend site\n bind 127.0.0.1:0\n\
         monitor-uri /site_alive\n\
         acl site_dead nbsrv(app) lt 2\n\
         monitor fail if site_dead\n\
         default_backend app\n\
         backend app\n server a1 @a1\n server a2 @a2\n",
        &[("a1", a1), ("a2", a2)],
        legacy,
    );
    let fe = addr_of(&h, "site");
    let up = get(fe, "/site_alive", "x");
    assert_eq!(up.status, 200);
    assert!(
        !up.text().starts_with("a"),
        "answered by the proxy: {}",
        up.text()
    );
    h.broadcast(ShardEvent::SetServerState {
        backend: "app".into(),
        server: "a2".into(),
        up: false,
    });
    let mut status = 0;
    for _ in 0..100 {
        status = get(fe, "/site_alive", "x").status;
        if status == 503 {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(status, 503, "one server left: monitor fails");
    assert_eq!(origin_name(&get(fe, "/", "x")), "a1", "traffic still flows");
}
both_drivers!(monitor_uri_fails_when_servers_go_down, super::monitor);

fn tcp_rules(legacy: bool) {
    let o = Origin::named("app").addr;
    let echo = echo_server();
    let h = run_with_origins(
        "frontend blocked\n bind 127.0.0.1:0\n\
         tcp-request connection reject if { src 127.0.0.0/8 }\n\
         default_backend app\n\
         frontend allowed\n bind 127.0.0.1:0\n\
         tcp-request connection accept if { src 127.0.0.1 }\n\
         tcp-request connection reject\n\
         default_backend app\n\
         frontend tcp_blocked\n bind 127.0.0.1:0\n mode tcp\n\
         tcp-request content reject if { src 127.0.0.1 }\n\
         default_backend echo\n\
         frontend tcp_ok\n bind 127.0.0.1:0\n mode tcp\n\
         tcp-request content reject unless { dst_port 1 }\n\
         tcp-request connection accept\n\
         use_backend echo if { src 127.0.0.1 }\n\
         frontend mon\n bind 127.0.0.1:0\n\
         monitor-net 127.0.0.0/8\n\
         default_backend app\n\
         frontend tcpmon\n bind 127.0.0.1:0\n mode tcp\n\
         monitor-net 127.0.0.1/32\n\
         default_backend echo\n\
         backend app\n server a @app\n\
         backend echo\n mode tcp\n server e @echo\n",
        &[("app", o), ("echo", echo)],
        legacy,
    );
    let closed = |addr| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        buf
    };
    assert!(
        closed(addr_of(&h, "blocked")).is_empty(),
        "rejected without a word"
    );
    assert_eq!(origin_name(&get(addr_of(&h, "allowed"), "/", "x")), "app");
    assert!(closed(addr_of(&h, "tcp_blocked")).is_empty());
    assert!(
        closed(addr_of(&h, "tcp_ok")).is_empty(),
        "content reject unless dst_port 1"
    );
    let m = closed(addr_of(&h, "mon"));
    assert_eq!(
        m, b"HTTP/1.0 200 OK\r\n\r\n",
        "monitor-net answers without forwarding"
    );
    assert!(
        closed(addr_of(&h, "tcpmon")).is_empty(),
        "tcp monitor-net: accept and close"
    );
}
both_drivers!(
    tcp_request_rules_and_monitor_net_act_before_any_forwarding,
    super::tcp_rules
);
