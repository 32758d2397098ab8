//! A `tcp-check` sequence through the running engine: `send PING` / `expect string +PONG`
//! takes a fake Redis out of rotation while it answers `-ERR` and puts it back once it
//! answers `+PONG`, and client traffic follows.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use support::*;

/// A Redis speaker named `name`: PING gets `+PONG` while `healthy`, `-ERR` otherwise; any
/// other command gets `+name.` so a client can tell which server answered.
fn fake_redis(name: &'static str, healthy: Arc<AtomicBool>) -> SocketAddr {
    serve_each(move |s| {
        let mut w = s.try_clone().unwrap();
        for line in BufReader::new(s).lines() {
            let Ok(line) = line else { break };
            let answer = match line.trim_end() {
                "PING" if healthy.load(Ordering::SeqCst) => "+PONG\r\n".to_string(),
                "PING" => "-ERR not ready\r\n".to_string(),
                // As long as "WHO\r\n", so `roundtrip` reads exactly the answer.
                _ => format!("+{name}.\r\n"),
            };
            if w.write_all(answer.as_bytes()).is_err() {
                break;
            }
        }
    })
}

/// The servers that answered `n` fresh client connections.
fn served_by(addr: SocketAddr, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|_| {
            let mut s = connect(addr);
            let reply = roundtrip(&mut s, b"WHO\r\n");
            String::from_utf8_lossy(&reply)
                .trim()
                .trim_start_matches('+')
                .trim_end_matches('.')
                .to_string()
        })
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn redis_goes_down_on_err_and_up_on_pong(legacy: bool) {
    let a_ok = Arc::new(AtomicBool::new(true));
    let a = fake_redis("a", a_ok.clone());
    let b = fake_redis("b", Arc::new(AtomicBool::new(true)));
    let text = format!(
        "global\n nbthread 2\ndefaults\n mode tcp\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n\
         listen redis\n balance roundrobin\n option tcp-check\n\
         tcp-check send PING\\r\\n\n tcp-check expect string +PONG\n\
         default-server inter 40 rise 2 fall 2\n server a {a} check\n server b {b} check\n"
    );
    let mut config = parse_config(&text);
    // An ephemeral port, which a configuration's `bind` line cannot name.
    config.proxies[0]
        .binds
        .push(bind("127.0.0.1:0".parse().unwrap()));
    let h = run(config, legacy);
    let addr = addr_of(&h, "redis");
    assert_eq!(served_by(addr, 6), set(&["a", "b"]));

    a_ok.store(false, Ordering::SeqCst);
    wait_state(&h, "a", false);
    // Redis keeps the connection open after "-ERR", so the expect rule keeps reading for
    // its pattern until the check's time is up, as in HAProxy.
    let snap = h.checker().unwrap().snapshot();
    let last = snap
        .iter()
        .find(|s| s.server == "a")
        .and_then(|s| s.last_check.clone())
        .unwrap();
    assert_eq!(
        last.status,
        ringlb_checks::CheckStatus::L7Timeout,
        "{last:?}"
    );
    assert_eq!(
        last.info.as_deref(),
        Some("at step 2 of tcp-check (expect string '+PONG')")
    );
    assert_eq!(
        served_by(addr, 6),
        set(&["b"]),
        "a DOWN server gets no traffic"
    );

    a_ok.store(true, Ordering::SeqCst);
    wait_state(&h, "a", true);
    assert_eq!(served_by(addr, 6), set(&["a", "b"]));
}
both_drivers!(
    redis_down_then_up,
    super::redis_goes_down_on_err_and_up_on_pong
);
