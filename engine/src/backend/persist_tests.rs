//! Unit tests of cookie persistence: parsing the client's cookie, request and response edits.

use std::time::Duration;

use ringlb_config::model::{CookieMode, CookiePersist};

use super::*;
use crate::codec::edits::HeadEdits;
use crate::codec::head::{parse_request, parse_response, Version};
use crate::codec::rewrite::{
    write_request_head, write_response_head, RequestRewrite, ResponseRewrite,
};

/// An undated cookie the client presents for `server`.
fn held_by(server: &[u8]) -> ClientCookie {
    ClientCookie {
        server: server.to_vec(),
        last_seen: None,
        first_seen: None,
        expired: false,
    }
}

fn insert_indirect() -> CookiePersist {
    CookiePersist {
        indirect: true,
        ..CookiePersist::new("SERVERID", CookieMode::Insert)
    }
}

const NOW: u64 = 1_700_000_000;

fn served<'a>(
    srv: Option<&'a str>,
    direct: bool,
    presented: Option<&'a ClientCookie>,
) -> Served<'a> {
    Served {
        server_cookie: srv,
        direct,
        presented,
        post: false,
        now: NOW,
    }
}

/// The request head the server receives after persistence edits.
fn request_to_server(c: &CookiePersist, req: &str) -> (String, Option<ClientCookie>) {
    let buf = req.as_bytes();
    let head = parse_request(buf, 4096).unwrap().unwrap();
    let mut edits = HeadEdits::default();
    let found = edit_request(c, buf, &head.headers, &mut edits, NOW);
    let mut out = Vec::new();
    let rw = RequestRewrite {
        server_close: false,
        forwarded_for: None,
        original_to: None,
        upgrade: false,
    };
    write_request_head(&mut out, buf, &head, &rw, &edits);
    (String::from_utf8(out).unwrap(), found)
}

/// The response head the client receives after persistence edits.
fn response_to_client(c: &CookiePersist, s: &Served<'_>, resp: &str) -> String {
    let buf = resp.as_bytes();
    let head = parse_response(buf, 4096).unwrap().unwrap();
    let mut edits = HeadEdits::default();
    edit_response(c, s, buf, &head, &mut edits);
    let mut out = Vec::new();
    let rw = ResponseRewrite {
        client_close: false,
        client_version: Version::Http11,
        drop_length: false,
        upgrade: false,
    };
    write_response_head(&mut out, buf, &head, &rw, &edits);
    String::from_utf8(out).unwrap()
}

#[test]
fn finds_the_cookie_among_several_headers_and_pairs() {
    let c = CookiePersist::new("SERVERID", CookieMode::Insert);
    let lines: [&[u8]; 2] = [b"a=1; b=2", b"theme=dark ;  SERVERID = B ; SERVERID=C"];
    let found = find(&c, lines, NOW).unwrap();
    assert_eq!(found.server, b"B");
    assert!(!found.expired);
    assert_eq!(find(&c, [&b"XSERVERID=A; SERVERIDX=A"[..]], NOW), None);
}

#[test]
fn quoted_values_name_the_server_inside_the_quotes() {
    let c = CookiePersist::new("SID", CookieMode::Insert);
    let found = find(&c, [&b"$Version=\"1\"; SID=\"s2\"; $Path=\"/\""[..]], NOW).unwrap();
    assert_eq!(found.server, b"s2");
}

#[test]
fn prefix_mode_reads_the_server_before_the_tilde() {
    let c = CookiePersist::new("JSESSIONID", CookieMode::Prefix);
    assert_eq!(
        find(&c, [&b"JSESSIONID=A~123"[..]], NOW).unwrap().server,
        b"A"
    );
    // Without a tilde the whole value is taken for the server's.
    assert_eq!(
        find(&c, [&b"JSESSIONID=123"[..]], NOW).unwrap().server,
        b"123"
    );
}

#[test]
fn dates_round_trip_in_four_second_steps() {
    for secs in [0, 4, NOW, NOW + 1, NOW + 3] {
        let d = decode_date(&encode_date(secs)).unwrap();
        assert!(d >= secs && d < secs + 4, "{secs} -> {d}");
    }
    assert_eq!(decode_date(b"AAAA"), None);
    assert_eq!(decode_date(b"AA AA"), None);
}

