//! System calls per request: `strace -c -f` attached to the proxy's process during a short
//! extra load run, after the measured one (strace slows the proxy down, so it never runs
//! while CPU is being measured). Every call is counted, `io_uring_enter` included.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::load::{self, LoadSpec};

/// How long strace is given to attach to every thread before the load starts.
const ATTACH: Duration = Duration::from_millis(300);

/// Runs `ls` once more with strace attached to `pid` and every process below it (nginx's
/// workers, a master's worker); returns system calls per request.
pub fn per_request(pid: u32, ls: &LoadSpec, script: &Path, dir: &Path) -> Result<f64, String> {
    let out = dir.join(format!("strace-{pid}.txt"));
    let mut cmd = Command::new("strace");
    cmd.args(["-c", "-f"]);
    for p in crate::procfs::tree(pid) {
        cmd.args(["-p", &p.to_string()]);
    }
    let mut tracer = cmd
        .arg("-o")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start strace: {e}"))?;
    std::thread::sleep(ATTACH);
    let res = load::run(ls, script, &dir.join(format!("strace-load-{pid}.txt")));
    // SAFETY: plain signal to our own child.
    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    let _ = tracer.wait();
    let r = res?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let calls = total_calls(&text).ok_or_else(|| format!("no total in {}", out.display()))?;
    if r.requests == 0 {
        return Err("no request was served while traced".into());
    }
    Ok(calls as f64 / r.requests as f64)
}

/// The `calls` column of strace's `total` line (`% time, seconds, usecs/call, calls`, then
/// `errors` when there were some).
fn total_calls(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.split_whitespace().last() == Some("total"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_line_gives_the_call_count_with_or_without_errors() {
        let with = "% time     seconds  usecs/call     calls    errors syscall\n\
            ------ ----------- ----------- --------- --------- ----------------\n \
             60.00    0.120000           3     40001         1 recvfrom\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
            100.00    0.200000           2     80012        17 total\n";
        assert_eq!(total_calls(with), Some(80012));
        let without = "100.00    0.200000           2     80012           total\n";
        assert_eq!(total_calls(without), Some(80012));
        assert_eq!(total_calls("nothing here\n"), None);
    }
}
