//! The runtime API's process-wide commands: `show env`, `show errors`, `show activity`,
//! `show pools` and `set maxconn global`.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::io::localtime::Dates;
use crate::services::admin::Runtime;

/// `show env [NAME]`: the process environment, `NAME=value` per line.
pub fn show_env(name: Option<&str>) -> Result<String, String> {
    let mut out = String::new();
    match name {
        Some(n) => {
            let v = std::env::var_os(n).ok_or("Variable not found\n")?;
            let _ = writeln!(out, "{n}={}", v.to_string_lossy());
        }
        None => {
            for (k, v) in std::env::vars_os() {
                let _ = writeln!(out, "{}={}", k.to_string_lossy(), v.to_string_lossy());
            }
        }
    }
    Ok(out)
}

/// `show errors`: this process keeps no copy of invalid requests or responses, so the
/// answer is HAProxy's header with no event, never a made-up capture.
pub fn show_errors() -> String {
    let mut date = Vec::new();
    Dates::default()
        .local(SystemTime::now())
        .write_log_date(&mut date, true);
    format!(
        "Total events captured on [{}] : 0\n",
        String::from_utf8_lossy(&date)
    )
}

/// `show activity`: the subset of HAProxy's per-thread counters this process keeps,
/// `name: total [ worker1 worker2 … ]` when there are several workers.
pub fn show_activity(rt: &Runtime) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = String::new();
    // The runtime API runs on the control thread, which is none of the workers.
    let _ = writeln!(out, "thread_id: 0 (1..{})", rt.nbthread);
    let _ = writeln!(
        out,
        "date_now: {}.{:06}",
        now.as_secs(),
        now.subsec_micros()
    );
    let accepted: Vec<u64> = (0..rt.stats.workers())
        .map(|w| {
            let stats = rt.stats.worker(w);
            let mut s = crate::metrics::CounterSnapshot::default();
            stats.process.add_to(&mut s, stats.tick());
            s.sess_total
        })
        .collect();
    let total: u64 = accepted.iter().sum();
    let _ = write!(out, "accepted: {total}");
    if accepted.len() > 1 {
        out.push_str(" [");
        for a in &accepted {
            let _ = write!(out, " {a}");
        }
        out.push_str(" ]");
    }
    out.push('\n');
    out
}

/// `show pools`: the workers' buffer pools as they published them at their last tick
/// (buffers in use are with their connections and not counted here).
pub fn show_pools(rt: &Runtime) -> String {
    let mut out = String::from("Dumping pools usage.\n");
    let mut bytes = 0;
    for w in 0..rt.stats.workers() {
        let (size, free) = rt.stats.worker(w).pool();
        bytes += size * free;
        let _ = writeln!(
            out,
            "  - Pool buffer (worker {}) ({size} bytes) : {free} free ({} bytes)",
            w + 1,
            size * free
        );
    }
    let _ = writeln!(
        out,
        "Total: {} pools, {bytes} bytes free.",
        rt.stats.workers()
    );
    out
}

/// `set maxconn global N`: a new process-wide limit, at most the one the descriptor limit
/// allows; 0, a negative or an unreadable value gives that maximum back, as in HAProxy.
pub fn set_maxconn_global(rt: &Runtime, words: &[&str]) -> String {
    let hard = rt.maxconn.min(u64::from(u32::MAX)) as u32;
    let n = words
        .first()
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let max = if n <= 0 {
        hard
    } else {
        (n as u64).min(u64::from(hard)) as u32
    };
    rt.global_limit.set_max(max);
    String::new()
}

/// `set rate-limit connections|sessions|ssl-sessions|http-compression global N`, with HAProxy's usage and
/// error texts. ringlb has no per-process rate limits: 0 (none, what runs) is accepted, any
/// other value is refused rather than accepted and ignored.
pub fn set_rate_limit(words: &[&str]) -> Result<String, String> {
    const USAGE: &str = "'set rate-limit' only supports :\n   \
        - 'connections global' to set the per-process maximum connection rate\n   \
        - 'sessions global' to set the per-process maximum session rate\n   \
        - 'ssl-sessions global' to set the per-process maximum SSL session rate\n   \
        - 'http-compression global' to set the per-process maximum compression speed in kB/s\n";
    let (what, value) = match words {
        [what @ ("connections" | "sessions" | "ssl-sessions" | "http-compression"), "global", rest @ ..] => {
            (*what, rest.first())
        }
        _ => return Err(USAGE.into()),
    };
    let n: u64 = value
        .and_then(|v| v.parse().ok())
        .ok_or("Expects an integer value.\n")?;
    if n == 0 {
        return Ok(String::new());
    }
    Err(format!(
        "'set rate-limit {what} global' is not supported by ringlb yet (it has no per-process \
         rate limit; see docs/compatibility.md).\n"
    ))
}
