//! Line framing per log format (RFC 3164 header, RFC 5424, short, raw).

use std::io::Write;

use ringlb_config::model::{Level, LogFormatKind};

use crate::io::localtime::LocalTime;
use crate::log::target::Sink;

/// What every line of this process is signed with.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `log-tag`, else `haproxy` (`log::DEFAULT_TAG`).
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

    use crate::io::localtime::tests::at;

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
