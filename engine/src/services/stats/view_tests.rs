use std::path::Path;
use std::time::Duration;

use ringlb_checks::{AdminState, CheckResult, CheckStatus, ServerSnapshot as CheckState};
use ringlb_config::Config;

use super::*;
use crate::metrics::Layout;
use crate::services::stats::csv::{cells, write_csv, COLUMNS};

const CONFIG: &str = "\
global
    maxconn 500
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend web
    bind 127.0.0.1:18080
    default_backend app
backend app
    balance leastconn
    server a 127.0.0.1:8001 weight 3 check
    server b 127.0.0.1:8002 maxconn 7
    server c 127.0.0.1:8003 backup
listen tcpsvc
    mode tcp
    bind 127.0.0.1:18081
    server t1 127.0.0.1:9001
";

struct Fixture {
    config: Config,
    registry: Registry,
    backends: Vec<ResolvedBackend>,
}

fn fixture() -> Fixture {
    let loaded = ringlb_config::parse_str(CONFIG, Path::new("t.cfg"));
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    let backends = crate::backend::resolve_all(&config).expect("resolves");
    let layout = Layout::new(
        config.frontends().map(|p| p.name.clone()),
        backends.iter().map(ResolvedBackend::names),
    );
    Fixture {
        registry: Registry::new(layout, 2),
        config,
        backends,
    }
}

fn check_state(server: &str, status: &str, up: bool, admin: AdminState) -> CheckState {
    CheckState {
        backend: "app".into(),
        server: server.into(),
        backup: false,
        up,
        weight: 3,
        admin,
        checked: true,
        check_enabled: true,
        health: if up { 3 } else { 0 },
        rise: 2,
        fall: 3,
        status: status.into(),
        last_check: Some(CheckResult {
            duration: Duration::from_millis(4),
            ..CheckResult::new(CheckStatus::L4Con).with_info("Connection refused")
        }),
        last_agent: None,
        checks: 10,
        failed_checks: 4,
        downs: 1,
        since_change: Duration::from_secs(12),
    }
}

fn view(f: &Fixture, checks: &[CheckState], scope: &[String]) -> Vec<ProxyView> {
    let counters = f.registry.snapshot();
    let down = |_: &str, s: &str| (s == "a").then_some(Duration::from_secs(9));
    let src = Sources {
        config: &f.config,
        registry: &f.registry,
        counters: &counters,
        checks,
        backends: &f.backends,
        downtime: &down,
        maxconn: 500,
        pid: 77,
        moved: &|_: &str, _: &str| None,
        frontends: None,
    };
    proxies(&src, scope)
}

fn cell<'a>(cells: &'a [String], name: &str) -> &'a str {
    let i = COLUMNS.iter().position(|c| *c == name).expect("a column");
    &cells[i]
}

#[test]
fn each_proxy_lists_frontend_then_servers_then_backend() {
    let f = fixture();
    let v = view(&f, &[], &[]);
    let names: Vec<(String, Vec<String>)> = v
        .iter()
        .map(|p| (p.name.clone(), p.rows().map(|r| r.svname.clone()).collect()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("web".to_string(), vec!["FRONTEND".to_string()]),
            (
                "app".into(),
                vec!["a".into(), "b".into(), "c".into(), "BACKEND".into()]
            ),
            (
                "tcpsvc".into(),
                vec!["FRONTEND".into(), "t1".into(), "BACKEND".into()]
            ),
        ]
    );
}

#[test]
fn scope_keeps_only_the_named_proxies() {
    let f = fixture();
    let v = view(&f, &[], &["tcpsvc".to_string()]);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].name, "tcpsvc");
}

