//! The `global` section: process settings, threads and CPU pinning, logging, the runtime socket.

use super::{did_you_mean, unknown, LineRef, Step};
use crate::diag::Diagnostic;
use crate::model::{AdminLevel, CpuMap, Global, IdSet, StatsSocket};
use crate::validate::Sites;
use crate::value::{self, TimeUnit};

pub(super) const KEYWORDS: &[&str] = &[
    "log",
    "log-tag",
    "chroot",
    "pidfile",
    "maxconn",
    "user",
    "group",
    "uid",
    "gid",
    "daemon",
    "master-worker",
    "quiet",
    "nbproc",
    "nbthread",
    "cpu-map",
    "stats",
    "spread-checks",
    "ulimit-n",
    "tune.bufsize",
    "tune.maxrewrite",
    "tune.h2.header-table-size",
    "tune.h2.initial-window-size",
    "tune.h2.max-concurrent-streams",
    "tune.h2.max-frame-size",
    "hard-stop-after",
];

/// The most worker threads a configuration may ask for.
pub(crate) const MAX_THREADS: u64 = 4096;

pub(super) fn keyword(
    g: &mut Global,
    sites: &mut Sites,
    line: &LineRef<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Step {
    let kw = line.keyword();
    let num = |what: &str| -> Result<u32, Diagnostic> {
        let w = line.arg(1, what, "NUMBER")?;
        line.no_more(1, what)?;
        value::number(w, what).map_err(|e| line.invalid(what, e))
    };
    let text = |what: &str| -> Result<String, Diagnostic> {
        let w = line.arg(1, what, "VALUE")?;
        line.no_more(1, what)?;
        Ok(w.to_string())
    };
    if let Some(step) = super::tls::global(&mut g.tls, line, diags) {
        return step;
    }
    match kw {
        "daemon" => flag(line, &mut g.daemon),
        "master-worker" => flag(line, &mut g.master_worker),
        "quiet" => flag(line, &mut g.quiet),
        "maxconn" => num("maxconn").map(|n| g.maxconn = Some(n)),
        "ulimit-n" => num("ulimit-n").map(|n| g.ulimit_n = Some(n)),
        "uid" => num("uid").map(|n| g.uid = Some(n)),
        "gid" => num("gid").map(|n| g.gid = Some(n)),
        "user" => text("user").map(|s| g.user = Some(s)),
        "group" => text("group").map(|s| g.group = Some(s)),
        "chroot" => text("chroot").map(|s| g.chroot = Some(s.into())),
        "pidfile" => text("pidfile").map(|s| g.pidfile = Some(s.into())),
        "log-tag" => text("log-tag").map(|s| g.log_tag = Some(s)),
        "nbproc" => {
            let n = num("nbproc")?;
            diags.push(
                line.warning(
                    "'nbproc' is accepted but ignored: ringlb runs one process with worker threads",
                )
                .with_help("use 'nbthread N' to choose the number of workers"),
            );
            g.nbproc = Some(n);
            Ok(())
        }
        "nbthread" => {
            let w = line.arg(1, "nbthread", "NUMBER")?;
            line.no_more(1, "nbthread")?;
            let n = value::bounded(w, "nbthread", 1, MAX_THREADS)
                .map_err(|e| line.invalid("nbthread", e))?;
            g.nbthread = Some(n as u16);
            sites.nbthread = Some(line.site());
            Ok(())
        }
        "cpu-map" => {
            let map = cpu_map(line)?;
            // HAProxy 2.6 ignores process ids above 1, and so does the engine (`pin.rs`).
            if map
                .process
                .as_ref()
                .is_some_and(|p| !crate::value::id_set_has(p, 1))
            {
                diags.push(
                    line.warning("'cpu-map' for a process other than 1 maps nothing: there is one process, and HAProxy 2.6 ignores the others too")
                        .with_help("write the thread set as '1/THREADS', or remove the line"),
                );
            }
            sites.cpu_maps.push((g.cpu_map.len(), line.site()));
            g.cpu_map.push(map);
            Ok(())
        }
        "spread-checks" => {
            let w = line.arg(1, "spread-checks", "PERCENT")?;
            line.no_more(1, "spread-checks")?;
            let n = value::bounded(w, "spread-checks", 0, 50)
                .map_err(|e| line.invalid("spread-checks", e))?;
            g.spread_checks = Some(n as u8);
            Ok(())
        }
        "hard-stop-after" => {
            let w = line.arg(1, "hard-stop-after", "DURATION")?;
            line.no_more(1, "hard-stop-after")?;
            g.hard_stop_after = Some(
                value::duration(w, TimeUnit::Ms).map_err(|e| line.invalid("hard-stop-after", e))?,
            );
            Ok(())
        }
        "tune.bufsize" | "tune.maxrewrite" => {
            let w = line.arg(1, kw, "SIZE")?;
            line.no_more(1, kw)?;
            let n = value::size(w, kw).map_err(|e| line.invalid(kw, e))?;
            if kw == "tune.bufsize" {
                if n < 1024 {
                    return Err(line
                        .error(format!("'tune.bufsize' {n} is too small"))
                        .with_help("use at least 1024 bytes; 16384 is the usual value"));
                }
                g.tune.bufsize = n;
            } else {
                g.tune.maxrewrite = n;
            }
            Ok(())
        }
        "tune.h2.header-table-size"
        | "tune.h2.initial-window-size"
        | "tune.h2.max-concurrent-streams"
        | "tune.h2.max-frame-size" => {
            let w = line.arg(1, kw, "NUMBER")?;
            line.no_more(1, kw)?;
            let n = value::number(w, kw).map_err(|e| line.invalid(kw, e))?;
            // RFC 9113 §6.5.2 bounds (the table size is HAProxy's: at most 65535).
            let (min, max, help) = match kw {
                "tune.h2.header-table-size" => (0, 65535, "use at most 65535 (4096 is usual)"),
                "tune.h2.initial-window-size" => (
                    0,
                    i32::MAX as u32,
                    "use at most 2147483647 (65535 is usual)",
                ),
                "tune.h2.max-concurrent-streams" => (1, u32::MAX, "use at least 1 (100 is usual)"),
                _ => (16384, 16777215, "use 16384 to 16777215"),
            };
            if n < min || n > max {
                return Err(line
                    .error(format!("'{kw}' {n} is out of range"))
                    .with_help(help));
            }
            let h2 = &mut g.tune.h2;
            match kw {
                "tune.h2.header-table-size" => h2.header_table_size = n,
                "tune.h2.initial-window-size" => h2.initial_window_size = n,
                "tune.h2.max-concurrent-streams" => h2.max_concurrent_streams = n,
                _ => h2.max_frame_size = Some(n),
            }
            Ok(())
        }
        "log" => {
            g.logs.push(super::log::log_target(line, false)?);
            Ok(())
        }
        "stats" => stats(g, line, diags),
        _ => {
            let d = line.error(format!("unknown keyword '{kw}' in 'global' section"));
            Err(match did_you_mean(kw, KEYWORDS.iter().copied()) {
                Some(h) => d.with_help(h),
                None if super::proxy::is_keyword(kw) => d.with_help(format!(
                    "'{kw}' belongs in a defaults, frontend, backend or listen section"
                )),
                None => d.with_help("this keyword is not supported; remove it"),
            })
        }
    }
}

fn flag(line: &LineRef<'_>, field: &mut bool) -> Step {
    line.no_more(0, line.keyword())?;
    *field = true;
    Ok(())
}

/// `cpu-map [auto:]THREADS CPUS…` and `cpu-map [auto:]PROCESS/THREADS CPUS…`.
fn cpu_map(line: &LineRef<'_>) -> Result<CpuMap, Diagnostic> {
    let usage = "[auto:]THREADS CPUS (e.g. cpu-map 1 0, cpu-map auto:1/1-4 0-3, cpu-map 1/all 0-1)";
    let first = line.arg(1, "cpu-map", usage)?;
    line.arg(2, "cpu-map", usage)?;
    let (auto, spec) = match first.strip_prefix("auto:") {
        Some(rest) => (true, rest),
        None => (false, first),
    };
    let bad =
        |e: value::Invalid| line.invalid("cpu-map", e.help(format!("write: cpu-map {usage}")));
    let max = MAX_THREADS as u32;
    let (process, threads) = match spec.split_once('/') {
        Some((p, t)) => (
            Some(value::id_set(p, 1, max).map_err(bad)?),
            value::id_set(t, 1, max).map_err(bad)?,
        ),
        None => (None, value::id_set(spec, 1, max).map_err(bad)?),
    };
    let cpus = value::id_set(&line.words[2..].join(","), 0, 4095).map_err(bad)?;
    if matches!(cpus, IdSet::Odd | IdSet::Even | IdSet::All) && !auto {
        return Err(line
            .error("'cpu-map': the CPU set must list CPU numbers")
            .with_help("write CPU numbers or ranges such as 0-3"));
    }
    Ok(CpuMap {
        auto,
        process,
        threads,
        cpus,
    })
}

const STATS_KEYWORDS: &[&str] = &["socket", "timeout"];
const SOCKET_OPTIONS: &[&str] = &[
    "mode",
    "level",
    "process",
    "thread",
    "user",
    "group",
    "expose-fd",
];

fn stats(g: &mut Global, line: &LineRef<'_>, diags: &mut Vec<Diagnostic>) -> Step {
    let sub = line.arg(1, "stats", "socket ADDRESS [options] | timeout DURATION")?;
    match sub {
        "timeout" => {
            let w = line.arg(2, "stats timeout", "DURATION")?;
            line.no_more(2, "stats timeout")?;
            g.stats_timeout = Some(
                value::duration(w, TimeUnit::Ms).map_err(|e| line.invalid("stats timeout", e))?,
            );
            Ok(())
        }
        "socket" => {
            let addr = value::socket_address(line.arg(2, "stats socket", "ADDRESS [options]")?)
                .map_err(|e| line.invalid("stats socket", e))?;
            let mut s = StatsSocket {
                location: line.loc.clone(),
                addr,
                mode: None,
                level: AdminLevel::default(),
                user: None,
                group: None,
                expose_fd_listeners: false,
                process: None,
            };
            let mut i = 3;
            while let Some(opt) = line.words.get(i) {
                let val = |what: &str| line.arg(i + 1, what, "VALUE");
                match opt.as_str() {
                    "mode" => {
                        s.mode = Some(
                            value::octal_mode(val("mode")?)
                                .map_err(|e| line.invalid("stats socket mode", e))?,
                        )
                    }
                    "level" => s.level = admin_level(line, val("level")?)?,
                    "process" | "thread" => {
                        s.process = Some(val(opt)?.to_string());
                        diags.push(
                            line.warning(format!(
                                "'{opt}' on 'stats socket' is ignored: one control thread \
                                 serves the runtime API"
                            ))
                            .with_help(format!("remove '{opt} …'")),
                        );
                    }
                    "user" => s.user = Some(val("user")?.to_string()),
                    "group" => s.group = Some(val("group")?.to_string()),
                    "expose-fd" => match val("expose-fd")? {
                        "listeners" => s.expose_fd_listeners = true,
                        other => {
                            return Err(unknown(line, "'expose-fd' value", other, &["listeners"]))
                        }
                    },
                    other => {
                        return Err(unknown(
                            line,
                            "'stats socket' option",
                            other,
                            SOCKET_OPTIONS,
                        ))
                    }
                }
                i += 2;
            }
            g.stats_sockets.push(s);
            Ok(())
        }
        other => {
            let d = line.error(format!(
                "unknown keyword 'stats {other}' in 'global' section"
            ));
            Err(match did_you_mean(other, STATS_KEYWORDS.iter().copied()) {
                Some(h) => d.with_help(h),
                None => d.with_help("in 'global', 'stats' takes 'socket' or 'timeout'; the stats page is set in a proxy"),
            })
        }
    }
}

pub(super) fn admin_level(line: &LineRef<'_>, word: &str) -> Result<AdminLevel, Diagnostic> {
    match word {
        "user" => Ok(AdminLevel::User),
        "operator" => Ok(AdminLevel::Operator),
        "admin" => Ok(AdminLevel::Admin),
        other => Err(unknown(
            line,
            "level",
            other,
            &["user", "operator", "admin"],
        )),
    }
}
