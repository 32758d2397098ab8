//! `tcp-check` sequences and the protocol checks against tiny speakers on loopback (Redis,
//! SMTP, MySQL, PostgreSQL, LDAP), each answering good and bad replies.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringlb_checks::plan::probe_kind;
use ringlb_checks::probe::{self, Target};
use ringlb_checks::{CheckResult, CheckStatus};

/// A server on loopback running `script` for every connection, on its own thread.
fn serve(script: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let script = Arc::new(script);
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let s = script.clone();
            std::thread::spawn(move || s(c));
        }
    });
    addr
}

/// Reads until `end` was seen (or the peer closed); returns everything read.
fn read_until(c: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    while !got.windows(end.len()).any(|w| w == end) {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

fn read_n(c: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = vec![0; n];
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    c.read_exact(&mut got).unwrap();
    got
}

/// Runs the check the backend section `body` configures against `addr`.
fn check(body: &str, addr: SocketAddr) -> CheckResult {
    let text = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         backend b\n{body} server s {addr} check\n"
    );
    let loaded = ringlb_config::parse_str(&text, Path::new("t.cfg"));
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("{:#?}", loaded.diagnostics));
    let kind = probe_kind(config.proxy("b").unwrap()).unwrap();
    let target = Target::plain(addr, Duration::from_millis(500), Duration::from_millis(300));
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    rt.block_on(probe::run(&kind, &target))
}

fn info(r: &CheckResult) -> &str {
    r.info.as_deref().unwrap_or("")
}

const PING_PONG: &str =
    " option tcp-check\n tcp-check send PING\\r\\n\n tcp-check expect string +PONG\n";

/// A Redis speaker answering every command line with `answer`, keeping what it was sent.
fn redis(answer: &'static [u8], seen: Arc<Mutex<Vec<u8>>>) -> SocketAddr {
    serve(move |mut c| {
        let got = read_until(&mut c, b"\r\n");
        let got = if got.starts_with(b"*") {
            // The array form ends after its last bulk string.
            let mut all = got;
            while all.iter().filter(|&&b| b == b'\n').count() < 3 {
                let more = read_until(&mut c, b"\r\n");
                if more.is_empty() {
                    break;
                }
                all.extend_from_slice(&more);
            }
            all
        } else {
            got
        };
        seen.lock().unwrap().extend_from_slice(&got);
        let _ = c.write_all(answer);
    })
}

#[test]
fn send_expect_passes_on_pong_and_names_the_step_on_an_error_reply() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let r = check(PING_PONG, redis(b"+PONG\r\n", seen.clone()));
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
    assert_eq!(info(&r), "(tcp-check)");
    assert_eq!(&*seen.lock().unwrap(), b"PING\r\n");

    let r = check(PING_PONG, redis(b"-ERR unknown\r\n", Default::default()));
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");
    assert_eq!(info(&r), "TCPCHK did not match content '+PONG' at step 2");
}

#[test]
fn expect_waits_for_the_rest_of_a_split_answer() {
    let addr = serve(|mut c| {
        read_until(&mut c, b"\r\n");
        c.write_all(b"+PO").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        c.write_all(b"NG\r\n").unwrap();
    });
    let r = check(PING_PONG, addr);
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
}

#[test]
fn a_silent_server_times_out_at_the_expect_step() {
    let addr = serve(|mut c| {
        read_until(&mut c, b"\r\n");
        std::thread::sleep(Duration::from_secs(1));
    });
    let r = check(PING_PONG, addr);
    assert_eq!(r.status, CheckStatus::L7Timeout, "{r:?}");
    assert_eq!(info(&r), "at step 2 of tcp-check (expect string '+PONG')");
    let r = check(
        " option tcp-check\n tcp-check send PING\\r\\n\n tcp-check expect tout-status L4TOUT string +PONG\n",
        addr,
    );
    assert_eq!(r.status, CheckStatus::L4Timeout, "{r:?}");
}

#[test]
fn an_answer_that_closes_empty_is_an_empty_response() {
    let addr = serve(|mut c| {
        read_until(&mut c, b"\r\n");
    });
    let r = check(PING_PONG, addr);
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");
    assert_eq!(info(&r), "TCPCHK got an empty response at step 2");
}

#[test]
fn negation_comments_statuses_and_on_error_shape_the_result() {
    let addr = redis(b"-ERR loading\r\n", Default::default());
    let r = check(
        " option tcp-check\n tcp-check send PING\\r\\n\n tcp-check comment ping\\ phase\n\
         tcp-check expect ! rstring ^-ERR\n",
        addr,
    );
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");
    assert_eq!(
        info(&r),
        "TCPCHK matched unwanted content (regex) at step 3 comment: ping phase"
    );
    let r = check(
        " option tcp-check\n tcp-check send PING\\r\\n\n\
         tcp-check expect error-status L7STS on-error \"not ready\" status-code int(503) binary 2b504f4e47\n",
        addr,
    );
    assert_eq!(r.status, CheckStatus::L7Sts, "{r:?}");
    assert_eq!(info(&r), "not ready");
    assert_eq!(r.code, Some(503));
    let r = check(
        " option tcp-check\n tcp-check send PING\\r\\n\n\
         tcp-check expect ok-status L6OK on-success ready rbinary ^2D455252\n",
        addr,
    );
    assert_eq!(r.status, CheckStatus::L6Ok, "{r:?}");
    assert_eq!(info(&r), "ready");
}

