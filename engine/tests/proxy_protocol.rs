//! The PROXY protocol on real sockets: `bind … accept-proxy` takes the client's addresses
//! from the header (for rules, logs, `src`, X-Forwarded-For) and closes connections without
//! a valid one, as HAProxy does; `server … send-proxy[-v2]` starts server connections with
//! the header.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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

// `server … send-proxy[-v2]`: what servers are told, compared with haproxy 2.6.

/// Reads the PROXY header a server connection starts with, byte-exact: version 1's line, or
/// version 2's fixed part and the length it announces.
fn read_proxy_header(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let first = r.fill_buf().ok()?.first().copied()?;
    let mut h = Vec::new();
    if first == b'\r' {
        h.resize(16, 0);
        r.read_exact(&mut h).ok()?;
        let len = usize::from(u16::from_be_bytes([h[14], h[15]]));
        let mut rest = vec![0; len];
        r.read_exact(&mut rest).ok()?;
        h.extend(rest);
    } else {
        r.read_until(b'\n', &mut h).ok()?;
    }
    Some(h)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// An HTTP origin that reads the PROXY header each connection starts with, then answers
/// every request on that connection with `c<N> <header in hex>`, N numbering its
/// connections from 1: which connection served a request, and what it was told.
fn header_reporting_origin() -> SocketAddr {
    let next = Arc::new(AtomicUsize::new(1));
    serve_each(move |s| {
        let id = next.fetch_add(1, Ordering::SeqCst);
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let Some(h) = read_proxy_header(&mut r) else {
            return;
        };
        while read_head(&mut r).is_some() {
            let body = format!("c{id} {}", hex(&h));
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if w.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    })
}

/// A TCP origin that reads the PROXY header, answers `<header in hex>` and closes.
fn header_reporting_tcp_origin() -> SocketAddr {
    serve_each(|s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        if let Some(h) = read_proxy_header(&mut r) {
            let _ = w.write_all(hex(&h).as_bytes());
        }
    })
}

/// The connection number and the header an answer of [`header_reporting_origin`] reports.
fn reported(body: &str) -> (String, Vec<u8>) {
    let (conn, h) = body.split_once(' ').expect("c<N> <hex>");
    (conn.to_string(), unhex(h))
}

fn body_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let (_, body) = text.split_once("\r\n\r\n").expect("a response");
    body.to_string()
}

/// `header` as it would be for a client at `src_port` that reached `dst_port`: the ports of
/// a version 1 line, or of a version 2 IPv4 block without TLVs, replaced.
fn with_ports(header: &[u8], (src_port, dst_port): (u16, u16)) -> Vec<u8> {
    if header.starts_with(b"PROXY TCP") {
        let line = String::from_utf8(header.to_vec()).unwrap();
        let mut words: Vec<&str> = line.trim_end().split(' ').collect();
        let (s, d) = (src_port.to_string(), dst_port.to_string());
        let n = words.len();
        words[n - 2] = &s;
        words[n - 1] = &d;
        return format!("{}\r\n", words.join(" ")).into_bytes();
    }
    assert_eq!(
        &header[12..16],
        [0x21, 0x11, 0, 12],
        "v2 PROXY, TCP over IPv4, no TLV"
    );
    let mut h = header.to_vec();
    h[24..26].copy_from_slice(&src_port.to_be_bytes());
    h[26..28].copy_from_slice(&dst_port.to_be_bytes());
    h
}

