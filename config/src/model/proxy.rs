//! Proxies (`frontend`, `backend`, `listen`, `defaults` applied): mode, timeouts, options,
//! captures, error pages, userlists and the stats page.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::acl::{AclDef, Condition};
use crate::diag::Location;
use crate::rules::{HttpRequestRule, HttpResponseRule, LogFormat, TcpRequestRule};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    Frontend,
    Backend,
    Listen,
}

impl ProxyKind {
    pub fn has_frontend(self) -> bool {
        matches!(self, Self::Frontend | Self::Listen)
    }
    pub fn has_backend(self) -> bool {
        matches!(self, Self::Backend | Self::Listen)
    }
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Frontend => "frontend",
            Self::Backend => "backend",
            Self::Listen => "listen",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Tcp,
    Http,
    /// `mode health`: legacy, answers "OK" and closes.
    Health,
}

/// A `frontend`, `backend` or `listen` section with `defaults` applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub location: Location,
    pub kind: ProxyKind,
    pub name: String,
    /// The `defaults` section it inherited from, by name (`None` for an unnamed one or none).
    pub defaults: Option<String>,
    pub mode: Mode,
    pub disabled: bool,
    /// `description TEXT`: shown on the stats page.
    pub description: Option<String>,
    /// `id N`: the proxy's numeric id (stats, runtime API); assigned in order when `None`.
    pub id: Option<u32>,
    pub binds: Vec<Bind>,
    pub maxconn: Option<u32>,
    /// `grace TIME`: after a soft stop, how long the proxy keeps accepting before its
    /// listeners close.
    pub grace: Option<Duration>,
    /// `fullconn`: the backend load at which `minconn` servers reach `maxconn`.
    pub fullconn: Option<u32>,
    pub backlog: Option<u32>,
    pub timeouts: Timeouts,
    pub retries: u32,
    pub options: Options,
    pub logs: Vec<LogTarget>,
    pub log_format: Option<LogFormat>,
    pub captures: Vec<Capture>,

    // frontend side
    pub acls: Vec<AclDef>,
    pub tcp_request: Vec<TcpRequestRule>,
    /// `http-request` rules, with the legacy `block` and `redirect` keywords folded in
    /// at their position.
    pub http_request: Vec<HttpRequestRule>,
    pub http_response: Vec<HttpResponseRule>,
    pub use_backends: Vec<UseBackend>,
    pub default_backend: Option<String>,
    pub monitor_uri: Option<String>,
    pub monitor_net: Vec<IpNet>,
    pub monitor_fail: Vec<Condition>,
    pub stats: Option<Stats>,
    pub errorfiles: Vec<ErrorFile>,
    /// `errorfiles NAME [CODE…]`: codes taken from an `http-errors` section.
    pub errorfiles_sections: Vec<(String, Vec<u16>)>,

    // backend side
    pub balance: Balance,
    pub hash_type: HashType,
    pub cookie: Option<CookiePersist>,
    pub servers: Vec<Server>,
    /// `dispatch ADDR:PORT`: one fixed server for a backend without `server` lines.
    pub dispatch: Option<SocketAddr>,
    pub http_check: HttpCheck,

    // compatibility keywords
    /// `http-reuse`: which requests may travel over an idle server connection.
    pub http_reuse: HttpReuse,
    /// `unique-id-format`: how each request's unique ID is built; `None` means no ID.
    pub unique_id_format: Option<LogFormat>,
    /// `unique-id-header NAME`: the request header that carries the ID to the server.
    pub unique_id_header: Option<String>,
    /// `force-persist` and `ignore-persist`, in the order written; the first match applies.
    pub persist_rules: Vec<PersistRule>,
    /// `tcp-check` rules, in order (a proxy's own rules replace inherited ones).
    pub tcp_check: Vec<TcpCheckRule>,
}

