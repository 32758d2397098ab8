//! `ringlb-bench propagation`: the delay from a health checker decision to every worker
//! having applied it, with the engine running in this process. Each change (a server put
//! in maintenance, then back) is followed in every worker's inbox by a probe stamped with
//! the decision time, which a worker answers only after applying the change before it; the
//! slowest worker's answer is the sample.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use ringlb::boot::run::{start, RunOptions};
use ringlb::worker::inbox::ShardEvent;
use ringlb_checks::AdminState;

#[derive(Debug, Parser)]
#[command(name = "ringlb-bench propagation")]
pub struct Args {
    /// State changes to measure.
    #[arg(long, default_value_t = 1000)]
    changes: usize,
    /// Workers; default one per CPU, at least 2.
    #[arg(long)]
    workers: Option<usize>,
    /// Runs the workers on the epoll driver instead of io_uring.
    #[arg(long)]
    legacy_driver: bool,
}

/// A backend answering every connection with a `200` and a close, for the server's checks.
fn backend() -> Result<SocketAddr, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.read(&mut [0u8; 1024]);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
    });
    Ok(addr)
}

pub fn run(args: Args) -> Result<bool, String> {
    if args.changes == 0 {
        return Err("--changes must be at least 1".into());
    }
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2)
    });
    let server = backend()?;
    let port = crate::free_port()?;
    // One server, checked rarely: only the changes made here move its state.
    let text = format!(
        "global\n nbthread {workers}\ndefaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n\
         listen web\n bind 127.0.0.1:{port}\n option httpchk HEAD /running HTTP/1.0\n\
         server a {server} check inter 60s rise 2 fall 2\n"
    );
    let loaded = ringlb_config::parse_str(&text, Path::new("propagation.cfg"));
    let config = loaded
        .config
        .ok_or_else(|| format!("configuration: {:?}", loaded.diagnostics))?;
    // The checker writes two lines to stderr per change: they go to /dev/null meanwhile.
    let quiet = Silenced::stderr();
    let result = measure(config, &args, workers);
    drop(quiet);
    let mut samples = result?;
    samples.sort();
    let pct = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
    println!(
        "propagation to all {workers} workers ({}) over {} changes: p50 {:?}, p99 {:?}, max {:?}",
        if args.legacy_driver {
            "epoll"
        } else {
            "io_uring"
        },
        samples.len(),
        pct(50),
        pct(99),
        samples[samples.len() - 1]
    );
    Ok(true)
}

/// The slowest worker's delay for each of `args.changes` changes.
fn measure(
    config: ringlb_config::Config,
    args: &Args,
    workers: usize,
) -> Result<Vec<Duration>, String> {
    let h = start(
        config,
        RunOptions {
            legacy_driver: args.legacy_driver,
            handle_signals: false,
            ..RunOptions::default()
        },
    )
    .map_err(|e| format!("the engine does not start: {e}"))?;
    let checker = h.checker().ok_or("no health checker runs")?;
    let mut samples = Vec::with_capacity(args.changes);
    for i in 0..args.changes {
        let (tx, rx) = crossbeam_channel::unbounded();
        let decided = Instant::now();
        let admin = if i % 2 == 0 {
            AdminState::Maint
        } else {
            AdminState::Ready
        };
        checker
            .set_admin("web", "a", admin)
            .map_err(|e| format!("set_admin: {e}"))?;
        h.broadcast(ShardEvent::Probe {
            sent: decided,
            reply: tx,
        });
        let mut worst = Duration::ZERO;
        for _ in 0..workers {
            let (_, took) = rx
                .recv_timeout(Duration::from_secs(1))
                .map_err(|_| "a worker did not answer within 1 s".to_string())?;
            worst = worst.max(took);
        }
        samples.push(worst);
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(h);
    Ok(samples)
}

/// Descriptor 2 pointed at /dev/null until dropped.
struct Silenced {
    saved: libc::c_int,
}

impl Silenced {
    fn stderr() -> Option<Self> {
        // SAFETY: dup/open/dup2/close on descriptors this function owns; 2 is restored in drop.
        unsafe {
            let saved = libc::dup(2);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if saved < 0 || null < 0 {
                return None;
            }
            libc::dup2(null, 2);
            libc::close(null);
            Some(Self { saved })
        }
    }
}

impl Drop for Silenced {
    fn drop(&mut self) {
        // SAFETY: puts back the descriptor saved in `stderr`.
        unsafe {
            libc::dup2(self.saved, 2);
            libc::close(self.saved);
        }
    }
}
