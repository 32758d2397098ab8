//! `defaults`, `frontend`, `backend` and `listen` sections: which keyword is allowed where,
//! what a proxy inherits from `defaults`, and the general proxy keywords.

use std::collections::HashMap;

use super::{
    balance, bind, did_you_mean, log, options, proxy_compat, proxy_http, server, tcpcheck, unknown,
    LineRef, Step,
};
use crate::acl::{self, AclDef, Ctx};
use crate::diag::{Diagnostic, Location};
use crate::model::Balance;
use crate::model::{
    BackendName, Bind, BindOptions, LogTarget, Mode, Proxy, ProxyKind, Timeouts, UseBackend,
};
use crate::rules;
use crate::validate::{Site, Sites};
use crate::value::{self, TimeUnit};

/// The kind of section being parsed; `defaults` is a proxy template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    fn proxy_kind(self) -> ProxyKind {
        match self {
            Kind::Frontend => ProxyKind::Frontend,
            Kind::Backend => ProxyKind::Backend,
            Kind::Listen | Kind::Defaults => ProxyKind::Listen,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }
}

/// A proxy (or `defaults` section) being built.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub proxy: Proxy,
    pub kind: Kind,
    pub default_server: server::Params,
    /// Where keywords were last written; inherited ones are marked so.
    pub sites: HashMap<&'static str, Site>,
}

impl Draft {
    pub fn fresh(kind: Kind) -> Self {
        Self {
            proxy: Proxy::new(kind.proxy_kind(), String::new(), Location::default()),
            kind,
            default_server: server::Params::default(),
            sites: HashMap::new(),
        }
    }

    /// A new section starting from this `defaults` section. Only what HAProxy carries over
    /// from `defaults` is here (binds, servers, ACLs and rules never are), and what the
    /// new kind of proxy cannot use is dropped.
    pub fn inherit(&self, kind: Kind, defaults_name: Option<String>) -> Self {
        let mut d = self.clone();
        d.kind = kind;
        d.proxy.kind = kind.proxy_kind();
        d.proxy.defaults = defaults_name;
        for site in d.sites.values_mut() {
            site.inherited = true;
        }
        let blank = Proxy::new(ProxyKind::Listen, String::new(), Location::default());
        let p = &mut d.proxy;
        if kind == Kind::Backend {
            p.default_backend = None;
            p.monitor_uri = None;
            p.monitor_net.clear();
            p.maxconn = None;
            p.backlog = None;
            p.log_format = None;
            p.unique_id_format = None;
            p.unique_id_header = None;
        }
        if kind == Kind::Frontend {
            p.balance = blank.balance;
            p.hash_type = blank.hash_type;
            p.cookie = None;
            p.fullconn = None;
            p.http_check = blank.http_check;
            p.http_reuse = blank.http_reuse;
            d.default_server = server::Params::default();
        }
        d
    }

    /// Names the proxy from its header line; legacy header addresses become a bind.
    pub fn start(&mut self, name: String, line: &LineRef<'_>, addrs: Vec<crate::model::BindAddr>) {
        self.proxy.name = name;
        self.proxy.location = line.loc.clone();
        if !addrs.is_empty() {
            self.proxy.binds.push(Bind {
                location: line.loc.clone(),
                addrs,
                name: None,
                options: BindOptions::default(),
            });
        }
    }

    fn site(&mut self, key: &'static str, line: &LineRef<'_>) {
        self.sites.insert(key, line.site());
    }

    /// Ends the section: settles what a `mode tcp` proxy cannot use, records where
    /// keywords stood for validation, and returns the finished proxy.
    pub fn finish(mut self, diags: &mut Vec<Diagnostic>, sites: &mut Sites, index: usize) -> Proxy {
        if self.proxy.mode == Mode::Tcp {
            self.settle_tcp_mode(diags);
        }
        proxy_compat::settle(&self, diags);
        for (key, site) in self.sites {
            sites.proxies.insert((index, key), site);
        }
        self.proxy
    }

