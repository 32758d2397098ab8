//! Server state that outlives a process: whether each server is up and its current
//! weight, keyed by backend and server name, read from the workers of the old process and
//! applied by the new one before it accepts (HAProxy's `server-state-file` in spirit); and
//! what an operator set through the runtime socket (admin state, weight, `maxconn`), read
//! from the state owner and given back to the new process's owner once it runs, so a
//! server in maintenance stays out of rotation and unchecked.
//!
//! A line is `server BACKEND SERVER up|down WEIGHT` followed by optional `key=value`
//! fields: `admin=ready|drain|maint`, `uweight=NOW/CONFIGURED`, `maxconn=NOW/CONFIGURED`,
//! `addr=IP,PORT/IP,PORT` (`set server … addr`; port `0` is the client's port, `+N`/`-N`
//! an offset). A run-time weight, `maxconn` or address is only applied when the new
//! configuration still gives the value it replaced: an edited configuration wins over an
//! old run-time change.

use std::io;
use std::path::Path;

use ringlb_checks::AdminState;
use ringlb_config::model::{Host, PortSpec};
use ringlb_config::Config;

use crate::services::admin::state::ServerAddr;
use crate::services::admin::{ServerStates, WeightSpec};
use crate::worker::inbox::ShardEvent;

/// One server's run-time state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub backend: String,
    pub server: String,
    pub up: bool,
    /// The weight the workers use (0 while draining).
    pub weight: u16,
    /// Set by an operator or an agent; `Ready` when unknown.
    pub admin: AdminState,
    /// The operator's weight and the configured one, when they differ.
    pub user_weight: Option<(u16, u16)>,
    /// The run-time `maxconn` and the configured one, when they differ.
    pub maxconn: Option<(u32, u32)>,
    /// The address `set server … addr` gave and the configured one, when they differ.
    pub addr: Option<(ServerAddr, ServerAddr)>,
}

fn addr_text((ip, port): ServerAddr) -> String {
    let port = match port {
        None => "0".to_string(),
        Some(PortSpec::Fixed(p)) => p.to_string(),
        Some(PortSpec::Offset(o)) => format!("{o:+}"),
    };
    format!("{ip},{port}")
}

fn parse_addr(v: &str) -> Option<ServerAddr> {
    let (ip, port) = v.split_once(',')?;
    let port = if port.starts_with('+') || port.starts_with('-') {
        Some(PortSpec::Offset(port.parse().ok()?))
    } else {
        match port.parse().ok()? {
            0 => None,
            p => Some(PortSpec::Fixed(p)),
        }
    };
    Some((ip.parse().ok()?, port))
}

/// The address `config` gives a server, when it names one by IP.
fn configured_addr(config: &Config, backend: &str, server: &str) -> Option<ServerAddr> {
    let s = config
        .proxy(backend)?
        .servers
        .iter()
        .find(|s| s.name == server)?;
    match s.addr.host {
        Host::Ip(ip) => Some((ip, s.addr.port)),
        _ => None,
    }
}

fn admin_word(a: AdminState) -> &'static str {
    match a {
        AdminState::Ready => "ready",
        AdminState::Drain => "drain",
        AdminState::Maint => "maint",
    }
}

