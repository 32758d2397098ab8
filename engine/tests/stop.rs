//! Stopping the `ringlb` binary: SIGTERM, SIGINT and SIGUSR1 end it with exit 0 whatever its
//! log targets (stdout, stderr, UDP and Unix syslog, none, several at once), idle or after
//! traffic, with every line logged before the stop written out; in master-worker mode the
//! same through the master, and `-sf` retires the old process. The threads beside the
//! workers (log writer, health checker, runtime socket) never hold the stop, not even with a
//! reader that stopped reading stdout, a check waiting on a silent server or an idle runtime
//! socket session.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use support::*;

/// Where the `global` section sends the logs of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    None,
    Stdout,
    Stderr,
    Udp,
    Unix,
    /// Stdout, stderr, UDP and Unix at once.
    All,
}

const TARGETS: [Target; 6] = [
    Target::None,
    Target::Stdout,
    Target::Stderr,
    Target::Udp,
    Target::Unix,
    Target::All,
];

impl Target {
    fn logs_to(self, t: Target) -> bool {
        self == t || (self == Target::All && t != Target::None)
    }
}

/// The receiving ends of one run's log targets, and the files it writes.
struct Sinks {
    dir: TempDir,
    udp: Receiver,
    unix: UnixDatagram,
}

impl Sinks {
    fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let unix = UnixDatagram::bind(dir.path().join("log.sock")).unwrap();
        unix.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Self {
            dir,
            udp: Receiver::new(),
            unix,
        }
    }

    fn stdout_path(&self) -> std::path::PathBuf {
        self.dir.path().join("stdout.txt")
    }

    /// The `global` section's `log` lines for `target`.
    fn log_lines(&self, target: Target) -> String {
        let mut out = String::new();
        let mut line = |t: Target, addr: String| {
            if target.logs_to(t) {
                out.push_str(&format!("    log {addr} format raw local0\n"));
            }
        };
        line(Target::Stdout, "stdout".into());
        line(Target::Stderr, "stderr".into());
        line(Target::Udp, self.udp.addr().to_string());
        line(
            Target::Unix,
            self.dir.path().join("log.sock").display().to_string(),
        );
        out
    }

    /// A configuration answering by itself on `port` and logging every request to `target`.
    fn config(&self, port: u16, target: Target, extra_global: &str) -> std::path::PathBuf {
        let logging = if target == Target::None {
            ""
        } else {
            "    log global\n    option httplog\n    option dontlognull\n"
        };
        self.dir.write(
            "stop.cfg",
            &format!(
                "global\n{}{extra_global}\
                 defaults\n    mode http\n{logging}    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
                 listen web\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string \"served\"\n",
                self.log_lines(target)
            ),
        )
    }

    /// Starts `ringlb -f CONFIG ARGS…` with stdout in this run's file.
    fn spawn(&self, config: &std::path::Path, args: &[&str]) -> Ringlb {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let mut all = vec!["-f", config.to_str().unwrap()];
        all.extend_from_slice(args);
        let stdout = std::fs::File::create(self.stdout_path()).unwrap();
        Ringlb::spawn_to(
            &all,
            Stdio::from(stdout),
            self.dir.path().join(format!("stderr-{n}.txt")),
        )
    }

    /// Asserts that each of `target`'s destinations received the traffic lines of `paths`,
    /// in order, once the process has exited.
    fn assert_logged(&self, lb: &Ringlb, target: Target, paths: &[String], what: &str) {
        let wanted = |text: &str, dest: &str| {
            let got: Vec<&str> = text
                .lines()
                .filter_map(|l| paths.iter().find(|p| l.contains(&format!("\"GET {p} "))))
                .map(|p| p.as_str())
                .collect();
            assert_eq!(
                got, paths,
                "{what}: {dest} holds the lines of the requests made before the stop:\n{text}"
            );
        };
        if target.logs_to(Target::Stdout) {
            wanted(
                &std::fs::read_to_string(self.stdout_path()).unwrap(),
                "stdout",
            );
        }
        if target.logs_to(Target::Stderr) {
            wanted(&lb.stderr(), "stderr");
        }
        if target.logs_to(Target::Udp) {
            let lines: Vec<String> = paths.iter().map(|_| self.udp.line()).collect();
            wanted(&lines.join("\n"), "the UDP receiver");
        }
        if target.logs_to(Target::Unix) {
            let mut buf = [0u8; 4096];
            let lines: Vec<String> = paths
                .iter()
                .map(|_| {
                    let n = self.unix.recv(&mut buf).expect("a line on the Unix socket");
                    String::from_utf8_lossy(&buf[..n]).into_owned()
                })
                .collect();
            wanted(&lines.join("\n"), "the Unix socket receiver");
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn driver_flags(legacy: bool) -> &'static [&'static str] {
    if legacy {
        &["--legacy-driver"]
    } else {
        &[]
    }
}

/// Requests `/stop-0`, `/stop-1`, … on `port`, each on its own connection; returns the paths.
fn traffic(port: u16, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let path = format!("/stop-{i}");
            assert_eq!(http_get(loopback(port), &path).unwrap().0, 200);
            path
        })
        .collect()
}

