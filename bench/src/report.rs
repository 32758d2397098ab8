//! Turns samples into rows (median and spread over rounds) and prints them as Markdown,
//! with a final table of ringlb's ratios against each peer.

use std::fmt::Write as _;

use serde::Serialize;

use crate::run::Sample;
use crate::targets::Target;
use crate::workload::{Kind, Workload};

/// Median of a non-empty list.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// (max − min) ÷ median, in percent.
pub fn spread_pct(v: &[f64]) -> f64 {
    let m = median(v);
    let max = v.iter().copied().fold(f64::MIN, f64::max);
    let min = v.iter().copied().fold(f64::MAX, f64::min);
    if m > 0.0 {
        100.0 * (max - min) / m
    } else {
        0.0
    }
}

/// One target in one workload, over all rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub workload: String,
    pub target: Target,
    pub rounds: usize,
    pub rps: f64,
    pub rps_spread_pct: f64,
    /// Median per percentile over the rounds: (percentile, µs).
    pub percentiles_us: Vec<(f64, f64)>,
    pub mean_us: f64,
    pub proxy_cpu_us_per_req: Option<f64>,
    pub proxy_backend_ratio: Option<f64>,
    pub ratio_spread_pct: Option<f64>,
    pub errors: u64,
    pub disturbed_rounds: usize,
    pub rss_bytes_per_conn: Option<f64>,
    pub idle_conns: Option<usize>,
    pub syscalls_per_req: Option<f64>,
}

impl Row {
    pub fn percentile(&self, p: f64) -> Option<f64> {
        self.percentiles_us
            .iter()
            .find(|(q, _)| (q - p).abs() < 1e-9)
            .map(|(_, v)| *v)
    }
}

fn opt_median(v: Vec<Option<f64>>) -> (Option<f64>, Option<f64>) {
    let v: Vec<f64> = v.into_iter().flatten().collect();
    if v.is_empty() {
        (None, None)
    } else {
        (Some(median(&v)), Some(spread_pct(&v)))
    }
}

pub fn rows(samples: &[Sample], workloads: &[Workload]) -> Vec<Row> {
    let mut out = Vec::new();
    for w in workloads {
        for t in &w.targets {
            let s: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.workload == w.name && s.target == *t)
                .collect();
            if s.is_empty() {
                continue;
            }
            let rps: Vec<f64> = s.iter().map(|x| x.rps).collect();
            let mut pct = Vec::new();
            for &(p, _) in &s[0].percentiles_us {
                let v: Vec<f64> = s
                    .iter()
                    .filter_map(|x| x.percentiles_us.iter().find(|(q, _)| *q == p))
                    .map(|(_, v)| *v)
                    .collect();
                pct.push((p, median(&v)));
            }
            let (cpu, _) = opt_median(s.iter().map(|x| x.proxy_cpu_us_per_req).collect());
            let (ratio, ratio_spread) =
                opt_median(s.iter().map(|x| x.proxy_backend_ratio).collect());
            let (rss, _) = opt_median(s.iter().map(|x| x.rss_bytes_per_conn).collect());
            let (syscalls, _) = opt_median(s.iter().map(|x| x.syscalls_per_req).collect());
            out.push(Row {
                workload: w.name.to_owned(),
                target: *t,
                rounds: s.len(),
                rps: median(&rps),
                rps_spread_pct: spread_pct(&rps),
                percentiles_us: pct,
                mean_us: median(&s.iter().map(|x| x.mean_us).collect::<Vec<_>>()),
                proxy_cpu_us_per_req: cpu,
                proxy_backend_ratio: ratio,
                ratio_spread_pct: ratio_spread,
                errors: s.iter().map(|x| x.errors).sum(),
                disturbed_rounds: s.iter().filter(|x| x.disturbed).count(),
                rss_bytes_per_conn: rss,
                idle_conns: s.iter().filter_map(|x| x.idle_conns).min(),
                syscalls_per_req: syscalls,
            });
        }
    }
    out
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// ringlb's figure divided by a peer's, for one workload.
#[derive(Debug, Clone, Serialize)]
pub struct Versus {
    pub workload: String,
    pub peer: Target,
    /// ringlb req/s ÷ peer req/s: above 1 is better.
    pub rps: f64,
    /// ringlb CPU-µs/req ÷ peer's: below 1 is better.
    pub cpu_per_req: Option<f64>,
    /// ringlb proxy÷backend CPU ÷ peer's: below 1 is better.
    pub cpu_ratio: Option<f64>,
    /// ringlb RSS per idle connection ÷ peer's: below 1 is better.
    pub rss_per_conn: Option<f64>,
    /// ringlb system calls per request ÷ peer's: below 1 is better.
    pub syscalls_per_req: Option<f64>,
}

