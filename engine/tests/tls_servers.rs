//! TLS towards servers end to end: nginx serving TLS with certificates from a throwaway
//! CA, behind `server … ssl` lines, on both drivers. nginx answers every request with the
//! SNI it received, its connection's serial number and whether the session was resumed.

mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use ringlb::boot::run::RunHandle;
use support::*;

/// Runs one frontend `fe` (a free port) in front of backend `be`, whose lines are `be`
/// with `@NGINX`, `@PKI` and `@PLAIN` substituted.
fn start(be: &str, nginx: SocketAddr, pki: &Pki, legacy: bool) -> (RunHandle, SocketAddr) {
    let port = free_port();
    let plain = Origin::text("plain").addr;
    let be = be
        .replace("@NGINX", &nginx.to_string())
        .replace("@PLAIN", &plain.to_string())
        .replace("@PKI", &pki.dir.path().display().to_string());
    let h = run_http(
        1,
        &format!("frontend fe\n bind 127.0.0.1:{port}\n default_backend be\nbackend be\n{be}"),
        legacy,
    );
    (h, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// nginx with a certificate for `origin.test` and its subdomains, from `pki`'s CA.
fn nginx(pki: &Pki) -> Nginx {
    Nginx::tls(
        &pki.server("origin", &["origin.test", "*.origin.test"]),
        None,
    )
}

fn field<'a>(body: &'a str, name: &str) -> &'a str {
    body.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or("")
}

fn verified_connections_reach_a_server_with_a_certificate_from_the_ca(legacy: bool) {
    let pki = Pki::new();
    let n = nginx(&pki);
    let (_h, addr) = start(
        " server s @NGINX ssl verify required ca-file @PKI/ca.pem\n",
        n.addr,
        &pki,
        legacy,
    );
    let r = get(addr, "/", "origin.test");
    assert_eq!(r.status, 200, "{}", r.text());
    // HAProxy sends no SNI unless `sni` asks for one.
    assert_eq!(field(&r.text(), "sni"), "", "{}", r.text());

    // `verifyhost` checks the name when no SNI is sent.
    let (_h, addr) = start(
        " server s @NGINX ssl verify required ca-file @PKI/ca.pem verifyhost www.origin.test\n",
        n.addr,
        &pki,
        legacy,
    );
    assert_eq!(get(addr, "/", "x").status, 200);
    let (h, addr) = start(
        " server s @NGINX ssl verify required ca-file @PKI/ca.pem verifyhost elsewhere.test\n",
        n.addr,
        &pki,
        legacy,
    );
    assert_eq!(get(addr, "/", "x").status, 503);
    drop(h);
}
both_drivers!(
    verified_connections_reach_a_server_with_a_certificate_from_the_ca,
    super::verified_connections_reach_a_server_with_a_certificate_from_the_ca
);

fn a_server_certificate_from_an_unknown_ca_gives_503_and_counts(legacy: bool) {
    let (pki, other) = (Pki::new(), Pki::new());
    let n = nginx(&other);
    let (h, addr) = start(
        " retries 1\n server s @NGINX ssl verify required ca-file @PKI/ca.pem\n",
        n.addr,
        &pki,
        legacy,
    );
    let r = get(addr, "/", "origin.test");
    assert_eq!(r.status, 503, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let snap = h.stats();
        let be = snap.backend("be").unwrap();
        // A failed handshake is a failed connection (`econ`), after the one retry.
        if be.counters.err_conn == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not counted: {:?}", be.counters);
        thread::sleep(Duration::from_millis(20));
    }
    // `verify none` takes any certificate.
    let (_h, addr) = start(" server s @NGINX ssl verify none\n", n.addr, &pki, legacy);
    assert_eq!(get(addr, "/", "origin.test").status, 200);
}
both_drivers!(
    a_server_certificate_from_an_unknown_ca_gives_503_and_counts,
    super::a_server_certificate_from_an_unknown_ca_gives_503_and_counts
);