impl Proxy {
    /// A proxy with nothing set: what a section holding only its header line means, with
    /// HAProxy's built-in defaults (`retries 3`, `balance roundrobin`, `mode tcp`, …).
    pub fn new(kind: ProxyKind, name: String, location: Location) -> Proxy {
        Proxy {
            location,
            kind,
            name,
            defaults: None,
            mode: Mode::default(),
            disabled: false,
            description: None,
            id: None,
            binds: Vec::new(),
            maxconn: None,
            grace: None,
            fullconn: None,
            backlog: None,
            timeouts: Timeouts::default(),
            retries: 3,
            options: Default::default(),
            logs: Vec::new(),
            log_format: None,
            captures: Vec::new(),
            acls: Vec::new(),
            tcp_request: Vec::new(),
            http_request: Vec::new(),
            http_response: Vec::new(),
            use_backends: Vec::new(),
            default_backend: None,
            monitor_uri: None,
            monitor_net: Vec::new(),
            monitor_fail: Vec::new(),
            stats: None,
            errorfiles: Vec::new(),
            errorfiles_sections: Vec::new(),
            balance: Balance::default(),
            hash_type: HashType::default(),
            cookie: None,
            servers: Vec::new(),
            dispatch: None,
            http_check: Default::default(),
            http_reuse: HttpReuse::default(),
            unique_id_format: None,
            unique_id_header: None,
            persist_rules: Vec::new(),
            tcp_check: Vec::new(),
        }
    }
}

/// `http-reuse never|safe|aggressive|always`: when a request may be sent over an idle
/// server connection rather than a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpReuse {
    /// A server connection serves only the client connection that opened it.
    Never,
    /// The first request of a client connection takes an idle connection only when it can be
    /// sent again on a new one should the idle one turn out closed; later requests take any.
    #[default]
    Safe,
    /// As `safe`, and a first request that cannot be sent again may still take an idle
    /// connection that has already carried more than one request.
    Aggressive,
    /// Every request may take any idle connection.
    Always,
}

impl HttpReuse {
    pub fn keyword(self) -> &'static str {
        match self {
            HttpReuse::Never => "never",
            HttpReuse::Safe => "safe",
            HttpReuse::Aggressive => "aggressive",
            HttpReuse::Always => "always",
        }
    }
}

/// `force-persist` or `ignore-persist` with its condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistRule {
    pub location: Location,
    pub kind: PersistKind,
    pub condition: Condition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistKind {
    /// `force-persist`: the cookie's server is used even when down or in maintenance.
    Force,
    /// `ignore-persist`: the cookie is not looked at; the balancer decides.
    Ignore,
}

/// Timeouts; `None` means not set (HAProxy then waits forever and warns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    pub connect: Option<Duration>,
    pub http_request: Option<Duration>,
    pub http_keep_alive: Option<Duration>,
    pub queue: Option<Duration>,
    pub check: Option<Duration>,
    pub tunnel: Option<Duration>,
    pub client_fin: Option<Duration>,
    pub server_fin: Option<Duration>,
    pub tarpit: Option<Duration>,
}

/// `option …` switches. `Option<bool>` where `no option X` must override `defaults`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub httplog: Option<HttpLog>,
    pub tcplog: bool,
    pub dontlognull: bool,
    pub dontlog_normal: bool,
    pub log_separate_errors: bool,
    pub log_health_checks: bool,
    /// `http-keep-alive` (default), `http-server-close` or `httpclose`.
    pub http_conn_mode: HttpConnMode,
    pub forwardfor: Option<ForwardFor>,
    pub originalto: Option<OriginalTo>,
    pub redispatch: bool,
    pub abortonclose: bool,
    pub persist: bool,
    pub allbackups: bool,
    pub httpchk: Option<HttpChk>,
    pub ssl_hello_chk: bool,
    pub tcp_check: bool,
    /// `option redis-check`, `smtpchk`, `mysql-check`, `pgsql-check` or `ldap-check`.
    pub protocol_check: Option<ProtocolCheck>,
    pub splice_auto: bool,
    pub tcpka: bool,
    pub clitcpka: bool,
    pub srvtcpka: bool,
    /// `option http-no-delay`: every write leaves at once, never held back for the bytes
    /// that follow it (in the frontend or the backend of an exchange).
    pub http_no_delay: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLog {
    /// `option httplog clf`.
    pub clf: bool,
}

/// The seeds' connection-mode matrix (seed 002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum HttpConnMode {
    /// KAL: both sides stay open between requests.
    #[default]
    KeepAlive,
    /// SCL: the server side closes after each response.
    ServerClose,
    /// CLO: both sides close after the response.
    Close,
}

impl HttpConnMode {
    /// Frontend and backend modes combine symmetrically to the stricter one.
    pub fn combine(self, other: Self) -> Self {
        self.max(other)
    }
}

