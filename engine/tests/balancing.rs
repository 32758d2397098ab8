//! Load balancing end to end: weighted distribution and smoothness across two workers,
//! leastconn counting across workers, backup takeover and return, consistent hashing
//! stability, `maxconn` with queueing and `timeout queue`, `option abortonclose`.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ringlb::boot::run::RunHandle;
use ringlb::worker::inbox::ShardEvent;
use support::*;

/// A backend answering every request with `name`; `/slow` answers after `slow`.
fn named(name: &'static str, slow: Duration) -> SocketAddr {
    Origin::serve(move |req| {
        let delay = if req.path == "/slow" {
            slow
        } else {
            Duration::ZERO
        };
        Reply::text(name).after(delay)
    })
    .addr
}

/// What a counting backend saw: requests in progress at most, and requests in all.
#[derive(Default)]
struct Seen {
    now: AtomicUsize,
    max: AtomicUsize,
    total: AtomicUsize,
}

/// A backend that takes `delay` over each request and counts its concurrency.
fn counting(delay: Duration) -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    let origin = Origin::serve(move |_| {
        s2.total.fetch_add(1, Ordering::SeqCst);
        let now = s2.now.fetch_add(1, Ordering::SeqCst) + 1;
        s2.max.fetch_max(now, Ordering::SeqCst);
        thread::sleep(delay);
        s2.now.fetch_sub(1, Ordering::SeqCst);
        Reply::text("done")
    });
    (origin.addr, seen)
}

/// Starts the engine with two workers on `text`, where `@NAME` is the address of backend
/// NAME; the frontend is `listen lb` on a free port.
fn start(text: &str, servers: &[(&str, SocketAddr)], legacy: bool) -> (RunHandle, SocketAddr) {
    let mut text = text.to_string();
    for (n, a) in servers {
        text = text.replace(&format!("@{n} "), &format!("{a} "));
    }
    let port = free_port();
    let full = format!(
        "global\n nbthread 2\ndefaults\n mode http\n timeout client 10s\n timeout server 10s\n\
         timeout connect 1s\nlisten lb\n bind 127.0.0.1:{port}\n{text}"
    );
    let h = run(parse_config(&full), legacy);
    let addr = addr_of(&h, "lb");
    (h, addr)
}

/// Sends `GET path` on a keep-alive connection and returns the status and body.
fn ask(c: &mut Client, path: &str) -> (u16, String) {
    let r = c.get(path);
    (r.status, r.text())
}

/// Applies `event` in every worker before returning.
fn apply(h: &RunHandle, event: ShardEvent) {
    h.broadcast(event);
    assert_eq!(
        h.probe(Duration::from_secs(2)).len(),
        2,
        "both workers answer"
    );
}

fn down(backend: &str, server: &str, up: bool) -> ShardEvent {
    ShardEvent::SetServerState {
        backend: backend.into(),
        server: server.into(),
        up,
    }
}

