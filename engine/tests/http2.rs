//! HTTP/2 on the client side: h2c with prior knowledge (the preface on a clear listener,
//! `bind … proto h2`), h2 through TLS ALPN, with real clients (curl, nghttp, h2load); every
//! stream through the same rules, backends and logs as an HTTP/1 request; and hostile frame
//! sequences (rapid reset, stream-id misuse, CONTINUATION floods, HPACK bombs) ending the
//! connection before they cost the backends anything.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use ringlb::boot::run::RunHandle;
use support::*;

/// Starts the engine with a syslog receiver and `text` after `defaults` (`@ORIGIN` is the
/// server's address, `@PORT` the frontend's port, `@PKI` the certificates' folder).
fn start(
    text: &str,
    origin: SocketAddr,
    pki: Option<&Pki>,
    legacy: bool,
) -> (RunHandle, SocketAddr, Receiver) {
    let pki = pki.map(|p| p.dir.path().display().to_string());
    let subs = [
        ("@ORIGIN", origin.to_string()),
        ("@PKI", pki.unwrap_or_default()),
    ];
    run_logged(text, &subs, legacy)
}

/// curl over h2c with prior knowledge: the exit status, the HTTP version it spoke, and what
/// it printed (`-w` output last).
fn curl_h2c(url: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--http2-prior-knowledge",
            "-w",
            "\n%{http_version} %{http_code}",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl is installed (scripts/deps.sh)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn h2_requests_reach_the_server_as_http11_through_the_same_rules(legacy: bool) {
    let origin = Origin::named("app");
    let (h, addr, rx) = start(
        "frontend www\n bind 127.0.0.1:@PORT\n http-request deny if { path_beg /admin }\n \
         http-request set-header X-Version %[req.ver]\n default_backend app\n\
         backend app\n server s1 @ORIGIN\n",
        origin.addr,
        None,
        legacy,
    );
    // The preface on a clear listener switches it to HTTP/2.
    let (code, out) = curl_h2c(
        &format!("http://{addr}/hello?x=1"),
        &[
            "-H",
            "Cookie: a=1",
            "-H",
            "Cookie: b=2",
            "-H",
            "X-Test: yes",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("\n2 200"), "{out}");
    // What the server received: an HTTP/1.1 head, Host from :authority, cookies joined.
    assert!(out.starts_with("app\nGET /hello?x=1 HTTP/1.1\r\n"), "{out}");
    let lower = out.to_ascii_lowercase();
    assert!(lower.contains(&format!("host: {addr}\r\n")), "{out}");
    assert!(lower.contains("cookie: a=1; b=2\r\n"), "{out}");
    assert!(lower.contains("x-test: yes\r\n"), "{out}");
    assert!(lower.contains("x-version: 2.0\r\n"), "{out}");
    let line = rx.line();
    // haproxy logs an HTTP/2 request's target in absolute form.
    assert!(
        line.contains(&format!("\"GET http://{addr}/hello?x=1 HTTP/2.0\"")),
        "{line}"
    );
    assert!(line.contains("www app/s1 "), "{line}");
    // The same rules deny.
    let (code, out) = curl_h2c(&format!("http://{addr}/admin"), &[]);
    assert_eq!(code, 0);
    assert!(out.ends_with("\n2 403"), "{out}");
    let line = rx.line();
    assert!(line.contains(" 403 ") && line.contains("PR--"), "{line}");
    // HTTP/1.1 still works on the same listener.
    let r = get(addr, "/plain", "h1.test");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("GET /plain HTTP/1.1"));
    let fe = h
        .stats()
        .frontends
        .into_iter()
        .find(|(n, _)| n == "www")
        .unwrap()
        .1;
    assert_eq!(fe.req_total, 3);
    assert_eq!(fe.h2_conns, 2);
    assert_eq!(fe.h2_errors, 0);
}
both_drivers!(
    h2_requests_reach_the_server_as_http11_through_the_same_rules,
    super::h2_requests_reach_the_server_as_http11_through_the_same_rules
);

fn bodies_cross_both_ways(legacy: bool) {
    let origin = Origin::start();
    let (_h, addr, _rx) = start(
        "frontend www\n bind 127.0.0.1:@PORT proto h2\n default_backend app\nbackend app\n server s1 @ORIGIN\n",
        origin.addr,
        None,
        legacy,
    );
    let dir = TempDir::new("h2body");
    let body = pattern(300_000);
    let upload = dir.path().join("upload.bin");
    std::fs::write(&upload, &body).unwrap();
    // A body of known length, and one of unknown length (sent chunked to the server).
    for extra in [
        &["--data-binary"][..],
        &["-H", "Transfer-Encoding:", "-T"][..],
    ] {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--http2-prior-knowledge", "-o"])
            .arg(dir.path().join("echo.bin"))
            .args(extra)
            .arg(if extra[0] == "--data-binary" {
                format!("@{}", upload.display())
            } else {
                upload.display().to_string()
            })
            .arg(format!("http://{addr}/echo"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let echoed = std::fs::read(dir.path().join("echo.bin")).unwrap();
        assert!(
            echoed == body,
            "echoed {} bytes of {}",
            echoed.len(),
            body.len()
        );
    }
    // A large chunked response, and a large one of known length.
    for path in ["/chunked", "/big/1000000"] {
        let (code, out) = curl_h2c(&format!("http://{addr}{path}"), &["-o", "/dev/null"]);
        assert_eq!(code, 0, "{path}: {out}");
        assert!(out.ends_with("2 200"), "{path}: {out}");
    }
    let out = Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge"])
        .arg(format!("http://{addr}/big/1000000"))
        .output()
        .unwrap();
    assert!(
        out.stdout == pattern(1_000_000),
        "got {} bytes",
        out.stdout.len()
    );
}
both_drivers!(bodies_cross_both_ways, super::bodies_cross_both_ways);

/// `proto h1` keeps a clear listener on HTTP/1.1: the preface is a bad request.
fn proto_h1_refuses_the_preface(legacy: bool) {
    let origin = Origin::named("app");
    let (_h, addr, _rx) = start(
        "frontend www\n bind 127.0.0.1:@PORT proto h1\n default_backend app\nbackend app\n server s1 @ORIGIN\n",
        origin.addr,
        None,
        legacy,
    );
    let r = request(addr, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(r.status, 400);
}
both_drivers!(
    proto_h1_refuses_the_preface,
    super::proto_h1_refuses_the_preface
);

fn h2_over_tls_is_negotiated_by_alpn(legacy: bool) {
    let pki = Pki::new();
    pki.server("site", &["site.test"]);
    let origin = Origin::named("app");
    let (_h, addr, rx) = start(
        "frontend www\n bind 127.0.0.1:@PORT ssl crt @PKI/site.pem alpn h2,http/1.1\n \
         http-request set-header X-SNI %[ssl_fc_sni]\n http-request set-header X-ALPN %[ssl_fc_alpn]\n \
         default_backend app\nbackend app\n server s1 @ORIGIN\n",
        origin.addr,
        Some(&pki),
        legacy,
    );
    let ca = pki.ca().display().to_string();
    let (code, out) = curl(
        addr,
        "site.test",
        &["/tls"],
        &["--cacert", &ca, "--http2", "-w", "\n%{http_version}"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("\n2"), "{out}");
    let lower = out.to_ascii_lowercase();
    assert!(lower.contains("x-sni: site.test\r\n"), "{out}");
    assert!(lower.contains("x-alpn: h2\r\n"), "{out}");
    let line = rx.line();
    assert!(
        line.contains(&format!(
            "\"GET https://site.test:{}/tls HTTP/2.0\"",
            addr.port()
        )),
        "{line}"
    );
    // A client asking for http/1.1 gets it.
    let (code, out) = curl(
        addr,
        "site.test",
        &["/tls"],
        &["--cacert", &ca, "--http1.1", "-w", "\n%{http_version}"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("\n1.1"), "{out}");
}
both_drivers!(
    h2_over_tls_is_negotiated_by_alpn,
    super::h2_over_tls_is_negotiated_by_alpn
);

/// Many concurrent streams on few connections (h2load, nghttp): every one answered.
fn concurrent_streams_are_all_answered(legacy: bool) {
    let origin = Origin::text("ok\n");
    let (h, addr, _rx) = start(
        "frontend www\n bind 127.0.0.1:@PORT\n default_backend app\nbackend app\n server s1 @ORIGIN\n",
        origin.addr,
        None,
        legacy,
    );
    let out = Command::new("h2load")
        .args(["-n", "2000", "-c", "4", "-m", "20"])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("h2load is installed (scripts/deps.sh: nghttp2-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2000 succeeded, 0 failed, 0 errored"),
        "{text}"
    );
    assert!(text.contains("2000 2xx"), "{text}");
    let out = Command::new("nghttp")
        .args(["-n", "--stat"])
        .args((0..10).map(|i| format!("http://{addr}/n{i}")))
        .output()
        .expect("nghttp is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fe = h
        .stats()
        .frontends
        .into_iter()
        .find(|(n, _)| n == "www")
        .unwrap()
        .1;
    assert_eq!(fe.req_total, 2010);
    assert_eq!(fe.responses[1], 2010);
}
both_drivers!(
    concurrent_streams_are_all_answered,
    super::concurrent_streams_are_all_answered
);

// Hostile peers, with frames written by hand (RFC 9113 §4.1, HPACK from the static table).

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// `GET /` for `localhost`: `:method GET`, `:scheme http`, `:path /` from the static table,
/// `:authority` a literal.
fn get_block() -> Vec<u8> {
    let mut b = vec![0x82, 0x86, 0x84, 0x01, 9];
    b.extend_from_slice(b"localhost");
    b
}

/// Connects and sends the preface and empty SETTINGS.
fn h2_connect(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    s.write_all(&hello).unwrap();
    s
}

/// Reads frames until the connection closes: the GOAWAY's error code, if one came.
fn goaway_code(s: &mut TcpStream) -> Option<u32> {
    goaway_code_after(s, Vec::new())
}

/// [`goaway_code`] when `buf` holds what was read from the connection already.
fn goaway_code_after(s: &mut TcpStream, mut buf: Vec<u8>) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut chunk = [0u8; 65536];
    let mut code = None;
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut at = 0;
    while at + 9 <= buf.len() {
        let len = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
        if buf[at + 3] == 7 && at + 9 + 8 <= buf.len() {
            let p = &buf[at + 9..];
            code = Some(u32::from_be_bytes([p[4], p[5], p[6], p[7]]));
        }
        at += 9 + len;
    }
    code
}

const PROTOCOL_ERROR: u32 = 1;
const ENHANCE_YOUR_CALM: u32 = 11;

/// The frontend's HTTP/2 connections ended for misbehaving, once the count settles at
/// `at_least` (a connection is counted just after its socket closes).
fn misbehaved(h: &RunHandle, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let fe = h
            .stats()
            .frontends
            .into_iter()
            .find(|(n, _)| n == "www")
            .unwrap()
            .1;
        if fe.h2_errors >= at_least || Instant::now() > deadline {
            return fe.h2_errors;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn hostile_frames_end_the_connection_before_the_server_works(legacy: bool) {
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = requests.clone();
    let origin = Origin::serve(move |_| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Reply::text("ok\n").after(Duration::from_millis(300))
    });
    let served = || requests.load(std::sync::atomic::Ordering::SeqCst);
    let (h, addr, _rx) = start(
        "frontend www\n bind 127.0.0.1:@PORT proto h2\n default_backend app\nbackend app\n server s1 @ORIGIN\n",
        origin.addr,
        None,
        legacy,
    );
    // Rapid reset: streams opened and cancelled at once, thousands of them.
    let mut s = h2_connect(addr);
    let mut flood = Vec::new();
    for i in 0..2000u32 {
        let id = 2 * i + 1;
        flood.extend(frame(HEADERS, END_STREAM | END_HEADERS, id, &get_block()));
        flood.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes()));
    }
    let _ = s.write_all(&flood);
    assert_eq!(goaway_code(&mut s), Some(ENHANCE_YOUR_CALM));
    // A few streams may be under way before their reset is read; never most of them.
    let after_flood = served();
    assert!(
        after_flood < 200,
        "the server answered {after_flood} of 2000 cancelled requests"
    );
    assert_eq!(misbehaved(&h, 1), 1);

    // Rapid reset paced so that each stream is under way (its request sent to the server)
    // before its reset arrives.
    let mut s = h2_connect(addr);
    let mut goaway = None;
    let mut seen = Vec::new();
    for i in 0..400u32 {
        let id = 2 * i + 1;
        let mut pair = frame(HEADERS, END_STREAM | END_HEADERS, id, &get_block());
        if s.write_all(&pair).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
        pair = frame(RST_STREAM, 0, id, &8u32.to_be_bytes());
        if s.write_all(&pair).is_err() {
            break;
        }
        if i % 50 == 49 {
            s.set_nonblocking(true).unwrap();
            let mut scratch = [0u8; 65536];
            while let Ok(n) = s.read(&mut scratch) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&scratch[..n]);
            }
            s.set_nonblocking(false).unwrap();
            if seen.windows(2).any(|w| w == [0x07, 0x00]) {
                goaway = Some(i);
                break;
            }
        }
    }
    let code = goaway_code_after(&mut s, seen);
    assert_eq!(code, Some(ENHANCE_YOUR_CALM), "stopped at {goaway:?}");
    let after_paced = served();
    assert!(
        after_paced - after_flood < 200,
        "the server got {} of 400 cancelled requests",
        after_paced - after_flood
    );
    assert_eq!(misbehaved(&h, 2), 2);
    let after_flood = after_paced;

    // A client-initiated stream with an even id.
    let mut s = h2_connect(addr);
    s.write_all(&frame(HEADERS, END_STREAM | END_HEADERS, 2, &get_block()))
        .unwrap();
    assert_eq!(goaway_code(&mut s), Some(PROTOCOL_ERROR));

    // Stream ids going backwards.
    let mut s = h2_connect(addr);
    let mut two = frame(HEADERS, END_STREAM | END_HEADERS, 5, &get_block());
    two.extend(frame(HEADERS, END_STREAM | END_HEADERS, 3, &get_block()));
    s.write_all(&two).unwrap();
    assert_eq!(goaway_code(&mut s), Some(PROTOCOL_ERROR));

    // A CONTINUATION flood: one header block that never ends.
    let mut s = h2_connect(addr);
    let _ = s.write_all(&frame(HEADERS, 0, 1, &get_block()));
    let mut block = Vec::new();
    for i in 0..2000 {
        // `x-N: <1 KiB>` as a literal without indexing, new name.
        let name = format!("x-{i}");
        let mut f = vec![0x00, name.len() as u8];
        f.extend_from_slice(name.as_bytes());
        f.extend_from_slice(&[0x7f, 0x81, 0x07]); // length 1024 (7-bit prefix + 897)
        f.extend(std::iter::repeat_n(b'a', 1024));
        block.extend(frame(CONTINUATION, 0, 1, &f));
    }
    let _ = s.write_all(&block);
    let code = goaway_code(&mut s);
    assert!(code.is_some_and(|c| c != 0), "GOAWAY {code:?}");

    // An HPACK bomb: one 2 KB header inserted in the dynamic table, then referenced
    // thousands of times in one small block.
    let mut s = h2_connect(addr);
    let mut b = get_block();
    b.extend_from_slice(&[0x40, 0x01, b'x', 0x7f, 0xd1, 0x0e]); // x: <2000 bytes>, indexed
    b.extend(std::iter::repeat_n(b'b', 2000));
    b.extend(std::iter::repeat_n(0xbe, 4000)); // index 62: the entry just added
    let _ = s.write_all(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &b));
    let _ = goaway_code(&mut s);
    assert_eq!(served(), after_flood, "no request reached the server");
    assert!(misbehaved(&h, 5) >= 5);
    // The listener still serves well-behaved clients.
    let (code, out) = curl_h2c(&format!("http://{addr}/"), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("2 200"), "{out}");
}
both_drivers!(
    hostile_frames_end_the_connection_before_the_server_works,
    super::hostile_frames_end_the_connection_before_the_server_works
);

/// A real gRPC server (grpcio, h2c) behind `server … proto h2`, a real gRPC client in
/// front (h2c, the preface on a clear listener): a 100 kB message, trailers kept, an error
/// status in a trailers-only answer, a server stream.
fn grpc_passes_with_its_trailers_and_status(legacy: bool) {
    let script = repo_root().join("engine/tests/data/grpc_peer.py");
    let port = free_port();
    let mut server = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .args(["serve", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(
        ready.trim(),
        "ready",
        "the gRPC server starts (python3-grpcio, scripts/deps.sh)"
    );
    let origin = SocketAddr::from(([127, 0, 0, 1], port));
    let (_h, addr, rx) = start(
        "frontend www\n bind 127.0.0.1:@PORT\n default_backend grpc\nbackend grpc\n server g1 @ORIGIN proto h2\n",
        origin,
        None,
        legacy,
    );
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .args(["call", &addr.to_string()])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text,
        "say 100005 echo:xxx kept\nfail NOT_FOUND no such thing\ncount 0,1,2,3,4\n"
    );
    let line = rx.line();
    assert!(
        line.contains(&format!("\"POST http://{addr}/t.Echo/Say HTTP/2.0\"")),
        "{line}"
    );
    assert!(line.contains(" www grpc/g1 "), "{line}");
}
both_drivers!(
    grpc_passes_with_its_trailers_and_status,
    super::grpc_passes_with_its_trailers_and_status
);

/// nginx speaking HTTP/2 over TLS behind `server … ssl alpn h2 proto h2`: every request
/// arrives as HTTP/2.0, all on one connection, from HTTP/1.1 and HTTP/2 clients alike.
fn requests_to_an_h2_server_are_streams_of_one_connection(legacy: bool) {
    let pki = Pki::new();
    let pem = pki.server("backend", &["backend.test"]);
    let nginx = Nginx::tls_h2(&pem);
    let (_h, addr, _rx) = start(
        "frontend www\n bind 127.0.0.1:@PORT\n default_backend app\nbackend app\n \
         server s1 @ORIGIN ssl verify none sni str(backend.test) proto h2\n",
        nginx.addr,
        Some(&pki),
        legacy,
    );
    let mut conns = std::collections::HashSet::new();
    for i in 0..6 {
        let text = if i % 2 == 0 {
            get(addr, "/x", "a.test").text()
        } else {
            let (code, out) = curl_h2c(&format!("http://{addr}/y"), &[]);
            assert_eq!(code, 0, "{out}");
            out
        };
        assert!(text.contains("sni=backend.test"), "{text}");
        assert!(text.contains("proto=HTTP/2.0"), "{text}");
        let conn = text
            .split("conn=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        conns.insert(conn);
    }
    assert_eq!(
        conns.len(),
        1,
        "one connection carried every request: {conns:?}"
    );
}
both_drivers!(
    requests_to_an_h2_server_are_streams_of_one_connection,
    super::requests_to_an_h2_server_are_streams_of_one_connection
);

/// The first frame the server sends: its SETTINGS, as (identifier, value) pairs.
fn server_settings(s: &mut TcpStream) -> Vec<(u16, u32)> {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[3], SETTINGS, "the server starts with SETTINGS");
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).unwrap();
    p.chunks(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect()
}

/// `tune.h2.*` is what the listener announces; an idle connection ends with a GOAWAY
/// after `timeout http-keep-alive`, and every connection with one on a soft stop.
fn settings_idle_timeout_and_soft_stop(legacy: bool) {
    let origin = Origin::text("ok\n");
    let rx = Receiver::new();
    let port = free_port();
    let text = format!(
        "global\n nbthread 1\n tune.h2.max-concurrent-streams 7\n tune.h2.initial-window-size 12345\n \
         tune.h2.header-table-size 2048\n log {} local0 info\ndefaults\n mode http\n \
         timeout client 5s\n timeout server 5s\n timeout connect 1s\n timeout http-keep-alive 1s\n\
         frontend www\n bind 127.0.0.1:{port} proto h2\n default_backend app\n\
         backend app\n server s1 {}\n",
        rx.addr(),
        origin.addr
    );
    let h = run(parse_config(&text), legacy);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = h2_connect(addr);
    let settings = server_settings(&mut s);
    for want in [(1, 2048), (3, 7), (4, 12345)] {
        assert!(settings.contains(&want), "{want:?} in {settings:?}");
    }
    // Idle: GOAWAY with NO_ERROR, then the close.
    let started = Instant::now();
    assert_eq!(goaway_code(&mut s), Some(0));
    let idled = started.elapsed();
    assert!(
        idled > Duration::from_millis(800) && idled < Duration::from_secs(3),
        "{idled:?}"
    );
    // A soft stop sends a GOAWAY at once to a connection not idle that long yet.
    let mut s = h2_connect(addr);
    let _ = server_settings(&mut s);
    let stopped = Instant::now();
    h.soft_stop();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut head = [0u8; 9];
    loop {
        s.read_exact(&mut head)
            .expect("a GOAWAY within 500 ms of the stop");
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut p = vec![0u8; len];
        s.read_exact(&mut p).unwrap();
        if head[3] == 7 {
            assert_eq!(&p[4..8], &[0, 0, 0, 0], "NO_ERROR");
            break;
        }
    }
    assert!(stopped.elapsed() < Duration::from_millis(500));
}
both_drivers!(
    settings_idle_timeout_and_soft_stop,
    super::settings_idle_timeout_and_soft_stop
);

/// Streams past `tune.h2.max-concurrent-streams` are refused (`RST_STREAM
/// REFUSED_STREAM`), the others answered; a stream whose client never opens its window is
/// ended by `timeout client`, and the connection goes on serving.
fn too_many_streams_and_closed_windows(legacy: bool) {
    let origin = Origin::serve(|_| Reply::ok(pattern(200_000)).after(Duration::from_millis(200)));
    let rx = Receiver::new();
    let port = free_port();
    let text = format!(
        "global\n nbthread 1\n tune.h2.max-concurrent-streams 2\n log {} local0 info\n\
         defaults\n mode http\n timeout client 1s\n timeout server 5s\n timeout connect 1s\n\
         frontend www\n bind 127.0.0.1:{port} proto h2\n default_backend app\n\
         backend app\n server s1 {}\n",
        rx.addr(),
        origin.addr
    );
    let _h = run(parse_config(&text), legacy);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = h2_connect(addr);
    let _ = server_settings(&mut s);
    // Acknowledge the server's SETTINGS (its stream limit applies from then on), then open
    // three streams at once; no WINDOW_UPDATE is ever sent, so no 200 kB body can finish.
    let mut three = frame(SETTINGS, 1, 0, &[]);
    for id in [1u32, 3, 5] {
        three.extend(frame(HEADERS, END_STREAM | END_HEADERS, id, &get_block()));
    }
    s.write_all(&three).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (mut refused, mut headers, mut reset) = (Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    while reset.len() + refused.len() < 3 && started.elapsed() < Duration::from_secs(5) {
        let mut head = [0u8; 9];
        if s.read_exact(&mut head).is_err() {
            break;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
        let mut p = vec![0u8; len];
        s.read_exact(&mut p).unwrap();
        match head[3] {
            1 => headers.push(id),
            3 if p == 7u32.to_be_bytes() => refused.push(id),
            3 => reset.push(id),
            _ => {}
        }
    }
    headers.sort();
    assert_eq!(refused, [5], "the third stream is refused");
    assert_eq!(headers, [1, 3], "the first two are answered");
    // Their bodies wait for a window that never opens: `timeout client` ends them.
    assert_eq!(reset.len(), 2, "both stalled streams end: {reset:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
}
both_drivers!(
    too_many_streams_and_closed_windows,
    super::too_many_streams_and_closed_windows
);

/// What `engine/tests/data/ws_over_h2.py` saw: a WebSocket client speaking RFC 8441 over
/// h2c to `port`, sending `messages` and closing.
fn ws_over_h2(port: u16, messages: &[&str]) -> String {
    ws_over_h2_with(port, messages, &[])
}

/// [`ws_over_h2`] with `env` for the script (`WS_H2_CA`, `WS_H2_SNI`: over TLS).
fn ws_over_h2_with(port: u16, messages: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg(repo_root().join("engine/tests/data/ws_over_h2.py"))
        .envs(env.iter().copied())
        .args(["127.0.0.1", &port.to_string(), "/chat"])
        .args(messages)
        .output()
        .expect("python3 is installed (scripts/deps.sh installs python3-h2)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// WebSocket over HTTP/2 (RFC 8441): the frontend announces extended CONNECT, a client's
/// `CONNECT` with `:protocol websocket` reaches a WebSocket server on HTTP/1.1 as an upgrade,
/// the server's `101` opens the stream with a `200`, messages cross both ways and the close
/// handshake ends the stream; the same as through haproxy, and logged as haproxy logs it.
#[test]
fn websocket_over_h2_reaches_an_http1_server_as_through_haproxy() {
    let origin = ws_echo();
    let both = SideBySide::start(|port| {
        format!(
            "defaults\n mode http\n log global\n option httplog\n timeout client 5s\n timeout server 5s\n timeout tunnel 5s\n timeout connect 1s\nfrontend www\n bind 127.0.0.1:{port}\n default_backend ws\nbackend ws\n server w1 {origin}\n"
        )
    });
    let mut seen = Vec::new();
    let (theirs_line, ours_line) =
        both.lines(|port| seen.push(ws_over_h2(port, &["hello", "world"])));
    let (theirs, ours) = (&seen[0], &seen[1]);
    assert_eq!(
        ours,
        "enable_connect_protocol 1\nstatus 200\necho hello\necho world\nend_stream\n"
    );
    assert_eq!(ours, theirs);
    let request = |line: &str, port: u16| {
        let r = line.split('"').nth(1).unwrap_or_default();
        r.replace(&format!(":{port}/"), ":PORT/")
    };
    assert_eq!(
        request(&ours_line, both.ours.0),
        request(&theirs_line, both.theirs.0)
    );
    let status = |line: &str| line.split(' ').nth(10).unwrap_or_default().to_string();
    assert_eq!(
        status(&ours_line),
        status(&theirs_line),
        "{ours_line}\n{theirs_line}"
    );
}

/// WebSocket over HTTP/2 over TLS (ALPN h2), and an extended CONNECT that the server does
/// not switch: its answer reaches the client as it is, and no tunnel opens.
fn websocket_over_h2_with_tls_and_a_refusing_server(legacy: bool) {
    let pki = Pki::new();
    pki.server("site", &["site.test"]);
    let plain = Origin::named("plain");
    let (_h, addr, rx) = start(
        &format!(
            "frontend www\n bind 127.0.0.1:@PORT ssl crt @PKI/site.pem alpn h2\n \
             use_backend plain if {{ path /plain }}\n default_backend ws\n\
             backend ws\n timeout tunnel 5s\n server w1 @ORIGIN\n\
             backend plain\n server p1 {}\n",
            plain.addr
        ),
        ws_echo(),
        Some(&pki),
        legacy,
    );
    let ca = pki.ca().display().to_string();
    let tls = [("WS_H2_CA", ca.as_str()), ("WS_H2_SNI", "site.test")];
    let seen = ws_over_h2_with(addr.port(), &["over tls", &"x".repeat(300)], &tls);
    assert_eq!(
        seen,
        format!(
            "enable_connect_protocol 1\nstatus 200\necho over tls\necho {}\nend_stream\n",
            "x".repeat(300)
        )
    );
    let line = rx.line();
    assert!(line.contains(" www~ ws/w1 "), "{line}");
    assert!(line.contains(" 101 "), "{line}");
    assert!(
        line.contains(&format!(
            "\"GET https://127.0.0.1:{}/chat HTTP/2.0\"",
            addr.port()
        )),
        "{line}"
    );
    // A server that answers the upgrade with a plain response: no tunnel, the answer as it is.
    let out = Command::new("/usr/bin/python3")
        .arg(repo_root().join("engine/tests/data/ws_over_h2.py"))
        .envs(tls)
        .args(["127.0.0.1", &addr.port().to_string(), "/plain", "never"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "enable_connect_protocol 1\nstatus 200\n"
    );
    let line = rx.line();
    assert!(line.contains(" www~ plain/p1 "), "{line}");
}
both_drivers!(
    websocket_over_h2_with_tls_and_a_refusing_server,
    super::websocket_over_h2_with_tls_and_a_refusing_server
);

/// A client that leaves while its streams wait for their answers: each stream is still
/// logged, as an HTTP/1 request whose client left is, not dropped with the connection.
fn streams_of_a_closed_connection_are_logged(legacy: bool) {
    let origin = Origin::start();
    let (_h, addr, rx) = start(
        "frontend www\n bind 127.0.0.1:@PORT\n default_backend app\nbackend app\n server s1 @ORIGIN\n",
        origin.addr,
        None,
        legacy,
    );
    let mut s = h2_connect(addr);
    // `GET /slow` (answered after 1.5 s) on streams 1 and 3, then the client leaves.
    let mut block = vec![0x82, 0x86, 0x04, 5];
    block.extend_from_slice(b"/slow");
    block.extend_from_slice(&[0x01, 9]);
    block.extend_from_slice(b"localhost");
    let mut out = frame(HEADERS, END_STREAM | END_HEADERS, 1, &block);
    out.extend(frame(HEADERS, END_STREAM | END_HEADERS, 3, &block));
    s.write_all(&out).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(s);
    let lines = [rx.line(), rx.line()];
    for line in &lines {
        assert!(
            line.contains("\"GET http://localhost/slow HTTP/2.0\""),
            "{line}"
        );
        assert!(line.contains(" www app/s1 "), "{line}");
    }
}
both_drivers!(
    streams_of_a_closed_connection_are_logged,
    super::streams_of_a_closed_connection_are_logged
);

/// A server's interim answers (`103 Early Hints`, `100 Continue`) reach an HTTP/2 client as
/// interim HEADERS before the final answer, as through haproxy.
#[test]
fn interim_answers_reach_h2_clients_as_through_haproxy() {
    let origin = serve_each(|mut s| {
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.write_all(
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        );
        std::thread::sleep(Duration::from_millis(100));
    });
    let both = SideBySide::start(|port| {
        format!(
            "defaults\n mode http\n log global\n option httplog\n timeout client 5s\n timeout server 5s\n timeout connect 1s\nfrontend www\n bind 127.0.0.1:{port}\n default_backend app\nbackend app\n server s1 {origin}\n"
        )
    });
    let mut seen = Vec::new();
    both.lines(|port| {
        let out = Command::new("curl")
            .args(["-sS", "-v", "--max-time", "5", "--http2-prior-knowledge"])
            .arg(format!("http://127.0.0.1:{port}/page"))
            .output()
            .expect("curl is installed (scripts/deps.sh)");
        // What curl says it received: status lines and the hint, in order.
        let said: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.starts_with("< HTTP/2") || l.starts_with("< link"))
            .map(str::to_string)
            .collect();
        seen.push((said, String::from_utf8_lossy(&out.stdout).into_owned()));
    });
    let expected: Vec<String> = [
        "< HTTP/2 103 ",
        "< link: </style.css>; rel=preload",
        "< HTTP/2 200 ",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        seen[1].0.iter().map(|l| l.trim_end()).collect::<Vec<_>>(),
        expected.iter().map(|l| l.trim_end()).collect::<Vec<_>>()
    );
    assert_eq!(seen[1], seen[0], "ringlb, then haproxy");
    assert_eq!(seen[1].1, "ok");
}
