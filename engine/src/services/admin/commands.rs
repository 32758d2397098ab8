//! The runtime API's command language: a line holds commands separated by `;`, each a
//! list of words; each command has the level it needs (user < operator < admin, as in
//! HAProxy's `stats socket … level`) and answers with HAProxy's text, ended by an empty line.

use ringlb_checks::AdminState;
use ringlb_config::model::AdminLevel;

use crate::services::admin::state::{StateError, WeightSpec};
use crate::services::admin::{frontends, info, process, sessions, set_server, stat, Runtime};
use crate::worker::frontends::FrontendState;

/// One connection's state.
#[derive(Debug, Clone)]
pub struct Session {
    pub level: AdminLevel,
    /// `prompt`: the connection stays open and a `> ` prompt follows every answer.
    pub interactive: bool,
    /// `quit`, or the end of a non-interactive line: close after answering.
    pub quit: bool,
    /// `set timeout cli N`: this connection's idle timeout from now on.
    pub timeout: Option<std::time::Duration>,
}

impl Session {
    pub fn new(level: AdminLevel) -> Self {
        Self {
            level,
            interactive: false,
            quit: false,
            timeout: None,
        }
    }
}

/// The commands, their usage line and the level they need, in `help` order.
const COMMANDS: &[(&str, &str, AdminLevel)] = &[
    ("help", "help                                    : list the commands", AdminLevel::User),
    ("prompt", "prompt                                  : toggle interactive mode with prompt", AdminLevel::User),
    ("quit", "quit                                    : disconnect", AdminLevel::User),
    ("show info", "show info [json|typed]                  : report information about the running process", AdminLevel::User),
    ("show stat", "show stat [<px|iid> <type> <sid>] [json|typed|up|no-maint] : report counters for each proxy and server", AdminLevel::User),
    ("show servers state", "show servers state [<backend>]          : dump volatile server information (version 1)", AdminLevel::User),
    ("show backend", "show backend                            : list backends", AdminLevel::User),
    ("get weight", "get weight <bk>/<srv>                   : report a server's current weight", AdminLevel::User),
    ("set weight", "set weight <bk>/<srv> (<w>|<w>%)        : change a server's weight (deprecated)", AdminLevel::Admin),
    ("set server", "set server <bk>/<srv> [opts]            : change a server's state, weight, address or check settings", AdminLevel::Admin),
    ("set maxconn server", "set maxconn server <bk>/<srv> <n>       : change a server's maxconn setting", AdminLevel::Admin),
    ("disable server", "disable server <bk>/<srv>               : disable a server for maintenance (use 'set server' instead)", AdminLevel::Admin),
    ("enable server", "enable server <bk>/<srv>                : enable a disabled server (use 'set server' instead)", AdminLevel::Admin),
    ("disable health", "disable health <bk>/<srv>               : disable health checks", AdminLevel::Admin),
    ("enable health", "enable health <bk>/<srv>                : enable health checks", AdminLevel::Admin),
    ("show errors", "show errors                             : report last request and response errors (none are captured)", AdminLevel::Operator),
    ("show env", "show env [<name>]                       : dump environment variables known to the process", AdminLevel::Operator),
    ("show version", "show version                            : show version of the current process", AdminLevel::User),
    ("show cli level", "show cli level                          : display the level of the current CLI session", AdminLevel::User),
    ("show activity", "show activity                           : show per-thread activity counters", AdminLevel::User),
    ("show pools", "show pools                              : report information about the buffer pools", AdminLevel::User),
    ("clear counters", "clear counters [all]                    : clear the peaks (all: every counter)", AdminLevel::Operator),
    ("disable frontend", "disable frontend <frontend>             : temporarily disable specific frontend", AdminLevel::Admin),
    ("enable frontend", "enable frontend <frontend>              : re-enable specific frontend", AdminLevel::Admin),
    ("shutdown frontend", "shutdown frontend <frontend>            : stop a specific frontend", AdminLevel::Admin),
    ("set maxconn frontend", "set maxconn frontend <frontend> <value> : change a frontend's maxconn setting", AdminLevel::Admin),
    ("show sess", "show sess                               : report the list of current sessions", AdminLevel::Operator),
    ("shutdown session", "shutdown session <id>                   : kill a specific session", AdminLevel::Admin),
    ("shutdown sessions server", "shutdown sessions server <bk>/<srv>     : kill sessions on a server", AdminLevel::Admin),
    ("set rate-limit", "set rate-limit <setting> <value>        : change a rate limiting value (none is enforced: 0 only)", AdminLevel::Admin),
    ("set maxconn global", "set maxconn global <value>              : change the per-process maxconn setting", AdminLevel::Admin),
    ("set timeout cli", "set timeout cli <delay>                 : change this CLI session's idle timeout (seconds)", AdminLevel::User),
    ("show ssl cert", "show ssl cert [<certfile>]              : display the SSL certificates used in memory, or the details of a file", AdminLevel::Operator),
    ("set ssl cert", "set ssl cert <certfile> <payload>       : replace a certificate file (payload: chain and key in PEM)", AdminLevel::Admin),
    ("commit ssl cert", "commit ssl cert <certfile>              : commit a certificate file", AdminLevel::Admin),
    ("abort ssl cert", "abort ssl cert <certfile>               : abort a transaction for a certificate file", AdminLevel::Admin),
];

