//! Protocol upgrades on HTTP/1.1: a `101 Switching Protocols` the request asked for turns
//! the exchange into a tunnel (WebSocket between a real client and server, tungstenite's),
//! in every connection mode, under `timeout tunnel` and `timeout client-fin`/`server-fin`,
//! logged once when it ends; handshakes HAProxy refuses are refused alike (400, 502).

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringlb::boot::run::RunHandle;
use support::*;
use tungstenite::{Message, WebSocket};

/// Starts the engine with a syslog receiver and `text` after `defaults` (`@ORIGIN` is the
/// server's address, `@PORT` the frontend's port).
fn start(text: &str, origin: SocketAddr, legacy: bool) -> (RunHandle, SocketAddr, Receiver) {
    run_logged(text, &[("@ORIGIN", origin.to_string())], legacy)
}

fn site(extra: &str) -> String {
    format!("frontend www\n bind 127.0.0.1:@PORT\n {extra}\n default_backend app\nbackend app\n server ws1 @ORIGIN\n")
}

fn ws_connect(addr: SocketAddr) -> WebSocket<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (ws, resp) = tungstenite::client(format!("ws://{addr}/chat"), s).expect("handshake");
    assert_eq!(resp.status(), 101);
    ws
}

/// The log line's fields after the syslog header: client, date, frontend, backend/server,
/// timers, status, bytes, cookies (2), state...
fn log_fields(rx: &Receiver) -> Vec<String> {
    let line = rx.line();
    let msg = line.split_once("]: ").map_or(line.as_str(), |(_, m)| m);
    msg.split(' ').map(String::from).collect()
}

fn messages_cross_a_websocket_in_every_connection_mode(legacy: bool) {
    for mode in [
        "option http-keep-alive",
        "option http-server-close",
        "option httpclose",
    ] {
        let (_h, addr, rx) = start(&site(mode), ws_echo(), legacy);
        let mut ws = ws_connect(addr);
        ws.send(Message::text("hello")).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text("hello"), "{mode}");
        let big = pattern(200 * 1024);
        ws.send(Message::binary(big.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), Message::binary(big), "{mode}");
        ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Pong(b"p".to_vec().into()));
        ws.close(None).unwrap();
        loop {
            match ws.read() {
                Ok(Message::Close(_)) | Ok(_) => continue,
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("{mode}: closing: {e}"),
            }
        }
        drop(ws);
        let f = log_fields(&rx);
        assert_eq!(f[3], "app/ws1", "{mode}: {f:?}");
        assert_eq!(f[5], "101", "{mode}: {f:?}");
        let bytes: u64 = f[6].parse().unwrap();
        assert!(bytes > 200 * 1024, "{mode}: tunnel bytes counted: {f:?}");
        assert_eq!(f[9], "----", "{mode}: {f:?}");
    }
}
both_drivers!(
    messages_cross_a_websocket_in_every_connection_mode,
    super::messages_cross_a_websocket_in_every_connection_mode
);

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn upgrade_request() -> String {
    format!("GET /chat HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n")
}

/// A raw server answering every request head with `answer`, then echoing what follows.
fn raw_server(answer: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
    let heads = Arc::new(AtomicUsize::new(0));
    let seen = heads.clone();
    let addr = serve_each(move |s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        if read_head(&mut r).is_none() {
            return;
        }
        seen.fetch_add(1, Ordering::SeqCst);
        if w.write_all(answer.as_bytes()).is_err() {
            return;
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 || w.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
    (addr, heads)
}

fn handshakes_haproxy_refuses_are_refused(legacy: bool) {
    // A `101` without `Sec-WebSocket-Accept`, or without `Connection: upgrade`: 502.
    for answer in [
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    ] {
        let (origin, _) = raw_server(answer);
        let (_h, addr, rx) = start(&site(""), origin, legacy);
        let r = request(addr, &upgrade_request());
        assert_eq!(r.status, 502, "{answer:?}");
        let f = log_fields(&rx);
        // The proxy refused the server's head: haproxy 2.6 logs `PH--` too.
        assert_eq!((f[5].as_str(), f[9].as_str()), ("502", "PH--"), "{f:?}");
    }
    // A `101` to a request that asked for nothing: 502.
    let (origin, _) = raw_server("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n");
    let (_h, addr, _rx) = start(&site(""), origin, legacy);
    let r = request(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 502);
    // A WebSocket request without a key: 400, and the server never sees it.
    let (origin, heads) = raw_server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let (_h, addr, _rx) = start(&site(""), origin, legacy);
    let r = request(
        addr,
        "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(heads.load(Ordering::SeqCst), 0);
}
both_drivers!(
    handshakes_haproxy_refuses_are_refused,
    super::handshakes_haproxy_refuses_are_refused
);

/// Bytes the server sends right behind its `101`, and bytes the client sends right behind
/// its request, arrive before anything else the tunnel carries.
fn bytes_around_the_switch_are_not_lost(legacy: bool) {
    let (origin, _) = raw_server("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nHELLO");
    let (_h, addr, _rx) = start(&site(""), origin, legacy);
    let mut c = connect(addr);
    c.write_all(format!("{}EARLY", upgrade_request()).as_bytes())
        .unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let head = read_head(&mut r).expect("a 101");
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nupgrade: websocket\r\n"), "{head}");
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
    let mut got = [0u8; 10];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"HELLOEARLY", "the server's bytes, then the echo");
    c.write_all(b"later").unwrap();
    let mut got = [0u8; 5];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"later");
}
both_drivers!(
    bytes_around_the_switch_are_not_lost,
    super::bytes_around_the_switch_are_not_lost
);

/// A server that declines the upgrade answers like any other request: the connection stays
/// HTTP and carries the next request. The server saw the request's `Upgrade` and
/// `Connection: upgrade`.
fn a_declined_upgrade_keeps_the_connection_http(legacy: bool) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let origin = serve_each(move |s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        while let Some(head) = read_head(&mut r) {
            let status = if head.contains("pgrade") { 426 } else { 200 };
            log.lock().unwrap().push(head);
            let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok");
            if w.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    });
    let (_h, addr, _rx) = start(&site(""), origin, legacy);
    let mut c = Client::connect(addr);
    c.send(upgrade_request().as_bytes());
    assert_eq!(c.read(false).status, 426);
    c.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read(false).status, 200);
    let heads = seen.lock().unwrap();
    let first = heads[0].to_ascii_lowercase();
    assert!(first.contains("\r\nupgrade: websocket\r\n"), "{first}");
    assert!(first.contains("\r\nconnection: upgrade\r\n"), "{first}");
    assert!(first.contains(&format!(
        "\r\nsec-websocket-key: {}\r\n",
        KEY.to_ascii_lowercase()
    )));
}
both_drivers!(
    a_declined_upgrade_keeps_the_connection_http,
    super::a_declined_upgrade_keeps_the_connection_http
);

