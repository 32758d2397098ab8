//! The `ringlb` binary serving for real: the quickstart example, stopping on signals, soft
//! stop with a request in flight, port ownership between instances, `-sf` handover, the
//! pidfile and a `mode tcp` tunnel, all on loopback ports.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::*;

/// Starts `ringlb -f CONFIG EXTRA…` with its stderr in `dir`.
fn start(dir: &TempDir, config: &std::path::Path, extra: &[&str]) -> Ringlb {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let mut args = vec!["-f".to_string(), config.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    Ringlb::spawn(&args, dir.path().join(format!("stderr-{n}.txt")))
}

fn driver_flags(legacy: bool) -> &'static [&'static str] {
    if legacy {
        &["--legacy-driver"]
    } else {
        &[]
    }
}

/// A minimal HTTP configuration: `listen web` on `port` answering by itself.
fn self_answering(port: u16) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
         listen web\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string \"served\"\n"
    )
}

/// A configuration with `listen web` on `port` in front of `server`, two workers.
fn proxy_to(port: u16, server: SocketAddr, mode: &str) -> String {
    format!(
        "global\n    nbthread 2\n\
         defaults\n    mode {mode}\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
         listen web\n    bind 127.0.0.1:{port}\n    server s1 {server}\n"
    )
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn quickstart_alternates(legacy: bool) {
    let dir = TempDir::new("quickstart");
    let text = std::fs::read_to_string(repo_root().join("examples/quickstart.cfg")).unwrap();
    let reserved: Vec<_> = (0..4).map(|_| reserve_port()).collect();
    let port = |i: usize| reserved[i].local_addr().unwrap().port();
    let (front, s1, s2, stats) = (port(0), port(1), port(2), port(3));
    let text = text
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{front}"))
        .replace("127.0.0.1:9001", &format!("127.0.0.1:{s1}"))
        .replace("127.0.0.1:9002", &format!("127.0.0.1:{s2}"))
        .replace("127.0.0.1:8404", &format!("127.0.0.1:{stats}"));
    let config = dir.write("quickstart.cfg", &text);
    drop(reserved);
    let mut lb = start(&dir, &config, driver_flags(legacy));
    lb.wait_serving(loopback(front));

    let bodies: Vec<String> = (0..6)
        .map(|_| {
            let (status, body) = http_get(loopback(front), "/").expect("quickstart answers");
            assert_eq!(status, 200, "body {body:?}");
            body
        })
        .collect();
    let first = if bodies[0] == "hello from s1\n" { 1 } else { 2 };
    let expected: Vec<String> = (0..6)
        .map(|i| format!("hello from s{}\n", (first - 1 + i) % 2 + 1))
        .collect();
    assert_eq!(bodies, expected, "round robin alternates s1 and s2");

    let driver = if legacy { "epoll" } else { "io_uring" };
    let err = lb.stderr();
    assert!(
        err.contains(&format!("worker 1 running on {driver} driver")),
        "stderr does not name the {driver} driver:\n{err}"
    );
    assert!(lb.stop_with(libc::SIGTERM).success(), "{}", lb.stderr());
}
both_drivers!(
    quickstart_answers_alternately_from_both_demo_servers,
    super::quickstart_alternates
);

/// Starts a self-answering instance, checks it serves, signals it, and expects exit 0.
fn stops_cleanly_on(signal: libc::c_int) {
    let dir = TempDir::new("signal");
    let port = free_port();
    let config = dir.write("web.cfg", &self_answering(port));
    let mut lb = start(&dir, &config, &[]);
    lb.wait_serving(loopback(port));
    assert_eq!(http_get(loopback(port), "/").unwrap().0, 200);
    let status = lb.stop_with(signal);
    assert_eq!(status.code(), Some(0), "stderr:\n{}", lb.stderr());
    assert!(
        TcpStream::connect(loopback(port)).is_err(),
        "the port is released after exit"
    );
}

#[test]
fn sigterm_stops_with_exit_zero() {
    stops_cleanly_on(libc::SIGTERM);
}

#[test]
fn sigint_stops_with_exit_zero() {
    stops_cleanly_on(libc::SIGINT);
}

/// A backend that answers `/slow` after one second and anything else at once.
fn slow_backend() -> SocketAddr {
    Origin::serve(|req| {
        if req.path == "/slow" {
            // Long enough that the listeners provably close while it is in flight, even
            // on a loaded machine where the stop takes a while to reach every worker.
            Reply::text("slow answer ".repeat(100)).after(Duration::from_secs(3))
        } else {
            Reply::text("fast")
        }
    })
    .addr
}

/// Whether a new connection to `addr` gets an HTTP answer within 300 ms.
fn probe_is_served(addr: SocketAddr) -> bool {
    let wait = Duration::from_millis(300);
    let Ok(mut c) = Client::connect_within(addr, wait, wait) else {
        return false;
    };
    c.try_send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .and_then(|()| c.try_read(false))
        .is_ok()
}

fn soft_stop_finishes_in_flight(legacy: bool) {
    let dir = TempDir::new("softstop");
    let port = free_port();
    let config = dir.write("web.cfg", &proxy_to(port, slow_backend(), "http"));
    let mut lb = start(&dir, &config, driver_flags(legacy));
    let front = loopback(port);
    lb.wait_serving(front);
    assert_eq!(http_get(front, "/").unwrap(), (200, "fast".into()));

    let in_flight = thread::spawn(move || http_get(front, "/slow"));
    thread::sleep(Duration::from_millis(200));
    lb.signal(libc::SIGUSR1);

    // New connections stop being served: several in a row must go unanswered, so that
    // every worker's listener is closed, not just the one a single attempt reached. A probe
    // counts as unanswered when it is refused, reset, or gets no answer within 300 ms: a
    // client arriving at the very instant of the stop can sit in a closing listener's queue
    // until the process exits (it is reset then), and that is not a served request either.
    let deadline = Instant::now() + Duration::from_millis(2500);
    let mut unanswered_in_a_row = 0;
    let sent = Instant::now();
    let mut probes = Vec::new();
    while unanswered_in_a_row < 8 {
        assert!(
            Instant::now() < deadline,
            "new connections are still served 2.5 s after SIGUSR1; probes (ms after the \
             signal, served): {probes:?}; stderr:\n{}",
            lb.stderr()
        );
        let served = probe_is_served(front);
        probes.push((sent.elapsed().as_millis(), served));
        if served {
            unanswered_in_a_row = 0;
        } else {
            unanswered_in_a_row += 1;
        }
    }
    assert!(
        !in_flight.is_finished(),
        "the slow request ended before the listeners closed"
    );
    let (status, body) = in_flight
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("in-flight request failed: {e}; stderr:\n{}", lb.stderr()));
    assert_eq!(status, 200);
    assert_eq!(body, "slow answer ".repeat(100));
    match lb.wait_exit(Duration::from_secs(5)) {
        Some(s) => assert_eq!(s.code(), Some(0), "stderr:\n{}", lb.stderr()),
        None => panic!(
            "still running 5 s after soft stop; stderr:\n{}",
            lb.stderr()
        ),
    }
}
mod sigusr1_soft_stop_finishes_an_in_flight_slow_request {
    #[test]
    fn io_uring() {
        super::soft_stop_finishes_in_flight(false)
    }
    #[test]
    fn epoll() {
        super::soft_stop_finishes_in_flight(true)
    }
}

