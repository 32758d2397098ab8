//! `ringlb-bench slowloris`: N connections each sending one more header byte per second
//! while a normal keep-alive client measures its latency, against a baseline without the
//! attack. Reports the normal client's p50/p99 both ways and the 408s the attackers got.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::hostile::{connect, exchange, ms, percentile, stage};

#[derive(Debug, Parser)]
#[command(name = "ringlb-bench slowloris")]
pub struct Args {
    /// Attacking connections.
    #[arg(long, default_value_t = 5000)]
    conns: usize,
    /// Seconds of measurement without the attack, then with it.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// `timeout http-request` of the proxy, in seconds (the attackers get their 408 then).
    #[arg(long, default_value_t = 10)]
    head_timeout: u64,
    /// Pause between the normal client's requests, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pace_ms: u64,
    #[arg(long, value_name = "PATH")]
    ringlb: Option<PathBuf>,
}

/// The normal client's latencies over `secs` seconds of sequential keep-alive requests.
fn probe(addr: std::net::SocketAddr, secs: u64, pace: Duration) -> Result<Vec<Duration>, String> {
    let mut s = connect(addr).map_err(|e| e.to_string())?;
    let mut lat = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let t = Instant::now();
        match exchange(&mut s, b"GET /?s=64 HTTP/1.1\r\nHost: bench\r\n\r\n") {
            Ok((200, _)) => lat.push(t.elapsed()),
            Ok((st, _)) => return Err(format!("normal client got {st}")),
            Err(e) => return Err(format!("normal client: {e}")),
        }
        std::thread::sleep(pace);
    }
    Ok(lat)
}

/// What the attack saw.
#[derive(Default)]
struct Attack {
    opened: usize,
    got_408: usize,
    closed: usize,
}

/// Opens `n` connections and dribbles one header byte per second on each until `stop`.
fn attack(addr: std::net::SocketAddr, n: usize, stop: &AtomicBool) -> Attack {
    const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nX-Slow: ";
    let mut conns: Vec<(TcpStream, usize, bool)> = Vec::with_capacity(n);
    let mut a = Attack::default();
    for _ in 0..n {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            let _ = s.set_nonblocking(true);
            conns.push((s, 0, false));
        }
    }
    a.opened = conns.len();
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        let tick = Instant::now();
        for (s, sent, done) in conns.iter_mut().filter(|c| !c.2) {
            // The head never ends: after its fixed start, the header value grows forever.
            let b = HEAD.get(*sent).copied().unwrap_or(b'a');
            match s.write(&[b]) {
                Ok(_) => *sent += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {}
            }
            match s.read(&mut buf) {
                Ok(0) => {
                    *done = true;
                    a.closed += 1;
                }
                Ok(n) => {
                    if buf[..n].starts_with(b"HTTP/1.1 408") {
                        a.got_408 += 1;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    *done = true;
                    a.closed += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed()));
    }
    a
}

pub fn run(args: Args) -> Result<bool, String> {
    let stage = stage(args.ringlb, args.head_timeout, args.conns as u32 + 1000)?;
    let addr = stage.addr;
    let pace = Duration::from_millis(args.pace_ms);
    let mut base = probe(addr, args.seconds, pace)?;
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let stop = stop.clone();
        let n = args.conns;
        std::thread::spawn(move || attack(addr, n, &stop))
    };
    // Let the connections open before measuring.
    std::thread::sleep(Duration::from_secs(1));
    let under = probe(addr, args.seconds, pace);
    stop.store(true, Ordering::Relaxed);
    let a = attacker
        .join()
        .map_err(|_| "attacker panicked".to_string())?;
    let mut under = under?;
    let (b50, b99) = (percentile(&mut base, 50.0), percentile(&mut base, 99.0));
    let (u50, u99) = (percentile(&mut under, 50.0), percentile(&mut under, 99.0));
    let ratio = ms(u99) / ms(b99).max(0.001);
    println!(
        "slowloris conns={} seconds={} head-timeout={}s: baseline p50 {:.3} ms p99 {:.3} ms ({} req); \
         under attack p50 {:.3} ms p99 {:.3} ms ({} req); p99 ratio {:.2} ({}); attackers opened {}, got 408 {}, closed {}",
        args.conns,
        args.seconds,
        args.head_timeout,
        ms(b50),
        ms(b99),
        base.len(),
        ms(u50),
        ms(u99),
        under.len(),
        ratio,
        if ratio <= 2.0 { "within 2x" } else { "OVER 2x" },
        a.opened,
        a.got_408,
        a.closed
    );
    drop(stage);
    Ok(ratio <= 2.0)
}