fn help(level: AdminLevel) -> String {
    let mut out = String::from("The following commands are valid at this level:\n");
    for (_, usage, need) in COMMANDS {
        if level >= *need {
            out.push_str("  ");
            out.push_str(usage);
            out.push('\n');
        }
    }
    out
}

/// Runs every `;`-separated command of `line` and returns their answers, each followed by
/// an empty line (and by the prompt in interactive mode). `payload`: the lines that
/// followed a line ending in `<<`, up to an empty line, for the last command.
pub fn run_line(rt: &Runtime, session: &mut Session, line: &str, payload: Option<&str>) -> String {
    let mut out = String::new();
    let cmds: Vec<&str> = line.split(';').collect();
    for (i, cmd) in cmds.iter().enumerate() {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        let payload = payload.filter(|_| i + 1 == cmds.len());
        out.push_str(&run(rt, session, &words, payload));
        if session.quit {
            return out;
        }
        if !session.interactive || words != ["prompt"] {
            out.push('\n');
        }
    }
    if session.interactive {
        out.push_str("> ");
    } else {
        session.quit = true;
    }
    out
}

fn denied() -> String {
    "Permission denied\n".into()
}

pub(super) fn state_error(e: StateError) -> String {
    match e {
        StateError::NoSuchBackend => "No such backend.\n".into(),
        StateError::NoSuchServer => "No such server.\n".into(),
        StateError::WeightOutOfRange => {
            "Absolute weight can only be between 0 and 256 inclusive.\n".into()
        }
    }
}

/// `backend/server` split in two.
fn target(w: Option<&&str>) -> Result<(String, String), String> {
    let t = w.ok_or("Require 'backend/server'.\n")?;
    let (b, s) = t.split_once('/').ok_or("Require 'backend/server'.\n")?;
    Ok((b.to_string(), s.to_string()))
}