pub fn versus(rows: &[Row]) -> Vec<Versus> {
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| r.target == Target::Ringlb) {
        for p in rows
            .iter()
            .filter(|p| p.workload == r.workload && p.target != Target::Ringlb)
        {
            let div = |a: Option<f64>, b: Option<f64>| {
                a.zip(b).filter(|(_, b)| *b > 0.0).map(|(a, b)| a / b)
            };
            out.push(Versus {
                workload: r.workload.clone(),
                peer: p.target,
                rps: if p.rps > 0.0 { r.rps / p.rps } else { f64::NAN },
                cpu_per_req: div(r.proxy_cpu_us_per_req, p.proxy_cpu_us_per_req),
                cpu_ratio: div(r.proxy_backend_ratio, p.proxy_backend_ratio),
                rss_per_conn: div(r.rss_bytes_per_conn, p.rss_bytes_per_conn),
                syscalls_per_req: div(r.syscalls_per_req, p.syscalls_per_req),
            });
        }
    }
    out
}

pub fn markdown(rows: &[Row], workloads: &[Workload], vs: &[Versus], header: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{header}");
    for w in workloads {
        let rs: Vec<&Row> = rows.iter().filter(|r| r.workload == w.name).collect();
        if rs.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n### {} — {}\n", w.name, w.about);
        if w.kind == Kind::Idle {
            let _ = writeln!(
                o,
                "| target | idle connections | proxy RSS per connection (bytes) | errors |"
            );
            let _ = writeln!(o, "|---|---:|---:|---:|");
            for r in rs {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} |",
                    r.target.name(),
                    r.idle_conns.unwrap_or(0),
                    f(r.rss_bytes_per_conn, 0),
                    r.errors
                );
            }
            continue;
        }
        let _ = writeln!(
            o,
            "| target | req/s (median) | spread | p50 µs | p99 µs | p99.9 µs | proxy CPU µs/req | proxy÷backend CPU | syscalls/req | errors |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in rs {
            let p50 = r
                .percentile(50.0)
                .map_or(format!("{:.0} (mean)", r.mean_us), |v| format!("{v:.0}"));
            let ratio = match (r.proxy_backend_ratio, r.ratio_spread_pct) {
                (Some(v), Some(s)) => format!("{v:.2} (±{:.0}%)", s / 2.0),
                _ => "–".into(),
            };
            let flag = if r.disturbed_rounds > 0 {
                format!(" ({} disturbed)", r.disturbed_rounds)
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                "| {}{flag} | {:.0} | {:.0}% | {p50} | {} | {} | {} | {ratio} | {} | {} |",
                r.target.name(),
                r.rps,
                r.rps_spread_pct,
                f(r.percentile(99.0), 0),
                f(r.percentile(99.9), 0),
                f(r.proxy_cpu_us_per_req, 2),
                f(r.syscalls_per_req, 2),
                r.errors
            );
        }
    }
    if !vs.is_empty() {
        let _ = writeln!(
            o,
            "\n### ringlb against each peer\n\nringlb's figure ÷ the peer's: req/s above 1 is better; \
             CPU per request, CPU ratio, system calls and RSS below 1 are better.\n"
        );
        let _ = writeln!(
            o,
            "| workload | peer | req/s | proxy CPU µs/req | proxy÷backend CPU | syscalls/req | RSS/conn |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|");
        for v in vs {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                v.workload,
                v.peer.name(),
                if v.rps.is_finite() {
                    format!("{:.2}", v.rps)
                } else {
                    "–".into()
                },
                f(v.cpu_per_req, 2),
                f(v.cpu_ratio, 2),
                f(v.syscalls_per_req, 2),
                f(v.rss_per_conn, 2)
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread_of_odd_and_even_lists() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(spread_pct(&[90.0, 100.0, 110.0]), 20.0);
    }
}
