//! `server NAME ADDR[:PORT] [params]` and `default-server [params]`.

use super::{unknown, LineRef, Step};
use crate::diag::Diagnostic;
use crate::model::{
    AgentCheck, Host, Observe, OnError, OnMarkedDown, OnMarkedUp, Proxy, ProxyVersion, Server,
    ServerAddr, Weight,
};
use crate::value::{self, TimeUnit};

/// Server parameters before they are attached to an address: what `default-server` holds,
/// plus agent settings that only make an `AgentCheck` once `agent-check` is on.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub server: Server,
    pub agent_check: bool,
    pub agent_port: Option<u16>,
    pub agent_inter: Option<std::time::Duration>,
    pub agent_addr: Option<std::net::IpAddr>,
    pub agent_send: Option<String>,
    /// HAProxy's two PROXY protocol flags, which `send-proxy`, `send-proxy-v2` and their
    /// `no-` forms set and clear one by one; version 2 wins when both are set.
    pub proxy_v1: bool,
    pub proxy_v2: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            server: Server::new(
                String::new(),
                ServerAddr {
                    host: Host::Name(String::new()),
                    port: None,
                },
            ),
            agent_check: false,
            agent_port: None,
            agent_inter: None,
            agent_addr: None,
            agent_send: None,
            proxy_v1: false,
            proxy_v2: false,
        }
    }
}

/// A server with every parameter at its built-in default, for `dump` to compare against.
pub(crate) fn builtin_server() -> Server {
    Params::default().server
}

const PARAMS: &[&str] = &[
    "check",
    "no-check",
    "backup",
    "no-backup",
    "disabled",
    "enabled",
    "send-proxy",
    "no-send-proxy",
    "send-proxy-v2",
    "no-send-proxy-v2",
    "check-send-proxy",
    "proto",
    "ssl",
    "no-ssl",
    "agent-check",
    "no-agent-check",
    "weight",
    "maxconn",
    "minconn",
    "maxqueue",
    "cookie",
    "inter",
    "fastinter",
    "downinter",
    "rise",
    "fall",
    "port",
    "addr",
    "source",
    "redir",
    "on-marked-down",
    "on-marked-up",
    "observe",
    "error-limit",
    "on-error",
    "agent-port",
    "agent-inter",
    "agent-addr",
    "agent-send",
    "slowstart",
];

/// Server parameters refused rather than accepted and ignored (issue 26), with the fix
/// shown: the PROXY protocol's TLVs (client TLS details, authority, unique ID, checksum)
/// are not sent, and slow start is not applied yet.
fn not_supported(kw: &str) -> Option<&'static str> {
    match kw {
        "send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn" => Some(
            "use 'send-proxy-v2' (the header without the TLS details) and pass what the \
             server needs in a header, e.g. 'http-request set-header X-SSL %[ssl_fc]'",
        ),
        "proxy-v2-options" => Some(
            "remove it: 'send-proxy-v2' sends the addresses only, without TLVs; pass what the \
             server needs in a header, e.g. 'http-request set-header X-Unique-ID %[unique-id]'",
        ),
        "slowstart" => Some(
            "remove it: a server that comes back up takes its full weight at once; \
             lower its 'weight' at run time ('set weight') to ramp it up by hand",
        ),
        _ => None,
    }
}

pub(super) fn default_server(params: &mut Params, line: &LineRef<'_>) -> Step {
    apply(params, line, 1)
}

