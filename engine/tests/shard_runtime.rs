//! Workers: refusal of a second instance, inbox latency, server events, soft stop, pinning.

mod support;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use ringlb::boot::run::{start, RunOptions};
use ringlb::worker::inbox::ShardEvent;
use ringlb::worker::DriverKind;
use ringlb_config::model::{CpuMap, IdSet};
use support::*;

fn a_second_instance_on_the_same_port_is_refused(legacy: bool) {
    let h = run(
        config(2, vec![listen("tcp_in", &[("s1", echo_server())])]),
        legacy,
    );
    let taken = addr_of(&h, "tcp_in");
    let mut p = listen("tcp_in", &[("s1", echo_server())]);
    p.binds = vec![bind(taken)];
    let err = start(
        config(2, vec![p]),
        RunOptions {
            legacy_driver: legacy,
            handle_signals: false,
            ..Default::default()
        },
    )
    .err()
    .expect("second instance refused");
    assert_eq!(
        err.to_string(),
        format!("cannot bind {taken}: address already in use by another process")
    );
    let mut c = connect(taken);
    assert_eq!(
        roundtrip(&mut c, b"first still serves"),
        b"first still serves"
    );
}
both_drivers!(
    a_second_instance_on_the_same_port_is_refused,
    super::a_second_instance_on_the_same_port_is_refused
);

fn events_reach_every_worker_within_ten_milliseconds(legacy: bool) {
    let h = run(
        config(2, vec![listen("tcp_in", &[("s1", echo_server())])]),
        legacy,
    );
    let mut best = vec![Duration::MAX; 2];
    for _ in 0..5 {
        let replies = h.probe(Duration::from_secs(2));
        assert_eq!(replies.len(), 2, "every worker answers");
        for (i, d) in replies {
            best[i] = best[i].min(d);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "inbox wake latency ({}): {best:?}",
        if legacy { "epoll" } else { "io_uring" }
    );
    assert!(
        best.iter().all(|d| *d < Duration::from_millis(10)),
        "{best:?}"
    );
}
both_drivers!(
    events_reach_every_worker_within_ten_milliseconds,
    super::events_reach_every_worker_within_ten_milliseconds
);

fn a_server_marked_down_gets_no_new_connections(legacy: bool) {
    let tag = |t: &'static [u8]| {
        serve_each(move |mut s| {
            let _ = s.write_all(t);
        })
    };
    let h = run(
        config(
            2,
            vec![listen("tcp_in", &[("a", tag(b"a")), ("b", tag(b"b"))])],
        ),
        legacy,
    );
    h.broadcast(ShardEvent::SetServerState {
        backend: "tcp_in".into(),
        server: "a".into(),
        up: false,
    });
    assert_eq!(
        h.probe(Duration::from_secs(2)).len(),
        2,
        "the event was handled by every worker"
    );
    for _ in 0..6 {
        let mut c = connect(addr_of(&h, "tcp_in"));
        assert_eq!(read_to_end(&mut c).unwrap(), b"b");
    }
}
both_drivers!(
    a_server_marked_down_gets_no_new_connections,
    super::a_server_marked_down_gets_no_new_connections
);

fn soft_stop_finishes_in_flight_transfers_and_refuses_new_ones(legacy: bool) {
    // A slow server: ten chunks, 100 ms apart.
    let slow = serve_each(|mut s| {
        for i in 0..10u8 {
            if s.write_all(&[i; 1000]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let h = run(config(2, vec![listen("tcp_in", &[("s1", slow)])]), legacy);
    let addr = addr_of(&h, "tcp_in");
    let mut c = connect(addr);
    let mut first = [0u8; 1000];
    c.read_exact(&mut first).unwrap();
    h.soft_stop();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "listeners are closed after a soft stop"
    );
    let rest = read_to_end(&mut c).unwrap();
    assert_eq!(rest.len(), 9000, "the in-flight transfer finished");
    // The tunnel stays half-open until the client closes its side too.
    drop(c);
    let stopped = Instant::now();
    h.wait().unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "workers exit once the last connection is gone"
    );
}
both_drivers!(
    soft_stop_finishes_in_flight_transfers_and_refuses_new_ones,
    super::soft_stop_finishes_in_flight_transfers_and_refuses_new_ones
);

fn hard_stop_closes_open_connections(legacy: bool) {
    let h = run(
        config(1, vec![listen("tcp_in", &[("s1", echo_server())])]),
        legacy,
    );
    let mut c = connect(addr_of(&h, "tcp_in"));
    assert_eq!(roundtrip(&mut c, b"x"), b"x");
    h.stop();
    h.wait().unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
    let _ = c.shutdown(Shutdown::Both);
}
both_drivers!(
    hard_stop_closes_open_connections,
    super::hard_stop_closes_open_connections
);

fn workers_run_pinned_on_the_requested_driver(legacy: bool) {
    let allowed = ringlb::worker::pin::allowed_cpus();
    let mut c = config(2, vec![listen("tcp_in", &[("s1", echo_server())])]);
    let last = *allowed.last().unwrap() as u32;
    // cpu-map auto:1-2 <first>-<last>, reversed order through two single lines.
    c.global.cpu_map = vec![
        CpuMap {
            auto: false,
            process: None,
            threads: IdSet::Ranges(vec![(1, 1)]),
            cpus: IdSet::Ranges(vec![(last, last)]),
        },
        CpuMap {
            auto: false,
            process: None,
            threads: IdSet::Ranges(vec![(2, 2)]),
            cpus: IdSet::Ranges(vec![(allowed[0] as u32, allowed[0] as u32)]),
        },
    ];
    let h = run(c, legacy);
    let w = h.workers();
    assert_eq!(
        w[0].affinity,
        vec![last as usize],
        "worker 1 reads back its pinned CPU"
    );
    assert_eq!(w[1].affinity, vec![allowed[0]]);
    if legacy {
        assert!(w.iter().all(|i| i.driver == DriverKind::Epoll));
    } else if ringlb::worker::build_runtime(false, 256).unwrap().1 == DriverKind::IoUring {
        assert!(w.iter().all(|i| i.driver == DriverKind::IoUring));
    }
}
both_drivers!(
    workers_run_pinned_on_the_requested_driver,
    super::workers_run_pinned_on_the_requested_driver
);
