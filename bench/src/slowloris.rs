//! `ringlb-bench slowloris`: N connections each sending one more header byte per second
//! while a normal keep-alive client measures its latency, against a baseline without the
//! attack, over several rounds. Reports the normal client's p50/p99 both ways, per round and
//! pooled, the proxy's CPU use, the hypervisor's steal, and the 408s the attackers got.
//! Rounds disturbed by steal are run again (`--steal-max`, `--retries`).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::hostile::{connect, exchange, ms, percentile, stage, Proxy};
use crate::procfs;

#[derive(Debug, Parser)]
#[command(name = "ringlb-bench slowloris")]
pub struct Args {
    /// Attacking connections.
    #[arg(long, default_value_t = 5000)]
    conns: usize,
    /// Seconds of measurement without the attack, then with it, in each round.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Rounds of baseline-then-attack; the verdict pools every round's latencies, so one
    /// disturbed window on a shared machine weighs less.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// `timeout http-request` of the proxy, in seconds (the attackers get their 408 then).
    #[arg(long, default_value_t = 10)]
    head_timeout: u64,
    /// Pause between the normal client's requests, in milliseconds.
    #[arg(long, default_value_t = 2)]
    pace_ms: u64,
    #[arg(long, value_name = "PATH")]
    ringlb: Option<PathBuf>,
    /// Runs the scenario against the installed haproxy instead, for comparison.
    #[arg(long)]
    haproxy: bool,
    /// A round in which the hypervisor took more than this share of the machine's CPU
    /// (steal, in percent) in either phase is run again: on a shared virtual machine, steal
    /// stalls every process for milliseconds, and the p99 then measures the host.
    #[arg(long, default_value_t = 1.0)]
    steal_max: f64,
    /// Times a disturbed round is run again before it is kept (and flagged).
    #[arg(long, default_value_t = 3)]
    retries: u32,
}

/// The normal client's latencies over `secs` seconds of sequential keep-alive requests,
/// sent from the clients' CPUs.
fn probe(
    addr: std::net::SocketAddr,
    secs: u64,
    pace: Duration,
    cpus: &[usize],
) -> Result<Vec<Duration>, String> {
    procfs::pin_current_thread(cpus);
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
    bytes: u64,
    got_408: usize,
    closed: usize,
}

/// One attacking connection: how much of its head it sent, and whether it is still open.
struct Dribble {
    stream: Option<TcpStream>,
    sent: usize,
}

/// Holds `n` connections open and dribbles one header byte per second on each until
/// `stop`; a connection the proxy closes (after its 408) is opened again, so the pressure
/// lasts the whole measurement, as it does with a real attacker.
fn attack(addr: std::net::SocketAddr, n: usize, stop: &AtomicBool, cpus: &[usize]) -> Attack {
    const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nX-Slow: ";
    procfs::pin_current_thread(cpus);
    // The attackers share the clients' core with the normal client and the backend; at
    // idle priority their bursts cannot hold those two off the CPU. What is measured is
    // what the attack does to the proxy.
    procfs::yield_to_others();
    // The attackers share the clients' core with the normal client and the backend; at
    // idle priority their bursts cannot hold those two off the CPU. What is measured is
    // what the attack does to the proxy.
    procfs::yield_to_others();
    let open = || {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_nonblocking(true).ok()?;
        Some(s)
    };
    let mut a = Attack::default();
    let mut conns: Vec<Dribble> = Vec::with_capacity(n);
    for _ in 0..n {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let stream = open();
        a.opened += usize::from(stream.is_some());
        conns.push(Dribble { stream, sent: 0 });
    }
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        let tick = Instant::now();
        for c in conns.iter_mut() {
            let Some(s) = c.stream.as_mut() else {
                c.stream = open();
                c.sent = 0;
                a.opened += usize::from(c.stream.is_some());
                continue;
            };
            // The head never ends: after its fixed start, the header value grows forever.
            let b = HEAD.get(c.sent).copied().unwrap_or(b'a');
            if s.write(&[b]).is_ok() {
                c.sent += 1;
                a.bytes += 1;
            }
            let gone = match s.read(&mut buf) {
                Ok(0) => true,
                Ok(n) => {
                    a.got_408 += usize::from(buf[..n].starts_with(b"HTTP/1.1 408"));
                    false
                }
                Err(e) => e.kind() != ErrorKind::WouldBlock,
            };
            if gone {
                c.stream = None;
                a.closed += 1;
            }
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed()));
    }
    a
}

/// One round: the normal client alone, then under attack.
struct Round {
    base: Vec<Duration>,
    under: Vec<Duration>,
    base_ticks: u64,
    under_ticks: u64,
    /// Share of the machine's CPU time the hypervisor gave to others (steal), in percent,
    /// during each phase: latency the proxy did not cause.
    base_steal: f64,
    under_steal: f64,
    attack: Attack,
}

