//! Checks across sections: references between proxies, duplicate names, proxies that cannot
//! work as written, thread and CPU settings. Every problem is reported, not only the first.

use std::collections::{HashMap, HashSet};

use crate::diag::{nearest, Diagnostic, Location};
use crate::model::{BackendName, Config, Mode, Proxy, ProxyKind};
use crate::value::id_set_max;

/// Where a keyword was written, so a check on the whole model can point at the line.
#[derive(Debug, Clone, Default)]
pub struct Site {
    pub location: Location,
    pub source_line: String,
    /// Came from a `defaults` section rather than the proxy itself.
    pub inherited: bool,
}

/// Keyword positions gathered while parsing; empty for a model built in code.
#[derive(Debug, Default)]
pub struct Sites {
    /// (proxy index, keyword) → where it was last written.
    pub(crate) proxies: HashMap<(usize, &'static str), Site>,
    /// (index in `global.cpu_map`, where).
    pub(crate) cpu_maps: Vec<(usize, Site)>,
    pub(crate) nbthread: Option<Site>,
}

/// Checks a model on its own (positions fall back to each proxy's header line).
pub fn validate(config: &Config) -> Vec<Diagnostic> {
    validate_with(config, &Sites::default())
}

pub(crate) fn validate_with(config: &Config, sites: &Sites) -> Vec<Diagnostic> {
    let mut v = Validator {
        config,
        sites,
        out: Vec::new(),
    };
    v.duplicate_proxies();
    v.named_sections();
    let by_name = v.backends_by_name();
    for (i, p) in config.proxies.iter().enumerate() {
        v.references(i, p, &by_name);
        v.servers(i, p);
        v.proxy_shape(p);
    }
    v.threads();
    v.out
}

struct Validator<'a> {
    config: &'a Config,
    sites: &'a Sites,
    out: Vec<Diagnostic>,
}

impl<'a> Validator<'a> {
    /// The diagnostic position of `key` in proxy `i`, or its header line.
    fn at(&self, i: usize, key: &'static str) -> (Location, String) {
        match self.sites.proxies.get(&(i, key)) {
            Some(s) => (s.location.clone(), s.source_line.clone()),
            None => (self.config.proxies[i].location.clone(), String::new()),
        }
    }

    fn error(&mut self, (loc, src): (Location, String), kw: &str, msg: String, help: String) {
        self.out.push(
            Diagnostic::error(loc, kw, msg)
                .with_source(src)
                .with_help(help),
        );
    }

    fn warning(&mut self, (loc, src): (Location, String), kw: &str, msg: String, help: String) {
        self.out.push(
            Diagnostic::warning(loc, kw, msg)
                .with_source(src)
                .with_help(help),
        );
    }

    /// HAProxy lets a frontend and a backend share a name; a `listen` is both, so it
    /// clashes with either.
    fn duplicate_proxies(&mut self) {
        let mut seen: HashMap<(&str, bool), usize> = HashMap::new();
        for (i, p) in self.config.proxies.iter().enumerate() {
            for side in [true, false] {
                let has = if side {
                    p.kind.has_frontend()
                } else {
                    p.kind.has_backend()
                };
                if !has {
                    continue;
                }
                if let Some(&first) = seen.get(&(p.name.as_str(), side)) {
                    let other = &self.config.proxies[first];
                    self.error(
                        (p.location.clone(), String::new()),
                        p.kind.keyword(),
                        format!(
                            "{} '{}' has the same name as the {} declared at {}",
                            p.kind.keyword(),
                            p.name,
                            other.kind.keyword(),
                            other.location
                        ),
                        "give each proxy a unique name".into(),
                    );
                    break;
                }
                seen.insert((p.name.as_str(), side), i);
            }
        }
    }

    fn named_sections(&mut self) {
        let mut users: HashMap<&str, &Location> = HashMap::new();
        for u in &self.config.userlists {
            if let Some(first) = users.insert(&u.name, &u.location) {
                let msg = format!("userlist '{}' is declared twice (first at {first})", u.name);
                self.error(
                    (u.location.clone(), String::new()),
                    "userlist",
                    msg,
                    "rename or merge the two sections".into(),
                );
            }
        }
        let mut errs: HashMap<&str, &Location> = HashMap::new();
        for h in &self.config.http_errors {
            if let Some(first) = errs.insert(&h.name, &h.location) {
                let msg = format!(
                    "http-errors '{}' is declared twice (first at {first})",
                    h.name
                );
                self.error(
                    (h.location.clone(), String::new()),
                    "http-errors",
                    msg,
                    "rename or merge the two sections".into(),
                );
            }
        }
    }

