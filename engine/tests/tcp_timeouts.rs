//! Connect timeouts, retries and redispatch, and the inactivity timeout of a tunnel.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::*;

/// A listener whose accept queue is full: further SYNs are dropped, so connects hang.
fn blackhole() -> (
    socket2::Socket,
    Vec<std::net::TcpStream>,
    std::net::SocketAddr,
) {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    s.listen(0).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    for _ in 0..4 {
        let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        if c.connect_timeout(&addr.into(), Duration::from_millis(100))
            .is_ok()
        {
            fill.push(c.into());
        }
    }
    (s, fill, addr)
}

fn connect_timeout_and_retries_give_up_on_a_silent_server(legacy: bool) {
    let (_hole, _fill, addr) = blackhole();
    let mut p = listen("tcp_in", &[("s1", addr)]);
    p.timeouts.connect = Some(Duration::from_millis(150));
    p.retries = 2;
    let h = run(config(1, vec![p]), legacy);
    let started = Instant::now();
    let mut c = connect(addr_of(&h, "tcp_in"));
    let got = read_to_end(&mut c).unwrap();
    assert!(got.is_empty(), "the client is closed without data");
    // Three attempts of 150 ms each happened before giving up.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "gave up after {:?}",
        started.elapsed()
    );
}
both_drivers!(
    connect_timeout_and_retries_give_up_on_a_silent_server,
    super::connect_timeout_and_retries_give_up_on_a_silent_server
);

fn refused_server_is_left_for_another_on_redispatch(legacy: bool) {
    let mut p = listen("tcp_in", &[("dead", dead_addr()), ("alive", echo_server())]);
    p.retries = 1;
    p.options.redispatch = true;
    let h = run(config(1, vec![p]), legacy);
    for i in 0..4 {
        let mut c = connect(addr_of(&h, "tcp_in"));
        let msg = format!("ping {i}");
        assert_eq!(
            roundtrip(&mut c, msg.as_bytes()),
            msg.as_bytes(),
            "connection {i} reached a live server"
        );
    }
}
both_drivers!(
    refused_server_is_left_for_another_on_redispatch,
    super::refused_server_is_left_for_another_on_redispatch
);

fn without_redispatch_a_dead_server_closes_the_client(legacy: bool) {
    let mut p = listen("tcp_in", &[("dead", dead_addr())]);
    p.retries = 2;
    let h = run(config(1, vec![p]), legacy);
    let mut c = connect(addr_of(&h, "tcp_in"));
    let mut buf = [0u8; 16];
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0, "closed without data");
}
both_drivers!(
    without_redispatch_a_dead_server_closes_the_client,
    super::without_redispatch_a_dead_server_closes_the_client
);

fn timeout_client_closes_an_idle_tunnel(legacy: bool) {
    let mut p = listen("tcp_in", &[("s1", echo_server())]);
    p.timeouts.client = Some(Duration::from_millis(300));
    p.timeouts.server = Some(Duration::from_secs(30));
    let h = run(config(1, vec![p]), legacy);
    let mut c = connect(addr_of(&h, "tcp_in"));
    assert_eq!(roundtrip(&mut c, b"alive"), b"alive");
    // Activity keeps it open past the timeout.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(roundtrip(&mut c, b"x"), b"x");
    }
    let idle_from = Instant::now();
    assert!(
        read_to_end(&mut c).unwrap().is_empty(),
        "the proxy closes the idle tunnel"
    );
    assert!(
        idle_from.elapsed() >= Duration::from_millis(250),
        "closed after {:?}",
        idle_from.elapsed()
    );
}
both_drivers!(
    timeout_client_closes_an_idle_tunnel,
    super::timeout_client_closes_an_idle_tunnel
);

fn timeout_tunnel_overrides_client_and_server(legacy: bool) {
    let mut p = listen("tcp_in", &[("s1", echo_server())]);
    p.timeouts.client = Some(Duration::from_millis(100));
    p.timeouts.server = Some(Duration::from_millis(100));
    p.timeouts.tunnel = Some(Duration::from_secs(30));
    let h = run(config(1, vec![p]), legacy);
    let mut c = connect(addr_of(&h, "tcp_in"));
    assert_eq!(roundtrip(&mut c, b"a"), b"a");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        roundtrip(&mut c, b"b"),
        b"b",
        "idle longer than timeout client, still open"
    );
}
both_drivers!(
    timeout_tunnel_overrides_client_and_server,
    super::timeout_tunnel_overrides_client_and_server
);

#[test]
fn blackhole_fixture_really_drops_connects() {
    let (_hole, fill, addr) = blackhole();
    assert!(!fill.is_empty());
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    assert!(s
        .connect_timeout(&addr.into(), Duration::from_millis(200))
        .is_err());
}

/// A `mode tcp` proxy to `server` with client and server timeouts of 5 s and the fin
/// timeout `fin` picks set to 300 ms.
fn run_with_fin(
    server: std::net::SocketAddr,
    fin: fn(&mut ringlb_config::model::Timeouts) -> &mut Option<Duration>,
    legacy: bool,
) -> ringlb::boot::run::RunHandle {
    let mut p = listen("tcp_in", &[("s1", server)]);
    p.timeouts.client = Some(Duration::from_secs(5));
    p.timeouts.server = Some(Duration::from_secs(5));
    *fin(&mut p.timeouts) = Some(Duration::from_millis(300));
    run(config(1, vec![p]), legacy)
}

/// Ended by the 300 ms fin timeout: not at once, and well before the 5 s ones.
fn ends_at_fin(took: Duration) -> bool {
    took >= Duration::from_millis(250) && took < Duration::from_millis(2500)
}

/// Once the client closed its side, the server gets `timeout server-fin` to close its own:
/// a server that never does is cut off then, not at `timeout server`.
fn timeout_server_fin_ends_a_half_closed_tunnel(legacy: bool) {
    let silent = serve_each(|mut s| {
        let mut buf = [0u8; 64];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        std::thread::sleep(Duration::from_secs(10));
    });
    let h = run_with_fin(silent, |t| &mut t.server_fin, legacy);
    let mut c = connect(addr_of(&h, "tcp_in"));
    c.write_all(b"bye").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let started = Instant::now();
    assert!(read_to_end(&mut c).unwrap().is_empty());
    let took = started.elapsed();
    assert!(
        ends_at_fin(took),
        "the tunnel ended {took:?} after the client's close"
    );
}
both_drivers!(
    timeout_server_fin_ends_a_half_closed_tunnel,
    super::timeout_server_fin_ends_a_half_closed_tunnel
);

/// Once the server closed its side, the client gets `timeout client-fin` to close its own.
/// The server sees the proxy close its connection when the tunnel ends.
fn timeout_client_fin_ends_a_half_closed_tunnel(legacy: bool) {
    let (tx, rx) = std::sync::mpsc::channel();
    let closing = serve_each(move |mut s| {
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        let _ = tx.send(started.elapsed());
    });
    let h = run_with_fin(closing, |t| &mut t.client_fin, legacy);
    let mut c = connect(addr_of(&h, "tcp_in"));
    assert!(
        read_to_end(&mut c).unwrap().is_empty(),
        "the server's close reaches the client"
    );
    let took = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the tunnel ends");
    assert!(
        ends_at_fin(took),
        "the tunnel ended {took:?} after the server's close"
    );
    drop(c);
}
both_drivers!(
    timeout_client_fin_ends_a_half_closed_tunnel,
    super::timeout_client_fin_ends_a_half_closed_tunnel
);
