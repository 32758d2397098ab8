//! `bind` lines: addresses, port ranges and their options.

use std::net::IpAddr;
use std::path::PathBuf;

use super::*;
use crate::diag::Location;

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
    /// `process N`: announced at -c and ignored (one process).
    pub process: Option<String>,
    pub mode: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub level: Option<AdminLevel>,
    pub expose_fd_listeners: bool,
    /// `proto h1|h2`: the protocol a `mode http` listener speaks, whatever the client
    /// starts with (`None`: HTTP/1.1, or HTTP/2 when the client's first bytes are its
    /// preface or TLS negotiated `h2`).
    pub proto: Option<HttpProto>,
    /// `ssl crt …`: the listener terminates TLS.
    pub tls: Option<Box<BindTls>>,
}

/// `bind … proto NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpProto {
    H1,
    H2,
}
