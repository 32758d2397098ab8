//! Reloading the `ringlb` binary: 20 `-sf` reloads under continuous keep-alive and
//! new-connection load lose no request, a broken configuration changes nothing, server
//! state survives, daemon mode and privilege drop, pause/resume, and master-worker reloads
//! and restarts. (`ringlb-bench reload` measures the same reloads, haproxy's beside them.)

mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::*;

fn start(dir: &TempDir, config: &Path, extra: &[&str]) -> Ringlb {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let mut args = vec!["-f".to_string(), config.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    Ringlb::spawn(&args, dir.path().join(format!("stderr-{n}.txt")))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `listen web` on `port` in front of `servers`, two workers.
fn proxy_config(port: u16, servers: &[(&str, SocketAddr)], global_extra: &str) -> String {
    let mut text = format!(
        "global\n    nbthread 2\n{global_extra}\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n    timeout http-keep-alive 10s\n\
         listen web\n    bind 127.0.0.1:{port}\n"
    );
    for (name, addr) in servers {
        text.push_str(&format!("    server {name} {addr}\n"));
    }
    text
}

/// What the load client saw.
#[derive(Debug, Default)]
struct LoadReport {
    ok: usize,
    /// Requests that got no complete `200`, whatever the reason.
    failed: usize,
    resets: usize,
    refused: usize,
    /// The first few failures, for the assertion message.
    samples: Vec<String>,
}

/// A client keeping `keep_alive` connections busy (a request as soon as the previous
/// answer is in, reconnecting when the proxy says `Connection: close`) while `fresh`
/// threads open a new connection per request.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<LoadReport>>,
}

impl Load {
    fn start(addr: SocketAddr, keep_alive: usize, fresh: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..keep_alive + fresh {
            let stop = stop.clone();
            let persistent = i < keep_alive;
            threads.push(
                thread::Builder::new()
                    .stack_size(128 * 1024)
                    .spawn(move || client_loop(addr, persistent, &stop))
                    .unwrap(),
            );
        }
        Self { stop, threads }
    }

    fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = LoadReport::default();
        for t in self.threads {
            let r = t.join().unwrap();
            total.ok += r.ok;
            total.failed += r.failed;
            total.resets += r.resets;
            total.refused += r.refused;
            if total.samples.len() < 10 {
                total.samples.extend(r.samples);
            }
        }
        total
    }
}

fn client_loop(addr: SocketAddr, persistent: bool, stop: &AtomicBool) -> LoadReport {
    let mut report = LoadReport::default();
    let mut conn: Option<Client> = None;
    while !stop.load(Ordering::Relaxed) {
        // Whether the connection stays open after a whole `200`.
        let result = (|| -> std::io::Result<bool> {
            if conn.is_none() {
                let c = Client::try_connect(addr)?;
                c.writer.set_nodelay(true)?;
                conn = Some(c);
            }
            let c = conn.as_mut().unwrap();
            let close = if persistent {
                ""
            } else {
                "Connection: close\r\n"
            };
            c.try_send(format!("GET / HTTP/1.1\r\nHost: x\r\n{close}\r\n").as_bytes())?;
            let r = c.try_read(false)?;
            if r.status != 200 {
                return Err(std::io::Error::other(format!("status {}", r.status)));
            }
            Ok(!r.closes())
        })();
        match result {
            Ok(keep) => {
                report.ok += 1;
                if !keep || !persistent {
                    conn = None;
                }
            }
            Err(e) => {
                conn = None;
                report.failed += 1;
                match e.kind() {
                    std::io::ErrorKind::ConnectionReset => report.resets += 1,
                    std::io::ErrorKind::ConnectionRefused => report.refused += 1,
                    _ => {}
                }
                if report.samples.len() < 3 {
                    report.samples.push(format!("{:?}: {e}", e.kind()));
                }
            }
        }
    }
    report
}

/// Waits until `pid` is gone (reaped by its parent or not a child of ours).
fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        // SAFETY: signal 0 only checks for existence.
        if unsafe { libc::kill(pid as libc::pid_t, 0) } != 0 {
            return true;
        }
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if state.split_whitespace().nth(2) == Some("Z") {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}

