//! Connection modes (seed 002's frontend × backend matrix) and `option forwardfor`.

mod support;

use ringlb_config::model::{ForwardFor, HttpConnMode, IpNet, ProxyKind};
use support::proxy::{blocking, http_listen, TestProxy};
use support::*;

/// Sends three requests, reconnecting whenever the proxy announces a close.
/// Returns (client connections used, whether every answer was 200).
fn three_requests(addr: std::net::SocketAddr) -> (usize, bool) {
    let mut conns = 1;
    let mut c = Client::connect(addr);
    let mut ok = true;
    for i in 0..3 {
        c.send(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = c.read(false);
        ok &= r.status == 200;
        if r.closes() && i < 2 {
            assert!(
                c.is_closed(),
                "a response saying close is followed by the close"
            );
            c = Client::connect(addr);
            conns += 1;
        }
    }
    (conns, ok)
}

async fn run_matrix_cell(fe_mode: HttpConnMode, be_mode: HttpConnMode) -> (usize, usize) {
    let origin = Origin::start();
    let mut fe = http_listen("fe");
    fe.kind = ProxyKind::Frontend;
    fe.default_backend = Some("be".into());
    fe.options.http_conn_mode = fe_mode;
    let mut be = http_listen("be");
    be.kind = ProxyKind::Backend;
    be.options.http_conn_mode = be_mode;
    let proxy = TestProxy::start(&fe, &be, vec![origin.addr]);
    let addr = proxy.addr;
    let (client_conns, ok) = blocking(move || three_requests(addr)).await;
    assert!(ok);
    (client_conns, origin.connections())
}

#[monoio::test_all(timer_enabled = true)]
async fn all_nine_mode_combinations_follow_the_seed_matrix() {
    use HttpConnMode::*;
    let modes = [KeepAlive, ServerClose, Close];
    for fe in modes {
        for be in modes {
            let effective = fe.combine(be);
            let (client_conns, server_conns) = run_matrix_cell(fe, be).await;
            let (want_client, want_server) = match effective {
                KeepAlive => (1, 1),
                ServerClose => (1, 3),
                Close => (3, 3),
            };
            assert_eq!(
                (client_conns, server_conns),
                (want_client, want_server),
                "frontend {fe:?} x backend {be:?}"
            );
        }
    }
}

#[monoio::test_all(timer_enabled = true)]
async fn client_connection_close_closes_after_the_response_only_on_its_side() {
    let origin = Origin::start();
    let proxy = TestProxy::listen(&http_listen("web"), vec![origin.addr]);
    let addr = proxy.addr;
    let (first, closed, second) = blocking(move || {
        let mut c = Client::connect(addr);
        c.send(b"GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
        let first = c.read(false);
        let closed = c.is_closed();
        let mut d = Client::connect(addr);
        d.send(b"GET /echo HTTP/1.1\r\n\r\n");
        (first, closed, d.read(false))
    })
    .await;
    assert!(first.closes());
    assert!(closed);
    assert_eq!(
        first.header("X-Seen-Connection"),
        Some(""),
        "the client's close is not forwarded"
    );
    assert_eq!(
        second.header("X-Conn-Id"),
        Some("1"),
        "the server connection was kept"
    );
    assert_eq!(origin.connections(), 1);
}

fn forwardfor(except: Option<&str>) -> ForwardFor {
    ForwardFor {
        except: except.map(|n| {
            let (a, p) = n.split_once('/').unwrap();
            IpNet {
                addr: a.parse().unwrap(),
                prefix: p.parse().unwrap(),
            }
        }),
        header: "X-Forwarded-For".into(),
        if_none: false,
    }
}

async fn seen_xff(fe_ff: Option<ForwardFor>, be_ff: Option<ForwardFor>) -> String {
    let origin = Origin::start();
    let mut fe = http_listen("fe");
    fe.kind = ProxyKind::Frontend;
    fe.default_backend = Some("be".into());
    fe.options.forwardfor = fe_ff;
    let mut be = http_listen("be");
    be.kind = ProxyKind::Backend;
    be.options.forwardfor = be_ff;
    let proxy = TestProxy::start(&fe, &be, vec![origin.addr]);
    let addr = proxy.addr;
    let r = blocking(move || {
        request(
            addr,
            "GET /echo HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n",
        )
    })
    .await;
    r.header("X-Seen-XFF").unwrap().to_string()
}

#[monoio::test_all(timer_enabled = true)]
async fn forwardfor_appends_the_client_address_unless_excepted() {
    assert_eq!(
        seen_xff(Some(forwardfor(None)), None).await,
        "203.0.113.7|127.0.0.1"
    );
    assert_eq!(seen_xff(None, None).await, "203.0.113.7");
    assert_eq!(
        seen_xff(Some(forwardfor(Some("127.0.0.0/8"))), None).await,
        "203.0.113.7"
    );
    // The backend's option wins over the frontend's: its `except` applies.
    assert_eq!(
        seen_xff(
            Some(forwardfor(None)),
            Some(forwardfor(Some("127.0.0.0/8")))
        )
        .await,
        "203.0.113.7"
    );
    assert_eq!(
        seen_xff(
            Some(forwardfor(Some("127.0.0.0/8"))),
            Some(forwardfor(Some("10.0.0.0/8")))
        )
        .await,
        "203.0.113.7|127.0.0.1"
    );
}
