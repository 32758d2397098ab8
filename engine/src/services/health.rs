//! Health checks in the engine: starts the checker when a server asks for it, hands each
//! of its server events to every worker as a `ShardEvent`, writes its log lines, and gives
//! observed servers (`observe`) the counts their traffic reports to.

use std::io;
use std::sync::Arc;

use ringlb_checks::{Change, CheckerHandle, Level, LogRecord, Output, ServerEvent, Watches};
use ringlb_config::Config;

use crate::backend::ResolvedBackend;
use crate::log::Hub;
use crate::worker::inbox::{Inboxes, ShardEvent};

/// What the workers must do for `event`. An administrative change needs nothing of its own:
/// the up/down and weight changes it implies arrive as their own events.
///
/// A server going DOWN (failed checks, its agent, or maintenance) leaves every worker's
/// rotation at once and its idle connections are closed; each worker also ends, on its own,
/// the sessions `on-marked-down shutdown-sessions` and `on-marked-up
/// shutdown-backup-sessions` ask it to (`BackendTable::set_server_state`).
pub fn shard_event(event: &ServerEvent) -> Option<ShardEvent> {
    let (backend, server) = (event.backend.clone(), event.server.clone());
    match event.change {
        Change::Up | Change::Down => Some(ShardEvent::SetServerState {
            backend,
            server,
            up: event.change == Change::Up,
        }),
        Change::Weight(weight) => Some(ShardEvent::SetWeight {
            backend,
            server,
            weight,
        }),
        Change::Admin(_) => None,
    }
}

/// Sends `event` to every worker.
pub fn deliver(inboxes: &Inboxes, event: &ServerEvent) {
    if let Some(ev) = shard_event(event) {
        inboxes.broadcast(&ev);
    }
}

/// Writes one checker log line: to stderr in HAProxy's foreground format
/// (`[WARNING]  (PID) : Server web/web1 is DOWN, …`), and to the global log targets when
/// there are any, as HAProxy sends them to syslog too.
pub fn write_log(record: &LogRecord, hub: &Hub) {
    eprintln!("{}", stderr_line(record, std::process::id()));
    if hub.has_targets() {
        hub.emit(record.level, &record.message);
    }
}

/// HAProxy's stderr prefix: state changes are warnings, a backend left without any server
/// is an alert, routine check results are notices.
pub fn stderr_line(record: &LogRecord, pid: u32) -> String {
    let tag = match record.level {
        Level::Emerg | Level::Crit => "[ALERT]   ",
        Level::Alert | Level::Err | Level::Warning | Level::Notice => "[WARNING] ",
        Level::Info | Level::Debug => "[NOTICE]  ",
    };
    format!("{tag} ({pid}) : {}", record.message)
}

/// Gives every observed server its error count, before the workers build their tables
/// from `backends`; the same `watches` go to [`start`].
pub fn attach_watches(backends: &mut [ResolvedBackend], watches: &Watches) {
    for b in backends {
        for s in &mut b.servers {
            s.observe = watches.get(&b.name, &s.name);
        }
    }
}

/// Starts the checker, idle when no server has `check` or `agent-check` (it is then only
/// the home of admin states and weights, see `admin::state`); its events go to every
/// worker's inbox as they are decided, and up/down changes count in `downtime`. It acts on
/// the triggers of `watches` as the workers send them.
pub fn start(
    config: &Config,
    watches: &Watches,
    inboxes: Arc<Inboxes>,
    hub: Arc<Hub>,
    downtime: Arc<crate::services::admin::state::Downtime>,
) -> io::Result<CheckerHandle> {
    ringlb_checks::start_observed(
        config,
        Arc::new(move |out| match out {
            Output::Server(ev) => {
                downtime.record(&ev);
                deliver(&inboxes, &ev)
            }
            Output::Log(rec) => write_log(&rec, &hub),
        }),
        watches,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn down_line_has_haproxys_stderr_prefix() {
        let rec = LogRecord {
            level: Level::Alert,
            backend: "web".into(),
            message: "Server web/web1 is DOWN".into(),
        };
        assert_eq!(
            stderr_line(&rec, 42),
            "[WARNING]  (42) : Server web/web1 is DOWN"
        );
        let rec = LogRecord {
            level: Level::Emerg,
            ..rec
        };
        assert!(stderr_line(&rec, 42).starts_with("[ALERT]    (42) : "));
    }

    #[test]
    fn up_down_and_weight_become_worker_events() {
        let ev = |change| ServerEvent {
            backend: "web".into(),
            server: "web1".into(),
            change,
            decided: Instant::now(),
        };
        assert!(matches!(
            shard_event(&ev(Change::Down)),
            Some(ShardEvent::SetServerState { up: false, .. })
        ));
        assert!(matches!(
            shard_event(&ev(Change::Weight(7))),
            Some(ShardEvent::SetWeight { weight: 7, .. })
        ));
        assert!(shard_event(&ev(Change::Admin(ringlb_checks::AdminState::Drain))).is_none());
    }
}
