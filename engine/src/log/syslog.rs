//! Line framing per log format (RFC 3164 header, RFC 5424, short, raw) and the local-time
//! dates logs carry, converted once per second and reused.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use ringlb_config::model::{Level, LogFormatKind};

use crate::log::target::Sink;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down local time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 0..=11
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub min: u8,
    pub sec: u8,
    pub millis: u16,
    /// Offset from UTC in seconds.
    pub offset: i32,
}

/// Converts to local time, remembering the last second converted: lines of one second share
/// one `localtime_r` call.
#[derive(Debug, Default)]
pub struct Dates {
    last: Option<(i64, LocalTime)>,
}

impl Dates {
    pub fn local(&mut self, t: SystemTime) -> LocalTime {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs() as i64;
        let millis = d.subsec_millis() as u16;
        if let Some((s, lt)) = self.last {
            if s == secs {
                return LocalTime { millis, ..lt };
            }
        }
        let lt = to_local(secs);
        self.last = Some((secs, lt));
        LocalTime { millis, ..lt }
    }
}

fn to_local(secs: i64) -> LocalTime {
    // SAFETY: `tm` is plain data written by localtime_r; both pointers are valid.
    let tm = unsafe {
        let t: libc::time_t = secs as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    LocalTime {
        year: tm.tm_year + 1900,
        month: tm.tm_mon.clamp(0, 11) as u8,
        day: tm.tm_mday as u8,
        hour: tm.tm_hour as u8,
        min: tm.tm_min as u8,
        sec: tm.tm_sec as u8,
        millis: 0,
        offset: tm.tm_gmtoff as i32,
    }
}

impl LocalTime {
    /// `06/Feb/2009:12:14:14.655`, the accept date of HTTP and TCP logs.
    pub fn write_log_date(&self, out: &mut Vec<u8>, millis: bool) {
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02}",
            self.day, MONTHS[self.month as usize], self.year, self.hour, self.min, self.sec
        );
        if millis {
            let _ = write!(out, ".{:03}", self.millis);
        }
    }

    /// `Feb  6 12:14:14`, the RFC 3164 timestamp (day padded with a space).
    fn write_rfc3164(&self, out: &mut Vec<u8>) {
        let _ = write!(
            out,
            "{} {:>2} {:02}:{:02}:{:02}",
            MONTHS[self.month as usize], self.day, self.hour, self.min, self.sec
        );
    }

    fn write_rfc5424(&self, out: &mut Vec<u8>) {
        let off = self.offset.abs();
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{}{:02}:{:02}",
            self.year,
            self.month + 1,
            self.day,
            self.hour,
            self.min,
            self.sec,
            self.millis,
            if self.offset < 0 { '-' } else { '+' },
            off / 3600,
            off / 60 % 60
        );
    }
}

/// What every line of this process is signed with.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `log-tag`, else the program name.
    pub tag: String,
    pub pid: u32,
}

/// Writes `msg` framed for `sink` at `severity` into `out` (cleared first), truncated to the
/// sink's length. Stream targets (stdout, stderr) get a final newline.
pub fn frame(
    out: &mut Vec<u8>,
    sink: &Sink,
    severity: Level,
    id: &Identity,
    now: &LocalTime,
    msg: &[u8],
) {
    out.clear();
    match sink.format {
        LogFormatKind::Rfc3164 => {
            let _ = write!(out, "<{}>", sink.pri(severity));
            now.write_rfc3164(out);
            let _ = write!(out, " {}[{}]: ", id.tag, id.pid);
        }
        LogFormatKind::Rfc5424 => {
            let _ = write!(out, "<{}>1 ", sink.pri(severity));
            now.write_rfc5424(out);
            let _ = write!(out, " - {} {} - - ", id.tag, id.pid);
        }
        LogFormatKind::Short => {
            let _ = write!(out, "<{}>", severity as u8);
        }
        LogFormatKind::Raw => {}
    }
    out.extend_from_slice(msg);
    out.truncate(sink.len);
    if matches!(
        sink.dest,
        crate::log::target::Dest::Stdout | crate::log::target::Dest::Stderr
    ) {
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::target::{Dest, DEFAULT_LEN};
    use ringlb_config::model::Facility;

    fn sink(format: LogFormatKind, len: usize) -> Sink {
        Sink {
            dest: Dest::Udp("127.0.0.1:514".parse().unwrap()),
            format,
            facility: Facility::Local3,
            level: Level::Debug,
            min_level: None,
            len,
        }
    }

    fn at() -> LocalTime {
        LocalTime {
            year: 2009,
            month: 1,
            day: 6,
            hour: 12,
            min: 14,
            sec: 14,
            millis: 655,
            offset: 3600,
        }
    }

    #[test]
    fn rfc3164_header_carries_pri_date_tag_and_pid() {
        let id = Identity {
            tag: "ringlb".into(),
            pid: 42,
        };
        let mut out = Vec::new();
        frame(
            &mut out,
            &sink(LogFormatKind::Rfc3164, DEFAULT_LEN),
            Level::Info,
            &id,
            &at(),
            b"hello",
        );
        assert_eq!(out, b"<158>Feb  6 12:14:14 ringlb[42]: hello");
        frame(
            &mut out,
            &sink(LogFormatKind::Raw, 3),
            Level::Info,
            &id,
            &at(),
            b"hello",
        );
        assert_eq!(out, b"hel", "truncated to len");
        frame(
            &mut out,
            &sink(LogFormatKind::Rfc5424, DEFAULT_LEN),
            Level::Err,
            &id,
            &at(),
            b"x",
        );
        assert_eq!(
            out,
            b"<155>1 2009-02-06T12:14:14.655+01:00 - ringlb 42 - - x"
        );
    }

    #[test]
    fn log_date_has_milliseconds() {
        let mut out = Vec::new();
        at().write_log_date(&mut out, true);
        assert_eq!(out, b"06/Feb/2009:12:14:14.655");
    }
}