#[test]
fn maxidle_and_maxlife_expire_old_cookies_and_far_future_ones() {
    let c = CookiePersist {
        maxidle: Some(Duration::from_secs(60)),
        maxlife: Some(Duration::from_secs(3600)),
        ..CookiePersist::new("SRV", CookieMode::Insert)
    };
    let value = |last: u64, first: u64| {
        let (l, f) = (encode_date(last), encode_date(first));
        format!(
            "SRV=a|{}|{}",
            std::str::from_utf8(&l).unwrap(),
            std::str::from_utf8(&f).unwrap()
        )
    };
    let read = |v: String| find(&c, [v.as_bytes()], NOW).unwrap();
    let fresh = read(value(NOW - 30, NOW - 600));
    assert_eq!(fresh.server, b"a");
    assert!(!fresh.expired);
    assert!(fresh.last_seen.is_some() && fresh.first_seen.is_some());
    assert!(read(value(NOW - 120, NOW - 600)).expired, "idle too long");
    assert!(read(value(NOW - 30, NOW - 7200)).expired, "lived too long");
    assert!(read(value(NOW + 2 * 86_400, NOW)).expired, "dated ahead");
    // A cookie without dates is accepted; the response will date it.
    assert!(!find(&c, [&b"SRV=a"[..]], NOW).unwrap().expired);
}

#[test]
fn insert_indirect_removes_only_its_cookie_from_the_request() {
    let (out, found) = request_to_server(
        &insert_indirect(),
        "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; SERVERID=A; b=2\r\nCookie: SERVERID=A\r\n\r\n",
    );
    assert_eq!(found.unwrap().server, b"A");
    assert_eq!(out, "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; b=2\r\n\r\n");
}

#[test]
fn insert_without_indirect_and_rewrite_forward_the_cookie_untouched() {
    for c in [
        CookiePersist::new("SERVERID", CookieMode::Insert),
        CookiePersist::new("SERVERID", CookieMode::Rewrite),
        CookiePersist::new("SERVERID", CookieMode::Passive),
    ] {
        let req = "GET / HTTP/1.1\r\nCookie: a=1;SERVERID=A\r\n\r\n";
        let (out, found) = request_to_server(&c, req);
        assert_eq!(found.unwrap().server, b"A");
        assert_eq!(out, req, "{:?}", c.mode);
    }
}

#[test]
fn prefix_mode_strips_the_server_name_before_the_server_sees_it() {
    let c = CookiePersist::new("JSESSIONID", CookieMode::Prefix);
    let (out, found) =
        request_to_server(&c, "GET /URI3 HTTP/1.0\r\nCookie: JSESSIONID=A~123\r\n\r\n");
    assert_eq!(found.unwrap().server, b"A");
    assert_eq!(
        out,
        "GET /URI3 HTTP/1.0\r\nCookie: JSESSIONID=123\r\nConnection: keep-alive\r\n\r\n"
    );
    let (out, _) = request_to_server(
        &c,
        "GET / HTTP/1.1\r\nCookie: x=1; JSESSIONID=\"B~9\"\r\n\r\n",
    );
    assert_eq!(
        out,
        "GET / HTTP/1.1\r\nCookie: x=1; JSESSIONID=\"9\"\r\n\r\n"
    );
}

#[test]
fn insert_adds_the_server_cookie_with_its_attributes() {
    let c = CookiePersist {
        httponly: true,
        secure: true,
        domains: vec![".example.com".into()],
        ..insert_indirect()
    };
    let out = response_to_client(
        &c,
        &served(Some("A"), false, None),
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\
         Set-Cookie: SERVERID=A; path=/; domain=.example.com; HttpOnly; Secure\r\n\r\n"
    );
}

#[test]
fn indirect_insert_is_skipped_for_a_client_that_holds_the_right_cookie() {
    let c = insert_indirect();
    let held = held_by(b"A");
    assert_eq!(
        inserted_cookie(&c, &served(Some("A"), true, Some(&held)), false),
        None
    );
    // Persistence broke (server down, redispatch): the new server's cookie is issued.
    assert_eq!(
        inserted_cookie(&c, &served(Some("B"), false, Some(&held)), false).as_deref(),
        Some("SERVERID=B; path=/")
    );
    // Without indirect, the cookie goes out on every response.
    let plain = CookiePersist::new("SERVERID", CookieMode::Insert);
    assert_eq!(
        inserted_cookie(&plain, &served(Some("A"), true, Some(&held)), false).as_deref(),
        Some("SERVERID=A; path=/")
    );
}

#[test]
fn postonly_inserts_only_on_post_responses() {
    let c = CookiePersist {
        postonly: true,
        ..insert_indirect()
    };
    let mut s = served(Some("A"), false, None);
    assert_eq!(inserted_cookie(&c, &s, false), None);
    s.post = true;
    assert_eq!(
        inserted_cookie(&c, &s, false).as_deref(),
        Some("SERVERID=A; path=/")
    );
}