fn twenty_reloads_under_load(legacy: bool) {
    let flags: &[&str] = if legacy { &["--legacy-driver"] } else { &[] };
    let dir = TempDir::new("reload-load");
    let port = free_port();
    let front = loopback(port);
    let config = dir.write(
        "web.cfg",
        &proxy_config(port, &[("s1", Origin::text("backend").addr)], ""),
    );
    let mut current = start(&dir, &config, flags);
    current.wait_serving(front);
    let load = Load::start(front, 200, 4);
    thread::sleep(Duration::from_millis(300));
    let mut old_pids = Vec::new();
    for round in 0..20 {
        let pid = current.pid().to_string();
        let mut args = vec!["-sf", &pid];
        args.extend_from_slice(flags);
        let mut next = start(&dir, &config, &args);
        next.wait_serving(front);
        let status = current.wait_exit(Duration::from_secs(15));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "round {round}: the old process exits 0 once drained; its stderr:\n{}",
            current.stderr()
        );
        assert!(
            next.stderr().contains("took 2 listening socket(s)"),
            "round {round}: the new process took the sockets:\n{}",
            next.stderr()
        );
        old_pids.push(current.pid());
        current = next;
        thread::sleep(Duration::from_millis(100));
    }
    let report = load.finish();
    assert_eq!(
        (report.failed, report.resets, report.refused),
        (0, 0, 0),
        "{report:?}"
    );
    assert!(report.ok > 2000, "{report:?}");
    eprintln!("20 reloads under load: {report:?}");
    for pid in old_pids {
        assert!(
            wait_gone(pid, Duration::from_secs(1)),
            "process {pid} still runs"
        );
    }
    assert_eq!(current.stop_with(libc::SIGTERM).code(), Some(0));
}
both_drivers!(
    twenty_reloads_under_load_lose_no_request,
    super::twenty_reloads_under_load
);

#[test]
fn a_reload_with_a_broken_config_changes_nothing_and_says_why() {
    let dir = TempDir::new("reload-broken");
    let port = free_port();
    let front = loopback(port);
    let good = dir.write(
        "web.cfg",
        &proxy_config(port, &[("s1", Origin::text("backend").addr)], ""),
    );
    let mut a = start(&dir, &good, &[]);
    a.wait_serving(front);
    let broken = dir.write(
        "broken.cfg",
        &proxy_config(
            port,
            &[("s1", Origin::text("backend").addr)],
            "    nbthraed 2\n",
        ),
    );
    let pid = a.pid().to_string();
    let mut b = start(&dir, &broken, &["-sf", &pid]);
    let status = b.wait_exit(Duration::from_secs(10)).expect("B exits");
    assert_eq!(status.code(), Some(1));
    let err = b.stderr();
    assert!(err.contains("unknown keyword 'nbthraed'"), "{err}");
    assert!(
        err.contains("1 error(s) found in the configuration"),
        "{err}"
    );
    thread::sleep(Duration::from_millis(200));
    assert!(
        a.exited().is_none(),
        "the old process still runs:\n{}",
        a.stderr()
    );
    for _ in 0..5 {
        assert_eq!(http_get(front, "/").unwrap(), (200, "backend".into()));
    }
    assert_eq!(a.stop_with(libc::SIGTERM).code(), Some(0));
}

/// The bodies of `n` requests in a row.
fn bodies(front: SocketAddr, n: usize) -> Vec<String> {
    (0..n).map(|_| http_get(front, "/").unwrap().1).collect()
}

