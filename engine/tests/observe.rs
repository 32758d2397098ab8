//! `observe layer4|layer7` seen through the proxy: errors on traffic take a server out of
//! the rotation as `on-error` says, with HAProxy's log line, and its health checks bring it
//! back; servers without `observe` are not affected by their errors.

#[path = "../../checks/tests/fixture/mod.rs"]
mod fixture;
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fixture::{Answer, Fixture};
use ringlb::boot::run::RunHandle;
use ringlb_config::model::*;
use support::*;

fn observed(mut s: Server, mode: Observe, limit: u32, on_error: OnError) -> Server {
    s.check.observe = Some(mode);
    s.check.error_limit = limit;
    s.check.on_error = Some(on_error);
    s
}

fn web(servers: Vec<Server>) -> Proxy {
    let mut p = listen("web", &[]);
    p.mode = Mode::Http;
    p.timeouts.client = Some(Duration::from_secs(5));
    p.timeouts.server = Some(Duration::from_secs(5));
    p.servers = servers;
    p
}

/// Waits for the first health check of `server`: a passed check clears the errors counted
/// on traffic, so tests count theirs after it.
fn wait_first_check(h: &RunHandle, server: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let snap = h.checker().expect("a checker runs").snapshot();
        if snap.iter().find(|s| s.server == server).unwrap().checks > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{server} was never checked");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Status and body of `n` requests through the proxy.
fn answers(addr: std::net::SocketAddr, n: usize) -> Vec<(u16, String)> {
    (0..n)
        .map(|_| http_get(addr, "/").expect("an answer"))
        .collect()
}

fn bodies(answers: &[(u16, String)]) -> BTreeSet<String> {
    answers.iter().map(|(_, b)| b.clone()).collect()
}

fn layer7_mark_down_moves_traffic_away_until_checks_bring_the_server_back(legacy: bool) {
    let a = Fixture::named("a", Answer::Status(500));
    let b = Fixture::named("b", Answer::Http);
    let h = run(
        config(
            2,
            vec![web(vec![
                observed(
                    checked("a", a.addr, 1000),
                    Observe::Layer7,
                    2,
                    OnError::MarkDown,
                ),
                checked("b", b.addr, 1000),
            ])],
        ),
        legacy,
    );
    let addr = addr_of(&h, "web");
    wait_first_check(&h, "a");
    // Round robin alternates: four requests give `a` its two consecutive 500s.
    let first = answers(addr, 4);
    assert_eq!(
        first.iter().filter(|(s, _)| *s == 500).count(),
        2,
        "{first:?}"
    );
    wait_state_within(&h, "a", false, Duration::from_millis(500));
    let snap = h.checker().unwrap().snapshot();
    let last = snap[0].last_check.as_ref().unwrap();
    assert_eq!(last.status.code(), "HANA");
    assert_eq!(
        last.info.as_deref(),
        Some("Detected 2 consecutive errors, last one was: Wrong http response")
    );
    let during = answers(addr, 6);
    assert!(
        during.iter().all(|(s, b)| *s == 200 && b == "b"),
        "a DOWN server gets no traffic: {during:?}"
    );
    a.set(Answer::Http);
    // DOWN, then `rise` passed checks one `inter` apart.
    wait_state(&h, "a", true);
    assert_eq!(
        bodies(&answers(addr, 6)),
        ["a", "b"].map(String::from).into()
    );
}
both_drivers!(
    layer7_mark_down,
    super::layer7_mark_down_moves_traffic_away_until_checks_bring_the_server_back
);

fn layer4_refused_connections_mark_the_server_down(legacy: bool) {
    // Traffic goes to a refused port; the check goes to a live one (`port`).
    let live = Fixture::named("check", Answer::Http);
    let b = Fixture::named("b", Answer::Http);
    let mut a = server("a", dead_addr());
    a.check.enabled = true;
    a.check.port = Some(live.addr.port());
    a.check.inter = Duration::from_secs(2);
    let a = observed(a, Observe::Layer4, 2, OnError::MarkDown);
    let mut p = web(vec![a, checked("b", b.addr, 1000)]);
    p.retries = 0;
    let h = run(config(1, vec![p]), legacy);
    let addr = addr_of(&h, "web");
    wait_first_check(&h, "a");
    let mut failed = 0;
    while failed < 2 {
        let (status, _) = http_get(addr, "/").expect("an answer");
        if status == 503 {
            failed += 1;
        }
    }
    wait_state_within(&h, "a", false, Duration::from_millis(500));
    let during = answers(addr, 4);
    assert!(
        during.iter().all(|(s, b)| *s == 200 && b == "b"),
        "{during:?}"
    );
}
both_drivers!(
    layer4_refused,
    super::layer4_refused_connections_mark_the_server_down
);

#[test]
fn a_server_without_observe_keeps_its_traffic_whatever_it_answers() {
    let a = Fixture::named("a", Answer::Status(500));
    let b = Fixture::named("b", Answer::Http);
    let h = run(
        config(
            1,
            vec![web(vec![
                checked("a", a.addr, 100),
                checked("b", b.addr, 100),
            ])],
        ),
        false,
    );
    let addr = addr_of(&h, "web");
    let got = answers(addr, 12);
    assert_eq!(got.iter().filter(|(s, _)| *s == 500).count(), 6, "{got:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(is_up(&h, "a"));
    assert_eq!(
        answers(addr, 2).iter().filter(|(s, _)| *s == 500).count(),
        1
    );
}

#[test]
fn mark_down_is_logged_in_haproxys_wording() {
    let a = Fixture::named("web1", Answer::Status(503));
    let b = Fixture::named("web2", Answer::Http);
    let dir = TempDir::new("observe");
    let port = free_port();
    let cfg = dir.write(
        "o.cfg",
        &format!(
            "global\n nbthread 1\ndefaults\n mode http\n timeout connect 1s\n timeout client 2s\n timeout server 2s\n\
             listen web\n bind 127.0.0.1:{port}\n\
             server web1 {} check inter 5s observe layer7 error-limit 2 on-error mark-down\n\
             server web2 {} check inter 5s\n",
            a.addr, b.addr
        ),
    );
    let mut p = Ringlb::spawn(
        &["-f".to_string(), cfg.display().to_string()],
        dir.path().join("stderr.txt"),
    );
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    p.wait_serving(addr);
    let want = format!(
        "[WARNING]  ({}) : Server web/web1 is DOWN, reason: Health analyze, info: \"Detected 2 consecutive errors, last one was: Wrong http response\". 1 active and 0 backup servers left.",
        p.pid()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.stderr().contains(&want) {
        assert!(
            Instant::now() < deadline,
            "no DOWN line; stderr:\n{}",
            p.stderr()
        );
        let _ = http_get(addr, "/");
        std::thread::sleep(Duration::from_millis(20));
    }
    p.stop_with(libc::SIGTERM);
}
