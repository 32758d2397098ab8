//! `tcp-request` rules: `connection` rules run at accept, `content` rules once data is
//! buffered (up to `inspect-delay`).

use std::fmt;
use std::time::Duration;

use super::{unknown_action, write_condition, Args};
use crate::acl::{Condition, Ctx};
use crate::diag::Diagnostic;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpRequestRule {
    /// `tcp-request connection ACTION [if|unless COND]`: decided at accept, before any data.
    Connection {
        action: TcpAction,
        condition: Option<Condition>,
    },
    /// `tcp-request content ACTION [if|unless COND]`: decided on buffered request data.
    Content {
        action: TcpAction,
        condition: Option<Condition>,
    },
    /// `tcp-request inspect-delay T`: how long content rules may wait for data.
    InspectDelay(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpAction {
    Accept,
    /// Closes the connection without a reply.
    Reject,
}

/// Parses the words after `tcp-request`.
pub fn parse_tcp_request(args: &[String], ctx: &Ctx<'_>) -> Result<TcpRequestRule, Diagnostic> {
    let usage = "tcp-request connection|content accept|reject [if|unless COND], or tcp-request inspect-delay TIME";
    let Some(kind) = args.first() else {
        return Err(ctx
            .error("'tcp-request' expects a rule type")
            .with_help(format!("write: {usage}")));
    };
    match kind.as_str() {
        "inspect-delay" => {
            let v = match args {
                [_, v] => v,
                _ => {
                    return Err(ctx
                        .error("'tcp-request inspect-delay' expects one time value")
                        .with_help("write: tcp-request inspect-delay 5s"))
                }
            };
            parse_time(v)
                .map(TcpRequestRule::InspectDelay)
                .ok_or_else(|| {
                    ctx.error(format!("invalid time '{v}' for inspect-delay"))
                        .with_help(
                            "write a number with an optional unit: us, ms (default), s, m, h, d",
                        )
                })
        }
        "connection" | "content" => {
            let Some(word) = args.get(1) else {
                return Err(ctx
                    .error(format!("'tcp-request {kind}' expects an action"))
                    .with_help(format!("write: {usage}")));
            };
            let a = Args::new(args, 2, ctx, word);
            let action = match word.as_str() {
                "accept" => TcpAction::Accept,
                "reject" => TcpAction::Reject,
                other => {
                    return Err(unknown_action(
                        ctx,
                        "tcp-request",
                        other,
                        &["accept", "reject"],
                    ))
                }
            };
            let condition = a.condition()?;
            Ok(if kind == "connection" {
                TcpRequestRule::Connection { action, condition }
            } else {
                TcpRequestRule::Content { action, condition }
            })
        }
        other => Err(unknown_action(
            ctx,
            "tcp-request",
            other,
            &["connection", "content", "inspect-delay"],
        )),
    }
}

/// HAProxy's time format: a number and an optional unit, milliseconds by default.
fn parse_time(s: &str) -> Option<Duration> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().ok()?;
    Some(match &s[digits..] {
        "us" => Duration::from_micros(n),
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86400)?),
        _ => return None,
    })
}

fn write_time(f: &mut fmt::Formatter<'_>, d: Duration) -> fmt::Result {
    if d.subsec_nanos() == 0 && d.as_secs() > 0 {
        write!(f, "{}s", d.as_secs())
    } else if d.as_micros() == d.as_millis() * 1000 {
        write!(f, "{}ms", d.as_millis())
    } else {
        write!(f, "{}us", d.as_micros())
    }
}

impl fmt::Display for TcpAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpAction::Accept => "accept",
            TcpAction::Reject => "reject",
        })
    }
}

/// The words after `tcp-request`.
impl fmt::Display for TcpRequestRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpRequestRule::Connection { action, condition } => {
                write!(f, "connection {action}")?;
                write_condition(f, condition)
            }
            TcpRequestRule::Content { action, condition } => {
                write!(f, "content {action}")?;
                write_condition(f, condition)
            }
            TcpRequestRule::InspectDelay(d) => {
                f.write_str("inspect-delay ")?;
                write_time(f, *d)
            }
        }
    }
}
