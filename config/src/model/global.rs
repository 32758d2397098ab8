//! The `global` section: process settings, tuning, CPU map, stats sockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::diag::Location;

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
    /// TLS defaults and tuning (`ssl-default-*`, `ca-base`, `crt-base`, `tune.ssl.*`).
    pub tls: GlobalTls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tune {
    /// `tune.bufsize`: the largest request or response head, in bytes.
    pub bufsize: u32,
    /// `tune.maxrewrite`: room kept free in the buffer for header rewrites.
    pub maxrewrite: u32,
    /// `tune.h2.*`: what an HTTP/2 listener announces in its SETTINGS.
    pub h2: H2Tune,
}

impl Default for Tune {
    fn default() -> Self {
        Self {
            bufsize: 16384,
            maxrewrite: 1024,
            h2: H2Tune::default(),
        }
    }
}

/// HTTP/2 settings of the listeners (`tune.h2.header-table-size`, `initial-window-size`,
/// `max-concurrent-streams`, `max-frame-size`), with HAProxy 2.6's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Tune {
    pub header_table_size: u32,
    pub initial_window_size: u32,
    pub max_concurrent_streams: u32,
    /// `None`: `tune.bufsize` minus the frame header, as HAProxy does.
    pub max_frame_size: Option<u32>,
}

impl Default for H2Tune {
    fn default() -> Self {
        Self {
            header_table_size: 4096,
            initial_window_size: 65535,
            max_concurrent_streams: 100,
            max_frame_size: None,
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