#[test]
fn connect_rules_open_their_own_ports_and_report_where_they_failed() {
    let banner = serve(|mut c| {
        let _ = c.write_all(b"+OK POP3 ready\r\n");
        std::thread::sleep(Duration::from_millis(100));
    });
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The server line names a closed port; both rules connect where they say.
    let body = format!(
        " option tcp-check\n tcp-check connect port {}\n tcp-check expect string +OK\\ POP3\n\
         tcp-check connect port {} comment second\n",
        banner.port(),
        closed.port()
    );
    let r = check(&body, closed);
    assert_eq!(r.status, CheckStatus::L4Con, "{r:?}");
    assert_eq!(
        info(&r),
        format!(
            "Connection refused at step 3 of tcp-check (connect port {}) comment: 'second'",
            closed.port()
        )
    );
    let r = check(PING_PONG, closed);
    assert_eq!(r.status, CheckStatus::L4Con);
    assert_eq!(
        info(&r),
        "Connection refused at initial connection step of tcp-check"
    );
    let body = format!(
        " option tcp-check\n tcp-check connect port {}\n tcp-check expect string +OK\n",
        banner.port()
    );
    let r = check(&body, closed);
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
}

#[test]
fn redis_check_sends_ping_and_logs_the_servers_error() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let r = check(" option redis-check\n", redis(b"+PONG\r\n", seen.clone()));
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
    assert_eq!(info(&r), "Redis server is ok");
    assert_eq!(&*seen.lock().unwrap(), b"*1\r\n$4\r\nPING\r\n");
    let r = check(
        " option redis-check\n",
        redis(b"-LOADING Redis is loading\r\n", Default::default()),
    );
    assert_eq!(r.status, CheckStatus::L7Sts, "{r:?}");
    assert_eq!(info(&r), "-LOADING Redis is loading");
}

/// An SMTP speaker: `greeting`, then `hello_reply` to HELO/EHLO, then 221 to QUIT. A 5xx
/// answer to HELO closes, since a reply that does not match keeps the check reading.
fn smtp(greeting: &'static str, hello_reply: &'static str, seen: Arc<Mutex<String>>) -> SocketAddr {
    serve(move |mut c| {
        c.write_all(greeting.as_bytes()).unwrap();
        let hello = read_until(&mut c, b"\r\n");
        if hello.is_empty() {
            return;
        }
        seen.lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(&hello));
        c.write_all(hello_reply.as_bytes()).unwrap();
        // A refusal ends the session: the check sees the close.
        if hello_reply.starts_with('5') {
            return;
        }
        if read_until(&mut c, b"\r\n") == b"QUIT\r\n" {
            let _ = c.write_all(b"221 2.0.0 Bye\r\n");
        }
    })
}

#[test]
fn smtpchk_needs_2xx_for_greeting_hello_and_quit() {
    let seen = Arc::new(Mutex::new(String::new()));
    let addr = smtp(
        "220 mx ESMTP\r\n",
        "250-mx hello\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
        seen.clone(),
    );
    let r = check(" option smtpchk EHLO checker.example\n", addr);
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
    assert_eq!(r.code, Some(221));
    assert_eq!(&*seen.lock().unwrap(), "EHLO checker.example\r\n");

    let r = check(
        " option smtpchk\n",
        smtp("554 5.3.2 not accepting mail\r\n", "", Default::default()),
    );
    assert_eq!(r.status, CheckStatus::L7Sts, "{r:?}");
    assert_eq!(r.code, Some(554));
    assert_eq!(info(&r), "5.3.2 not accepting mail");

    let seen = Arc::new(Mutex::new(String::new()));
    let r = check(
        " option smtpchk\n",
        smtp("220 mx\r\n", "501 bad domain\r\n", seen.clone()),
    );
    assert_eq!(r.status, CheckStatus::L7Sts, "{r:?}");
    assert_eq!(r.code, Some(501));
    assert_eq!(&*seen.lock().unwrap(), "HELO localhost\r\n");

    let r = check(
        " option smtpchk\n",
        smtp("SSH-2.0-OpenSSH\r\n", "", Default::default()),
    );
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");
}

fn mysql_packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(payload);
    p
}

