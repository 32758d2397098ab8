//! Counters after known traffic: frontend, backend and server blocks summed over workers
//! equal exactly what was sent, and the latency histograms saw every forwarded request.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use ringlb::boot::run::RunHandle;
use support::*;

/// Polls until `f` holds (counters of a connection are final once it is closed, which the
/// client sees slightly before the worker).
fn eventually(
    h: &RunHandle,
    f: impl Fn(&ringlb::metrics::Snapshot) -> bool,
) -> ringlb::metrics::Snapshot {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = h.stats();
        if f(&s) || Instant::now() > deadline {
            return s;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn known_traffic_gives_exact_counters(legacy: bool) {
    let web = Origin::text("hello").addr;
    let port = free_port();
    let h = run_http(
        2,
        &format!(
            "frontend www\n bind 127.0.0.1:{port}\n acl forbidden path_beg /forbidden\n acl empty path_beg /empty\n http-request deny if forbidden\n use_backend nosrv if empty\n default_backend web\nbackend web\n server web1 {web}\nbackend nosrv\n"
        ),
        legacy,
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut sent = 0u64;
    for _ in 0..5 {
        assert_eq!(http_get(addr, "/").unwrap().0, 200);
        sent += 1;
    }
    assert_eq!(http_get(addr, "/forbidden").unwrap().0, 403);
    assert_eq!(http_get(addr, "/empty").unwrap().0, 503);
    sent += 2;
    // Two requests on one keep-alive connection count one session, two requests.
    let mut s = connect(addr);
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let _ = read_to_end(&mut s);
    drop(s);
    sent += 2;

    let snap = eventually(&h, |s| {
        s.frontend("www").unwrap().sess_cur == 0 && s.frontend("www").unwrap().sess_total == 8
    });
    let fe = snap.frontend("www").unwrap();
    assert_eq!(fe.sess_total, 8, "one session per connection");
    assert_eq!(fe.sess_cur, 0);
    assert_eq!(fe.req_total, sent);
    assert_eq!(fe.responses, [0, 7, 0, 1, 1, 0], "2xx, 403, 503");
    assert_eq!(fe.denied_req, 1);
    assert!(fe.bytes_in > 0 && fe.bytes_out > 0);
    assert_eq!(snap.process.sess_total, 8);
    assert_eq!(snap.process.req_total, sent);

    let web = snap.backend("web").unwrap();
    assert_eq!(web.counters.sess_total, 7, "every forwarded request");
    assert_eq!(web.counters.req_total, 7);
    assert_eq!(web.counters.responses[1], 7);
    assert_eq!(web.counters.sess_cur, 0);
    let web1 = web.server("web1").unwrap();
    assert_eq!(web1.counters.sess_total, 7);
    assert_eq!(web1.counters.responses[1], 7);
    assert!(
        web1.counters.bytes_out < fe.bytes_out,
        "the 403 and 503 pages are not web1's"
    );

    let nosrv = snap.backend("nosrv").unwrap();
    assert_eq!(nosrv.counters.sess_total, 1);
    assert_eq!(nosrv.counters.err_conn, 1);
    assert_eq!(nosrv.counters.responses[4], 1);

    // Histograms are published once a second.
    let snap = eventually(&h, |s| s.backend("web").unwrap().response.len() == 7);
    let web = snap.backend("web").unwrap();
    assert_eq!(web.connect.len(), 7);
    assert_eq!(web.response.len(), 7);
    assert_eq!(web.server("web1").unwrap().response.len(), 7);
    assert!(
        web.response.max() < 5_000_000,
        "microseconds, well under the 5 s timeout"
    );
    assert_eq!(snap.backend("nosrv").unwrap().connect.len(), 0);
    assert_eq!(snap.log_drops, 0);
}
both_drivers!(http_counters, super::known_traffic_gives_exact_counters);

#[test]
fn tcp_tunnel_counts_bytes_each_way() {
    let echo = echo_server();
    let port = free_port();
    let h = run_http(
        2,
        &format!("listen relay\n mode tcp\n bind 127.0.0.1:{port}\n server echo1 {echo}\n"),
        false,
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..3 {
        let mut s = connect(addr);
        assert_eq!(roundtrip(&mut s, b"0123456789"), b"0123456789");
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let _ = read_to_end(&mut s);
    }
    let snap = eventually(&h, |s| {
        s.frontend("relay").unwrap().sess_cur == 0 && s.frontend("relay").unwrap().bytes_in == 30
    });
    let fe = snap.frontend("relay").unwrap();
    assert_eq!((fe.sess_total, fe.bytes_in, fe.bytes_out), (3, 30, 30));
    let be = snap.backend("relay").unwrap();
    assert_eq!((be.counters.sess_total, be.counters.bytes_out), (3, 30));
    assert_eq!(be.server("echo1").unwrap().counters.sess_total, 3);
    assert_eq!(be.counters.sess_cur, 0);
}
