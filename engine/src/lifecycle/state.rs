//! Server state that outlives a process: whether each server is up and its current
//! weight, keyed by backend and server name, read from the workers of the old process and
//! applied by the new one before it accepts (HAProxy's `server-state-file` in spirit).
//!
//! Today the run-time changes are `ShardEvent::SetServerState` and `SetWeight`. Whatever
//! later changes a server at run time (health checks, the runtime socket's maint/drain)
//! only has to be visible in `BackendTable`: [`collect`] reads it from there, and a new
//! field travels by adding it to [`ServerState`]'s line.

use std::io;
use std::path::Path;

use crate::shard::inbox::ShardEvent;
use crate::shard::worker::Worker;

/// One server's run-time state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub backend: String,
    pub server: String,
    pub up: bool,
    pub weight: u16,
}

impl ServerState {
    /// `server BACKEND SERVER up|down WEIGHT` (names never hold blanks).
    pub fn to_line(&self) -> String {
        format!(
            "server {} {} {} {}",
            self.backend,
            self.server,
            if self.up { "up" } else { "down" },
            self.weight
        )
    }

    pub fn from_line(line: &str) -> Option<Self> {
        let mut w = line.split_whitespace();
        if w.next()? != "server" {
            return None;
        }
        let backend = w.next()?.to_string();
        let server = w.next()?.to_string();
        let up = match w.next()? {
            "up" => true,
            "down" => false,
            _ => return None,
        };
        let weight = w.next()?.parse().ok()?;
        if w.next().is_some() {
            return None;
        }
        Some(Self {
            backend,
            server,
            up,
            weight,
        })
    }

    /// The events that put a freshly started worker's server in this state.
    pub fn events(&self) -> [ShardEvent; 2] {
        [
            ShardEvent::SetServerState {
                backend: self.backend.clone(),
                server: self.server.clone(),
                up: self.up,
            },
            ShardEvent::SetWeight {
                backend: self.backend.clone(),
                server: self.server.clone(),
                weight: self.weight,
            },
        ]
    }
}

/// The state of every server as `worker` sees it. Every worker receives the same events,
/// so one worker's view is the process's.
pub fn collect(worker: &Worker) -> Vec<ServerState> {
    let mut out = Vec::new();
    let mut names: Vec<&String> = worker.backends.keys().collect();
    names.sort();
    for name in names {
        let table = &worker.backends[name];
        for i in 0..table.server_count() {
            let id = crate::backend::ServerId(i);
            out.push(ServerState {
                backend: name.clone(),
                server: table.server_name(id).to_string(),
                up: table.is_up(id),
                weight: table.weight(id),
            });
        }
    }
    out
}

/// Reads a state file: one `server …` line per server; blank lines and `#` comments skipped.
pub fn read_file(path: &Path) -> io::Result<Vec<ServerState>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(ServerState::from_line(line).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}:{}: expected 'server BACKEND SERVER up|down WEIGHT'",
                    path.display(),
                    n + 1
                ),
            )
        })?);
    }
    Ok(out)
}

/// Writes a state file `read_file` reads back (through a temporary file, so a reader never
/// sees half of it).
pub fn write_file(path: &Path, states: &[ServerState]) -> io::Result<()> {
    let mut text = String::from("# ringlb server state: server BACKEND SERVER up|down WEIGHT\n");
    for s in states {
        text.push_str(&s.to_line());
        text.push('\n');
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_line_reads_back_as_written() {
        let s = ServerState {
            backend: "web".into(),
            server: "s2".into(),
            up: false,
            weight: 30,
        };
        assert_eq!(s.to_line(), "server web s2 down 30");
        assert_eq!(ServerState::from_line(&s.to_line()), Some(s));
        assert_eq!(ServerState::from_line("server web s2 maybe 3"), None);
        assert_eq!(ServerState::from_line("server web s2 up 3 extra"), None);
    }

    #[test]
    fn a_state_file_names_the_bad_line() {
        let dir = std::env::temp_dir().join(format!("ringlb-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        std::fs::write(&path, "# c\n\nserver a b up 1\nserver a\n").unwrap();
        let err = read_file(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("state:4: expected 'server BACKEND SERVER up|down WEIGHT'"),
            "{err}"
        );
        let states = vec![ServerState {
            backend: "a".into(),
            server: "b".into(),
            up: true,
            weight: 1,
        }];
        write_file(&path, &states).unwrap();
        assert_eq!(read_file(&path).unwrap(), states);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