/// Every log target × idle and after traffic, stopped by `signal`: exit 0 within the
/// helper's bound, the port released, and the lines written before the stop delivered.
fn stops_for_every_log_target(signal: libc::c_int, legacy: bool) {
    for target in TARGETS {
        for with_traffic in [false, true] {
            let what = format!("signal {signal}, log {target:?}, traffic {with_traffic}");
            let sinks = Sinks::new("stop");
            let port = free_port();
            let config = sinks.config(port, target, "");
            let mut lb = sinks.spawn(&config, driver_flags(legacy));
            lb.wait_serving(loopback(port));
            let paths = if with_traffic {
                traffic(port, 3)
            } else {
                Vec::new()
            };
            let status = lb.stop_with(signal);
            assert_eq!(status.code(), Some(0), "{what}; stderr:\n{}", lb.stderr());
            assert!(
                TcpStream::connect(loopback(port)).is_err(),
                "{what}: the port is released"
            );
            sinks.assert_logged(&lb, target, &paths, &what);
        }
    }
}

fn sigterm_for_every_log_target(legacy: bool) {
    stops_for_every_log_target(libc::SIGTERM, legacy);
}
both_drivers!(
    sigterm_for_every_log_target,
    super::sigterm_for_every_log_target
);

fn sigint_for_every_log_target(legacy: bool) {
    stops_for_every_log_target(libc::SIGINT, legacy);
}
both_drivers!(
    sigint_for_every_log_target,
    super::sigint_for_every_log_target
);

fn sigusr1_for_every_log_target(legacy: bool) {
    stops_for_every_log_target(libc::SIGUSR1, legacy);
}
both_drivers!(
    sigusr1_for_every_log_target,
    super::sigusr1_for_every_log_target
);

/// A backend answering every request after `delay`.
fn slow_backend(delay: Duration) -> SocketAddr {
    Origin::serve(move |_| Reply::text("slow").after(delay)).addr
}

/// SIGUSR1 with a request in flight and logs on stdout: the request is answered, its line
/// is written, then the process exits.
fn soft_stop_logs_the_request_in_flight(legacy: bool) {
    let sinks = Sinks::new("softlog");
    let port = free_port();
    let backend = slow_backend(Duration::from_millis(500));
    let config = sinks.dir.write(
        "soft.cfg",
        &format!(
            "global\n    log stdout format raw local0\n\
             defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
             listen web\n    bind 127.0.0.1:{port}\n    server s1 {backend}\n"
        ),
    );
    let mut lb = sinks.spawn(&config, driver_flags(legacy));
    lb.wait_serving(loopback(port));
    let client = thread::spawn(move || http_get(loopback(port), "/stop-0"));
    thread::sleep(Duration::from_millis(150));
    lb.signal(libc::SIGUSR1);
    let (status, body) = client
        .join()
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!((status, body.as_str()), (200, "slow"));
    assert_eq!(
        lb.wait_exit(Duration::from_secs(5)).and_then(|s| s.code()),
        Some(0),
        "stderr:\n{}",
        lb.stderr()
    );
    sinks.assert_logged(
        &lb,
        Target::Stdout,
        &["/stop-0".to_string()],
        "soft stop in flight",
    );
}
both_drivers!(
    soft_stop_logs_the_request_in_flight,
    super::soft_stop_logs_the_request_in_flight
);