    fn backends_by_name(&self) -> HashMap<&'a str, ProxyKind> {
        let mut m = HashMap::new();
        for p in &self.config.proxies {
            // A backend-capable proxy wins over a frontend of the same name.
            if p.kind.has_backend() || !m.contains_key(p.name.as_str()) {
                m.insert(p.name.as_str(), p.kind);
            }
        }
        m
    }

    fn references(&mut self, i: usize, p: &Proxy, by_name: &HashMap<&str, ProxyKind>) {
        let backend_names = || {
            self.config
                .proxies
                .iter()
                .filter(|p| p.kind.has_backend())
                .map(|p| p.name.as_str())
        };
        let check = |v: &mut Self, name: &str, site: (Location, String), kw: &str| match by_name
            .get(name)
        {
            Some(k) if k.has_backend() => {}
            Some(_) => v.error(
                site,
                kw,
                format!("'{kw}' names '{name}', which is a frontend, not a backend"),
                format!(
                    "declare 'backend {name}' or 'listen {name}', or point to an existing backend"
                ),
            ),
            None => {
                let help = match nearest(name, backend_names()) {
                    Some(n) => format!("did you mean '{n}'?"),
                    None => format!("declare 'backend {name}'"),
                };
                v.error(
                    site,
                    kw,
                    format!("'{kw}' names backend '{name}', which is not defined"),
                    help,
                )
            }
        };
        if let Some(b) = &p.default_backend {
            let site = self.at(i, "default_backend");
            check(self, b, site, "default_backend");
        }
        for u in &p.use_backends {
            if let BackendName::Static(b) = &u.backend {
                check(self, b, (u.location.clone(), String::new()), "use_backend");
            }
        }
        for (name, _) in &p.errorfiles_sections {
            if !self.config.http_errors.iter().any(|h| &h.name == name) {
                let site = self.at(i, "errorfiles");
                let help = match nearest(
                    name,
                    self.config.http_errors.iter().map(|h| h.name.as_str()),
                ) {
                    Some(n) => format!("did you mean '{n}'?"),
                    None => format!("declare 'http-errors {name}' with its errorfile lines"),
                };
                self.error(
                    site,
                    "errorfiles",
                    format!(
                        "'errorfiles' names http-errors section '{name}', which is not defined"
                    ),
                    help,
                );
            }
        }
    }

    fn servers(&mut self, i: usize, p: &Proxy) {
        let mut names: HashMap<&str, &Location> = HashMap::with_capacity(p.servers.len());
        for s in &p.servers {
            if let Some(first) = names.insert(&s.name, &s.location) {
                self.error(
                    (s.location.clone(), String::new()),
                    "server",
                    format!(
                        "server '{}' is declared twice in {} '{}' (first at {first})",
                        s.name,
                        p.kind.keyword(),
                        p.name
                    ),
                    "give each server of a backend a unique name".into(),
                );
            }
        }
        if p.cookie.is_some()
            && !p.servers.is_empty()
            && p.servers.iter().all(|s| s.cookie.is_none())
        {
            let site = self.at(i, "cookie");
            self.warning(
                site,
                "cookie",
                format!(
                    "'cookie' is set in {} '{}' but no server has a 'cookie' value",
                    p.kind.keyword(),
                    p.name
                ),
                "add 'cookie VALUE' to each server line, or remove the 'cookie' directive".into(),
            );
        }
    }

    fn proxy_shape(&mut self, p: &Proxy) {
        if p.disabled {
            return;
        }
        let head = (p.location.clone(), String::new());
        let kind = p.kind.keyword();
        if p.kind.has_frontend() && p.binds.is_empty() {
            let msg = format!("{kind} '{}' has no 'bind' line", p.name);
            if p.kind == ProxyKind::Frontend {
                self.error(
                    head.clone(),
                    kind,
                    msg,
                    "add 'bind ADDRESS:PORT' to the section".into(),
                );
            } else {
                self.warning(
                    head.clone(),
                    kind,
                    msg,
                    "add 'bind ADDRESS:PORT', or declare it as a backend".into(),
                );
            }
        }
        if p.kind.has_backend() && p.servers.is_empty() && p.dispatch.is_none() {
            let rules = p.kind == ProxyKind::Listen
                && (!p.http_request.is_empty() || p.stats.is_some() || p.monitor_uri.is_some());
            if !rules {
                self.warning(
                    head.clone(),
                    kind,
                    format!(
                        "{kind} '{}' has no server; its requests will fail with 503",
                        p.name
                    ),
                    "add 'server NAME ADDRESS:PORT' lines".into(),
                );
            }
        }
        if p.kind == ProxyKind::Frontend
            && p.default_backend.is_none()
            && p.use_backends.is_empty()
            && p.http_request.is_empty()
            && p.stats.is_none()
            && p.monitor_uri.is_none()
        {
            self.warning(
                head.clone(),
                kind,
                format!("frontend '{}' has no backend: no default_backend, use_backend or http-request rule answers", p.name),
                "add 'default_backend NAME'".into(),
            );
        }
        if p.mode != Mode::Health {
            let t = &p.timeouts;
            let mut missing = Vec::new();
            if p.kind.has_frontend() && t.client.is_none() {
                missing.push("client");
            }
            if p.kind.has_backend() && (!p.servers.is_empty() || p.dispatch.is_some()) {
                if t.connect.is_none() {
                    missing.push("connect");
                }
                if t.server.is_none() {
                    missing.push("server");
                }
            }
            if !missing.is_empty() {
                let list: Vec<String> = missing.iter().map(|m| format!("'timeout {m}'")).collect();
                self.warning(
                    head,
                    "timeout",
                    format!(
                        "missing timeouts for {kind} '{}': {}; connections may wait forever",
                        p.name,
                        list.join(", ")
                    ),
                    "set them in the section or in 'defaults', e.g. timeout client 30s".into(),
                );
            }
        }
    }

    fn threads(&mut self) {
        let g = &self.config.global;
        let Some(n) = g.nbthread else { return };
        let mut reported = HashSet::new();
        for (idx, map) in g.cpu_map.iter().enumerate() {
            let Some(max) = id_set_max(&map.threads) else {
                continue;
            };
            if max > u32::from(n) && reported.insert(idx) {
                let site = self
                    .sites
                    .cpu_maps
                    .iter()
                    .find(|(i, _)| *i == idx)
                    .map(|(_, s)| (s.location.clone(), s.source_line.clone()))
                    .unwrap_or((g.location.clone(), String::new()));
                self.error(
                    site,
                    "cpu-map",
                    format!("'cpu-map' names thread {max} but 'nbthread' is {n}"),
                    format!("map threads 1 to {n} only, or raise 'nbthread'"),
                );
            }
        }
    }
}
