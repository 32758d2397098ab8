//! Log lines in HAProxy's wording.

use crate::status::{CheckResult, CheckStatus};

/// "reason: X[, code: N][, info: "…"], check duration: Nms" — the middle of every state line.
pub fn check_detail(r: &CheckResult, with_info: bool) -> String {
    let mut s = format!("reason: {}", r.status.reason());
    if let Some(c) = r.code {
        s.push_str(&format!(", code: {c}"));
    }
    if with_info {
        if let Some(i) = &r.info {
            s.push_str(&format!(", info: \"{i}\""));
        }
    }
    // Errors seen on traffic were not timed by any probe.
    if r.status != CheckStatus::Hana {
        s.push_str(&format!(", check duration: {}ms", r.duration.as_millis()));
    }
    s
}

pub fn down(be: &str, srv: &str, r: &CheckResult, active: usize, backup: usize) -> String {
    format!(
        "Server {be}/{srv} is DOWN, {}. {active} active and {backup} backup servers left.",
        check_detail(r, true)
    )
}

pub fn up(be: &str, srv: &str, r: &CheckResult, active: usize, backup: usize) -> String {
    // An UP line names the response code but not the reason phrase that came with it.
    format!(
        "Server {be}/{srv} is UP, {}. {active} active and {backup} backup servers online.",
        check_detail(r, !r.status.passed())
    )
}

pub fn maint(be: &str, srv: &str, was_up: bool, active: usize, backup: usize) -> String {
    if was_up {
        format!("Server {be}/{srv} is going DOWN for maintenance. {active} active and {backup} backup servers left.")
    } else {
        format!("Server {be}/{srv} was DOWN and now enters maintenance.")
    }
}

pub fn leave_maint(be: &str, srv: &str, up: bool) -> String {
    let state = if up { "UP" } else { "DOWN" };
    format!("Server {be}/{srv} is {state} (leaving forced maintenance).")
}

pub fn drain(be: &str, srv: &str) -> String {
    format!("Server {be}/{srv} enters drain state.")
}

pub fn leave_drain(be: &str, srv: &str) -> String {
    format!("Server {be}/{srv} is leaving drain state.")
}

pub fn no_server(be: &str) -> String {
    format!("backend {be} has no server available!")
}

/// `option log-health-checks`: a result that moved the counter without changing the state.
pub fn progress(be: &str, srv: &str, r: &CheckResult, progress: &str, agent: bool) -> String {
    let what = if agent { "Agent check" } else { "Health check" };
    let verb = if r.status.passed() {
        "succeeded"
    } else {
        "failed"
    };
    format!(
        "{what} for server {be}/{srv} {verb}, {}, status: {progress}.",
        check_detail(r, true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn down_line_reads_like_haproxy() {
        let mut r = CheckResult::new(CheckStatus::L4Con).with_info("Connection refused");
        r.duration = Duration::from_millis(1);
        assert_eq!(
            down("web", "web1", &r, 1, 0),
            "Server web/web1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 1ms. 1 active and 0 backup servers left."
        );
    }

    #[test]
    fn down_line_after_observed_errors_has_no_check_duration() {
        let r = CheckResult::new(CheckStatus::Hana)
            .with_info("Detected 2 consecutive errors, last one was: Wrong http response");
        assert_eq!(
            down("web", "web1", &r, 1, 0),
            "Server web/web1 is DOWN, reason: Health analyze, info: \"Detected 2 consecutive errors, last one was: Wrong http response\". 1 active and 0 backup servers left."
        );
    }

    #[test]
    fn up_line_names_the_code() {
        let r = CheckResult::new(CheckStatus::L7Ok)
            .with_code(200)
            .with_info("OK");
        assert_eq!(
            up("web", "web1", &r, 2, 0),
            "Server web/web1 is UP, reason: Layer7 check passed, code: 200, check duration: 0ms. 2 active and 0 backup servers online."
        );
    }
}