fn sni_follows_the_host_header_and_pooled_connections_keep_their_name(legacy: bool) {
    let pki = Pki::new();
    let n = nginx(&pki);
    let (_h, addr) = start(
        " server s @NGINX ssl verify required ca-file @PKI/ca.pem sni req.hdr(host)\n",
        n.addr,
        &pki,
        legacy,
    );
    let mut c = Client::connect(addr);
    let mut ask = |host: &str| {
        c.send(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        let r = c.read(false);
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    };
    let a1 = ask("a.origin.test");
    let b = ask("b.origin.test");
    let a2 = ask("a.origin.test");
    assert_eq!(field(&a1, "sni"), "a.origin.test");
    assert_eq!(
        field(&b, "sni"),
        "b.origin.test",
        "a pooled connection keeps its name"
    );
    assert_eq!(field(&a2, "sni"), "a.origin.test");
    assert_ne!(field(&a1, "conn"), field(&b, "conn"));
    // The name is checked against the certificate: one it does not hold fails.
    assert_eq!(get(addr, "/", "other.test").status, 503);
    // A constant name with `str()`.
    let (_h, addr) = start(
        " server s @NGINX ssl verify required ca-file @PKI/ca.pem sni str(fixed.origin.test)\n",
        n.addr,
        &pki,
        legacy,
    );
    assert_eq!(
        field(&get(addr, "/", "x").text(), "sni"),
        "fixed.origin.test"
    );
}
both_drivers!(
    sni_follows_the_host_header_and_pooled_connections_keep_their_name,
    super::sni_follows_the_host_header_and_pooled_connections_keep_their_name
);

fn keep_alive_requests_share_one_tls_server_connection(legacy: bool) {
    let pki = Pki::new();
    let n = nginx(&pki);
    let (_h, addr) = start(" server s @NGINX ssl verify none\n", n.addr, &pki, legacy);
    let mut c = Client::connect(addr);
    let conns: Vec<String> = (0..5)
        .map(|_| {
            let r = c.get("/");
            assert_eq!(r.status, 200, "{}", r.text());
            field(&r.text(), "conn").to_string()
        })
        .collect();
    assert!(conns.iter().all(|x| *x == conns[0]), "{conns:?}");
    // Separate client connections take the idle server connection too.
    let again = get(addr, "/", "x").text();
    assert_eq!(field(&again, "conn"), conns[0]);
}
both_drivers!(
    keep_alive_requests_share_one_tls_server_connection,
    super::keep_alive_requests_share_one_tls_server_connection
);

fn sessions_to_a_server_resume_unless_no_ssl_reuse(legacy: bool) {
    let pki = Pki::new();
    let n = nginx(&pki);
    let reused = |line: &str| {
        // A new server connection per request: each one is a handshake of its own.
        let (_h, addr) = start(
            &format!(" option http-server-close\n server s @NGINX ssl verify none {line}\n"),
            n.addr,
            &pki,
            legacy,
        );
        (0..3)
            .map(|_| field(&get(addr, "/", "x").text(), "reused").to_string())
            .collect::<Vec<_>>()
    };
    let r = reused("");
    assert_eq!(r[0], ".", "{r:?}");
    assert!(
        r[1..].iter().all(|x| x == "r"),
        "later handshakes resume: {r:?}"
    );
    let r = reused("no-ssl-reuse");
    assert!(r.iter().all(|x| x == "."), "{r:?}");
}
both_drivers!(
    sessions_to_a_server_resume_unless_no_ssl_reuse,
    super::sessions_to_a_server_resume_unless_no_ssl_reuse
);

fn a_client_certificate_is_presented_to_the_server(legacy: bool) {
    let pki = Pki::new();
    let (crt, key) = pki.client("proxy");
    let pem = pki.dir.path().join("proxy.pem");
    std::fs::write(
        &pem,
        [std::fs::read(crt).unwrap(), std::fs::read(key).unwrap()].concat(),
    )
    .unwrap();
    let n = Nginx::tls(&pki.server("origin", &["origin.test"]), Some(&pki.ca()));
    let (_h, addr) = start(
        " server s @NGINX ssl verify none crt @PKI/proxy.pem\n",
        n.addr,
        &pki,
        legacy,
    );
    let r = get(addr, "/", "x");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("CN=proxy"), "{}", r.text());
    // Without it, nginx refuses the request (400): the certificate made the difference.
    let (_h, addr) = start(" server s @NGINX ssl verify none\n", n.addr, &pki, legacy);
    assert_eq!(get(addr, "/", "x").status, 400);
}
both_drivers!(
    a_client_certificate_is_presented_to_the_server,
    super::a_client_certificate_is_presented_to_the_server
);

