//! Every server's check state, and the one place where results, agent replies, traffic
//! errors and admin orders become server events and log lines.
//!
//! The table remembers what the workers were last told (up, weight) and publishes only the
//! difference, so each worker-visible change goes out exactly once whatever caused it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringlb_config::model::{Level, OnError};

use crate::health::Health;
use crate::observe::{Trigger, Watch};
use crate::plan::ServerPlan;
use crate::probe::agent::{scaled_weight, AgentAdmin, AgentReply};
use crate::status::{CheckResult, CheckStatus};
use crate::{wording, AdminState, Change, LogRecord, Output, ServerEvent, Sink};

/// One server's state as the control side sees it (stats page, runtime API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSnapshot {
    pub backend: String,
    pub server: String,
    pub backup: bool,
    /// Whether workers may send it traffic.
    pub up: bool,
    /// The weight workers use (0 while draining).
    pub weight: u16,
    pub admin: AdminState,
    /// Whether a health check is configured and can run.
    pub checked: bool,
    /// Switched off at runtime (`disable health`).
    pub check_enabled: bool,
    /// The rise/fall counter (0..=rise+fall-1), rise and fall.
    pub health: u32,
    pub rise: u32,
    pub fall: u32,
    /// HAProxy's status column: `UP`, `DOWN`, `UP 1/3`, `DOWN 1/2`, `MAINT`, `DRAIN`, `no check`.
    pub status: String,
    pub last_check: Option<CheckResult>,
    pub last_agent: Option<CheckResult>,
    /// Checks run, checks failed, and transitions to DOWN.
    pub checks: u64,
    pub failed_checks: u64,
    pub downs: u64,
    /// Time since the last UP/DOWN transition.
    pub since_change: Duration,
}

struct Record {
    plan: ServerPlan,
    health: Health,
    admin: AdminState,
    check_enabled: bool,
    /// The agent's last word on the operational state was "down".
    agent_down: bool,
    agent_pct: Option<u32>,
    /// `http-check disable-on-404` saw a 404, or `set server … health stopping`: up, but no
    /// new traffic, until the next check says otherwise.
    nolb: bool,
    /// `set server … health down` on a server without a check: down until `health up`.
    forced_down: bool,
    last: Option<CheckResult>,
    last_agent: Option<CheckResult>,
    checks: u64,
    failed: u64,
    downs: u64,
    last_change: Instant,
    /// `observe`: the server's consecutive error count, shared with the workers.
    watch: Option<Arc<Watch>>,
    /// Traffic errors asked for the next check at `fastinter` (HAProxy's
    /// `CHK_ST_FASTINTER`); cleared when that check completes.
    fast: bool,
    told_up: bool,
    told_weight: u16,
}

impl Record {
    fn checked(&self) -> bool {
        self.plan.check.is_some()
    }

    fn up(&self) -> bool {
        self.admin != AdminState::Maint
            && !self.agent_down
            && !self.forced_down
            && (!self.checked() || !self.check_enabled || self.health.is_up())
    }

    fn weight(&self) -> u16 {
        if self.admin == AdminState::Drain || self.nolb {
            return 0;
        }
        match self.agent_pct {
            Some(p) => scaled_weight(self.plan.weight, p),
            None => self.plan.weight,
        }
    }

    fn status_text(&self) -> String {
        if self.admin == AdminState::Maint {
            return "MAINT".into();
        }
        if !self.checked() || !self.check_enabled {
            return if self.admin == AdminState::Drain {
                "DRAIN".into()
            } else if self.forced_down {
                "DOWN".into()
            } else if self.nolb {
                "NOLB".into()
            } else {
                "no check".into()
            };
        }
        let h = &self.health;
        let base = match (h.is_up(), h.in_transition()) {
            (true, false) => "UP".to_string(),
            (false, false) => "DOWN".to_string(),
            (true, true) => format!("UP {}/{}", h.value() + 1 - h.rise(), h.fall()),
            (false, true) => format!("DOWN {}/{}", h.value(), h.rise()),
        };
        if self.admin == AdminState::Drain && h.is_up() {
            "DRAIN".into()
        } else if self.nolb && base == "UP" {
            "NOLB".into()
        } else {
            base
        }
    }
}

/// A state `set server … health` forces, as HAProxy's CLI does: it holds until the next
/// check results move the server again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForcedHealth {
    /// Fully UP.
    Up,
    /// UP without new traffic (`NOLB`).
    Stopping,
    /// DOWN: a checked server needs `rise` passed checks to come back.
    Down,
}

/// Why a server is being republished.
enum Cause {
    Check { agent: bool, moved: bool },
    Admin,
}

