//! The runtime API end to end: every command through `socat` on a Unix socket and through
//! one-command TCP connections, exact counters in `show stat` after known traffic, levels
//! and Unix permissions, and admin changes taking effect on routing.

#[path = "../../checks/tests/fixture/mod.rs"]
mod fixture;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use ringlb::boot::run::{RunHandle, RunOptions};
use ringlb_config::model::{AdminLevel, Mode, SocketAddress, StatsSocket};
use support::*;

/// A backend answering every request with its `name`.
fn named(name: &'static str) -> SocketAddr {
    Origin::text(name).addr
}

fn socket(addr: SocketAddress, level: AdminLevel, mode: Option<u32>) -> StatsSocket {
    StatsSocket {
        location: Default::default(),
        addr,
        mode,
        level,
        user: None,
        group: None,
        expose_fd_listeners: false,
        process: None,
    }
}

struct Rig {
    engine: RunHandle,
    _dir: TempDir,
    unix: PathBuf,
    admin_tcp: SocketAddr,
    user_tcp: SocketAddr,
}

impl Rig {
    fn web(&self) -> SocketAddr {
        addr_of(&self.engine, "web")
    }
}

/// `listen web` (HTTP, round robin over s1 "one" and s2 "two"), an admin Unix socket
/// (mode 600), an admin TCP socket and a user-level TCP socket, on one worker.
fn rig() -> Rig {
    rig_with(1, &[("s1", named("one")), ("s2", named("two"))])
}

/// [`rig`] with `threads` workers and `servers` in `listen web`.
fn rig_with(threads: u16, servers: &[(&str, SocketAddr)]) -> Rig {
    rig_of(threads, listen("web", servers))
}

/// [`rig`] with `threads` workers serving `p` (named `web`) in HTTP.
fn rig_of(threads: u16, p: ringlb_config::model::Proxy) -> Rig {
    rig_on(threads, p, false)
}

/// [`rig_of`] on the epoll driver when `legacy`.
fn rig_on(threads: u16, mut p: ringlb_config::model::Proxy, legacy: bool) -> Rig {
    let dir = TempDir::new("runtime-socket");
    let unix = dir.path().join("admin.sock");
    p.mode = Mode::Http;
    p.timeouts.client = Some(Duration::from_secs(5));
    p.timeouts.server = Some(Duration::from_secs(5));
    let base = config(threads, vec![p]);
    // The TCP sockets' ports are free when chosen but may be taken by another test's
    // connection before the engine binds them: choose again then.
    for _ in 0..5 {
        let (a, u) = (reserve_port(), reserve_port());
        let (admin_tcp, user_tcp) = (a.local_addr().unwrap(), u.local_addr().unwrap());
        drop((a, u));
        let mut c = base.clone();
        c.global.stats_sockets = vec![
            socket(
                SocketAddress::Unix(unix.clone()),
                AdminLevel::Admin,
                Some(0o600),
            ),
            socket(SocketAddress::Inet(admin_tcp), AdminLevel::Admin, None),
            socket(SocketAddress::Inet(user_tcp), AdminLevel::User, None),
        ];
        let opts = RunOptions {
            handle_signals: false,
            legacy_driver: legacy,
            ..RunOptions::default()
        };
        if let Ok(engine) = ringlb::boot::run::start(c, opts) {
            return Rig {
                engine,
                _dir: dir,
                unix,
                admin_tcp,
                user_tcp,
            };
        }
    }
    panic!("the engine does not start with its runtime sockets");
}

/// One command line over a TCP connection; the answer is everything until the close.
fn tcp(addr: SocketAddr, line: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("runtime socket accepts");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out)
        .expect("the answer ends with a close");
    out
}

fn have_socat() -> bool {
    Command::new("socat").arg("-V").output().is_ok()
}

