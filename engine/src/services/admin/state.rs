//! The one control-side owner of every server's state: admin (ready/drain/maint),
//! operational (up/down), weight and `maxconn`. The runtime socket, the stats page, the
//! health checker and the reload hand-over all read and change servers through it.
//!
//! It is built on the health checker's table, which runs for every configuration (idle
//! when no server is checked): that table already turns admin orders, check results and
//! agent replies into the up/down and weight events every worker applies, exactly once
//! each, so an operator's `maint` and a failed check can never disagree about a server.
//! `maxconn` lives in the connection counters the workers share, so a change there is seen
//! by every worker at its next pick without an event.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringlb_checks::{AdminError, AdminState, Change, CheckerHandle, ServerEvent, ServerSnapshot};

use ringlb_config::model::PortSpec;

use crate::backend::{ResolvedBackend, ServerLoad};

/// Per server: down since when (while down), and the time down before that.
type Outages = HashMap<(String, String), (Option<Instant>, Duration)>;

/// Time each server spent DOWN, fed with the checker's events.
#[derive(Debug, Default)]
pub struct Downtime {
    servers: Mutex<Outages>,
}

impl Downtime {
    /// Counts an up/down change.
    pub fn record(&self, ev: &ServerEvent) {
        let down = match ev.change {
            Change::Down => true,
            Change::Up => false,
            _ => return,
        };
        let mut m = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        let e = m
            .entry((ev.backend.clone(), ev.server.clone()))
            .or_default();
        match (down, e.0) {
            (true, None) => e.0 = Some(ev.decided),
            (false, Some(since)) => {
                e.1 += ev.decided.saturating_duration_since(since);
                e.0 = None;
            }
            _ => {}
        }
    }

    /// Total time DOWN, the current outage included; `None` if never down.
    pub fn total(&self, backend: &str, server: &str) -> Option<Duration> {
        let m = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        let (since, total) = m.get(&(backend.to_string(), server.to_string()))?;
        Some(*total + since.map_or(Duration::ZERO, |s| s.elapsed()))
    }
}

/// A weight as `set weight` takes it: absolute, or a percentage of the configured weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightSpec {
    Absolute(u16),
    Percent(u32),
}