#[test]
fn a_server_down_before_a_reload_is_still_down_after_it() {
    let dir = TempDir::new("reload-state");
    let port = free_port();
    let front = loopback(port);
    let config = dir.write(
        "web.cfg",
        &proxy_config(
            port,
            &[
                ("s1", Origin::text("one").addr),
                ("s2", Origin::text("two").addr),
            ],
            "",
        ),
    );
    // The old process starts with s1 in maintenance from a state file.
    let state = dir.write("state", "server web s1 down 1\n");
    let mut a = start(&dir, &config, &["--server-state", state.to_str().unwrap()]);
    a.wait_serving(front);
    assert_eq!(bodies(front, 4), ["two"; 4]);
    // The new process has no state file: what it knows comes from the old one.
    let pid = a.pid().to_string();
    let mut b = start(&dir, &config, &["-sf", &pid]);
    b.wait_serving(front);
    assert!(a.wait_exit(Duration::from_secs(10)).is_some());
    assert_eq!(bodies(front, 4), ["two"; 4], "{}", b.stderr());
    assert_eq!(b.stop_with(libc::SIGTERM).code(), Some(0));
    // Without carried state both servers answer.
    let mut c = start(&dir, &config, &[]);
    c.wait_serving(front);
    let mut seen = bodies(front, 4);
    seen.sort();
    assert_eq!(seen, ["one", "one", "two", "two"]);
    assert_eq!(c.stop_with(libc::SIGTERM).code(), Some(0));
}

/// The `Uid:` line of `/proc/PID/status`: real, effective, saved, filesystem.
fn uids(pid: u32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .map(|u| u.parse().unwrap())
        .collect()
}

#[test]
fn daemon_mode_writes_the_daemon_pid_and_drops_privileges() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: dropping privileges needs root");
        return;
    }
    let dir = TempDir::new("daemon");
    let port = free_port();
    let front = loopback(port);
    let pidfile = dir.path().join("ringlb.pid");
    let config = dir.write(
        "web.cfg",
        &proxy_config(
            port,
            &[("s1", Origin::text("backend").addr)],
            "    daemon\n    user nobody\n",
        ),
    );
    let mut launcher = start(&dir, &config, &["-p", pidfile.to_str().unwrap()]);
    let status = launcher
        .wait_exit(Duration::from_secs(10))
        .expect("the launching process returns once the daemon serves");
    assert_eq!(status.code(), Some(0), "{}", launcher.stderr());
    let text = std::fs::read_to_string(&pidfile).expect("pidfile written");
    let pid: u32 = text.trim().parse().unwrap();
    assert_ne!(
        pid,
        launcher.pid(),
        "the pidfile names the daemon, not the launcher"
    );
    assert_eq!(http_get(front, "/").unwrap(), (200, "backend".into()));
    let nobody = 65534;
    assert_eq!(uids(pid), [nobody; 4], "every uid of the daemon is dropped");
    // The daemon left the launcher's session.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let sid: u32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sid, pid, "the daemon leads its own session");
    // SAFETY: kill(2) on the daemon's pid.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    assert!(
        wait_gone(pid, Duration::from_secs(5)),
        "the daemon stops on SIGTERM"
    );
}

#[test]
fn sigttou_pauses_accepting_and_sigttin_resumes() {
    let dir = TempDir::new("pause");
    let port = free_port();
    let front = loopback(port);
    let config = dir.write(
        "web.cfg",
        &proxy_config(port, &[("s1", Origin::text("backend").addr)], ""),
    );
    let mut lb = start(&dir, &config, &[]);
    lb.wait_serving(front);
    lb.signal(libc::SIGTTOU);
    thread::sleep(Duration::from_millis(300));
    // A client connects (the kernel queues it) but gets no answer while paused.
    let waiting = thread::spawn(move || {
        let sent = Instant::now();
        let r = http_get(front, "/");
        (r, sent.elapsed())
    });
    thread::sleep(Duration::from_millis(700));
    assert!(!waiting.is_finished(), "a paused process answered");
    lb.signal(libc::SIGTTIN);
    let (r, took) = waiting.join().unwrap();
    assert_eq!(r.unwrap(), (200, "backend".into()));
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert_eq!(lb.stop_with(libc::SIGTERM).code(), Some(0));
}

/// Pids the master announced as started workers, in order.
fn worker_pids(master: &Ringlb) -> Vec<u32> {
    master
        .stderr()
        .lines()
        .filter_map(|l| l.strip_prefix("ringlb: master: started worker "))
        .map(|p| p.trim().parse().unwrap())
        .collect()
}

