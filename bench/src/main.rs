//! `ringlb-bench`: runs the same workloads through ringlb, haproxy, nginx and straight to the
//! fixture backend, pinned, interleaved over rounds, and prints one Markdown report.

mod fixture;
mod hostile;
mod idle;
mod load;
mod plot;
mod procfs;
mod propagation;
mod reload;
mod report;
mod run;
mod slowloris;
mod soak;
mod syscalls;
mod targets;
mod tls;
mod workload;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Parser;

use targets::{Bins, Target};

#[derive(Debug, Parser)]
#[command(
    name = "ringlb-bench",
    about = "Load harness: ringlb against haproxy, nginx and no proxy, on pinned CPUs",
    after_help = "Needs haproxy, nginx, wrk and h2load (scripts/bench-deps.sh installs them).\n\
                  Hostile-input scenarios: `ringlb-bench slowloris --help`, `ringlb-bench soak --help`.\n\
                  Reloads under load against haproxy's: `ringlb-bench reload --help`; health-state\n\
                  propagation to the workers: `ringlb-bench propagation --help`."
)]
struct Args {
    /// Short run: one round of 2 s per target, disturbed runs kept and flagged (under 2 minutes).
    #[arg(long)]
    quick: bool,
    /// A second per target; fails unless every target served requests without errors.
    #[arg(long)]
    smoke: bool,
    /// Rounds; the targets run interleaved (A B A B …) in each.
    #[arg(long)]
    rounds: Option<usize>,
    /// Seconds of measured load per run.
    #[arg(long)]
    duration: Option<u64>,
    /// Seconds of unmeasured load before each run.
    #[arg(long)]
    warmup: Option<f64>,
    /// Concurrent client connections of the load generator.
    #[arg(long, default_value_t = 50)]
    conns: usize,
    /// Idle keep-alive connections opened in the idle workload.
    #[arg(long)]
    idle_conns: Option<usize>,
    /// CPUs of the proxy under test (e.g. `1` or `2-5,8`).
    #[arg(long)]
    proxy_cpus: Option<String>,
    /// CPUs of the fixture backend and the load generator.
    #[arg(long)]
    load_cpus: Option<String>,
    /// Proxy worker threads (nbthread / worker_processes); default one per proxy CPU.
    #[arg(long)]
    threads: Option<usize>,
    /// Comma-separated targets (ringlb, haproxy, nginx, direct); default all.
    #[arg(long)]
    targets: Option<String>,
    /// Comma-separated workloads (keepalive, close, nagle, 64k, tcp, routing, h2load, h2,
    /// h2-idle, idle, ws-idle, tcp-idle, tls-handshake, tls-handshake-rsa, tls-keepalive,
    /// tls-idle); default all.
    #[arg(long)]
    workloads: Option<String>,
    /// Write rows, ratios and raw samples as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write latency percentile curves as SVG.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// The ringlb binary; default: built with cargo next to this binary.
    #[arg(long, value_name = "PATH")]
    ringlb: Option<PathBuf>,
    /// Keep generated configurations, logs and raw load-generator output.
    #[arg(long)]
    keep: bool,
    /// Repeat a run when other processes used more than this % of the machine during it.
    #[arg(long, default_value_t = 5.0)]
    foreign_max: f64,
    /// Times a disturbed run is repeated before it is kept and flagged.
    #[arg(long)]
    retries: Option<usize>,
    /// Seconds of an extra load run per target and workload (first round only) under
    /// `strace -c -f`, for system calls per request; 0: none [default: 3, 0 with --smoke or
    /// --quick]
    #[arg(long)]
    syscall_secs: Option<u64>,
    /// Seconds to wait, before each run, for the machine to go quiet.
    #[arg(long)]
    idle_wait: Option<u64>,
    /// Minutes the whole run may take: once the runs left would not fit, they skip the
    /// quiet wait and retries (disturbed runs are then kept and flagged). 0: no limit.
    #[arg(long)]
    budget: Option<u64>,
}

fn cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let bad = || format!("bad CPU list '{s}'");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    if out.is_empty() {
        return Err(format!("empty CPU list '{s}'"));
    }
    Ok(out)
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

pub(crate) fn find_tool(name: &str) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string());
    found
}

/// The ringlb binary: `--ringlb`, else the one beside this binary, built first when run
/// through `cargo run` so that the measured proxy matches the source tree.
fn ringlb_binary(given: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return Ok(p);
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let beside = exe.with_file_name("ringlb");
    if let Ok(cargo) = std::env::var("CARGO") {
        let release = exe
            .parent()
            .and_then(|d| d.file_name())
            .is_some_and(|n| n == "release");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "ringlb", "--manifest-path"])
            .arg(&manifest);
        if release {
            cmd.arg("--release");
        }
        eprintln!(
            "building ringlb ({})",
            if release { "release" } else { "debug" }
        );
        let st = cmd.status().map_err(|e| format!("cargo build: {e}"))?;
        if !st.success() {
            return Err("cargo build -p ringlb failed".into());
        }
    }
    if beside.is_file() {
        Ok(beside)
    } else {
        Err(format!(
            "no ringlb binary at {} (build it: cargo build --release -p ringlb, or pass --ringlb)",
            beside.display()
        ))
    }
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let mut t = String::from_utf8_lossy(&o.stdout).into_owned();
            t.push_str(&String::from_utf8_lossy(&o.stderr));
            t.lines().next().unwrap_or("").trim().to_owned()
        })
        .unwrap_or_default()
}

