//! The PROXY protocol on real sockets: `bind … accept-proxy` takes the client's addresses
//! from the header (for rules, logs, `src`, X-Forwarded-For) and closes connections without
//! a valid one, as HAProxy does; `server … send-proxy[-v2]` starts server connections with
//! the header.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::Duration;

use ringlb::boot::run::RunHandle;
use support::*;

const V2_SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// A version 2 header with the PROXY command for IPv4 `10.0.0.1:1234` → `10.0.0.2:80`.
fn v2_ipv4() -> Vec<u8> {
    let mut h = V2_SIG.to_vec();
    h.extend([
        0x21, 0x11, 0, 12, 10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0xd2, 0, 80,
    ]);
    h
}

/// A version 2 header with the PROXY command for IPv6 `[2001:db8::7]:4000` → `[2001:db8::1]:443`.
fn v2_ipv6() -> Vec<u8> {
    let mut h = V2_SIG.to_vec();
    h.extend([0x21, 0x21, 0, 36]);
    let a: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
    let b: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
    h.extend(a.octets());
    h.extend(b.octets());
    h.extend(4000u16.to_be_bytes());
    h.extend(443u16.to_be_bytes());
    h
}

/// A version 2 LOCAL header (a health check's): the connection's own addresses stay.
fn v2_local() -> Vec<u8> {
    let mut h = V2_SIG.to_vec();
    h.extend([0x20, 0x00, 0, 0]);
    h
}

/// An origin answering with the X-Forwarded-For and X-Original-To it received.
fn reporting_origin() -> SocketAddr {
    Origin::serve(|req| {
        let xff = req.header("x-forwarded-for").unwrap_or("-");
        let xot = req.header("x-original-to").unwrap_or("-");
        Reply::text(format!("xff={xff} xot={xot}"))
    })
    .addr
}

/// An HTTP frontend with `accept-proxy`, `option forwardfor` and `option originalto`,
/// logging to `log`, in front of `origin`; `extra` goes into the frontend.
fn http_proxy(origin: SocketAddr, log: SocketAddr, extra: &str, legacy: bool) -> RunHandle {
    let text = format!(
        "frontend fe\n bind 127.0.0.1:{} accept-proxy\n log {log} local0\n option httplog\n\
         option forwardfor\n option originalto\n{extra} default_backend b\n\
         backend b\n server s @o\n",
        free_port()
    );
    run_with_origins(&text, &[("o", origin)], legacy)
}

/// Sends `bytes` then a `Connection: close` request, returns everything the proxy answered.
fn exchange(addr: SocketAddr, header: &[u8]) -> String {
    let mut c = connect(addr);
    c.write_all(header).unwrap();
    c.write_all(b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    String::from_utf8_lossy(&read_to_end(&mut c).unwrap_or_default()).into_owned()
}

fn http_requests_carry_the_addresses_of_the_header(legacy: bool) {
    let log = Receiver::new();
    let h = http_proxy(reporting_origin(), log.addr(), "", legacy);
    let addr = addr_of(&h, "fe");

    let got = exchange(addr, b"PROXY TCP4 10.1.2.3 10.9.9.9 5555 80\r\n");
    assert!(got.ends_with("xff=10.1.2.3 xot=10.9.9.9"), "{got}");
    let line = log.line();
    assert!(line.contains("10.1.2.3:5555 ["), "{line}");
    assert!(line.contains(" fe b/s "), "{line}");

    let got = exchange(addr, &v2_ipv6());
    assert!(got.ends_with("xff=2001:db8::7 xot=2001:db8::1"), "{got}");
    assert!(log.line().contains("2001:db8::7:4000 ["));

    let got = exchange(addr, &v2_ipv4());
    assert!(got.ends_with("xff=10.0.0.1 xot=10.0.0.2"), "{got}");
    log.line();

    // LOCAL and UNKNOWN keep the real addresses.
    let got = exchange(addr, &v2_local());
    assert!(got.ends_with("xff=127.0.0.1 xot=127.0.0.1"), "{got}");
    log.line();
    let got = exchange(addr, b"PROXY UNKNOWN\r\n");
    assert!(got.ends_with("xff=127.0.0.1 xot=127.0.0.1"), "{got}");
    log.line();

    // A keep-alive connection keeps the header's addresses across requests, also after it
    // was parked idle between them.
    let mut c = Client::connect(addr);
    c.send(b"PROXY TCP4 192.0.2.9 192.0.2.1 4444 80\r\n");
    for _ in 0..2 {
        let r = c.get("/k");
        assert_eq!(r.text(), "xff=192.0.2.9 xot=192.0.2.1");
        thread::sleep(Duration::from_millis(400));
    }
}
both_drivers!(
    http_requests_carry_the_addresses_of_the_header,
    super::http_requests_carry_the_addresses_of_the_header
);

fn connections_without_a_valid_header_are_closed_and_logged(legacy: bool) {
    let log = Receiver::new();
    let origin = Origin::text("should not be reached");
    let h = http_proxy(origin.addr, log.addr(), "", legacy);
    let addr = addr_of(&h, "fe");
    for (header, words) in [
        (
            &b""[..],
            "Received something which does not look like a PROXY protocol header",
        ),
        (
            b"PROXY TCP4 10.1.2.3\r\n",
            "Received an invalid PROXY protocol header",
        ),
        (
            b"PROXY TCP4 10.1.2.3 10.9.9.9 5555 99999\r\n",
            "Received an invalid PROXY protocol header",
        ),
        (
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff",
            "Received an invalid PROXY protocol header",
        ),
    ] {
        let got = exchange(addr, header);
        assert_eq!(got, "", "closed without an answer after {header:?}");
        let line = log.line();
        assert!(line.contains(&format!("] fe/1: {words}")), "{line}");
        assert!(line.contains("127.0.0.1:"), "{line}");
    }
    // A header cut short by the client's close.
    let mut c = connect(addr);
    c.write_all(b"PROXY TCP4 10.1").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut c).unwrap_or_default(), b"");
    let line = log.line();
    assert!(
        line.contains("fe/1: Truncated PROXY protocol header received"),
        "{line}"
    );
    // A client that connects and closes at once.
    drop(connect(addr));
    let line = log.line();
    assert!(
        line.contains("fe/1: Connection closed while waiting for PROXY protocol header"),
        "{line}"
    );
    assert_eq!(origin.connections(), 0);
}
both_drivers!(
    connections_without_a_valid_header_are_closed_and_logged,
    super::connections_without_a_valid_header_are_closed_and_logged
);

