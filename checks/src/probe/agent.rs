//! `agent-check`: connect to the agent port, optionally send `agent-send`, read one line of
//! words (`up`, `down`, `maint`, `ready`, `drain`, `NN%`, …) that change the server's state
//! and weight.

use std::time::Instant;

use super::{connect, write_then_read, Exchange, Target};
use crate::status::{CheckResult, CheckStatus};

/// What the agent said, word by word; every field is `None` when not mentioned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentReply {
    /// `up` (true) or `down`/`fail`/`stopped` (false).
    pub operational: Option<bool>,
    pub admin: Option<AgentAdmin>,
    /// `NN%`: weight relative to the configured one.
    pub weight_pct: Option<u32>,
    /// Text after `#`.
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentAdmin {
    Ready,
    Drain,
    Maint,
}

/// Parses the first line of an agent's reply. Words are separated by spaces, tabs or
/// commas and compared without case; unknown words (and `maxconn:N`) are ignored.
pub fn parse_reply(text: &str) -> AgentReply {
    let line = text.lines().next().unwrap_or("");
    let (words, description) = match line.split_once('#') {
        Some((w, d)) => (w, Some(d.trim().to_string())),
        None => (line, None),
    };
    let mut r = AgentReply {
        description,
        ..AgentReply::default()
    };
    for w in words.split([' ', '\t', ',']).filter(|w| !w.is_empty()) {
        let lw = w.to_ascii_lowercase();
        match lw.as_str() {
            "up" => r.operational = Some(true),
            "down" | "fail" | "failed" | "stopped" => r.operational = Some(false),
            "ready" => r.admin = Some(AgentAdmin::Ready),
            "drain" => r.admin = Some(AgentAdmin::Drain),
            "maint" => r.admin = Some(AgentAdmin::Maint),
            _ => {
                if let Some(n) = lw.strip_suffix('%').and_then(|n| n.parse::<u32>().ok()) {
                    r.weight_pct = Some(n);
                }
            }
        }
    }
    r
}

/// One agent exchange: the reply, or the check result explaining why there is none.
pub async fn probe(target: &Target, send: Option<&str>) -> Result<AgentReply, CheckResult> {
    let start = Instant::now();
    let finish = |mut r: CheckResult| {
        r.duration = start.elapsed();
        r
    };
    let mut stream = connect(target).await.map_err(finish)?;
    let request = send.map(|s| s.as_bytes().to_vec()).unwrap_or_default();
    let got = write_then_read(&mut stream, request, target.response_timeout, 1024, |b| {
        b.contains(&b'\n')
    })
    .await;
    match got {
        Exchange::Read(b) if !b.is_empty() => Ok(parse_reply(&String::from_utf8_lossy(&b))),
        Exchange::Read(_) => Err(finish(
            CheckResult::new(CheckStatus::L7Rsp).with_info("Empty agent reply"),
        )),
        Exchange::TimedOut(b) if !b.is_empty() => Ok(parse_reply(&String::from_utf8_lossy(&b))),
        Exchange::TimedOut(_) => Err(finish(CheckResult::new(CheckStatus::L7Timeout))),
        Exchange::Failed(e) => Err(finish(
            CheckResult::new(CheckStatus::SockErr).with_info(super::os_error_text(&e)),
        )),
    }
}

/// A weight `pct` percent of `configured`, within 0..=256.
pub fn scaled_weight(configured: u16, pct: u32) -> u16 {
    ((u32::from(configured) * pct) / 100).min(256) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_read_without_case_and_in_any_order() {
        let r = parse_reply("75%, DRAIN up # busy\n");
        assert_eq!(r.operational, Some(true));
        assert_eq!(r.admin, Some(AgentAdmin::Drain));
        assert_eq!(r.weight_pct, Some(75));
        assert_eq!(r.description.as_deref(), Some("busy"));
        assert_eq!(parse_reply("stopped").operational, Some(false));
        assert_eq!(parse_reply("maint\r\n").admin, Some(AgentAdmin::Maint));
        assert_eq!(
            parse_reply("maxconn:30 ready").admin,
            Some(AgentAdmin::Ready)
        );
        assert_eq!(parse_reply("hello").operational, None);
    }

    #[test]
    fn percent_scales_the_configured_weight() {
        assert_eq!(scaled_weight(100, 50), 50);
        assert_eq!(scaled_weight(10, 250), 25);
        assert_eq!(scaled_weight(200, 200), 256);
    }
}
