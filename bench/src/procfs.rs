//! What the harness reads from /proc and asks of the scheduler: CPU time and RSS of a
//! process tree, machine-wide busy time, and CPU pinning.

use std::fs;

/// Clock ticks per second of the utime/stime fields.
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Pins the calling thread (or, called between fork and exec, the new process) to `cpus`.
pub fn pin_current_thread(cpus: &[usize]) -> bool {
    if cpus.is_empty() {
        return true;
    }
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it; sched_setaffinity(0) targets
    // the calling thread and reads the set we own. Async-signal-safe, so usable in pre_exec.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Runs the calling thread only when nothing else on its CPUs wants to (`SCHED_IDLE`): a load
/// generator that shares cores with the measuring client and the backend then never delays
/// them, as it would not from another machine.
pub fn yield_to_others() -> bool {
    // SAFETY: sched_param is plain data; sched_setscheduler(0) targets the calling thread.
    unsafe {
        let param: libc::sched_param = std::mem::zeroed();
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0
    }
}

/// Asks the kernel to send SIGTERM to the calling process when its parent dies, so that a
/// harness stopped by a signal does not leave proxies and backends running. Called in
/// pre_exec; async-signal-safe.
pub fn die_with_parent() {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
    }
}

/// `pid` and every live descendant, found through the parent links in /proc/*/stat.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(f) = stat_fields(p) {
                if let Some(pp) = f.get(1).and_then(|s| s.parse().ok()) {
                    parents.push((p, pp));
                }
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    out
}

/// The fields of /proc/PID/stat after the `(comm)`: index 0 is the state (field 3).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// CPU ticks used so far by a process tree: utime + stime + cutime + cstime of each live
/// process, so children already reaped (a fork per connection) are still counted, once.
pub fn tree_ticks(pid: u32) -> u64 {
    tree(pid)
        .into_iter()
        .filter_map(stat_fields)
        .map(|f| {
            // stat fields 14..=17 are at indices 11..=14 here.
            (11..=14)
                .filter_map(|i| f.get(i).and_then(|v| v.parse::<i64>().ok()))
                .map(|v| v.max(0) as u64)
                .sum::<u64>()
        })
        .sum()
}

/// Resident memory of a process tree in KiB (sum of VmRSS).
pub fn tree_rss_kib(pid: u32) -> u64 {
    tree(pid)
        .into_iter()
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

/// Machine-wide CPU counters from the `cpu` line of /proc/stat, in ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineTicks {
    pub busy: u64,
    pub total: u64,
    pub steal: u64,
}

impl MachineTicks {
    /// The share of the machine's CPU time, in percent, the hypervisor gave to others
    /// (steal) between `earlier` and these counters.
    pub fn steal_pct_since(&self, earlier: &MachineTicks) -> f64 {
        let total = self.total.saturating_sub(earlier.total).max(1) as f64;
        100.0 * self.steal.saturating_sub(earlier.steal) as f64 / total
    }
}

pub fn machine_ticks() -> MachineTicks {
    let s = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = s.lines().find(|l| l.starts_with("cpu ")) else {
        return MachineTicks::default();
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return MachineTicks::default();
    }
    // user nice system idle iowait irq softirq steal
    let total: u64 = v.iter().sum();
    MachineTicks {
        busy: total - v[3] - v[4],
        total,
        steal: v[7],
    }
}

/// Number of online CPUs.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// CPU time of a reaped child, from `wait4`'s rusage, in microseconds.
pub fn rusage_us(ru: &libc::rusage) -> u64 {
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Starts `cmd` with stdout and stderr to `log`, pinned to `cpus`, dying with this process.
pub fn spawn_pinned(
    cmd: &mut std::process::Command,
    cpus: &[usize],
    log: &std::path::Path,
) -> Result<std::process::Child, String> {
    use std::os::unix::process::CommandExt;
    let out = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err);
    let cpus = cpus.to_vec();
    // SAFETY: the closure only calls prctl and sched_setaffinity, both async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            die_with_parent();
            pin_current_thread(&cpus);
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_tree_has_cpu_time_and_memory() {
        let me = std::process::id();
        // Work until the kernel has counted a tick of it (an optimised build does a fixed
        // loop in less than one), for at most two seconds.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while tree_ticks(me) == 0 && started.elapsed() < std::time::Duration::from_secs(2) {
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        assert!(tree(me).contains(&me));
        assert!(tree_rss_kib(me) > 0);
        assert!(
            tree_ticks(me) > 0,
            "no CPU time counted after {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn machine_ticks_busy_is_below_total() {
        let m = machine_ticks();
        assert!(m.total > 0);
        assert!(m.busy <= m.total);
    }
}