fn checks_over_tls_mark_a_tls_server_up_and_a_plain_one_down(legacy: bool) {
    let pki = Pki::new();
    let n = nginx(&pki);
    let (h, _addr) = start(
        " default-server check inter 50 rise 1 fall 1 verify required ca-file @PKI/ca.pem\n \
         server tls @NGINX check-ssl verifyhost origin.test\n \
         server plain @PLAIN check-ssl\n \
         server traffic @NGINX ssl check-sni a.origin.test\n \
         server badname @NGINX check-ssl check-sni elsewhere.test\n",
        n.addr,
        &pki,
        legacy,
    );
    wait_state(&h, "tls", true);
    wait_state(&h, "traffic", true);
    wait_state(&h, "plain", false);
    wait_state(&h, "badname", false);
    let snap = h.checker().unwrap().snapshot();
    let last = |name: &str| {
        let s = snap.iter().find(|s| s.server == name).unwrap();
        s.last_check.as_ref().map(|c| c.status.code()).unwrap_or("")
    };
    assert_eq!(last("tls"), "L6OK");
    assert_eq!(last("plain"), "L6RSP");
}
both_drivers!(
    checks_over_tls_mark_a_tls_server_up_and_a_plain_one_down,
    super::checks_over_tls_mark_a_tls_server_up_and_a_plain_one_down
);

fn http_checks_run_over_tls(legacy: bool) {
    let pki = Pki::new();
    let n = nginx(&pki);
    let (h, addr) = start(
        " option httpchk GET /\n \
         server s @NGINX ssl verify none check inter 50 rise 1 fall 1\n",
        n.addr,
        &pki,
        legacy,
    );
    wait_state(&h, "s", true);
    let snap = h.checker().unwrap().snapshot();
    let s = snap.iter().find(|s| s.server == "s").unwrap();
    assert_eq!(s.last_check.as_ref().unwrap().status.code(), "L7OK");
    assert_eq!(get(addr, "/", "x").status, 200);
}
both_drivers!(http_checks_run_over_tls, super::http_checks_run_over_tls);

fn tcp_mode_tunnels_through_a_tls_server_connection(legacy: bool) {
    let pki = Pki::new();
    let n = nginx(&pki);
    let port = free_port();
    let ca = pki.ca().display().to_string();
    let text = format!(
        "global\n nbthread 1\ndefaults\n mode tcp\n timeout client 5s\n timeout server 5s\n \
         timeout connect 1s\nlisten t\n bind 127.0.0.1:{port}\n \
         server s {} ssl verify required ca-file {ca} sni str(t.origin.test)\n",
        n.addr
    );
    let _h = run(parse_config(&text), legacy);
    let r = get(SocketAddr::from(([127, 0, 0, 1], port)), "/", "x");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(field(&r.text(), "sni"), "t.origin.test");
}
both_drivers!(
    tcp_mode_tunnels_through_a_tls_server_connection,
    super::tcp_mode_tunnels_through_a_tls_server_connection
);