/// One `Connection: close` GET to `addr`, first sending `preface` (a PROXY header for an
/// `accept-proxy` listener); returns the body and the client's port.
fn get_over_tcp(addr: SocketAddr, preface: &[u8]) -> (String, u16) {
    let mut c = connect(addr);
    c.write_all(preface).unwrap();
    c.write_all(b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let port = c.local_addr().unwrap().port();
    (body_of(&read_to_end(&mut c).unwrap()), port)
}

fn get_over_unix(path: &std::path::Path) -> String {
    let mut c = std::os::unix::net::UnixStream::connect(path).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    body_of(&out)
}

/// The same clients through haproxy 2.6 and through ringlb, each in front of its own
/// reporting origin: a TCP client, a Unix-socket client, and a client whose connection came
/// with a PROXY header of its own (`accept-proxy`). The server must be told the same.
fn send_proxy_headers_match_haproxy_s(version: &str) {
    let dir = TempDir::new("send-proxy");
    let (theirs_origin, ours_origin) = (header_reporting_origin(), header_reporting_origin());
    let (hport, rport) = (free_port(), free_port());
    let (hproxied, rproxied) = (free_port(), free_port());
    let sock = |port: u16| dir.path().join(format!("fe-{port}.sock"));
    let cfg = |port: u16, proxied: u16, origin: SocketAddr| {
        format!(
            "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n\
             frontend fe\n bind 127.0.0.1:{port}\n bind 127.0.0.1:{proxied} accept-proxy\n\
             bind unix@{}\n default_backend b\n\
             backend b\n server s {origin} {version}\n",
            sock(port).display()
        )
    };
    let hsock = dir.path().join("haproxy.sock");
    let hcfg = dir.write(
        "haproxy.cfg",
        &format!(
            "global\n stats socket {}\n{}",
            hsock.display(),
            cfg(hport, hproxied, theirs_origin)
        ),
    );
    let _haproxy = Haproxy::start(&hcfg, &hsock);
    let _ours = run(
        parse_config(&format!(
            "global\n nbthread 1\n{}",
            cfg(rport, rproxied, ours_origin)
        )),
        false,
    );
    let local = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));

    // A TCP client: its own address and port, and the frontend's.
    let (theirs, tport) = get_over_tcp(local(hport), b"");
    let (ours, oport) = get_over_tcp(local(rport), b"");
    let (theirs, ours) = (reported(&theirs).1, reported(&ours).1);
    assert_eq!(
        ours,
        with_ports(&theirs, (oport, rport)),
        "haproxy sent {theirs:?}"
    );
    assert_eq!(theirs, with_ports(&theirs, (tport, hport)));

    // A Unix-socket client has no address: UNKNOWN (v1), LOCAL (v2).
    let theirs = reported(&get_over_unix(&sock(hport))).1;
    let ours = reported(&get_over_unix(&sock(rport))).1;
    assert_eq!(ours, theirs, "haproxy sent {theirs:?}");

    // A client that came through `accept-proxy`: the addresses its header announced.
    let announced = b"PROXY TCP4 192.0.2.7 198.51.100.1 4000 443\r\n";
    let theirs = reported(&get_over_tcp(local(hproxied), announced).0).1;
    let ours = reported(&get_over_tcp(local(rproxied), announced).0).1;
    assert_eq!(ours, theirs, "haproxy sent {theirs:?}");
    let v6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n";
    let theirs = reported(&get_over_tcp(local(hproxied), v6).0).1;
    let ours = reported(&get_over_tcp(local(rproxied), v6).0).1;
    assert_eq!(ours, theirs, "haproxy sent {theirs:?}");
}

#[test]
fn send_proxy_v1_headers_match_haproxy_s() {
    send_proxy_headers_match_haproxy_s("send-proxy");
}

#[test]
fn send_proxy_v2_headers_match_haproxy_s() {
    send_proxy_headers_match_haproxy_s("send-proxy-v2");
}

/// `mode tcp`: the tunnel to the server starts with the header, from `default-server` too.
fn tcp_tunnels_start_with_the_client_s_header(legacy: bool) {
    let text = "frontend t\n mode tcp\n bind 127.0.0.1:0\n default_backend b\n\
                backend b\n mode tcp\n default-server send-proxy\n server s @o\n";
    let h = run_with_origins(text, &[("o", header_reporting_tcp_origin())], legacy);
    let fe = addr_of(&h, "t");
    let mut c = connect(fe);
    let port = c.local_addr().unwrap().port();
    c.write_all(b"hello").unwrap();
    let got = unhex(&String::from_utf8(read_to_end(&mut c).unwrap()).unwrap());
    let want = format!("PROXY TCP4 127.0.0.1 127.0.0.1 {port} {}\r\n", fe.port());
    assert_eq!(String::from_utf8_lossy(&got), want);
}
both_drivers!(
    tcp_tunnels_start_with_the_client_s_header,
    super::tcp_tunnels_start_with_the_client_s_header
);

