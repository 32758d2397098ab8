//! `server` lines: addresses, weights, checks and agent checks.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::diag::Location;

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
    /// `redir PREFIX`: a GET or HEAD routed here is answered with a 302 to `PREFIX` followed
    /// by the request's path and query, instead of being forwarded.
    pub redir: Option<String>,
    /// `send-proxy` / `send-proxy-v2`: every connection to the server starts with a PROXY
    /// protocol header naming the client.
    pub send_proxy: Option<ProxyVersion>,
    /// `proto h2`: requests go to the server as streams of HTTP/2 connections (h2c, or h2
    /// over TLS with `ssl`), many at once on each.
    pub proto: Option<crate::model::HttpProto>,
    /// `ssl`: traffic to the server is TLS, set up with `tls`.
    pub ssl: bool,
    /// TLS settings, used by traffic with `ssl` and by checks with [`Server::check_tls`].
    pub tls: Box<crate::model::ServerTls>,
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
            send_proxy: None,
            proto: None,
            ssl: false,
            tls: Box::default(),
        }
    }

    /// Whether this server's health checks run over TLS: `check-ssl`, or `ssl` when the
    /// check goes where the traffic goes (no `port` nor `addr` of its own), HAProxy's rule.
    pub fn check_tls(&self) -> bool {
        self.check.ssl || (self.ssl && self.check.port.is_none() && self.check.addr.is_none())
    }

    /// The PROXY header this server's health checks start with: `check-send-proxy`, or
    /// `send-proxy` when the check goes where the traffic goes (no `port` nor `addr` of its
    /// own), HAProxy's rule. Version 2 when the server has `send-proxy-v2`, else version 1.
    pub fn check_proxy(&self) -> Option<ProxyVersion> {
        let own = self.check.port.is_none() && self.check.addr.is_none();
        match (self.check.send_proxy, self.send_proxy) {
            (true, v) => Some(v.unwrap_or(ProxyVersion::V1)),
            (false, Some(v)) if own => Some(v),
            _ => None,
        }
    }

    /// The header version a `tcp-check connect send-proxy` sends to this server.
    pub fn proxy_version(&self) -> ProxyVersion {
        self.send_proxy.unwrap_or(ProxyVersion::V1)
    }
}

/// Which PROXY protocol header a server's connections start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    /// `send-proxy`: the text line (`PROXY TCP4 …\r\n`).
    V1,
    /// `send-proxy-v2`: the binary form.
    V2,
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
    /// `check-ssl`: checks run over TLS even when traffic does not.
    pub ssl: bool,
    /// `check-send-proxy`: checks start with a PROXY header even when traffic does not.
    pub send_proxy: bool,
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
            ssl: false,
            send_proxy: false,
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