fn machine_line() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} CPUs ({model}), Linux {}",
        procfs::online_cpus(),
        kernel.trim()
    )
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("fixture") {
        let port = argv.get(2).and_then(|p| p.parse().ok()).unwrap_or(18080);
        let cpus = argv
            .get(3)
            .and_then(|c| cpu_list(c).ok())
            .unwrap_or_else(|| vec![0]);
        fixture::serve(port, &cpus);
    }
    let scenario = match argv.get(1).map(String::as_str) {
        Some("slowloris") => Some(slowloris::run(slowloris::Args::parse_from(&argv[1..]))),
        Some("soak") => Some(soak::run(soak::Args::parse_from(&argv[1..]))),
        Some("reload") => Some(reload::run(reload::Args::parse_from(&argv[1..]))),
        Some("propagation") => Some(propagation::run(propagation::Args::parse_from(&argv[1..]))),
        _ => None,
    };
    if let Some(res) = scenario {
        return match res {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("ringlb-bench: {e}");
                ExitCode::from(2)
            }
        };
    }
    match bench(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ringlb-bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn bench(a: Args) -> Result<bool, String> {
    let started = Instant::now();
    let ncpu = procfs::online_cpus();
    let (def_proxy, def_load) = if ncpu >= 2 { ("1", "0") } else { ("0", "0") };
    let proxy_cpus = cpu_list(a.proxy_cpus.as_deref().unwrap_or(def_proxy))?;
    let load_cpus = cpu_list(a.load_cpus.as_deref().unwrap_or(def_load))?;
    if let Some(c) = proxy_cpus.iter().chain(&load_cpus).find(|c| **c >= ncpu) {
        return Err(format!("CPU {c} does not exist ({ncpu} online)"));
    }
    let (rounds, duration, warmup, idle_conns, idle_wait) = if a.smoke {
        (1, 1, 0.0, 200, 2)
    } else if a.quick {
        (1, 2, 0.5, 9000, 10)
    } else {
        (3, 6, 1.0, 9000, 30)
    };
    let targets: Vec<Target> = match &a.targets {
        Some(s) => s
            .split(',')
            .map(|t| Target::parse(t).ok_or_else(|| format!("unknown target '{t}'")))
            .collect::<Result<_, _>>()?,
        None => Target::ALL.to_vec(),
    };
    let mut workloads = workload::all();
    if let Some(s) = &a.workloads {
        let want: Vec<&str> = s.split(',').collect();
        if let Some(bad) = want
            .iter()
            .find(|n| !workloads.iter().any(|w| w.name == **n))
        {
            return Err(format!("unknown workload '{bad}'"));
        }
        workloads.retain(|w| want.contains(&w.name));
    }
    workloads.retain(|w| w.targets.iter().any(|t| targets.contains(t)));

    // Nothing is installed silently: name what is missing and the line that installs it.
    let mut needed: Vec<(&str, &str)> = vec![("wrk", "wrk")];
    if workloads
        .iter()
        .any(|w| matches!(w.gen, load::Gen::H2load | load::Gen::H2))
    {
        needed.push(("h2load", "nghttp2-client"));
    }
    if targets.contains(&Target::Haproxy) {
        needed.push(("haproxy", "haproxy"));
    }
    if a.syscall_secs
        .unwrap_or(if a.smoke || a.quick { 0 } else { 3 })
        > 0
    {
        needed.push(("strace", "strace"));
    }
    if targets.contains(&Target::Nginx) {
        needed.push(("nginx", "nginx"));
    }
    let tls = workloads.iter().any(|w| w.tls.is_some());
    if tls {
        needed.push(("openssl", "openssl"));
    }
    let missing: Vec<&(&str, &str)> = needed
        .iter()
        .filter(|(b, _)| find_tool(b).is_none())
        .collect();
    if !missing.is_empty() {
        let pkgs: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
        let bins: Vec<&str> = missing.iter().map(|(b, _)| *b).collect();
        return Err(format!(
            "missing {}: run `sudo apt-get install {}` (or scripts/bench-deps.sh)",
            bins.join(", "),
            pkgs.join(" ")
        ));
    }
    let bins = Bins {
        ringlb: if targets.contains(&Target::Ringlb) {
            ringlb_binary(a.ringlb.clone())?
        } else {
            PathBuf::from("ringlb")
        },
        haproxy: find_tool("haproxy").unwrap_or_default(),
        nginx: find_tool("nginx").unwrap_or_default(),
    };

    let dir = std::env::temp_dir().join(format!("ringlb-bench.{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let plan = run::Plan {
        rounds: a.rounds.unwrap_or(rounds),
        duration: Duration::from_secs(a.duration.unwrap_or(duration)),
        warmup: Duration::from_secs_f64(a.warmup.unwrap_or(warmup)),
        conns: a.conns,
        idle_conns: a.idle_conns.unwrap_or(idle_conns),
        threads: a.threads.unwrap_or(proxy_cpus.len()),
        proxy_cpus,
        load_cpus,
        idle_max_pct: 15.0,
        idle_wait: Duration::from_secs(a.idle_wait.unwrap_or(idle_wait)),
        foreign_max_pct: a.foreign_max,
        retries: a.retries.unwrap_or(if a.smoke || a.quick { 0 } else { 2 }),
        deadline: match a.budget.unwrap_or(if a.smoke || a.quick { 0 } else { 14 }) {
            0 => None,
            m => Some(started + Duration::from_secs(m * 60)),
        },
        syscall_secs: a
            .syscall_secs
            .unwrap_or(if a.smoke || a.quick { 0 } else { 3 }),
        front_port: free_port()?,
        back_port: free_port()?,
        wrk_script: load::write_wrk_script(&dir).map_err(|e| e.to_string())?,
        certs: if tls {
            Some(tls::Certs::generate(&dir)?)
        } else {
            None
        },
        dir: dir.clone(),
        bins,
    };
    eprintln!(
        "proxy on CPUs {:?} ({} threads), backend + load on {:?}; {} round(s) of {} s; work in {}",
        plan.proxy_cpus,
        plan.threads,
        plan.load_cpus,
        plan.rounds,
        plan.duration.as_secs(),
        dir.display()
    );
    let fixture = run::start_fixture(&dir, plan.back_port, &plan.load_cpus)?;
    let (samples, mut notes) = run::run_all(&plan, &workloads, &targets, fixture.pid());
    drop(fixture);

    let rows = report::rows(&samples, &workloads);
    let vs = report::versus(&rows);
    let command: Vec<String> = std::env::args().skip(1).collect();
    let mut header = format!(
        "## ringlb-bench\n\n- machine: {}\n- command: `ringlb-bench {}`\n- tools: {}; {}; {}; {}\n\
         - layout: proxy on CPUs {:?} ({} threads), fixture backend + load generator on CPUs {:?}; \
         {} client connections; {} round(s) × {} s (+{:.1} s warm-up), targets interleaved\n\
         - proxy CPU = utime+stime of the proxy's process tree from /proc; proxy÷backend CPU = that \
         ÷ the fixture backend's CPU in the same run (cancels machine speed drift); spread = \
         (max − min) ÷ median of req/s",
        machine_line(),
        command.join(" "),
        first_line(&plan.bins.haproxy, &["-v"]),
        first_line(&plan.bins.nginx, &["-v"]),
        first_line("wrk", &["-v"]),
        first_line("h2load", &["--version"]),
        plan.proxy_cpus,
        plan.threads,
        plan.load_cpus,
        plan.conns,
        plan.rounds,
        plan.duration.as_secs(),
        plan.warmup.as_secs_f64()
    );
    if notes.is_empty() {
        header.push('\n');
    } else {
        header.push_str("\n\nNotes:\n");
        for n in &notes {
            header.push_str(&format!("\n- {n}"));
        }
        header.push('\n');
    }
    print!("{}", report::markdown(&rows, &workloads, &vs, &header));

    if let Some(path) = &a.json {
        let doc = serde_json::json!({
            "machine": machine_line(),
            "command": command,
            "rows": rows,
            "ringlb_vs_peers": vs,
            "samples": samples,
            "notes": notes,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap_or_default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &a.plot {
        plot::write(path, &rows, &format!("ringlb-bench: {}", machine_line()))?;
    }
    if !a.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());

    if a.smoke {
        // Every target of every workload must have served requests, none of them failed.
        let mut ok = true;
        for w in &workloads {
            for t in w.targets.iter().filter(|t| targets.contains(t)) {
                let s: Vec<&run::Sample> = samples
                    .iter()
                    .filter(|s| s.workload == w.name && s.target == *t)
                    .collect();
                let served = s.iter().map(|s| s.requests).sum::<u64>();
                let errors = s.iter().map(|s| s.errors).sum::<u64>();
                if served == 0 || errors > 0 {
                    eprintln!(
                        "smoke: {} {}: {served} requests, {errors} errors {}",
                        w.name,
                        t.name(),
                        s.first().map_or("", |s| s.error_detail.as_str())
                    );
                    ok = false;
                }
            }
        }
        notes.retain(|n| n.contains("failed"));
        for n in &notes {
            eprintln!("smoke: {n}");
        }
        return Ok(ok && notes.is_empty());
    }
    Ok(true)
}