pub(super) fn server(p: &mut Proxy, defaults: &Params, line: &LineRef<'_>) -> Step {
    let usage = "NAME ADDRESS[:PORT] [params]";
    let name = line.arg(1, "server", usage)?.to_string();
    let addr =
        value::server_addr(line.arg(2, "server", usage)?).map_err(|e| line.invalid("server", e))?;
    let mut params = defaults.clone();
    let (agent_port, agent_inter, agent_addr, agent_send) = (
        params.agent_port,
        params.agent_inter,
        params.agent_addr.is_some(),
        params.agent_send.is_some(),
    );
    apply(&mut params, line, 3)?;
    let mut s = params.server;
    s.location = line.loc.clone();
    s.name = name;
    s.addr = addr;
    if params.agent_check {
        let Some(port) = params.agent_port else {
            return Err(line
                .error(format!(
                    "server '{}': 'agent-check' needs 'agent-port'",
                    s.name
                ))
                .with_help("add 'agent-port PORT' to the server or to 'default-server'"));
        };
        s.check.agent = Some(AgentCheck {
            port,
            inter: params.agent_inter,
            addr: params.agent_addr,
            send: params.agent_send,
        });
    } else {
        let own = params.agent_port != agent_port
            || params.agent_inter != agent_inter
            || params.agent_addr.is_some() != agent_addr
            || params.agent_send.is_some() != agent_send;
        if own {
            return Err(line
                .error(format!(
                    "server '{}': agent settings without 'agent-check' have no effect",
                    s.name
                ))
                .with_help("add 'agent-check', or remove the agent-* parameters"));
        }
    }
    if s.send_proxy.is_some() && s.proto == Some(crate::model::HttpProto::H2) {
        // HAProxy shares a connection that carried a PROXY header only between streams of
        // the client it names; ringlb's requests to a `proto h2` server are streams of one
        // connection per worker, shared by every client.
        return Err(line
            .error(format!(
                "server '{}': 'send-proxy' with 'proto h2' is not supported: ringlb's \
                 HTTP/2 connection to a server carries the streams of every client, and a \
                 PROXY header names one",
                s.name
            ))
            .with_help(
                "remove 'proto h2' (requests then go as HTTP/1.1, one client per \
                 connection), or remove 'send-proxy' and use 'option forwardfor'",
            ));
    }
    p.servers.push(s);
    Ok(())
}

