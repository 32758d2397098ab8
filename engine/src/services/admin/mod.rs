//! The runtime API: HAProxy's `stats socket` command language over Unix and TCP sockets,
//! served by a control-side thread, reading and changing servers through one owner.
//!
//! - [`frontends`]: `disable|enable|shutdown frontend`, `set maxconn frontend`.
//! - [`state`]: the owner of every server's admin/operational state, weight and maxconn.
//! - [`commands`]: parsing a command line, levels, and running each command.
//! - [`info`]: `show info`, `show servers state`, `show backend` texts.
//! - [`stat`]: `show stat` with HAProxy's filters and formats.
//! - [`process`]: the process-wide commands (`show env|errors|activity|pools`,
//!   `set maxconn global`).
//! - [`set_server`]: `set server … addr|health|agent|check-port|check-addr|agent-*`.
//! - [`sessions`]: `show sess`, `shutdown session`, `shutdown sessions server`.
//! - [`listener`]: binding `stats socket` addresses and serving connections.
//! - [`hangup`]: the server states dump a SIGHUP asks for.

pub mod certs;
pub mod commands;
pub mod frontends;
pub mod hangup;
pub mod info;
pub mod listener;
pub mod process;
pub mod sessions;
pub mod set_server;
pub mod stat;
pub mod state;

use std::sync::Arc;
use std::time::Instant;

use ringlb_config::Config;

pub use state::{ServerStates, StateError, WeightSpec};

use crate::metrics::Registry;
use crate::services::stats::view::{self, ProxyView, Sources};
use crate::worker::inbox::Inboxes;
use crate::worker::limits::ConnLimit;

/// Everything the runtime API and the stats page read and change, for the whole process.
pub struct Runtime {
    pub config: Arc<Config>,
    pub stats: Registry,
    pub servers: Arc<ServerStates>,
    pub started: Instant,
    /// The process connection limit as applied, and the descriptor limit.
    pub maxconn: u64,
    pub nofile: u64,
    pub nbthread: usize,
    /// The TLS listeners' certificates, for `show/set/commit/abort ssl cert`.
    pub certs: certs::Certs,
    /// The process-wide connection limit every worker takes from (`set maxconn global`).
    pub global_limit: Arc<ConnLimit>,
    /// The running frontends' states and limits.
    pub frontends: Arc<frontends::Frontends>,
    /// Every worker's inbox, for the commands that act on listeners and connections.
    pub inboxes: Arc<Inboxes>,
}

impl Runtime {
    /// The stats rows of every proxy (or those `scope` names) at this moment.
    pub fn proxies(&self, scope: &[String]) -> Vec<ProxyView> {
        let counters = self.stats.snapshot();
        let checks = self.servers.snapshot();
        let downtime = |b: &str, s: &str| self.servers.downtime().total(b, s);
        let src = Sources {
            config: &self.config,
            registry: &self.stats,
            counters: &counters,
            checks: &checks,
            backends: self.servers.backends(),
            downtime: &downtime,
            maxconn: self.maxconn,
            pid: std::process::id(),
            moved: &|b: &str, s: &str| self.servers.moved_addr(b, s),
            frontends: Some(&self.frontends),
        };
        view::proxies(&src, scope)
    }
}