#[test]
fn a_second_instance_on_the_same_ports_is_refused() {
    let dir = TempDir::new("second");
    let port = free_port();
    let config = dir.write("web.cfg", &self_answering(port));
    let mut first = start(&dir, &config, &[]);
    first.wait_serving(loopback(port));

    let mut second = start(&dir, &config, &[]);
    let status = second
        .wait_exit(Duration::from_secs(10))
        .expect("the second instance exits");
    let err = second.stderr();
    assert_eq!(status.code(), Some(1), "stderr:\n{err}");
    assert!(
        err.contains("address already in use by another process"),
        "stderr:\n{err}"
    );
    // The first instance is untouched and still serves alone.
    assert!(first.exited().is_none(), "stderr:\n{}", first.stderr());
    for _ in 0..4 {
        assert_eq!(http_get(loopback(port), "/").unwrap().0, 200);
    }
    assert_eq!(first.stop_with(libc::SIGTERM).code(), Some(0));
}

/// `-sf` handover under load: the new process takes the old one's listening sockets (fd
/// passing), so a client queued on them when the old process stops is served by the new
/// one; no request may fail.
fn sf_handover(legacy: bool) {
    let dir = TempDir::new("sf");
    let port = free_port();
    let front = loopback(port);
    let config = dir.write(
        "web.cfg",
        &proxy_to(port, Origin::text("backend").addr, "http"),
    );
    let pidfile = dir.path().join("a.pid");
    let pidfile_arg = pidfile.to_str().unwrap();
    let mut a_args = vec!["-p", pidfile_arg];
    a_args.extend_from_slice(driver_flags(legacy));
    let mut a = start(&dir, &config, &a_args);
    a.wait_serving(front);
    let a_pid = a.wait_pidfile(&pidfile);
    assert_eq!(a_pid, a.pid());
    for _ in 0..3 {
        assert_eq!(http_get(front, "/").unwrap(), (200, "backend".into()));
    }

    // A client keeps sending requests, one connection each, for the whole handover.
    let done = Arc::new(AtomicBool::new(false));
    let client = {
        let done = done.clone();
        thread::spawn(move || {
            let mut results = Vec::new();
            while !done.load(Ordering::SeqCst) {
                results.push(http_get(front, "/").map_err(|e| (e.kind(), e.to_string())));
                thread::sleep(Duration::from_millis(5));
            }
            results
        })
    };
    thread::sleep(Duration::from_millis(100));
    let a_pid_arg = a_pid.to_string();
    let mut b_args = vec!["-sf", &a_pid_arg];
    b_args.extend_from_slice(driver_flags(legacy));
    let mut b = start(&dir, &config, &b_args);
    let a_status = a.wait_exit(Duration::from_secs(10));
    done.store(true, Ordering::SeqCst);
    let during = client.join().unwrap();

    assert_eq!(
        a_status.and_then(|s| s.code()),
        Some(0),
        "the old process exits 0 on its own; its stderr:\n{}\nnew process stderr:\n{}",
        a.stderr(),
        b.stderr()
    );
    assert!(b.exited().is_none(), "B stopped:\n{}", b.stderr());
    let failed: Vec<_> = during.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the handover: {failed:?}",
        failed.len(),
        during.len()
    );
    assert!(
        during
            .iter()
            .flatten()
            .all(|r| *r == (200, "backend".into())),
        "{during:?}"
    );
    assert!(
        during.iter().filter(|r| r.is_ok()).count() > during.len() / 2,
        "{during:?}"
    );
    for _ in 0..3 {
        assert_eq!(http_get(front, "/").unwrap(), (200, "backend".into()));
    }
    assert_eq!(b.stop_with(libc::SIGTERM).code(), Some(0), "{}", b.stderr());
}