    /// HTTP-only settings in a `mode tcp` proxy. Written in the proxy itself, a setting that
    /// would silently do nothing is an error; inherited from `defaults` (a common shared
    /// `defaults` serves http and tcp proxies alike), it is dropped with a warning, as HAProxy
    /// does. `option httplog` is harmless either way: it falls back to `option tcplog`.
    fn settle_tcp_mode(&mut self, diags: &mut Vec<Diagnostic>) {
        let name = format!("{} '{}'", self.kind.name(), self.proxy.name);
        let loc = self.proxy.location.clone();
        let sites = &self.sites;
        let mut check = |key: &'static str, present: bool| -> bool {
            if !present {
                return false;
            }
            let (location, source, inherited) = match sites.get(key) {
                Some(s) => (s.location.clone(), s.source_line.clone(), s.inherited),
                None => (loc.clone(), String::new(), true),
            };
            let d = if inherited {
                Diagnostic::warning(
                    location,
                    key,
                    format!("'{key}' inherited from defaults is ignored in {name}, which is in mode tcp"),
                )
            } else {
                Diagnostic::error(
                    location,
                    key,
                    format!("'{key}' requires 'mode http' but {name} is in mode tcp"),
                )
            };
            diags.push(
                d.with_source(source)
                    .with_help("add 'mode http' to the section, or remove the keyword"),
            );
            inherited
        };
        let p = &mut self.proxy;
        if check("cookie", p.cookie.is_some()) {
            p.cookie = None;
        }
        if check("option forwardfor", p.options.forwardfor.is_some()) {
            p.options.forwardfor = None;
        }
        if check("option originalto", p.options.originalto.is_some()) {
            p.options.originalto = None;
        }
        check("http-request", !p.http_request.is_empty());
        check("http-response", !p.http_response.is_empty());
        check("capture", !p.captures.is_empty());
        if check("stats", p.stats.is_some()) {
            p.stats = None;
        }
        if check("errorfile", !p.errorfiles.is_empty()) {
            p.errorfiles.clear();
        }
        if check("errorfiles", !p.errorfiles_sections.is_empty()) {
            p.errorfiles_sections.clear();
        }
        if check("monitor-uri", p.monitor_uri.is_some()) {
            p.monitor_uri = None;
        }
        let http_balance = matches!(
            p.balance,
            Balance::Uri { .. } | Balance::UrlParam { .. } | Balance::Hdr { .. }
        );
        if check("balance", http_balance) {
            p.balance = Balance::default();
        }
        if p.options.httplog.is_some() {
            let site = self.sites.get("option httplog");
            diags.push(
                Diagnostic::warning(
                    site.map_or(loc.clone(), |s| s.location.clone()),
                    "option httplog",
                    format!("'option httplog' needs 'mode http'; {name} is in mode tcp and logs with 'option tcplog'"),
                )
                .with_source(site.map_or(String::new(), |s| s.source_line.clone()))
                .with_help("use 'option tcplog' in mode tcp proxies"),
            );
            p.options.httplog = None;
            p.options.tcplog = true;
        }
    }
}

/// Where a keyword may appear.
#[derive(Clone, Copy)]
struct Caps {
    defaults: bool,
    frontend: bool,
    backend: bool,
}

const DFB: Caps = Caps {
    defaults: true,
    frontend: true,
    backend: true,
};
const DF: Caps = Caps {
    defaults: true,
    frontend: true,
    backend: false,
};
const DB: Caps = Caps {
    defaults: true,
    frontend: false,
    backend: true,
};
const FB: Caps = Caps {
    defaults: false,
    frontend: true,
    backend: true,
};
const F: Caps = Caps {
    defaults: false,
    frontend: true,
    backend: false,
};
const B: Caps = Caps {
    defaults: false,
    frontend: false,
    backend: true,
};

const KEYWORDS: &[(&str, Caps)] = &[
    ("mode", DFB),
    ("bind", F),
    ("log", DFB),
    ("no", DFB),
    ("option", DFB),
    ("retries", DFB),
    ("timeout", DFB),
    ("contimeout", DFB),
    ("clitimeout", DFB),
    ("srvtimeout", DFB),
    ("redispatch", DB),
    ("grace", DFB),
    ("maxconn", DF),
    ("fullconn", DB),
    ("backlog", DF),
    ("balance", DB),
    ("hash-type", DB),
    ("cookie", DB),
    ("stats", DFB),
    ("server", B),
    ("default-server", DB),
    ("dispatch", B),
    ("default_backend", DF),
    ("use_backend", F),
    ("acl", FB),
    ("http-request", FB),
    ("http-response", FB),
    ("tcp-request", FB),
    ("block", FB),
    ("redirect", FB),
    ("errorfile", DFB),
    ("errorloc", DFB),
    ("errorloc302", DFB),
    ("errorloc303", DFB),
    ("errorfiles", DFB),
    ("monitor-uri", DF),
    ("monitor", F),
    ("monitor-net", DF),
    ("http-check", DB),
    ("tcp-check", DB),
    ("capture", F),
    ("log-format", DF),
    ("disabled", DFB),
    ("enabled", DFB),
    ("description", FB),
    ("id", FB),
];

