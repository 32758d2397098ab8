//! Cookie persistence end to end through the engine on loopback, under io_uring and epoll:
//! the flows seed 003 draws for `insert indirect`, `insert indirect nocache`, `prefix` and
//! backups sharing a cookie, plus `rewrite`, unknown values, stickiness, and a server that
//! goes down or refuses connections (`option redispatch`). Assertions are on the exact
//! header lines the client and the server receive.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ringlb::boot::run::RunHandle;
use ringlb::worker::inbox::ShardEvent;
use support::*;

/// A server that answers every request with its name (`X-Server` and the body) and records
/// each request head it received. A `set=COOKIE` query makes it send `Set-Cookie: COOKIE`
/// (`+` standing for a space).
struct App {
    name: &'static str,
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl App {
    fn start(name: &'static str) -> Self {
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        let origin = Origin::serve(move |req| {
            seen.lock().unwrap().push(req.head.clone());
            let reply = Reply::ok(name).header("X-Server", name);
            match req.path.split_once("set=") {
                Some((_, c)) => reply.header("Set-Cookie", c.replace('+', " ")),
                None => reply,
            }
        });
        Self {
            name,
            addr: origin.addr,
            heads,
        }
    }

    /// The `Cookie` lines of the last request this server received, as written.
    fn last_cookie_lines(&self) -> Vec<String> {
        let heads = self.heads.lock().unwrap();
        let head = heads.last().expect("the server received a request");
        head.lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("cookie:"))
            .map(str::to_string)
            .collect()
    }

    fn requests(&self) -> usize {
        self.heads.lock().unwrap().len()
    }
}

/// Values of header `name` in a raw head.
fn header_values(head: &str, name: &str) -> Vec<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

/// Starts the engine on one `listen` section holding `body`, where `@NAME` stands for the
/// address of the app named NAME.
fn start(body: &str, apps: &[&App], legacy: bool) -> (RunHandle, SocketAddr) {
    let mut text = format!(
        "global\n nbthread 1\ndefaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n\
         listen app\n bind 127.0.0.1:{}\n balance roundrobin\n{body}",
        free_port()
    );
    for a in apps {
        text = text.replace(&format!("@{}", a.name), &a.addr.to_string());
    }
    let h = run(parse_config(&text), legacy);
    let addr = addr_of(&h, "app");
    (h, addr)
}

/// One request on a fresh connection, with the given extra header lines.
fn ask(addr: SocketAddr, request_line: &str, headers: &str) -> Response {
    let mut c = Client::connect(addr);
    c.send(format!("{request_line}\r\nHost: shop\r\n{headers}\r\n").as_bytes());
    c.read(false)
}

/// The lines `Name: value` of header `name` in a response, as the client received them.
fn lines(r: &Response, name: &str) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(n, v)| format!("{n}: {v}"))
        .collect()
}

fn served_by(r: &Response) -> String {
    r.header("x-server").unwrap_or_default().to_string()
}

/// Marks `server` of the `app` section up or down and waits until `check` says the engine
/// applied it.
fn set_state(h: &RunHandle, server: &str, up: bool, check: impl Fn() -> bool) {
    h.broadcast(ShardEvent::SetServerState {
        backend: "app".into(),
        server: server.into(),
        up,
    });
    for _ in 0..200 {
        if check() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "server {server} never became {}",
        if up { "up" } else { "down" }
    );
}

const SERVERS_AB: &str = " server webA @webA cookie A\n server webB @webB cookie B\n";

