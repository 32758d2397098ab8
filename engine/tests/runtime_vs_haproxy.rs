//! The runtime API and the stats values side by side with Debian's haproxy 2.6: the
//! `ringlb` binary and `/usr/sbin/haproxy` run the same configuration, and their answers
//! to the same commands are compared (columns, filters, formats, check codes, backend
//! states), besides what only ringlb can be asked (new commands, rates, peaks).

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use support::*;

/// The configuration both run: `@SOCK`, `@WWW`, `@STATS` are each process's own socket
/// path and ports, `@UP` an origin that answers, `@DEAD` a port nobody listens on.
const CONFIG: &str = "global
    stats socket @SOCK level admin
    maxconn 1000
    nbthread @THREADS
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend www
    bind 127.0.0.1:@WWW
    default_backend web
backend web
    server s1 @UP check inter 100 rise 2 fall 2
    server s2 @DEAD check inter 100 rise 2 fall 2
backend empty
backend drained
    server d1 @UP
    server d2 @UP
listen stats
    bind 127.0.0.1:@STATS
    stats enable
    stats uri /st
    stats refresh 5s
";

/// One process under test: its socket, its ports, and the process itself.
struct Side {
    sock: PathBuf,
    www: SocketAddr,
    stats: SocketAddr,
    _proc: Box<dyn std::any::Any>,
}

impl Side {
    fn cmd(&self, line: &str) -> String {
        ask(&self.sock, line)
    }
}

