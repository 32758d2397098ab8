//! The `set server B/S …` subcommands that move a server or force its checks' verdicts:
//! `addr` (told to every worker; the checks follow), `health` and `agent` (forced states,
//! held until the next results move the server), `check-port`, `check-addr`, `agent-addr`,
//! `agent-port` and `agent-send`, with HAProxy 2.6's answers.
//!
//! Some of HAProxy's answers have no newline of their own (the answer then ends with the
//! command's one empty line); they are kept so, as scripts compare them byte for byte.

use std::net::IpAddr;
use std::time::Duration;

use ringlb_checks::ForcedHealth;
use ringlb_config::model::PortSpec;

use crate::services::admin::commands::state_error;
use crate::services::admin::state::ServerAddr;
use crate::services::admin::Runtime;
use crate::worker::inbox::ShardEvent;

/// HAProxy's usage line for a `set server` without a known subcommand.
pub const USAGE: &str = "usage: set server <backend>/<server> addr | agent | agent-addr | \
    agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n";

const NO_CHECK: &str = "health checks are not enabled on this server";
const NO_AGENT: &str = "agent checks are not enabled on this server";

/// How long a change waits for every worker to apply it before answering.
const APPLIED_WITHIN: Duration = Duration::from_secs(2);

/// Where HAProxy says a change came from.
const BY: &str = "by 'stats socket command'";

/// `set server B/S addr IP [port PORT]`: new connections go to the new address once every
/// worker has it; connections in use finish where they are.
pub fn addr(rt: &Runtime, b: &str, s: &str, args: &[&str]) -> Result<String, String> {
    let (old_ip, old_port) = rt.servers.addr(b, s).map_err(state_error)?;
    let word = args
        .first()
        .ok_or("set server <b>/<s> addr requires an address and optionally a port.\n")?;
    let ip: IpAddr = word
        .parse()
        .map_err(|_| format!("Invalid addr '{word}' {BY}\n"))?;
    let mut msg = if ip == old_ip {
        "no need to change the addr".to_string()
    } else {
        format!("IP changed from '{old_ip}' to '{ip}'")
    };
    let mut port = old_port;
    if args.get(1) == Some(&"port") {
        let w = args.get(2).copied().unwrap_or("");
        match parse_port(w) {
            None => msg.push_str(&format!(", problem converting port '{w}' to an int")),
            Some(p) if p == old_port => msg.push_str(", no need to change the port"),
            // As HAProxy: a check following the server's port could not follow a mapping.
            Some(p @ Some(PortSpec::Offset(_)))
                if !matches!(old_port, Some(PortSpec::Offset(_)))
                    && !rt
                        .servers
                        .checker()
                        .own_check_port(b, s)
                        .map_err(|e| state_error(e.into()))?
                    && p != old_port =>
            {
                msg.push_str(
                    ", can't change <port> to port map because it is incompatible with current \
                     health check port configuration (use 'port' statement from the 'server' \
                     directive.",
                )
            }
            Some(p) => {
                msg.push_str(&format!(
                    ", port changed from '{}' to '{}'",
                    port_text(old_port),
                    port_text(p)
                ));
                port = p;
            }
        }
    }
    let to: ServerAddr = (ip, port);
    if to != (old_ip, old_port) {
        rt.servers.set_addr(b, s, to).map_err(state_error)?;
        rt.inboxes.broadcast_and_wait(
            &ShardEvent::SetServerAddr {
                backend: b.into(),
                server: s.into(),
                ip,
                port,
            },
            APPLIED_WITHIN,
        );
    }
    Ok(format!("{msg} {BY}\n"))
}

/// A server port as `set server … addr … port` takes it: `+N`/`-N` relative to the port
/// the client reached, else a number (wrapped to 16 bits, 0 for the client's port, as
/// HAProxy reads it); `None` when it is not a number.
fn parse_port(w: &str) -> Option<Option<PortSpec>> {
    if w.starts_with('+') || w.starts_with('-') {
        return w.parse().ok().map(|o| Some(PortSpec::Offset(o)));
    }
    let n: u64 = w.parse().ok()?;
    Some(match n as u16 {
        0 => None,
        p => Some(PortSpec::Fixed(p)),
    })
}

fn port_text(p: Option<PortSpec>) -> String {
    match p {
        None => "0".into(),
        Some(PortSpec::Fixed(n)) => n.to_string(),
        Some(PortSpec::Offset(o)) => format!("{o:+}"),
    }
}

/// `set server B/S health up|stopping|down`: a forced verdict; with checks running, the
/// next results move the server again (DOWN needs `rise` passes to come back).
pub fn health(rt: &Runtime, b: &str, s: &str, args: &[&str]) -> Result<String, String> {
    rt.servers.server(b, s).map_err(state_error)?;
    let to = match args.first() {
        Some(&"up") => ForcedHealth::Up,
        Some(&"stopping") => ForcedHealth::Stopping,
        Some(&"down") => ForcedHealth::Down,
        _ => return Err("'set server <srv> health' expects 'up', 'stopping', or 'down'.\n".into()),
    };
    rt.servers
        .checker()
        .force_health(b, s, to)
        .map_err(|e| state_error(e.into()))?;
    // The checker told the workers; answer once they applied it.
    rt.inboxes.wait_applied(APPLIED_WITHIN);
    Ok(String::new())
}