fn insert_indirect(legacy: bool) {
    let (a, b) = (App::start("webA"), App::start("webB"));
    let (_h, fe) = start(
        &format!(" cookie SERVERID insert indirect\n{SERVERS_AB}"),
        &[&a, &b],
        legacy,
    );
    // No cookie: load balancing, and the cookie of the server that answered comes back.
    let first = ask(fe, "GET /URI1 HTTP/1.1", "");
    let srv = served_by(&first);
    let letter = &srv[3..];
    assert_eq!(
        lines(&first, "set-cookie"),
        [format!("Set-Cookie: SERVERID={letter}; path=/")]
    );
    assert!(lines(&first, "cache-control").is_empty(), "no nocache");
    // With the cookie: the same server, which never sees it, and no cookie in return.
    let app = if srv == "webA" { &a } else { &b };
    for _ in 0..4 {
        let again = ask(
            fe,
            "GET /URI2 HTTP/1.1",
            &format!("Cookie: SERVERID={letter}\r\n"),
        );
        assert_eq!(served_by(&again), srv);
        assert!(
            lines(&again, "set-cookie").is_empty(),
            "{:?}",
            again.headers
        );
        assert!(
            app.last_cookie_lines().is_empty(),
            "the server saw the cookie"
        );
    }
}
both_drivers!(
    insert_indirect_issues_the_cookie_once_and_hides_it_from_the_server,
    super::insert_indirect
);

fn insert_indirect_nocache(legacy: bool) {
    let (a, b) = (App::start("webA"), App::start("webB"));
    let (_h, fe) = start(
        &format!(" cookie SERVERID insert indirect nocache\n{SERVERS_AB}"),
        &[&a, &b],
        legacy,
    );
    let first = ask(fe, "GET /URI1 HTTP/1.0", "");
    let letter = served_by(&first)[3..].to_string();
    assert_eq!(
        lines(&first, "set-cookie"),
        [format!("Set-Cookie: SERVERID={letter}; path=/")]
    );
    assert_eq!(lines(&first, "cache-control"), ["Cache-Control: private"]);
    // The client's other cookies reach the server; ours does not.
    let second = ask(
        fe,
        "GET /URI2 HTTP/1.0",
        &format!("Cookie: lang=fr; SERVERID={letter}; theme=dark\r\n"),
    );
    assert_eq!(served_by(&second), format!("web{letter}"));
    assert!(lines(&second, "set-cookie").is_empty());
    assert!(lines(&second, "cache-control").is_empty());
    let app = if letter == "A" { &a } else { &b };
    assert_eq!(app.last_cookie_lines(), ["Cookie: lang=fr; theme=dark"]);
}
both_drivers!(
    insert_indirect_nocache_marks_inserting_responses_private,
    super::insert_indirect_nocache
);

fn prefix(legacy: bool) {
    let (a, b) = (App::start("webA"), App::start("webB"));
    let (_h, fe) = start(
        &format!(" option forwardfor\n cookie JSESSIONID prefix\n{SERVERS_AB}"),
        &[&a, &b],
        legacy,
    );
    // The server sets no cookie: nothing changes.
    let r1 = ask(fe, "GET /URI1 HTTP/1.0", "");
    assert!(lines(&r1, "set-cookie").is_empty());
    // The server sets JSESSIONID: the client gets it prefixed with the server's name.
    let r2 = ask(fe, "GET /URI2?set=JSESSIONID=123 HTTP/1.0", "");
    let srv = served_by(&r2);
    let letter = &srv[3..];
    assert_eq!(
        lines(&r2, "set-cookie"),
        [format!("Set-Cookie: JSESSIONID={letter}~123")]
    );
    // The client returns it: the same server sees the cookie it sent, unprefixed.
    for _ in 0..3 {
        let r3 = ask(
            fe,
            "GET /URI3 HTTP/1.0",
            &format!("Cookie: JSESSIONID={letter}~123\r\n"),
        );
        assert_eq!(served_by(&r3), srv);
        assert!(lines(&r3, "set-cookie").is_empty());
        let app = if srv == "webA" { &a } else { &b };
        assert_eq!(app.last_cookie_lines(), ["Cookie: JSESSIONID=123"]);
        let heads = app.heads.lock().unwrap();
        assert_eq!(
            header_values(heads.last().unwrap(), "x-forwarded-for"),
            ["127.0.0.1"]
        );
    }
}
both_drivers!(
    prefix_mode_prefixes_the_application_cookie_both_ways,
    super::prefix
);

