//! Idle keep-alive connections parked between requests (`worker/park.rs`), seen from the
//! outside on both drivers: a parked connection is served again when its client writes,
//! keeps its `sess` variables, is closed by `timeout http-keep-alive` and by a soft stop as
//! an idle session was, still counts as a current session and against `maxconn`, and a
//! client that closes while parked frees its slot at once.

mod support;

use std::net::SocketAddr;
use std::thread::sleep;
use std::time::{Duration, Instant};

use ringlb::boot::run::RunHandle;
use ringlb::worker::park::PARK_AFTER;
use support::*;

/// Long enough for a connection idle since its last response to be parked.
fn parked() {
    sleep(PARK_AFTER * 3);
}

/// Whether nothing arrives on `c` for a moment (no response, no close).
fn quiet(c: &mut Client) -> bool {
    c.writer
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut byte = [0u8; 1];
    let quiet = matches!(
        std::io::Read::read(&mut c.reader, &mut byte),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
    );
    c.writer
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    quiet
}

/// Two clients, each served once and then left idle until both are parked.
fn two_parked(h: &RunHandle, addr: SocketAddr) -> (Client, Client) {
    let mut a = Client::connect(addr);
    let mut b = Client::connect(addr);
    assert_eq!(a.get("/").status, 200);
    assert_eq!(b.get("/").status, 200);
    parked();
    assert_eq!(h.stats().parked, 2);
    (a, b)
}

fn rig(extra: &str, legacy: bool) -> (RunHandle, SocketAddr, Origin) {
    let origin = Origin::text("hello");
    let text = format!(
        "frontend web\n bind 127.0.0.1:0\n{extra}\n default_backend be\nbackend be\n server s1 @o\n"
    );
    let h = run_with_origins(&text, &[("o", origin.addr)], legacy);
    let addr = addr_of(&h, "web");
    (h, addr, origin)
}

fn served_again_with_session_variables(legacy: bool) {
    let (h, addr, _o) = rig(
        " timeout http-keep-alive 10s\n \
         http-request set-var(sess.first) path if !{ var(sess.first) -m found }\n \
         http-response set-header X-First %[var(sess.first,-)]",
        legacy,
    );
    let mut c = Client::connect(addr);
    assert_eq!(c.get("/one").header("x-first"), Some("/one"));
    for path in ["/two", "/three", "/four"] {
        parked();
        assert_eq!(h.stats().parked, 1, "the idle connection is parked");
        let r = c.get(path);
        assert_eq!(r.status, 200, "served after being parked");
        assert_eq!(r.text(), "hello");
        assert_eq!(
            r.header("x-first"),
            Some("/one"),
            "sess variables outlive parking"
        );
        assert_eq!(h.stats().parked, 0, "served by a session again");
    }
    // Pipelined requests sent to a parked connection are all answered, in order.
    parked();
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read(false).status, 200);
    assert_eq!(c.read(false).status, 200);
    h.stop();
}

both_drivers!(
    a_parked_connection_is_served_again_with_its_session_variables,
    super::served_again_with_session_variables
);

fn keep_alive_timeout_closes(legacy: bool) {
    let (h, addr, _o) = rig(" timeout http-keep-alive 1500ms", legacy);
    let mut c = Client::connect(addr);
    assert_eq!(c.get("/").status, 200);
    let idle = Instant::now();
    parked();
    assert_eq!(h.stats().parked, 1);
    assert!(quiet(&mut c), "still open once parked, before its timeout");
    assert!(c.is_closed(), "closed by timeout http-keep-alive");
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_millis(3500),
        "closed after {waited:?}, the timeout is 1.5 s"
    );
    // The connection counted as a current session while parked, and no longer does.
    let until = Instant::now() + Duration::from_secs(5);
    while h.stats().frontend("web").unwrap().sess_cur != 0 {
        assert!(
            Instant::now() < until,
            "the closed connection is still counted"
        );
        sleep(Duration::from_millis(20));
    }
    h.stop();
}

both_drivers!(
    timeout_http_keep_alive_closes_a_parked_connection,
    super::keep_alive_timeout_closes
);

fn parked_connections_hold_their_slots(legacy: bool) {
    let (h, addr, _o) = rig(" maxconn 2\n timeout http-keep-alive 30s", legacy);
    let (a, mut b) = two_parked(&h, addr);
    assert_eq!(h.stats().frontend("web").unwrap().sess_cur, 2);
    // A third client waits in the backlog: the parked ones still hold both slots.
    let mut third = Client::connect(addr);
    third.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    sleep(Duration::from_millis(100));
    assert!(quiet(&mut third), "served beyond maxconn");
    // A parked client that leaves frees its slot at once, and the third one is served.
    drop(a);
    assert_eq!(third.read(false).status, 200);
    // The other parked connection is still served.
    assert_eq!(b.get("/").status, 200);
    h.stop();
}

both_drivers!(
    parked_connections_count_against_maxconn_until_their_client_leaves,
    super::parked_connections_hold_their_slots
);

fn soft_stop_closes(legacy: bool) {
    let (h, addr, _o) = rig(" timeout http-keep-alive 30s", legacy);
    let (mut idle, mut late) = two_parked(&h, addr);
    let stopped = Instant::now();
    h.soft_stop();
    // A request arriving on a parked connection just after the stop is still answered,
    // and the connection is closed after it.
    sleep(Duration::from_millis(100));
    let r = late.get("/");
    assert_eq!(r.status, 200);
    assert!(r.closes(), "answered with close while stopping");
    // A parked connection that stays idle is closed within the last second it gets.
    assert!(idle.is_closed());
    let waited = stopped.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "closed {waited:?} after the soft stop"
    );
    h.wait()
        .expect("the process ends once its connections are gone");
}

both_drivers!(
    a_soft_stop_closes_parked_connections_after_their_last_chance,
    super::soft_stop_closes
);
