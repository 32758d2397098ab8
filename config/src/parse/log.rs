//! `log` targets: syslog addresses, facilities, levels and formats, and their names.

use super::{unknown, LineRef};
use crate::diag::Diagnostic;
use crate::model::{Facility, Level, LogFormatKind, LogTarget};
use crate::value;

const FACILITIES: &[(&str, Facility)] = &Facility::NAMES;

pub(crate) const LEVELS: &[(&str, Level)] = &Level::NAMES;

pub(crate) const LOG_FORMATS: &[(&str, LogFormatKind)] = &[
    ("rfc3164", LogFormatKind::Rfc3164),
    ("rfc5424", LogFormatKind::Rfc5424),
    ("raw", LogFormatKind::Raw),
    ("short", LogFormatKind::Short),
];

pub(crate) fn facility_name(f: Facility) -> &'static str {
    FACILITIES
        .iter()
        .find(|(_, x)| *x == f)
        .map(|(n, _)| *n)
        .expect("every facility is listed")
}

pub(crate) fn level_name(l: Level) -> &'static str {
    LEVELS
        .iter()
        .find(|(_, x)| *x == l)
        .map(|(n, _)| *n)
        .expect("every level is listed")
}

/// `log ADDR [len N] [format F] FACILITY [LEVEL [MINLEVEL]]`.
pub(crate) fn log_target(line: &LineRef<'_>, in_proxy: bool) -> Result<LogTarget, Diagnostic> {
    let usage = "ADDRESS [len N] [format F] FACILITY [LEVEL [MINLEVEL]]";
    let first = line.arg(1, "log", usage)?;
    if first == "global" && !in_proxy {
        return Err(line
            .error("'log global' is only meaningful in a proxy section")
            .with_help("in 'global', write: log ADDRESS FACILITY [LEVEL]"));
    }
    let addr = value::log_address(first).map_err(|e| line.invalid("log", e))?;
    let mut len = None;
    let mut format = LogFormatKind::default();
    let mut i = 2;
    loop {
        match line.words.get(i).map(String::as_str) {
            Some("len") => {
                let w = line.arg(i + 1, "log len", "LENGTH")?;
                len = Some(
                    value::bounded(w, "log len", 80, 65535)
                        .map_err(|e| line.invalid("log len", e))? as u32,
                );
                i += 2;
            }
            Some("format") => {
                let w = line.arg(i + 1, "log format", "rfc3164|rfc5424|raw|short")?;
                format = match LOG_FORMATS.iter().find(|(n, _)| *n == w) {
                    Some((_, f)) => *f,
                    None => {
                        return Err(unknown(
                            line,
                            "log format",
                            w,
                            &["rfc3164", "rfc5424", "raw", "short"],
                        ))
                    }
                };
                i += 2;
            }
            _ => break,
        }
    }
    let fac = line.arg(i, "log", usage)?;
    let facility = match FACILITIES.iter().find(|(n, _)| *n == fac) {
        Some((_, f)) => *f,
        None => {
            let names: Vec<&str> = FACILITIES.iter().map(|(n, _)| *n).collect();
            return Err(unknown(line, "log facility", fac, &names));
        }
    };
    let level_at = |j: usize| -> Result<Option<Level>, Diagnostic> {
        match line.words.get(j) {
            None => Ok(None),
            Some(w) => match LEVELS.iter().find(|(n, _)| n == w) {
                Some((_, l)) => Ok(Some(*l)),
                None => {
                    let names: Vec<&str> = LEVELS.iter().map(|(n, _)| *n).collect();
                    Err(unknown(line, "log level", w, &names))
                }
            },
        }
    };
    let level = level_at(i + 1)?;
    let min_level = level_at(i + 2)?;
    line.no_more(i + 2, "log")?;
    Ok(LogTarget::Remote {
        addr,
        len,
        format,
        facility,
        level,
        min_level,
    })
}
