//! Faults on either side of the proxy: backends that reset, stall, never answer, close after
//! the head or send slowly; clients that reset mid-upload, stop reading, or connect and send
//! nothing. Each gets the right status or close, the worker goes on serving others, and the
//! process's descriptor count (the proxy runs in this process) returns to its baseline.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ringlb::sessions::http::Termination;
use ringlb_config::model::Proxy;
use support::proxy::{blocking, http_listen, sessions_done, TestProxy};
use support::*;

/// Tests of this file run one at a time, runtime included: they count the whole process's
/// descriptors, and a runtime being built or dropped opens or closes some.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `NAME::io_uring` and `NAME::epoll` tests running `NAME()` alone, each on its own runtime.
macro_rules! fault_tests {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[test]
            fn io_uring() {
                let _serial = super::serial();
                monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                    .enable_timer()
                    .build()
                    .unwrap()
                    .block_on(super::$name());
            }
            #[test]
            fn epoll() {
                let _serial = super::serial();
                monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                    .enable_timer()
                    .build()
                    .unwrap()
                    .block_on(super::$name());
            }
        })*
    };
}

/// Waits (bounded) until the descriptor count is back to `baseline`.
async fn fds_back_to(baseline: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = open_fds();
        if now <= baseline {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{now} descriptors open 5 s after the fault, baseline {baseline}"
        );
        monoio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Bytes the `/big` answer wrote so far.
static BIG_WRITTEN: AtomicUsize = AtomicUsize::new(0);
const BIG: usize = 256 << 20;

/// A scripted backend: what it does depends on the request path. Every answer closes the
/// connection (so no pooled idle connection counts against the baseline), and every
/// connection thread ends when the proxy closes its side, so its descriptor goes too.
fn backend() -> SocketAddr {
    serve_each(script)
}

/// Reads a request head a byte at a time (nothing past it) and returns its path.
fn read_path(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    Some(text.split(' ').nth(1)?.to_string())
}

/// Reads until the peer closes.
fn drain(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf), Ok(1..)) {}
}

fn script(mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    if let Some(path) = read_path(&mut s) {
        match path.as_str() {
            "/ok" => {
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
            "/reset" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
                std::thread::sleep(Duration::from_millis(50));
                let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            }
            "/silent" => drain(&mut s),
            "/stall-body" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
                drain(&mut s);
            }
            "/close-after-head" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
            }
            "/slow" => {
                let body = b"slowly but surely";
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = head.bytes().chain(body.iter().copied()).try_for_each(|b| {
                    std::thread::sleep(Duration::from_millis(5));
                    s.write_all(&[b])
                });
            }
            "/big" => {
                let _ = s.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n").as_bytes(),
                );
                let chunk = vec![b'x'; 64 << 10];
                while BIG_WRITTEN.load(Ordering::SeqCst) < BIG && s.write_all(&chunk).is_ok() {
                    BIG_WRITTEN.fetch_add(chunk.len(), Ordering::SeqCst);
                }
            }
            // `/upload` and the rest: read what the client sends until it goes.
            _ => drain(&mut s),
        }
    }
}

/// A proxy in front of the scripted backend, with short timeouts.
fn proxy_with(f: impl FnOnce(&mut Proxy)) -> TestProxy {
    let mut p = http_listen("web");
    p.timeouts.server = Some(Duration::from_millis(400));
    p.timeouts.client = Some(Duration::from_millis(400));
    p.timeouts.http_request = Some(Duration::from_millis(300));
    f(&mut p);
    TestProxy::listen(&p, vec![backend()])
}

/// Another client is served while (or right after) the fault.
fn served(addr: SocketAddr) -> bool {
    let r = request(addr, "GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n");
    r.status == 200 && r.text() == "ok"
}

/// Sends one request and returns the status line's code and every body byte received
/// before the proxy closed.
fn cut_short(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut c = Client::connect(addr);
    c.send(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes());
    let mut raw = Vec::new();
    let _ = c.reader.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.as_bytes().to_vec())
        .unwrap_or_default();
    (status, body)
}

async fn last_termination(proxy: &TestProxy, n: usize) -> Termination {
    sessions_done(proxy, n).await;
    proxy.summaries.borrow()[n - 1].termination
}

async fn backend_reset_mid_response_closes_the_client_after_the_partial_body() {
    let proxy = proxy_with(|_| {});
    let baseline = open_fds();
    let addr = proxy.addr;
    let ((status, body), ok) = blocking(move || (cut_short(addr, "/reset"), served(addr))).await;
    assert_eq!((status, body.as_slice()), (200, &b"partial"[..]));
    assert!(ok, "another client was served");
    assert_eq!(last_termination(&proxy, 1).await, Termination::ServerError);
    fds_back_to(baseline).await;
}

async fn backend_that_accepts_and_never_answers_gets_504() {
    let proxy = proxy_with(|_| {});
    let baseline = open_fds();
    let addr = proxy.addr;
    let (resp, ok) = blocking(move || {
        let r = request(addr, "GET /silent HTTP/1.1\r\n\r\n");
        (r, served(addr))
    })
    .await;
    assert_eq!(resp.status, 504);
    assert!(resp.closes());
    assert!(ok);
    assert_eq!(
        last_termination(&proxy, 1).await,
        Termination::ServerTimeout
    );
    fds_back_to(baseline).await;
}