/// One command line on a Unix runtime socket; the answer is everything until the close.
fn ask(sock: &Path, line: &str) -> String {
    let mut s = UnixStream::connect(sock).expect("runtime socket accepts");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

struct Pair {
    ours: Side,
    theirs: Side,
    _dir: TempDir,
    _origin: Origin,
}

/// Both processes on [`CONFIG`] with `threads` workers, each with its own ports.
fn pair(threads: u16) -> Pair {
    let dir = TempDir::new("vs-haproxy");
    let origin = Origin::text("hello");
    let dead = free_port();
    let side = |name: &str, haproxy: bool| {
        let sock = dir.path().join(format!("{name}.sock"));
        let (www, stats) = (free_port(), free_port());
        let text = CONFIG
            .replace("@SOCK", &sock.display().to_string())
            .replace("@THREADS", &threads.to_string())
            .replace("@WWW", &www.to_string())
            .replace("@STATS", &stats.to_string())
            .replace("@UP", &origin.addr.to_string())
            .replace("@DEAD", &format!("127.0.0.1:{dead}"));
        let cfg = dir.write(&format!("{name}.cfg"), &text);
        let www = SocketAddr::from(([127, 0, 0, 1], www));
        let proc: Box<dyn std::any::Any> = if haproxy {
            Box::new(Haproxy::start(&cfg, &sock))
        } else {
            let mut r = Ringlb::spawn(
                &[std::ffi::OsStr::new("-f"), cfg.as_os_str()],
                dir.path().join(format!("{name}.err")),
            );
            r.wait_serving(www);
            Box::new(r)
        };
        Side {
            sock,
            www,
            stats: SocketAddr::from(([127, 0, 0, 1], stats)),
            _proc: proc,
        }
    };
    let ours = side("ringlb", false);
    let theirs = side("haproxy", true);
    let p = Pair {
        ours,
        theirs,
        _dir: dir,
        _origin: origin,
    };
    // Both have seen s2 fail and s1 pass (a few checks at 100 ms).
    for s in [&p.ours, &p.theirs] {
        wait_for(s, |csv| {
            cell(csv, "web", "s2", "status") == "DOWN" && cell(csv, "web", "s1", "status") == "UP"
        });
    }
    p
}

/// Polls `show stat` until `cond` holds (5 s at most) and returns the last answer.
fn wait_for(side: &Side, cond: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let csv = side.cmd("show stat");
        if cond(&csv) || Instant::now() > deadline {
            return csv;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn cell(csv: &str, px: &str, sv: &str, column: &str) -> String {
    csv_cell(csv, px, sv, column)
}

/// `pxname,svname` of every row of a CSV answer.
fn row_names(csv: &str) -> Vec<String> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
        .collect()
}

#[test]
fn show_stat_prints_haproxys_columns_in_haproxys_order() {
    let p = pair(1);
    let (ours, theirs) = (p.ours.cmd("show stat"), p.theirs.cmd("show stat"));
    assert_eq!(ours.lines().next(), theirs.lines().next(), "the header");
    let width = |csv: &str| -> Vec<usize> {
        csv.lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').count())
            .collect()
    };
    assert_eq!(width(&ours), width(&theirs), "cells per row");
    assert_eq!(row_names(&ours), row_names(&theirs));
    for (px, sv) in [("www", "FRONTEND"), ("web", "s1"), ("web", "BACKEND")] {
        for col in ["pid", "type", "iid", "sid", "-", "mode", "status"] {
            assert_eq!(
                cell(&ours, px, sv, col),
                cell(&theirs, px, sv, col),
                "{px}/{sv} {col}"
            );
        }
    }
}

#[test]
fn show_stat_filters_select_the_rows_haproxy_selects() {
    let p = pair(1);
    p.ours.cmd("set server drained/d2 state maint");
    p.theirs.cmd("set server drained/d2 state maint");
    let web_iid = cell(&p.theirs.cmd("show stat"), "web", "BACKEND", "iid");
    for q in [
        "show stat -1 4 -1".to_string(),
        "show stat -1 2 -1".into(),
        "show stat -1 1 -1".into(),
        format!("show stat {web_iid} -1 -1"),
        "show stat web 4 2".into(),
        "show stat -1 -1 2".into(),
        "show stat up".into(),
        "show stat no-maint".into(),
    ] {
        let (ours, theirs) = (p.ours.cmd(&q), p.theirs.cmd(&q));
        assert_eq!(row_names(&ours), row_names(&theirs), "{q}");
        for (px, sv) in [("web", "BACKEND"), ("drained", "BACKEND")] {
            assert_eq!(
                cell(&ours, px, sv, "status"),
                cell(&theirs, px, sv, "status"),
                "{q}: {px} status"
            );
        }
    }
}

#[test]
fn typed_and_json_stat_fields_carry_haproxys_tags_and_types() {
    let p = pair(1);
    let theirs = p.theirs.cmd("show stat typed");
    let ours = p.ours.cmd("show stat typed");
    // Every field we print is one HAProxy prints for the same object, with the same tags
    // and type (values may differ: pids, times).
    let key = |l: &str| l.rsplit_once(':').map_or("", |x| x.0).to_string();
    let known: std::collections::HashSet<String> = theirs.lines().map(key).collect();
    let mut compared = 0;
    for l in ours.lines().filter(|l| !l.is_empty()) {
        let k = key(l);
        if k.contains(".pid.1:") {
            continue;
        }
        assert!(known.contains(&k), "{l} is not as haproxy types it");
        compared += 1;
    }
    assert!(compared > 100, "{ours}");
    let field = |json: &str, name: &str| -> String {
        let at = json
            .find(&format!("\"name\":\"{name}\""))
            .expect("the field");
        let start = json[..at].rfind("{\"objType\"").unwrap();
        let end = at + json[at..].find("}}").unwrap() + 2;
        json[start..end].to_string()
    };
    let (oj, tj) = (
        p.ours.cmd("show stat -1 1 -1 json"),
        p.theirs.cmd("show stat -1 1 -1 json"),
    );
    assert!(oj.starts_with("[[{") && oj.ends_with("}]]\n\n"), "{oj}");
    for name in ["pxname", "scur", "slim", "status", "mode", "req_tot"] {
        assert_eq!(field(&oj, name), field(&tj, name), "{name}");
    }
}

#[test]
fn show_info_has_haproxys_fields_in_haproxys_order() {
    let p = pair(1);
    let names = |out: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.split_once(": ").or(l.strip_suffix(':').map(|n| (n, ""))))
            .map(|(n, _)| n.to_string())
            .collect()
    };
    let (ours, theirs) = (
        names(&p.ours.cmd("show info")),
        names(&p.theirs.cmd("show info")),
    );
    let mut at = theirs.iter();
    for n in &ours {
        assert!(at.any(|t| t == n), "{n} missing or out of haproxy's order");
    }
    for n in [
        "node",
        "Stopping",
        "Jobs",
        "Listeners",
        "DroppedLogs",
        "TotalBytesOut",
    ] {
        assert!(ours.iter().any(|o| o == n), "{n} in {ours:?}");
    }
    let positions = |out: &str| -> Vec<String> {
        out.lines()
            .map(|l| l.split(':').next().unwrap_or_default().to_string())
            .filter(|k| !k.is_empty())
            .collect()
    };
    let theirs_typed = positions(&p.theirs.cmd("show info typed"));
    for k in positions(&p.ours.cmd("show info typed")) {
        assert!(
            theirs_typed.contains(&k),
            "{k}: position and name as haproxy's"
        );
    }
    let (oj, tj) = (p.ours.cmd("show info json"), p.theirs.cmd("show info json"));
    let nbproc = |j: &str| {
        let at = j.find("\"name\":\"Nbproc\"").unwrap();
        let start = j[..at].rfind("{\"field\"").unwrap();
        j[start..at + j[at..].find("}}").unwrap() + 2].to_string()
    };
    assert_eq!(nbproc(&oj), nbproc(&tj));
    // The listeners: two `bind` lines and the socket.
    assert!(p.ours.cmd("show info").contains("\nListeners: 3\n"));
}