/// Waits until the master announced `n` workers and the last one serves (its notice).
fn wait_workers(master: &Ringlb, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let pids = worker_pids(master);
        if pids.len() >= n {
            return pids;
        }
        assert!(Instant::now() < deadline, "{}", master.stderr());
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn master_worker_reloads_on_sigusr2_and_restarts_a_crashed_worker() {
    let dir = TempDir::new("master");
    let port = free_port();
    let front = loopback(port);
    let config = dir.write(
        "web.cfg",
        &proxy_config(
            port,
            &[("s1", Origin::text("backend").addr)],
            "    master-worker\n",
        ),
    );
    let mut master = start(&dir, &config, &[]);
    master.wait_serving(front);
    let first = wait_workers(&master, 1)[0];
    let load = Load::start(front, 20, 2);
    for n in 2..=4 {
        master.signal(libc::SIGUSR2);
        let pids = wait_workers(&master, n);
        let old = pids[n - 2];
        assert!(
            wait_gone(old, Duration::from_secs(10)),
            "{}",
            master.stderr()
        );
    }
    // A broken configuration keeps the serving worker.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}    bogus-keyword\n")).unwrap();
    master.signal(libc::SIGUSR2);
    thread::sleep(Duration::from_millis(500));
    assert!(
        master
            .stderr()
            .contains("reload refused, the running worker keeps serving"),
        "{}",
        master.stderr()
    );
    assert_eq!(worker_pids(&master).len(), 4);
    std::fs::write(&config, text).unwrap();
    let report = load.finish();
    assert_eq!((report.failed, report.resets), (0, 0), "{report:?}");

    // A crashed worker is replaced, on the sockets the master kept.
    let serving = *worker_pids(&master).last().unwrap();
    assert_ne!(serving, first);
    // SAFETY: kill(2) on the worker's pid.
    unsafe { libc::kill(serving as libc::pid_t, libc::SIGKILL) };
    let pids = wait_workers(&master, 5);
    assert_ne!(pids[4], serving);
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(front, "/").is_err() {
        assert!(Instant::now() < deadline, "{}", master.stderr());
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(http_get(front, "/").unwrap(), (200, "backend".into()));
    assert_eq!(
        master.stop_with(libc::SIGTERM).code(),
        Some(0),
        "{}",
        master.stderr()
    );
    assert!(wait_gone(pids[4], Duration::from_secs(2)));
}

/// `srv_admin_state`, `srv_uweight` of `server` in `show servers state`.
fn admin_and_weight(path: &Path, server: &str) -> (String, String) {
    let out = runtime_command(path, "show servers state web");
    let line = out
        .lines()
        .find(|l| l.split(' ').nth(3) == Some(server))
        .unwrap_or_else(|| panic!("{server} in {out}"))
        .to_string();
    let f: Vec<&str> = line.split(' ').collect();
    (f[6].to_string(), f[7].to_string())
}

/// A reload in `mode` (`-sf` or a master's SIGUSR2) keeps `s1` in maintenance and `s2`'s
/// run-time weight, maxconn and address, all set through the runtime socket.
fn operator_state_survives(master_worker: bool) {
    let dir = TempDir::new("reload-admin");
    let port = free_port();
    let front = loopback(port);
    let sock = dir.path().join("admin.sock");
    let global = format!(
        "    stats socket {} level admin\n{}",
        sock.display(),
        if master_worker {
            "    master-worker\n"
        } else {
            ""
        }
    );
    let config = dir.write(
        "web.cfg",
        &proxy_config(
            port,
            &[
                ("s1", Origin::text("one").addr),
                ("s2", Origin::text("two").addr),
            ],
            &global,
        ),
    );
    let moved = Origin::text("moved");
    let mut a = start(&dir, &config, &[]);
    a.wait_serving(front);
    for cmd in [
        "set server web/s1 state maint",
        "set weight web/s2 7",
        "set maxconn server web/s2 9",
    ] {
        assert_eq!(runtime_command(&sock, cmd), "\n", "{cmd}");
    }
    let set_addr = format!(
        "set server web/s2 addr 127.0.0.1 port {}",
        moved.addr.port()
    );
    assert!(runtime_command(&sock, &set_addr).contains("port changed from"));
    assert_eq!(admin_and_weight(&sock, "s1").0, "1");
    assert_eq!(bodies(front, 4), ["moved"; 4]);

    // The replaced process, kept so it can exit by itself.
    let mut replaced = None;
    let old = if master_worker {
        let old = wait_workers(&a, 1)[0];
        a.signal(libc::SIGUSR2);
        wait_workers(&a, 2);
        old
    } else {
        let pid = a.pid();
        let mut b = start(&dir, &config, &["-sf", &pid.to_string()]);
        b.wait_serving(front);
        replaced = Some(std::mem::replace(&mut a, b));
        pid
    };
    assert!(wait_gone(old, Duration::from_secs(10)), "{}", a.stderr());
    // The socket file now belongs to the new process.
    assert_eq!(
        admin_and_weight(&sock, "s1"),
        ("1".into(), "1".into()),
        "{}",
        a.stderr()
    );
    assert_eq!(admin_and_weight(&sock, "s2").1, "7");
    let csv = runtime_command(&sock, "show stat web");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let slim = header.iter().position(|c| *c == "slim").unwrap();
    let s2 = csv.lines().find(|l| l.starts_with("web,s2,")).unwrap();
    assert_eq!(s2.split(',').nth(slim), Some("9"), "{csv}");
    assert_eq!(bodies(front, 4), ["moved"; 4], "{}", a.stderr());
    let state = runtime_command(&sock, "show servers state web");
    assert!(
        state.contains(&format!(" - {} - ", moved.addr.port())),
        "srv_port: {state}"
    );
    assert_eq!(a.stop_with(libc::SIGTERM).code(), Some(0));
    drop(replaced);
}

#[test]
fn maintenance_weight_maxconn_and_address_set_at_run_time_survive_a_sf_reload() {
    operator_state_survives(false);
}

#[test]
fn maintenance_weight_maxconn_and_address_set_at_run_time_survive_a_master_reload() {
    operator_state_survives(true);
}

#[test]
fn grace_keeps_serving_new_connections_after_a_soft_stop_then_closes() {
    let dir = TempDir::new("grace");
    let port = free_port();
    let front = loopback(port);
    let text = proxy_config(port, &[("s1", Origin::text("backend").addr)], "")
        .replace("listen web\n", "listen web\n    grace 1s\n");
    let config = dir.write("web.cfg", &text);
    let mut lb = start(&dir, &config, &[]);
    lb.wait_serving(front);
    let signalled = Instant::now();
    lb.signal(libc::SIGUSR1);
    thread::sleep(Duration::from_millis(300));
    // A new connection during the grace period is accepted and served.
    assert_eq!(
        http_get(front, "/").unwrap(),
        (200, "backend".into()),
        "{}",
        lb.stderr()
    );
    let status = lb.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() >= Duration::from_secs(1),
        "{:?}",
        signalled.elapsed()
    );
    assert!(TcpStream::connect(front).is_err(), "refused once stopped");
    assert!(
        lb.stderr()
            .contains("still accepting for the 1000ms grace period"),
        "{}",
        lb.stderr()
    );
}

/// A frontend disabled through the runtime socket has its sockets shut down; a reload that
/// takes those sockets over makes them listen again, as the new configuration says.
#[test]
fn a_frontend_disabled_before_a_sf_reload_serves_again_after_it() {
    let dir = TempDir::new("reload-disabled");
    let port = free_port();
    let front = loopback(port);
    let sock = dir.path().join("admin.sock");
    let global = format!("    stats socket {} level admin\n", sock.display());
    let config = dir.write(
        "web.cfg",
        &proxy_config(port, &[("s1", Origin::text("one").addr)], &global),
    );
    let mut a = start(&dir, &config, &[]);
    a.wait_serving(front);
    assert_eq!(runtime_command(&sock, "disable frontend web"), "\n");
    assert!(TcpStream::connect(front).is_err(), "disabled");
    let pid = a.pid();
    let mut b = start(&dir, &config, &["-sf", &pid.to_string()]);
    b.wait_serving(front);
    assert!(wait_gone(pid, Duration::from_secs(10)), "{}", b.stderr());
    assert_eq!(bodies(front, 4), ["one"; 4], "{}", b.stderr());
    assert_eq!(b.stop_with(libc::SIGTERM).code(), Some(0));
    drop(a);
}