/// A MySQL speaker: the initial handshake, then `reply` to whatever the client sends.
fn mysql(reply: Option<Vec<u8>>, seen: Arc<Mutex<Vec<u8>>>) -> SocketAddr {
    serve(move |mut c| {
        let mut hs = vec![10];
        hs.extend_from_slice(b"8.0.36-test\0");
        hs.extend_from_slice(&[1, 0, 0, 0]);
        hs.extend_from_slice(&[b'x'; 8]);
        hs.push(0);
        c.write_all(&mysql_packet(0, &hs)).unwrap();
        if let Some(reply) = &reply {
            let head = read_n(&mut c, 4);
            let len = usize::from(head[0]) | usize::from(head[1]) << 8;
            let mut all = head.clone();
            all.extend_from_slice(&read_n(&mut c, len));
            all.extend_from_slice(&read_n(&mut c, 5)); // COM_QUIT
            seen.lock().unwrap().extend_from_slice(&all);
            c.write_all(reply).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    })
}

#[test]
fn mysql_check_reads_the_handshake_and_fails_on_an_error_packet() {
    let r = check(" option mysql-check\n", mysql(None, Default::default()));
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
    assert_eq!(info(&r), "8.0.36-test");

    let seen = Arc::new(Mutex::new(Vec::new()));
    let ok = mysql_packet(2, &[0, 0, 0, 2, 0, 0, 0]);
    let r = check(
        " option mysql-check user hc\n",
        mysql(Some(ok), seen.clone()),
    );
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent[3], 1, "client auth is packet 1");
    assert_eq!(
        usize::from(sent[0]),
        2 + 34,
        "post-4.1 packet length for 'hc'"
    );
    assert_eq!(&sent[4 + 32..4 + 35], b"hc\0");
    assert_eq!(&sent[sent.len() - 5..], &[1, 0, 0, 0, 1], "COM_QUIT");

    let mut err = vec![0xff];
    err.extend_from_slice(&1045u16.to_le_bytes());
    err.extend_from_slice(b"#28000Access denied for user 'hc'");
    let r = check(
        " option mysql-check user hc\n",
        mysql(Some(mysql_packet(2, &err)), Default::default()),
    );
    assert_eq!(r.status, CheckStatus::L7Sts, "{r:?}");
    assert_eq!(r.code, Some(1045));
    assert_eq!(info(&r), "#28000Access denied for user 'hc'");
}

/// A PostgreSQL speaker answering the StartupMessage with `reply`.
fn pgsql(reply: Vec<u8>, seen: Arc<Mutex<Vec<u8>>>) -> SocketAddr {
    serve(move |mut c| {
        let head = read_n(&mut c, 4);
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let mut all = head.clone();
        all.extend_from_slice(&read_n(&mut c, len - 4));
        seen.lock().unwrap().extend_from_slice(&all);
        c.write_all(&reply).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    })
}

#[test]
fn pgsql_check_passes_on_an_authentication_request_and_fails_on_an_error() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let md5 = [b'R', 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4].to_vec();
    let r = check(" option pgsql-check user pg\n", pgsql(md5, seen.clone()));
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
    assert_eq!(info(&r), "PostgreSQL server is ok");
    let mut want = 17u32.to_be_bytes().to_vec();
    want.extend_from_slice(b"\0\x03\0\0user\0pg\0\0");
    assert_eq!(&*seen.lock().unwrap(), &want);

    let mut e = vec![b'E', 0, 0, 0, 0];
    e.extend_from_slice(b"SFATAL\0Mno pg_hba.conf entry\0\0");
    let r = check(
        " option pgsql-check user pg\n",
        pgsql(e, Default::default()),
    );
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");
    assert_eq!(info(&r), "FATAL");
}

/// An LDAP speaker answering the bind with resultCode `code`.
fn ldap(code: u8, seen: Arc<Mutex<Vec<u8>>>) -> SocketAddr {
    serve(move |mut c| {
        let got = read_n(&mut c, 14);
        seen.lock().unwrap().extend_from_slice(&got);
        let reply = [
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, code, 0x04, 0x00, 0x04, 0x00,
        ];
        c.write_all(&reply).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    })
}

#[test]
fn ldap_check_binds_anonymously_and_reads_the_result_code() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let r = check(" option ldap-check\n", ldap(0, seen.clone()));
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
    assert_eq!(info(&r), "Success");
    assert_eq!(&*seen.lock().unwrap(), probe::ldap::ANONYMOUS_BIND);

    let r = check(" option ldap-check\n", ldap(49, Default::default()));
    assert_eq!(r.status, CheckStatus::L7Sts, "{r:?}");
    assert_eq!(r.code, Some(49));

    let not_ldap = serve(|mut c| {
        read_n(&mut c, 14);
        c.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n").unwrap();
    });
    let r = check(" option ldap-check\n", not_ldap);
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");
    assert_eq!(info(&r), "Not LDAPv3 protocol");
}

#[test]
fn a_check_leaves_from_the_servers_source_address() {
    let peers = Arc::new(Mutex::new(Vec::new()));
    let seen = peers.clone();
    let addr = serve(move |c| seen.lock().unwrap().push(c.peer_addr().unwrap().ip()));
    let target = Target {
        source: Some("127.0.0.2:0".parse().unwrap()),
        ..Target::plain(addr, Duration::from_millis(500), Duration::from_millis(300))
    };
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    let r = rt.block_on(probe::run(&probe::ProbeKind::Tcp, &target));
    assert_eq!(r.status, CheckStatus::L4Ok, "{r:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while peers.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        peers.lock().unwrap().as_slice(),
        &["127.0.0.2".parse::<std::net::IpAddr>().unwrap()]
    );
}