pub struct Table {
    servers: Vec<Record>,
    sink: Sink,
}

impl Table {
    pub fn new(plans: Vec<ServerPlan>, sink: Sink) -> Self {
        let servers = plans
            .into_iter()
            .map(|plan| {
                let mut r = Record {
                    health: Health::starting(plan.rise, plan.fall),
                    admin: if plan.disabled {
                        AdminState::Maint
                    } else {
                        AdminState::Ready
                    },
                    check_enabled: true,
                    agent_down: false,
                    agent_pct: None,
                    nolb: false,
                    forced_down: false,
                    last: None,
                    last_agent: None,
                    checks: 0,
                    failed: 0,
                    downs: 0,
                    last_change: Instant::now(),
                    watch: None,
                    fast: false,
                    told_up: true,
                    told_weight: plan.weight,
                    plan,
                };
                r.told_up = r.up();
                r.told_weight = r.weight();
                r
            })
            .collect();
        Self { servers, sink }
    }

    pub fn len(&self) -> usize {
        self.servers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub fn plan(&self, i: usize) -> &ServerPlan {
        &self.servers[i].plan
    }

    pub fn find(&self, backend: &str, server: &str) -> Option<usize> {
        self.servers
            .iter()
            .position(|r| r.plan.backend == backend && r.plan.server == server)
    }

    /// Whether the health check of `i` runs now: configured, enabled, not in maintenance.
    pub fn check_due(&self, i: usize) -> bool {
        let r = &self.servers[i];
        r.checked() && r.check_enabled && r.admin != AdminState::Maint
    }

    /// The wait before the next health check of `i`.
    pub fn next_interval(&self, i: usize) -> Duration {
        let r = &self.servers[i];
        r.plan.intervals.next_forced(&r.health, r.fast)
    }

    /// The error count of server `i`, when its traffic is observed.
    pub fn watch(&self, i: usize) -> Option<&Arc<Watch>> {
        self.servers[i].watch.as_ref()
    }

    /// Gives server `i` the error count its traffic is observed with.
    pub fn attach_watch(&mut self, i: usize, watch: Arc<Watch>) {
        self.servers[i].watch = Some(watch);
    }

    /// Counts a health check result.
    pub fn record_check(&mut self, i: usize, result: CheckResult) {
        let r = &mut self.servers[i];
        r.checks += 1;
        // `disable-on-404` keeps an UP server up without traffic; it never raises a DOWN one.
        let passed =
            result.status.passed() && (result.status != CheckStatus::L7OkCond || r.health.is_up());
        // As HAProxy's `chkfail`: a failed check counts while it takes health away, not
        // again and again once the server is DOWN.
        if !passed && r.health.value() > 0 {
            r.failed += 1;
        }
        r.nolb = result.status == CheckStatus::L7OkCond;
        r.fast = false;
        if passed {
            // A passed check also clears the errors seen on traffic, as in HAProxy.
            if let Some(w) = &r.watch {
                w.reset();
            }
        }
        let before = r.health;
        r.health.record(passed);
        let moved = before != r.health;
        r.last = Some(result);
        self.publish(
            i,
            Cause::Check {
                agent: false,
                moved,
            },
        );
    }

    /// Applies an agent reply; a failed agent exchange changes nothing (the agent may be
    /// down while the service is fine).
    pub fn record_agent(&mut self, i: usize, reply: Result<(AgentReply, Duration), CheckResult>) {
        let (reply, duration) = match reply {
            Err(r) => {
                self.servers[i].last_agent = Some(r);
                return;
            }
            Ok(x) => x,
        };
        if let Some(a) = reply.admin {
            let admin = match a {
                AgentAdmin::Ready => AdminState::Ready,
                AgentAdmin::Drain => AdminState::Drain,
                AgentAdmin::Maint => AdminState::Maint,
            };
            self.set_admin(i, admin);
        }
        let r = &mut self.servers[i];
        if let Some(p) = reply.weight_pct {
            r.agent_pct = Some(p);
        }
        let mut result = match reply.operational {
            Some(false) => CheckResult::new(CheckStatus::L7Sts)
                .with_info(reply.description.clone().unwrap_or_else(|| "down".into())),
            _ => CheckResult::new(CheckStatus::L7Ok),
        };
        result.duration = duration;
        let moved = match reply.operational {
            Some(is_up) => {
                let was = r.agent_down;
                r.agent_down = !is_up;
                was != r.agent_down
            }
            None => false,
        };
        r.last_agent = Some(result);
        self.publish(i, Cause::Check { agent: true, moved });
    }

    /// Acts on `error-limit` consecutive traffic errors as `on-error` says. Every mode asks
    /// for the next check at `fastinter`; `fail-check` counts one failed check,
    /// `sudden-death` one that leaves the server a single failure from DOWN, and
    /// `mark-down` one that takes it DOWN at once. Checks then bring it back by `rise`.
    pub fn observe_errors(&mut self, i: usize, trigger: &Trigger) {
        let r = &mut self.servers[i];
        r.fast = true;
        let before = r.health;
        match trigger.on_error {
            OnError::FastInter => return,
            OnError::FailCheck => {}
            OnError::SuddenDeath => r.health.sudden_death(),
            OnError::MarkDown => r.health.last_up_step(),
        }
        if r.health.value() > 0 {
            r.failed += 1;
        }
        r.health.record(false);
        let moved = before != r.health;
        r.last = Some(CheckResult::new(CheckStatus::Hana).with_info(trigger.info()));
        self.publish(
            i,
            Cause::Check {
                agent: false,
                moved,
            },
        );
    }

    /// Sets the administrative state. Leaving maintenance starts the health check over
    /// from HAProxy's initial state (UP, down at the first failure).
    pub fn set_admin(&mut self, i: usize, admin: AdminState) {
        let r = &mut self.servers[i];
        let from = r.admin;
        if from == admin {
            return;
        }
        let was_up = r.up();
        r.admin = admin;
        if from == AdminState::Maint {
            r.health = Health::starting(r.plan.rise, r.plan.fall);
        }
        let (be, srv) = (r.plan.backend.clone(), r.plan.server.clone());
        self.emit_event(i, Change::Admin(admin));
        self.publish(i, Cause::Admin);
        let up_now = self.servers[i].up();
        let (act, bck) = self.counts(&be);
        let line = match (from, admin) {
            (_, AdminState::Maint) => (Level::Alert, wording::maint(&be, &srv, was_up, act, bck)),
            (AdminState::Maint, _) => (Level::Notice, wording::leave_maint(&be, &srv, up_now)),
            (_, AdminState::Drain) => (Level::Notice, wording::drain(&be, &srv)),
            (AdminState::Drain, AdminState::Ready) => {
                (Level::Notice, wording::leave_drain(&be, &srv))
            }
            _ => return,
        };
        self.log(&be, line.0, line.1);
        if admin == AdminState::Maint && was_up && act + bck == 0 {
            self.log(&be, Level::Emerg, wording::no_server(&be));
        }
    }

    /// Sets the configured (user) weight; drain and agent scaling still apply on top.
    pub fn set_weight(&mut self, i: usize, weight: u16) {
        self.servers[i].plan.weight = weight;
        self.publish(i, Cause::Admin);
    }

    pub fn set_check_enabled(&mut self, i: usize, on: bool) {
        self.servers[i].check_enabled = on;
        self.publish(i, Cause::Admin);
    }

    /// `set server B/S health up|stopping|down`.
    pub fn force_health(&mut self, i: usize, to: ForcedHealth) {
        let r = &mut self.servers[i];
        match to {
            ForcedHealth::Down => {
                r.health.force_down();
                r.forced_down = !r.checked();
                r.nolb = false;
            }
            ForcedHealth::Up | ForcedHealth::Stopping => {
                r.health.force_up();
                r.forced_down = false;
                r.nolb = to == ForcedHealth::Stopping;
            }
        }
        self.publish(i, Cause::Admin);
    }

    /// `set server B/S agent up|down`; false when the server has no agent.
    pub fn force_agent(&mut self, i: usize, up: bool) -> bool {
        if self.servers[i].plan.agent.is_none() {
            return false;
        }
        self.servers[i].agent_down = !up;
        self.publish(i, Cause::Admin);
        true
    }

    /// `set server B/S addr`: the check (and agent) follow the server's new address where
    /// they have none of their own; `port` replaces the check port unless it has its own.
    pub fn set_addr(&mut self, i: usize, ip: std::net::IpAddr, port: Option<u16>) {
        let plan = &mut self.servers[i].plan;
        let (own_addr, own_port) = (plan.own_check_addr, plan.own_check_port);
        if let Some((_, t)) = &mut plan.check {
            if !own_addr {
                t.addr.set_ip(ip);
            }
            if let Some(p) = port.filter(|_| !own_port) {
                t.addr.set_port(p);
            }
        }
        if let Some(a) = plan.agent.as_mut().filter(|a| !a.own_addr) {
            a.target.addr.set_ip(ip);
        }
    }

    /// `set server B/S check-addr IP [port N]`; false when the server has no health check.
    pub fn set_check_addr(&mut self, i: usize, ip: std::net::IpAddr, port: Option<u16>) -> bool {
        let plan = &mut self.servers[i].plan;
        match &mut plan.check {
            Some((_, t)) => {
                t.addr.set_ip(ip);
                plan.own_check_addr = true;
                if let Some(p) = port {
                    t.addr.set_port(p);
                    plan.own_check_port = true;
                }
                true
            }
            None => false,
        }
    }

    /// `set server B/S agent-addr|agent-port|agent-send`: changes the agent's plan with
    /// `f`; false when the server has no agent check.
    pub fn change_agent(&mut self, i: usize, f: impl FnOnce(&mut crate::plan::AgentPlan)) -> bool {
        match &mut self.servers[i].plan.agent {
            Some(a) => {
                f(a);
                true
            }
            None => false,
        }
    }

    /// `set server B/S check-port N`; false when the server has no health check.
    pub fn set_check_port(&mut self, i: usize, port: u16) -> bool {
        let plan = &mut self.servers[i].plan;
        match &mut plan.check {
            Some((_, t)) => {
                t.addr.set_port(port);
                plan.own_check_port = true;
                true
            }
            None => false,
        }
    }

    /// Whether the check of `i` has a port of its own (`port`, `set server … check-port`).
    pub fn own_check_port(&self, i: usize) -> bool {
        self.servers[i].plan.own_check_port
    }

    /// The address the health check of `i` probes, when it has one.
    pub fn check_target(&self, i: usize) -> Option<crate::probe::Target> {
        self.servers[i].plan.check.as_ref().map(|(_, t)| *t)
    }

    /// Servers of `backend` currently up: (active, backup).
    fn counts(&self, backend: &str) -> (usize, usize) {
        let up = |backup: bool| {
            self.servers
                .iter()
                .filter(|r| r.plan.backend == backend && r.plan.backup == backup && r.up())
                .count()
        };
        (up(false), up(true))
    }

    fn emit_event(&self, i: usize, change: Change) {
        let r = &self.servers[i];
        (self.sink)(Output::Server(ServerEvent {
            backend: r.plan.backend.clone(),
            server: r.plan.server.clone(),
            change,
            decided: Instant::now(),
        }));
    }

    fn log(&self, backend: &str, level: Level, message: String) {
        (self.sink)(Output::Log(LogRecord {
            level,
            backend: backend.to_string(),
            message,
        }));
    }

    /// Tells the workers what changed since they were last told, and logs it.
    fn publish(&mut self, i: usize, cause: Cause) {
        let (up, weight) = (self.servers[i].up(), self.servers[i].weight());
        let (told_up, told_weight) = (self.servers[i].told_up, self.servers[i].told_weight);
        if up != told_up {
            self.emit_event(i, if up { Change::Up } else { Change::Down });
            let r = &mut self.servers[i];
            r.told_up = up;
            r.last_change = Instant::now();
            if !up {
                r.downs += 1;
            }
        }
        if weight != told_weight {
            self.emit_event(i, Change::Weight(weight));
            self.servers[i].told_weight = weight;
        }
        let Cause::Check { agent, moved } = cause else {
            return;
        };
        let r = &self.servers[i];
        let (be, srv) = (r.plan.backend.clone(), r.plan.server.clone());
        let result = if agent { &r.last_agent } else { &r.last };
        let result = result
            .clone()
            .unwrap_or_else(|| CheckResult::new(CheckStatus::Ini));
        if up != told_up {
            let (act, bck) = self.counts(&be);
            if up {
                self.log(
                    &be,
                    Level::Notice,
                    wording::up(&be, &srv, &result, act, bck),
                );
            } else {
                self.log(
                    &be,
                    Level::Alert,
                    wording::down(&be, &srv, &result, act, bck),
                );
                if act + bck == 0 {
                    self.log(&be, Level::Emerg, wording::no_server(&be));
                }
            }
        } else if moved && r.plan.log_checks {
            let progress = r.health.progress();
            self.log(
                &be,
                Level::Notice,
                wording::progress(&be, &srv, &result, &progress, agent),
            );
        }
    }

    pub fn snapshot(&self) -> Vec<ServerSnapshot> {
        self.servers
            .iter()
            .map(|r| ServerSnapshot {
                backend: r.plan.backend.clone(),
                server: r.plan.server.clone(),
                backup: r.plan.backup,
                up: r.up(),
                weight: r.weight(),
                admin: r.admin,
                checked: r.checked(),
                check_enabled: r.check_enabled,
                health: r.health.value(),
                rise: r.health.rise(),
                fall: r.health.fall(),
                status: r.status_text(),
                last_check: r.last.clone(),
                last_agent: r.last_agent.clone(),
                checks: r.checks,
                failed_checks: r.failed,
                downs: r.downs,
                since_change: r.last_change.elapsed(),
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
