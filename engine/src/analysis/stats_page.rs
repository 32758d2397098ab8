//! The stats page as a proxy serves it: its settings compiled once per load, whether a
//! request asks for it (`stats uri` prefix), who may see it (`stats auth`, `stats
//! http-request`), who may act on it (`stats admin`), and the page options in the URI
//! (`;csv`, `;up`, `;norefresh`, `;st=`).

use std::sync::Arc;
use std::time::Duration;

use ringlb_config::model::{Password, Stats, User, Userlist};
use ringlb_config::rules::HttpRequestAction;

use crate::analysis::acl::auth::AuthList;
use crate::analysis::acl::{applies, AclCompiler, AclTable, Cond};
use crate::stream::txn::Txn;

/// HAProxy's realm when `stats realm` is not given.
pub const DEFAULT_REALM: &str = "HAProxy Statistics";

/// What a `stats http-request` rule may do.
#[derive(Debug, Clone)]
enum StatsRule {
    Allow,
    Deny,
    Auth(String),
}

/// One proxy's stats page settings, compiled with the proxy's ACLs.
#[derive(Debug)]
pub struct StatsPage {
    /// The proxy the page belongs to (the default scope of nothing: every proxy).
    pub proxy: String,
    pub uri: String,
    pub realm: String,
    /// `stats auth` users; `None` when the page is open to anyone.
    users: Option<Arc<AuthList>>,
    pub refresh: Option<Duration>,
    pub hide_version: bool,
    pub show_legends: bool,
    pub show_node: Option<String>,
    pub show_desc: Option<String>,
    /// `stats scope`: the proxies shown (`.` resolved to this proxy); empty shows all.
    pub scope: Vec<String>,
    admin: Vec<Cond>,
    rules: Vec<(StatsRule, Option<Cond>)>,
}

/// Page options read from the URI after the stats prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOptions {
    /// `;csv`: the CSV export instead of HTML.
    pub csv: bool,
    /// `;up`: hide servers that are not up.
    pub up_only: bool,
    /// `;norefresh`: no automatic reload even with `stats refresh`.
    pub no_refresh: bool,
    /// `;st=CODE`: the outcome of the last admin action, shown as a banner.
    pub status: Option<String>,
}

/// Who is asking, as far as the page is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Show the page; `admin` when `stats admin` matched.
    Granted { admin: bool },
    /// 401 with this realm.
    AuthRequired(String),
    /// 403.
    Denied,
}

impl StatsPage {
    /// Compiles `stats` of proxy `proxy`; `None` when the page is not enabled there.
    pub fn compile(
        proxy: &str,
        stats: &Stats,
        acls: &mut AclCompiler<'_>,
    ) -> Result<Option<Self>, String> {
        if !stats.enabled {
            return Ok(None);
        }
        let users = (!stats.auth.is_empty()).then(|| {
            AuthList::compile(&Userlist {
                location: Default::default(),
                name: format!("stats auth of {proxy}"),
                groups: Vec::new(),
                users: stats
                    .auth
                    .iter()
                    .map(|(u, p)| User {
                        location: Default::default(),
                        name: u.clone(),
                        password: Password::Insecure(p.clone()),
                        groups: Vec::new(),
                    })
                    .collect(),
            })
        });
        let admin = stats
            .admin
            .iter()
            .map(|c| acls.condition(c))
            .collect::<Result<_, _>>()?;
        let realm = stats
            .realm
            .clone()
            .unwrap_or_else(|| DEFAULT_REALM.to_string());
        let mut rules = Vec::new();
        for r in &stats.http_request {
            let rule = match &r.action {
                HttpRequestAction::Allow => StatsRule::Allow,
                HttpRequestAction::Deny(_) => StatsRule::Deny,
                HttpRequestAction::Auth { realm: r } => {
                    StatsRule::Auth(r.clone().unwrap_or_else(|| realm.clone()))
                }
                // Announced at startup (`pending`); the page applies the three above.
                _ => continue,
            };
            rules.push((rule, acls.optional(&r.condition)?));
        }
        Ok(Some(Self {
            proxy: proxy.to_string(),
            uri: stats.uri.clone(),
            realm,
            users,
            refresh: stats.refresh,
            hide_version: stats.hide_version,
            show_legends: stats.show_legends,
            show_node: stats.show_node.clone(),
            show_desc: stats.show_desc.clone(),
            // `.` names the proxy serving the page.
            scope: stats
                .scope
                .iter()
                .map(|s| {
                    if s == "." {
                        proxy.to_string()
                    } else {
                        s.clone()
                    }
                })
                .collect(),
            admin,
            rules,
        }))
    }

