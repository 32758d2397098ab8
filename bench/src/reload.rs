//! `ringlb-bench reload`: failed requests over a series of `-sf` reloads under continuous
//! load, for ringlb (io_uring and epoll) and the installed haproxy (with the listening
//! sockets passed over `-x` and `expose-fd listeners`, and without). The load keeps
//! `--keep-alive` connections busy (a request as soon as the previous answer is in,
//! reconnecting when the proxy says `Connection: close`) while `--fresh` threads open a
//! connection per request. Fails when ringlb lost a request; haproxy's counts are reported.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::hostile::{connect, exchange, raise_nofile};

#[derive(Debug, Parser)]
#[command(name = "ringlb-bench reload")]
pub struct Args {
    /// Reloads per proxy and mode.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Keep-alive connections kept busy during the reloads.
    #[arg(long, default_value_t = 200)]
    keep_alive: usize,
    /// Threads opening a new connection per request.
    #[arg(long, default_value_t = 4)]
    fresh: usize,
    /// Leaves haproxy out even when it is installed.
    #[arg(long)]
    no_haproxy: bool,
    #[arg(long, value_name = "PATH")]
    ringlb: Option<PathBuf>,
}

/// What the load client saw.
#[derive(Debug, Default)]
struct LoadReport {
    ok: usize,
    /// Requests that got no complete `200`, whatever the reason.
    failed: usize,
    resets: usize,
    refused: usize,
    /// The first few failures.
    samples: Vec<String>,
}

struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<LoadReport>>,
}

impl Load {
    fn start(addr: SocketAddr, keep_alive: usize, fresh: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..keep_alive + fresh)
            .map(|i| {
                let stop = stop.clone();
                let persistent = i < keep_alive;
                thread::Builder::new()
                    .stack_size(128 * 1024)
                    .spawn(move || client_loop(addr, persistent, &stop))
                    .expect("load thread")
            })
            .collect();
        Self { stop, threads }
    }

    fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = LoadReport::default();
        for t in self.threads {
            let r = t.join().unwrap_or_default();
            total.ok += r.ok;
            total.failed += r.failed;
            total.resets += r.resets;
            total.refused += r.refused;
            if total.samples.len() < 10 {
                total.samples.extend(r.samples);
            }
        }
        total
    }
}

fn client_loop(addr: SocketAddr, persistent: bool, stop: &AtomicBool) -> LoadReport {
    let request: &[u8] = if persistent {
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    } else {
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    };
    let mut report = LoadReport::default();
    let mut conn = None;
    while !stop.load(Ordering::Relaxed) {
        let s = match conn.take() {
            Some(s) => Ok(s),
            None => connect(addr),
        };
        let result = s.and_then(|mut s| match exchange(&mut s, request)? {
            (200, close) => Ok((s, close)),
            (status, _) => Err(std::io::Error::other(format!("status {status}"))),
        });
        match result {
            Ok((s, close)) => {
                report.ok += 1;
                if persistent && !close {
                    conn = Some(s);
                }
            }
            Err(e) => {
                report.failed += 1;
                match e.kind() {
                    std::io::ErrorKind::ConnectionReset => report.resets += 1,
                    std::io::ErrorKind::ConnectionRefused => report.refused += 1,
                    _ => {}
                }
                if report.samples.len() < 3 {
                    report.samples.push(format!("{:?}: {e}", e.kind()));
                }
            }
        }
    }
    report
}

/// `listen web` on `port` in front of `server`, two workers.
fn config(port: u16, server: SocketAddr, global_extra: &str) -> String {
    format!(
        "global\n    nbthread 2\n{global_extra}\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n    timeout http-keep-alive 10s\n\
         listen web\n    bind 127.0.0.1:{port}\n    server s1 {server}\n"
    )
}

