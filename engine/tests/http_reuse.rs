//! `http-reuse` through the engine: which server connection each client's request travels
//! over, told by the origin's `X-Conn-Id` (the order in which it accepted connections).

mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use ringlb::boot::run::RunHandle;
use support::*;

fn start(reuse_line: &str, origin: &Origin, legacy: bool) -> (RunHandle, SocketAddr) {
    let h = run_http(
        1,
        &format!(
            "listen app\n bind 127.0.0.1:{}\n {reuse_line}\n server s {}\n",
            free_port(),
            origin.addr
        ),
        legacy,
    );
    let addr = addr_of(&h, "app");
    (h, addr)
}

fn conn_id(c: &mut Client, request: &[u8]) -> String {
    c.send(request);
    let r = c.read(false);
    assert_eq!(r.status, 200);
    r.header("X-Conn-Id").unwrap_or_default().to_string()
}

const GET: &[u8] = b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";

/// Client A sends a request, then client B (A still open), then A again.
fn two_clients(reuse_line: &str, legacy: bool) -> (Vec<String>, usize) {
    let origin = Origin::start();
    let (_h, addr) = start(reuse_line, &origin, legacy);
    let mut a = Client::connect(addr);
    let mut b = Client::connect(addr);
    let a1 = conn_id(&mut a, GET);
    let b1 = conn_id(&mut b, GET);
    let a2 = conn_id(&mut a, GET);
    (vec![a1, b1, a2], origin.connections())
}

fn never_keeps_each_clients_server_connection_to_itself(legacy: bool) {
    let (ids, conns) = two_clients("http-reuse never", legacy);
    assert_eq!(ids, ["1", "2", "1"], "A, B, A again");
    assert_eq!(conns, 2, "two clients, two server connections");
}
both_drivers!(
    never_keeps_each_clients_server_connection_to_itself,
    super::never_keeps_each_clients_server_connection_to_itself
);

fn default_shares_an_idle_server_connection_between_clients(legacy: bool) {
    for line in ["", "http-reuse safe", "http-reuse always"] {
        let (ids, conns) = two_clients(line, legacy);
        assert_eq!(ids, ["1", "1", "1"], "{line:?}");
        assert_eq!(conns, 1, "{line:?}");
    }
}
both_drivers!(
    default_shares_an_idle_server_connection_between_clients,
    super::default_shares_an_idle_server_connection_between_clients
);

/// A first request whose body is still arriving cannot be sent again if the idle
/// connection turns out closed: `safe` opens a new one, `always` takes the idle one.
fn first_request_with_a_streaming_body(reuse_line: &str, legacy: bool) -> String {
    let origin = Origin::start();
    let (_h, addr) = start(reuse_line, &origin, legacy);
    let mut warm = Client::connect(addr);
    assert_eq!(conn_id(&mut warm, GET), "1");
    drop(warm);
    let mut c = Client::connect(addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello");
    thread::sleep(Duration::from_millis(100));
    conn_id(&mut c, b"world")
}

fn safe_sends_an_unreplayable_first_request_on_a_new_connection(legacy: bool) {
    assert_eq!(first_request_with_a_streaming_body("", legacy), "2");
    assert_eq!(
        first_request_with_a_streaming_body("http-reuse always", legacy),
        "1"
    );
}
both_drivers!(
    safe_sends_an_unreplayable_first_request_on_a_new_connection,
    super::safe_sends_an_unreplayable_first_request_on_a_new_connection
);

/// `aggressive` lets such a first request take only a connection that already carried more
/// than one request.
fn aggressive_uses_only_proven_connections_for_unreplayable_first_requests(legacy: bool) {
    let origin = Origin::start();
    let (_h, addr) = start("http-reuse aggressive", &origin, legacy);
    let streaming = |c: &mut Client| {
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello");
        thread::sleep(Duration::from_millis(100));
        conn_id(c, b"world")
    };
    let mut warm = Client::connect(addr);
    assert_eq!(conn_id(&mut warm, GET), "1");
    drop(warm);
    let mut c = Client::connect(addr);
    assert_eq!(
        streaming(&mut c),
        "2",
        "connection 1 served one request only"
    );
    drop(c);
    // A connection carrying a second request is proven.
    let mut warm = Client::connect(addr);
    let mut other = Client::connect(addr);
    assert_eq!(conn_id(&mut warm, GET), "2");
    assert_eq!(conn_id(&mut other, GET), "2");
    drop((warm, other));
    let mut c = Client::connect(addr);
    assert_eq!(streaming(&mut c), "2");
}
both_drivers!(
    aggressive_uses_only_proven_connections_for_unreplayable_first_requests,
    super::aggressive_uses_only_proven_connections_for_unreplayable_first_requests
);