both_drivers!(
    sf_takes_the_old_sockets_loses_no_connection_and_stops_it,
    super::sf_handover
);

#[test]
fn pidfile_holds_the_pid_and_is_removed_on_exit() {
    let dir = TempDir::new("pidfile");
    let port = free_port();
    let config = dir.write("web.cfg", &self_answering(port));
    let pidfile = dir.path().join("ringlb.pid");
    let mut lb = start(&dir, &config, &["-p", pidfile.to_str().unwrap()]);
    lb.wait_serving(loopback(port));
    assert_eq!(lb.wait_pidfile(&pidfile), lb.pid());
    assert_eq!(lb.stop_with(libc::SIGTERM).code(), Some(0));
    assert!(!pidfile.exists(), "the pidfile is removed on exit");
}

fn tcp_half_close(legacy: bool) {
    let dir = TempDir::new("tcp");
    let port = free_port();
    let config = dir.write("tcp.cfg", &proxy_to(port, echo_server(), "tcp"));
    let mut lb = start(&dir, &config, driver_flags(legacy));
    lb.wait_serving(loopback(port));

    let mut s = connect(loopback(port));
    assert_eq!(roundtrip(&mut s, b"first line\n"), b"first line\n");
    // Bytes in flight when the client half-closes still come back, then end-of-stream.
    let tail: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
    let writer = {
        let mut w = s.try_clone().unwrap();
        let tail = tail.clone();
        thread::spawn(move || {
            w.write_all(&tail).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut back = Vec::new();
    s.read_to_end(&mut back).expect("the echo ends with EOF");
    writer.join().unwrap();
    assert_eq!(back.len(), tail.len());
    assert!(back == tail, "echoed bytes differ");
    assert_eq!(lb.stop_with(libc::SIGTERM).code(), Some(0));
}
both_drivers!(mode_tcp_proxies_bytes_end_to_end, super::tcp_half_close);
