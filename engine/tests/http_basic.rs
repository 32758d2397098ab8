//! Requests and responses of every framing through the proxy: methods, bodies, chunked,
//! 10 MiB both ways, pipelining, HTTP/1.0 on either side, `Expect: 100-continue`.

mod support;

use support::proxy::{blocking, http_listen, TestProxy};
use support::*;

#[monoio::test_all(timer_enabled = true)]
async fn get_head_and_post_are_forwarded() {
    let origin = Origin::start();
    let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
    let addr = proxy.addr;
    let (get, head, post) = blocking(move || {
        let mut c = Client::connect(addr);
        c.send(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n");
        let get = c.read(false);
        c.send(b"HEAD /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        let head = c.read(true);
        c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world");
        let post = c.read(false);
        (get, head, post)
    })
    .await;
    assert_eq!(get.status, 200);
    assert_eq!(get.header("X-Seen-Method"), Some("GET"));
    assert!(get.body.is_empty());
    assert_eq!(head.status, 200);
    assert_eq!(head.header("X-Seen-Method"), Some("HEAD"));
    assert_eq!(post.text(), "hello world");
    assert_eq!(
        post.header("X-Conn-Id"),
        Some("1"),
        "one server connection serves all three"
    );
    assert_eq!(origin.connections(), 1);
}

#[monoio::test_all(timer_enabled = true)]
async fn chunked_bodies_pass_both_ways() {
    let origin = Origin::start();
    let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
    let addr = proxy.addr;
    let (resp, next) = blocking(move || {
        let mut c = Client::connect(addr);
        c.send(b"POST /chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        std::thread::sleep(std::time::Duration::from_millis(50));
        c.send(b"6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
        let resp = c.read(false);
        c.send(b"GET /echo HTTP/1.1\r\n\r\n");
        (resp, c.read(false))
    })
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(resp.header("X-Body-Len"), Some("11"));
    assert_eq!(resp.text(), "hello world");
    assert_eq!(
        next.status, 200,
        "the connection is usable after a chunked exchange"
    );
}

#[monoio::test_all(timer_enabled = true)]
async fn ten_mebibytes_pass_in_each_direction() {
    let origin = Origin::start();
    let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
    let addr = proxy.addr;
    let size = 10 << 20;
    let (up, down) = blocking(move || {
        let body = pattern(size);
        let mut c = Client::connect(addr);
        let writer = c.writer.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let mut w = writer;
            use std::io::Write;
            w.write_all(
                format!("POST /echo HTTP/1.1\r\nContent-Length: {size}\r\n\r\n").as_bytes(),
            )
            .unwrap();
            w.write_all(&body).unwrap();
        });
        let up = c.read(false);
        sender.join().unwrap();
        c.send(format!("GET /big/{size} HTTP/1.1\r\n\r\n").as_bytes());
        (up, c.read(false))
    })
    .await;
    assert_eq!(up.header("X-Body-Len"), Some("10485760"));
    assert!(up.body == pattern(size), "request body arrives intact");
    assert!(down.body == pattern(size), "response body arrives intact");
    assert!(proxy.pool.free_count() > 0, "buffers went back to the pool");
}

#[monoio::test_all(timer_enabled = true)]
async fn pipelined_requests_are_answered_in_order() {
    let origin = Origin::start();
    let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
    let addr = proxy.addr;
    let bodies = blocking(move || {
        let mut c = Client::connect(addr);
        c.send(
            b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\noneGET /echo HTTP/1.1\r\n\r\nPOST /chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nfour",
        );
        (0..4).map(|_| c.read(false).text()).collect::<Vec<_>>()
    })
    .await;
    assert_eq!(bodies, vec!["one", "", "three", "four"]);
}

#[monoio::test_all(timer_enabled = true)]
async fn http10_client_gets_its_answer_then_a_close() {
    let origin = Origin::start();
    let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
    let addr = proxy.addr;
    let (resp, closed, ka) = blocking(move || {
        let mut c = Client::connect(addr);
        c.send(b"GET /echo HTTP/1.0\r\n\r\n");
        let resp = c.read(false);
        let closed = c.is_closed();
        let mut k = Client::connect(addr);
        k.send(b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let first = k.read(false);
        k.send(b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let second = k.read(false);
        (resp, closed, (first, second))
    })
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.closes());
    assert!(
        closed,
        "the proxy closes an HTTP/1.0 client without keep-alive"
    );
    assert_eq!(ka.0.header("Connection"), Some("keep-alive"));
    assert_eq!(
        ka.1.status, 200,
        "an HTTP/1.0 keep-alive client can send another request"
    );
    assert_eq!(ka.0.header("X-Seen-Version"), Some("1.0"));
}

#[monoio::test_all(timer_enabled = true)]
async fn http10_server_response_runs_until_close() {
    let origin = Origin::start();
    let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
    let addr = proxy.addr;
    let resp = blocking(move || request(addr, "GET /http10 HTTP/1.1\r\n\r\n")).await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.closes(),
        "a close-delimited body ends the client connection too"
    );
    assert_eq!(resp.text(), "until-close");
}

#[monoio::test_all(timer_enabled = true)]
async fn expect_continue_relays_the_servers_interim_response() {
    let origin = Origin::start();
    let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
    let addr = proxy.addr;
    let (interim, fin) = blocking(move || {
        let mut c = Client::connect(addr);
        c.send(b"PUT /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
        let interim = c.read(false);
        c.send(b"data");
        (interim, c.read(false))
    })
    .await;
    assert_eq!(interim.status, 100);
    assert_eq!(fin.status, 200);
    assert_eq!(fin.text(), "data");
}

#[monoio::test_all(timer_enabled = true)]
async fn http_request_return_answers_without_a_server() {
    use ringlb_config::rules::{HttpRequestAction, HttpRequestRule, ReturnBody, ReturnSpec};
    let mut p = http_listen("ping");
    p.http_request.push(HttpRequestRule {
        action: HttpRequestAction::Return(ReturnSpec {
            status: 200,
            content_type: Some("text/plain".into()),
            body: ReturnBody::String("pong".into()),
            headers: Vec::new(),
        }),
        condition: None,
    });
    let proxy = TestProxy::listen(&p, Vec::new());
    let addr = proxy.addr;
    let (a, b) = blocking(move || {
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        (c.read(false), c.read(false))
    })
    .await;
    assert_eq!((a.status, a.text().as_str()), (200, "pong"));
    assert_eq!(a.header("Content-Type"), Some("text/plain"));
    assert_eq!(b.text(), "pong");
    assert_eq!(proxy.opened(), 0);
}
