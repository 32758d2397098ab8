//! What the client sees when something goes wrong: bad requests, slow clients, dead,
//! broken or slow servers, and a pooled connection the server closed.

mod support;

use std::time::Duration;

use ringlb::sessions::http::Termination;
use ringlb_config::model::{ErrorFile, ErrorSource};
use support::proxy::{blocking, http_listen, sessions_done, TestProxy};
use support::*;

#[monoio::test_all(timer_enabled = true)]
async fn slow_request_head_gets_408_and_a_close() {
    let mut p = http_listen("web");
    p.timeouts.http_request = Some(Duration::from_millis(200));
    let proxy = TestProxy::listen(&p, Vec::new());
    let addr = proxy.addr;
    let (resp, closed) = blocking(move || {
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nHost:");
        let r = c.read(false);
        (r, c.is_closed())
    })
    .await;
    assert_eq!(resp.status, 408);
    assert!(resp.text().contains("408 Request Time-out"));
    assert!(closed);
    sessions_done(&proxy, 1).await;
    assert_eq!(
        proxy.summaries.borrow()[0].termination,
        Termination::ClientTimeout
    );
    assert_eq!(
        proxy.pool.free_count(),
        1,
        "the timed-out read gave its buffer back"
    );
}

#[monoio::test_all(timer_enabled = true)]
async fn idle_keep_alive_connection_is_closed_silently() {
    let origin = Origin::start();
    let mut p = http_listen("web");
    p.timeouts.http_keep_alive = Some(Duration::from_millis(100));
    let proxy = TestProxy::listen(&p, vec![origin.addr]);
    let addr = proxy.addr;
    let closed = blocking(move || {
        let mut c = Client::connect(addr);
        c.send(b"GET /echo HTTP/1.1\r\n\r\n");
        assert_eq!(c.read(false).status, 200);
        c.is_closed()
    })
    .await;
    assert!(closed);
    sessions_done(&proxy, 1).await;
    assert_eq!(
        proxy.summaries.borrow()[0].termination,
        Termination::IdleTimeout
    );
}

#[monoio::test_all(timer_enabled = true)]
async fn smuggling_shapes_and_garbage_get_400() {
    let origin = Origin::start();
    let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
    let addr = proxy.addr;
    let statuses = blocking(move || {
        [
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "\x16\x03\x01 not http\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        ]
        .iter()
        .map(|raw| request(addr, raw).status)
        .collect::<Vec<_>>()
    })
    .await;
    assert_eq!(statuses, vec![400, 400, 400, 400, 400, 400, 501]);
    assert_eq!(origin.connections(), 0, "nothing reached the server");
}

#[monoio::test_all(timer_enabled = true)]
async fn garbage_or_truncated_server_response_gets_502() {
    let origin = Origin::start();
    let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
    let addr = proxy.addr;
    let (garbage, truncated) = blocking(move || {
        let g = request(addr, "GET /garbage HTTP/1.1\r\n\r\n");
        let mut c = Client::connect(addr);
        c.send(b"GET /truncated HTTP/1.1\r\n\r\n");
        let head = c.read(true);
        let mut rest = Vec::new();
        let eof = std::io::Read::read_to_end(&mut c.reader, &mut rest).is_ok();
        (g, (head.status, rest, eof))
    })
    .await;
    assert_eq!(garbage.status, 502);
    assert!(garbage.text().contains("502 Bad Gateway"));
    // The head was already relayed: the client sees the connection cut short.
    assert_eq!(truncated, (200, b"short".to_vec(), true));
    sessions_done(&proxy, 2).await;
    let terms: Vec<_> = proxy
        .summaries
        .borrow()
        .iter()
        .map(|s| s.termination)
        .collect();
    assert_eq!(
        terms,
        vec![Termination::BadResponse, Termination::ServerError]
    );
}

#[monoio::test_all(timer_enabled = true)]
async fn unreachable_server_gets_503_after_retries() {
    // A port that was just free: connections to it are refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut p = http_listen("web");
    p.retries = 2;
    let proxy = TestProxy::listen(&p, vec![dead]);
    let addr = proxy.addr;
    let resp = blocking(move || request(addr, "GET / HTTP/1.1\r\n\r\n")).await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("Cache-Control"), Some("no-cache"));
    assert!(resp.closes());
}

#[monoio::test_all(timer_enabled = true)]
async fn errorfile_replaces_the_503_page() {
    let mut p = http_listen("web");
    p.errorfiles.push(ErrorFile {
        status: 503,
        source: ErrorSource::File {
            path: "/etc/errors/503.http".into(),
            contents: b"HTTP/1.0 503 Busy\r\nContent-Length: 5\r\n\r\nsorry".to_vec(),
        },
    });
    let proxy = TestProxy::listen(&p, Vec::new());
    let addr = proxy.addr;
    let resp = blocking(move || request(addr, "GET / HTTP/1.1\r\n\r\n")).await;
    assert_eq!((resp.status, resp.text().as_str()), (503, "sorry"));
}