#[test]
fn a_server_without_a_cookie_value_deletes_the_clients_cookie() {
    let c = insert_indirect();
    let held = held_by(b"A");
    assert_eq!(
        inserted_cookie(&c, &served(None, false, Some(&held)), false).as_deref(),
        Some("SERVERID=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/")
    );
    assert_eq!(inserted_cookie(&c, &served(None, false, None), false), None);
}

#[test]
fn dated_cookies_carry_last_and_first_dates_and_are_refreshed() {
    let c = CookiePersist {
        maxidle: Some(Duration::from_secs(1800)),
        maxlife: Some(Duration::from_secs(14_400)),
        ..insert_indirect()
    };
    let stamp = |s: u64| String::from_utf8(encode_date(s).to_vec()).unwrap();
    let issued = inserted_cookie(&c, &served(Some("A"), false, None), false).unwrap();
    assert_eq!(
        issued,
        format!("SERVERID=A|{}|{}; path=/", stamp(NOW), stamp(NOW))
    );
    // Seen again within the same date step: nothing to refresh.
    let current = find(&c, [issued.split(';').next().unwrap().as_bytes()], NOW).unwrap();
    assert_eq!(
        inserted_cookie(&c, &served(Some("A"), true, Some(&current)), false),
        None
    );
    // Later: the last date moves, the first date stays.
    let later = Served {
        now: NOW + 100,
        ..served(Some("A"), true, Some(&current))
    };
    assert_eq!(
        inserted_cookie(&c, &later, false).unwrap(),
        format!("SERVERID=A|{}|{}; path=/", stamp(NOW + 100), stamp(NOW))
    );
}

#[test]
fn nocache_marks_a_cacheable_response_private_when_a_cookie_is_inserted() {
    let c = CookiePersist {
        nocache: true,
        ..insert_indirect()
    };
    let resp = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        response_to_client(&c, &served(Some("A"), false, None), resp),
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nSet-Cookie: SERVERID=A; path=/\r\n\
         Cache-Control: private\r\n\r\n"
    );
    let held = held_by(b"A");
    assert_eq!(
        response_to_client(&c, &served(Some("A"), true, Some(&held)), resp),
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "no cookie inserted: nothing to hide from caches"
    );
    let no_store = "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\n\r\n";
    assert_eq!(
        response_to_client(&c, &served(Some("A"), false, None), no_store),
        "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nSet-Cookie: SERVERID=A; path=/\r\n\r\n"
    );
    let created = "HTTP/1.1 201 Created\r\n\r\n";
    assert!(
        !response_to_client(&c, &served(Some("A"), false, None), created).contains("Cache-Control")
    );
}

#[test]
fn prefix_mode_prefixes_the_servers_cookie_with_its_name() {
    let c = CookiePersist::new("JSESSIONID", CookieMode::Prefix);
    let out = response_to_client(
        &c,
        &served(Some("A"), false, None),
        "HTTP/1.0 200 OK\r\nSet-Cookie: JSESSIONID=123; path=/app\r\nSet-Cookie: other=1\r\n\r\n",
    );
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nSet-Cookie: JSESSIONID=A~123; path=/app\r\nSet-Cookie: other=1\r\n\r\n"
    );
    // A response that sets no such cookie is left alone.
    let plain = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        response_to_client(&c, &served(Some("A"), false, None), plain),
        plain
    );
}

#[test]
fn rewrite_mode_replaces_the_servers_value_with_the_server_cookie() {
    let c = CookiePersist::new("SERVERID", CookieMode::Rewrite);
    let out = response_to_client(
        &c,
        &served(Some("app1inst1"), false, None),
        "HTTP/1.1 200 OK\r\nSet-Cookie: SERVERID=placeholder; path=/; HttpOnly\r\n\r\n",
    );
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nSet-Cookie: SERVERID=app1inst1; path=/; HttpOnly\r\n\r\n"
    );
}

#[test]
fn insert_replaces_a_server_set_cookie_unless_preserve() {
    let resp = "HTTP/1.1 200 OK\r\nSet-Cookie: SERVERID=mine; path=/x\r\n\r\n";
    assert_eq!(
        response_to_client(&insert_indirect(), &served(Some("A"), false, None), resp),
        "HTTP/1.1 200 OK\r\nSet-Cookie: SERVERID=A; path=/\r\n\r\n"
    );
    let keep = CookiePersist {
        preserve: true,
        ..insert_indirect()
    };
    assert_eq!(
        response_to_client(&keep, &served(Some("A"), false, None), resp),
        resp
    );
}
