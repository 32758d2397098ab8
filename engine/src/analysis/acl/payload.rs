//! The layer-6 fetches of a `mode tcp` stream read from its buffered request bytes: the TLS
//! ClientHello's type, version and server name, and raw payload slices.
//!
//! Only the fixed-offset record and handshake headers are read here; the ClientHello itself
//! is parsed by rustls. Nothing is terminated: the bytes are forwarded as they came.

use ringlb_config::acl::DataOffset;
use rustls::server::Acceptor;

use crate::stream::inspected::Extract;

/// The 5-byte TLS record header and the 4-byte handshake header after it.
const RECORD_HEADER: usize = 5;
const HANDSHAKE_HEADER: usize = 4;

/// Content types of SSLv3/TLS records (change_cipher_spec, alert, handshake,
/// application_data), and 0xFF, which HAProxy's SSLv3 header test also admits.
fn is_record_type(b: u8) -> bool {
    (0x14..=0x17).contains(&b) || b == 0xFF
}

/// `req.ssl_hello_type`: the handshake type of the first record (1 for a ClientHello),
/// once the whole handshake message is buffered, as HAProxy's `smp_fetch_ssl_hello_type`.
pub fn hello_type(b: &[u8]) -> Extract<i64> {
    let Some(&kind) = b.first() else {
        return Extract::Short;
    };
    if !is_record_type(kind) {
        return Extract::Absent;
    }
    if b.len() < RECORD_HEADER + HANDSHAKE_HEADER {
        return Extract::Short;
    }
    // SSLv3 or later, and a record large enough for a handshake header.
    if b[1] < 3 || u16::from_be_bytes([b[3], b[4]]) < HANDSHAKE_HEADER as u16 {
        return Extract::Absent;
    }
    let len = u32::from_be_bytes([0, b[6], b[7], b[8]]) as usize;
    if b.len() < RECORD_HEADER + HANDSHAKE_HEADER + len {
        return Extract::Short;
    }
    Extract::Found(i64::from(b[5]))
}

/// `req.ssl_ver`: the version a ClientHello offers (`0x30003` for TLS 1.2 and for TLS 1.3,
/// whose hello says 1.2 and lists the real versions in an extension), once the first record
/// is buffered, as HAProxy's `smp_fetch_req_ssl_ver` reads it. SSLv2-format hellos are not
/// recognised.
pub fn ssl_version(b: &[u8]) -> Extract<i64> {
    let Some(&kind) = b.first() else {
        return Extract::Short;
    };
    if !is_record_type(kind) {
        return Extract::Absent;
    }
    // The client_version field sits after the record and handshake headers.
    let at = RECORD_HEADER + HANDSHAKE_HEADER;
    if b.len() < at + 2 {
        return Extract::Short;
    }
    let record_len = usize::from(u16::from_be_bytes([b[3], b[4]]));
    if b[1] < 3 || !(6..=(1 << 14) + 2048).contains(&record_len) {
        return Extract::Absent;
    }
    if b.len() < RECORD_HEADER + record_len {
        return Extract::Short;
    }
    Extract::Found(i64::from(b[at]) << 16 | i64::from(b[at + 1]))
}

/// `req.ssl_sni`: the server name of the ClientHello, lower-cased, once it is whole.
///
/// The headers are checked first so that other protocols are told apart without a parse;
/// rustls's `Acceptor`, fed a copy of the bytes, then reads the hello. It joins a hello
/// fragmented over several records (HAProxy reads the first record only), refuses a
/// malformed or empty name (then there is no value), and gives no name for an IP address.
pub fn server_name(b: &[u8]) -> Extract<Box<str>> {
    match b {
        [] => return Extract::Short,
        [kind, ..] if *kind != 0x16 => return Extract::Absent,
        [_, major, ..] if *major < 3 => return Extract::Absent,
        [_, _, _, _, _, msg, ..] if *msg != 1 => return Extract::Absent,
        _ if b.len() <= RECORD_HEADER => return Extract::Short,
        _ => {}
    }
    let mut acceptor = Acceptor::default();
    let mut rest = b;
    while !rest.is_empty() {
        // rustls buffers at most one 64 KiB handshake message; beyond that it refuses. A
        // read that takes nothing would loop forever, so it ends the parse too.
        if !matches!(acceptor.read_tls(&mut rest), Ok(n) if n > 0) {
            return Extract::Absent;
        }
        match acceptor.accept() {
            Ok(Some(hello)) => {
                return match hello.client_hello().server_name() {
                    Some(name) => Extract::Found(name.into()),
                    None => Extract::Absent,
                }
            }
            Ok(None) => {}
            Err(_) => return Extract::Absent,
        }
    }
    Extract::Short
}

/// `req.payload(OFFSET,LENGTH)`: `length` bytes from `offset`, or all from `offset` when
/// `length` is 0.
pub fn slice(b: &[u8], offset: u32, length: u32) -> Extract<&[u8]> {
    let (offset, length) = (offset as usize, length as usize);
    match offset.checked_add(length) {
        Some(end) if end <= b.len() => {
            Extract::Found(&b[offset..if length == 0 { b.len() } else { end }])
        }
        _ => Extract::Short,
    }
}

/// `req.payload_lv(OFFSET1,LENGTH[,OFFSET2])`: the block sized by the `len_size`-byte
/// big-endian integer at `len_offset`, starting after it or at `data`.
pub fn length_value(
    b: &[u8],
    len_offset: u32,
    len_size: u8,
    data: Option<DataOffset>,
) -> Extract<&[u8]> {
    let field_end = u64::from(len_offset) + u64::from(len_size);
    let Some(field) = b.get(len_offset as usize..field_end as usize) else {
        return Extract::Short;
    };
    let size = field.iter().fold(0u64, |n, &x| n << 8 | u64::from(x));
    if size == 0 {
        return Extract::Absent;
    }
    let start = match data {
        None => field_end as i64,
        Some(DataOffset::Absolute(n)) => i64::from(n),
        Some(DataOffset::Relative(n)) => field_end as i64 + n,
    };
    let Ok(start) = u64::try_from(start) else {
        return Extract::Absent;
    };
    match b.get(start as usize..(start + size) as usize) {
        Some(v) => Extract::Found(v),
        None => Extract::Short,
    }
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
