//! Checks across sections: references between proxies, duplicate names, proxies that cannot
//! work as written, thread and CPU settings. Every problem is reported, not only the first.

use std::collections::{HashMap, HashSet};

use crate::acl::{AclExpr, AclRef, Condition, Fetch};
use crate::diag::{nearest, Diagnostic, Location};
use crate::model::{BackendName, Config, Mode, Password, Proxy, ProxyKind};
use crate::rules::TcpRequestRule;
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
    v.passwords();
    let by_name = v.backends_by_name();
    for (i, p) in config.proxies.iter().enumerate() {
        v.references(i, p, &by_name);
        v.userlist_references(i, p);
        v.layer6_fetches_in_http(i, p);
        v.reply_sections(i, p);
        v.servers(i, p);
        v.tls(p);
        v.bind_proto(p);
        v.proxy_shape(i, p);
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

    /// Where a rule stands: its own line when the model kept it, else the last line of its
    /// keyword.
    fn rule_site(&self, i: usize, key: &'static str, at: Option<&Location>) -> (Location, String) {
        match at {
            Some(l) => (l.clone(), String::new()),
            None => self.at(i, key),
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

    /// Every `password` must be a hash the engine can check.
    fn passwords(&mut self) {
        for l in &self.config.userlists {
            for u in &l.users {
                let Password::Crypt(hash) = &u.password else {
                    continue;
                };
                if let Err((msg, help)) = check_crypt(hash) {
                    self.error(
                        (u.location.clone(), String::new()),
                        "user",
                        format!("user '{}' of userlist '{}': {msg}", u.name, l.name),
                        help,
                    );
                }
            }
        }
    }

    /// `http_auth(L)` and `http_auth_group(L)` must name a declared userlist. A named ACL is
    /// reported at its `acl` line, an anonymous one at its rule's keyword.
    fn userlist_references(&mut self, i: usize, p: &Proxy) {
        let mut found: Vec<(&str, (Location, String))> = Vec::new();
        for d in &p.acls {
            if let Some(l) = auth_userlist(&d.expr) {
                found.push((l, (d.location.clone(), String::new())));
            }
        }
        for (key, at, e) in anonymous_acls(p) {
            if let Some(l) = auth_userlist(e) {
                found.push((l, self.rule_site(i, key, at)));
            }
        }
        for (name, site) in found {
            if self.config.userlists.iter().any(|u| u.name == name) {
                continue;
            }
            let help = match nearest(name, self.config.userlists.iter().map(|u| u.name.as_str())) {
                Some(n) => format!("did you mean '{n}'?"),
                None => format!("declare 'userlist {name}' with its 'user' lines"),
            };
            self.error(
                site,
                "acl",
                format!("'http_auth' names userlist '{name}', which is not defined"),
                help,
            );
        }
    }

    /// HAProxy accepts `req.ssl_sni`, `req.payload`… on an HTTP proxy but warns that they are
    /// ignored: there they see no raw bytes and never match. A named ACL is reported at its
    /// `acl` line, an anonymous one at its rule's keyword.
    fn layer6_fetches_in_http(&mut self, i: usize, p: &Proxy) {
        if p.mode != Mode::Http {
            return;
        }
        let mut found: Vec<(&Fetch, (Location, String))> = Vec::new();
        for d in &p.acls {
            if d.expr.sample.fetch.reads_payload() {
                found.push((&d.expr.sample.fetch, (d.location.clone(), String::new())));
            }
        }
        for (key, at, e) in anonymous_acls(p) {
            if e.sample.fetch.reads_payload() {
                found.push((&e.sample.fetch, self.rule_site(i, key, at)));
            }
        }
        for (fetch, site) in found {
            self.warning(
                site,
                "acl",
                format!(
                    "'{}' is ignored on HTTP proxy '{}': it reads raw request bytes, which only \
                     a 'mode tcp' proxy inspects, so it never matches here",
                    fetch.name(),
                    p.name
                ),
                "route TLS passthrough on its ClientHello in a 'mode tcp' frontend".into(),
            );
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

    /// `deny`/`return … errorfiles NAME` must name a declared http-errors section.
    fn reply_sections(&mut self, i: usize, p: &Proxy) {
        use crate::rules::{HttpRequestAction as Q, HttpResponseAction as S, ReturnBody};
        let req = p.http_request.iter().filter_map(|r| match &r.action {
            Q::Deny(s) | Q::Tarpit(s) | Q::Return(s) => Some(("http-request", s)),
            _ => None,
        });
        let res = p.http_response.iter().filter_map(|r| match &r.action {
            S::Deny(s) | S::Return(s) => Some(("http-response", s)),
            _ => None,
        });
        let missing: Vec<(&'static str, String)> = req
            .chain(res)
            .filter_map(|(key, s)| match &s.body {
                ReturnBody::ErrorFiles { section }
                    if !self.config.http_errors.iter().any(|h| &h.name == section) =>
                {
                    Some((key, section.clone()))
                }
                _ => None,
            })
            .collect();
        for (key, name) in missing {
            let site = self.at(i, key);
            self.error(
                site,
                key,
                format!("'errorfiles' names http-errors section '{name}', which is not defined"),
                format!("declare 'http-errors {name}' with its errorfile lines"),
            );
        }
    }

    /// ringlb does not yet speak TLS to servers: a server that asks for it would be spoken
    /// to in clear text, which it does not expect.
    /// Health checks over TLS (`check-ssl`, or `ssl` without a check port or address)
    /// run the TCP and HTTP probes; the probes that speak a protocol of their own do not
    /// run over TLS here.
    /// `bind … proto`: an HTTP version, so `mode http` only (HAProxy refuses it elsewhere too).
    fn bind_proto(&mut self, p: &Proxy) {
        if p.mode == Mode::Http {
            return;
        }
        for b in p.binds.iter().filter(|b| b.options.proto.is_some()) {
            self.error(
                (b.location.clone(), String::new()),
                "bind",
                format!(
                    "'proto' on a bind of '{}', which is not in 'mode http'",
                    p.name
                ),
                "remove 'proto', or put the frontend in 'mode http'".into(),
            );
        }
    }

    fn tls(&mut self, p: &Proxy) {
        let o = &p.options;
        let probe = if o.ssl_hello_chk {
            "option ssl-hello-chk"
        } else if o.protocol_check.is_some() {
            "a protocol check (redis, smtp, mysql, pgsql, ldap)"
        } else if o.tcp_check {
            "option tcp-check"
        } else {
            return;
        };
        for s in p
            .servers
            .iter()
            .filter(|s| s.check.enabled && s.check_tls())
        {
            let why = if s.check.ssl {
                "'check-ssl'"
            } else {
                "'ssl' (checks follow traffic)"
            };
            self.error(
                (s.location.clone(), String::new()),
                "server",
                format!(
                    "server '{}': {why} asks for health checks over TLS, which ringlb does not \
                     run with {probe}",
                    s.name
                ),
                "use 'option httpchk' or a plain TCP check over TLS, or check a plain port \
                 with 'port N' (without 'check-ssl')"
                    .into(),
            );
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

    fn proxy_shape(&mut self, i: usize, p: &Proxy) {
        if p.disabled {
            return;
        }
        let head = (p.location.clone(), String::new());
        let kind = p.kind.keyword();
        // A `bind` line that was written but refused has its own error already.
        let bind_written = self.sites.proxies.contains_key(&(i, "bind"));
        if p.kind.has_frontend() && p.binds.is_empty() && !bind_written {
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

/// The anonymous ACLs (`{ … }`) in the conditions of a proxy's rules, each with the keyword
/// of its rule and the rule's line when the model keeps it.
fn anonymous_acls(p: &Proxy) -> impl Iterator<Item = (&'static str, Option<&Location>, &AclExpr)> {
    let tcp = p.tcp_request.iter().filter_map(|r| match r {
        TcpRequestRule::Connection { condition, .. }
        | TcpRequestRule::Content { condition, .. } => condition.as_ref(),
        TcpRequestRule::InspectDelay(_) => None,
    });
    let http_req = p.http_request.iter().filter_map(|r| r.condition.as_ref());
    let http_res = p.http_response.iter().filter_map(|r| r.condition.as_ref());
    let use_be = p
        .use_backends
        .iter()
        .filter_map(|r| Some((r.condition.as_ref()?, &r.location)));
    fn keyed<'c>(
        key: &'static str,
        at: Option<&'c Location>,
        c: &'c Condition,
    ) -> impl Iterator<Item = (&'static str, Option<&'c Location>, &'c AclExpr)> {
        c.terms.iter().flatten().filter_map(move |t| match &t.acl {
            AclRef::Anonymous(e) => Some((key, at, &**e)),
            _ => None,
        })
    }
    tcp.flat_map(|c| keyed("tcp-request", None, c))
        .chain(http_req.flat_map(|c| keyed("http-request", None, c)))
        .chain(http_res.flat_map(|c| keyed("http-response", None, c)))
        .chain(use_be.flat_map(|(c, at)| keyed("use_backend", Some(at), c)))
}

/// The userlist an ACL's fetch checks credentials against, if it is an auth fetch.
fn auth_userlist(e: &AclExpr) -> Option<&str> {
    match &e.sample.fetch {
        Fetch::HttpAuth { userlist } | Fetch::HttpAuthGroup { userlist } => Some(userlist),
        _ => None,
    }
}

/// Checks that `hash` is a crypt(3) form the engine verifies: SHA-256-crypt (`$5$`) or
/// SHA-512-crypt (`$6$`), with an optional `rounds=N$`. Errors carry a message and a fix.
pub fn check_crypt(hash: &str) -> Result<(), (String, String)> {
    const FIX: &str = "write a SHA-512-crypt hash (e.g. from 'mkpasswd -m sha-512' or 'openssl passwd -6'), or 'insecure-password PASSWORD'";
    let unsupported = |what: &str| {
        Err((
            format!("password hash form {what} is not supported (only SHA-256-crypt '$5$' and SHA-512-crypt '$6$' are)"),
            FIX.to_string(),
        ))
    };
    let len = match hash.get(..3) {
        Some("$5$") => 43,
        Some("$6$") => 86,
        _ if hash.starts_with("$1$") => return unsupported("'$1$' (MD5-crypt)"),
        _ if hash.starts_with("$2") => return unsupported("'$2…$' (bcrypt)"),
        _ if hash.starts_with("$y$") || hash.starts_with("$gy$") => {
            return unsupported("'$y$' (yescrypt)")
        }
        _ if hash.starts_with('$') => {
            let id = hash[1..].split('$').next().unwrap_or_default();
            return unsupported(&format!("'${id}$'"));
        }
        _ if hash.len() == 13 => return unsupported("DES-crypt"),
        _ => {
            return Err((
                "'password' expects a crypt(3) hash, and this is not one".into(),
                FIX.into(),
            ))
        }
    };
    let crypt_char = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '/';
    let mut fields: Vec<&str> = hash[3..].split('$').collect();
    if fields.first().is_some_and(|f| f.starts_with("rounds=")) {
        let r = fields.remove(0);
        if r["rounds=".len()..].parse::<u32>().is_err() {
            return Err((format!("'{r}' is not a number of rounds"), FIX.into()));
        }
    }
    match fields[..] {
        [salt, digest]
            if !salt.is_empty() && digest.len() == len && digest.chars().all(crypt_char) =>
        {
            Ok(())
        }
        _ => Err((
            format!(
                "'{hash}' is not a well-formed {} hash (expected $ID$[rounds=N$]SALT$ then {len} characters)",
                &hash[..3]
            ),
            FIX.into(),
        )),
    }
}
