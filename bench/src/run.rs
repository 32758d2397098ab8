//! One measurement at a time: start the target, warm it up, read CPU counters, run the load,
//! read them again, stop the target; repeat the targets interleaved for every round.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::load::{self, LoadSpec};
use crate::procfs;
use crate::targets::{self, Bins, Spec, Target};
use crate::workload::{Kind, Workload};

#[derive(Debug, Clone)]
pub struct Plan {
    pub rounds: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub conns: usize,
    pub idle_conns: usize,
    pub threads: usize,
    pub proxy_cpus: Vec<usize>,
    pub load_cpus: Vec<usize>,
    /// Wait for the machine to be quieter than this (% of all CPUs) before each run.
    pub idle_max_pct: f64,
    pub idle_wait: Duration,
    /// A run during which other processes used more than this is repeated.
    pub foreign_max_pct: f64,
    pub retries: usize,
    /// The whole run ends by then: quiet waits and retries are dropped once the runs left
    /// would not fit otherwise.
    pub deadline: Option<Instant>,
    /// Seconds of the traced run that counts system calls (first round only); 0: none.
    pub syscall_secs: u64,
    pub front_port: u16,
    pub back_port: u16,
    pub dir: PathBuf,
    pub bins: Bins,
    pub wrk_script: PathBuf,
    /// The certificates of the TLS workloads; `None` when none of them runs.
    pub certs: Option<crate::tls::Certs>,
}

/// One run of one target in one workload.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub workload: String,
    pub target: Target,
    pub round: usize,
    pub requests: u64,
    pub rps: f64,
    pub errors: u64,
    pub error_detail: String,
    pub percentiles_us: Vec<(f64, f64)>,
    pub mean_us: f64,
    pub proxy_cpu_us_per_req: Option<f64>,
    pub backend_cpu_us_per_req: f64,
    pub proxy_backend_ratio: Option<f64>,
    pub foreign_pct: f64,
    pub steal_pct: f64,
    /// Kept although foreign load stayed above the limit on every retry.
    pub disturbed: bool,
    /// Idle workload: connections held open and the proxy's RSS growth per connection.
    pub idle_conns: Option<usize>,
    pub rss_bytes_per_conn: Option<f64>,
    /// System calls of the proxy per request, from a separate traced run.
    pub syscalls_per_req: Option<f64>,
}

/// Waits for the machine to go quiet, at most `plan.idle_wait`; not at all without `extras`.
fn wait_quiet(plan: &Plan, extras: bool) {
    if !extras {
        return;
    }
    let start = Instant::now();
    let n = procfs::online_cpus() as f64;
    let mut said = false;
    loop {
        let a = procfs::machine_ticks();
        std::thread::sleep(Duration::from_millis(500));
        let b = procfs::machine_ticks();
        let pct = 100.0 * (b.busy - a.busy) as f64 / ((b.total - a.total).max(1) as f64);
        if pct < plan.idle_max_pct {
            return;
        }
        if start.elapsed() > plan.idle_wait {
            eprintln!("  machine still {pct:.0}% busy, measuring anyway");
            return;
        }
        if !said {
            eprintln!("  machine {pct:.0}% busy with other work ({n} CPUs), waiting…");
            said = true;
        }
    }
}

fn spec(plan: &Plan, w: &Workload) -> Spec {
    Spec {
        mode: w.mode,
        front_port: plan.front_port,
        back_port: plan.back_port,
        threads: plan.threads,
        proxy_cpus: plan.proxy_cpus.clone(),
        routing: w.routing,
        h2: w.ask == crate::idle::Ask::H2 || w.gen == crate::load::Gen::H2,
        maxconn: (plan.idle_conns as u32 + 500).max(4096),
        tls: w
            .tls
            .zip(plan.certs.as_ref())
            .map(|(key, certs)| certs.pem(key).to_owned()),
    }
}

/// Measures `target` once; `backend_pid` is the fixture's process.
pub fn measure(
    plan: &Plan,
    w: &Workload,
    target: Target,
    round: usize,
    backend_pid: u32,
    extras: bool,
    notes: &mut Vec<String>,
) -> Result<Sample, String> {
    match w.kind {
        Kind::Load => measure_load(plan, w, target, round, backend_pid, extras, notes),
        Kind::Idle => measure_idle(plan, w, target, round, extras, notes),
    }
}

