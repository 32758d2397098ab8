//! Local-time dates for logs: broken down once per second with `localtime_r` and reused
//! for every line of that second.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

pub const MONTHS: [&str; 12] = [
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

    /// `06/Feb/2009:11:14:14 +0000`: the same instant in GMT (`%T`, `%trg`).
    pub fn write_gmt_date(&self, out: &mut Vec<u8>) {
        let secs = self.unix_secs();
        // SAFETY: `tm` is plain data written by gmtime_r; both pointers are valid.
        let tm = unsafe {
            let t: libc::time_t = secs as libc::time_t;
            let mut tm: libc::tm = std::mem::zeroed();
            libc::gmtime_r(&t, &mut tm);
            tm
        };
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
            tm.tm_mday,
            MONTHS[tm.tm_mon.clamp(0, 11) as usize],
            tm.tm_year + 1900,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        );
    }

    /// `06/Feb/2009:12:14:14 +0100`: local time with its offset (`%trl`).
    pub fn write_local_date(&self, out: &mut Vec<u8>) {
        self.write_log_date(out, false);
        let off = self.offset.abs();
        let _ = write!(
            out,
            " {}{:02}{:02}",
            if self.offset < 0 { '-' } else { '+' },
            off / 3600,
            off / 60 % 60
        );
    }

    /// The Unix time of this date's second.
    fn unix_secs(&self) -> i64 {
        // SAFETY: timegm reads the broken-down time we fill; it is UTC arithmetic only.
        let as_utc = unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            tm.tm_year = self.year - 1900;
            tm.tm_mon = i32::from(self.month);
            tm.tm_mday = i32::from(self.day);
            tm.tm_hour = i32::from(self.hour);
            tm.tm_min = i32::from(self.min);
            tm.tm_sec = i32::from(self.sec);
            libc::timegm(&mut tm) as i64
        };
        as_utc - i64::from(self.offset)
    }

    /// `Feb  6 12:14:14`, the RFC 3164 timestamp (day padded with a space).
    pub(crate) fn write_rfc3164(&self, out: &mut Vec<u8>) {
        let _ = write!(
            out,
            "{} {:>2} {:02}:{:02}:{:02}",
            MONTHS[self.month as usize], self.day, self.hour, self.min, self.sec
        );
    }

    pub(crate) fn write_rfc5424(&self, out: &mut Vec<u8>) {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// 06/Feb/2009 12:14:14.655 at UTC+1 (the log tests' instant too).
    pub(crate) fn at() -> LocalTime {
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
    fn gmt_date_is_the_same_instant_at_offset_zero() {
        let mut out = Vec::new();
        at().write_gmt_date(&mut out);
        assert_eq!(out, b"06/Feb/2009:11:14:14 +0000");
        let mut out = Vec::new();
        LocalTime { hour: 0, ..at() }.write_gmt_date(&mut out);
        assert_eq!(out, b"05/Feb/2009:23:14:14 +0000", "the day before");
    }

    #[test]
    fn local_date_carries_its_offset() {
        let mut out = Vec::new();
        at().write_local_date(&mut out);
        assert_eq!(out, b"06/Feb/2009:12:14:14 +0100");
        let mut out = Vec::new();
        LocalTime {
            offset: -(5 * 3600 + 1800),
            ..at()
        }
        .write_local_date(&mut out);
        assert_eq!(out, b"06/Feb/2009:12:14:14 -0530");
    }
}
