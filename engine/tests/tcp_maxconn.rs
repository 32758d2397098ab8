//! `maxconn`: connections above the limit wait in the backlog and proceed when one closes.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use support::*;

fn maxconn_holds_the_next_connection_until_one_closes(legacy: bool) {
    let mut p = listen("tcp_in", &[("s1", echo_server())]);
    p.maxconn = Some(2);
    let h = run(config(2, vec![p]), legacy);
    let addr = addr_of(&h, "tcp_in");
    let mut a = connect(addr);
    let mut b = connect(addr);
    assert_eq!(roundtrip(&mut a, b"a"), b"a");
    assert_eq!(roundtrip(&mut b, b"b"), b"b");

    let mut third = connect(addr);
    third.write_all(b"c").unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 1];
    assert!(
        third.read(&mut buf).is_err(),
        "the third connection is not served while two are open"
    );

    drop(a);
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    third.read_exact(&mut buf).unwrap();
    assert_eq!(
        &buf, b"c",
        "the waiting connection proceeds once a slot is free"
    );
}
both_drivers!(
    maxconn_holds_the_next_connection_until_one_closes,
    super::maxconn_holds_the_next_connection_until_one_closes
);

fn bind_maxconn_holds_the_next_connection_on_its_line(legacy: bool) {
    let mut p = listen("tcp_in", &[("s1", echo_server())]);
    p.binds[0].options.maxconn = Some(1);
    let h = run(config(2, vec![p]), legacy);
    let addr = addr_of(&h, "tcp_in");
    let mut a = connect(addr);
    assert_eq!(roundtrip(&mut a, b"a"), b"a");

    let mut second = connect(addr);
    second.write_all(b"b").unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 1];
    assert!(
        second.read(&mut buf).is_err(),
        "bind maxconn 1: the second connection waits while the first is open"
    );

    drop(a);
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    second.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"b", "it proceeds once the line has room");
}
both_drivers!(
    bind_maxconn_holds_the_next_connection_on_its_line,
    super::bind_maxconn_holds_the_next_connection_on_its_line
);