fn pair<T: std::str::FromStr>(v: &str) -> Option<(T, T)> {
    let (a, b) = v.split_once('/')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

impl ServerState {
    /// A server as the workers see it, nothing set by an operator.
    pub fn new(backend: &str, server: &str, up: bool, weight: u16) -> Self {
        Self {
            backend: backend.to_string(),
            server: server.to_string(),
            up,
            weight,
            admin: AdminState::Ready,
            user_weight: None,
            maxconn: None,
            addr: None,
        }
    }

    /// `server BACKEND SERVER up|down WEIGHT [admin=…] [uweight=N/C] [maxconn=N/C]`
    /// (names never hold blanks; fields with nothing to say are left out).
    pub fn to_line(&self) -> String {
        let mut line = format!(
            "server {} {} {} {}",
            self.backend,
            self.server,
            if self.up { "up" } else { "down" },
            self.weight
        );
        if self.admin != AdminState::Ready {
            line.push_str(" admin=");
            line.push_str(admin_word(self.admin));
        }
        if let Some((now, cfg)) = self.user_weight {
            line.push_str(&format!(" uweight={now}/{cfg}"));
        }
        if let Some((now, cfg)) = self.maxconn {
            line.push_str(&format!(" maxconn={now}/{cfg}"));
        }
        if let Some((now, cfg)) = self.addr {
            line.push_str(&format!(" addr={}/{}", addr_text(now), addr_text(cfg)));
        }
        line
    }

    pub fn from_line(line: &str) -> Option<Self> {
        let mut w = line.split_whitespace();
        if w.next()? != "server" {
            return None;
        }
        let backend = w.next()?;
        let server = w.next()?;
        let up = match w.next()? {
            "up" => true,
            "down" => false,
            _ => return None,
        };
        let weight = w.next()?.parse().ok()?;
        let mut s = Self::new(backend, server, up, weight);
        for field in w {
            match field.split_once('=')? {
                ("admin", "ready") => s.admin = AdminState::Ready,
                ("admin", "drain") => s.admin = AdminState::Drain,
                ("admin", "maint") => s.admin = AdminState::Maint,
                ("uweight", v) => s.user_weight = Some(pair(v)?),
                ("maxconn", v) => s.maxconn = Some(pair(v)?),
                ("addr", v) => {
                    let (now, cfg) = v.split_once('/')?;
                    s.addr = Some((parse_addr(now)?, parse_addr(cfg)?));
                }
                _ => return None,
            }
        }
        Some(s)
    }

    /// The events that put a freshly started worker's server in this state, under the
    /// new `config`.
    pub fn events(&self, config: &Config) -> Vec<ShardEvent> {
        let mut out = vec![
            ShardEvent::SetServerState {
                backend: self.backend.clone(),
                server: self.server.clone(),
                up: self.up,
            },
            ShardEvent::SetWeight {
                backend: self.backend.clone(),
                server: self.server.clone(),
                weight: self.weight,
            },
        ];
        if let Some(((ip, port), was)) = self.addr {
            if configured_addr(config, &self.backend, &self.server) == Some(was) {
                out.push(ShardEvent::SetServerAddr {
                    backend: self.backend.clone(),
                    server: self.server.clone(),
                    ip,
                    port,
                });
            }
        }
        out
    }
}

/// Adds what the state owner knows beyond the workers' view: admin state, the operator's
/// weight and `maxconn`.
pub fn add_operator_state(states: &mut [ServerState], owner: &ServerStates) {
    let snapshot = owner.snapshot();
    for s in states {
        if let Some(snap) = snapshot
            .iter()
            .find(|x| x.backend == s.backend && x.server == s.server)
        {
            s.admin = snap.admin;
        }
        if let Ok((now, cfg)) = owner.weights(&s.backend, &s.server) {
            s.user_weight = (now != cfg).then_some((now, cfg));
        }
        if let Ok((now, cfg)) = owner.maxconns(&s.backend, &s.server) {
            s.maxconn = (now != cfg).then_some((now, cfg));
        }
        if let (Ok(now), Some(cfg)) = (
            owner.addr(&s.backend, &s.server),
            owner.configured_addr(&s.backend, &s.server),
        ) {
            s.addr = (now != cfg).then_some((now, cfg));
        }
    }
}

/// Gives the operator's settings of `states` to a new process's state owner. Servers the
/// configuration no longer has are skipped.
pub fn apply_operator_state(states: &[ServerState], owner: &ServerStates, config: &Config) {
    for s in states {
        let (b, sv) = (s.backend.as_str(), s.server.as_str());
        if let Some((now, was)) = s.user_weight {
            if owner.weights(b, sv).is_ok_and(|(_, cfg)| cfg == was) {
                let _ = owner.set_weight(b, sv, WeightSpec::Absolute(now));
            }
        }
        if let Some((now, was)) = s.maxconn {
            if owner.maxconns(b, sv).is_ok_and(|(_, cfg)| cfg == was) {
                let _ = owner.set_maxconn(b, sv, now);
            }
        }
        // The same test as the workers' (`ServerState::events`), so both move or neither.
        if let Some((now, was)) = s.addr {
            if configured_addr(config, b, sv) == Some(was) {
                let _ = owner.set_addr(b, sv, now);
            }
        }
        if s.admin != AdminState::Ready {
            let _ = owner.set_admin(b, sv, s.admin);
        }
    }
}

/// Reads a state file: one `server …` line per server; blank lines and `#` comments skipped.
pub fn read_file(path: &Path) -> io::Result<Vec<ServerState>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(ServerState::from_line(line).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}:{}: expected 'server BACKEND SERVER up|down WEIGHT [key=value…]'",
                    path.display(),
                    n + 1
                ),
            )
        })?);
    }
    Ok(out)
}

/// Writes a state file `read_file` reads back (through a temporary file, so a reader never
/// sees half of it).
pub fn write_file(path: &Path, states: &[ServerState]) -> io::Result<()> {
    let mut text = String::from(
        "# ringlb server state: server BACKEND SERVER up|down WEIGHT [admin=…] [uweight=N/C] [maxconn=N/C] [addr=IP,PORT/IP,PORT]\n",
    );
    for s in states {
        text.push_str(&s.to_line());
        text.push('\n');
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_line_reads_back_as_written() {
        let mut s = ServerState::new("web", "s2", false, 30);
        assert_eq!(s.to_line(), "server web s2 down 30");
        assert_eq!(ServerState::from_line(&s.to_line()), Some(s.clone()));
        s.admin = AdminState::Maint;
        s.user_weight = Some((5, 30));
        s.maxconn = Some((7, 0));
        s.addr = Some((
            ("::1".parse().unwrap(), Some(PortSpec::Offset(5))),
            ("127.0.0.1".parse().unwrap(), None),
        ));
        assert_eq!(
            s.to_line(),
            "server web s2 down 30 admin=maint uweight=5/30 maxconn=7/0 addr=::1,+5/127.0.0.1,0"
        );
        assert_eq!(ServerState::from_line(&s.to_line()), Some(s));
        assert_eq!(ServerState::from_line("server web s2 maybe 3"), None);
        assert_eq!(ServerState::from_line("server web s2 up 3 extra"), None);
        assert_eq!(ServerState::from_line("server web s2 up 3 admin=off"), None);
        assert_eq!(ServerState::from_line("server web s2 up 3 uweight=4"), None);
    }

    #[test]
    fn a_state_file_names_the_bad_line() {
        let dir = std::env::temp_dir().join(format!("ringlb-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        std::fs::write(&path, "# c\n\nserver a b up 1\nserver a\n").unwrap();
        let err = read_file(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("state:4: expected 'server BACKEND SERVER up|down WEIGHT [key=value…]'"),
            "{err}"
        );
        let states = vec![ServerState::new("a", "b", true, 1)];
        write_file(&path, &states).unwrap();
        assert_eq!(read_file(&path).unwrap(), states);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
