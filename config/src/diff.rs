//! `diff(old, new)`: what changed between two configurations, keyed by names, as a list of
//! changes. Nothing applies that list yet: a reload starts a new process (or, under a master,
//! a new worker) from the whole new configuration, and the runtime API changes servers
//! through the engine's server state owner, not through this list. An in-place reload that
//! applies the changes inside the running process is planned.

use std::collections::HashMap;

use crate::model::{Config, Proxy, ProxyKind, Server, ServerAddr, Weight};

/// One change from an old configuration to a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The `global` section differs.
    GlobalChanged,
    /// `userlist` or `http-errors` sections differ.
    SectionsChanged,
    ProxyAdded(Box<Proxy>),
    ProxyRemoved {
        kind: ProxyKind,
        name: String,
    },
    /// Anything of the proxy other than its servers changed; carries the new proxy.
    ProxyChanged(Box<Proxy>),
    ServerAdded {
        proxy: String,
        server: Box<Server>,
    },
    ServerRemoved {
        proxy: String,
        server: String,
    },
    ServerWeight {
        proxy: String,
        server: String,
        weight: Weight,
    },
    /// `disabled` (maintenance) turned on or off.
    ServerAdmin {
        proxy: String,
        server: String,
        disabled: bool,
    },
    ServerAddr {
        proxy: String,
        server: String,
        addr: ServerAddr,
    },
    /// Other server parameters changed (checks, limits, cookie…); carries the new server.
    ServerChanged {
        proxy: String,
        server: Box<Server>,
    },
}

/// The changes that turn `old` into `new`: removals first, then additions and changes in
/// the order of `new`.
pub fn diff(old: &Config, new: &Config) -> Vec<Change> {
    let mut out = Vec::new();
    if old.global != new.global {
        out.push(Change::GlobalChanged);
    }
    if old.userlists != new.userlists || old.http_errors != new.http_errors {
        out.push(Change::SectionsChanged);
    }
    let key = |p: &Proxy| (p.kind, p.name.clone());
    let old_by: HashMap<_, &Proxy> = old.proxies.iter().map(|p| (key(p), p)).collect();
    let new_by: HashMap<_, &Proxy> = new.proxies.iter().map(|p| (key(p), p)).collect();
    for p in &old.proxies {
        if !new_by.contains_key(&key(p)) {
            out.push(Change::ProxyRemoved {
                kind: p.kind,
                name: p.name.clone(),
            });
        }
    }
    for p in &new.proxies {
        match old_by.get(&key(p)) {
            None => out.push(Change::ProxyAdded(Box::new(p.clone()))),
            Some(o) => {
                if !same_except_servers(o, p) {
                    out.push(Change::ProxyChanged(Box::new(p.clone())));
                }
                servers(&mut out, &p.name, &o.servers, &p.servers);
            }
        }
    }
    out
}

fn same_except_servers(a: &Proxy, b: &Proxy) -> bool {
    let strip = |p: &Proxy| Proxy {
        servers: Vec::new(),
        ..p.clone()
    };
    strip(a) == strip(b)
}

fn servers(out: &mut Vec<Change>, proxy: &str, old: &[Server], new: &[Server]) {
    let old_by: HashMap<&str, &Server> = old.iter().map(|s| (s.name.as_str(), s)).collect();
    let new_by: HashMap<&str, &Server> = new.iter().map(|s| (s.name.as_str(), s)).collect();
    for s in old {
        if !new_by.contains_key(s.name.as_str()) {
            out.push(Change::ServerRemoved {
                proxy: proxy.into(),
                server: s.name.clone(),
            });
        }
    }
    for s in new {
        let Some(o) = old_by.get(s.name.as_str()) else {
            out.push(Change::ServerAdded {
                proxy: proxy.into(),
                server: Box::new(s.clone()),
            });
            continue;
        };
        if o.weight != s.weight {
            out.push(Change::ServerWeight {
                proxy: proxy.into(),
                server: s.name.clone(),
                weight: s.weight,
            });
        }
        if o.disabled != s.disabled {
            out.push(Change::ServerAdmin {
                proxy: proxy.into(),
                server: s.name.clone(),
                disabled: s.disabled,
            });
        }
        if o.addr != s.addr {
            out.push(Change::ServerAddr {
                proxy: proxy.into(),
                server: s.name.clone(),
                addr: s.addr.clone(),
            });
        }
        let rest = |x: &Server| Server {
            weight: s.weight,
            disabled: s.disabled,
            addr: s.addr.clone(),
            ..x.clone()
        };
        if rest(o) != rest(s) {
            out.push(Change::ServerChanged {
                proxy: proxy.into(),
                server: Box::new(s.clone()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_str;
    use std::path::Path;

    fn cfg(text: &str) -> Config {
        let l = parse_str(text, Path::new("t.cfg"));
        l.config.unwrap_or_else(|| panic!("{:#?}", l.diagnostics))
    }

    const BASE: &str = "
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend fe
    bind :80
    default_backend app
backend app
    server a 10.0.0.1:80 weight 10
    server b 10.0.0.2:80
";

    #[test]
    fn identical_configurations_have_no_changes() {
        assert_eq!(diff(&cfg(BASE), &cfg(BASE)), vec![]);
    }

    #[test]
    fn server_weight_admin_and_address_changes_are_named() {
        let new = BASE
            .replace("10.0.0.1:80 weight 10", "10.0.0.9:80 weight 20 disabled")
            .replace("server b 10.0.0.2:80", "server b 10.0.0.2:80 inter 5s");
        let changes = diff(&cfg(BASE), &cfg(&new));
        assert_eq!(changes.len(), 4, "{changes:#?}");
        assert!(
            matches!(&changes[0], Change::ServerWeight { proxy, server, weight }
            if proxy == "app" && server == "a" && weight.get() == 20)
        );
        assert!(
            matches!(&changes[1], Change::ServerAdmin { server, disabled: true, .. } if server == "a")
        );
        assert!(matches!(&changes[2], Change::ServerAddr { server, .. } if server == "a"));
        assert!(matches!(&changes[3], Change::ServerChanged { server, .. } if server.name == "b"));
    }

    #[test]
    fn servers_added_and_removed_by_name() {
        let new = BASE.replace("server b 10.0.0.2:80", "server c 10.0.0.3:80");
        let changes = diff(&cfg(BASE), &cfg(&new));
        assert_eq!(
            changes,
            vec![
                Change::ServerRemoved {
                    proxy: "app".into(),
                    server: "b".into()
                },
                Change::ServerAdded {
                    proxy: "app".into(),
                    server: Box::new(cfg(&new).proxy("app").unwrap().servers[1].clone())
                },
            ]
        );
    }

    #[test]
    fn proxies_added_removed_and_changed() {
        let new = BASE
            .replace("frontend fe", "frontend fe2")
            .replace("\nbackend app", "\nbackend app\n    balance leastconn");
        let changes = diff(&cfg(BASE), &cfg(&new));
        assert!(
            matches!(&changes[0], Change::ProxyRemoved { kind: ProxyKind::Frontend, name } if name == "fe")
        );
        assert!(matches!(&changes[1], Change::ProxyAdded(p) if p.name == "fe2"));
        assert!(matches!(&changes[2], Change::ProxyChanged(p) if p.name == "app"));
        assert_eq!(changes.len(), 3);
    }

    #[test]
    fn global_changes_are_reported_once() {
        let new = format!("global\n    maxconn 100\n{BASE}");
        assert_eq!(diff(&cfg(BASE), &cfg(&new)), vec![Change::GlobalChanged]);
    }
}
