//! Health checks seen through the proxy: traffic leaves a DOWN server and comes back,
//! backups take over and hand back, nothing up gives 503, seed 003's port-81 check beside
//! port-80 traffic, one probe per interval whatever the number of workers, HAProxy's log
//! line on stderr. (`ringlb-bench propagation` measures the delay to every worker.)

#[path = "../../checks/tests/fixture/mod.rs"]
mod fixture;
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fixture::{Answer, Fixture};
use ringlb_config::model::*;
use support::*;

/// `listen web` in HTTP mode checking `HEAD /running` (seed 003's soft-stop file).
fn web(servers: Vec<Server>) -> Proxy {
    let mut p = listen("web", &[]);
    p.mode = Mode::Http;
    p.timeouts.client = Some(Duration::from_secs(5));
    p.timeouts.server = Some(Duration::from_secs(5));
    p.options.httpchk = Some(HttpChk {
        method: "HEAD".into(),
        uri: "/running".into(),
        version: "HTTP/1.0".into(),
        extra_headers: Vec::new(),
    });
    p.servers = servers;
    p
}

/// The bodies (server names) of `n` requests through the proxy.
fn served_by(addr: std::net::SocketAddr, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|_| {
            let (status, body) = http_get(addr, "/").expect("an answer");
            assert_eq!(status, 200, "{body}");
            body
        })
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn traffic_leaves_a_down_server_and_returns_when_it_is_up(legacy: bool) {
    let a = Fixture::named("a", Answer::Http);
    let b = Fixture::named("b", Answer::Http);
    let h = run(
        config(
            2,
            vec![web(vec![
                checked("a", a.addr, 50),
                checked("b", b.addr, 50),
            ])],
        ),
        legacy,
    );
    let addr = addr_of(&h, "web");
    assert_eq!(served_by(addr, 6), set(&["a", "b"]));
    a.remove_running_file();
    wait_state(&h, "a", false);
    assert_eq!(
        served_by(addr, 6),
        set(&["b"]),
        "a DOWN server gets no traffic"
    );
    a.touch_running_file();
    wait_state(&h, "a", true);
    assert_eq!(served_by(addr, 6), set(&["a", "b"]));
}
both_drivers!(
    traffic_leaves_down_server,
    super::traffic_leaves_a_down_server_and_returns_when_it_is_up
);

fn backups_take_over_when_every_active_server_is_down_and_hand_back(legacy: bool) {
    let a = Fixture::named("a", Answer::Http);
    let bk = Fixture::named("bk", Answer::Http);
    let mut backup = checked("bk", bk.addr, 50);
    backup.backup = true;
    let h = run(
        config(2, vec![web(vec![checked("a", a.addr, 50), backup])]),
        legacy,
    );
    let addr = addr_of(&h, "web");
    assert_eq!(
        served_by(addr, 4),
        set(&["a"]),
        "backups wait while an active server is up"
    );
    a.remove_running_file();
    wait_state(&h, "a", false);
    assert_eq!(served_by(addr, 4), set(&["bk"]));
    a.touch_running_file();
    wait_state(&h, "a", true);
    assert_eq!(
        served_by(addr, 4),
        set(&["a"]),
        "the active server takes its traffic back"
    );
}
both_drivers!(
    backups_take_over,
    super::backups_take_over_when_every_active_server_is_down_and_hand_back
);

fn nothing_up_answers_503(legacy: bool) {
    let a = Fixture::named("a", Answer::Http);
    let h = run(config(2, vec![web(vec![checked("a", a.addr, 50)])]), legacy);
    let addr = addr_of(&h, "web");
    a.set(Answer::Status(500));
    wait_state(&h, "a", false);
    let (status, body) = http_get(addr, "/").unwrap();
    assert_eq!(status, 503, "{body}");
    a.set(Answer::Http);
    wait_state(&h, "a", true);
    assert_eq!(http_get(addr, "/").unwrap(), (200, "a".to_string()));
}
both_drivers!(nothing_up_503, super::nothing_up_answers_503);