fn apply(params: &mut Params, line: &LineRef<'_>, from: usize) -> Step {
    let mut i = from;
    while let Some(w) = line.words.get(i) {
        let kw = w.as_str();
        let s = &mut params.server;
        let c = &mut s.check;
        let arg = || line.arg(i + 1, kw, "VALUE");
        let num = |min: u64, max: u64| -> Result<u64, Diagnostic> {
            value::bounded(arg()?, kw, min, max).map_err(|e| line.invalid(kw, e))
        };
        let dur = || -> Result<std::time::Duration, Diagnostic> {
            let d = value::duration(arg()?, TimeUnit::Ms).map_err(|e| line.invalid(kw, e))?;
            if d.is_zero() {
                return Err(line
                    .error(format!("'{kw}' must be greater than zero"))
                    .with_help(format!("write e.g. {kw} 2s")));
            }
            Ok(d)
        };
        let ip = || value::ip(arg()?).map_err(|e| line.invalid(kw, e));
        if let Some(took) = super::tls::server(&mut s.tls, c, line, i) {
            i += if took? { 2 } else { 1 };
            continue;
        }
        let mut takes_value = true;
        if let Some(help) = not_supported(kw) {
            let why = match kw {
                "slowstart" => "yet",
                _ => "yet: ringlb sends no PROXY protocol TLVs",
            };
            return Err(line
                .error(format!("server parameter '{kw}' is not supported {why}"))
                .with_help(help));
        }
        match kw {
            "check" | "no-check" | "backup" | "no-backup" | "disabled" | "enabled"
            | "send-proxy" | "no-send-proxy" | "send-proxy-v2" | "no-send-proxy-v2"
            | "check-send-proxy" | "ssl" | "no-ssl" | "agent-check" | "no-agent-check" => {
                takes_value = false;
                let on = !kw.starts_with("no-");
                match kw.trim_start_matches("no-") {
                    "check" => c.enabled = on,
                    "backup" => s.backup = on,
                    "disabled" => s.disabled = true,
                    "enabled" => s.disabled = false,
                    "send-proxy" | "send-proxy-v2" => {
                        match kw.ends_with("-v2") {
                            true => params.proxy_v2 = on,
                            false => params.proxy_v1 = on,
                        }
                        params.server.send_proxy = match (params.proxy_v1, params.proxy_v2) {
                            (_, true) => Some(ProxyVersion::V2),
                            (true, false) => Some(ProxyVersion::V1),
                            (false, false) => None,
                        };
                    }
                    "check-send-proxy" => c.send_proxy = true,
                    "ssl" => s.ssl = on,
                    _ => params.agent_check = on,
                }
            }
            "weight" => {
                let n = num(0, u64::from(Weight::MAX))?;
                s.weight = Weight::new(n as u16).expect("bounded above");
            }
            "maxconn" => s.maxconn = Some(num(0, u64::from(u32::MAX))? as u32),
            "minconn" => s.minconn = Some(num(0, u64::from(u32::MAX))? as u32),
            "maxqueue" => s.maxqueue = Some(num(0, u64::from(u32::MAX))? as u32),
            "cookie" => s.cookie = Some(arg()?.to_string()),
            "inter" => c.inter = dur()?,
            "fastinter" => c.fastinter = Some(dur()?),
            "downinter" => c.downinter = Some(dur()?),
            "rise" => c.rise = num(1, 1_000_000)? as u32,
            "fall" => c.fall = num(1, 1_000_000)? as u32,
            "error-limit" => c.error_limit = num(1, 1_000_000)? as u32,
            "port" => c.port = Some(value::port(arg()?).map_err(|e| line.invalid(kw, e))?),
            "addr" => c.addr = Some(ip()?),
            "source" => {
                s.source = Some(value::source_addr(arg()?).map_err(|e| line.invalid(kw, e))?)
            }
            "redir" => s.redir = Some(arg()?.to_string()),
            "proto" => {
                s.proto = Some(match arg()? {
                    "h1" => crate::model::HttpProto::H1,
                    "h2" => crate::model::HttpProto::H2,
                    other => {
                        return Err(super::unknown(line, "'proto' value", other, &["h1", "h2"]))
                    }
                })
            }
            "on-marked-down" => match arg()? {
                "shutdown-sessions" => c.on_marked_down = Some(OnMarkedDown::ShutdownSessions),
                other => {
                    return Err(unknown(
                        line,
                        "'on-marked-down' action",
                        other,
                        &["shutdown-sessions"],
                    ))
                }
            },
            "on-marked-up" => match arg()? {
                "shutdown-backup-sessions" => {
                    c.on_marked_up = Some(OnMarkedUp::ShutdownBackupSessions)
                }
                other => {
                    return Err(unknown(
                        line,
                        "'on-marked-up' action",
                        other,
                        &["shutdown-backup-sessions"],
                    ))
                }
            },
            "observe" => match arg()? {
                "layer4" => c.observe = Some(Observe::Layer4),
                "layer7" => c.observe = Some(Observe::Layer7),
                other => {
                    return Err(unknown(
                        line,
                        "'observe' mode",
                        other,
                        &["layer4", "layer7"],
                    ))
                }
            },
            "on-error" => {
                c.on_error = Some(match arg()? {
                    "fastinter" => OnError::FastInter,
                    "fail-check" => OnError::FailCheck,
                    "sudden-death" => OnError::SuddenDeath,
                    "mark-down" => OnError::MarkDown,
                    other => {
                        return Err(unknown(
                            line,
                            "'on-error' action",
                            other,
                            &["fastinter", "fail-check", "sudden-death", "mark-down"],
                        ))
                    }
                })
            }
            "agent-port" => {
                params.agent_port = Some(value::port(arg()?).map_err(|e| line.invalid(kw, e))?)
            }
            "agent-inter" => params.agent_inter = Some(dur()?),
            "agent-addr" => params.agent_addr = Some(ip()?),
            "agent-send" => params.agent_send = Some(arg()?.to_string()),
            other => {
                let known: Vec<&str> = PARAMS
                    .iter()
                    .chain(super::tls::SERVER_WORDS)
                    .chain(crate::tls::WORDS)
                    .copied()
                    .collect();
                return Err(unknown(
                    line,
                    &format!("'{}' parameter", line.keyword()),
                    other,
                    &known,
                ));
            }
        }
        i += if takes_value { 2 } else { 1 };
    }
    Ok(())
}