/// Runs `line` through socat when it is installed (else through the Unix socket directly)
/// and through the admin TCP socket, checks both answer the same, and returns the answer.
fn both(rig: &Rig, line: &str) -> String {
    let via_unix = if have_socat() {
        socat(&rig.unix, line)
    } else {
        eprintln!("socat is not installed: talking to the Unix socket directly");
        let mut s = std::os::unix::net::UnixStream::connect(&rig.unix).unwrap();
        s.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let via_tcp = tcp(rig.admin_tcp, line);
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("Uptime") && !l.starts_with("lastchg"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&via_unix), strip(&via_tcp), "{line}");
    via_tcp
}

fn bodies(addr: SocketAddr, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| http_get(addr, "/").expect("proxied").1)
        .collect()
}

/// The CSV cell `column` of row `px,sv` in a `show stat` answer.
fn stat(csv: &str, px: &str, sv: &str, column: &str) -> String {
    assert!(
        csv.lines().any(|l| l.starts_with(&format!("{px},{sv},"))),
        "no row {px}/{sv} in {csv}"
    );
    csv_cell(csv, px, sv, column)
}

/// Polls `show stat` until `cond` holds (counters are summed when read; the last exchange
/// may still be closing).
fn stat_until(rig: &Rig, cond: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let csv = tcp(rig.admin_tcp, "show stat");
        if cond(&csv) || Instant::now() > deadline {
            return csv;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn show_info_answers_with_haproxys_fields_through_socat_and_tcp() {
    let rig = rig();
    let out = both(&rig, "show info");
    assert!(out.starts_with("Name: ringlb\nVersion: "), "{out}");
    assert!(
        out.contains(&format!("\nPid: {}\n", std::process::id())),
        "{out}"
    );
    for field in [
        "Uptime_sec: ",
        "Maxconn: ",
        "CurrConns: ",
        "CumConns: ",
        "CumReq: ",
        "Nbthread: 1",
    ] {
        assert!(out.contains(field), "{field} in {out}");
    }
    assert!(out.ends_with("\n\n"), "an answer ends with an empty line");
    assert!(out.contains("\nStopping: 0\n"), "{out}");
}

/// `Stopping` turns 1 once a soft stop went to the workers, while connections they still
/// serve keep the process alive.
#[test]
fn show_info_says_stopping_during_a_soft_stop() {
    let rig = rig();
    let web = addr_of(&rig.engine, "web");
    // A client in the middle of its request head holds its worker for a moment.
    let mut held = TcpStream::connect(web).unwrap();
    held.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    rig.engine.soft_stop();
    std::thread::sleep(Duration::from_millis(100));
    let out = tcp(rig.admin_tcp, "show info");
    assert!(out.contains("\nStopping: 1\n"), "{out}");
    drop(held);
}

#[test]
fn show_stat_counts_known_traffic_exactly() {
    let rig = rig();
    assert_eq!(bodies(rig.web(), 4).len(), 4);
    let csv = stat_until(&rig, |c| stat(c, "web", "FRONTEND", "hrsp_2xx") == "4");
    assert!(csv.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,"));
    assert_eq!(stat(&csv, "web", "FRONTEND", "stot"), "4");
    assert_eq!(stat(&csv, "web", "FRONTEND", "req_tot"), "4");
    assert_eq!(stat(&csv, "web", "FRONTEND", "status"), "OPEN");
    assert_eq!(stat(&csv, "web", "s1", "stot"), "2");
    assert_eq!(stat(&csv, "web", "s2", "stot"), "2");
    assert_eq!(stat(&csv, "web", "s1", "hrsp_2xx"), "2");
    assert_eq!(stat(&csv, "web", "BACKEND", "stot"), "4");
    assert_eq!(stat(&csv, "web", "BACKEND", "hrsp_2xx"), "4");
    assert_eq!(stat(&csv, "web", "BACKEND", "act"), "2");
    assert_eq!(stat(&csv, "web", "s1", "status"), "no check");
    let info = tcp(rig.admin_tcp, "show info");
    assert!(info.contains("\nCumReq: 4\n"), "{info}");
    // The same CSV through socat.
    let via_socat = both(&rig, "show stat web");
    assert_eq!(stat(&via_socat, "web", "s2", "hrsp_2xx"), "2");
}

#[test]
fn disable_server_takes_it_out_of_rotation_until_enabled() {
    let rig = rig();
    assert_eq!(both(&rig, "disable server web/s1"), "\n");
    assert_eq!(bodies(rig.web(), 4), vec!["two"; 4]);
    let csv = tcp(rig.admin_tcp, "show stat");
    assert_eq!(stat(&csv, "web", "s1", "status"), "MAINT");
    assert_eq!(stat(&csv, "web", "BACKEND", "act"), "1");
    assert_eq!(both(&rig, "enable server web/s1"), "\n");
    let mut seen = bodies(rig.web(), 4);
    seen.sort();
    assert_eq!(seen, vec!["one", "one", "two", "two"]);
}

#[test]
fn set_server_state_drain_and_maint_change_routing() {
    let rig = rig();
    assert_eq!(both(&rig, "set server web/s2 state drain"), "\n");
    assert_eq!(bodies(rig.web(), 3), vec!["one"; 3]);
    assert_eq!(
        stat(&tcp(rig.admin_tcp, "show stat"), "web", "s2", "status"),
        "DRAIN"
    );
    both(
        &rig,
        "set server web/s2 state ready; set server web/s1 state maint",
    );
    assert_eq!(bodies(rig.web(), 3), vec!["two"; 3]);
    assert_eq!(
        both(&rig, "set server web/s1 state sleepy"),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    );
}

#[test]
fn weights_set_by_value_or_percent_steer_traffic() {
    let rig = rig();
    assert_eq!(both(&rig, "get weight web/s1"), "1 (initial 1)\n\n");
    both(&rig, "set weight web/s1 0");
    assert_eq!(bodies(rig.web(), 3), vec!["two"; 3]);
    assert_eq!(both(&rig, "get weight web/s1"), "0 (initial 1)\n\n");
    both(
        &rig,
        "set server web/s1 weight 100%; set server web/s2 weight 0",
    );
    assert_eq!(bodies(rig.web(), 3), vec!["one"; 3]);
    assert_eq!(
        both(&rig, "set weight web/s1 300"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert_eq!(both(&rig, "set weight web/nope 1"), "No such server.\n\n");
    assert_eq!(both(&rig, "set weight nope/s1 1"), "No such backend.\n\n");
}

#[test]
fn set_maxconn_server_changes_the_limit_shown() {
    let rig = rig();
    assert_eq!(
        stat(&tcp(rig.admin_tcp, "show stat"), "web", "s1", "slim"),
        ""
    );
    assert_eq!(both(&rig, "set maxconn server web/s1 12"), "\n");
    let csv = tcp(rig.admin_tcp, "show stat");
    assert_eq!(stat(&csv, "web", "s1", "slim"), "12");
}

#[test]
fn health_can_be_disabled_and_enabled_per_server() {
    let rig = rig();
    assert_eq!(both(&rig, "disable health web/s1"), "\n");
    assert_eq!(both(&rig, "enable health web/s1"), "\n");
    assert_eq!(
        both(&rig, "disable health web"),
        "Require 'backend/server'.\n\n"
    );
}

#[test]
fn show_servers_state_and_show_backend_use_haproxys_formats() {
    let rig = rig();
    both(&rig, "set server web/s2 state maint");
    let out = both(&rig, "show servers state");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    assert!(lines[1].starts_with("# be_id be_name srv_id srv_name srv_addr srv_op_state"));
    let s1: Vec<&str> = lines[2].split(' ').collect();
    let s2: Vec<&str> = lines[3].split(' ').collect();
    assert_eq!(&s1[1..8], ["web", "1", "s1", "127.0.0.1", "2", "0", "1"]);
    assert_eq!(&s2[1..7], ["web", "2", "s2", "127.0.0.1", "0", "1"]);
    assert_eq!(both(&rig, "show backend"), "# name\nweb\n\n");
    assert_eq!(
        both(&rig, "show servers state nope"),
        "Can't find backend.\n\n"
    );
}

#[test]
fn semicolons_run_several_commands_in_order() {
    let rig = rig();
    assert_eq!(
        both(&rig, "show backend; get weight web/s2;get weight web/s1"),
        "# name\nweb\n\n1 (initial 1)\n\n1 (initial 1)\n\n"
    );
}

#[test]
fn unknown_commands_get_the_list_of_valid_ones() {
    let rig = rig();
    let out = both(&rig, "frobnicate now");
    assert!(
        out.starts_with("Unknown command: 'frobnicate now'\n\nThe following commands are valid at this level:\n"),
        "{out}"
    );
    assert!(out.contains("  show info "));
    let help = both(&rig, "help");
    assert!(help.contains("  set server <bk>/<srv>"), "{help}");
}

#[test]
fn a_user_level_socket_shows_but_cannot_change() {
    let rig = rig();
    assert!(tcp(rig.user_tcp, "show info").starts_with("Name: ringlb\n"));
    assert_eq!(
        tcp(rig.user_tcp, "disable server web/s1"),
        "Permission denied\n\n"
    );
    assert_eq!(
        tcp(rig.user_tcp, "set weight web/s1 0"),
        "Permission denied\n\n"
    );
    let mut seen = bodies(rig.web(), 2);
    seen.sort();
    assert_eq!(seen, vec!["one", "two"], "nothing changed");
    let help = tcp(rig.user_tcp, "help");
    assert!(!help.contains("set server"), "{help}");
}

#[test]
fn the_unix_socket_gets_the_configured_mode() {
    let rig = rig();
    let mode = std::fs::metadata(&rig.unix).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    drop(rig.engine);
    assert!(!rig.unix.exists(), "the socket file is removed at stop");
}

#[test]
fn prompt_keeps_the_connection_for_several_commands() {
    let rig = rig();
    let s = TcpStream::connect(rig.admin_tcp).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let read_prompt = |r: &mut BufReader<TcpStream>| {
        let mut got = Vec::new();
        while !got.ends_with(b"> ") {
            let buf = r.fill_buf().unwrap();
            assert!(
                !buf.is_empty(),
                "closed early: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.push(buf[0]);
            r.consume(1);
        }
        String::from_utf8(got).unwrap()
    };
    w.write_all(b"prompt\n").unwrap();
    assert_eq!(read_prompt(&mut r), "> ");
    w.write_all(b"show backend\n").unwrap();
    assert_eq!(read_prompt(&mut r), "# name\nweb\n\n> ");
    w.write_all(b"get weight web/s1\n").unwrap();
    assert_eq!(read_prompt(&mut r), "1 (initial 1)\n\n> ");
    w.write_all(b"quit\n").unwrap();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "quit closes");
}

#[test]
fn check_socket_is_healthy_while_a_backend_has_a_server_up() {
    let rig = rig();
    let probe = ringlb::boot::check_cmd::Probe::Socket(rig.unix.clone());
    let ok = probe.run(Duration::from_secs(2)).expect("healthy");
    assert!(ok.ends_with(": 1 of 1 backends up"), "{ok}");
    both(&rig, "disable server web/s1; disable server web/s2");
    let err = probe.run(Duration::from_secs(2)).unwrap_err();
    assert!(err.contains("no backend has a server up"), "{err}");
}

/// Whether a client can open a connection to `addr` now.
fn connects(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

fn a_disabled_frontend_refuses_clients_in_every_worker_until_enabled(legacy: bool) {
    let rig = rig_on(2, listen("web", &[("s1", named("one"))]), legacy);
    assert_eq!(bodies(rig.web(), 2), vec!["one"; 2]);
    assert_eq!(tcp(rig.admin_tcp, "disable frontend web"), "\n");
    assert_eq!(
        tcp(rig.admin_tcp, "disable frontend web"),
        "All sockets are already disabled.\n\n"
    );
    let csv = tcp(rig.admin_tcp, "show stat");
    assert_eq!(stat(&csv, "web", "FRONTEND", "status"), "PAUSED");
    // Clients from many source ports, so both workers' sockets would be hit if either
    // still listened.
    for _ in 0..12 {
        assert!(!connects(rig.web()), "a disabled frontend refuses");
    }
    assert_eq!(tcp(rig.admin_tcp, "enable frontend web"), "\n");
    assert_eq!(
        tcp(rig.admin_tcp, "enable frontend web"),
        "All sockets are already enabled.\n\n"
    );
    assert_eq!(bodies(rig.web(), 12), vec!["one"; 12]);
    let csv = tcp(rig.admin_tcp, "show stat");
    assert_eq!(stat(&csv, "web", "FRONTEND", "status"), "OPEN");
}

#[test]
fn shutdown_frontend_stops_it_for_good() {
    let rig = rig_with(2, &[("s1", named("one"))]);
    assert_eq!(tcp(rig.admin_tcp, "shutdown frontend web"), "\n");
    for _ in 0..8 {
        assert!(!connects(rig.web()), "a stopped frontend refuses");
    }
    assert_eq!(
        stat(
            &tcp(rig.admin_tcp, "show stat"),
            "web",
            "FRONTEND",
            "status"
        ),
        "STOP"
    );
    for (q, answer) in [
        (
            "shutdown frontend web",
            "Frontend was already shut down.\n\n",
        ),
        (
            "enable frontend web",
            "Frontend was previously shut down, cannot enable.\n\n",
        ),
        (
            "disable frontend web",
            "Frontend was previously shut down, cannot disable.\n\n",
        ),
        ("shutdown frontend nope", "No such frontend.\n\n"),
        ("disable frontend", "A frontend name is expected.\n\n"),
    ] {
        assert_eq!(tcp(rig.admin_tcp, q), answer, "{q}");
    }
    assert!(!connects(rig.web()), "still refused");
    assert_eq!(
        tcp(rig.user_tcp, "enable frontend web"),
        "Permission denied\n\n"
    );
}

#[test]
fn set_maxconn_frontend_holds_new_clients_at_the_new_limit() {
    let rig = rig();
    assert_eq!(tcp(rig.admin_tcp, "set maxconn frontend web 1"), "\n");
    assert_eq!(
        stat(&tcp(rig.admin_tcp, "show stat"), "web", "FRONTEND", "slim"),
        "1"
    );
    let first = TcpStream::connect(rig.web()).unwrap();
    stat_until(&rig, |c| stat(c, "web", "FRONTEND", "scur") == "1");
    let mut second = TcpStream::connect(rig.web()).unwrap();
    second
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(600)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        second.read(&mut buf).is_err(),
        "the second client waits in the backlog"
    );
    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = String::new();
    second.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(
        tcp(rig.admin_tcp, "set maxconn frontend nope 3"),
        "No such frontend.\n\n"
    );
    assert_eq!(
        tcp(rig.admin_tcp, "set maxconn frontend web"),
        "Integer value expected.\n\n"
    );
}

/// The `show sess` line of the client whose local address is `client`.
fn sess_line(rig: &Rig, client: SocketAddr) -> String {
    let out = tcp(rig.admin_tcp, "show sess");
    out.lines()
        .find(|l| l.contains(&format!(" src={client} ")))
        .unwrap_or_else(|| panic!("{client} in {out}"))
        .to_string()
}

fn shutdown_session_closes_the_client_show_sess_names(legacy: bool) {
    let rig = rig_on(2, listen("web", &[("s1", named("one"))]), legacy);
    let clients: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(rig.web()).unwrap())
        .collect();
    stat_until(&rig, |c| stat(c, "web", "FRONTEND", "scur") == "4");
    let mut ids = Vec::new();
    for c in &clients {
        let line = sess_line(&rig, c.local_addr().unwrap());
        assert!(line.starts_with("0x"), "{line}");
        assert!(
            line.contains(": proto=tcpv4 src=") && line.contains(" fe=web be=web "),
            "{line}"
        );
        ids.push(line.split(':').next().unwrap().to_string());
    }
    // The last client stays; the others are ended one by one, whichever worker has them.
    for (c, id) in clients.iter().zip(&ids).take(3) {
        assert_eq!(tcp(rig.admin_tcp, &format!("shutdown session {id}")), "\n");
        let mut c = c.try_clone().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(c.read(&mut buf).unwrap(), 0, "the client sees its close");
        assert_eq!(
            tcp(rig.admin_tcp, &format!("shutdown session {id}")),
            "No such session (use 'show sess').\n\n"
        );
    }
    let mut last = clients[3].try_clone().unwrap();
    last.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    last.read_to_string(&mut out).unwrap();
    assert!(out.ends_with("one"), "the other client is served: {out}");
    for (q, answer) in [
        (
            "shutdown session",
            "Session pointer expected (use 'show sess').\n\n",
        ),
        (
            "shutdown session 0x1",
            "No such session (use 'show sess').\n\n",
        ),
    ] {
        assert_eq!(tcp(rig.admin_tcp, q), answer, "{q}");
    }
    assert_eq!(tcp(rig.user_tcp, "show sess"), "Permission denied\n\n");
}

#[test]
fn shutdown_sessions_server_cuts_the_requests_in_flight_to_it() {
    let slow = Origin::serve(|_| Reply::text("late").after(Duration::from_secs(4)));
    let rig = rig_with(2, &[("s1", slow.addr)]);
    let web = rig.web();
    let pending = thread::spawn(move || {
        let start = Instant::now();
        let got = http_get(web, "/");
        (got, start.elapsed())
    });
    stat_until(&rig, |c| stat(c, "web", "s1", "scur") == "1");
    assert_eq!(tcp(rig.admin_tcp, "shutdown sessions server web/s1"), "\n");
    let (got, took) = pending.join().unwrap();
    assert!(
        took < Duration::from_secs(3),
        "cut before the server answered"
    );
    assert!(
        got.as_ref().map_or(true, |(_, body)| body != "late"),
        "{got:?}"
    );
    for (q, answer) in [
        ("shutdown sessions server web/nope", "No such server.\n\n"),
        ("shutdown sessions server nope/s1", "No such backend.\n\n"),
        ("shutdown sessions server", "Require 'backend/server'.\n\n"),
    ] {
        assert_eq!(tcp(rig.admin_tcp, q), answer, "{q}");
    }
}

/// The `srv_addr` and `srv_port` fields of a server's `show servers state` line.
fn state_addr(rig: &Rig, server: &str) -> (String, String) {
    let out = tcp(rig.admin_tcp, "show servers state web");
    let line = out
        .lines()
        .find(|l| l.split(' ').nth(3) == Some(server))
        .unwrap_or_else(|| panic!("{server} in {out}"));
    let f: Vec<&str> = line.split(' ').collect();
    (f[4].to_string(), f[18].to_string())
}

#[test]
fn set_server_addr_sends_new_connections_to_the_new_origin() {
    let first = Origin::text("first");
    let moved = Origin::serve_on("127.0.0.2:0".parse().unwrap(), |_| Reply::text("moved"));
    let rig = rig_with(2, &[("s1", first.addr)]);
    assert_eq!(bodies(rig.web(), 2), vec!["first"; 2]);
    let (old, new) = (first.addr.port(), moved.addr.port());
    assert_eq!(
        tcp(
            rig.admin_tcp,
            &format!("set server web/s1 addr 127.0.0.2 port {new}")
        ),
        format!(
            "IP changed from '127.0.0.1' to '127.0.0.2', port changed from '{old}' to '{new}' \
             by 'stats socket command'\n\n"
        )
    );
    assert_eq!(
        bodies(rig.web(), 6),
        vec!["moved"; 6],
        "every worker follows"
    );
    assert_eq!(
        state_addr(&rig, "s1"),
        ("127.0.0.2".into(), new.to_string())
    );
    assert_eq!(
        tcp(rig.admin_tcp, "set server web/s1 addr 127.0.0.2"),
        "no need to change the addr by 'stats socket command'\n\n"
    );
    for (q, answer) in [
        (
            "set server web/s1 addr",
            "set server <b>/<s> addr requires an address and optionally a port.\n\n",
        ),
        (
            "set server web/s1 addr nothost",
            "Invalid addr 'nothost' by 'stats socket command'\n\n",
        ),
        (
            "set server web/s1 addr 127.0.0.2 port abc",
            "no need to change the addr, problem converting port 'abc' to an int by 'stats socket command'\n\n",
        ),
        ("set server web/nope addr 127.0.0.1", "No such server.\n\n"),
    ] {
        assert_eq!(tcp(rig.admin_tcp, q), answer, "{q}");
    }
    assert_eq!(
        bodies(rig.web(), 2),
        vec!["moved"; 2],
        "errors changed nothing"
    );
}

#[test]
fn health_checks_follow_set_server_addr_and_check_port() {
    let live = Origin::text("live");
    let mut p = listen("web", &[]);
    p.servers = vec![checked("s1", dead_addr(), 50)];
    let rig = rig_of(1, p);
    wait_state(&rig.engine, "s1", false);
    assert_eq!(http_get(rig.web(), "/").unwrap().0, 503);
    tcp(
        rig.admin_tcp,
        &format!("set server web/s1 addr 127.0.0.1 port {}", live.addr.port()),
    );
    wait_state(&rig.engine, "s1", true);
    assert_eq!(bodies(rig.web(), 2), vec!["live"; 2]);
    // The check alone moves to a dead port: the server goes down though its traffic port
    // answers.
    let dead = dead_addr().port();
    assert_eq!(
        tcp(
            rig.admin_tcp,
            &format!("set server web/s1 check-port {dead}")
        ),
        "\n"
    );
    wait_state(&rig.engine, "s1", false);
    assert_eq!(
        tcp(rig.admin_tcp, "set server web/s1 check-port 70000"),
        "provided port is invalid\n"
    );
    assert_eq!(
        tcp(rig.admin_tcp, "set server web/s1 check-port x"),
        "provided port is not an integer\n"
    );
    tcp(
        rig.admin_tcp,
        &format!("set server web/s1 check-port {}", live.addr.port()),
    );
    wait_state(&rig.engine, "s1", true);
    // Forced down: the checks bring it back after `rise` passes.
    assert_eq!(tcp(rig.admin_tcp, "set server web/s1 health down"), "\n");
    assert!(!is_up(&rig.engine, "s1"));
    wait_state(&rig.engine, "s1", true);
    assert_eq!(
        tcp(rig.admin_tcp, "set server web/s1 agent up"),
        "agent checks are not enabled on this server.\n\n"
    );
}

#[test]
fn forced_health_takes_an_unchecked_server_out_until_health_up() {
    let rig = rig();
    assert_eq!(tcp(rig.admin_tcp, "set server web/s1 health down"), "\n");
    assert_eq!(bodies(rig.web(), 3), vec!["two"; 3]);
    assert_eq!(
        stat(&tcp(rig.admin_tcp, "show stat"), "web", "s1", "status"),
        "DOWN"
    );
    assert_eq!(
        tcp(rig.admin_tcp, "set server web/s1 health stopping"),
        "\n"
    );
    assert_eq!(
        bodies(rig.web(), 3),
        vec!["two"; 3],
        "stopping: no new traffic"
    );
    assert_eq!(
        stat(&tcp(rig.admin_tcp, "show stat"), "web", "s1", "status"),
        "NOLB"
    );
    assert_eq!(tcp(rig.admin_tcp, "set server web/s1 health up"), "\n");
    let mut seen = bodies(rig.web(), 4);
    seen.sort();
    assert_eq!(seen, vec!["one", "one", "two", "two"]);
    for (q, answer) in [
        (
            "set server web/s1 health sick",
            "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n",
        ),
        (
            "set server web/s1 check-port 81",
            "health checks are not enabled on this server\n",
        ),
        (
            "set server web/s1 agent-send hello",
            "agent checks are not enabled on this server.\n\n",
        ),
        (
            "set server web/s1 fqdn example.com",
            "'set server <bk>/<srv> fqdn' is not supported by ringlb yet (see docs/compatibility.md).\n\n",
        ),
        (
            "set server web/s1 bogus",
            "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | \
             agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n\n",
        ),
        ("set rate-limit connections global 0", "\n"),
        ("set rate-limit connections global", "Expects an integer value.\n\n"),
    ] {
        assert_eq!(tcp(rig.admin_tcp, q), answer, "{q}");
    }
}

fn shutdown_session_closes_a_keep_alive_connection_parked_between_requests(legacy: bool) {
    let rig = rig_on(1, listen("web", &[("s1", named("one"))]), legacy);
    let mut c = TcpStream::connect(rig.web()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let head = support::read_head(&mut r).expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = [0u8; 3];
    r.read_exact(&mut body).unwrap();
    // Idle long enough to leave its session and wait parked.
    thread::sleep(Duration::from_millis(600));
    let line = sess_line(&rig, c.local_addr().unwrap());
    let id = line.split(':').next().unwrap();
    assert_eq!(tcp(rig.admin_tcp, &format!("shutdown session {id}")), "\n");
    let mut buf = [0u8; 8];
    assert_eq!(c.read(&mut buf).unwrap(), 0, "the client sees its close");
    // The worker lets go of it once the parked connection sees the shutdown.
    let deadline = Instant::now() + Duration::from_secs(2);
    while tcp(rig.admin_tcp, "show sess").contains(id) {
        assert!(Instant::now() < deadline, "{id} still in show sess");
        thread::sleep(Duration::from_millis(20));
    }
}

both_drivers!(
    a_disabled_frontend_refuses_clients_in_every_worker_until_enabled,
    super::a_disabled_frontend_refuses_clients_in_every_worker_until_enabled
);
both_drivers!(
    shutdown_session_closes_the_client_show_sess_names,
    super::shutdown_session_closes_the_client_show_sess_names
);
both_drivers!(
    shutdown_session_closes_a_keep_alive_connection_parked_between_requests,
    super::shutdown_session_closes_a_keep_alive_connection_parked_between_requests
);

#[test]
fn set_server_agent_forces_the_agents_word_until_it_speaks_again() {
    // An agent that answers every 300 ms with a weight and no word on the state, for now.
    let agent = fixture::Fixture::start(fixture::Answer::Agent("100%\n".into()));
    let mut p = listen("web", &[("s1", named("one")), ("s2", named("two"))]);
    p.servers[0].check.agent = Some(ringlb_config::model::AgentCheck {
        port: agent.addr.port(),
        inter: Some(Duration::from_millis(300)),
        addr: None,
        send: None,
    });
    let rig = rig_of(1, p);
    assert_eq!(tcp(rig.admin_tcp, "set server web/s1 agent down"), "\n");
    assert_eq!(
        bodies(rig.web(), 3),
        vec!["two"; 3],
        "the agent's down holds"
    );
    assert_eq!(
        tcp(rig.admin_tcp, "set server web/s1 agent sideways"),
        "'set server <srv> agent' expects 'up' or 'down'.\n\n"
    );
    assert_eq!(tcp(rig.admin_tcp, "set server web/s1 agent up"), "\n");
    let mut seen = bodies(rig.web(), 4);
    seen.sort();
    assert_eq!(seen, vec!["one", "one", "two", "two"]);
    // Forced down again: the agent's next "up" brings it back.
    tcp(rig.admin_tcp, "set server web/s1 agent down");
    assert!(!is_up(&rig.engine, "s1"));
    agent.set(fixture::Answer::Agent("up\n".into()));
    wait_state(&rig.engine, "s1", true);
    assert_eq!(
        tcp(rig.admin_tcp, "set server web/s2 agent up"),
        "agent checks are not enabled on this server.\n\n"
    );
}
