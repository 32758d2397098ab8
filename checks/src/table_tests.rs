//! Table tests: which events and log lines results and admin orders publish.

use super::*;
use crate::health::Intervals;
use std::sync::{Arc, Mutex};

fn plan(name: &str, backup: bool, checked: bool) -> ServerPlan {
    let t = crate::probe::Target {
        addr: "127.0.0.1:1".parse().unwrap(),
        connect_timeout: Duration::from_millis(10),
        response_timeout: Duration::from_millis(10),
    };
    ServerPlan {
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
        observe: None,
        shutdown_sessions_on_down: false,
        log_checks: false,
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
