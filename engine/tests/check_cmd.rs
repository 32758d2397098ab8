//! `ringlb check`, the vrrp_script health hook, run as a real process against a real ringlb:
//! the monitor URI answering 200 or 503, the pidfile, the listening port, and the exit codes
//! and stderr lines keepalived and its logs see.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use support::*;

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .arg("check")
        .args(args)
        .output()
        .expect("ringlb check runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The frontend of examples/ha/ringlb.cfg in miniature: a monitor URI that fails when the
/// backend has no usable server. `server_opts` is appended to the only server line.
fn monitored_config(port: u16, backend: SocketAddr, server_opts: &str) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend web\n    bind 127.0.0.1:{port}\n    monitor-uri /healthz\n\
         \x20   monitor fail if {{ nbsrv(app) lt 1 }}\n    default_backend app\n\
         backend app\n    server a1 {backend}{server_opts}\n"
    )
}

/// Starts ringlb on `config` with a pidfile; returns it with the pidfile's path.
fn serve(dir: &TempDir, config: &str) -> (Ringlb, String) {
    let cfg = dir.write("ringlb.cfg", config);
    let pidfile = dir.path().join("ringlb.pid").display().to_string();
    let lb = Ringlb::spawn(
        &[
            "-f",
            cfg.to_str().unwrap(),
            "-p",
            &pidfile,
            "--legacy-driver",
        ],
        dir.path().join("stderr.txt"),
    );
    (lb, pidfile)
}

#[test]
fn url_probe_passes_while_the_monitor_uri_answers_200() {
    let dir = TempDir::new("check-url-up");
    let port = free_port();
    let (mut lb, _) = serve(&dir, &monitored_config(port, Origin::text("a1").addr, ""));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    lb.wait_serving(addr);

    let out = check(&["--url", &format!("http://127.0.0.1:{port}/healthz")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "silent when healthy");

    let verbose = check(&["-v", "--url", &format!("http://127.0.0.1:{port}/healthz")]);
    assert_eq!(verbose.status.code(), Some(0));
    assert!(
        stderr(&verbose).contains("answered 200"),
        "{}",
        stderr(&verbose)
    );
}

#[test]
fn url_probe_fails_when_no_server_of_the_backend_is_usable() {
    let dir = TempDir::new("check-url-down");
    let port = free_port();
    let (mut lb, pidfile) = serve(
        &dir,
        &monitored_config(port, Origin::text("a1").addr, " disabled"),
    );
    lb.wait_serving(format!("127.0.0.1:{port}").parse().unwrap());

    let url = format!("http://127.0.0.1:{port}/healthz");
    let out = check(&["--url", &url]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(
        err.lines().count(),
        1,
        "one line for keepalived's log: {err}"
    );
    assert!(err.contains(&url) && err.contains("503"), "{err}");

    // The process itself is fine: only the URL probe knows the backend is empty.
    let alive = check(&["--pid", &pidfile, "--listen", &format!("127.0.0.1:{port}")]);
    assert_eq!(alive.status.code(), Some(0), "{}", stderr(&alive));
}

#[test]
fn pid_probe_follows_the_process_named_by_the_pidfile() {
    let dir = TempDir::new("check-pid");
    let port = free_port();
    let (mut lb, pidfile) = serve(&dir, &monitored_config(port, Origin::text("a1").addr, ""));
    lb.wait_pidfile(std::path::Path::new(&pidfile));
    assert_eq!(check(&["--pid", &pidfile]).status.code(), Some(0));

    // A pidfile left behind by a process that is gone (as after `kill -9`).
    let kept = dir.path().join("kept.pid");
    std::fs::copy(&pidfile, &kept).unwrap();
    lb.signal(libc::SIGKILL);
    assert!(lb.wait_exit(Duration::from_secs(5)).is_some());
    let out = check(&["--pid", kept.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));

    let missing = check(&["--pid", dir.path().join("none.pid").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("none.pid"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn listen_probe_needs_a_connection_to_be_accepted() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = l.local_addr().unwrap().to_string();
    assert_eq!(check(&["--listen", &open]).status.code(), Some(0));
    drop(l);
    let out = check(&["--listen", &open]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&open), "{}", stderr(&out));
}

#[test]
fn every_probe_must_pass_and_the_first_failure_is_named() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = l.local_addr().unwrap().to_string();
    let closed = dead_addr();
    let out = check(&[
        "--listen",
        &open,
        "--url",
        &format!("http://{closed}/healthz"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("url http://") && !err.contains(&open), "{err}");
}

#[test]
fn url_probe_gives_up_on_a_server_that_never_answers() {
    // Accepts the connection, then says nothing.
    let silent = serve_each(|s| {
        thread::sleep(Duration::from_secs(5));
        drop(s);
    });
    let out = check(&["--timeout", "200", "--url", &format!("http://{silent}/")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no answer within 200 ms"), "{err}");
}

#[test]
fn url_probe_refuses_an_answer_that_is_not_http() {
    let ssh = serve_each(|mut s| {
        use std::io::Write;
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
    });
    let out = check(&["--url", &format!("http://{ssh}/")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not HTTP"), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2_with_the_reason() {
    let none = check(&[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr(&none).contains("nothing to check"),
        "{}",
        stderr(&none)
    );

    let https = check(&["--url", "https://127.0.0.1/"]);
    assert_eq!(https.status.code(), Some(2));
    assert!(stderr(&https).contains("http://"), "{}", stderr(&https));

    let socket = check(&["--socket", "/nonexistent/ringlb.sock"]);
    assert_eq!(socket.status.code(), Some(1));
    assert!(
        stderr(&socket).contains("runtime socket /nonexistent/ringlb.sock: "),
        "{}",
        stderr(&socket)
    );
}

#[test]
fn haproxy_flags_still_work_beside_the_check_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .arg("-v")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ringlb version "));
    let help = check(&["--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--url"));
}