fn note_startup(target: Target, log: &str, w: &Workload, notes: &mut Vec<String>) {
    for line in log.lines() {
        let l = line.to_ascii_lowercase();
        if l.contains("not applied") || l.contains("warning") {
            let n = format!("{} ({}): {}", target.name(), w.name, line.trim());
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
    }
}

fn measure_load(
    plan: &Plan,
    w: &Workload,
    target: Target,
    round: usize,
    backend_pid: u32,
    extras: bool,
    notes: &mut Vec<String>,
) -> Result<Sample, String> {
    let port = if target == Target::Direct {
        plan.back_port
    } else {
        plan.front_port
    };
    let scheme = if w.tls.is_some() { "https" } else { "http" };
    let mut ls = LoadSpec {
        gen: w.gen,
        url: format!("{scheme}://127.0.0.1:{port}{}", w.path),
        close: w.close,
        conns: plan.conns,
        threads: plan.load_cpus.len().max(1),
        duration: plan.warmup,
        cpus: plan.load_cpus.clone(),
    };
    let raw = plan
        .dir
        .join(format!("{}-{}-{round}.txt", w.name, target.name()));
    let mut tries = 0;
    loop {
        wait_quiet(plan, extras);
        let proc = targets::start(target, &spec(plan, w), &plan.bins, &plan.dir)?;
        if let Some(p) = &proc {
            note_startup(target, &p.log_text(), w, notes);
        }
        if w.tls.is_some() && w.close && crate::tls::resumes(([127, 0, 0, 1], port).into())? {
            return Err(format!(
                "{} resumed a TLS session although tickets and the session cache are off: \
                 its {} run would not measure full handshakes",
                target.name(),
                w.name
            ));
        }
        if !plan.warmup.is_zero() {
            ls.duration = plan.warmup;
            let _ = load::run(&ls, &plan.wrk_script, &raw);
        }
        ls.duration = plan.duration;
        let pid = proc.as_ref().map(|p| p.pid());
        let p0 = pid.map(procfs::tree_ticks);
        let b0 = procfs::tree_ticks(backend_pid);
        let m0 = procfs::machine_ticks();
        let res = load::run(&ls, &plan.wrk_script, &raw);
        let m1 = procfs::machine_ticks();
        let b1 = procfs::tree_ticks(backend_pid);
        let p1 = pid.map(procfs::tree_ticks);
        let r = res?;
        if r.requests == 0 {
            return Err(format!(
                "{} served no requests in {}",
                target.name(),
                w.name
            ));
        }
        let hz = procfs::clk_tck() as f64;
        let reqs = r.requests as f64;
        let proxy_ticks = p0.zip(p1).map(|(a, b)| b.saturating_sub(a));
        let backend_ticks = b1.saturating_sub(b0);
        let gen_ticks = r.cpu_us as f64 * hz / 1e6;
        let total = (m1.total - m0.total).max(1) as f64;
        let ours = proxy_ticks.unwrap_or(0) as f64 + backend_ticks as f64 + gen_ticks;
        let foreign = (100.0 * ((m1.busy - m0.busy) as f64 - ours) / total).max(0.0);
        let steal = m1.steal_pct_since(&m0);
        let disturbed = foreign > plan.foreign_max_pct;
        if disturbed && extras && tries < plan.retries {
            tries += 1;
            eprintln!(
                "  discarded {} {}: other processes used {foreign:.0}% of the machine; retrying",
                w.name,
                target.name()
            );
            continue;
        }
        // Counted with the proxy still up, once the measured run is kept.
        let syscalls = match pid {
            Some(pid) if plan.syscall_secs > 0 && round == 1 => {
                let traced = LoadSpec {
                    duration: Duration::from_secs(plan.syscall_secs),
                    ..ls.clone()
                };
                match crate::syscalls::per_request(pid, &traced, &plan.wrk_script, &plan.dir) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        notes.push(format!(
                            "{} ({}): system calls not counted: {e}",
                            target.name(),
                            w.name
                        ));
                        None
                    }
                }
            }
            _ => None,
        };
        drop(proc);
        let us = |t: u64| t as f64 * 1e6 / hz / reqs;
        let backend_us = us(backend_ticks);
        let proxy_us = proxy_ticks.map(us);
        return Ok(Sample {
            workload: w.name.to_owned(),
            target,
            round,
            requests: r.requests,
            rps: r.rps(),
            errors: r.errors,
            error_detail: r.error_detail.clone(),
            percentiles_us: r.percentiles.clone(),
            mean_us: r.mean_us,
            proxy_cpu_us_per_req: proxy_us,
            backend_cpu_us_per_req: backend_us,
            proxy_backend_ratio: proxy_us
                .filter(|_| backend_us > 0.0)
                .map(|p| p / backend_us),
            foreign_pct: foreign,
            steal_pct: steal,
            disturbed,
            idle_conns: None,
            rss_bytes_per_conn: None,
            syscalls_per_req: syscalls,
        });
    }
}

