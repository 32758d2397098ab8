//! What to check for each server, read once from the configuration: the probe, its address
//! and timeouts, the intervals, rise/fall, and the agent.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use ringlb_config::model::{GlobalTls, Host, Mode, OnMarkedDown, PortSpec, Proxy, Server};
use ringlb_config::tls::client::ClientTls;
use ringlb_config::Config;

use crate::health::Intervals;
use crate::probe::http::HttpProbe;
use crate::probe::tcp_check::TcpCheckProbe;
use crate::probe::tls::CheckTls;
use crate::probe::{ldap, mysql, pgsql, redis, smtp, ProbeKind, Target};
use ringlb_config::model::ProtocolCheck;

/// One server as the checker knows it. Servers without `check` are listed too: they count
/// in the "N active and M backup servers left" lines.
#[derive(Debug, Clone)]
pub struct ServerPlan {
    pub backend: String,
    pub server: String,
    pub backup: bool,
    pub weight: u16,
    /// `disabled`: starts in maintenance.
    pub disabled: bool,
    pub rise: u32,
    pub fall: u32,
    pub intervals: Intervals,
    /// The health check; `None` without `check` (or when it cannot run, see `notes`).
    pub check: Option<(ProbeKind, Target)>,
    /// The check runs over TLS (`check-ssl`, or `ssl` without a check port or address).
    pub check_tls: Option<Arc<CheckTls>>,
    pub agent: Option<AgentPlan>,
    pub shutdown_sessions_on_down: bool,
    /// `option log-health-checks` on the backend.
    pub log_checks: bool,
    /// The check has an address (`addr`) or a port (`port`, `set server … check-port`) of
    /// its own: it does not follow `set server … addr` there.
    pub own_check_addr: bool,
    pub own_check_port: bool,
}

#[derive(Debug, Clone)]
pub struct AgentPlan {
    pub target: Target,
    /// `agent-addr` or the check's `addr`: the agent does not follow `set server … addr`.
    pub own_addr: bool,
    pub inter: Duration,
    pub send: Option<String>,
}

/// Every server of every enabled backend, plus warnings for checks that cannot run.
pub fn plan(config: &Config) -> (Vec<ServerPlan>, Vec<(String, String)>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for p in config.backends().filter(|p| !p.disabled) {
        if !p.tcp_check.is_empty() && !p.options.tcp_check {
            notes.push((
                p.name.clone(),
                format!(
                    "backend {}: 'tcp-check' rules are ignored without 'option tcp-check'",
                    p.name
                ),
            ));
        }
        let kind = match probe_kind(p) {
            Ok(k) => k,
            Err(e) => {
                notes.push((
                    p.name.clone(),
                    format!("backend {}: {e}; checks use TCP", p.name),
                ));
                ProbeKind::Tcp
            }
        };
        for s in &p.servers {
            out.push(server_plan(p, s, &kind, &config.global.tls, &mut notes));
        }
    }
    (out, notes)
}

/// The probe a backend's options ask for.
pub fn probe_kind(p: &Proxy) -> Result<ProbeKind, String> {
    if let Some(h) = HttpProbe::from_proxy(p)? {
        return Ok(ProbeKind::Http(h));
    }
    if p.options.ssl_hello_chk {
        return Ok(ProbeKind::SslHello);
    }
    let protocol = match &p.options.protocol_check {
        None => None,
        Some(ProtocolCheck::Redis) => Some(redis::probe()),
        Some(ProtocolCheck::Smtp { hello, domain }) => Some(smtp::probe(hello, domain)),
        Some(ProtocolCheck::Mysql { user }) => Some(mysql::probe(user.as_ref())),
        Some(ProtocolCheck::Pgsql { user }) => Some(pgsql::probe(user)),
        Some(ProtocolCheck::Ldap) => Some(ldap::probe()),
    };
    if let Some(t) = protocol {
        return Ok(ProbeKind::TcpCheck(t.into()));
    }
    if p.options.tcp_check {
        if let Some(t) = TcpCheckProbe::from_proxy(p)? {
            return Ok(ProbeKind::TcpCheck(t.into()));
        }
    }
    Ok(ProbeKind::Tcp)
}