/// One proxy process, its output in a file; killed when dropped if it still runs.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn spawn(bin: &Path, args: &[String], log: PathBuf) -> Result<Self, String> {
        let out = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        Ok(Self { child, log })
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `limit` for the exit; whether it happened.
    fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Waits until ringlb announced as many running workers as it started.
    fn wait_ringlb_workers(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.log_text();
            let started = text
                .lines()
                .find_map(|l| l.split(", ").nth(1)?.strip_suffix(" worker(s)"))
                .and_then(|n| n.parse::<usize>().ok());
            let running = text
                .lines()
                .filter(|l| l.starts_with("ringlb: worker ") && l.contains(" running on "))
                .count();
            if started.is_some_and(|n| running >= n) {
                return Ok(());
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("ringlb exited ({st}) before serving:\n{text}"));
            }
            if Instant::now() > deadline {
                return Err(format!("ringlb does not serve after 15 s:\n{text}"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        if !self.wait_exit(Duration::from_secs(5)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `addr` accepts connections.
fn wait_listening(addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while connect(addr).is_err() {
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {addr} after 10 s"));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The proxies and modes measured.
#[derive(Clone, Copy)]
enum Case {
    Ringlb { legacy: bool },
    Haproxy { expose: bool },
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::Ringlb { legacy: false } => "ringlb -sf (io_uring)",
            Case::Ringlb { legacy: true } => "ringlb -sf (epoll)",
            Case::Haproxy { expose: true } => "haproxy -sf -x (expose-fd listeners)",
            Case::Haproxy { expose: false } => "haproxy -sf without -x",
        }
    }
}

/// `rounds` reloads of one proxy under the load; what the clients saw.
fn measure(case: Case, bin: &Path, args: &Args, backend: SocketAddr) -> Result<LoadReport, String> {
    let dir = std::env::temp_dir().join(format!("ringlb-bench-reload.{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = crate::free_port()?;
    let front: SocketAddr = ([127, 0, 0, 1], port).into();
    let sock = dir.join("stats.sock");
    let global = match case {
        Case::Haproxy { expose: true } => format!(
            "    stats socket {} mode 600 level admin expose-fd listeners\n",
            sock.display()
        ),
        _ => String::new(),
    };
    let cfg = dir.join("proxy.cfg");
    fs::write(&cfg, config(port, backend, &global)).map_err(|e| e.to_string())?;
    let base = |extra: &[String]| {
        let mut a = Vec::new();
        if matches!(case, Case::Haproxy { .. }) {
            a.push("-db".to_string());
        }
        a.extend(["-f".to_string(), cfg.display().to_string()]);
        if matches!(case, Case::Ringlb { legacy: true }) {
            a.push("--legacy-driver".to_string());
        }
        a.extend_from_slice(extra);
        a
    };
    let mut current = Running::spawn(bin, &base(&[]), dir.join("proxy-0.log"))?;
    match case {
        Case::Ringlb { .. } => current.wait_ringlb_workers()?,
        Case::Haproxy { .. } => wait_listening(front)?,
    }
    let load = Load::start(front, args.keep_alive, args.fresh);
    thread::sleep(Duration::from_millis(300));
    let mut outcome = Ok(());
    for round in 1..=args.rounds {
        let mut extra = vec!["-sf".to_string(), current.child.id().to_string()];
        if let Case::Haproxy { expose: true } = case {
            extra.extend(["-x".to_string(), sock.display().to_string()]);
        }
        let mut next = Running::spawn(bin, &base(&extra), dir.join(format!("proxy-{round}.log")))?;
        if let Case::Ringlb { .. } = case {
            if let Err(e) = next.wait_ringlb_workers() {
                outcome = Err(format!("round {round}: {e}"));
                break;
            }
        }
        if !current.wait_exit(Duration::from_secs(15)) {
            outcome = Err(format!(
                "round {round}: the old process still runs 15 s after -sf:\n{}",
                current.log_text()
            ));
            break;
        }
        current = next;
        thread::sleep(Duration::from_millis(100));
    }
    let report = load.finish();
    current.stop();
    drop(current);
    let _ = fs::remove_dir_all(&dir);
    outcome.map(|()| report)
}

pub fn run(args: Args) -> Result<bool, String> {
    raise_nofile();
    let ringlb = crate::ringlb_binary(args.ringlb.clone())?;
    let haproxy = if args.no_haproxy {
        None
    } else {
        crate::find_tool("haproxy")
    };
    let dir = std::env::temp_dir().join(format!("ringlb-bench-fixture.{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let back_port = crate::free_port()?;
    let cpus: Vec<usize> = (0..crate::procfs::online_cpus()).collect();
    let fixture = crate::run::start_fixture(&dir, back_port, &cpus)?;
    let backend: SocketAddr = ([127, 0, 0, 1], back_port).into();

    let mut cases = vec![
        (Case::Ringlb { legacy: false }, ringlb.clone()),
        (Case::Ringlb { legacy: true }, ringlb),
    ];
    match &haproxy {
        Some(bin) => {
            cases.push((Case::Haproxy { expose: true }, PathBuf::from(bin)));
            cases.push((Case::Haproxy { expose: false }, PathBuf::from(bin)));
        }
        None if !args.no_haproxy => eprintln!("haproxy is not installed: measuring ringlb only"),
        None => {}
    }
    println!(
        "## ringlb-bench reload\n\n{} `-sf` reloads each under load: {} keep-alive connections kept busy, \
         {} threads opening a connection per request.\n",
        args.rounds, args.keep_alive, args.fresh
    );
    println!("| proxy | requests ok | failed | resets | refused | first failures |");
    println!("|---|---:|---:|---:|---:|---|");
    let mut ok = true;
    for (case, bin) in cases {
        eprintln!("measuring {}", case.label());
        let r = measure(case, &bin, &args, backend)?;
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            case.label(),
            r.ok,
            r.failed,
            r.resets,
            r.refused,
            r.samples.join("; ")
        );
        if let Case::Ringlb { .. } = case {
            ok &= r.failed == 0 && r.ok > 0;
        }
    }
    drop(fixture);
    let _ = fs::remove_dir_all(&dir);
    Ok(ok)
}