/// A server connection that carried a PROXY header names its client: under `http-reuse
/// always` a second client gets a connection of its own, while the first client's next
/// request goes over its own one again. Without `send-proxy` the same sequence shares one
/// connection, so the test tells the two apart.
fn proxied_server_connections_are_never_shared_between_clients(legacy: bool) {
    let text = "frontend fe\n bind 127.0.0.1:0\n default_backend b\n\
                backend b\n http-reuse always\n server s @o send-proxy\n\
                frontend plain\n bind 127.0.0.1:0\n default_backend p\n\
                backend p\n http-reuse always\n server s @q\n";
    let plain_origin = Origin::text("plain");
    let h = run_with_origins(
        text,
        &[("o", header_reporting_origin()), ("q", plain_origin.addr)],
        legacy,
    );
    let fe = addr_of(&h, "fe");
    let ask = |c: &mut Client| {
        let r = c.get("/x");
        assert_eq!(r.status, 200);
        reported(&r.text())
    };
    let mut a = Client::connect(fe);
    let mut b = Client::connect(fe);
    let a_port = a.writer.local_addr().unwrap().port();
    let b_port = b.writer.local_addr().unwrap().port();
    let told = |p: u16| format!("PROXY TCP4 127.0.0.1 127.0.0.1 {p} {}\r\n", fe.port());

    let (a_conn, a_header) = ask(&mut a);
    assert_eq!(String::from_utf8_lossy(&a_header), told(a_port));
    let (b_conn, b_header) = ask(&mut b);
    assert_ne!(
        b_conn, a_conn,
        "client B was given client A's server connection"
    );
    assert_eq!(String::from_utf8_lossy(&b_header), told(b_port));
    // Each client keeps its own connection for its next requests.
    assert_eq!(ask(&mut a).0, a_conn);
    assert_eq!(ask(&mut b).0, b_conn);
    drop(a);
    // A's connection closed with it: a new client gets yet another.
    let mut c = Client::connect(fe);
    let (c_conn, _) = ask(&mut c);
    assert!(c_conn != a_conn && c_conn != b_conn, "{c_conn}");

    // The control: without `send-proxy` the second client reuses the first one's.
    let plain = addr_of(&h, "plain");
    let mut a = Client::connect(plain);
    assert_eq!(a.get("/x").status, 200);
    let mut b = Client::connect(plain);
    assert_eq!(b.get("/x").status, 200);
    assert_eq!(
        plain_origin.connections(),
        1,
        "without send-proxy, one is shared"
    );
}
both_drivers!(
    proxied_server_connections_are_never_shared_between_clients,
    super::proxied_server_connections_are_never_shared_between_clients
);

/// A TCP server handing the PROXY header each connection starts with to the receiver.
fn header_recorder() -> (SocketAddr, std::sync::mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = serve_each(move |s| {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        if let Some(h) = read_proxy_header(&mut BufReader::new(s)) {
            let _ = tx.send(h);
        }
    });
    (addr, rx)
}