    /// Whether `txn` asks for the page: a GET, HEAD or POST whose target starts with the
    /// stats URI, as HAProxy compares it (the raw target, query included).
    pub fn matches(&self, txn: &Txn<'_>) -> bool {
        let method_ok = matches!(txn.method(), Some(b"GET" | b"HEAD" | b"POST"));
        method_ok
            && txn
                .url()
                .is_some_and(|u| u.starts_with(self.uri.as_bytes()))
    }

    /// The options after the stats URI in the request target.
    pub fn options(&self, target: &[u8]) -> PageOptions {
        let rest = target.get(self.uri.len()..).unwrap_or_default();
        let rest = String::from_utf8_lossy(rest);
        let mut o = PageOptions::default();
        for part in rest.split(';').skip(1) {
            let part = part.split(['?', '&', '#']).next().unwrap_or_default();
            match part {
                "csv" => o.csv = true,
                "up" => o.up_only = true,
                "norefresh" => o.no_refresh = true,
                p if p.starts_with("st=") => {
                    let code: String = p[3..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric())
                        .collect();
                    o.status = Some(code);
                }
                _ => {}
            }
        }
        o
    }

    /// Runs `stats http-request` rules, then `stats auth`, then `stats admin`.
    pub fn access(&self, acls: &AclTable, txn: &Txn<'_>) -> Access {
        for (rule, cond) in &self.rules {
            if !applies(cond, acls, txn) {
                continue;
            }
            match rule {
                StatsRule::Allow => break,
                StatsRule::Deny => return Access::Denied,
                StatsRule::Auth(realm) => {
                    if !self.authenticated(txn) {
                        return Access::AuthRequired(realm.clone());
                    }
                    break;
                }
            }
        }
        if !self.authenticated(txn) {
            return Access::AuthRequired(self.realm.clone());
        }
        Access::Granted {
            admin: self.admin.iter().any(|c| c.holds(acls, txn)),
        }
    }

    /// Whether `stats auth` lets the request in: no users configured, or valid credentials.
    fn authenticated(&self, txn: &Txn<'_>) -> bool {
        match &self.users {
            None => true,
            Some(list) => list.authenticate(txn).is_some(),
        }
    }

    /// Whether a proxy is shown under `stats scope`.
    pub fn in_scope(&self, proxy: &str) -> bool {
        self.scope.is_empty() || self.scope.iter().any(|s| s == proxy)
    }
}

/// What the admin form asks: an action on some servers of one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminForm {
    pub backend: String,
    pub servers: Vec<String>,
    pub action: AdminAction,
}

/// The admin form's actions, with HAProxy's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    Ready,
    Drain,
    Maint,
    /// `dhlth` / `ehlth`: health checks off or on.
    DisableHealth,
    EnableHealth,
    /// `dagent` / `eagent`: agent checks off or on.
    DisableAgent,
    EnableAgent,
}

impl AdminAction {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ready" => Self::Ready,
            "drain" => Self::Drain,
            "maint" => Self::Maint,
            "dhlth" => Self::DisableHealth,
            "ehlth" => Self::EnableHealth,
            "dagent" => Self::DisableAgent,
            "eagent" => Self::EnableAgent,
            _ => return None,
        })
    }

    /// The form's option value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Drain => "drain",
            Self::Maint => "maint",
            Self::DisableHealth => "dhlth",
            Self::EnableHealth => "ehlth",
            Self::DisableAgent => "dagent",
            Self::EnableAgent => "eagent",
        }
    }

    /// The form's option label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ready => "Set state to READY",
            Self::Drain => "Set state to DRAIN",
            Self::Maint => "Set state to MAINT",
            Self::DisableHealth => "Health: disable checks",
            Self::EnableHealth => "Health: enable checks",
            Self::DisableAgent => "Agent: disable checks",
            Self::EnableAgent => "Agent: enable checks",
        }
    }

    pub const ALL: [AdminAction; 7] = [
        Self::Ready,
        Self::Drain,
        Self::Maint,
        Self::DisableHealth,
        Self::EnableHealth,
        Self::DisableAgent,
        Self::EnableAgent,
    ];
}