#[test]
fn worker_counters_are_summed_into_the_rows_and_split_per_worker() {
    let f = fixture();
    let (w0, w1) = (f.registry.worker(0), f.registry.worker(1));
    w0.frontends[0].session_start(1);
    w0.frontends[0].session_end();
    w1.frontends[0].session_start(1);
    w1.frontends[0].session_start(1);
    w0.frontends[0].response(Some(200));
    w1.frontends[0].response(Some(503));
    w0.frontends[0].bytes(100, 2000);
    w1.servers[0][1].session_start(1);
    w1.servers[0][1].response(Some(200));
    w1.backends[0].retry();
    let v = view(&f, &[], &[]);
    let fe = v[0].frontend.as_ref().unwrap();
    assert_eq!((fe.stot, fe.scur, fe.bin, fe.bout), (3, 2, 100, 2000));
    assert_eq!(
        fe.per_worker,
        vec![
            WorkerSessions {
                current: 0,
                total: 1
            },
            WorkerSessions {
                current: 2,
                total: 2
            }
        ]
    );
    let c = cells(fe);
    assert_eq!(cell(&c, "hrsp_2xx"), "1");
    assert_eq!(cell(&c, "hrsp_5xx"), "1");
    assert_eq!(cell(&c, "slim"), "500");
    assert_eq!(cell(&c, "status"), "OPEN");
    assert_eq!(cell(&c, "type"), "0");
    assert_eq!(cell(&c, "pid"), "1", "HAProxy's relative process number");
    let b = &v[1].servers[1];
    assert_eq!((b.stot, b.slim), (1, Some(7)));
    assert_eq!(cell(&cells(b), "hrsp_2xx"), "1");
    assert_eq!(cell(&cells(b), "addr"), "127.0.0.1:8002");
    let be = v[1].backend.as_ref().unwrap();
    assert_eq!(cell(&cells(be), "wretr"), "1");
    assert_eq!(cell(&cells(be), "algo"), "leastconn");
}

#[test]
fn checker_state_gives_server_status_and_backend_availability() {
    let f = fixture();
    let checks = vec![
        check_state("a", "DOWN", false, AdminState::Ready),
        CheckState {
            checked: false,
            ..check_state("b", "MAINT", false, AdminState::Maint)
        },
        CheckState {
            checked: false,
            backup: true,
            ..check_state("c", "no check", true, AdminState::Ready)
        },
    ];
    let v = view(&f, &checks, &[]);
    let app = &v[1];
    let a = cells(&app.servers[0]);
    assert_eq!(cell(&a, "status"), "DOWN");
    assert_eq!(cell(&a, "check_status"), "L4CON");
    assert_eq!(cell(&a, "last_chk"), "Connection refused");
    assert_eq!(cell(&a, "check_duration"), "4");
    assert_eq!(cell(&a, "chkfail"), "4");
    assert_eq!(cell(&a, "chkdown"), "1");
    assert_eq!(cell(&a, "lastchg"), "12");
    assert_eq!(cell(&a, "downtime"), "9");
    assert_eq!(cell(&a, "uweight"), "3");
    assert_eq!(cell(&cells(&app.servers[1]), "status"), "MAINT");
    assert_eq!(cell(&cells(&app.servers[1]), "chkfail"), "");
    let be = cells(app.backend.as_ref().unwrap());
    assert_eq!(cell(&be, "status"), "UP", "the backup still serves");
    assert_eq!((cell(&be, "act"), cell(&be, "bck")), ("0", "1"));
}

#[test]
fn a_backend_with_no_server_up_is_down() {
    let f = fixture();
    let checks = vec![
        check_state("a", "DOWN", false, AdminState::Ready),
        check_state("b", "MAINT", false, AdminState::Maint),
        check_state("c", "DOWN 1/2", false, AdminState::Ready),
    ];
    let v = view(&f, &checks, &[]);
    assert_eq!(
        v[1].servers[2].status,
        Status::GoingUp { passed: 1, rise: 2 }
    );
    assert_eq!(v[1].backend.as_ref().unwrap().status, Status::Down);
}

#[test]
fn csv_has_one_line_per_row_each_with_every_column() {
    let f = fixture();
    let v = view(&f, &[], &[]);
    let mut out = String::new();
    write_csv(v.iter().flat_map(|p| p.rows()), &mut out);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1 + 1 + 4 + 3);
    for l in &lines[1..] {
        assert_eq!(l.matches(',').count(), COLUMNS.len(), "{l}");
    }
    assert!(lines[2].starts_with("app,a,0,0,0,0,,0,"), "{}", lines[2]);
}

#[test]
fn status_text_reads_back() {
    for s in [
        "UP", "DOWN", "UP 1/3", "DOWN 2/2", "MAINT", "DRAIN", "NOLB", "no check",
    ] {
        assert_eq!(Status::from_check_text(s).text(), s);
    }
}