fn rewrite(legacy: bool) {
    let (a, b) = (App::start("app1"), App::start("app2"));
    let (_h, fe) = start(
        " cookie SERVERID rewrite\n server s1 @app1 cookie app1inst1\n server s2 @app2 cookie app1inst2\n",
        &[&a, &b],
        legacy,
    );
    let r = ask(
        fe,
        "GET /login?set=SERVERID=placeholder;+path=/ HTTP/1.1",
        "",
    );
    let (srv, value) = match served_by(&r).as_str() {
        "app1" => (&a, "app1inst1"),
        _ => (&b, "app1inst2"),
    };
    assert_eq!(
        lines(&r, "set-cookie"),
        [format!("Set-Cookie: SERVERID={value}; path=/")]
    );
    // The server's cookie now names it; the client comes back to it, cookie untouched.
    for _ in 0..3 {
        let back = ask(
            fe,
            "GET / HTTP/1.1",
            &format!("Cookie: SERVERID={value}\r\n"),
        );
        assert_eq!(served_by(&back), srv.name);
        assert_eq!(
            srv.last_cookie_lines(),
            [format!("Cookie: SERVERID={value}")]
        );
    }
}
both_drivers!(
    rewrite_mode_replaces_the_servers_value_with_its_cookie,
    super::rewrite
);

fn unknown_value(legacy: bool) {
    let (a, b) = (App::start("webA"), App::start("webB"));
    let (_h, fe) = start(
        &format!(" cookie SERVERID insert indirect\n{SERVERS_AB}"),
        &[&a, &b],
        legacy,
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = ask(fe, "GET / HTTP/1.1", "Cookie: SERVERID=Z\r\n");
        assert_eq!(r.status, 200);
        let srv = served_by(&r);
        assert_eq!(
            lines(&r, "set-cookie"),
            [format!("Set-Cookie: SERVERID={}; path=/", &srv[3..])]
        );
        seen.push(srv);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["webA", "webB"], "balanced as if no cookie were sent");
    assert!(a.last_cookie_lines().is_empty() && b.last_cookie_lines().is_empty());
}
both_drivers!(
    a_cookie_naming_no_server_is_ignored_and_replaced,
    super::unknown_value
);

fn sticky(legacy: bool) {
    let apps = [App::start("webA"), App::start("webB"), App::start("webC")];
    let (_h, fe) = start(
        " cookie SERVERID insert indirect\n server webA @webA cookie A\n server webB @webB cookie B\n server webC @webC cookie C\n",
        &[&apps[0], &apps[1], &apps[2]],
        legacy,
    );
    // One keep-alive client holding B, interleaved with cookieless clients.
    let mut held = Client::connect(fe);
    let mut others = Vec::new();
    for _ in 0..12 {
        held.send(b"GET /cart HTTP/1.1\r\nHost: shop\r\nCookie: SERVERID=B\r\n\r\n");
        let r = held.read(false);
        assert_eq!(served_by(&r), "webB");
        assert!(lines(&r, "set-cookie").is_empty());
        others.push(served_by(&ask(fe, "GET / HTTP/1.1", "")));
    }
    for name in ["webA", "webB", "webC"] {
        assert!(
            others.iter().any(|s| s == name),
            "cookieless clients are balanced over every server: {others:?}"
        );
    }
    assert!(apps[1].requests() >= 12);
}
both_drivers!(
    a_persisted_client_sticks_to_its_server_while_others_are_balanced,
    super::sticky
);

