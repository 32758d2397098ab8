//! The typed configuration model: one complete value per proxy, `defaults` already applied.
//!
//! Parse, don't validate: every field holds only values the engine can use as they are.
//! Positions (`Location`) never take part in equality, so a model equals the model parsed
//! back from its own `dump`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::acl::{AclDef, Condition};
use crate::diag::Location;
use crate::rules::{HttpRequestRule, HttpResponseRule, LogFormat, TcpRequestRule};
pub use crate::tcpcheck::{
    MysqlUser, ProtocolCheck, StatusCodeExpr, TcpCheckAction, TcpCheckConnect, TcpCheckExpect,
    TcpCheckMatch, TcpCheckRule, TcpCheckStatus,
};

/// A whole configuration, every file merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub global: Global,
    /// Frontends, backends and listens in the order they were declared.
    pub proxies: Vec<Proxy>,
    pub userlists: Vec<Userlist>,
    pub http_errors: Vec<HttpErrors>,
}

impl Config {
    pub fn proxy(&self, name: &str) -> Option<&Proxy> {
        self.proxies.iter().find(|p| p.name == name)
    }

    /// Proxies that accept connections (`frontend` and `listen`).
    pub fn frontends(&self) -> impl Iterator<Item = &Proxy> {
        self.proxies.iter().filter(|p| p.kind.has_frontend())
    }

    /// Proxies that hold servers (`backend` and `listen`).
    pub fn backends(&self) -> impl Iterator<Item = &Proxy> {
        self.proxies.iter().filter(|p| p.kind.has_backend())
    }
}

// ---------------------------------------------------------------------------
// global
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Global {
    pub location: Location,
    pub daemon: bool,
    pub master_worker: bool,
    pub quiet: bool,
    /// `nbproc N`: accepted with a warning; workers are threads.
    pub nbproc: Option<u32>,
    /// `nbthread N`; `None` means one worker per online CPU.
    pub nbthread: Option<u16>,
    pub cpu_map: Vec<CpuMap>,
    pub maxconn: Option<u32>,
    pub ulimit_n: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub chroot: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub logs: Vec<LogTarget>,
    pub log_tag: Option<String>,
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout`: idle timeout on the runtime socket.
    pub stats_timeout: Option<Duration>,
    /// `spread-checks P`: percent of random jitter on check intervals (0..=50).
    pub spread_checks: Option<u8>,
    pub hard_stop_after: Option<Duration>,
    pub tune: Tune,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tune {
    /// `tune.bufsize`: the largest request or response head, in bytes.
    pub bufsize: u32,
    /// `tune.maxrewrite`: room kept free in the buffer for header rewrites.
    pub maxrewrite: u32,
}

impl Default for Tune {
    fn default() -> Self {
        Self {
            bufsize: 16384,
            maxrewrite: 1024,
        }
    }
}

/// `cpu-map [auto:]THREADS CPUS`: which CPUs worker threads run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuMap {
    /// `auto:` spreads the thread set over the CPU set one to one.
    pub auto: bool,
    /// Process part of `1/1-4` forms; threads are what ringlb maps.
    pub process: Option<IdSet>,
    /// 1-based thread ids.
    pub threads: IdSet,
    /// 0-based CPU ids.
    pub cpus: IdSet,
}

/// A set of ids written `all`, `odd`, `even`, `N` or `N-M`, comma or blank separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSet {
    All,
    Odd,
    Even,
    Ranges(Vec<(u32, u32)>),
}

/// `stats socket ADDR [mode M] [level L] [process P]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    pub location: Location,
    pub addr: SocketAddress,
    /// Unix permissions of the socket file, e.g. `0o600`.
    pub mode: Option<u32>,
    pub level: AdminLevel,
    pub user: Option<String>,
    pub group: Option<String>,
    /// `expose-fd listeners`: hand listening sockets to a reloading process.
    pub expose_fd_listeners: bool,
    /// `process`/`thread` binding as written; accepted, one control thread serves it.
    pub process: Option<String>,
}

