//! ringlb-checks: the health checker. It probes every checked server once (one thread for
//! all of them, not one per worker), runs HAProxy's rise/fall state machine, and publishes
//! server events and log records through a sink the engine provides.
//!
//! - [`probe`]: one check of one server, of ten kinds: a TCP connect (plain `check`),
//!   HTTP (`option httpchk`, `http-check send/expect`), SSL hello (`option ssl-hello-chk`),
//!   the agent's reply (`agent-check`, run beside the health check), `tcp-check` rule
//!   sequences (`option tcp-check`), and the protocol checks built as such sequences: redis
//!   (`option redis-check`), SMTP (`option smtpchk`), MySQL (`option mysql-check`),
//!   PostgreSQL (`option pgsql-check`) and LDAP (`option ldap-check`).
//! - [`status`]: a probe's result in HAProxy's vocabulary (`L4OK`, `L4CON`, `L7STS`, …).
//! - [`health`]: the rise/fall counter and the interval it selects.
//! - [`plan`]: what to check for each server, read from the configuration.
//! - [`table`]: every server's state; turns results and admin orders into events and logs.
//! - [`observe`]: `observe layer4|layer7`, counted on the request path, acted on here.
//! - [`checker`]: the thread, its timers, and the control-side [`CheckerHandle`].

pub mod checker;
pub mod health;
pub mod observe;
pub mod plan;
pub mod probe;
pub mod status;
pub mod table;
mod wording;

use std::sync::Arc;
use std::time::Instant;

pub use checker::{start, start_always, start_observed, AdminError, CheckerHandle};
pub use observe::{Outcome, Watch, Watches};
pub use ringlb_config::model::Level;
pub use status::{CheckResult, CheckStatus};
pub use table::{ForcedHealth, ServerSnapshot};

/// A server's administrative state, set by an operator or an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminState {
    /// Takes traffic as its health allows.
    Ready,
    /// Keeps its sessions and persistent clients but gets no new load-balanced traffic.
    Drain,
    /// Out of service and not checked.
    Maint,
}

/// What changed for one server, as the workers must apply it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// May take traffic again.
    Up,
    /// Takes no new traffic (failed checks, agent, or maintenance).
    Down,
    /// The weight new traffic follows; 0 while draining.
    Weight(u16),
    /// The administrative state changed; the `Up`/`Down`/`Weight` it implies follow as
    /// their own events.
    Admin(AdminState),
}

/// One change to publish to every worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEvent {
    pub backend: String,
    pub server: String,
    pub change: Change,
    /// When the checker decided it: the start of the propagation delay.
    pub decided: Instant,
}

/// A log line in HAProxy's wording, at HAProxy's severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub level: Level,
    /// The backend the line is about.
    pub backend: String,
    pub message: String,
}

/// Everything the checker publishes, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Server(ServerEvent),
    Log(LogRecord),
}

/// Where the checker publishes. Called from the checker thread and from whichever thread
/// calls the handle's admin methods, one call at a time.
pub type Sink = Arc<dyn Fn(Output) + Send + Sync>;