async fn backend_stalling_mid_body_is_cut_after_the_server_timeout() {
    let proxy = proxy_with(|_| {});
    let baseline = open_fds();
    let addr = proxy.addr;
    let ((status, body), ok) =
        blocking(move || (cut_short(addr, "/stall-body"), served(addr))).await;
    assert_eq!((status, body.as_slice()), (200, &b"partial"[..]));
    assert!(ok);
    assert_eq!(
        last_termination(&proxy, 1).await,
        Termination::ServerTimeout
    );
    fds_back_to(baseline).await;
}

async fn backend_closing_after_the_head_cuts_the_client() {
    let proxy = proxy_with(|_| {});
    let baseline = open_fds();
    let addr = proxy.addr;
    let ((status, body), ok) =
        blocking(move || (cut_short(addr, "/close-after-head"), served(addr))).await;
    assert_eq!((status, body.len()), (200, 0));
    assert!(ok);
    assert_eq!(last_termination(&proxy, 1).await, Termination::ServerError);
    fds_back_to(baseline).await;
}

async fn slow_backend_is_relayed_whole_while_others_are_served() {
    let proxy = proxy_with(|_| {});
    let baseline = open_fds();
    let addr = proxy.addr;
    let (resp, others) = blocking(move || {
        let slow = std::thread::spawn(move || request(addr, "GET /slow HTTP/1.1\r\n\r\n"));
        // Served meanwhile: the slow exchange does not hold the worker.
        let started = Instant::now();
        let others = (0..5).all(|_| served(addr)) && started.elapsed() < Duration::from_millis(200);
        (slow.join().unwrap(), others)
    })
    .await;
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "slowly but surely")
    );
    assert!(
        others,
        "five other requests answered quickly during the slow one"
    );
    drop(resp);
    fds_back_to(baseline).await;
}

async fn client_reset_mid_upload_frees_both_connections() {
    let proxy = proxy_with(|_| {});
    let baseline = open_fds();
    let addr = proxy.addr;
    let ok = blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"POST /upload HTTP/1.1\r\nContent-Length: 100000\r\n\r\n")
            .unwrap();
        s.write_all(&[b'u'; 20000]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
        served(addr)
    })
    .await;
    assert!(ok);
    assert_eq!(
        last_termination(&proxy, 1).await,
        Termination::ClientAborted
    );
    fds_back_to(baseline).await;
}

async fn client_that_stops_reading_is_not_buffered_without_bound() {
    BIG_WRITTEN.store(0, Ordering::SeqCst);
    let proxy = proxy_with(|_| {});
    let baseline = open_fds();
    let addr = proxy.addr;
    let (written, ok) = blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        socket2::SockRef::from(&s)
            .set_recv_buffer_size(64 << 10)
            .unwrap();
        s.write_all(b"GET /big HTTP/1.1\r\n\r\n").unwrap();
        // Never read: the proxy's writes stall, then `timeout client` ends the exchange.
        std::thread::sleep(Duration::from_millis(1500));
        let written = BIG_WRITTEN.load(Ordering::SeqCst);
        drop(s);
        (written, served(addr))
    })
    .await;
    // What the server could push is bounded by socket buffers and one proxy buffer, far
    // below the 256 MiB announced.
    assert!(written < 32 << 20, "{written} bytes left the server");
    assert!(ok);
    assert_eq!(
        last_termination(&proxy, 1).await,
        Termination::ClientAborted
    );
    fds_back_to(baseline).await;
}

/// `n` clients send `start` of a head (maybe nothing) and never the rest while another
/// client is served: each gets a 408 and is closed, and the descriptors come back.
async fn stalled_heads_get_408(n: usize, start: &'static [u8]) {
    let proxy = proxy_with(|_| {});
    let baseline = open_fds();
    let addr = proxy.addr;
    let (answers, ok) = blocking(move || {
        let stalled: Vec<_> = (0..n)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(start).unwrap();
                s
            })
            .collect();
        let ok = served(addr);
        let answers: Vec<_> = stalled
            .into_iter()
            .map(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut raw = Vec::new();
                let _ = s.read_to_end(&mut raw);
                String::from_utf8_lossy(&raw).into_owned()
            })
            .collect();
        (answers, ok)
    })
    .await;
    assert!(ok);
    for a in &answers {
        assert!(a.starts_with("HTTP/1.1 408 "), "{a:?}");
    }
    sessions_done(&proxy, n + 1).await;
    let timeouts = proxy
        .summaries
        .borrow()
        .iter()
        .filter(|s| s.termination == Termination::ClientTimeout)
        .count();
    assert_eq!(timeouts, n);
    fds_back_to(baseline).await;
}

async fn silent_clients_get_408_while_others_are_served() {
    stalled_heads_get_408(20, b"").await;
}

/// More partial heads expire together than a worker ends per millisecond: the endings
/// queue, and every one still gets its 408 and its descriptors back.
async fn partial_heads_expiring_together_all_get_408() {
    stalled_heads_get_408(200, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a").await;
}

fault_tests!(
    backend_reset_mid_response_closes_the_client_after_the_partial_body,
    backend_that_accepts_and_never_answers_gets_504,
    backend_stalling_mid_body_is_cut_after_the_server_timeout,
    backend_closing_after_the_head_cuts_the_client,
    slow_backend_is_relayed_whole_while_others_are_served,
    client_reset_mid_upload_frees_both_connections,
    client_that_stops_reading_is_not_buffered_without_bound,
    silent_clients_get_408_while_others_are_served,
    partial_heads_expiring_together_all_get_408,
);
