//! The checker against live fixture backends on loopback: state transitions after
//! `fall × inter` and `rise × inter`, every `http-check expect` form, timeouts, the agent's
//! words, SSL hello, and maintenance stopping the checks.

mod fixture;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixture::{Answer, Fixture};
use ringlb_checks::{AdminState, Change, CheckStatus, CheckerHandle, Output, ServerSnapshot};

/// Everything the checker published, with the time it arrived.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(Instant, Output)>>>);

impl Seen {
    fn changes(&self, server: &str) -> Vec<Change> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Server(e) if e.server == server => Some(e.change),
                _ => None,
            })
            .collect()
    }

    fn logs(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Log(l) => Some(l.message.clone()),
                _ => None,
            })
            .collect()
    }

    /// Waits up to 5 s for a log line starting with `prefix` (a state change's line follows
    /// its event), then returns every line so far.
    fn wait_log(&self, prefix: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let logs = self.logs();
            if logs.iter().any(|l| l.starts_with(prefix)) || Instant::now() > deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits up to 5 s for `server` to have published `change` `n` times in all.
    fn wait_change(&self, server: &str, change: Change, n: usize) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let at = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, o)| matches!(o, Output::Server(e) if e.server == server && e.change == change))
                .nth(n - 1)
                .map(|(t, _)| *t);
            if let Some(t) = at {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{server} never published {change:?} #{n}; got {:?}, logs {:#?}",
                self.changes(server),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn start(
    cfg: &str,
    seen: &Seen,
    on_event: impl Fn(&Output) + Send + Sync + 'static,
) -> CheckerHandle {
    let loaded = ringlb_config::parse_str(cfg, Path::new("t.cfg"));
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    let s = seen.0.clone();
    ringlb_checks::start(
        &config,
        Arc::new(move |o| {
            on_event(&o);
            s.lock().unwrap().push((Instant::now(), o));
        }),
    )
    .unwrap()
    .expect("servers with check start a checker")
}

const DEFAULTS: &str =
    "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n";

fn server(h: &CheckerHandle, name: &str) -> ServerSnapshot {
    h.snapshot().into_iter().find(|s| s.server == name).unwrap()
}

/// Waits until `name` has been checked `n` times.
fn wait_checks(h: &CheckerHandle, name: &str, n: u64) -> ServerSnapshot {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = server(h, name);
        if s.checks >= n {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{name} checked {} times",
            s.checks
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn server_goes_down_after_fall_failures_and_up_after_rise_successes() {
    let f = Fixture::start(Answer::Http);
    let seen = Seen::default();
    // The number of 500 and 200 answers at the moment each transition is published.
    let at_transition = Arc::new(Mutex::new(Vec::new()));
    let (fx, at) = (f.clone(), at_transition.clone());
    let cfg = format!(
        "{DEFAULTS}backend web\n option httpchk GET /health\n server web1 {} check inter 50 rise 2 fall 3\n",
        f.addr
    );
    let h = start(&cfg, &seen, move |o| {
        if let Output::Server(e) = o {
            at.lock()
                .unwrap()
                .push((e.change, fx.answered(500), fx.answered(200)));
        }
    });
    // One success takes a starting server to fully UP.
    wait_checks(&h, "web1", 2);
    assert_eq!(server(&h, "web1").status, "UP");
    let failing_since = Instant::now();
    let ok_before = f.answered(200);
    f.set(Answer::Status(500));
    let down_at = seen.wait_change("web1", Change::Down, 1);
    assert!(
        down_at - failing_since >= Duration::from_millis(2 * 50),
        "three failures need at least two intervals"
    );
    f.set(Answer::Http);
    seen.wait_change("web1", Change::Up, 1);
    let at = at_transition.lock().unwrap().clone();
    assert_eq!(at[0].0, Change::Down);
    assert_eq!(
        at[0].1, 3,
        "DOWN exactly at the third failed check (fall 3)"
    );
    assert_eq!(at[1].0, Change::Up);
    assert_eq!(
        at[1].2 - ok_before,
        2,
        "UP exactly at the second good check (rise 2)"
    );
    let logs = seen.wait_log("Server web/web1 is UP");
    assert!(
        logs.iter().any(|l| l.starts_with("Server web/web1 is DOWN, reason: Layer7 wrong status, code: 500, info: \"Internal Server Error\", check duration: ")
            && l.ends_with("ms. 0 active and 0 backup servers left.")),
        "{logs:#?}"
    );
    assert!(
        logs.iter()
            .any(|l| l == "backend web has no server available!"),
        "{logs:#?}"
    );
    assert!(
        logs.iter().any(|l| l.starts_with(
            "Server web/web1 is UP, reason: Layer7 check passed, code: 200, check duration: "
        ) && l.ends_with("ms. 1 active and 0 backup servers online.")),
        "{logs:#?}"
    );
}

#[test]
fn server_dead_at_start_goes_down_at_its_first_check_and_returns_when_restarted() {
    let f = Fixture::start(Answer::Http);
    f.stop();
    let seen = Seen::default();
    let cfg = format!(
        "{DEFAULTS}backend web\n server web1 {} check inter 50 rise 2 fall 3\n server web2 127.0.0.1:9 check inter 10s\n",
        f.addr
    );
    let h = start(&cfg, &seen, |_| {});
    seen.wait_change("web1", Change::Down, 1);
    let s = server(&h, "web1");
    assert_eq!(
        s.checks, 1,
        "HAProxy's initial state: down at the first failure"
    );
    let last = s.last_check.unwrap();
    assert_eq!(last.status, CheckStatus::L4Con);
    let logs = seen.wait_log("Server web/web1 is DOWN");
    assert!(
        logs[0].starts_with("Server web/web1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: "),
        "{logs:#?}"
    );
    assert!(
        logs[0].ends_with("1 active and 0 backup servers left."),
        "{logs:#?}"
    );
    f.restart();
    seen.wait_change("web1", Change::Up, 1);
    let s = server(&h, "web1");
    assert_eq!(s.last_check.unwrap().status, CheckStatus::L4Ok);
    assert_eq!(s.downs, 1);
}

#[test]
fn removing_the_running_file_soft_stops_the_server() {
    let f = Fixture::start(Answer::Http);
    let seen = Seen::default();
    let cfg = format!(
        "{DEFAULTS}backend web\n option httpchk HEAD /running HTTP/1.0\n server webA {} check inter 200 rise 2 fall 2\n",
        f.addr
    );
    let _h = start(&cfg, &seen, |_| {});
    // Long enough for two checks; `inter` also bounds each probe, so it is not made tight.
    std::thread::sleep(Duration::from_millis(450));
    assert!(seen.changes("webA").is_empty());
    f.remove_running_file();
    seen.wait_change("webA", Change::Down, 1);
    assert!(seen.logs()[0].contains("reason: Layer7 wrong status, code: 404, info: \"Not Found\""));
    f.touch_running_file();
    seen.wait_change("webA", Change::Up, 1);
}

#[test]
fn a_slow_answer_past_timeout_check_is_a_layer7_timeout() {
    let f = Fixture::start(Answer::Slow(Duration::from_millis(400)));
    let seen = Seen::default();
    let cfg = format!(
        "{DEFAULTS} timeout check 100ms\nbackend web\n option httpchk GET /health\n server web1 {} check inter 50 fall 1\n",
        f.addr
    );
    let h = start(&cfg, &seen, |_| {});
    seen.wait_change("web1", Change::Down, 1);
    let last = server(&h, "web1").last_check.unwrap();
    assert_eq!(last.status, CheckStatus::L7Timeout);
    assert!(last.duration < Duration::from_millis(400), "{last:?}");
    assert!(seen.logs()[0].contains("reason: Layer7 timeout, check duration"));
}

#[test]
fn every_http_check_expect_form_passes_or_fails_as_written() {
    let f = Fixture::start(Answer::Http); // 200, body "alive"
                                          // (expect line, passes against 200 "alive")
    let forms = [
        ("status 200", true),
        ("status 500", false),
        ("! status 500", true),
        ("! status 200", false),
        ("rstatus ^2[0-9][0-9]$", true),
        ("rstatus ^5", false),
        ("! rstatus ^2", false),
        ("string alive", true),
        ("string dead", false),
        ("! string dead", true),
        ("! string alive", false),
        ("rstring ^al.ve$", true),
        ("rstring ^dead", false),
        ("! rstring ^al", false),
    ];
    let mut cfg = DEFAULTS.to_string();
    for (i, (expect, _)) in forms.iter().enumerate() {
        cfg.push_str(&format!(
            "backend b{i}\n option httpchk GET /health\n http-check expect {expect}\n server s{i} {} check inter 50 fall 1 rise 1\n",
            f.addr
        ));
    }
    let seen = Seen::default();
    let h = start(&cfg, &seen, |_| {});
    for (i, (expect, passes)) in forms.iter().enumerate() {
        let s = wait_checks(&h, &format!("s{i}"), 2);
        assert_eq!(s.up, *passes, "expect {expect}: {s:?}");
        let status = s.last_check.unwrap().status;
        if *passes {
            assert_eq!(status, CheckStatus::L7Ok, "expect {expect}");
        } else if expect.contains("string") {
            assert_eq!(status, CheckStatus::L7Rsp, "expect {expect}");
        } else {
            assert_eq!(status, CheckStatus::L7Sts, "expect {expect}");
        }
    }
}

#[test]
fn agent_words_change_state_weight_and_admin_state() {
    let web = Fixture::start(Answer::Http);
    let agent = Fixture::start(Answer::Agent("up 100%\n".into()));
    let seen = Seen::default();
    let cfg = format!(
        "{DEFAULTS}backend web\n server web1 {} weight 100 agent-check agent-port {} agent-inter 30\n",
        web.addr,
        agent.addr.port()
    );
    let h = start(&cfg, &seen, |_| {});
    let steps: [(&str, &[Change]); 7] = [
        ("50%\n", &[Change::Weight(50)]),
        (
            "drain\n",
            &[Change::Admin(AdminState::Drain), Change::Weight(0)],
        ),
        (
            "ready\n",
            &[Change::Admin(AdminState::Ready), Change::Weight(50)],
        ),
        ("maint\n", &[Change::Admin(AdminState::Maint), Change::Down]),
        (
            "ready 100%\n",
            &[
                Change::Admin(AdminState::Ready),
                Change::Up,
                Change::Weight(100),
            ],
        ),
        ("down#disk full\n", &[Change::Down]),
        ("up\n", &[Change::Up]),
    ];
    let mut expected: Vec<Change> = Vec::new();
    for (reply, changes) in steps {
        agent.set(Answer::Agent(reply.into()));
        expected.extend_from_slice(changes);
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.changes("web1") != expected {
            assert!(
                Instant::now() < deadline,
                "after agent said {reply:?}: {:?}, expected {expected:?}",
                seen.changes("web1")
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let logs = seen.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("is DOWN, reason: Layer7 wrong status, info: \"disk full\"")),
        "{logs:#?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("is going DOWN for maintenance")),
        "{logs:#?}"
    );
    assert!(
        logs.iter().any(|l| l.contains("enters drain state")),
        "{logs:#?}"
    );
    assert_eq!(server(&h, "web1").weight, 100);
}

#[test]
fn ssl_hello_check_passes_on_a_server_hello_only() {
    let tls = Fixture::start(Answer::ServerHello);
    let plain = Fixture::start(Answer::Garbage);
    let seen = Seen::default();
    let cfg = format!(
        "{DEFAULTS}backend syslog\n mode tcp\n option ssl-hello-chk\n server prod {} check inter 50 fall 1\n server plain {} check inter 50 fall 1\n",
        tls.addr, plain.addr
    );
    let h = start(&cfg, &seen, |_| {});
    seen.wait_change("plain", Change::Down, 1);
    let prod = wait_checks(&h, "prod", 2);
    assert!(prod.up);
    assert_eq!(prod.last_check.unwrap().status, CheckStatus::L6Ok);
    assert_eq!(
        server(&h, "plain").last_check.unwrap().status,
        CheckStatus::L6Rsp
    );
    assert!(seen.logs()[0].contains("reason: Layer6 invalid response"));
}

#[test]
fn a_server_in_maintenance_is_not_checked_and_comes_back_on_ready() {
    let f = Fixture::start(Answer::Http);
    let seen = Seen::default();
    let cfg = format!(
        "{DEFAULTS}backend web\n server web1 {} check inter 20\n",
        f.addr
    );
    let h = start(&cfg, &seen, |_| {});
    wait_checks(&h, "web1", 2);
    h.set_admin("web", "web1", AdminState::Maint).unwrap();
    std::thread::sleep(Duration::from_millis(30)); // a probe already under way may land
    let before = f.accepted();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(f.accepted(), before, "no probe while in maintenance");
    assert_eq!(server(&h, "web1").status, "MAINT");
    h.set_admin("web", "web1", AdminState::Ready).unwrap();
    wait_checks(&h, "web1", server(&h, "web1").checks + 1);
    // A connect check passes on the handshake; the fixture counts the accept a moment later.
    let deadline = Instant::now() + Duration::from_secs(2);
    while f.accepted() == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(f.accepted() > before);
    assert_eq!(
        seen.changes("web1"),
        [
            Change::Admin(AdminState::Maint),
            Change::Down,
            Change::Admin(AdminState::Ready),
            Change::Up
        ]
    );
    assert!(h.set_admin("web", "nope", AdminState::Ready).is_err());
}

#[test]
fn one_probe_per_interval_per_server() {
    let f = Fixture::start(Answer::Http);
    let seen = Seen::default();
    let cfg = format!(
        "{DEFAULTS}backend web\n server web1 {} check inter 100\n",
        f.addr
    );
    let h = start(&cfg, &seen, |_| {});
    wait_checks(&h, "web1", 1);
    let before = f.accepted();
    std::thread::sleep(Duration::from_millis(1000));
    let probes = f.accepted() - before;
    assert!(
        (5..=12).contains(&probes),
        "{probes} probes in 1 s at inter 100ms"
    );
}

#[test]
fn observed_errors_mark_the_server_down_within_milliseconds_not_at_the_next_check() {
    let f = Fixture::start(Answer::Http);
    let seen = Seen::default();
    let cfg = format!(
        "{DEFAULTS}backend web\n server web1 {} check inter 10s observe layer7 error-limit 3 on-error mark-down\n",
        f.addr
    );
    let h = start(&cfg, &seen, |_| {});
    wait_checks(&h, "web1", 1);
    let sent = Instant::now();
    for _ in 0..3 {
        h.observe("web", "web1", ringlb_checks::Outcome::Response(502));
    }
    let down = seen.wait_change("web1", Change::Down, 1);
    assert!(
        down - sent < Duration::from_millis(100),
        "DOWN {:?} after the third error",
        down - sent
    );
    let s = server(&h, "web1");
    assert_eq!(s.last_check.unwrap().status, CheckStatus::Hana);
    assert!(
        seen.logs()
            .iter()
            .any(|l| l.starts_with("Server web/web1 is DOWN, reason: Health analyze")),
        "{:?}",
        seen.logs()
    );
}