fn server_plan(
    p: &Proxy,
    s: &Server,
    kind: &ProbeKind,
    g: &GlobalTls,
    notes: &mut Vec<(String, String)>,
) -> ServerPlan {
    let c = &s.check;
    let inter = c.inter.max(Duration::from_millis(1));
    let intervals = Intervals {
        inter,
        fastinter: c.fastinter.unwrap_or(inter),
        downinter: c.downinter.unwrap_or(inter),
    };
    // With `timeout check`, connecting is bounded by `timeout connect` (at most `inter`)
    // and the answer by `timeout check`; without it, `inter` bounds both.
    let (connect_timeout, response_timeout) = match p.timeouts.check {
        Some(t) => (p.timeouts.connect.unwrap_or(inter).min(inter), t),
        None => (inter, inter),
    };
    let ip = server_ip(s);
    let mut warn = |what: &str| {
        notes.push((
            p.name.clone(),
            format!("Server {}/{} {what}", p.name, s.name),
        ))
    };
    let mut check_tls = None;
    if c.enabled && s.check_tls() {
        // `verifyhost` stands in for the name when `check-sni` gives none.
        match ClientTls::new(&s.tls, s.tls.verify_or(g), g, p.mode == Mode::Http) {
            Ok(tls) => {
                check_tls = Some(Arc::new(CheckTls {
                    tls,
                    sni: s.tls.check_sni.clone(),
                }))
            }
            Err(e) => warn(&format!(
                "cannot check over TLS ({e}). Check has been disabled."
            )),
        }
    }
    let check = if c.enabled && (check_tls.is_some() || !s.check_tls()) {
        // A first `tcp-check connect port N` is a port of its own.
        let rule_port = match kind {
            ProbeKind::TcpCheck(t) => t.first_port(),
            _ => None,
        };
        let port = c
            .port
            .or(match s.addr.port {
                Some(PortSpec::Fixed(p)) => Some(p),
                _ => None,
            })
            .or(rule_port);
        match (c.addr.or(ip), port) {
            (Some(ip), Some(port)) => Some((
                kind.clone(),
                Target {
                    proxy: s.check_proxy(),
                    proxy_version: s.proxy_version(),
                    source: s.source,
                    ..Target::plain(SocketAddr::new(ip, port), connect_timeout, response_timeout)
                },
            )),
            (None, _) => {
                warn("has no address to check. Check has been disabled.");
                None
            }
            (_, None) => {
                warn("has neither service port nor check port. Check has been disabled.");
                None
            }
        }
    } else {
        None
    };
    let agent = c.agent.as_ref().and_then(|a| {
        let ip = a.addr.or(c.addr).or(ip)?;
        let inter = a.inter.unwrap_or(inter);
        Some(AgentPlan {
            // An agent check never sends a PROXY header.
            target: Target {
                source: s.source,
                ..Target::plain(
                    SocketAddr::new(ip, a.port),
                    connect_timeout.min(inter),
                    p.timeouts.check.unwrap_or(inter),
                )
            },
            inter,
            send: a.send.clone(),
            own_addr: a.addr.or(c.addr).is_some(),
        })
    });
    ServerPlan {
        backend: p.name.clone(),
        server: s.name.clone(),
        backup: s.backup,
        weight: s.weight.get(),
        disabled: s.disabled,
        rise: c.rise,
        fall: c.fall,
        intervals,
        check,
        check_tls,
        agent,
        shutdown_sessions_on_down: c.on_marked_down == Some(OnMarkedDown::ShutdownSessions),
        log_checks: p.options.log_health_checks,
        own_check_addr: c.addr.is_some(),
        own_check_port: c.port.is_some(),
    }
}

fn server_ip(s: &Server) -> Option<IpAddr> {
    match &s.addr.host {
        Host::Ip(ip) => Some(*ip),
        Host::Name(n) => (n.as_str(), 0)
            .to_socket_addrs()
            .ok()?
            .next()
            .map(|a| a.ip()),
        Host::Unix(_) => None,
    }
}

/// Whether any server of `config` asks for a health or agent check.
pub fn wants_checks(config: &Config) -> bool {
    config
        .backends()
        .filter(|p| !p.disabled)
        .flat_map(|p| &p.servers)
        .any(|s| s.check.enabled || s.check.agent.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn load(text: &str) -> Config {
        ringlb_config::parse_str(text, Path::new("t.cfg"))
            .config
            .expect("valid")
    }

    #[test]
    fn check_port_overrides_the_service_port_and_defaults_apply() {
        let c = load(
            "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             backend b\n option httpchk HEAD / HTTP/1.0\n default-server inter 50 rise 1 fall 2\n\
             server a 127.0.0.1:80 check port 81\n server k 127.0.0.1:80 check backup\n server n 127.0.0.1:80\n",
        );
        let (p, notes) = plan(&c);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(p.len(), 3);
        let (kind, t) = p[0].check.as_ref().unwrap();
        assert!(matches!(kind, ProbeKind::Http(_)));
        assert_eq!(t.addr.port(), 81);
        assert_eq!(p[0].intervals.inter, Duration::from_millis(50));
        assert_eq!((p[0].rise, p[0].fall), (1, 2));
        assert_eq!(p[1].check.as_ref().unwrap().1.addr.port(), 80);
        assert!(p[1].backup);
        assert!(p[2].check.is_none());
        assert!(wants_checks(&c));
    }

    #[test]
    fn a_server_without_any_port_has_its_check_disabled_with_a_warning() {
        let c = load(
            "defaults\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             backend b\n server a 127.0.0.1 check\n",
        );
        let (p, notes) = plan(&c);
        assert!(p[0].check.is_none());
        assert!(
            notes[0].1.contains("neither service port nor check port"),
            "{notes:?}"
        );
    }

    #[test]
    fn timeout_check_bounds_the_answer_and_connect_is_capped_by_inter() {
        let c = load(
            "defaults\n timeout connect 5s\n timeout check 300ms\n timeout client 1s\n timeout server 1s\n\
             backend b\n option ssl-hello-chk\n server a 127.0.0.1:443 check inter 1s\n",
        );
        let (p, _) = plan(&c);
        let (kind, t) = p[0].check.as_ref().unwrap();
        assert!(matches!(kind, ProbeKind::SslHello));
        assert_eq!(t.connect_timeout, Duration::from_secs(1));
        assert_eq!(t.response_timeout, Duration::from_millis(300));
    }
}
