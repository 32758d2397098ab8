//! The load generators: wrk (with a Lua `done` hook that prints the latency percentiles and
//! error counts) and h2load `--h1`; each run pinned and its CPU time taken from `wait4`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::procfs;

/// Percentiles the harness reports and plots.
pub const PERCENTILES: [f64; 8] = [50.0, 75.0, 90.0, 99.0, 99.5, 99.9, 99.95, 99.99];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gen {
    Wrk,
    /// h2load speaking HTTP/1.1 (`--h1`).
    H2load,
    /// h2load speaking HTTP/2 (h2c with prior knowledge), 10 streams at once per connection.
    H2,
}

impl Gen {
    pub fn name(self) -> &'static str {
        match self {
            Gen::Wrk => "wrk",
            Gen::H2load | Gen::H2 => "h2load",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub gen: Gen,
    pub url: String,
    pub close: bool,
    pub conns: usize,
    pub threads: usize,
    pub duration: Duration,
    pub cpus: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub requests: u64,
    pub secs: f64,
    pub errors: u64,
    pub error_detail: String,
    /// (percentile, microseconds); empty for h2load, which reports only a mean.
    pub percentiles: Vec<(f64, f64)>,
    pub mean_us: f64,
    /// CPU time of the load generator itself.
    pub cpu_us: u64,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        if self.secs > 0.0 {
            self.requests as f64 / self.secs
        } else {
            0.0
        }
    }
}

const WRK_SCRIPT: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH summary %d %d %d %d %d %d %d\n", summary.requests,
    summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("BENCH mean %f\n", latency.mean))
  for _, p in ipairs({ PCTS }) do
    io.write(string.format("BENCH p %s %d\n", p, latency:percentile(p)))
  end
end
"#;

/// Writes the wrk Lua hook into `dir`; returns its path.
pub fn write_wrk_script(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let pcts: Vec<String> = PERCENTILES.iter().map(|p| p.to_string()).collect();
    let path = dir.join("report.lua");
    fs::write(&path, WRK_SCRIPT.replace("PCTS", &pcts.join(", ")))?;
    Ok(path)
}

/// Runs one load; `script` is the wrk hook from [`write_wrk_script`].
pub fn run(spec: &LoadSpec, script: &Path, out_file: &Path) -> Result<LoadResult, String> {
    let secs = spec.duration.as_secs().max(1);
    let mut cmd = match spec.gen {
        Gen::Wrk => {
            let mut c = Command::new("wrk");
            c.arg(format!("-t{}", spec.threads))
                .arg(format!("-c{}", spec.conns))
                .arg(format!("-d{secs}s"))
                .args(["--timeout", "5s", "-s"])
                .arg(script);
            if spec.close {
                c.args(["-H", "Connection: close"]);
            }
            c.arg(&spec.url);
            c
        }
        Gen::H2load | Gen::H2 => {
            let mut c = Command::new("h2load");
            c.arg(if spec.gen == Gen::H2 { "-m10" } else { "--h1" })
                .arg(format!("-c{}", spec.conns))
                .arg(format!("-t{}", spec.threads.min(spec.conns)))
                .arg(format!("-D{secs}"));
            if spec.close {
                c.args(["-H", "Connection: close"]);
            }
            c.arg(&spec.url);
            c
        }
    };
    let child = procfs::spawn_pinned(&mut cmd, &spec.cpus, out_file)
        .map_err(|e| format!("cannot start {}: {e}", spec.gen.name()))?;
    let (status, cpu_us) = wait_with_cpu(child.id());
    let text = fs::read_to_string(out_file).unwrap_or_default();
    if status != 0 {
        return Err(format!("{} exited with {status}:\n{text}", spec.gen.name()));
    }
    let mut r = match spec.gen {
        Gen::Wrk => parse_wrk(&text),
        Gen::H2load | Gen::H2 => parse_h2load(&text),
    }
    .ok_or_else(|| format!("cannot read {} output:\n{text}", spec.gen.name()))?;
    r.cpu_us = cpu_us;
    Ok(r)
}

/// Reaps `pid` with wait4 so its CPU time comes with it: (exit code, CPU µs).
fn wait_with_cpu(pid: u32) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: rusage is plain data filled by the kernel; pid is our own unreaped child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as above.
        let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut ru) };
        if r == pid as i32 {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return (-1, 0);
        }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    (code, procfs::rusage_us(&ru))
}

