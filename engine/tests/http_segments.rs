//! A response head held back for the body bytes that follow it (so both leave in one
//! segment, tested on `forward_body` in `codec/body.rs`) waits 1 ms at most for a late body;
//! a body that a server with Nagle's algorithm holds back for the head's acknowledgement is
//! not delayed by TCP's delayed acknowledgement.

mod support;

use std::time::{Duration, Instant};

use support::proxy::{blocking, http_listen, TestProxy};
use support::*;

#[monoio::test_all(timer_enabled = true)]
async fn a_late_body_does_not_hold_its_head_back() {
    let server = split_writer(Duration::from_millis(800));
    let proxy = TestProxy::listen(&http_listen("web"), vec![server]);
    let addr = proxy.addr;
    let (head_after, whole_after) = blocking(move || {
        let mut c = Client::connect(addr);
        let t0 = Instant::now();
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut byte = [0u8; 1];
        std::io::Read::read_exact(&mut c.reader, &mut byte).unwrap();
        let head_after = t0.elapsed();
        let mut rest = [0u8; 43];
        std::io::Read::read_exact(&mut c.reader, &mut rest).unwrap();
        assert!(
            rest.ends_with(b"\r\n\r\nhello\n"),
            "{:?}",
            String::from_utf8_lossy(&rest)
        );
        (head_after, t0.elapsed())
    })
    .await;
    assert!(
        head_after < Duration::from_millis(150),
        "the head came after {head_after:?}"
    );
    assert!(whole_after >= Duration::from_millis(800));
}

/// A server with Nagle's algorithm on writes head and body apart (Python's `http.server`),
/// and each request comes on a new client connection over a reused server connection:
/// haproxy 2.6 answers each within a few ms. Without an immediate acknowledgement of the
/// head, the body waited for TCP's delayed ACK, about 40 ms, on most requests.
#[monoio::test_all(timer_enabled = true)]
async fn a_nagle_server_body_does_not_wait_for_a_delayed_ack() {
    let server = split_writer_with(Duration::ZERO, false);
    let proxy = TestProxy::listen(&http_listen("web"), vec![server]);
    let addr = proxy.addr;
    let times = blocking(move || {
        (0..40)
            .map(|_| {
                let t0 = Instant::now();
                let r = request(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
                assert_eq!((r.status, r.text().as_str()), (200, "hello\n"));
                t0.elapsed()
            })
            .collect::<Vec<_>>()
    })
    .await;
    assert!(
        proxy.router.upstream.reused.get() >= 30,
        "the server connection is reused"
    );
    // A margin for a busy machine: a delayed ACK costs 40 ms, and hit most requests.
    let slow = times
        .iter()
        .filter(|t| **t >= Duration::from_millis(30))
        .count();
    assert!(
        slow <= 2,
        "{slow} of 40 requests took 30 ms or more: {times:?}"
    );
}
