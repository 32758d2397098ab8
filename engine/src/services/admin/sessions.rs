//! `show sess`, `shutdown session` and `shutdown sessions server`: the workers' client
//! connections and server connections, gathered or ended through their inboxes (workers
//! share nothing, so each answers for its own).

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Duration;

use crate::io::transport::UNIX_PEER;
use crate::services::admin::Runtime;
use crate::worker::inbox::ShardEvent;
use crate::worker::streams::{StreamInfo, Streams};

/// How long a command waits for the workers' answers.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// `show sess`: one line per client connection, HAProxy's leading fields in its order.
/// `be` is the frontend's default backend (the `listen` itself); the server a request
/// uses is not tracked per connection, so `srv` is `<none>` as for a stream not assigned.
pub fn show_sess(rt: &Runtime) -> String {
    let (tx, rx) = crossbeam_channel::unbounded();
    rt.inboxes
        .broadcast(&ShardEvent::ShowSessions { reply: tx });
    let mut all: Vec<StreamInfo> = Vec::new();
    for _ in 0..rt.inboxes.len() {
        match rx.recv_timeout(ANSWER_WITHIN) {
            Ok(list) => all.extend(list),
            Err(_) => break,
        }
    }
    all.sort_by_key(|s| s.id);
    let mut out = String::new();
    for s in &all {
        let fe = rt.frontends.at(s.frontend);
        let _ = writeln!(
            out,
            "0x{:x}: proto={} src={} fe={} be={} srv=<none> ts=00 age={} scf=[fd={}]",
            s.id,
            proto(s.peer),
            src(s.peer),
            fe.map_or("<NONE>", |f| f.name.as_str()),
            fe.and_then(|f| f.backend.as_deref()).unwrap_or("<NONE>"),
            human_time(s.age),
            s.fd,
        );
    }
    out
}

fn proto(peer: SocketAddr) -> &'static str {
    match peer {
        p if p == UNIX_PEER => "unix_stream",
        SocketAddr::V4(_) => "tcpv4",
        SocketAddr::V6(_) => "tcpv6",
    }
}

fn src(peer: SocketAddr) -> String {
    if peer == UNIX_PEER {
        "unix:1".into()
    } else {
        peer.to_string()
    }
}

/// HAProxy's `human_time`: the two largest units, `1d2h`, `3h4m`, `5m6s`, `7s`.
fn human_time(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d{hours}h")
    } else if hours > 0 {
        format!("{hours}h{mins}m")
    } else if mins > 0 {
        format!("{mins}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// `strtoul(…, 0)`: `0x` hex, a leading `0` octal, else decimal; 0 when unreadable.
fn session_id(word: &str) -> u64 {
    let parsed = if let Some(h) = word.strip_prefix("0x").or(word.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else if word.len() > 1 && word.starts_with('0') {
        u64::from_str_radix(&word[1..], 8)
    } else {
        word.parse()
    };
    parsed.unwrap_or(0)
}

/// `shutdown session ID`, with an ID from `show sess`.
pub fn shutdown_session(rt: &Runtime, rest: &[&str]) -> Result<String, String> {
    let id = rest.first().map_or(0, |w| session_id(w));
    if id == 0 {
        return Err("Session pointer expected (use 'show sess').\n".into());
    }
    let not_found = || "No such session (use 'show sess').\n".to_string();
    let worker = Streams::worker_of(id).ok_or_else(not_found)?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    if !rt
        .inboxes
        .send_to(worker, ShardEvent::ShutdownSession { id, reply: tx })
    {
        return Err(not_found());
    }
    match rx.recv_timeout(ANSWER_WITHIN) {
        Ok(true) => Ok(String::new()),
        _ => Err(not_found()),
    }
}

/// `shutdown sessions server B/S`: every worker ends the connections its requests hold to
/// the server.
pub fn shutdown_server_sessions(rt: &Runtime, rest: &[&str]) -> Result<String, String> {
    let t = rest.first().ok_or("Require 'backend/server'.\n")?;
    let (b, s) = t.split_once('/').ok_or("Require 'backend/server'.\n")?;
    rt.servers
        .server(b, s)
        .map_err(super::commands::state_error)?;
    rt.inboxes.broadcast_and_wait(
        &ShardEvent::ShutdownServerSessions {
            backend: b.into(),
            server: s.into(),
        },
        ANSWER_WITHIN,
    );
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_as_strtoul_and_ages_as_haproxys() {
        assert_eq!(session_id("0x10000000001"), 0x100_0000_0001);
        assert_eq!(session_id("12"), 12);
        assert_eq!(session_id("zz"), 0);
        assert_eq!(human_time(Duration::from_secs(7)), "7s");
        assert_eq!(human_time(Duration::from_secs(65)), "1m5s");
        assert_eq!(human_time(Duration::from_secs(3 * 3600 + 120)), "3h2m");
    }
}