/// Seed 003, 4.2: `webX` serve port 80 but are checked on port 81, which the operator
/// closes to take a machine out softly; `bkpX` are checked on port 80 itself and share the
/// cookie, so the machine is still reachable as a backup while its web server runs.
fn seed_003_port_81_check_takes_a_machine_out_while_its_port_80_still_serves(legacy: bool) {
    let (a80, a81) = (
        Fixture::named("A", Answer::Http),
        Fixture::start(Answer::Http),
    );
    let (b80, b81) = (
        Fixture::named("B", Answer::Http),
        Fixture::start(Answer::Http),
    );
    let pair = |n: &str, f80: &Fixture, f81: &Fixture| {
        let mut web = checked(&format!("web{n}"), f80.addr, 50);
        web.check.port = Some(f81.addr.port());
        web.cookie = Some(n.into());
        let mut bkp = checked(&format!("bkp{n}"), f80.addr, 50);
        bkp.backup = true;
        bkp.cookie = Some(n.into());
        [web, bkp]
    };
    let mut servers = pair("A", &a80, &a81).to_vec();
    servers.extend(pair("B", &b80, &b81));
    let mut p = web(servers);
    p.options.httpchk = Some(HttpChk {
        method: "HEAD".into(),
        uri: "/".into(),
        version: "HTTP/1.0".into(),
        extra_headers: Vec::new(),
    });
    p.options.redispatch = true;
    let h = run(config(2, vec![p]), legacy);
    let addr = addr_of(&h, "web");
    assert_eq!(served_by(addr, 6), set(&["A", "B"]));
    a81.stop(); // iptables -D … --dport 81: soft-stop machine A
    wait_state(&h, "webA", false);
    assert_eq!(
        served_by(addr, 6),
        set(&["B"]),
        "new traffic leaves machine A"
    );
    let snap = h.checker().unwrap().snapshot();
    let bkp_a = snap.iter().find(|s| s.server == "bkpA").unwrap();
    assert!(
        bkp_a.up,
        "A's port 80 still answers its own check: {bkp_a:?}"
    );
    b81.stop();
    wait_state(&h, "webB", false);
    assert_eq!(
        served_by(addr, 6),
        set(&["A"]),
        "with every active server out, new traffic goes to the first backup (no allbackups)"
    );
    a81.restart();
    wait_state(&h, "webA", true);
    assert_eq!(served_by(addr, 6), set(&["A"]));
}
both_drivers!(
    seed_003_port_81,
    super::seed_003_port_81_check_takes_a_machine_out_while_its_port_80_still_serves
);

#[test]
fn two_workers_probe_each_server_once_per_interval() {
    let a = Fixture::named("a", Answer::Http);
    let h = run(config(2, vec![web(vec![checked("a", a.addr, 100)])]), false);
    assert_eq!(h.workers().len(), 2);
    std::thread::sleep(Duration::from_millis(150));
    let before = a.accepted();
    std::thread::sleep(Duration::from_millis(1000));
    let probes = a.accepted() - before;
    println!("{probes} probes of one server in 1 s at inter 100ms with 2 workers");
    assert!(
        (5..=12).contains(&probes),
        "{probes} probes in 1 s at inter 100ms with 2 workers: one checker, not one per worker"
    );
}

#[test]
fn down_line_is_written_to_stderr_in_haproxys_format() {
    let dir = TempDir::new("health");
    let dead = dead_addr();
    let port = free_port();
    let cfg = dir.write(
        "h.cfg",
        &format!(
            "global\n nbthread 1\ndefaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             listen web\n bind 127.0.0.1:{port}\n server web1 {dead} check inter 50\n"
        ),
    );
    let mut p = Ringlb::spawn(
        &["-f".to_string(), cfg.display().to_string()],
        dir.path().join("stderr.txt"),
    );
    let want = format!(
        "[WARNING]  ({}) : Server web/web1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: ",
        p.pid()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.stderr().contains(&want) {
        assert!(
            Instant::now() < deadline,
            "no DOWN line; stderr:\n{}",
            p.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = p.stderr();
    assert!(
        err.contains("ms. 0 active and 0 backup servers left."),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "[ALERT]    ({}) : backend web has no server available!",
            p.pid()
        )),
        "{err}"
    );
    assert!(!err.contains("health checks are not run"), "{err}");
    p.stop_with(libc::SIGTERM);
}
