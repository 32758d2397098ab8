//! Table tests: which events and log lines results and admin orders publish.

use super::*;
use crate::health::Intervals;
use crate::observe::Trigger;
use std::sync::{Arc, Mutex};

fn plan(name: &str, backup: bool, checked: bool) -> ServerPlan {
    let t = crate::probe::Target::plain(
        "127.0.0.1:1".parse().unwrap(),
        Duration::from_millis(10),
        Duration::from_millis(10),
    );
    ServerPlan {
        check_tls: None,
        backend: "web".into(),
        server: name.into(),
        backup,
        weight: 10,
        disabled: false,
        rise: 2,
        fall: 2,
        intervals: Intervals {
            inter: Duration::from_millis(50),
            fastinter: Duration::from_millis(50),
            downinter: Duration::from_millis(50),
        },
        check: checked.then(|| (crate::probe::ProbeKind::Tcp, t)),
        agent: None,
        shutdown_sessions_on_down: false,
        log_checks: false,
        own_check_addr: false,
        own_check_port: false,
    }
}

fn table(plans: Vec<ServerPlan>) -> (Table, Arc<Mutex<Vec<Output>>>) {
    let out = Arc::new(Mutex::new(Vec::new()));
    let o = out.clone();
    (
        Table::new(plans, Arc::new(move |x| o.lock().unwrap().push(x))),
        out,
    )
}

fn drain(out: &Mutex<Vec<Output>>) -> (Vec<Change>, Vec<String>) {
    let mut changes = Vec::new();
    let mut logs = Vec::new();
    for o in out.lock().unwrap().drain(..) {
        match o {
            Output::Server(e) => changes.push(e.change),
            Output::Log(l) => logs.push(l.message),
        }
    }
    (changes, logs)
}

fn refused() -> CheckResult {
    CheckResult::new(CheckStatus::L4Con).with_info("Connection refused")
}

#[test]
fn last_server_down_logs_no_server_available() {
    let (mut t, out) = table(vec![plan("web1", false, true), plan("web2", false, false)]);
    t.set_admin(1, AdminState::Maint);
    drain(&out);
    t.record_check(0, refused());
    let (changes, logs) = drain(&out);
    assert_eq!(changes, [Change::Down]);
    assert!(logs[0].starts_with("Server web/web1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\""), "{logs:?}");
    assert!(
        logs[0].ends_with("0 active and 0 backup servers left."),
        "{logs:?}"
    );
    assert_eq!(logs[1], "backend web has no server available!");
}

#[test]
fn drain_and_ready_publish_weights_and_maint_stops_checks() {
    let (mut t, out) = table(vec![plan("web1", false, true)]);
    t.set_admin(0, AdminState::Drain);
    assert_eq!(
        drain(&out).0,
        [Change::Admin(AdminState::Drain), Change::Weight(0)]
    );
    t.set_admin(0, AdminState::Ready);
    assert_eq!(
        drain(&out).0,
        [Change::Admin(AdminState::Ready), Change::Weight(10)]
    );
    t.set_admin(0, AdminState::Maint);
    assert!(!t.check_due(0));
    let (changes, logs) = drain(&out);
    assert_eq!(changes, [Change::Admin(AdminState::Maint), Change::Down]);
    assert!(
        logs[0].contains("is going DOWN for maintenance"),
        "{logs:?}"
    );
}

#[test]
fn agent_words_change_state_and_weight() {
    let (mut t, out) = table(vec![plan("web1", false, false)]);
    let reply = |s: &str| Ok((crate::probe::agent::parse_reply(s), Duration::ZERO));
    t.record_agent(0, reply("50%"));
    assert_eq!(drain(&out).0, [Change::Weight(5)]);
    t.record_agent(0, reply("down # overloaded"));
    let (changes, logs) = drain(&out);
    assert_eq!(changes, [Change::Down]);
    assert!(logs[0].contains("info: \"overloaded\""), "{logs:?}");
    t.record_agent(0, reply("up 100%"));
    assert_eq!(drain(&out).0, [Change::Up, Change::Weight(10)]);
    t.record_agent(0, Err(refused()));
    assert!(
        drain(&out).0.is_empty(),
        "an unreachable agent changes nothing"
    );
}

fn trigger(on_error: OnError) -> Trigger {
    Trigger {
        watch: 0,
        errors: 2,
        last: crate::observe::Outcome::Response(500),
        on_error,
    }
}

fn passed() -> CheckResult {
    CheckResult::new(CheckStatus::L4Ok)
}

#[test]
fn mark_down_takes_an_up_server_down_at_once_and_checks_bring_it_back() {
    let (mut t, out) = table(vec![plan("web1", false, true), plan("web2", false, true)]);
    t.record_check(0, passed());
    drain(&out);
    t.observe_errors(0, &trigger(OnError::MarkDown));
    let (changes, logs) = drain(&out);
    assert_eq!(changes, [Change::Down]);
    assert_eq!(
        logs[0],
        "Server web/web1 is DOWN, reason: Health analyze, info: \"Detected 2 consecutive errors, last one was: Wrong http response\". 1 active and 0 backup servers left."
    );
    t.record_check(0, passed());
    assert!(
        drain(&out).0.is_empty(),
        "rise 2: one passed check is not enough"
    );
    t.record_check(0, passed());
    assert_eq!(drain(&out).0, [Change::Up]);
}