/// SIGUSR1 with a request waiting on a slow server and `hard-stop-after` shorter than the
/// wait: as haproxy 2.6 does, when it expires the client gets a 502, the line is logged with
/// `KH--`, then the process exits.
fn hard_stop_after_answers_the_request_in_flight_502(legacy: bool) {
    let sinks = Sinks::new("hardstop");
    let port = free_port();
    let backend = slow_backend(Duration::from_secs(5));
    let config = sinks.dir.write(
        "hard.cfg",
        &format!(
            "global\n    log stdout format raw local0\n    hard-stop-after 300ms\n\
             defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
             listen web\n    bind 127.0.0.1:{port}\n    server s1 {backend}\n"
        ),
    );
    let mut lb = sinks.spawn(&config, driver_flags(legacy));
    lb.wait_serving(loopback(port));
    let client = thread::spawn(move || http_get(loopback(port), "/killed"));
    thread::sleep(Duration::from_millis(150));
    lb.signal(libc::SIGUSR1);
    let (status, _) = client
        .join()
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(status, 502);
    assert_eq!(
        lb.wait_exit(Duration::from_secs(5)).and_then(|s| s.code()),
        Some(0),
        "stderr:\n{}",
        lb.stderr()
    );
    let out = std::fs::read_to_string(sinks.stdout_path()).unwrap();
    let line = out
        .lines()
        .find(|l| l.contains("\"GET /killed "))
        .unwrap_or_else(|| panic!("the request is logged; stdout:\n{out}"));
    assert!(line.contains(" 502 ") && line.contains(" KH-- "), "{line}");
}
both_drivers!(
    hard_stop_after_answers_the_request_in_flight_502,
    super::hard_stop_after_answers_the_request_in_flight_502
);

/// `-W` logging to every kind of target: each stop signal reaches the worker through the
/// master, both exit, and the worker's lines are written.
#[test]
fn master_worker_stops_on_every_signal_for_every_log_target() {
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1] {
        let what = format!("-W, signal {signal}");
        let sinks = Sinks::new("mwstop");
        let port = free_port();
        let config = sinks.config(port, Target::All, "");
        let mut lb = sinks.spawn(&config, &["-W"]);
        lb.wait_serving(loopback(port));
        let paths = traffic(port, 2);
        let status = lb.stop_with(signal);
        assert_eq!(status.code(), Some(0), "{what}; stderr:\n{}", lb.stderr());
        assert!(
            TcpStream::connect(loopback(port)).is_err(),
            "{what}: no worker holds the port"
        );
        sinks.assert_logged(&lb, Target::All, &paths, &what);
    }
}

/// `-sf` with logs on stdout: the old process finishes and exits once the new one serves.
#[test]
fn sf_retires_an_old_process_logging_to_stdout() {
    let sinks = Sinks::new("sfstop");
    let port = free_port();
    let config = sinks.config(port, Target::Stdout, "");
    let mut old = sinks.spawn(&config, &[]);
    old.wait_serving(loopback(port));
    let paths = traffic(port, 2);
    let pid = old.pid().to_string();
    let new_sinks = Sinks::new("sfstop-new");
    let mut new = new_sinks.spawn(&config, &["-sf", &pid]);
    new.wait_serving(loopback(port));
    assert_eq!(
        old.wait_exit(Duration::from_secs(5)).and_then(|s| s.code()),
        Some(0),
        "the old process exits after -sf; its stderr:\n{}",
        old.stderr()
    );
    sinks.assert_logged(&old, Target::Stdout, &paths, "-sf, old process");
    assert_eq!(http_get(loopback(port), "/").unwrap().0, 200);
    assert_eq!(new.stop_with(libc::SIGTERM).code(), Some(0));
}