pub(super) fn is_keyword(word: &str) -> bool {
    caps_of(word).is_some()
}

fn caps_of(word: &str) -> Option<Caps> {
    KEYWORDS
        .iter()
        .find(|(k, _)| *k == word)
        .map(|&(_, c)| c)
        .or_else(|| {
            let &(_, defaults, frontend, backend) =
                proxy_compat::KEYWORDS.iter().find(|(k, ..)| *k == word)?;
            Some(Caps {
                defaults,
                frontend,
                backend,
            })
        })
}

fn all_keywords() -> impl Iterator<Item = &'static str> {
    let compat = proxy_compat::KEYWORDS.iter().map(|(k, ..)| *k);
    KEYWORDS.iter().map(|(k, _)| *k).chain(compat)
}

pub(super) fn keyword(
    d: &mut Draft,
    _is_defaults: bool,
    line: &LineRef<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Step {
    let kw = line.keyword();
    let Some(caps) = caps_of(kw) else {
        let e = line.error(format!(
            "unknown keyword '{kw}' in '{}' section",
            d.kind.name()
        ));
        return Err(match did_you_mean(kw, all_keywords()) {
            Some(h) => e.with_help(h),
            None if super::global::KEYWORDS.contains(&kw) => {
                e.with_help(format!("'{kw}' belongs in the global section"))
            }
            None => e.with_help("this keyword is not supported; remove it"),
        });
    };
    let allowed = match d.kind {
        Kind::Defaults => caps.defaults,
        Kind::Frontend => caps.frontend,
        Kind::Backend => caps.backend,
        Kind::Listen => caps.frontend || caps.backend,
    };
    if !allowed {
        let why = match d.kind {
            Kind::Defaults => format!("'{kw}' is not allowed in a 'defaults' section"),
            Kind::Frontend => format!(
                "'{kw}' is not allowed in frontend '{}': it applies to backends",
                d.proxy.name
            ),
            _ => format!(
                "'{kw}' is not allowed in backend '{}': it applies to frontends",
                d.proxy.name
            ),
        };
        return Err(line
            .error(why)
            .with_help("move it to a section where it applies (a 'listen' section is both frontend and backend)"));
    }
    let p = &mut d.proxy;
    match kw {
        "mode" => {
            let w = line.arg(1, "mode", "http|tcp|health")?;
            line.no_more(1, "mode")?;
            p.mode = match w {
                "http" => Mode::Http,
                "tcp" => Mode::Tcp,
                "health" => Mode::Health,
                other => return Err(unknown(line, "mode", other, &["http", "tcp", "health"])),
            };
            d.site("mode", line);
            Ok(())
        }
        "bind" => {
            // Recorded even when the line is refused, so that its error is not followed by
            // a spurious "has no 'bind' line" (`validate::proxy_shape`).
            let parsed = bind::bind(p, line, diags);
            d.site("bind", line);
            parsed
        }
        "log" => {
            if line.words.get(1).map(String::as_str) == Some("global") {
                line.no_more(1, "log global")?;
                p.logs.push(LogTarget::Global);
            } else {
                p.logs.push(log::log_target(line, true)?);
            }
            Ok(())
        }
        "no" => match line.words.get(1).map(String::as_str) {
            Some("option") => options::option(d, line, true, diags),
            Some("log") => {
                line.no_more(1, "no log")?;
                p.logs.clear();
                Ok(())
            }
            _ => Err(line
                .error("'no' must be followed by 'option NAME' or 'log'")
                .with_help("write: no option NAME")),
        },
        "option" => options::option(d, line, false, diags),
        "retries" => {
            p.retries = number(line, "retries")?;
            Ok(())
        }
        "timeout" => {
            let name = line.arg(1, "timeout", "NAME DURATION")?;
            let Some(field) = timeout_field(&mut p.timeouts, name) else {
                return Err(unknown(line, "timeout", name, TIMEOUTS));
            };
            let w = line.arg(2, &format!("timeout {name}"), "DURATION")?;
            line.no_more(2, "timeout")?;
            *field = Some(
                value::duration(w, TimeUnit::Ms)
                    .map_err(|e| line.invalid(&format!("timeout {name}"), e))?,
            );
            Ok(())
        }
        "contimeout" | "clitimeout" | "srvtimeout" => {
            let modern = match kw {
                "contimeout" => "connect",
                "clitimeout" => "client",
                _ => "server",
            };
            let w = line.arg(1, kw, "DURATION")?;
            line.no_more(1, kw)?;
            let v = value::duration(w, TimeUnit::Ms).map_err(|e| line.invalid(kw, e))?;
            *timeout_field(&mut p.timeouts, modern).expect("known timeout") = Some(v);
            diags.push(
                line.warning(format!("'{kw}' is deprecated"))
                    .with_help(format!("write 'timeout {modern} {w}' instead")),
            );
            Ok(())
        }
        "redispatch" => {
            line.no_more(0, "redispatch")?;
            p.options.redispatch = true;
            diags.push(
                line.warning("'redispatch' is deprecated")
                    .with_help("write 'option redispatch' instead"),
            );
            Ok(())
        }
        "grace" => {
            let w = line.arg(1, "grace", "DURATION")?;
            line.no_more(1, "grace")?;
            p.grace = Some(value::duration(w, TimeUnit::Ms).map_err(|e| line.invalid("grace", e))?);
            Ok(())
        }
        "maxconn" => number(line, "maxconn").map(|n| p.maxconn = Some(n)),
        "fullconn" => number(line, "fullconn").map(|n| p.fullconn = Some(n)),
        "backlog" => number(line, "backlog").map(|n| p.backlog = Some(n)),
        "balance" => {
            p.balance = balance::balance(line, diags)?;
            d.site("balance", line);
            Ok(())
        }
        "hash-type" => {
            p.hash_type = balance::hash_type(line)?;
            Ok(())
        }
        "cookie" => {
            p.cookie = Some(proxy_http::cookie(line)?);
            d.site("cookie", line);
            Ok(())
        }
        "stats" => {
            proxy_http::stats(p, line, diags)?;
            d.site("stats", line);
            Ok(())
        }
        "server" => server::server(p, &d.default_server, line),
        "default-server" => server::default_server(&mut d.default_server, line),
        "dispatch" => {
            let w = line.arg(1, "dispatch", "ADDRESS:PORT")?;
            line.no_more(1, "dispatch")?;
            p.dispatch = Some(value::ip_port(w).map_err(|e| line.invalid("dispatch", e))?);
            Ok(())
        }
        "default_backend" => {
            let w = line.arg(1, "default_backend", "BACKEND")?;
            line.no_more(1, "default_backend")?;
            p.default_backend = Some(w.to_string());
            d.site("default_backend", line);
            Ok(())
        }
        "use_backend" => {
            let name = line.arg(1, "use_backend", "BACKEND [if|unless CONDITION]")?;
            let backend = if name.contains("%[") {
                BackendName::Dynamic(super::log_format(line, "use_backend", name)?)
            } else {
                BackendName::Static(name.to_string())
            };
            let condition = optional_condition(line, 2, &p.acls)?;
            p.use_backends.push(UseBackend {
                location: line.loc.clone(),
                backend,
                condition,
            });
            Ok(())
        }
        "acl" => {
            let acl = acl::parse_acl(&line.words[1..], &ctx(line, &p.acls))?;
            p.acls.push(acl);
            Ok(())
        }
        "http-request" => {
            let rule = rules::parse_http_request(&line.words[1..], &ctx(line, &p.acls))?;
            p.http_request.push(rule);
            d.site("http-request", line);
            Ok(())
        }
        "http-response" => {
            let rule = rules::parse_http_response(&line.words[1..], &ctx(line, &p.acls))?;
            p.http_response.push(rule);
            d.site("http-response", line);
            Ok(())
        }
        "tcp-request" => {
            let rule = rules::parse_tcp_request(&line.words[1..], &ctx(line, &p.acls))?;
            p.tcp_request.push(rule);
            d.site("tcp-request", line);
            Ok(())
        }
        "block" | "redirect" => {
            proxy_http::legacy_rule(p, line, diags)?;
            d.site("http-request", line);
            Ok(())
        }
        "errorfile" | "errorloc" | "errorloc302" | "errorloc303" => {
            proxy_http::errorfile(p, line)?;
            d.site("errorfile", line);
            Ok(())
        }
        "errorfiles" => {
            let name = line.arg(1, "errorfiles", "NAME [CODE…]")?.to_string();
            let codes = line.words[2..]
                .iter()
                .map(|w| super::sections::error_code(line, w))
                .collect::<Result<Vec<_>, _>>()?;
            p.errorfiles_sections.push((name, codes));
            d.site("errorfiles", line);
            Ok(())
        }
        "monitor-uri" => {
            let w = line.arg(1, "monitor-uri", "URI")?;
            line.no_more(1, "monitor-uri")?;
            if !w.starts_with('/') {
                return Err(line
                    .error(format!("'monitor-uri' must start with '/': '{w}'"))
                    .with_help("write: monitor-uri /health"));
            }
            p.monitor_uri = Some(w.to_string());
            d.site("monitor-uri", line);
            Ok(())
        }
        "monitor-net" => {
            let w = line.arg(1, "monitor-net", "NETWORK")?;
            line.no_more(1, "monitor-net")?;
            p.monitor_net
                .push(value::ipnet(w).map_err(|e| line.invalid("monitor-net", e))?);
            Ok(())
        }
        "monitor" => {
            match line.words.get(1).map(String::as_str) {
                Some("fail") => {}
                Some(other) => return Err(unknown(line, "'monitor' action", other, &["fail"])),
                None => {
                    return Err(line
                        .error("'monitor' expects 'fail if|unless CONDITION'")
                        .with_help("write: monitor fail if CONDITION"))
                }
            }
            match optional_condition(line, 2, &p.acls)? {
                Some(c) => p.monitor_fail.push(c),
                None => {
                    return Err(line
                        .error("'monitor fail' needs a condition")
                        .with_help("write: monitor fail if CONDITION"))
                }
            }
            Ok(())
        }
        "http-check" => proxy_http::http_check(p, line),
        "tcp-check" => tcpcheck::tcp_check(d, line),
        "capture" => {
            p.captures.push(balance::capture(line)?);
            d.site("capture", line);
            Ok(())
        }
        "log-format" => {
            let w = line.arg(1, "log-format", "FORMAT")?;
            if line.words.len() > 2 {
                return Err(line
                    .error("'log-format' takes one word; the format has unquoted blanks")
                    .with_help("put the whole format in double quotes"));
            }
            p.log_format = Some(super::log_format(line, "log-format", w)?);
            Ok(())
        }
        "disabled" | "enabled" => {
            line.no_more(0, kw)?;
            p.disabled = kw == "disabled";
            Ok(())
        }
        "description" => {
            if line.words.len() < 2 {
                return Err(line
                    .error("'description' expects a text")
                    .with_help("write: description TEXT"));
            }
            p.description = Some(line.words[1..].join(" "));
            Ok(())
        }
        "id" => {
            let w = line.arg(1, "id", "NUMBER")?;
            line.no_more(1, "id")?;
            let n =
                value::bounded(w, "id", 1, i32::MAX as u64).map_err(|e| line.invalid("id", e))?;
            p.id = Some(n as u32);
            Ok(())
        }
        _ => proxy_compat::keyword(d, line),
    }
}

fn number(line: &LineRef<'_>, what: &str) -> Result<u32, Diagnostic> {
    let w = line.arg(1, what, "NUMBER")?;
    line.no_more(1, what)?;
    value::number(w, what).map_err(|e| line.invalid(what, e))
}

pub(super) fn ctx<'a>(line: &'a LineRef<'_>, acls: &'a [AclDef]) -> Ctx<'a> {
    Ctx {
        location: &line.loc,
        source_line: line.raw,
        keyword: &line.words[0],
        acls,
        base_dir: line.base_dir,
    }
}