#[test]
fn fail_check_counts_as_one_failed_check() {
    let (mut t, out) = table(vec![plan("web1", false, true)]);
    t.record_check(0, passed());
    t.observe_errors(0, &trigger(OnError::FailCheck));
    assert!(
        drain(&out).0.is_empty(),
        "fall 2: still up after one failure"
    );
    let snap = &t.snapshot()[0];
    assert_eq!(snap.status, "UP 1/2");
    assert_eq!(snap.failed_checks, 1);
    t.observe_errors(0, &trigger(OnError::FailCheck));
    assert_eq!(drain(&out).0, [Change::Down]);
}

#[test]
fn sudden_death_leaves_the_server_one_failed_check_from_down() {
    let mut p = plan("web1", false, true);
    p.fall = 4;
    let (mut t, out) = table(vec![p]);
    t.record_check(0, passed());
    t.observe_errors(0, &trigger(OnError::SuddenDeath));
    assert!(drain(&out).0.is_empty());
    assert_eq!(t.snapshot()[0].status, "UP 1/4");
    t.record_check(0, refused());
    assert_eq!(drain(&out).0, [Change::Down]);
}

#[test]
fn every_mode_asks_for_fastinter_until_the_next_check() {
    let mut p = plan("web1", false, true);
    p.intervals.inter = Duration::from_secs(2);
    p.intervals.fastinter = Duration::from_millis(100);
    let (mut t, out) = table(vec![p]);
    t.record_check(0, passed());
    assert_eq!(t.next_interval(0), Duration::from_secs(2));
    t.observe_errors(0, &trigger(OnError::FastInter));
    assert_eq!(t.next_interval(0), Duration::from_millis(100));
    assert!(drain(&out).0.is_empty(), "fastinter alone changes no state");
    assert_eq!(t.snapshot()[0].status, "UP");
    t.record_check(0, passed());
    assert_eq!(t.next_interval(0), Duration::from_secs(2));
}

#[test]
fn a_passed_check_clears_errors_counted_on_traffic() {
    let text = "defaults\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
                backend web\n server web1 127.0.0.1:80 check observe layer4 error-limit 3\n";
    let config = ringlb_config::parse_str(text, std::path::Path::new("t.cfg"))
        .config
        .unwrap();
    let watches = crate::observe::Watches::new(&config);
    let w = watches.get("web", "web1").unwrap();
    let (mut t, _out) = table(vec![plan("web1", false, true)]);
    t.attach_watch(0, w.clone());
    w.report(crate::observe::Outcome::ConnectFailed);
    w.report(crate::observe::Outcome::ConnectFailed);
    assert_eq!(w.errors(), 2);
    t.record_check(0, passed());
    assert_eq!(w.errors(), 0);
}

#[test]
fn failed_checks_count_while_they_take_health_away_not_once_down() {
    let (mut t, out) = table(vec![plan("web1", false, true)]);
    t.record_check(0, passed());
    for _ in 0..6 {
        t.record_check(0, refused());
    }
    assert_eq!(drain(&out).0, [Change::Down]);
    // fall 2 from full health: two failures take it DOWN; the four after it do not count.
    assert_eq!(t.snapshot()[0].failed_checks, 2);
}

#[test]
fn forced_health_holds_until_the_checks_say_otherwise() {
    use crate::table::ForcedHealth;
    let (mut t, out) = table(vec![plan("a", false, true), plan("n", false, false)]);
    t.force_health(0, ForcedHealth::Down);
    t.force_health(1, ForcedHealth::Down);
    let snap = t.snapshot();
    assert_eq!((snap[0].up, snap[0].status.as_str()), (false, "DOWN"));
    assert_eq!((snap[1].up, snap[1].status.as_str()), (false, "DOWN"));
    assert_eq!(drain(&out).0, vec![Change::Down, Change::Down]);
    // A checked server climbs back with `rise` passed checks; an unchecked one stays.
    for _ in 0..2 {
        t.record_check(0, CheckResult::new(CheckStatus::L4Ok));
    }
    assert!(t.snapshot()[0].up);
    assert!(!t.snapshot()[1].up);
    t.force_health(1, ForcedHealth::Up);
    assert_eq!(t.snapshot()[1].status, "no check");
    t.force_health(0, ForcedHealth::Stopping);
    let snap = t.snapshot();
    assert_eq!(
        (snap[0].up, snap[0].weight, snap[0].status.as_str()),
        (true, 0, "NOLB")
    );
    t.record_check(0, CheckResult::new(CheckStatus::L4Ok));
    assert_eq!(t.snapshot()[0].status, "UP", "the next check ends it");
}