#[test]
fn check_status_codes_in_servers_state_are_haproxys() {
    let p = pair(1);
    let codes = |out: &str| -> Vec<(String, String)> {
        out.lines()
            .filter(|l| l.split(' ').nth(1) == Some("web"))
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f[3].to_string(), format!("{} {}", f[10], f[11]))
            })
            .collect()
    };
    let ours = codes(&p.ours.cmd("show servers state"));
    assert_eq!(ours, codes(&p.theirs.cmd("show servers state")));
    assert_eq!(ours.len(), 2);
}

#[test]
fn backend_states_limits_and_failed_checks_are_haproxys() {
    let p = pair(1);
    for s in [&p.ours, &p.theirs] {
        s.cmd("set server drained/d1 state drain; set server drained/d2 state maint");
    }
    // Several checks of the dead s2 after it went DOWN.
    thread::sleep(Duration::from_millis(600));
    let (ours, theirs) = (p.ours.cmd("show stat"), p.theirs.cmd("show stat"));
    for (px, sv, col) in [
        ("drained", "BACKEND", "status"),
        ("drained", "BACKEND", "act"),
        ("empty", "BACKEND", "status"),
        ("empty", "BACKEND", "act"),
        ("empty", "BACKEND", "slim"),
        ("web", "BACKEND", "slim"),
        ("www", "FRONTEND", "slim"),
        ("web", "s2", "chkfail"),
        ("web", "s2", "chkdown"),
    ] {
        assert_eq!(
            cell(&ours, px, sv, col),
            cell(&theirs, px, sv, col),
            "{px}/{sv} {col}"
        );
    }
    assert_eq!(cell(&ours, "drained", "BACKEND", "status"), "DOWN");
}

