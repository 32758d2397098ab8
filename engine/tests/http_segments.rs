//! A response head held back for the body bytes that follow it (so both leave in one
//! segment, tested on `forward_body` in `codec/body.rs`) waits 1 ms at most for a late body.

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