/// `[if|unless CONDITION]` from word `at` on.
pub(super) fn optional_condition(
    line: &LineRef<'_>,
    at: usize,
    acls: &[AclDef],
) -> Result<Option<acl::Condition>, Diagnostic> {
    match line.words.get(at).map(String::as_str) {
        None => Ok(None),
        Some("if" | "unless") => Ok(Some(acl::parse_condition(
            &line.words[at..],
            &ctx(line, acls),
        )?)),
        Some(other) => Err(line
            .error(format!("unexpected '{other}' in '{}'", line.keyword()))
            .with_help("a condition starts with 'if' or 'unless'")),
    }
}

pub(super) const TIMEOUTS: &[&str] = &[
    "client",
    "server",
    "connect",
    "http-request",
    "http-keep-alive",
    "queue",
    "check",
    "tunnel",
    "client-fin",
    "server-fin",
    "tarpit",
];

pub(crate) fn timeout_field<'a>(
    t: &'a mut Timeouts,
    name: &str,
) -> Option<&'a mut Option<std::time::Duration>> {
    Some(match name {
        "client" => &mut t.client,
        "server" => &mut t.server,
        "connect" => &mut t.connect,
        "http-request" => &mut t.http_request,
        "http-keep-alive" => &mut t.http_keep_alive,
        "queue" => &mut t.queue,
        "check" => &mut t.check,
        "tunnel" => &mut t.tunnel,
        "client-fin" => &mut t.client_fin,
        "server-fin" => &mut t.server_fin,
        "tarpit" => &mut t.tarpit,
        _ => return None,
    })
}
