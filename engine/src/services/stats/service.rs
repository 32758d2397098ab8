//! What a worker reads to answer the stats page and the Prometheus exporter on request:
//! the configuration, every worker's counters, the backends' shared load, and the
//! control side's server states. Built once at start and shared by every worker; nothing
//! is computed until a request asks for it.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use ringlb_checks::ServerSnapshot as CheckState;
use ringlb_config::Config;

use crate::analysis::stats_page::AdminAction;
use crate::backend::ResolvedBackend;
use crate::metrics::{Registry, Snapshot};
use crate::services::stats::view::{self, ProxyView, Sources};

/// The control side's server states as the page reads and changes them.
pub trait PageStates: Send + Sync {
    /// Every server's check and admin state, in configuration order.
    fn checks(&self) -> Vec<CheckState>;
    /// Total time a server spent DOWN; `None` when it never was.
    fn downtime(&self, backend: &str, server: &str) -> Option<Duration>;
    /// A server's address when `set server … addr` changed it.
    fn moved_addr(
        &self,
        backend: &str,
        server: &str,
    ) -> Option<crate::services::admin::state::ServerAddr>;
    /// Applies an admin form action to one server. `Ok(true)`: changed; `Ok(false)`:
    /// nothing to change; `Err`: no such server.
    fn apply(&self, backend: &str, server: &str, action: AdminAction) -> Result<bool, String>;
}

/// Everything the page and the exporter read, shared by every worker.
pub struct StatsContext {
    pub config: Arc<Config>,
    pub registry: Registry,
    pub backends: Arc<Vec<ResolvedBackend>>,
    /// The process-wide connection limit as applied.
    pub maxconn: u64,
    pub pid: u32,
    pub started: SystemTime,
    /// Set once the control side runs (after every worker serves).
    states: OnceLock<Arc<dyn PageStates>>,
    /// The running frontends' states and limits (`disable frontend`, `set maxconn frontend`).
    pub frontends: Arc<crate::services::admin::frontends::Frontends>,
}

impl StatsContext {
    pub fn new(
        config: Arc<Config>,
        registry: Registry,
        backends: Arc<Vec<ResolvedBackend>>,
        maxconn: u64,
        frontends: Arc<crate::services::admin::frontends::Frontends>,
    ) -> Self {
        Self {
            frontends,
            config,
            registry,
            backends,
            maxconn,
            pid: std::process::id(),
            started: SystemTime::now(),
            states: OnceLock::new(),
        }
    }

    /// Connects the control side's server states; later calls are ignored.
    pub fn set_states(&self, states: Arc<dyn PageStates>) {
        let _ = self.states.set(states);
    }

    pub fn states(&self) -> Option<&Arc<dyn PageStates>> {
        self.states.get()
    }

    /// Seconds since the process started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed().unwrap_or_default()
    }

    /// Every proxy's rows at this moment, limited to `scope` when it is not empty.
    pub fn proxies(&self, scope: &[String]) -> Vec<ProxyView> {
        self.proxies_from(&self.registry.snapshot(), scope)
    }

    /// Like [`StatsContext::proxies`] over counters the caller already summed.
    pub fn proxies_from(&self, counters: &Snapshot, scope: &[String]) -> Vec<ProxyView> {
        let checks = self.states().map(|s| s.checks()).unwrap_or_default();
        let states = self.states();
        let downtime = |b: &str, s: &str| states.and_then(|st| st.downtime(b, s));
        let moved = |b: &str, s: &str| states.and_then(|st| st.moved_addr(b, s));
        let src = Sources {
            config: &self.config,
            registry: &self.registry,
            counters,
            checks: &checks,
            backends: &self.backends,
            downtime: &downtime,
            maxconn: self.maxconn,
            pid: self.pid,
            moved: &moved,
            frontends: Some(&self.frontends),
        };
        view::proxies(&src, scope)
    }
}

/// The page goes through the one owner of server state, as the runtime socket does.
impl PageStates for crate::services::admin::ServerStates {
    fn checks(&self) -> Vec<CheckState> {
        self.snapshot()
    }

    fn downtime(&self, backend: &str, server: &str) -> Option<Duration> {
        crate::services::admin::ServerStates::downtime(self).total(backend, server)
    }

    fn moved_addr(
        &self,
        backend: &str,
        server: &str,
    ) -> Option<crate::services::admin::state::ServerAddr> {
        crate::services::admin::ServerStates::moved_addr(self, backend, server)
    }

    fn apply(&self, backend: &str, server: &str, action: AdminAction) -> Result<bool, String> {
        use ringlb_checks::AdminState;
        let now = self.server(backend, server).map_err(|e| format!("{e:?}"))?;
        let admin = |a: AdminState| {
            if now.admin == a {
                return Ok(false);
            }
            self.set_admin(backend, server, a)
                .map(|()| true)
                .map_err(|e| format!("{e:?}"))
        };
        let health = |on: bool| {
            if now.check_enabled == on || !now.checked {
                return Ok(false);
            }
            self.set_check_enabled(backend, server, on)
                .map(|()| true)
                .map_err(|e| format!("{e:?}"))
        };
        match action {
            AdminAction::Ready => admin(AdminState::Ready),
            AdminAction::Drain => admin(AdminState::Drain),
            AdminAction::Maint => admin(AdminState::Maint),
            AdminAction::DisableHealth => health(false),
            AdminAction::EnableHealth => health(true),
            // Agent checks cannot be switched at runtime yet: nothing changes.
            AdminAction::DisableAgent | AdminAction::EnableAgent => Ok(false),
        }
    }
}
