//! `log` targets, their formats, facilities and levels.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// `log global`: use the global section's targets.
    Global,
    /// `log ADDR [len N] [format F] FACILITY [LEVEL [MINLEVEL]]`.
    Remote {
        addr: LogAddress,
        len: Option<u32>,
        format: LogFormatKind,
        facility: Facility,
        level: Option<Level>,
        min_level: Option<Level>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogAddress {
    Udp(SocketAddr),
    Unix(PathBuf),
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormatKind {
    #[default]
    Rfc3164,
    Rfc5424,
    Raw,
    Short,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Auth2,
    Ftp,
    Ntp,
    Audit,
    Alert,
    Cron2,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// Every facility with its configuration name, in syslog code order (RFC 3164): a
    /// facility's position here is its numeric code.
    pub const NAMES: [(&'static str, Facility); 24] = [
        ("kern", Facility::Kern),
        ("user", Facility::User),
        ("mail", Facility::Mail),
        ("daemon", Facility::Daemon),
        ("auth", Facility::Auth),
        ("syslog", Facility::Syslog),
        ("lpr", Facility::Lpr),
        ("news", Facility::News),
        ("uucp", Facility::Uucp),
        ("cron", Facility::Cron),
        ("auth2", Facility::Auth2),
        ("ftp", Facility::Ftp),
        ("ntp", Facility::Ntp),
        ("audit", Facility::Audit),
        ("alert", Facility::Alert),
        ("cron2", Facility::Cron2),
        ("local0", Facility::Local0),
        ("local1", Facility::Local1),
        ("local2", Facility::Local2),
        ("local3", Facility::Local3),
        ("local4", Facility::Local4),
        ("local5", Facility::Local5),
        ("local6", Facility::Local6),
        ("local7", Facility::Local7),
    ];

    /// The numeric syslog code (`kern` 0 … `local7` 23).
    pub fn code(self) -> u8 {
        Self::NAMES
            .iter()
            .position(|&(_, f)| f == self)
            .expect("every facility is listed") as u8
    }
}

/// Syslog severity, ordered from most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Emerg,
    Alert,
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

impl Level {
    /// Every level with its configuration name, most severe first.
    pub const NAMES: [(&'static str, Level); 8] = [
        ("emerg", Level::Emerg),
        ("alert", Level::Alert),
        ("crit", Level::Crit),
        ("err", Level::Err),
        ("warning", Level::Warning),
        ("notice", Level::Notice),
        ("info", Level::Info),
        ("debug", Level::Debug),
    ];
}