impl WeightSpec {
    pub fn parse(s: &str) -> Option<Self> {
        match s.strip_suffix('%') {
            Some(p) => p.parse().ok().map(Self::Percent),
            None => s.parse().ok().map(Self::Absolute),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    NoSuchBackend,
    NoSuchServer,
    /// HAProxy's weights are 0..=256.
    WeightOutOfRange,
}

impl From<AdminError> for StateError {
    fn from(_: AdminError) -> Self {
        Self::NoSuchServer
    }
}

/// Where a server is reached: its IP and port (`None`: the port the client reached).
pub type ServerAddr = (IpAddr, Option<PortSpec>);

/// Every server's state, for the whole process.
pub struct ServerStates {
    checker: CheckerHandle,
    backends: Arc<Vec<ResolvedBackend>>,
    downtime: Arc<Downtime>,
    /// Addresses changed by `set server … addr`, by (backend, server).
    addrs: Mutex<HashMap<(String, String), ServerAddr>>,
}

impl ServerStates {
    pub fn new(
        checker: CheckerHandle,
        backends: Arc<Vec<ResolvedBackend>>,
        downtime: Arc<Downtime>,
    ) -> Self {
        Self {
            checker,
            backends,
            downtime,
            addrs: Mutex::default(),
        }
    }

    /// The checker underneath (check results, observe).
    pub fn checker(&self) -> &CheckerHandle {
        &self.checker
    }

    /// The backends as the workers run them.
    pub fn backends(&self) -> &[ResolvedBackend] {
        &self.backends
    }

    pub fn downtime(&self) -> &Downtime {
        &self.downtime
    }

    /// Every server's state, in configuration order.
    pub fn snapshot(&self) -> Vec<ServerSnapshot> {
        self.checker.snapshot()
    }

    /// One server's state.
    pub fn server(&self, backend: &str, server: &str) -> Result<ServerSnapshot, StateError> {
        self.find(backend, server)?;
        self.snapshot()
            .into_iter()
            .find(|s| s.backend == backend && s.server == server)
            .ok_or(StateError::NoSuchServer)
    }

    fn find(&self, backend: &str, server: &str) -> Result<(&ResolvedBackend, usize), StateError> {
        let b = self
            .backends
            .iter()
            .find(|b| b.name == backend)
            .ok_or(StateError::NoSuchBackend)?;
        let i = b
            .servers
            .iter()
            .position(|s| s.name == server)
            .ok_or(StateError::NoSuchServer)?;
        Ok((b, i))
    }

    fn load(&self, backend: &str, server: &str) -> Result<&Arc<ServerLoad>, StateError> {
        let (b, i) = self.find(backend, server)?;
        b.load.servers.get(i).ok_or(StateError::NoSuchServer)
    }

    /// `set server B/S state ready|drain|maint`, `enable|disable server`.
    pub fn set_admin(
        &self,
        backend: &str,
        server: &str,
        admin: AdminState,
    ) -> Result<(), StateError> {
        self.find(backend, server)?;
        Ok(self.checker.set_admin(backend, server, admin)?)
    }

    /// `enable|disable health B/S`.
    pub fn set_check_enabled(
        &self,
        backend: &str,
        server: &str,
        on: bool,
    ) -> Result<(), StateError> {
        self.find(backend, server)?;
        Ok(self.checker.set_check_enabled(backend, server, on)?)
    }

    /// `set weight B/S N[%]`: a percentage is of the weight the configuration gave.
    pub fn set_weight(
        &self,
        backend: &str,
        server: &str,
        w: WeightSpec,
    ) -> Result<u16, StateError> {
        let (b, i) = self.find(backend, server)?;
        let initial = u32::from(b.servers[i].weight);
        let weight = match w {
            WeightSpec::Absolute(n) => u32::from(n),
            WeightSpec::Percent(p) => initial * p / 100,
        };
        if weight > 256 {
            return Err(StateError::WeightOutOfRange);
        }
        self.checker.set_weight(backend, server, weight as u16)?;
        Ok(weight as u16)
    }

    /// The current (user) weight and the configured one.
    pub fn weights(&self, backend: &str, server: &str) -> Result<(u16, u16), StateError> {
        let (b, i) = self.find(backend, server)?;
        let now = self.checker.user_weight(backend, server)?;
        Ok((now, b.servers[i].weight))
    }

    /// `set maxconn server B/S N` (0: no limit).
    pub fn set_maxconn(&self, backend: &str, server: &str, n: u32) -> Result<(), StateError> {
        self.load(backend, server)?
            .maxconn
            .store(n, Ordering::Relaxed);
        Ok(())
    }

    /// The `maxconn` in force and the configured one (0: no limit).
    pub fn maxconns(&self, backend: &str, server: &str) -> Result<(u32, u32), StateError> {
        let l = self.load(backend, server)?;
        Ok((l.maxconn(), l.configured_maxconn))
    }

    /// Requests using a connection to the server now, and its `maxconn`.
    pub fn conns(&self, backend: &str, server: &str) -> Result<(u32, u32), StateError> {
        let l = self.load(backend, server)?;
        Ok((l.current(), l.maxconn()))
    }

    /// Where the server is reached now.
    pub fn addr(&self, backend: &str, server: &str) -> Result<ServerAddr, StateError> {
        let (b, i) = self.find(backend, server)?;
        let m = self.addrs.lock().unwrap_or_else(|p| p.into_inner());
        Ok(m.get(&(backend.to_string(), server.to_string()))
            .copied()
            .unwrap_or((b.servers[i].ip, b.servers[i].port)))
    }

    /// The server's address when `set server … addr` changed it.
    pub fn moved_addr(&self, backend: &str, server: &str) -> Option<ServerAddr> {
        let m = self.addrs.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&(backend.to_string(), server.to_string())).copied()
    }

    /// Where the configuration puts the server.
    pub fn configured_addr(&self, backend: &str, server: &str) -> Option<ServerAddr> {
        let (b, i) = self.find(backend, server).ok()?;
        Some((b.servers[i].ip, b.servers[i].port))
    }

    /// `set server B/S addr`: records the new address and moves the checks there (unless
    /// they have an address or port of their own); the caller tells the workers.
    pub fn set_addr(&self, backend: &str, server: &str, to: ServerAddr) -> Result<(), StateError> {
        self.find(backend, server)?;
        let check_port = match to.1 {
            Some(PortSpec::Fixed(p)) => Some(p),
            _ => None,
        };
        self.checker.set_addr(backend, server, to.0, check_port)?;
        let mut m = self.addrs.lock().unwrap_or_else(|p| p.into_inner());
        m.insert((backend.to_string(), server.to_string()), to);
        Ok(())
    }

    /// Asks the checker thread to end (it is joined when the last holder drops this).
    pub fn stop(&self) {
        self.checker.request_stop();
    }
}
