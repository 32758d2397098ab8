//! `mode tcp` tunnels: half-close in both directions, a large transfer both ways, the server's
//! `source` address and TCP keep-alive (`option clitcpka`, `srvtcpka`).

mod support;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;
use std::thread;

use support::*;

fn client_half_close_still_receives_the_server_reply(legacy: bool) {
    // The server reads until the client's FIN, then answers with what it counted.
    let backend = serve_each(|mut s| {
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        s.write_all(format!("got {} bytes", all.len()).as_bytes())
            .unwrap();
    });
    let h = run(
        config(2, vec![listen("tcp_in", &[("s1", backend)])]),
        legacy,
    );
    let mut c = connect(addr_of(&h, "tcp_in"));
    c.write_all(&[7u8; 5000]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut c).unwrap(), b"got 5000 bytes");
}
both_drivers!(
    client_half_close_still_receives_the_server_reply,
    super::client_half_close_still_receives_the_server_reply
);

fn server_half_close_lets_the_client_keep_sending(legacy: bool) {
    // The server greets, closes its sending side, and keeps reading until the client's FIN.
    let (tx, rx) = mpsc::channel();
    let backend = serve_each(move |mut s| {
        s.write_all(b"hello").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        tx.send(all).unwrap();
    });
    let h = run(
        config(1, vec![listen("tcp_in", &[("s1", backend)])]),
        legacy,
    );
    let mut c = connect(addr_of(&h, "tcp_in"));
    assert_eq!(
        read_to_end(&mut c).unwrap(),
        b"hello",
        "the server's FIN reaches the client"
    );
    c.write_all(b"still talking").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let got = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(got, b"still talking");
}
both_drivers!(
    server_half_close_lets_the_client_keep_sending,
    super::server_half_close_lets_the_client_keep_sending
);

fn ten_mebibytes_cross_intact_in_both_directions(legacy: bool) {
    let h = run(
        config(2, vec![listen("tcp_in", &[("s1", echo_server())])]),
        legacy,
    );
    let mut c = connect(addr_of(&h, "tcp_in"));
    let data: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let mut writer = c.try_clone().unwrap();
    let sent = data.clone();
    let w = thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let back = read_to_end(&mut c).unwrap();
    w.join().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "echoed bytes differ from sent bytes");
}
both_drivers!(
    ten_mebibytes_cross_intact_in_both_directions,
    super::ten_mebibytes_cross_intact_in_both_directions
);

fn server_source_is_the_address_connections_leave_from(legacy: bool) {
    // The server tells each client the address the connection came from.
    let backend = serve_each(|mut s| {
        let peer = s.peer_addr().unwrap().ip().to_string();
        s.write_all(peer.as_bytes()).unwrap();
    });
    let mut p = listen("tcp_in", &[("s1", backend)]);
    p.servers[0].source = Some("127.0.0.2:0".parse().unwrap());
    let h = run(config(1, vec![p]), legacy);
    let mut c = connect(addr_of(&h, "tcp_in"));
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(got, "127.0.0.2");
}
both_drivers!(
    server_source,
    super::server_source_is_the_address_connections_leave_from
);

/// `SO_KEEPALIVE` of the socket in this process connected to `peer` (the engine runs in
/// the test's process, so its sockets are among ours).
fn keepalive_towards(peer: std::net::SocketAddr) -> bool {
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: borrowed for the calls below only; a descriptor closed meanwhile makes
        // them fail with EBADF, and the addresses tell a reused one apart.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let s = socket2::SockRef::from(&fd);
        let Ok(p) = s.peer_addr() else { continue };
        if p.as_socket() == Some(peer) {
            return s.keepalive().unwrap();
        }
    }
    panic!("no socket connected to {peer}");
}

fn tcpka_turns_keepalive_on_towards_clients_and_servers(legacy: bool) {
    let (echo_ka, echo_plain) = (echo_server(), echo_server());
    let mut ka = listen("ka", &[("s1", echo_ka)]);
    ka.options.clitcpka = true;
    ka.options.srvtcpka = true;
    let plain = listen("plain", &[("s1", echo_plain)]);
    let h = run(config(1, vec![ka, plain]), legacy);
    let mut a = connect(addr_of(&h, "ka"));
    let mut b = connect(addr_of(&h, "plain"));
    assert_eq!(roundtrip(&mut a, b"a"), b"a");
    assert_eq!(roundtrip(&mut b, b"b"), b"b");
    assert!(keepalive_towards(a.local_addr().unwrap()), "clitcpka");
    assert!(keepalive_towards(echo_ka), "srvtcpka");
    assert!(!keepalive_towards(b.local_addr().unwrap()));
    assert!(!keepalive_towards(echo_plain));
}
both_drivers!(
    tcpka,
    super::tcpka_turns_keepalive_on_towards_clients_and_servers
);