/// `set server B/S agent up|down`: only for a server with an agent check.
pub fn agent(rt: &Runtime, b: &str, s: &str, args: &[&str]) -> Result<String, String> {
    rt.servers.server(b, s).map_err(state_error)?;
    if !has_agent(rt, b, s)? {
        return Err(format!("{NO_AGENT}.\n"));
    }
    let up = match args.first() {
        Some(&"up") => true,
        Some(&"down") => false,
        _ => return Err("'set server <srv> agent' expects 'up' or 'down'.\n".into()),
    };
    rt.servers
        .checker()
        .force_agent(b, s, up)
        .map_err(|e| state_error(e.into()))?;
    rt.inboxes.wait_applied(APPLIED_WITHIN);
    Ok(String::new())
}

/// Whether the server has an agent check.
fn has_agent(rt: &Runtime, b: &str, s: &str) -> Result<bool, String> {
    rt.servers
        .checker()
        .change_agent(b, s, |_| {})
        .map_err(|e| state_error(e.into()))
}

/// Whether the server has a health check.
fn checked(rt: &Runtime, b: &str, s: &str) -> Result<bool, String> {
    Ok(rt
        .servers
        .checker()
        .check_target(b, s)
        .map_err(|e| state_error(e.into()))?
        .is_some())
}

/// `set server B/S check-port N`.
pub fn check_port(rt: &Runtime, b: &str, s: &str, args: &[&str]) -> Result<String, String> {
    rt.servers.server(b, s).map_err(state_error)?;
    let w = args
        .first()
        .ok_or("set server <b>/<s> check-port requires a port.\n")?;
    if !checked(rt, b, s)? {
        return Err(NO_CHECK.into());
    }
    let port = parse_check_port(w)?;
    rt.servers
        .checker()
        .set_check_port(b, s, port)
        .map_err(|e| state_error(e.into()))?;
    Ok(String::new())
}

/// `set server B/S check-addr IP [port N]`.
pub fn check_addr(rt: &Runtime, b: &str, s: &str, args: &[&str]) -> Result<String, String> {
    rt.servers.server(b, s).map_err(state_error)?;
    let w = args
        .first()
        .ok_or("set server <b>/<s> check-addr requires an address and optionally a port.\n")?;
    if !checked(rt, b, s)? {
        return Err(NO_CHECK.into());
    }
    let ip: IpAddr = w.parse().map_err(|_| format!("invalid addr '{w}'"))?;
    let port = match args.get(1..) {
        Some(["port", p, ..]) => Some(parse_check_port(p)?),
        _ => None,
    };
    rt.servers
        .checker()
        .set_check_addr(b, s, ip, port)
        .map_err(|e| state_error(e.into()))?;
    Ok(String::new())
}

fn parse_check_port(w: &str) -> Result<u16, String> {
    let n: i64 = w.parse().map_err(|_| "provided port is not an integer")?;
    u16::try_from(n).map_err(|_| "provided port is invalid".to_string())
}

/// `set server B/S agent-addr IP`, `agent-port N` and `agent-send STRING`.
pub fn agent_setting(
    rt: &Runtime,
    b: &str,
    s: &str,
    what: &str,
    args: &[&str],
) -> Result<String, String> {
    rt.servers.server(b, s).map_err(state_error)?;
    if !has_agent(rt, b, s)? {
        // HAProxy ends only this one with a full stop and a newline.
        return Err(if what == "agent-send" {
            format!("{NO_AGENT}.\n")
        } else {
            NO_AGENT.into()
        });
    }
    let w = args.first().copied().unwrap_or("");
    let change: Box<dyn FnOnce(&mut ringlb_checks::plan::AgentPlan)> = match what {
        "agent-addr" => {
            let ip: IpAddr = w.parse().map_err(|_| format!("invalid addr '{w}'"))?;
            Box::new(move |a| {
                a.target.addr.set_ip(ip);
                a.own_addr = true;
            })
        }
        "agent-port" => {
            let port = parse_check_port(w)?;
            Box::new(move |a| a.target.addr.set_port(port))
        }
        _ => {
            let send = args.join(" ");
            Box::new(move |a| a.send = (!send.is_empty()).then_some(send))
        }
    };
    rt.servers
        .checker()
        .change_agent(b, s, change)
        .map_err(|e| state_error(e.into()))?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_read_as_haproxy_reads_them() {
        assert_eq!(parse_port("80"), Some(Some(PortSpec::Fixed(80))));
        assert_eq!(parse_port("99999"), Some(Some(PortSpec::Fixed(34463))));
        assert_eq!(parse_port("0"), Some(None));
        assert_eq!(parse_port("+5"), Some(Some(PortSpec::Offset(5))));
        assert_eq!(parse_port("abc"), None);
        assert_eq!(port_text(Some(PortSpec::Offset(5))), "+5");
        assert_eq!(port_text(None), "0");
    }
}