/// The outcome codes HAProxy puts in `;st=` after an admin POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionOutcome {
    /// Every server was changed.
    Done,
    /// Some were.
    Partial,
    /// None needed a change, or none was named.
    None,
    /// Not allowed (`stats admin` did not match).
    Denied,
    /// The form could not be read.
    BadRequest,
    /// The backend or a server is unknown.
    Unknown,
}

impl ActionOutcome {
    pub fn code(self) -> &'static str {
        match self {
            Self::Done => "DONE",
            Self::Partial => "PART",
            Self::None => "NONE",
            Self::Denied => "DENY",
            Self::BadRequest => "ERRP",
            Self::Unknown => "UNKN",
        }
    }

    /// The banner the page shows for a code read back from `;st=`.
    pub fn message(code: &str) -> Option<(&'static str, bool)> {
        Some(match code {
            "DONE" => ("Action processed successfully.", true),
            "PART" => ("Action not processed for every server.", false),
            "NONE" => ("Nothing has changed.", true),
            "DENY" => ("Action denied.", false),
            "ERRP" => ("Action not processed because of invalid parameters.", false),
            "UNKN" => ("Unexpected result: unknown backend or server.", false),
            _ => return None,
        })
    }
}

/// Reads an `application/x-www-form-urlencoded` admin form (`s=…&s=…&action=…&b=…`).
pub fn parse_form(body: &[u8]) -> Option<AdminForm> {
    let mut backend = None;
    let mut servers = Vec::new();
    let mut action = None;
    for pair in body.split(|&b| b == b'&') {
        let (k, v) = match memchr::memchr(b'=', pair) {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let v = url_decode(v)?;
        match k {
            b"b" => backend = Some(v),
            b"s" => servers.push(v),
            b"action" => action = Some(AdminAction::parse(&v)?),
            _ => {}
        }
    }
    Some(AdminForm {
        backend: backend?,
        servers,
        action: action?,
    })
}

/// Percent- and `+`-decoding of one form value; `None` when it is not UTF-8 or malformed.
fn url_decode(v: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(v.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(uri: &str) -> StatsPage {
        let stats = Stats {
            enabled: true,
            uri: uri.into(),
            ..Stats::default()
        };
        StatsPage::compile("stats", &stats, &mut AclCompiler::new(&[]))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn options_after_the_uri_are_read() {
        let p = page("/stats");
        assert_eq!(p.options(b"/stats"), PageOptions::default());
        let o = p.options(b"/stats;csv;norefresh");
        assert!(o.csv && o.no_refresh && !o.up_only);
        let o = p.options(b"/stats;up;st=DONE");
        assert!(o.up_only);
        assert_eq!(o.status.as_deref(), Some("DONE"));
    }

    #[test]
    fn an_admin_form_is_decoded() {
        let f = parse_form(b"s=web%31&s=web+2&action=drain&b=%23app").unwrap();
        assert_eq!(f.backend, "#app");
        assert_eq!(f.servers, ["web1", "web 2"]);
        assert_eq!(f.action, AdminAction::Drain);
        assert_eq!(parse_form(b"s=a&action=explode&b=x"), None);
        assert_eq!(parse_form(b"s=a&action=drain"), None);
        assert_eq!(parse_form(b"s=%zz&action=drain&b=x"), None);
    }

    #[test]
    fn the_default_realm_is_haproxys() {
        assert_eq!(page("/").realm, "HAProxy Statistics");
    }
}