fn measure_idle(
    plan: &Plan,
    w: &Workload,
    target: Target,
    round: usize,
    extras: bool,
    notes: &mut Vec<String>,
) -> Result<Sample, String> {
    wait_quiet(plan, extras);
    let proc = targets::start(target, &spec(plan, w), &plan.bins, &plan.dir)?
        .ok_or("the idle workload needs a proxy")?;
    note_startup(target, &proc.log_text(), w, notes);
    let addr: SocketAddr = ([127, 0, 0, 1], plan.front_port).into();
    let tls = w.tls.map(|_| crate::tls::client());
    // One request first, so lazily built per-worker state is in the baseline.
    let primer = crate::idle::open(addr, plan.threads.max(1), tls.as_ref(), w.ask);
    std::thread::sleep(Duration::from_millis(200));
    let before = procfs::tree_rss_kib(proc.pid());
    let opened = crate::idle::open(addr, plan.idle_conns, tls.as_ref(), w.ask);
    std::thread::sleep(Duration::from_millis(500));
    let after = procfs::tree_rss_kib(proc.pid());
    // Connections the proxy closed meanwhile are not in its RSS: they are errors, not idle.
    let held = opened.conns.iter().filter(|c| c.still_idle()).count();
    let closed = opened.conns.len() - held;
    let mut error_detail = opened.first_error.unwrap_or_default();
    if closed > 0 {
        error_detail = format!(
            "{closed} of {} connections closed by the proxy before its RSS was read; {error_detail}",
            opened.conns.len()
        );
    }
    drop(opened.conns);
    drop(primer);
    drop(proc);
    let per_conn = (held > 0).then(|| (after.saturating_sub(before) * 1024) as f64 / held as f64);
    Ok(Sample {
        workload: w.name.to_owned(),
        target,
        round,
        requests: held as u64,
        rps: 0.0,
        errors: opened.errors + (plan.idle_conns - held.min(plan.idle_conns)) as u64,
        error_detail,
        percentiles_us: Vec::new(),
        mean_us: 0.0,
        proxy_cpu_us_per_req: None,
        backend_cpu_us_per_req: 0.0,
        proxy_backend_ratio: None,
        foreign_pct: 0.0,
        steal_pct: 0.0,
        disturbed: false,
        idle_conns: Some(held),
        rss_bytes_per_conn: per_conn,
        syscalls_per_req: None,
    })
}

/// Runs every workload, targets interleaved per round; progress on stderr.
pub fn run_all(
    plan: &Plan,
    workloads: &[Workload],
    targets: &[Target],
    backend_pid: u32,
) -> (Vec<Sample>, Vec<String>) {
    let mut samples = Vec::new();
    let mut notes = Vec::new();
    let per_round = |w: &Workload| w.targets.iter().filter(|t| targets.contains(t)).count();
    let total: usize = workloads.iter().map(|w| per_round(w) * plan.rounds).sum();
    let started = Instant::now();
    let mut done = 0usize;
    let mut said_budget = false;
    for w in workloads {
        let ts: Vec<Target> = w
            .targets
            .iter()
            .copied()
            .filter(|t| targets.contains(t))
            .collect();
        for round in 1..=plan.rounds {
            for &t in &ts {
                let extras = within_budget(plan, started, done, total);
                if !extras && !said_budget {
                    said_budget = true;
                    let n = "time budget reached: later runs skip the quiet wait and retries";
                    eprintln!("  {n}");
                    notes.push(n.to_string());
                }
                eprint!("[{} {}/{}] {:<8} ", w.name, round, plan.rounds, t.name());
                let res = measure(plan, w, t, round, backend_pid, extras, &mut notes);
                done += 1;
                match res {
                    Ok(s) => {
                        if s.idle_conns.is_some() {
                            eprintln!(
                                "{} idle connections, {:.0} bytes each",
                                s.requests,
                                s.rss_bytes_per_conn.unwrap_or(0.0)
                            );
                        } else {
                            eprintln!(
                                "{:>9.0} req/s  proxy {:>6} µs/req  errors {}",
                                s.rps,
                                s.proxy_cpu_us_per_req
                                    .map_or("-".into(), |v| format!("{v:.1}")),
                                s.errors
                            );
                        }
                        samples.push(s);
                    }
                    Err(e) => {
                        eprintln!("failed");
                        notes.push(format!("{} {} round {round} failed: {e}", w.name, t.name()));
                    }
                }
            }
        }
    }
    (samples, notes)
}

/// Whether the runs left still fit before the deadline with quiet waits and retries: the
/// runs so far give the average cost of one run, and what is left must fit at that pace
/// with room for one more.
fn within_budget(plan: &Plan, started: Instant, done: usize, total: usize) -> bool {
    let Some(deadline) = plan.deadline else {
        return true;
    };
    let nominal = plan.warmup + plan.duration + Duration::from_secs(2);
    let pace = if done == 0 {
        nominal
    } else {
        (started.elapsed() / done as u32).max(nominal)
    };
    let left = (total - done) as u32 + 1;
    Instant::now() + pace * left < deadline
}

/// The fixture backend, started as a child process of this binary.
pub fn start_fixture(dir: &Path, port: u16, cpus: &[usize]) -> Result<targets::Proc, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(exe);
    let list: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
    cmd.arg("fixture").arg(port.to_string()).arg(list.join(","));
    targets::spawn("fixture", cmd, cpus, dir.join("fixture.log"), port)
}
