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

/// What an expect rule looked for, as `tcp-check` failure lines name it.
pub enum Pattern {
    String(String),
    /// A `binary` pattern where only its kind is named.
    Binary,
    /// A `binary` pattern spelled out in hex.
    BinaryBytes(String),
    Regex,
    BinaryRegex,
    Custom,
}

/// Where a `tcp-check` sequence stopped on a connection problem or a timeout.
pub enum TcpchkStep {
    /// Step number (0 for the implicit first connect) and the rule's port.
    Connect(usize, Option<u16>),
    Send(usize),
    Expect(usize, Pattern),
}

/// "TCPCHK got an empty response at step N".
pub fn tcpchk_empty(step: usize) -> String {
    format!("TCPCHK got an empty response at step {step}")
}

/// "TCPCHK did not match content 'X' at step N", or "matched unwanted content" for a
/// negated rule.
pub fn tcpchk_mismatch(matched: bool, what: &Pattern, step: usize) -> String {
    let head = if matched {
        "TCPCHK matched unwanted content"
    } else {
        "TCPCHK did not match content"
    };
    let kind = match what {
        Pattern::String(s) => format!(" '{s}'"),
        Pattern::Binary | Pattern::BinaryBytes(_) => " (binary)".into(),
        Pattern::Regex => " (regex)".into(),
        Pattern::BinaryRegex => " (binary regex)".into(),
        Pattern::Custom => " (custom function)".into(),
    };
    format!("{head}{kind} at step {step}")
}

/// Appends " comment: C" when the failing rule has a comment.
pub fn with_comment(info: Option<String>, comment: Option<&str>) -> Option<String> {
    match (info, comment) {
        (i, None) => i,
        (Some(i), Some(c)) => Some(format!("{i} comment: {c}")),
        (None, Some(c)) => Some(format!("comment: {c}")),
    }
}

/// "Connection refused at step 1 of tcp-check (connect port 6379)", "at initial connection
/// step of tcp-check", "at step 2 of tcp-check (expect string '+PONG')".
pub fn tcpchk_where(os: Option<&str>, at: &TcpchkStep, comment: Option<&str>) -> String {
    let place = match at {
        TcpchkStep::Connect(0, _) => "at initial connection step of tcp-check".to_string(),
        TcpchkStep::Connect(n, Some(p)) => format!("at step {n} of tcp-check (connect port {p})"),
        TcpchkStep::Connect(n, None) => format!("at step {n} of tcp-check (connect)"),
        TcpchkStep::Send(n) => format!("at step {n} of tcp-check (send)"),
        TcpchkStep::Expect(n, what) => {
            let what = match what {
                Pattern::String(s) => format!("expect string '{s}'"),
                Pattern::Binary => "expect binary".into(),
                Pattern::BinaryBytes(h) => format!("expect binary '{h}'"),
                Pattern::Regex => "expect regex".into(),
                Pattern::BinaryRegex => "expect binary regex".into(),
                Pattern::Custom => "expect custom function".into(),
            };
            format!("at step {n} of tcp-check ({what})")
        }
    };
    let mut s = match os {
        Some(e) => format!("{e} {place}"),
        None => place,
    };
    if let (Some(c), false) = (comment, matches!(at, TcpchkStep::Connect(0, _))) {
        s.push_str(&format!(" comment: '{c}'"));
    }
    s
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

    #[test]
    fn tcp_check_failures_name_the_step_and_the_pattern() {
        let what = Pattern::String("+PONG".into());
        assert_eq!(
            tcpchk_mismatch(false, &what, 2),
            "TCPCHK did not match content '+PONG' at step 2"
        );
        assert_eq!(
            tcpchk_mismatch(true, &Pattern::Regex, 3),
            "TCPCHK matched unwanted content (regex) at step 3"
        );
        assert_eq!(
            tcpchk_where(
                Some("Connection refused"),
                &TcpchkStep::Connect(0, None),
                None
            ),
            "Connection refused at initial connection step of tcp-check"
        );
        assert_eq!(
            tcpchk_where(None, &TcpchkStep::Expect(2, what), Some("ping")),
            "at step 2 of tcp-check (expect string '+PONG') comment: 'ping'"
        );
    }
}