/// How long after the handshake the tunnel's log line came, and its state field.
fn tunnel_end(rx: &Receiver, since: Instant) -> (Duration, String) {
    let f = log_fields(rx);
    assert_eq!(f[5], "101", "{f:?}");
    (since.elapsed(), f[9].clone())
}

fn handshake(addr: SocketAddr) -> TcpStream {
    let mut c = connect(addr);
    c.write_all(upgrade_request().as_bytes()).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let head = read_head(&mut r).expect("a 101");
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    c
}

fn within(took: Duration) -> bool {
    took >= Duration::from_millis(250) && took < Duration::from_millis(2500)
}

/// A raw server answering a request head with a WebSocket `101`, then staying silent
/// (after closing its sending side, with `close`) and never closing.
fn switching_server(close: bool) -> SocketAddr {
    serve_each(move |s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        if read_head(&mut r).is_some() && w.write_all(ACCEPT.as_bytes()).is_ok() {
            if close {
                let _ = w.shutdown(std::net::Shutdown::Write);
            }
            std::thread::sleep(Duration::from_secs(10));
        }
    })
}

const ACCEPT: &str = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

fn tunnel_timeouts_end_a_websocket(legacy: bool) {
    // Idle both ways: `timeout tunnel` (shorter here than client and server) ends it, on
    // the client's side as HAProxy logs it.
    let (origin, _) = raw_server(ACCEPT);
    let (_h, addr, rx) = start(
        &format!("{}  timeout tunnel 300ms\n", site("")),
        origin,
        legacy,
    );
    let c = handshake(addr);
    let since = Instant::now();
    let (took, state) = tunnel_end(&rx, since);
    assert!(within(took), "idle tunnel ended after {took:?}");
    assert_eq!(state, "cD--");
    drop(c);

    // The client closed its side; the server, which never closes, gets `timeout server-fin`.
    let silent = switching_server(false);
    let (_h, addr, rx) = start(
        &format!("{}  timeout server-fin 300ms\n", site("")),
        silent,
        legacy,
    );
    let c = handshake(addr);
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let (took, state) = tunnel_end(&rx, Instant::now());
    assert!(within(took), "half-closed tunnel ended after {took:?}");
    assert_eq!(state, "sD--");
    drop(c);

    // The server closed its side; the client, which stays, gets `timeout client-fin`.
    let closing = switching_server(true);
    let (_h, addr, rx) = start(&site("timeout client-fin 300ms"), closing, legacy);
    let c = handshake(addr);
    let (took, state) = tunnel_end(&rx, Instant::now());
    assert!(within(took), "half-closed tunnel ended after {took:?}");
    assert_eq!(state, "cD--");
    drop(c);
}
both_drivers!(
    tunnel_timeouts_end_a_websocket,
    super::tunnel_timeouts_end_a_websocket
);

/// A WebSocket behind a TLS listener: the tunnel decrypts what the client sends and
/// encrypts what the server sends (never spliced).
fn a_websocket_crosses_a_tls_listener(legacy: bool) {
    use ringlb_config::model::{GlobalTls, ServerTls, Verify};
    use ringlb_config::tls::client::ClientTls;

    let pki = Pki::new();
    let pem = pki.server("ws.pem", &["ws.test"]);
    let text = site("").replace(
        "bind 127.0.0.1:@PORT",
        &format!("bind 127.0.0.1:@PORT ssl crt {}", pem.display()),
    );
    let (_h, addr, rx) = start(&text, ws_echo(), legacy);
    let tls = ClientTls::new(
        &ServerTls::default(),
        Verify::None,
        &GlobalTls::default(),
        true,
    )
    .expect("client settings");
    let conn = tls.connect(Some("ws.test"), addr.ip()).expect("client");
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let stream = rustls::StreamOwned::new(conn, tcp);
    let (mut ws, resp) = tungstenite::client(format!("wss://ws.test:{}/chat", addr.port()), stream)
        .expect("handshake over TLS");
    assert_eq!(resp.status(), 101);
    let big = pattern(100 * 1024);
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(big));
    ws.send(Message::text("over tls")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("over tls"));
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    drop(ws);
    let f = log_fields(&rx);
    assert_eq!((f[5].as_str(), f[9].as_str()), ("101", "----"), "{f:?}");
}
both_drivers!(
    a_websocket_crosses_a_tls_listener,
    super::a_websocket_crosses_a_tls_listener
);