pub fn parse_wrk(text: &str) -> Option<LoadResult> {
    let mut r = LoadResult::default();
    let mut seen = false;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["BENCH", "summary", n, dur, conn, read, write, status, timeout] => {
                seen = true;
                r.requests = n.parse().ok()?;
                r.secs = dur.parse::<f64>().ok()? / 1e6;
                let e: Vec<u64> = [conn, read, write, status, timeout]
                    .iter()
                    .map(|v| v.parse().unwrap_or(0))
                    .collect();
                r.errors = e.iter().sum();
                if r.errors > 0 {
                    r.error_detail = format!(
                        "connect {} read {} write {} status {} timeout {}",
                        e[0], e[1], e[2], e[3], e[4]
                    );
                }
            }
            ["BENCH", "mean", m] => r.mean_us = m.parse().unwrap_or(0.0),
            ["BENCH", "p", p, v] => r.percentiles.push((p.parse().ok()?, v.parse().ok()?)),
            _ => {}
        }
    }
    seen.then_some(r)
}

fn time_us(v: &str) -> Option<f64> {
    let (num, mul) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().ok().map(|n| n * mul)
}

pub fn parse_h2load(text: &str) -> Option<LoadResult> {
    let mut r = LoadResult::default();
    let mut seen = false;
    for line in text.lines() {
        let clean = line.replace(',', "");
        let f: Vec<&str> = clean.split_whitespace().collect();
        if line.starts_with("finished in") {
            r.secs = time_us(f.get(2)?)? / 1e6;
        } else if line.starts_with("requests:") {
            // requests: T total, S started, D done, OK succeeded, F failed, E errored, X timeout
            seen = true;
            r.requests = f.get(7)?.parse().ok()?;
            let failed: u64 = f.get(9)?.parse().ok()?;
            let errored: u64 = f.get(11)?.parse().ok()?;
            let timeout: u64 = f.get(13)?.parse().ok()?;
            r.errors = failed + errored + timeout;
            if r.errors > 0 {
                r.error_detail = format!("failed {failed} errored {errored} timeout {timeout}");
            }
        } else if line.starts_with("status codes:") {
            let non2xx: u64 = [4, 6, 8]
                .iter()
                .filter_map(|&i| f.get(i).and_then(|v| v.parse::<u64>().ok()))
                .sum();
            if non2xx > 0 {
                r.errors += non2xx;
                r.error_detail.push_str(&format!(" non-2xx {non2xx}"));
            }
        } else if line.starts_with("time for request:") {
            r.mean_us = f.get(5).and_then(|v| time_us(v)).unwrap_or(0.0);
        }
    }
    (seen && r.secs > 0.0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_hook_output_gives_requests_errors_and_percentiles() {
        let text = "Running 1s test\nBENCH summary 1000 2000000 0 3 0 2 0\nBENCH mean 120.5\n\
                    BENCH p 50 100\nBENCH p 99.9 900\n";
        let r = parse_wrk(text).unwrap();
        assert_eq!(r.requests, 1000);
        assert_eq!(r.rps(), 500.0);
        assert_eq!(r.errors, 5);
        assert_eq!(r.percentiles, vec![(50.0, 100.0), (99.9, 900.0)]);
        assert!(r.error_detail.contains("read 3"));
    }

    #[test]
    fn h2load_summary_lines_are_read() {
        let text = "finished in 2.00s, 30000.50 req/s, 3.00MB/s\n\
            requests: 60001 total, 60001 started, 60001 done, 60000 succeeded, 1 failed, 0 errored, 0 timeout\n\
            status codes: 60000 2xx, 0 3xx, 0 4xx, 0 5xx\n\
            time for request:      412us      3.21ms      1.50ms       300us    80.00%\n";
        let r = parse_h2load(text).unwrap();
        assert_eq!(r.requests, 60000);
        assert_eq!(r.errors, 1);
        assert_eq!(r.mean_us, 1500.0);
        assert_eq!(r.secs, 2.0);
    }

    #[test]
    fn missing_summary_is_not_a_result() {
        assert!(parse_wrk("unable to connect to 127.0.0.1:1 Connection refused").is_none());
    }
}
