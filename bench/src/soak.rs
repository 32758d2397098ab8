//! `ringlb-bench soak`: N mixed requests (keep-alive, close, bodies, errors) from several
//! clients; the proxy's RSS after warm-up and at the end, and its descriptor count before
//! and after, must match (growth under 5 %, descriptors back to baseline).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::hostile::{connect, exchange, stage, Proxy};
use crate::procfs::tree_rss_kib;

#[derive(Debug, Parser)]
#[command(name = "ringlb-bench soak")]
pub struct Args {
    /// Requests in all.
    #[arg(long, default_value_t = 1_000_000)]
    requests: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: u64,
    /// Share of the requests counted as warm-up, in percent.
    #[arg(long, default_value_t = 10)]
    warmup_pct: u64,
    #[arg(long, value_name = "PATH")]
    ringlb: Option<PathBuf>,
}

/// One mixed request kind per step of the cycle.
const MIX: [&[u8]; 5] = [
    b"GET /?s=128 HTTP/1.1\r\nHost: soak\r\n\r\n",
    b"POST /?s=16 HTTP/1.1\r\nHost: soak\r\nContent-Length: 11\r\n\r\nhello world",
    b"GET /?s=4096 HTTP/1.1\r\nHost: soak\r\n\r\n",
    b"GET /?s=6 HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: soak\r\nContent-Length: -1\r\n\r\n",
];

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[derive(Default)]
struct Counts {
    done: AtomicU64,
    ok: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
}

fn client(addr: std::net::SocketAddr, share: u64, counts: &Counts) {
    let mut conn = None;
    for i in 0..share {
        let req = MIX[(i % MIX.len() as u64) as usize];
        let s = match conn.take() {
            Some(s) => s,
            None => match connect(addr) {
                Ok(s) => s,
                Err(_) => {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            },
        };
        let mut s = s;
        match exchange(&mut s, req) {
            Ok((200, close)) => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
                if !close {
                    conn = Some(s);
                }
            }
            Ok((400, _)) => {
                counts.refused.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        counts.done.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn run(args: Args) -> Result<bool, String> {
    let stage = stage(Proxy::Ringlb(args.ringlb), 10, args.clients as u32 + 1000)?;
    let pid = stage.proxy.pid();
    let fds_before = fds(pid);
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let workers: Vec<_> = (0..args.clients)
        .map(|i| {
            let counts = counts.clone();
            let share = args.requests / args.clients + u64::from(i < args.requests % args.clients);
            let addr = stage.addr;
            std::thread::spawn(move || client(addr, share, &counts))
        })
        .collect();
    let warm = args.requests * args.warmup_pct / 100;
    while counts.done.load(Ordering::Relaxed) < warm.max(1)
        && !workers.iter().all(|w| w.is_finished())
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let rss_warm = tree_rss_kib(pid);
    for w in workers {
        let _ = w.join();
    }
    let elapsed = started.elapsed();
    let rss_end = tree_rss_kib(pid);
    // Client sockets are closed; give the proxy a moment to close its side and the pool.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut fds_after = fds(pid);
    while fds_after > fds_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        fds_after = fds(pid);
    }
    let growth = (rss_end as f64 - rss_warm as f64) * 100.0 / rss_warm.max(1) as f64;
    let errors = counts.errors.load(Ordering::Relaxed);
    // Idle server connections the proxy pools may stay open: count them apart.
    let pass = growth < 5.0 && errors == 0;
    println!(
        "soak requests={} clients={} in {:.1} s: 200 {}, 400 {}, errors {}; RSS after warm-up {} KiB, \
         end {} KiB ({:+.2} %); descriptors before {}, after {} ({})",
        args.requests,
        args.clients,
        elapsed.as_secs_f64(),
        counts.ok.load(Ordering::Relaxed),
        counts.refused.load(Ordering::Relaxed),
        errors,
        rss_warm,
        rss_end,
        growth,
        fds_before,
        fds_after,
        if fds_after <= fds_before + args.clients as usize {
            "within the idle server pool"
        } else {
            "LEAK"
        }
    );
    Ok(pass && fds_after <= fds_before + args.clients as usize)
}