/// Runtime API privilege, ordered from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum AdminLevel {
    User,
    Operator,
    #[default]
    Admin,
}

/// A socket address as HAProxy writes it: `ip:port`, `ipv4@`, `ipv6@`, `unix@`, a path, `fd@N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAddress {
    Inet(SocketAddr),
    Unix(PathBuf),
    Fd(i32),
}

// ---------------------------------------------------------------------------
// logging
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// `log global`: use the global section's targets.
    Global,
    /// `log ADDR [len N] [format F] FACILITY [LEVEL [MINLEVEL]]`.
    Remote {
        addr: LogAddress,
        len: Option<u32>,
        format: LogFormatKind,
        facility: Facility,
        level: Option<Level>,
        min_level: Option<Level>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogAddress {
    Udp(SocketAddr),
    Unix(PathBuf),
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormatKind {
    #[default]
    Rfc3164,
    Rfc5424,
    Raw,
    Short,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Auth2,
    Ftp,
    Ntp,
    Audit,
    Alert,
    Cron2,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// Every facility with its configuration name, in syslog code order (RFC 3164): a
    /// facility's position here is its numeric code.
    pub const NAMES: [(&'static str, Facility); 24] = [
        ("kern", Facility::Kern),
        ("user", Facility::User),
        ("mail", Facility::Mail),
        ("daemon", Facility::Daemon),
        ("auth", Facility::Auth),
        ("syslog", Facility::Syslog),
        ("lpr", Facility::Lpr),
        ("news", Facility::News),
        ("uucp", Facility::Uucp),
        ("cron", Facility::Cron),
        ("auth2", Facility::Auth2),
        ("ftp", Facility::Ftp),
        ("ntp", Facility::Ntp),
        ("audit", Facility::Audit),
        ("alert", Facility::Alert),
        ("cron2", Facility::Cron2),
        ("local0", Facility::Local0),
        ("local1", Facility::Local1),
        ("local2", Facility::Local2),
        ("local3", Facility::Local3),
        ("local4", Facility::Local4),
        ("local5", Facility::Local5),
        ("local6", Facility::Local6),
        ("local7", Facility::Local7),
    ];

    /// The numeric syslog code (`kern` 0 … `local7` 23).
    pub fn code(self) -> u8 {
        Self::NAMES
            .iter()
            .position(|&(_, f)| f == self)
            .expect("every facility is listed") as u8
    }
}

/// Syslog severity, ordered from most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Emerg,
    Alert,
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

impl Level {
    /// Every level with its configuration name, most severe first.
    pub const NAMES: [(&'static str, Level); 8] = [
        ("emerg", Level::Emerg),
        ("alert", Level::Alert),
        ("crit", Level::Crit),
        ("err", Level::Err),
        ("warning", Level::Warning),
        ("notice", Level::Notice),
        ("info", Level::Info),
        ("debug", Level::Debug),
    ];
}

// ---------------------------------------------------------------------------
// proxies
// ---------------------------------------------------------------------------

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
    pub http_use_htx: bool,
    pub splice_auto: bool,
    pub tcpka: bool,
    pub clitcpka: bool,
    pub srvtcpka: bool,
    pub http_buffer_request: bool,
    pub accept_invalid_http_request: bool,
    pub accept_invalid_http_response: bool,
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

// ---------------------------------------------------------------------------
// binds
// ---------------------------------------------------------------------------

/// A `bind` line: one or more addresses and their options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub location: Location,
    pub addrs: Vec<BindAddr>,
    pub name: Option<String>,
    pub options: BindOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAddr {
    /// `*:80`, `:80`, `0.0.0.0:80-89`, `[::1]:443`, `ipv4@…`, `ipv6@…`. `ip: None` is every address.
    Tcp {
        ip: Option<IpAddr>,
        ports: PortRange,
    },
    Unix(PathBuf),
    /// `fd@N`: an inherited listening socket.
    Fd(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn single(port: u16) -> Self {
        Self {
            first: port,
            last: port,
        }
    }
    pub fn iter(self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindOptions {
    pub accept_proxy: bool,
    pub transparent: bool,
    pub v4v6: bool,
    pub v6only: bool,
    pub defer_accept: bool,
    pub interface: Option<String>,
    pub maxconn: Option<u32>,
    pub backlog: Option<u32>,
    pub process: Option<String>,
    pub thread: Option<String>,
    pub mode: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub level: Option<AdminLevel>,
    pub expose_fd_listeners: bool,
    /// `ssl crt …`: parsed so it can be refused with a clear message; TLS is not built.
    pub ssl: bool,
    pub crt: Vec<PathBuf>,
}

// ---------------------------------------------------------------------------
// balancing and persistence
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balance {
    #[default]
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Source,
    Uri {
        len: Option<u32>,
        depth: Option<u32>,
        whole: bool,
    },
    UrlParam {
        name: String,
        check_post: Option<u32>,
        max_wait: Option<u32>,
    },
    Hdr {
        name: String,
        use_domain_only: bool,
    },
    Random {
        draws: u32,
    },
    RdpCookie {
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashType {
    pub method: HashMethod,
    pub function: HashFunction,
    pub avalanche: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashMethod {
    #[default]
    MapBased,
    Consistent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFunction {
    #[default]
    Sdbm,
    Djb2,
    Wt6,
    Crc32,
}

/// `cookie NAME [rewrite|insert|prefix] [indirect] [nocache] …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePersist {
    pub name: String,
    pub mode: CookieMode,
    pub indirect: bool,
    pub nocache: bool,
    pub postonly: bool,
    pub preserve: bool,
    pub httponly: bool,
    pub secure: bool,
    pub domains: Vec<String>,
    pub maxidle: Option<Duration>,
    pub maxlife: Option<Duration>,
    pub dynamic: bool,
}

impl CookiePersist {
    /// `cookie NAME` in `mode` with no further option.
    pub fn new(name: impl Into<String>, mode: CookieMode) -> Self {
        Self {
            name: name.into(),
            mode,
            indirect: false,
            nocache: false,
            postonly: false,
            preserve: false,
            httponly: false,
            secure: false,
            domains: Vec::new(),
            maxidle: None,
            maxlife: None,
            dynamic: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieMode {
    /// The server sets the cookie; the proxy rewrites its value.
    Rewrite,
    /// The proxy inserts its own cookie.
    #[default]
    Insert,
    /// The proxy prefixes the server's cookie value with `SERVER~`.
    Prefix,
    /// No mode given: the proxy only reads the cookie the server set.
    Passive,
}

// ---------------------------------------------------------------------------
// servers
// ---------------------------------------------------------------------------

/// A `server` line with `default-server` applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub location: Location,
    pub name: String,
    pub addr: ServerAddr,
    pub weight: Weight,
    pub backup: bool,
    pub disabled: bool,
    pub maxconn: Option<u32>,
    pub minconn: Option<u32>,
    pub maxqueue: Option<u32>,
    /// Value of the persistence cookie that selects this server.
    pub cookie: Option<String>,
    pub check: ServerCheck,
    pub source: Option<SocketAddr>,
    pub redir: Option<String>,
    pub send_proxy: bool,
    pub ssl: bool,
}

impl Server {
    /// A server with every parameter at HAProxy's default.
    pub fn new(name: String, addr: ServerAddr) -> Self {
        Self {
            location: Location::default(),
            name,
            addr,
            weight: Weight::DEFAULT,
            backup: false,
            disabled: false,
            maxconn: None,
            minconn: None,
            maxqueue: None,
            cookie: None,
            check: ServerCheck::default(),
            source: None,
            redir: None,
            send_proxy: false,
            ssl: false,
        }
    }
}

/// `ADDR[:PORT]`; a name is resolved when the engine starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    pub host: Host,
    /// `None` means "the port the client connected to" (as in `server s1 10.0.0.1`).
    pub port: Option<PortSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
    Unix(PathBuf),
}

/// A server port: fixed, or an offset from the port the client reached (`+1`, `-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSpec {
    Fixed(u16),
    Offset(i32),
}

/// A server weight, 0..=256. 0 means "no new traffic".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Weight(u16);

impl Weight {
    pub const MAX: u16 = 256;
    pub const DEFAULT: Weight = Weight(1);

    pub fn new(w: u16) -> Option<Self> {
        (w <= Self::MAX).then_some(Self(w))
    }
    pub fn get(self) -> u16 {
        self.0
    }
}

impl Default for Weight {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Health-check settings of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCheck {
    pub enabled: bool,
    pub inter: Duration,
    pub fastinter: Option<Duration>,
    pub downinter: Option<Duration>,
    pub rise: u32,
    pub fall: u32,
    pub port: Option<u16>,
    pub addr: Option<IpAddr>,
    pub on_marked_down: Option<OnMarkedDown>,
    pub on_marked_up: Option<OnMarkedUp>,
    pub observe: Option<Observe>,
    pub error_limit: u32,
    pub on_error: Option<OnError>,
    pub agent: Option<AgentCheck>,
    pub slowstart: Option<Duration>,
}

impl Default for ServerCheck {
    fn default() -> Self {
        Self {
            enabled: false,
            inter: Duration::from_secs(2),
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
            port: None,
            addr: None,
            on_marked_down: None,
            on_marked_up: None,
            observe: None,
            error_limit: 10,
            on_error: None,
            agent: None,
            slowstart: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMarkedDown {
    ShutdownSessions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMarkedUp {
    ShutdownBackupSessions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observe {
    Layer4,
    Layer7,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    FastInter,
    FailCheck,
    SuddenDeath,
    MarkDown,
}

/// `agent-check` with `agent-port`, `agent-inter`, `agent-addr`, `agent-send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCheck {
    pub port: u16,
    pub inter: Option<Duration>,
    pub addr: Option<IpAddr>,
    pub send: Option<String>,
}

// ---------------------------------------------------------------------------
// small shared value types
// ---------------------------------------------------------------------------

pub use crate::net::IpNet;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipnet_contains_respects_the_prefix() {
        let net = IpNet {
            addr: "10.1.0.0".parse().unwrap(),
            prefix: 16,
        };
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let any = IpNet {
            addr: "0.0.0.0".parse().unwrap(),
            prefix: 0,
        };
        assert!(any.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn ipnet_parses_addresses_prefixes_and_masks() {
        let n: IpNet = "10.0.0.0/8".parse().unwrap();
        assert_eq!((n.addr.to_string(), n.prefix), ("10.0.0.0".into(), 8));
        let n: IpNet = "192.168.1.7".parse().unwrap();
        assert_eq!(n.prefix, 32);
        let n: IpNet = "10.1.0.0/255.255.0.0".parse().unwrap();
        assert_eq!(n.prefix, 16);
        let n: IpNet = "2001:db8::/32".parse().unwrap();
        assert_eq!((n.prefix, n.to_string()), (32, "2001:db8::/32".to_string()));
        assert_eq!("::1".parse::<IpNet>().unwrap().prefix, 128);
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("::/129".parse::<IpNet>().is_err());
        assert!("10.0.0.0/255.0.255.0".parse::<IpNet>().is_err());
        assert!("300.1.1.1".parse::<IpNet>().is_err());
        assert!("example.com".parse::<IpNet>().is_err());
    }

    #[test]
    fn connection_modes_combine_to_the_stricter() {
        use HttpConnMode::*;
        assert_eq!(KeepAlive.combine(KeepAlive), KeepAlive);
        assert_eq!(KeepAlive.combine(ServerClose), ServerClose);
        assert_eq!(ServerClose.combine(KeepAlive), ServerClose);
        assert_eq!(Close.combine(KeepAlive), Close);
        assert_eq!(ServerClose.combine(Close), Close);
    }

    #[test]
    fn weight_is_bounded() {
        assert_eq!(Weight::new(256).map(Weight::get), Some(256));
        assert!(Weight::new(257).is_none());
    }
}