fn round(stage: &crate::hostile::Stage, args: &Args) -> Result<Round, String> {
    let (addr, cpus) = (stage.addr, stage.load_cpus.clone());
    let pace = Duration::from_millis(args.pace_ms);
    let ticks = || procfs::tree_ticks(stage.proxy.pid());
    let (t0, m0) = (ticks(), procfs::machine_ticks());
    let base = probe(addr, args.seconds, pace, &cpus)?;
    let (base_ticks, m1) = (ticks() - t0, procfs::machine_ticks());
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let stop = stop.clone();
        let n = args.conns;
        let cpus = cpus.clone();
        std::thread::spawn(move || attack(addr, n, &stop, &cpus))
    };
    // Let the connections open before measuring.
    std::thread::sleep(Duration::from_secs(1));
    let (t1, m2) = (ticks(), procfs::machine_ticks());
    let under = probe(addr, args.seconds, pace, &cpus);
    let (under_ticks, m3) = (ticks() - t1, procfs::machine_ticks());
    stop.store(true, Ordering::Relaxed);
    let attack = attacker
        .join()
        .map_err(|_| "attacker panicked".to_string())?;
    // The attackers' connections close with their thread; let the proxy see them go.
    std::thread::sleep(Duration::from_secs(1));
    Ok(Round {
        base,
        under: under?,
        base_ticks,
        under_ticks,
        base_steal: m1.steal_pct_since(&m0),
        under_steal: m3.steal_pct_since(&m2),
        attack,
    })
}

pub fn run(args: Args) -> Result<bool, String> {
    let proxy = if args.haproxy {
        Proxy::Haproxy
    } else {
        Proxy::Ringlb(args.ringlb.clone())
    };
    let name = if args.haproxy { "haproxy" } else { "ringlb" };
    let stage = stage(proxy, args.head_timeout, args.conns as u32 + 1000)?;
    let cpu_pct = |t: u64| t as f64 * 100.0 / (procfs::clk_tck() * args.seconds) as f64;
    // Latencies of the quiet rounds, and of the disturbed ones kept after their retries:
    // the verdict pools the quiet rounds when there are any.
    let (mut quiet, mut kept) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    let mut discarded = 0;
    for i in 1..=args.rounds {
        let mut tries = 0;
        let mut r = loop {
            let r = round(&stage, &args)?;
            let steal = r.base_steal.max(r.under_steal);
            if steal <= args.steal_max || tries == args.retries {
                break r;
            }
            tries += 1;
            discarded += 1;
            println!(
                "round {i} discarded: steal {:.1}% baseline, {:.1}% under attack (over {}%); again",
                r.base_steal, r.under_steal, args.steal_max
            );
        };
        let disturbed = r.base_steal.max(r.under_steal) > args.steal_max;
        let pool = if disturbed { &mut kept } else { &mut quiet };
        pool.0.extend_from_slice(&r.base);
        pool.1.extend_from_slice(&r.under);
        let (b99, u99) = (
            percentile(&mut r.base, 99.0),
            percentile(&mut r.under, 99.0),
        );
        println!(
            "round {i}{}: baseline p50 {:.3} ms p99 {:.3} ms ({} req); under attack p50 {:.3} ms \
             p99 {:.3} ms ({} req); p99 ratio {:.2}; proxy CPU {:.1}% baseline, {:.1}% under attack; \
             steal {:.1}% baseline, {:.1}% under attack; attackers opened {}, sent {} bytes, got 408 {}, closed {}",
            if disturbed { " (disturbed, kept)" } else { "" },
            ms(percentile(&mut r.base, 50.0)),
            ms(b99),
            r.base.len(),
            ms(percentile(&mut r.under, 50.0)),
            ms(u99),
            r.under.len(),
            ms(u99) / ms(b99).max(0.001),
            cpu_pct(r.base_ticks),
            cpu_pct(r.under_ticks),
            r.base_steal,
            r.under_steal,
            r.attack.opened,
            r.attack.bytes,
            r.attack.got_408,
            r.attack.closed
        );
    }
    let pooled_rounds = if quiet.0.is_empty() {
        "every round, none quiet"
    } else {
        "the quiet rounds"
    };
    let (mut base, mut under) = if quiet.0.is_empty() { kept } else { quiet };
    let (b50, b99) = (percentile(&mut base, 50.0), percentile(&mut base, 99.0));
    let (u50, u99) = (percentile(&mut under, 50.0), percentile(&mut under, 99.0));
    let ratio = ms(u99) / ms(b99).max(0.001);
    println!(
        "slowloris {name} conns={} seconds={} head-timeout={}s rounds={}, pooled over {}: \
         baseline p50 {:.3} ms \
         p99 {:.3} ms ({} req); under attack p50 {:.3} ms p99 {:.3} ms ({} req); \
         p99 ratio {:.2} ({}); rounds discarded for steal over {}%: {}",
        args.conns,
        args.seconds,
        args.head_timeout,
        args.rounds,
        pooled_rounds,
        ms(b50),
        ms(b99),
        base.len(),
        ms(u50),
        ms(u99),
        under.len(),
        ratio,
        if ratio <= 2.0 { "within 2x" } else { "OVER 2x" },
        args.steal_max,
        discarded,
    );
    drop(stage);
    Ok(ratio <= 2.0)
}