#[test]
fn the_stats_page_csv_honours_up_and_sends_refresh_as_haproxy() {
    let p = pair(1);
    let get = |s: &Side, path: &str| {
        request(
            s.stats,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    };
    for path in ["/st;csv;up", "/st;csv", "/st", "/st;norefresh"] {
        let (ours, theirs) = (get(&p.ours, path), get(&p.theirs, path));
        assert_eq!(ours.header("refresh"), theirs.header("refresh"), "{path}");
        if path.contains("csv") {
            assert_eq!(row_names(&ours.text()), row_names(&theirs.text()), "{path}");
        }
    }
    assert!(!row_names(&get(&p.ours, "/st;csv;up").text()).contains(&"web,s2".to_string()));
}

#[test]
fn process_commands_answer_as_haproxys() {
    let p = pair(1);
    for q in [
        "show cli level",
        "show env HOME",
        "show env RINGLB_NOPE",
        "set timeout cli",
    ] {
        assert_eq!(p.ours.cmd(q), p.theirs.cmd(q), "{q}");
    }
    assert_eq!(
        p.ours.cmd("show version"),
        format!("{}\n\n", env!("CARGO_PKG_VERSION"))
    );
    let errors = p.ours.cmd("show errors");
    assert!(
        errors.starts_with("Total events captured on [") && errors.ends_with("] : 0\n\n"),
        "{errors}"
    );
    for s in [&p.ours, &p.theirs] {
        assert_eq!(s.cmd("set maxconn global 50"), "\n");
        assert!(s.cmd("show info").contains("\nMaxconn: 50\n"));
        s.cmd("set maxconn global 0");
        assert!(s.cmd("show info").contains("\nMaxconn: 1000\n"));
    }
    assert!(p.ours.cmd("show activity").starts_with("thread_id: "));
    assert!(p
        .ours
        .cmd("show pools")
        .starts_with("Dumping pools usage.\n"));
}

#[test]
fn frontend_session_and_server_commands_answer_as_haproxys() {
    let p = pair(1);
    // Each line runs on both, in order; the answers must be byte for byte the same.
    for q in [
        "disable frontend www",
        "disable frontend www",
        "enable frontend www",
        "enable frontend www",
        "disable frontend nope",
        "disable frontend",
        "shutdown frontend",
        "set maxconn frontend www 7",
        "set maxconn frontend nope 5",
        "set maxconn frontend www",
        "set maxconn frontend",
        "shutdown session",
        "shutdown session 0x1",
        "shutdown sessions server web/s1",
        "shutdown sessions server web/nope",
        "shutdown sessions server nope/s1",
        "shutdown sessions server",
        "set server drained/d1 addr 127.0.0.9",
        "set server drained/d1 addr 127.0.0.9",
        "set server drained/d1 addr",
        "set server drained/d1 addr nothost",
        "set server drained/d1 addr 127.0.0.9 port abc",
        "set server drained/d1 addr 127.0.0.1 port +5",
        "set server drained/d1 addr 127.0.0.1 port +5",
        "set server drained/d2 health down",
        "set server drained/d2 health sick",
        "set server drained/d2 agent up",
        "set server drained/d2 agent-send x",
        "set server drained/d2 agent-port 80",
        "set server drained/d2 check-port 81",
        "set server drained/d2 check-addr 127.0.0.1",
        "set server web/s1 check-port abc",
        "set server web/s1 check-port 70000",
        "set server web/s1 check-addr foo",
        "set server web/s1 check-addr",
        "set server web/s1 bogus",
        "set rate-limit connections",
        "set rate-limit connections global",
        "set rate-limit connections global 0",
        "set maxconn frontend www abc",
        "shutdown session zz",
    ] {
        assert_eq!(p.ours.cmd(q), p.theirs.cmd(q), "{q}");
    }
    let (ours, theirs) = (p.ours.cmd("show stat"), p.theirs.cmd("show stat"));
    for (px, sv, col) in [
        ("www", "FRONTEND", "slim"),
        ("www", "FRONTEND", "status"),
        ("drained", "d2", "status"),
    ] {
        assert_eq!(
            cell(&ours, px, sv, col),
            cell(&theirs, px, sv, col),
            "{px}/{sv} {col}"
        );
    }
    assert_eq!(cell(&ours, "drained", "d2", "status"), "DOWN");
    let addr = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.split(' ').nth(3) == Some("d1"))
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                format!("{} {}", f[4], f[18])
            })
            .collect()
    };
    assert_eq!(
        addr(&p.ours.cmd("show servers state drained")),
        addr(&p.theirs.cmd("show servers state drained"))
    );
    // A disabled frontend shows as haproxy shows it, and so does a stopped one.
    for q in ["disable frontend www", "show stat", "enable frontend www"] {
        let (o, t) = (p.ours.cmd(q), p.theirs.cmd(q));
        if q == "show stat" {
            assert_eq!(cell(&o, "www", "FRONTEND", "status"), "PAUSED");
            assert_eq!(cell(&t, "www", "FRONTEND", "status"), "PAUSED");
        } else {
            assert_eq!(o, t, "{q}");
        }
    }
    for q in [
        "shutdown frontend www",
        "shutdown frontend www",
        "enable frontend www",
        "disable frontend www",
    ] {
        assert_eq!(p.ours.cmd(q), p.theirs.cmd(q), "{q}");
    }
    let (ours, theirs) = (p.ours.cmd("show stat"), p.theirs.cmd("show stat"));
    assert_eq!(cell(&ours, "www", "FRONTEND", "status"), "STOP");
    assert_eq!(cell(&theirs, "www", "FRONTEND", "status"), "STOP");
    assert!(
        http_get(p.ours.www, "/").is_err(),
        "a stopped frontend refuses"
    );
}