/// `option forwardfor [except NET] [header NAME] [if-none]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFor {
    pub except: Option<IpNet>,
    /// Header name; `X-Forwarded-For` by default.
    pub header: String,
    pub if_none: bool,
}

/// `option originalto [except NET] [header NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalTo {
    pub except: Option<IpNet>,
    /// Header name; `X-Original-To` by default.
    pub header: String,
}

/// `option httpchk [METHOD] [URI] [VERSION]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpChk {
    pub method: String,
    pub uri: String,
    pub version: String,
    /// Extra header lines written into the version field the old way (`HTTP/1.1\r\nHost:\ x`).
    pub extra_headers: Vec<(String, String)>,
}

impl Default for HttpChk {
    fn default() -> Self {
        Self {
            method: "OPTIONS".into(),
            uri: "/".into(),
            version: "HTTP/1.0".into(),
            extra_headers: Vec::new(),
        }
    }
}

/// `http-check send` and `http-check expect`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpCheck {
    /// `http-check send meth M`; the method of `option httpchk` when `None`.
    pub send_method: Option<String>,
    /// `http-check send uri U`.
    pub send_uri: Option<String>,
    /// `http-check send ver V`.
    pub send_version: Option<String>,
    pub send_headers: Vec<(String, String)>,
    pub send_body: Option<String>,
    pub expect: Option<HttpCheckExpect>,
    /// `http-check disable-on-404`.
    pub disable_on_404: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheckExpect {
    pub negate: bool,
    pub matcher: CheckMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckMatch {
    /// `status 200` or `status 200-399`.
    Status(Vec<(u16, u16)>),
    /// `rstatus REGEX` (validated at parse time).
    Rstatus(String),
    String(String),
    Rstring(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub side: CaptureSide,
    pub name: String,
    pub len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureSide {
    Request,
    Response,
}

/// `use_backend NAME [if|unless COND]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseBackend {
    pub location: Location,
    pub backend: BackendName,
    pub condition: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendName {
    Static(String),
    /// `use_backend %[req.hdr(host),lower]`: resolved per request.
    Dynamic(LogFormat),
}

/// `errorfile CODE FILE`, `errorloc CODE URL`, `errorloc302`/`errorloc303`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFile {
    pub status: u16,
    pub source: ErrorSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorSource {
    /// A raw HTTP response read from a file at load time.
    File { path: PathBuf, contents: Vec<u8> },
    /// Redirect with 302 (`errorloc`, `errorloc302`) or 303 (`errorloc303`).
    Location { code: u16, url: String },
}

/// `http-errors NAME` with its `errorfile` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpErrors {
    pub location: Location,
    pub name: String,
    pub errorfiles: Vec<ErrorFile>,
}

/// `userlist NAME` with its users and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Userlist {
    pub location: Location,
    pub name: String,
    pub groups: Vec<UserGroup>,
    pub users: Vec<User>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGroup {
    pub name: String,
    pub users: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The `user` line, for diagnostics about its password.
    pub location: Location,
    pub name: String,
    pub password: Password,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    Insecure(String),
    /// A crypt(3) hash.
    Crypt(String),
}

/// The stats page of a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub enabled: bool,
    /// `stats uri`; `/haproxy?stats` by default.
    pub uri: String,
    pub realm: Option<String>,
    /// `stats auth USER:PASSWORD` lines.
    pub auth: Vec<(String, String)>,
    pub refresh: Option<Duration>,
    pub hide_version: bool,
    pub show_legends: bool,
    pub show_node: Option<String>,
    pub show_desc: Option<String>,
    /// `stats admin if|unless COND` lines; any match grants admin.
    pub admin: Vec<Condition>,
    /// `stats scope NAME` lines; empty means every proxy.
    pub scope: Vec<String>,
    /// `stats http-request` rules, kept with the page.
    pub http_request: Vec<HttpRequestRule>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            enabled: false,
            uri: "/haproxy?stats".into(),
            realm: None,
            auth: Vec::new(),
            refresh: None,
            hide_version: false,
            show_legends: false,
            show_node: None,
            show_desc: None,
            admin: Vec::new(),
            scope: Vec::new(),
            http_request: Vec::new(),
        }
    }
}