/// Runs one command.
pub fn run(rt: &Runtime, session: &mut Session, w: &[&str], payload: Option<&str>) -> String {
    let need = COMMANDS
        .iter()
        .filter(|(name, _, _)| {
            let n: Vec<&str> = name.split(' ').collect();
            w.len() >= n.len() && w[..n.len()] == n[..]
        })
        .max_by_key(|(name, _, _)| name.len());
    if let Some(what) = not_supported(w) {
        return format!("'{what}' is not supported by ringlb yet (see docs/compatibility.md).\n");
    }
    let Some((_, _, need)) = need else {
        return format!(
            "Unknown command: '{}'\n\n{}",
            w.join(" "),
            help(session.level)
        );
    };
    if session.level < *need {
        return denied();
    }
    let result = match w {
        ["help", ..] => Ok(help(session.level)),
        ["prompt", ..] => {
            session.interactive = !session.interactive;
            Ok(String::new())
        }
        ["quit", ..] => {
            session.quit = true;
            Ok(String::new())
        }
        ["show", "info", rest @ ..] => Ok(info::show_info(rt, info_format(rest))),
        ["show", "stat", rest @ ..] => stat::show_stat(rt, rest),
        ["show", "errors", ..] => Ok(process::show_errors()),
        ["show", "env", rest @ ..] => process::show_env(rest.first().copied()),
        ["show", "version", ..] => Ok(format!("{}\n", env!("CARGO_PKG_VERSION"))),
        ["show", "cli", "level", ..] => Ok(format!("{}\n", level_name(session.level))),
        ["show", "activity", ..] => Ok(process::show_activity(rt)),
        ["show", "pools", ..] => Ok(process::show_pools(rt)),
        ["clear", "counters", "all", ..] if session.level < AdminLevel::Admin => Ok(denied()),
        ["clear", "counters", "all", ..] => {
            rt.stats.clear_all();
            Ok(String::new())
        }
        ["clear", "counters", ..] => {
            rt.stats.clear_maxima();
            Ok(String::new())
        }
        ["disable", "frontend", rest @ ..] => frontend_state(rt, rest, FrontendState::Paused),
        ["enable", "frontend", rest @ ..] => frontend_state(rt, rest, FrontendState::Open),
        ["shutdown", "frontend", rest @ ..] => frontend_state(rt, rest, FrontendState::Stopped),
        ["set", "maxconn", "frontend", rest @ ..] => {
            frontends::set_maxconn(&rt.config, &rt.frontends, rest)
        }
        ["show", "sess", ..] => Ok(sessions::show_sess(rt)),
        ["shutdown", "session", rest @ ..] => sessions::shutdown_session(rt, rest),
        ["shutdown", "sessions", "server", rest @ ..] => {
            sessions::shutdown_server_sessions(rt, rest)
        }
        ["set", "rate-limit", rest @ ..] => process::set_rate_limit(rest),
        ["set", "maxconn", "global", rest @ ..] => Ok(process::set_maxconn_global(rt, rest)),
        ["set", "timeout", "cli", rest @ ..] => set_timeout_cli(session, rest),
        ["show", "servers", "state", rest @ ..] => {
            info::show_servers_state(rt, rest.first().copied())
        }
        ["show", "backend", ..] => Ok(info::show_backend(rt)),
        ["get", "weight", rest @ ..] => get_weight(rt, rest),
        ["set", "weight", rest @ ..] => set_weight(rt, rest.first(), rest.get(1)),
        ["set", "maxconn", "server", rest @ ..] => set_maxconn(rt, rest),
        ["set", "server", rest @ ..] => set_server(rt, rest),
        ["disable", "server", rest @ ..] => admin(rt, rest.first(), AdminState::Maint),
        ["enable", "server", rest @ ..] => admin(rt, rest.first(), AdminState::Ready),
        ["disable", "health", rest @ ..] => health(rt, rest.first(), false),
        ["enable", "health", rest @ ..] => health(rt, rest.first(), true),
        ["show", "ssl", "cert", rest @ ..] => rt.certs.show(rest.first().copied()),
        ["set", "ssl", "cert", rest @ ..] => rt.certs.set(rest.first().copied(), payload),
        ["commit", "ssl", "cert", rest @ ..] => rt.certs.commit(rest.first().copied()),
        ["abort", "ssl", "cert", rest @ ..] => rt.certs.abort(rest.first().copied()),
        _ => Ok(help(session.level)),
    };
    result.unwrap_or_else(|e| e)
}

/// `show info`'s words: `typed` or `json` (`desc` adds descriptions in HAProxy; ignored).
fn info_format(words: &[&str]) -> info::Format {
    if words.contains(&"json") {
        info::Format::Json
    } else if words.contains(&"typed") {
        info::Format::Typed
    } else {
        info::Format::Plain
    }
}

/// The words `show cli level` answers with.
fn level_name(level: AdminLevel) -> &'static str {
    match level {
        AdminLevel::User => "user",
        AdminLevel::Operator => "operator",
        AdminLevel::Admin => "admin",
    }
}

/// `set timeout cli <seconds>`: this session's idle timeout.
fn set_timeout_cli(session: &mut Session, rest: &[&str]) -> Result<String, String> {
    let secs: u64 = rest
        .first()
        .and_then(|v| v.parse().ok())
        .ok_or("Expects an integer value.\n")?;
    session.timeout = Some(std::time::Duration::from_secs(secs.max(1)));
    Ok(String::new())
}

/// HAProxy commands ringlb does not carry out yet: answered with an error rather than
/// accepted and ignored.
fn not_supported(w: &[&str]) -> Option<String> {
    match w {
        // A server's name resolution and TLS are fixed when the workers build their tables.
        ["set", "server", _, what @ ("fqdn" | "ssl"), ..] => {
            Some(format!("set server <bk>/<srv> {what}"))
        }
        _ => None,
    }
}