fn weights_one_two_three_hold_over_ten_thousand_requests(legacy: bool) {
    let servers = [
        ("a", named("a", Duration::ZERO)),
        ("b", named("b", Duration::ZERO)),
        ("c", named("c", Duration::ZERO)),
    ];
    let (_h, addr) = start(
        " balance roundrobin\n server a @a weight 1\n server b @b weight 2\n server c @c weight 3\n",
        &servers,
        legacy,
    );
    let counts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let counts = counts.clone();
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                for _ in 0..1250 {
                    let (status, body) = ask(&mut c, "/");
                    assert_eq!(status, 200);
                    *counts.lock().unwrap().entry(body).or_default() += 1;
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let counts = counts.lock().unwrap();
    for (name, share) in [("a", 1.0 / 6.0), ("b", 2.0 / 6.0), ("c", 3.0 / 6.0)] {
        let got = counts[name] as f64 / 10_000.0;
        assert!(
            (got - share).abs() <= 0.02,
            "{name}: {got:.4} of requests, want {share:.4} ± 0.02 ({counts:?})"
        );
    }
}
both_drivers!(
    weights_one_two_three_hold_over_ten_thousand_requests,
    super::weights_one_two_three_hold_over_ten_thousand_requests
);

fn equal_weights_never_send_two_requests_in_a_row_to_one_server(legacy: bool) {
    let servers = [
        ("a", named("a", Duration::ZERO)),
        ("b", named("b", Duration::ZERO)),
        ("c", named("c", Duration::ZERO)),
    ];
    let (_h, addr) = start(
        " server a @a \n server b @b \n server c @c \n",
        &servers,
        legacy,
    );
    // New connections land on either worker; the shared cursor keeps the order.
    let seq: Vec<String> = (0..30).map(|_| http_get(addr, "/").unwrap().1).collect();
    assert!(
        seq.windows(2).all(|w| w[0] != w[1]),
        "a server twice in a row: {seq:?}"
    );
}
both_drivers!(
    equal_weights_never_send_two_requests_in_a_row_to_one_server,
    super::equal_weights_never_send_two_requests_in_a_row_to_one_server
);

fn leastconn_counts_connections_of_every_worker(legacy: bool) {
    let servers = [
        ("a", named("a", Duration::from_secs(2))),
        ("b", named("b", Duration::from_secs(2))),
    ];
    let (_h, addr) = start(
        " balance leastconn\n server a @a \n server b @b \n",
        &servers,
        legacy,
    );
    // One slow request holds a connection on one server, in one worker.
    let slow = thread::spawn(move || http_get(addr, "/slow").unwrap().1);
    thread::sleep(Duration::from_millis(300));
    // Quick requests on new connections reach both workers; every one of them must see
    // the busy server's connection and go to the other server.
    let quick: Vec<String> = (0..20).map(|_| http_get(addr, "/").unwrap().1).collect();
    let busy = slow.join().unwrap();
    assert!(
        quick.iter().all(|s| *s != busy),
        "{busy} is busy with a slow request, yet got some of {quick:?}"
    );
}
both_drivers!(
    leastconn_counts_connections_of_every_worker,
    super::leastconn_counts_connections_of_every_worker
);

fn backup_takes_over_and_hands_back(legacy: bool) {
    let servers = [
        ("a", named("a", Duration::ZERO)),
        ("bk1", named("bk1", Duration::ZERO)),
        ("bk2", named("bk2", Duration::ZERO)),
    ];
    let (h, addr) = start(
        " server a @a \n server bk1 @bk1 backup\n server bk2 @bk2 backup\n",
        &servers,
        legacy,
    );
    let served =
        |n: usize| -> Vec<String> { (0..n).map(|_| http_get(addr, "/").unwrap().1).collect() };
    assert!(served(4).iter().all(|s| s == "a"));
    apply(&h, down("lb", "a", false));
    assert!(
        served(4).iter().all(|s| s == "bk1"),
        "without allbackups only the first backup serves"
    );
    apply(&h, down("lb", "a", true));
    assert!(
        served(4).iter().all(|s| s == "a"),
        "the active server is back"
    );
}
both_drivers!(
    backup_takes_over_and_hands_back,
    super::backup_takes_over_and_hands_back
);

fn allbackups_spreads_over_every_backup(legacy: bool) {
    let servers = [
        ("a", named("a", Duration::ZERO)),
        ("bk1", named("bk1", Duration::ZERO)),
        ("bk2", named("bk2", Duration::ZERO)),
    ];
    let (_h, addr) = start(
        " option allbackups\n server a @a disabled\n server bk1 @bk1 backup\n server bk2 @bk2 backup\n",
        &servers,
        legacy,
    );
    let got: Vec<String> = (0..6).map(|_| http_get(addr, "/").unwrap().1).collect();
    assert_eq!(got.iter().filter(|s| *s == "bk1").count(), 3, "{got:?}");
    assert_eq!(got.iter().filter(|s| *s == "bk2").count(), 3, "{got:?}");
}
both_drivers!(
    allbackups_spreads_over_every_backup,
    super::allbackups_spreads_over_every_backup
);

fn consistent_uri_hash_is_stable_and_moves_only_the_removed_servers_keys(legacy: bool) {
    let names = ["s0", "s1", "s2", "s3", "s4"];
    let servers: Vec<(&str, SocketAddr)> = names
        .iter()
        .map(|&n| (n, named(n, Duration::ZERO)))
        .collect();
    let lines: String = names
        .iter()
        .map(|n| format!(" server {n} @{n} \n"))
        .collect();
    let (h, addr) = start(
        &format!(" balance uri\n hash-type consistent\n{lines}"),
        &servers,
        legacy,
    );
    let route = || -> Vec<String> {
        let mut c = Client::connect(addr);
        (0..300)
            .map(|i| ask(&mut c, &format!("/k/{i}")).1)
            .collect()
    };
    let before = route();
    assert_eq!(before, route(), "the same key goes to the same server");
    apply(&h, down("lb", "s2", false));
    let after = route();
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    let owned = before.iter().filter(|s| *s == "s2").count();
    assert_eq!(moved, owned, "only the keys of the removed server move");
    assert!(
        (30..=90).contains(&moved),
        "about a fifth of 300 keys: {moved}"
    );
}
both_drivers!(
    consistent_uri_hash_is_stable_and_moves_only_the_removed_servers_keys,
    super::consistent_uri_hash_is_stable_and_moves_only_the_removed_servers_keys
);

/// Sends `n` concurrent `GET /` on their own connections; returns the statuses.
fn burst(addr: SocketAddr, n: usize) -> Vec<u16> {
    let clients: Vec<_> = (0..n)
        .map(|_| thread::spawn(move || http_get(addr, "/").map(|r| r.0).unwrap_or(0)))
        .collect();
    clients.into_iter().map(|c| c.join().unwrap()).collect()
}

fn maxconn_queues_requests_and_the_server_never_sees_more(legacy: bool) {
    let (srv, seen) = counting(Duration::from_millis(100));
    let (_h, addr) = start(
        " timeout queue 10s\n server s @s maxconn 4\n",
        &[("s", srv)],
        legacy,
    );
    let statuses = burst(addr, 40);
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    assert_eq!(seen.total.load(Ordering::SeqCst), 40);
    let max = seen.max.load(Ordering::SeqCst);
    assert!(max <= 4, "the server saw {max} requests at once");
    assert_eq!(max, 4, "the limit is used, not undershot");
}
both_drivers!(
    maxconn_queues_requests_and_the_server_never_sees_more,
    super::maxconn_queues_requests_and_the_server_never_sees_more
);

fn an_expired_queue_answers_503(legacy: bool) {
    let (srv, seen) = counting(Duration::from_millis(300));
    let (_h, addr) = start(
        " timeout queue 200ms\n server s @s maxconn 4\n",
        &[("s", srv)],
        legacy,
    );
    let statuses = burst(addr, 40);
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let unavailable = statuses.iter().filter(|&&s| s == 503).count();
    assert_eq!(ok + unavailable, 40, "{statuses:?}");
    assert!(
        ok >= 4 && unavailable > 0,
        "{ok} served, {unavailable} got 503"
    );
    assert!(seen.max.load(Ordering::SeqCst) <= 4);
}
both_drivers!(
    an_expired_queue_answers_503,
    super::an_expired_queue_answers_503
);

/// One slow request fills `maxconn 1`; a second client sends its request and leaves.
/// Returns how many requests the server received in all.
fn requests_after_a_queued_client_leaves(abortonclose: bool, legacy: bool) -> usize {
    let (srv, seen) = counting(Duration::from_millis(600));
    let option = if abortonclose {
        " option abortonclose\n"
    } else {
        ""
    };
    let (_h, addr) = start(
        &format!("{option} timeout queue 10s\n server s @s maxconn 1\n"),
        &[("s", srv)],
        legacy,
    );
    let first = thread::spawn(move || http_get(addr, "/").unwrap().0);
    thread::sleep(Duration::from_millis(150));
    let mut gone = TcpStream::connect(addr).unwrap();
    gone.write_all(b"GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    drop(gone);
    assert_eq!(first.join().unwrap(), 200);
    thread::sleep(Duration::from_millis(900));
    seen.total.load(Ordering::SeqCst)
}

fn abortonclose_drops_a_queued_request_whose_client_left(legacy: bool) {
    assert_eq!(
        requests_after_a_queued_client_leaves(true, legacy),
        1,
        "the departed client's request never reaches the server"
    );
    assert_eq!(
        requests_after_a_queued_client_leaves(false, legacy),
        2,
        "without abortonclose it is still forwarded"
    );
}
both_drivers!(
    abortonclose_drops_a_queued_request_whose_client_left,
    super::abortonclose_drops_a_queued_request_whose_client_left
);