fn down_server(legacy: bool) {
    let (a, b) = (App::start("webA"), App::start("webB"));
    let (h, fe) = start(
        &format!(" option redispatch\n cookie SERVERID insert indirect nocache\n{SERVERS_AB}"),
        &[&a, &b],
        legacy,
    );
    assert_eq!(
        served_by(&ask(fe, "GET / HTTP/1.1", "Cookie: SERVERID=A\r\n")),
        "webA"
    );
    set_state(&h, "webA", false, || {
        served_by(&ask(fe, "GET / HTTP/1.1", "Cookie: SERVERID=B\r\n")) == "webB"
            && served_by(&ask(fe, "GET / HTTP/1.1", "")) == "webB"
    });
    let r = ask(fe, "GET / HTTP/1.1", "Cookie: SERVERID=A\r\n");
    assert_eq!(served_by(&r), "webB");
    assert_eq!(lines(&r, "set-cookie"), ["Set-Cookie: SERVERID=B; path=/"]);
    assert_eq!(lines(&r, "cache-control"), ["Cache-Control: private"]);
    assert!(b.last_cookie_lines().is_empty());
    // Back up: the client holding A returns to it.
    set_state(&h, "webA", true, || {
        served_by(&ask(fe, "GET / HTTP/1.1", "Cookie: SERVERID=A\r\n")) == "webA"
    });
}
both_drivers!(
    a_client_of_a_down_server_is_redispatched_and_gets_the_new_cookie,
    super::down_server
);

fn refused_connection(legacy: bool) {
    let b = App::start("webB");
    let dead = dead_addr();
    let (_h, fe) = start(
        &format!(
            " retries 1\n option redispatch\n cookie SERVERID insert indirect\n\
             server webA {dead} cookie A\n server webB @webB cookie B\n"
        ),
        &[&b],
        legacy,
    );
    // webA counts as up, so the cookie sends the client there; the connection fails and
    // the retry goes to webB, whose cookie the client now gets.
    for _ in 0..3 {
        let r = ask(fe, "GET / HTTP/1.1", "Cookie: SERVERID=A\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(served_by(&r), "webB");
        assert_eq!(lines(&r, "set-cookie"), ["Set-Cookie: SERVERID=B; path=/"]);
    }
}
both_drivers!(
    redispatch_after_a_refused_connection_issues_the_new_servers_cookie,
    super::refused_connection
);

fn backup_shares_cookie(legacy: bool) {
    let apps = [
        App::start("webA"),
        App::start("webB"),
        App::start("bkpA"),
        App::start("bkpB"),
    ];
    let (h, fe) = start(
        " option redispatch\n cookie SERVERID insert indirect\n\
         server webA @webA cookie A\n server webB @webB cookie B\n\
         server bkpA @bkpA cookie A backup\n server bkpB @bkpB cookie B backup\n",
        &[&apps[0], &apps[1], &apps[2], &apps[3]],
        legacy,
    );
    let with_a = || ask(fe, "GET / HTTP/1.1", "Cookie: SERVERID=A\r\n");
    assert_eq!(served_by(&with_a()), "webA");
    // webA's check fails (maintenance): holders of A reach its backup, which shares the
    // cookie, so nothing is re-issued; newcomers go to the remaining active server.
    set_state(&h, "webA", false, || served_by(&with_a()) == "bkpA");
    let r = with_a();
    assert_eq!(served_by(&r), "bkpA");
    assert!(lines(&r, "set-cookie").is_empty(), "{:?}", r.headers);
    assert!(apps[2].last_cookie_lines().is_empty());
    for _ in 0..3 {
        let fresh = ask(fe, "GET / HTTP/1.1", "");
        assert_eq!(served_by(&fresh), "webB");
        assert_eq!(
            lines(&fresh, "set-cookie"),
            ["Set-Cookie: SERVERID=B; path=/"]
        );
    }
    // The machine stops altogether: holders of A are redispatched and get B's cookie.
    set_state(&h, "bkpA", false, || served_by(&with_a()) == "webB");
    let r = with_a();
    assert_eq!(served_by(&r), "webB");
    assert_eq!(lines(&r, "set-cookie"), ["Set-Cookie: SERVERID=B; path=/"]);
}
both_drivers!(
    a_backup_sharing_the_cookie_keeps_clients_of_a_server_in_maintenance,
    super::backup_shares_cookie
);
