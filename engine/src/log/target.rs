//! Log targets resolved from the configuration: where a line goes, in which framing, and
//! which severities it accepts (`log ADDR [len N] [format F] FACILITY [LEVEL [MINLEVEL]]`).

use std::net::SocketAddr;
use std::path::PathBuf;

use ringlb_config::model::{Facility, Level, LogAddress, LogFormatKind, LogTarget};

/// Where lines are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Udp(SocketAddr),
    Unix(PathBuf),
    Stdout,
    Stderr,
}

/// One resolved `log` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    pub dest: Dest,
    pub format: LogFormatKind,
    pub facility: Facility,
    /// The least severe level sent; `debug` (everything) when not given.
    pub level: Level,
    /// Messages less severe than this are sent as this level.
    pub min_level: Option<Level>,
    /// The longest line sent, framing included; longer ones are truncated.
    pub len: usize,
}

/// HAProxy's default line length.
pub const DEFAULT_LEN: usize = 1024;

impl Sink {
    /// The severity a message of `level` is sent with, or `None` when it is filtered out.
    pub fn severity(&self, level: Level) -> Option<Level> {
        if level > self.level {
            return None;
        }
        Some(match self.min_level {
            Some(min) if level > min => min,
            _ => level,
        })
    }

    /// The syslog priority value: facility × 8 + severity.
    pub fn pri(&self, severity: Level) -> u8 {
        self.facility.code() * 8 + severity as u8
    }
}

/// The sinks of a proxy's `log` lines, `log global` replaced by the global section's.
pub fn resolve(targets: &[LogTarget], global: &[LogTarget]) -> Vec<Sink> {
    let mut out = Vec::new();
    for t in targets {
        match t {
            LogTarget::Global => out.extend(resolve(global, &[])),
            LogTarget::Remote {
                addr,
                len,
                format,
                facility,
                level,
                min_level,
            } => out.push(Sink {
                dest: match addr {
                    LogAddress::Udp(a) => Dest::Udp(*a),
                    LogAddress::Unix(p) => Dest::Unix(p.clone()),
                    LogAddress::Stdout => Dest::Stdout,
                    LogAddress::Stderr => Dest::Stderr,
                },
                format: *format,
                facility: *facility,
                level: level.unwrap_or(Level::Debug),
                min_level: *min_level,
                len: len.map_or(DEFAULT_LEN, |n| n as usize),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(level: Level, min: Option<Level>) -> Sink {
        Sink {
            dest: Dest::Stdout,
            format: LogFormatKind::Rfc3164,
            facility: Facility::Local3,
            level,
            min_level: min,
            len: DEFAULT_LEN,
        }
    }

    #[test]
    fn level_filters_and_minlevel_raises_severity() {
        let s = sink(Level::Info, Some(Level::Notice));
        assert_eq!(s.severity(Level::Debug), None);
        assert_eq!(s.severity(Level::Info), Some(Level::Notice));
        assert_eq!(s.severity(Level::Err), Some(Level::Err));
        assert_eq!(s.pri(Level::Info), 158, "local3.info is 19*8+6");
    }

    #[test]
    fn log_global_expands_to_the_global_targets() {
        let remote = LogTarget::Remote {
            addr: LogAddress::Udp("127.0.0.1:514".parse().unwrap()),
            len: Some(200),
            format: LogFormatKind::Rfc3164,
            facility: Facility::Local0,
            level: None,
            min_level: None,
        };
        let sinks = resolve(&[LogTarget::Global, LogTarget::Global], &[remote]);
        assert_eq!(sinks.len(), 2);
        assert_eq!(sinks[0].len, 200);
        assert_eq!(sinks[0].level, Level::Debug);
    }
}
