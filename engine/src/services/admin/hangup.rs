//! SIGHUP's dump of every proxy's and server's state and connection counts, written as
//! haproxy 2.6 writes it: to stderr, and per proxy to the log targets.

use ringlb_checks::{Level, LogRecord};

use crate::log::Hub;
use crate::services::admin::Runtime;
use crate::services::health::stderr_line;
use crate::services::stats::view::{ProxyView, Row};

/// One proxy's part of the dump: its servers' lines, then its own.
fn proxy_lines(v: &ProxyView) -> Vec<String> {
    let count = |r: Option<&Row>| r.map_or(0, |r| r.scur);
    let total = |r: Option<&Row>| r.map_or(0, |r| r.stot);
    let unassigned = v.backend.as_ref().and_then(|b| b.qcur).unwrap_or(0);
    let pending = unassigned + v.servers.iter().filter_map(|s| s.qcur).sum::<u64>();
    let mut lines: Vec<String> = v
        .servers
        .iter()
        .map(|s| {
            let state = if s.status.is_up() { "UP" } else { "DOWN" };
            format!(
                "SIGHUP: Server {}/{} is {state}. Conn: {} act, {} pend, {} tot.",
                v.name,
                s.svname,
                s.scur,
                s.qcur.unwrap_or(0),
                s.stot
            )
        })
        .collect();
    let (fe, be) = (v.frontend.as_ref(), v.backend.as_ref());
    let usable = |f: fn(&Row) -> Option<u64>| {
        v.servers
            .iter()
            .filter(|s| s.status.is_up() && f(s) == Some(1))
            .count()
    };
    let (active, backup) = (usable(|s| s.act), usable(|s| s.bck));
    let servers = if v.servers.is_empty() {
        "has no servers.".to_string()
    } else if active + backup == 0 {
        "has no server available !".to_string()
    } else {
        format!("has {active} active servers and {backup} backup servers available.")
    };
    lines.push(format!(
        "SIGHUP: Proxy {} {servers} Conn: act(FE+BE): {}+{}, {pending} pend ({unassigned} unass), tot(FE+BE): {}+{}.",
        v.name,
        count(fe),
        count(be),
        total(fe),
        total(be)
    ));
    lines
}

/// Writes the dump: stderr gets one heading and every line (`[WARNING]  (PID) : …`), the
/// log targets get each proxy's lines behind a heading naming it, at level notice.
pub fn dump_server_states(rt: &Runtime, hub: &Hub) {
    let pid = std::process::id();
    let line = |message: String| LogRecord {
        level: Level::Notice,
        backend: String::new(),
        message,
    };
    eprintln!(
        "{}",
        stderr_line(
            &line("SIGHUP received, dumping servers states.".into()),
            pid
        )
    );
    for v in rt.proxies(&[]) {
        let lines = proxy_lines(&v);
        if hub.has_targets() {
            let heading = format!(
                "SIGHUP received, dumping servers states for proxy {}.",
                v.name
            );
            hub.emit(Level::Notice, &heading);
        }
        for l in lines {
            eprintln!("{}", stderr_line(&line(l.clone()), pid));
            if hub.has_targets() {
                hub.emit(Level::Notice, &l);
            }
        }
    }
}