fn slow_and_silent_senders_are_bounded_by_timeout_client(legacy: bool) {
    let log = Receiver::new();
    let h = http_proxy(
        reporting_origin(),
        log.addr(),
        " timeout client 600ms\n",
        legacy,
    );
    let addr = addr_of(&h, "fe");
    // A header in three pieces, within the timeout, is put together.
    let mut c = connect(addr);
    for piece in [&b"PROXY TCP4 10.1"[..], b".2.3 10.9.9.9 55", b"55 80\r\n"] {
        c.write_all(piece).unwrap();
        thread::sleep(Duration::from_millis(100));
    }
    c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let got = String::from_utf8_lossy(&read_to_end(&mut c).unwrap()).into_owned();
    assert!(got.ends_with("xff=10.1.2.3 xot=10.9.9.9"), "{got}");
    log.line();
    // Nothing at all: closed once `timeout client` passes.
    let mut c = connect(addr);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
    assert!(started.elapsed() >= Duration::from_millis(500));
    let line = log.line();
    assert!(
        line.contains("fe/1: Timeout while waiting for PROXY protocol header"),
        "{line}"
    );
}
both_drivers!(
    slow_and_silent_senders_are_bounded_by_timeout_client,
    super::slow_and_silent_senders_are_bounded_by_timeout_client
);

fn connection_rules_see_the_real_address_and_request_rules_the_header_s(legacy: bool) {
    let log = Receiver::new();
    let rules = " tcp-request connection reject if { src 10.1.2.3 }\n\
                 http-request deny if { src 10.1.2.3 }\n";
    let h = http_proxy(reporting_origin(), log.addr(), rules, legacy);
    let addr = addr_of(&h, "fe");
    let got = exchange(addr, b"PROXY TCP4 10.1.2.3 10.9.9.9 5555 80\r\n");
    assert!(got.starts_with("HTTP/1.1 403"), "{got}");
    let got = exchange(addr, b"PROXY TCP4 10.1.2.4 10.9.9.9 5555 80\r\n");
    assert!(got.ends_with("xff=10.1.2.4 xot=10.9.9.9"), "{got}");
}
both_drivers!(
    connection_rules_see_the_real_address_and_request_rules_the_header_s,
    super::connection_rules_see_the_real_address_and_request_rules_the_header_s
);

fn tcp_mode_logs_the_header_s_client_and_forwards_what_follows(legacy: bool) {
    let log = Receiver::new();
    let text = format!(
        "frontend t\n mode tcp\n bind 127.0.0.1:{} accept-proxy\n log {} local0\n option tcplog\n\
         default_backend b\nbackend b\n mode tcp\n server s @e\n",
        free_port(),
        log.addr()
    );
    let h = run_with_origins(&text, &[("e", echo_server())], legacy);
    let mut c = connect(addr_of(&h, "t"));
    let mut sent = v2_ipv4();
    sent.extend(b"hello after the header");
    c.write_all(&sent).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut c).unwrap(), b"hello after the header");
    let line = log.line();
    assert!(line.contains("10.0.0.1:1234 ["), "{line}");
    assert!(line.contains(" t b/s "), "{line}");
    // No header: closed, nothing reaches the server.
    let mut c = connect(addr_of(&h, "t"));
    c.write_all(b"hello without one").unwrap();
    assert_eq!(read_to_end(&mut c).unwrap_or_default(), b"");
    let line = log.line();
    assert!(
        line.contains("] t/1: Received something which does not look like a PROXY protocol header"),
        "{line}"
    );
}
both_drivers!(
    tcp_mode_logs_the_header_s_client_and_forwards_what_follows,
    super::tcp_mode_logs_the_header_s_client_and_forwards_what_follows
);
