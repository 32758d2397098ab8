//! What a traffic log line says beyond the stream itself: timers, status, bytes, the
//! termination state, connection and queue counts, captured headers.

use std::net::SocketAddr;

use crate::stream::termination::Termination;

use crate::io::localtime::LocalTime;

/// `option httplog`: HAProxy's HTTP log layout, as its manual writes it.
pub const HTTPLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
/// `option httplog clf`: the Common Log Format, then HAProxy's own fields, as haproxy 2.6
/// writes it (`clf_http_log_format`): strings quoted, an absent one as `""`.
pub const CLF_HTTPLOG: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";
/// `option tcplog`.
pub const TCPLOG: &str = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// Milliseconds, or -1 for a step never reached.
pub type Millis = i64;

/// Timers of one request (HTTP) or connection (TCP), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Receiving the request head, from its first byte.
    pub tq: Millis,
    /// Waiting in queues.
    pub tw: Millis,
    /// Getting a server connection.
    pub tc: Millis,
    /// From the request sent to the response head received.
    pub tr: Millis,
    /// From the first request byte to the last response byte.
    pub ta: Millis,
    /// The whole session (TCP) or request (HTTP).
    pub tt: Millis,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            tq: -1,
            tw: -1,
            tc: -1,
            tr: -1,
            ta: -1,
            tt: -1,
        }
    }
}

/// The per-line values a log format may print.
#[derive(Debug, Clone, Default)]
pub struct LogInfo<'a> {
    /// When the connection was accepted (TCP) or the request started (HTTP).
    pub date: LocalTime,
    pub timers: Timers,
    pub status: Option<u16>,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// Bytes received from the client.
    pub bytes_in: u64,
    /// Termination state: who ended the stream, at which step.
    pub state: [u8; 2],
    /// actconn, feconn, beconn, srv_conn, retries.
    pub conns: [u64; 5],
    /// srv_queue, backend_queue.
    pub queues: [u64; 2],
    /// `capture request header` names and lengths, in order.
    pub request_captures: &'a [(String, usize)],
    /// Captured response header values, in `capture response header` order.
    pub response_captures: &'a [Option<Vec<u8>>],
    /// Configured response capture count (their block is printed even when empty).
    pub response_capture_slots: usize,
    /// The request was never read completely: the request line prints `<BADREQ>`.
    pub bad_request: bool,
    /// The server connection's two ends: the server's address (`%si:%sp`) and the local
    /// one it was reached from (`%bi:%bp`); `None` when no connection was made or the
    /// format prints neither.
    pub server_conn: Option<(SocketAddr, SocketAddr)>,
    /// The frontend's line number, from 0 (`%lc`).
    pub log_counter: u64,
}

/// The two-letter termination state: who ended the stream (`C` client, `S` server, `P`
/// proxy, `c`/`s` a client/server timeout, `-` normal end), and at which step (`R` request,
/// `Q` queue, `C` connect, `H` response headers, `D` data, `T` tarpit, `-` none).
pub fn termination_state(t: Termination, phase: u8) -> [u8; 2] {
    let phase = if phase == 0 { b'R' } else { phase };
    match t {
        Termination::Normal | Termination::IdleTimeout => *b"--",
        Termination::ClientTimeout => [b'c', if phase == b'R' { b'R' } else { b'D' }],
        Termination::ClientAborted => [b'C', phase],
        Termination::BadRequest => [b'P', b'R'],
        Termination::Denied => [b'P', if phase == b'T' { b'T' } else { phase }],
        Termination::NoServer => *b"SC",
        Termination::ServerError => [b'S', if phase == b'C' { b'H' } else { phase }],
        // Refused when its head was read, whatever the log's phase moved on to since.
        Termination::BadResponse => *b"PH",
        Termination::ServerTimeout => [b's', phase],
        Termination::Killed => [b'K', phase],
        Termination::ServerRedirect => *b"LC",
    }
}

/// Appends a captured header value with the characters that would break the line's
/// structure (`"`, `#`, `{`, `|`, `}`, control bytes) written as `#XX`.
pub fn escape_capture(v: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in v {
        if !(0x20..0x7f).contains(&b) || matches!(b, b'"' | b'#' | b'{' | b'|' | b'}') {
            out.extend_from_slice(&[b'#', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_layouts_parse() {
        for f in [HTTPLOG, CLF_HTTPLOG, TCPLOG] {
            if let Err(e) = ringlb_config::logformat::LogFormat::parse(f) {
                panic!("{f}: {e}");
            }
        }
    }

    #[test]
    fn termination_states_name_who_and_when() {
        let s = |t, p| String::from_utf8(termination_state(t, p).to_vec()).unwrap();
        assert_eq!(s(Termination::Normal, b'D'), "--");
        assert_eq!(s(Termination::ClientAborted, b'D'), "CD");
        assert_eq!(s(Termination::ClientAborted, b'H'), "CH");
        assert_eq!(s(Termination::ServerTimeout, b'H'), "sH");
        assert_eq!(s(Termination::NoServer, b'C'), "SC");
        assert_eq!(s(Termination::ClientTimeout, b'R'), "cR");
        assert_eq!(s(Termination::Denied, b'R'), "PR");
        assert_eq!(s(Termination::Denied, b'T'), "PT");
        assert_eq!(s(Termination::BadResponse, b'D'), "PH");
    }

    #[test]
    fn captures_escape_line_breaking_characters() {
        let mut out = Vec::new();
        escape_capture(b"a|b\"c\n", &mut out);
        assert_eq!(out, b"a#7Cb#22c#0A");
    }
}