#[test]
fn show_sess_lists_a_held_connection_with_haproxys_leading_fields() {
    let p = pair(2);
    let held = std::net::TcpStream::connect(p.ours.www).unwrap();
    let me = held.local_addr().unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    let line = loop {
        let out = p.ours.cmd("show sess");
        if let Some(l) = out.lines().find(|l| l.contains(&format!(" src={me} "))) {
            break l.to_string();
        }
        assert!(Instant::now() < deadline, "{me} not in {out}");
        thread::sleep(Duration::from_millis(20));
    };
    // HAProxy's own listing, for the order of the fields both print.
    let theirs = p.theirs.cmd("show sess");
    let order = |l: &str| -> Vec<String> {
        l.split(' ')
            .filter_map(|w| w.split_once('=').map(|(k, _)| k.to_string()))
            .filter(|k| ["proto", "src", "fe", "be", "srv", "ts", "age"].contains(&k.as_str()))
            .collect()
    };
    assert_eq!(
        order(&line),
        order(theirs.lines().next().unwrap()),
        "{line}\n{theirs}"
    );
    assert!(
        line.contains(": proto=tcpv4 ") && line.contains(" fe=www be=web "),
        "{line}"
    );
    let id = line.split(':').next().unwrap();
    assert_eq!(p.ours.cmd(&format!("shutdown session {id}")), "\n");
    let mut held = held;
    held.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        held.read(&mut buf).unwrap(),
        0,
        "closed by shutdown session"
    );
}

#[test]
fn clear_counters_resets_peaks_and_all_resets_totals() {
    let p = pair(1);
    // The start-up probe connected once already.
    let before: u64 = cell(&p.ours.cmd("show stat"), "www", "FRONTEND", "stot")
        .parse()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(http_get(p.ours.www, "/").unwrap().0, 200);
    }
    let total = (before + 3).to_string();
    let csv = wait_for(&p.ours, |c| cell(c, "www", "FRONTEND", "stot") == total);
    assert_eq!(cell(&csv, "www", "FRONTEND", "smax"), "1");
    assert_eq!(p.ours.cmd("clear counters"), "\n");
    let csv = p.ours.cmd("show stat");
    assert_eq!(cell(&csv, "www", "FRONTEND", "smax"), "0");
    assert_eq!(cell(&csv, "www", "FRONTEND", "stot"), total, "totals stay");
    assert_eq!(p.ours.cmd("clear counters all"), "\n");
    let csv = p.ours.cmd("show stat");
    for (px, sv) in [("www", "FRONTEND"), ("web", "s1"), ("web", "BACKEND")] {
        assert_eq!(cell(&csv, px, sv, "stot"), "0", "{px}/{sv}");
    }
    assert_eq!(cell(&csv, "www", "FRONTEND", "hrsp_2xx"), "0");
    assert_eq!(http_get(p.ours.www, "/").unwrap().0, 200);
    let csv = wait_for(&p.ours, |c| cell(c, "www", "FRONTEND", "stot") == "1");
    assert_eq!(
        cell(&csv, "www", "FRONTEND", "stot"),
        "1",
        "counting goes on"
    );
}

#[test]
fn frontend_request_rate_and_peaks_are_counted_across_workers() {
    let p = pair(2);
    for _ in 0..12 {
        assert_eq!(http_get(p.ours.www, "/").unwrap().0, 200);
    }
    let csv = wait_for(&p.ours, |c| cell(c, "www", "FRONTEND", "req_tot") == "12");
    let rate_max: u64 = cell(&csv, "www", "FRONTEND", "req_rate_max")
        .parse()
        .unwrap();
    assert!(rate_max >= 1, "req_rate_max {rate_max}");
    // One connection at a time, on either worker: the process never had two.
    assert_eq!(cell(&csv, "www", "FRONTEND", "smax"), "1");
    assert_eq!(cell(&csv, "web", "s1", "smax"), "1");
}

#[test]
fn set_timeout_cli_shortens_the_idle_timeout_of_the_session() {
    let p = pair(1);
    let mut s = UnixStream::connect(&p.ours.sock).unwrap();
    // The default idle timeout is 10 s: reading would fail first.
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    s.write_all(b"prompt\nset timeout cli 1\n").unwrap();
    let start = Instant::now();
    let mut out = String::new();
    s.read_to_string(&mut out)
        .expect("closed by the 1 s idle timeout");
    assert!(start.elapsed() < Duration::from_secs(5), "{out:?}");
    assert_eq!(out, "> \n> ");
}
