//! Frontends as the runtime API changes them: `disable|enable|shutdown frontend` (the state
//! the stats show, told to every worker, which acts on its own sockets) and `set maxconn
//! frontend` (the limit every worker's accept loop already takes from).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringlb_config::Config;

use crate::worker::dispatch::FrontendPlan;
use crate::worker::frontends::FrontendState;
use crate::worker::inbox::{Inboxes, ShardEvent};
use crate::worker::limits::ConnLimit;

/// One running frontend, as the control side holds it.
pub struct FrontendEntry {
    pub name: String,
    /// Its position among the frontends (`FrontendPlan::index`), which names it to workers.
    pub index: usize,
    /// Where its connections go unless a rule says otherwise (`default_backend`, or the
    /// `listen` section itself).
    pub backend: Option<String>,
    state: AtomicU8,
    /// The connection limit every worker takes from.
    pub limit: Arc<ConnLimit>,
}

impl FrontendEntry {
    pub fn state(&self) -> FrontendState {
        match self.state.load(Ordering::Relaxed) {
            0 => FrontendState::Open,
            1 => FrontendState::Paused,
            _ => FrontendState::Stopped,
        }
    }

    fn set_state(&self, s: FrontendState) {
        let v = match s {
            FrontendState::Open => 0,
            FrontendState::Paused => 1,
            FrontendState::Stopped => 2,
        };
        self.state.store(v, Ordering::Relaxed);
    }
}

/// Every running frontend (those not `disabled` in the configuration).
#[derive(Default)]
pub struct Frontends {
    entries: Vec<FrontendEntry>,
}

impl Frontends {
    pub fn new(plans: &[Arc<FrontendPlan>]) -> Self {
        Self {
            entries: plans
                .iter()
                .map(|p| FrontendEntry {
                    name: p.name.clone(),
                    index: p.index,
                    backend: p.backend.clone(),
                    state: AtomicU8::new(0),
                    limit: p.limits.frontend.clone(),
                })
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&FrontendEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The frontend at `index` (`FrontendPlan::index`).
    pub fn at(&self, index: usize) -> Option<&FrontendEntry> {
        self.entries.iter().find(|e| e.index == index)
    }
}

/// The words after `disable|enable|shutdown frontend`, and what the command changes.
enum Lookup<'a> {
    Running(&'a FrontendEntry),
    /// A frontend `disabled` in the configuration: as HAProxy sees it, already shut down.
    ShutDown,
}

fn lookup<'a>(
    config: &Config,
    frontends: &'a Frontends,
    name: Option<&&str>,
) -> Result<Lookup<'a>, String> {
    let name = name.ok_or("A frontend name is expected.\n")?;
    if let Some(e) = frontends.get(name) {
        return Ok(Lookup::Running(e));
    }
    match config.proxy(name) {
        Some(p) if p.kind.has_frontend() => Ok(Lookup::ShutDown),
        _ => Err("No such frontend.\n".into()),
    }
}

/// `disable frontend`, `enable frontend` and `shutdown frontend` (`to`: Paused, Open and
/// Stopped), with HAProxy 2.6's answers.
pub fn set_state(
    config: &Config,
    frontends: &Frontends,
    inboxes: &Inboxes,
    name: Option<&&str>,
    to: FrontendState,
) -> Result<String, String> {
    let e = match lookup(config, frontends, name)? {
        Lookup::Running(e) => e,
        Lookup::ShutDown => return Err(refusal(FrontendState::Stopped, to).into()),
    };
    let from = e.state();
    if from == to || from == FrontendState::Stopped {
        return Err(refusal(from, to).into());
    }
    e.set_state(to);
    inboxes.broadcast_and_wait(
        &ShardEvent::SetFrontendState {
            frontend: e.index,
            state: to,
        },
        Duration::from_secs(2),
    );
    Ok(String::new())
}

/// What HAProxy answers when the frontend is `from` already and cannot become `to`.
fn refusal(from: FrontendState, to: FrontendState) -> &'static str {
    match (from, to) {
        (FrontendState::Stopped, FrontendState::Stopped) => "Frontend was already shut down.\n",
        (FrontendState::Stopped, FrontendState::Paused) => {
            "Frontend was previously shut down, cannot disable.\n"
        }
        (FrontendState::Stopped, _) => "Frontend was previously shut down, cannot enable.\n",
        (_, FrontendState::Paused) => "All sockets are already disabled.\n",
        _ => "All sockets are already enabled.\n",
    }
}

/// `set maxconn frontend NAME N`: new connections wait while the frontend holds N (those
/// above it stay); 0 lifts the frontend's own limit (the process one still holds), shown
/// as 0 as HAProxy does. As HAProxy, a value that is not a number reads as 0.
pub fn set_maxconn(
    config: &Config,
    frontends: &Frontends,
    rest: &[&str],
) -> Result<String, String> {
    let e = match lookup(config, frontends, rest.first())? {
        Lookup::Running(e) => e,
        // Nothing accepts on it: the limit has nothing to apply to.
        Lookup::ShutDown => return Ok(String::new()),
    };
    let v = rest.get(1).ok_or("Integer value expected.\n")?;
    let n = leading_number(v);
    e.limit.set_max(if n == 0 { NO_LIMIT } else { n });
    Ok(String::new())
}

/// The frontend limit `set maxconn frontend NAME 0` leaves: none.
pub const NO_LIMIT: u32 = u32::MAX;

impl FrontendEntry {
    /// The `slim` column: the limit in force, 0 for none.
    pub fn maxconn(&self) -> u32 {
        match self.limit.max() {
            NO_LIMIT => 0,
            n => n,
        }
    }
}

/// `atoi`: the leading digits of `v`, 0 when there are none.
fn leading_number(v: &str) -> u32 {
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or(if digits.is_empty() { 0 } else { u32::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_haproxys_words() {
        use FrontendState::*;
        assert_eq!(
            refusal(Paused, Paused),
            "All sockets are already disabled.\n"
        );
        assert_eq!(refusal(Open, Open), "All sockets are already enabled.\n");
        assert_eq!(
            refusal(Stopped, Stopped),
            "Frontend was already shut down.\n"
        );
        assert_eq!(
            refusal(Stopped, Open),
            "Frontend was previously shut down, cannot enable.\n"
        );
    }

    #[test]
    fn maxconn_values_read_as_atoi() {
        assert_eq!(leading_number("12"), 12);
        assert_eq!(leading_number("abc"), 0);
        assert_eq!(leading_number("7x"), 7);
    }
}