fn get_weight(rt: &Runtime, rest: &[&str]) -> Result<String, String> {
    let (b, s) = target(rest.first())?;
    let (now, initial) = rt.servers.weights(&b, &s).map_err(state_error)?;
    Ok(format!("{now} (initial {initial})\n"))
}

fn set_weight(rt: &Runtime, t: Option<&&str>, w: Option<&&str>) -> Result<String, String> {
    let (b, s) = target(t)?;
    let w = w.ok_or("Require <weight> or <weight%>.\n")?;
    let spec = WeightSpec::parse(w).ok_or("Require <weight> or <weight%>.\n")?;
    rt.servers.set_weight(&b, &s, spec).map_err(state_error)?;
    Ok(String::new())
}

fn frontend_state(rt: &Runtime, rest: &[&str], to: FrontendState) -> Result<String, String> {
    frontends::set_state(&rt.config, &rt.frontends, &rt.inboxes, rest.first(), to)
}

fn set_maxconn(rt: &Runtime, rest: &[&str]) -> Result<String, String> {
    let (b, s) = target(rest.first())?;
    let n: u32 = rest
        .get(1)
        .and_then(|v| v.parse().ok())
        .ok_or("Integer value expected.\n")?;
    rt.servers.set_maxconn(&b, &s, n).map_err(state_error)?;
    Ok(String::new())
}

fn set_server(rt: &Runtime, rest: &[&str]) -> Result<String, String> {
    let (b, s) = target(rest.first())?;
    match rest.get(1..).unwrap_or_default() {
        ["state", st, ..] => {
            let state = match *st {
                "ready" => AdminState::Ready,
                "drain" => AdminState::Drain,
                "maint" => AdminState::Maint,
                _ => {
                    return Err(
                        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into(),
                    )
                }
            };
            admin(rt, rest.first(), state)
        }
        ["state"] => Err("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into()),
        ["weight", rest2 @ ..] => set_weight(rt, rest.first(), rest2.first()),
        ["maxconn", n, ..] => set_maxconn(rt, &[&format!("{b}/{s}"), n]),
        ["addr", args @ ..] => set_server::addr(rt, &b, &s, args),
        ["health", args @ ..] => set_server::health(rt, &b, &s, args),
        ["agent", args @ ..] => set_server::agent(rt, &b, &s, args),
        ["check-port", args @ ..] => set_server::check_port(rt, &b, &s, args),
        ["check-addr", args @ ..] => set_server::check_addr(rt, &b, &s, args),
        [what @ ("agent-addr" | "agent-port" | "agent-send"), args @ ..] => {
            set_server::agent_setting(rt, &b, &s, what, args)
        }
        _ => Err(set_server::USAGE.into()),
    }
}

fn admin(rt: &Runtime, t: Option<&&str>, state: AdminState) -> Result<String, String> {
    let (b, s) = target(t)?;
    rt.servers.set_admin(&b, &s, state).map_err(state_error)?;
    Ok(String::new())
}

fn health(rt: &Runtime, t: Option<&&str>, on: bool) -> Result<String, String> {
    let (b, s) = target(t)?;
    rt.servers
        .set_check_enabled(&b, &s, on)
        .map_err(state_error)?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_only_what_the_level_allows() {
        let user = help(AdminLevel::User);
        assert!(user.contains("show info"));
        assert!(!user.contains("set server"));
        assert!(help(AdminLevel::Admin).contains("set server <bk>/<srv>"));
    }

    #[test]
    fn a_target_needs_backend_and_server() {
        assert_eq!(target(Some(&"web/s1")), Ok(("web".into(), "s1".into())));
        assert_eq!(
            target(Some(&"web")),
            Err("Require 'backend/server'.\n".into())
        );
        assert!(target(None).is_err());
    }

    #[test]
    fn weights_parse_absolute_or_percent() {
        assert_eq!(WeightSpec::parse("12"), Some(WeightSpec::Absolute(12)));
        assert_eq!(WeightSpec::parse("50%"), Some(WeightSpec::Percent(50)));
        assert_eq!(WeightSpec::parse("x%"), None);
    }
}