/// A stdout reader that never reads (the pipe fills with long lines, so the log writer
/// blocks in `write`): SIGTERM still ends the process.
fn stalled_stdout_reader_does_not_hold_the_stop(legacy: bool) {
    let dir = TempDir::new("stalled");
    let port = free_port();
    // About 2 KiB a line: 100 requests overflow a 64 KiB pipe several times.
    let pad = "x".repeat(2000);
    let config = dir.write(
        "stalled.cfg",
        &format!(
            "global\n    log stdout format raw local0\n\
             defaults\n    mode http\n    log global\n    log-format \"%ci:%cp %r {pad}\"\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
             listen web\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string \"served\"\n"
        ),
    );
    let mut args = vec!["-f", config.to_str().unwrap()];
    args.extend_from_slice(driver_flags(legacy));
    let mut lb = Ringlb::spawn_to(&args, Stdio::piped(), dir.path().join("stderr.txt"));
    lb.wait_serving(loopback(port));
    traffic(port, 100);
    let status = lb.stop_with(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "stderr:\n{}", lb.stderr());
}
both_drivers!(
    stalled_stdout_reader_does_not_hold_the_stop,
    super::stalled_stdout_reader_does_not_hold_the_stop
);

/// A server that accepts connections and never says anything.
fn silent_server() -> SocketAddr {
    serve_each(|s| {
        thread::sleep(Duration::from_secs(30));
        drop(s);
    })
}

/// A health check and an agent check waiting on silent servers, a request waiting on a
/// silent server, and two runtime socket sessions (one idle, one mid-line) are all open
/// when SIGTERM arrives: the process exits at once and removes its socket file.
fn busy_side_threads_do_not_hold_the_stop(legacy: bool) {
    let sinks = Sinks::new("sidestop");
    let port = free_port();
    let silent = silent_server();
    let agent = silent_server();
    let sock = sinks.dir.path().join("admin.sock");
    let config = sinks.dir.write(
        "side.cfg",
        &format!(
            "global\n    log stdout format raw local0\n    stats socket {} level admin\n    stats timeout 1h\n\
             defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    timeout check 30s\n\
             listen web\n    bind 127.0.0.1:{port}\n    option httpchk GET /health\n\
             \x20   server s1 {silent} check inter 100ms agent-check agent-addr {} agent-port {} agent-inter 100ms\n",
            sock.display(),
            agent.ip(),
            agent.port()
        ),
    );
    let mut lb = sinks.spawn(&config, driver_flags(legacy));
    lb.wait_serving(loopback(port));
    // The runtime socket opens just after the workers serve.
    let connect = || {
        (0..500)
            .find_map(|_| {
                UnixStream::connect(&sock)
                    .map_err(|_| thread::sleep(Duration::from_millis(10)))
                    .ok()
            })
            .expect("the runtime socket accepts within 5 s")
    };
    let mut idle = connect();
    let mut partial = connect();
    partial.write_all(b"show in").unwrap();
    // The first checks start within an interval and then wait on the silent servers.
    thread::sleep(Duration::from_millis(300));
    let waiting = thread::spawn(move || http_get(loopback(port), "/stop-0"));
    thread::sleep(Duration::from_millis(100));
    let status = lb.stop_with(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "stderr:\n{}", lb.stderr());
    assert!(!sock.exists(), "the runtime socket file is removed");
    assert!(
        waiting.join().unwrap().is_err(),
        "the request waiting on the silent server is cut, not answered"
    );
    let _ = idle.write_all(b"show info\n");
}
both_drivers!(
    busy_side_threads_do_not_hold_the_stop,
    super::busy_side_threads_do_not_hold_the_stop
);