#[monoio::test_all(timer_enabled = true)]
async fn silent_server_gets_504() {
    let origin = Origin::start();
    let mut p = http_listen("web");
    p.timeouts.server = Some(Duration::from_millis(300));
    let proxy = TestProxy::listen(&p, vec![origin.addr]);
    let addr = proxy.addr;
    let resp = blocking(move || request(addr, "GET /slow HTTP/1.1\r\n\r\n")).await;
    assert_eq!(resp.status, 504);
    assert!(resp.text().contains("504 Gateway Time-out"));
}

#[monoio::test_all(timer_enabled = true)]
async fn reused_connection_closed_by_the_server_is_retried_once() {
    let origin = Origin::start();
    let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
    let addr = proxy.addr;
    let (a, b) = blocking(move || {
        let mut c = Client::connect(addr);
        c.send(b"GET /bye HTTP/1.1\r\n\r\n");
        let a = c.read(false);
        // Let the server's close reach the proxy's idle connection.
        std::thread::sleep(Duration::from_millis(100));
        c.send(b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nagain");
        (a, c.read(false))
    })
    .await;
    assert_eq!(a.status, 200);
    assert_eq!((b.status, b.text().as_str()), (200, "again"));
    assert_eq!(
        b.header("X-Conn-Id"),
        Some("2"),
        "answered on a fresh connection"
    );
    assert_eq!(
        proxy.router.upstream.reused.get(),
        1,
        "the pooled connection was tried first"
    );
    assert_eq!(origin.connections(), 2);
}

/// Sends `raw` to `port` on loopback, waits `linger` with the connection open (for a
/// timeout to strike), and returns every byte received until the close, or a reset (a
/// proxy closing on unread request bytes).
fn exchange(port: u16, raw: &[u8], linger: Duration) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let _ = s.write_all(raw);
    std::thread::sleep(linger);
    let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
    while let Ok(n @ 1..) = s.read(&mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// A request head with a 20 kB header, and one with 120 header lines: both past
/// haproxy 2.6's limits (`tune.bufsize`, `tune.http.maxhdr`).
fn oversized_heads() -> [Vec<u8>; 2] {
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20000)
    );
    let lines: String = (0..120).map(|i| format!("H{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{lines}\r\n");
    [big.into_bytes(), many.into_bytes()]
}

/// The proxy's own error pages, from ringlb and from Debian's haproxy 2.6 on one site: the
/// same status line and body to the byte, and the same headers (names compared without
/// case: haproxy lowercases those of pages it sends through its rules). Header sections
/// too large or with too many lines get haproxy's 400, not 431.
#[test]
fn error_pages_read_as_haproxys() {
    let origin = Origin::start().addr;
    let both = SideBySide::start(|port| {
        format!(
            "defaults\n mode http\n timeout client 5s\n timeout server 300ms\n timeout connect 1s\n timeout http-request 300ms\nfrontend www\n bind 127.0.0.1:{port}\n acl deny path /deny\n acl deny500 path /deny500\n acl nosrv path /nosrv\n http-request deny if deny\n http-request deny deny_status 500 if deny500\n use_backend nosrv if nosrv\n default_backend web\nbackend web\n server web1 {origin}\nbackend nosrv\n"
        )
    });
    let get = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()
    };
    let [big, many] = oversized_heads();
    let cases: Vec<(u16, Vec<u8>, Duration)> = vec![
        (
            400,
            b"\x16\x03\x01 not http\r\n\r\n".to_vec(),
            Duration::ZERO,
        ),
        (400, big, Duration::ZERO),
        (400, many, Duration::ZERO),
        (403, get("/deny"), Duration::ZERO),
        (
            408,
            b"GET / HTTP/1.1\r\nHost:".to_vec(),
            Duration::from_millis(500),
        ),
        (500, get("/deny500"), Duration::ZERO),
        (502, get("/garbage"), Duration::ZERO),
        (503, get("/nosrv"), Duration::ZERO),
        (504, get("/slow"), Duration::ZERO),
    ];
    let split = |raw: &[u8]| {
        let text = String::from_utf8_lossy(raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or_default().to_string();
        let mut headers: Vec<String> = lines
            .map(|l| l.to_ascii_lowercase())
            .filter(|l| !l.starts_with("connection:"))
            .collect();
        headers.sort();
        (status, headers, body.to_string())
    };
    for (status, raw, linger) in &cases {
        let theirs = split(&exchange(both.theirs.0, raw, *linger));
        let ours = split(&exchange(both.ours.0, raw, *linger));
        assert!(
            theirs.0.starts_with(&format!("HTTP/1.1 {status} ")),
            "haproxy: {theirs:?}"
        );
        assert_eq!(ours, theirs, "{status}: ours, then haproxy's");
    }
}

/// A header section refused as too large or too long is a 400 like any bad request, so
/// `errorfile 400` answers it. (haproxy 2.6 sends its built-in page there instead:
/// docs/compatibility.md.)
#[test]
fn errorfile_400_answers_oversized_headers() {
    let dir = TempDir::new("errorfile-400");
    let page = "HTTP/1.0 400 Bad Request\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\ncustom 400 page\n";
    let file = dir.write("400.http", page);
    let h = run_with_origins(
        &format!(
            "frontend www\n bind 127.0.0.1:0\n errorfile 400 {}\n default_backend web\nbackend web\n server web1 @o\n",
            file.display()
        ),
        &[("o", Origin::start().addr)],
        false,
    );
    let port = addr_of(&h, "www").port();
    for raw in oversized_heads() {
        let got = exchange(port, &raw, Duration::ZERO);
        assert_eq!(String::from_utf8_lossy(&got), page);
    }
}

/// A request body that stalls mid-way while the server waits for it: as haproxy 2.6 does,
/// `timeout server` decides, even when `timeout client` is shorter, and the answer is a 504
/// (`sH--`), not a 408.
#[monoio::test_all(timer_enabled = true)]
async fn stalled_request_body_gets_504_after_timeout_server() {
    // The server reads whatever comes and never answers.
    let server = serve_each(|mut s| {
        let mut buf = [0u8; 4096];
        while matches!(std::io::Read::read(&mut s, &mut buf), Ok(1..)) {}
    });
    let mut p = http_listen("web");
    p.timeouts.client = Some(Duration::from_millis(100));
    p.timeouts.server = Some(Duration::from_millis(600));
    let proxy = TestProxy::listen(&p, vec![server]);
    let addr = proxy.addr;
    let (resp, waited) = blocking(move || {
        let started = std::time::Instant::now();
        let mut c = Client::connect(addr);
        c.send(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
        (c.read(false), started.elapsed())
    })
    .await;
    assert_eq!(resp.status, 504);
    assert!(resp.closes());
    assert!(waited >= Duration::from_millis(550), "after {waited:?}");
    sessions_done(&proxy, 1).await;
    assert_eq!(
        proxy.summaries.borrow()[0].termination,
        Termination::ServerTimeout
    );
}

/// A server that answers an upload before reading it and then closes, as servers refusing
/// an upload do: as haproxy 2.6 does, the client gets the server's response (not a 502),
/// the proxy reads and drops the rest of the upload, and the client connection stays open
/// for its next request.
#[monoio::test_all(timer_enabled = true)]
async fn early_response_to_a_large_upload_is_relayed_and_the_upload_drained() {
    let server = serve_each(|s| {
        let mut w = s.try_clone().unwrap();
        let mut r = std::io::BufReader::new(s);
        let Some(head) = read_head(&mut r) else {
            return;
        };
        let body: &[u8] = if head.starts_with("POST") {
            b"early"
        } else {
            b"next!"
        };
        let _ = std::io::Write::write_all(
            &mut w,
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", body].concat(),
        );
        // Closes with the upload unread: the proxy's writes then fail.
        std::thread::sleep(Duration::from_millis(100));
    });
    let proxy = TestProxy::listen(&http_listen("web"), vec![server]);
    let addr = proxy.addr;
    let (first, uploaded, second) = blocking(move || {
        let mut c = Client::connect(addr);
        c.send(b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        let mut w = c.writer.try_clone().unwrap();
        let upload = std::thread::spawn(move || {
            let chunk = [b"4000\r\n".as_slice(), &[b'a'; 0x4000], b"\r\n"].concat();
            // 32 MiB: more than the socket buffers between the proxy and the server hold.
            for _ in 0..2048 {
                std::io::Write::write_all(&mut w, &chunk)?;
            }
            std::io::Write::write_all(&mut w, b"0\r\n\r\n")
        });
        let first = c.read(false);
        let uploaded = upload.join().unwrap();
        c.send(b"GET /next HTTP/1.1\r\n\r\n");
        (first, uploaded.is_ok(), c.try_read(false).ok())
    })
    .await;
    assert_eq!((first.status, first.text().as_str()), (200, "early"));
    assert!(!first.closes());
    assert!(uploaded, "the whole upload was taken");
    let second = second.expect("the connection serves a next request");
    assert_eq!((second.status, second.text().as_str()), (200, "next!"));
}