/// Health checks start with a header too: `check-send-proxy`, the server's `send-proxy-v2`
/// (the check goes where the traffic goes), and `tcp-check connect send-proxy`. A check
/// has no client: haproxy 2.6 names the check connection's own addresses in version 1 and
/// sends a LOCAL command in version 2, and so must ringlb.
#[test]
fn health_check_headers_match_haproxy_s() {
    let dir = TempDir::new("check-send-proxy");
    let servers = [
        "check check-send-proxy",
        "check send-proxy-v2",
        "check send-proxy-v2 port {port}",
    ];
    let cfg = |addrs: &[SocketAddr]| {
        let mut text = String::from(
            "defaults\n mode tcp\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n",
        );
        for (i, (a, params)) in addrs.iter().zip(servers).enumerate() {
            let params = params.replace("{port}", &a.port().to_string());
            text += &format!("backend b{i}\n server s {a} {params} inter 100ms\n");
        }
        let tc = addrs[3];
        text += &format!(
            "backend tc\n option tcp-check\n tcp-check connect port {} send-proxy\n\
             server s 127.0.0.1:9 check inter 100ms\n",
            tc.port()
        );
        text
    };
    let record = || -> Vec<_> { (0..4).map(|_| header_recorder()).collect() };
    let (theirs, ours) = (record(), record());
    let addrs = |r: &[(SocketAddr, _)]| r.iter().map(|(a, _)| *a).collect::<Vec<_>>();
    let hsock = dir.path().join("haproxy.sock");
    let hcfg = dir.write(
        "haproxy.cfg",
        &format!(
            "global\n stats socket {}\n{}",
            hsock.display(),
            cfg(&addrs(&theirs))
        ),
    );
    let _haproxy = Haproxy::start(&hcfg, &hsock);
    let _ours = run(
        parse_config(&format!("global\n nbthread 1\n{}", cfg(&addrs(&ours)))),
        false,
    );
    let first = |rx: &std::sync::mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(Duration::from_secs(5))
            .expect("a check connected and sent a header")
    };
    // Version 1: `PROXY TCP4 <check's address> <server's address> <ports>`, the check's
    // source port being the one thing that differs.
    let v1 = |h: &[u8], server: SocketAddr| {
        let line = String::from_utf8_lossy(h).into_owned();
        let words: Vec<&str> = line.trim_end().split(' ').collect();
        assert_eq!(words.len(), 6, "{line:?}");
        assert_eq!(
            words[..4],
            ["PROXY", "TCP4", "127.0.0.1", "127.0.0.1"],
            "{line:?}"
        );
        assert_eq!(words[5], server.port().to_string(), "{line:?}");
        assert!(line.ends_with("\r\n"), "{line:?}");
        words[..4].join(" ")
    };
    for i in [0, 3] {
        let (t, o) = (first(&theirs[i].1), first(&ours[i].1));
        assert_eq!(v1(&o, ours[i].0), v1(&t, theirs[i].0), "haproxy sent {t:?}");
    }
    let (t, o) = (first(&theirs[1].1), first(&ours[1].1));
    assert_eq!(o, t, "haproxy sent {t:?}");
    assert_eq!(o, b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00");
    // A check with a port of its own goes elsewhere than the traffic: no header, from
    // either (the recorder reads nothing that looks like one).
    let none =
        |rx: &std::sync::mpsc::Receiver<Vec<u8>>| rx.recv_timeout(Duration::from_millis(500)).ok();
    assert_eq!(none(&theirs[2].1), None);
    assert_eq!(none(&ours[2].1), None);
}

/// With `ssl`, the header goes first, in clear, and the TLS handshake follows it: haproxy
/// 2.6 as the server (`accept-proxy ssl`) reads it and reports the client it names.
fn the_header_precedes_the_tls_handshake_of_an_ssl_server(legacy: bool) {
    let pki = Pki::new();
    let pem = pki.server("origin", &["origin.test"]);
    let dir = TempDir::new("send-proxy-ssl");
    let port = free_port();
    let sock = dir.path().join("haproxy.sock");
    let cfg = dir.write(
        "haproxy.cfg",
        &format!(
            "global\n stats socket {}\ndefaults\n mode http\n timeout client 5s\n timeout server 5s\n\
             timeout connect 1s\nfrontend tls\n bind 127.0.0.1:{port} accept-proxy ssl crt {}\n\
             http-request return status 200 content-type text/plain lf-string \"src=%[src]:%[src_port] dst=%[dst_port]\"\n",
            sock.display(),
            pem.display()
        ),
    );
    let _server = Haproxy::start(&cfg, &sock);
    let text = format!(
        "frontend fe\n bind 127.0.0.1:0\n default_backend b\n\
         backend b\n server s 127.0.0.1:{port} ssl verify none send-proxy-v2\n"
    );
    let h = run_with_origins(&text, &[], legacy);
    let fe = addr_of(&h, "fe");
    let mut c = Client::connect(fe);
    let me = c.writer.local_addr().unwrap().port();
    let r = c.get("/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), format!("src=127.0.0.1:{me} dst={}", fe.port()));
}
both_drivers!(
    the_header_precedes_the_tls_handshake_of_an_ssl_server,
    super::the_header_precedes_the_tls_handshake_of_an_ssl_server
);