/// SIGHUP dumps every proxy's and server's state, as haproxy 2.6 does: on stderr under one
/// heading, and to the log targets under a heading per proxy; the process goes on serving.
fn sighup_dumps_the_server_states(legacy: bool) {
    let sinks = Sinks::new("hupdump");
    let port = free_port();
    let up = Origin::start().addr;
    let down = dead_addr();
    let config = sinks.dir.write(
        "hup.cfg",
        &format!(
            "global\n    log {} local0\n\
             defaults\n    mode http\n    log global\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
             backend be\n    server s1 {down} check inter 100ms\n    server s2 {up}\n",
            sinks.udp.addr()
        ),
    );
    let mut lb = sinks.spawn(&config, driver_flags(legacy));
    lb.wait_serving(loopback(port));
    // s1's check fails at once; its DOWN line goes to the log targets first.
    thread::sleep(Duration::from_millis(400));
    assert_eq!(http_get(loopback(port), "/").unwrap().0, 200);
    lb.signal(libc::SIGHUP);
    thread::sleep(Duration::from_millis(300));
    assert!(lb.exited().is_none(), "SIGHUP ended the process");
    let pid = lb.pid();
    let expected = [
        "SIGHUP received, dumping servers states.",
        // Two connections: `wait_serving`'s probe and the request (haproxy 2.6 prints the same
        // after the same two).
        "SIGHUP: Proxy fe has no servers. Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 2+0.",
        "SIGHUP: Server be/s1 is DOWN. Conn: 0 act, 0 pend, 0 tot.",
        "SIGHUP: Server be/s2 is UP. Conn: 0 act, 0 pend, 1 tot.",
        "SIGHUP: Proxy be has 1 active servers and 0 backup servers available. Conn: act(FE+BE): 0+0, 0 pend (0 unass), tot(FE+BE): 0+1.",
    ]
    .map(|l| format!("[WARNING]  ({pid}) : {l}"));
    let stderr = lb.stderr();
    let dumped: Vec<&str> = stderr.lines().filter(|l| l.contains("SIGHUP")).collect();
    assert_eq!(dumped, expected, "stderr:\n{stderr}");
    // Each at level notice of local0 (`<133>`), as haproxy sends them.
    let mut logged = Vec::new();
    while logged.len() < 6 {
        let line = sinks.udp.line();
        if let Some(i) = line.find("SIGHUP") {
            assert!(line.starts_with("<133>"), "{line}");
            logged.push(line[i..].to_string());
        }
    }
    let message = |l: &str| l.split(" : ").nth(1).unwrap().to_string();
    let mut wanted = vec!["SIGHUP received, dumping servers states for proxy fe.".to_string()];
    wanted.push(message(&expected[1]));
    wanted.push("SIGHUP received, dumping servers states for proxy be.".to_string());
    wanted.extend(expected[2..].iter().map(|l| message(l)));
    assert_eq!(logged, wanted);
    assert_eq!(http_get(loopback(port), "/").unwrap().0, 200);
    assert_eq!(lb.stop_with(libc::SIGTERM).code(), Some(0));
}
both_drivers!(
    sighup_dumps_the_server_states,
    super::sighup_dumps_the_server_states
);

/// SIGQUIT, SIGHUP and SIGUSR2 do not end the process (haproxy survives them too): it goes
/// on serving, then stops on SIGTERM with its pidfile removed.
fn other_signals_leave_it_serving(legacy: bool) {
    let sinks = Sinks::new("othersig");
    let port = free_port();
    let config = sinks.config(port, Target::None, "");
    let pidfile = sinks.dir.path().join("ringlb.pid");
    let mut args = vec!["-p", pidfile.to_str().unwrap()];
    args.extend_from_slice(driver_flags(legacy));
    let mut lb = sinks.spawn(&config, &args);
    lb.wait_serving(loopback(port));
    for signal in [libc::SIGQUIT, libc::SIGHUP, libc::SIGUSR2] {
        lb.signal(signal);
        thread::sleep(Duration::from_millis(200));
        assert!(
            lb.exited().is_none(),
            "signal {signal} ended the process; stderr:\n{}",
            lb.stderr()
        );
        assert_eq!(http_get(loopback(port), "/").unwrap().0, 200);
    }
    assert_eq!(lb.stop_with(libc::SIGTERM).code(), Some(0));
    assert!(!pidfile.exists(), "the pidfile is removed on stop");
}
both_drivers!(
    other_signals_leave_it_serving,
    super::other_signals_leave_it_serving
);
