//! The request's unique ID (`unique-id-format`, `unique-id-header`, `%ID`, the `unique-id`
//! fetch) and the log-format values it is usually built from: the request counter `%rt`,
//! the start timestamp `%Ts`, and numbers and addresses in hexadecimal (`+X`).
//!
//! Frontends without `unique-id-format` pay nothing: no ID is built and the stream's store
//! stays empty. The counter behind `%rt` is one process-wide atomic, touched only by
//! requests whose format or log line asks for `%rt`.

use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use ringlb_config::logformat::{LogAlias, LogFlag, LogFlagKind, LogFormat};
use ringlb_config::model::Proxy;

use crate::analysis::acl::fetch::unmap;
use crate::codec::edits::HeadEdits;
use crate::stream::txn::Txn;

/// A frontend's `unique-id-format` and `unique-id-header`.
#[derive(Debug, Clone)]
pub struct UniqueId {
    format: LogFormat,
    header: Option<Vec<u8>>,
}

impl UniqueId {
    /// `None` for a proxy without `unique-id-format`.
    pub fn from_proxy(p: &Proxy) -> Option<Self> {
        Some(UniqueId {
            format: p.unique_id_format.clone()?,
            header: p.unique_id_header.as_ref().map(|h| h.as_bytes().to_vec()),
        })
    }

    /// Builds the ID of the request in `txn`, keeps it on the stream for `%ID` and the
    /// `unique-id` fetch, and adds the header to the request sent to the server.
    pub fn assign(&self, txn: &Txn<'_>, edits: &mut HeadEdits) {
        let Some(vars) = txn.vars else {
            return;
        };
        let id = crate::analysis::logformat::render_vec(&self.format, txn);
        if let Some(h) = &self.header {
            edits.added.push((h.clone(), id.clone()));
        }
        vars.set_unique_id(id);
    }
}

/// The ID built for the request in `txn`, if its frontend builds one.
pub fn of(txn: &Txn<'_>) -> Option<Vec<u8>> {
    txn.vars?.unique_id()
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// `%rt`: the request's number in the process, the same each time it is asked for.
pub fn request_number(txn: &Txn<'_>) -> u64 {
    let next = || REQUESTS.fetch_add(1, Ordering::Relaxed);
    match txn.vars {
        Some(v) => v.request_number(next),
        None => next(),
    }
}

/// `%Ts`: seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether the `X` (hexadecimal) flag applies to a variable: its own flag, else `%{…}o`.
pub fn hex_flag(all: bool, flags: &[LogFlag]) -> bool {
    flags
        .iter()
        .rev()
        .find(|f| f.kind == LogFlagKind::Hex)
        .map_or(all, |f| f.enable)
}

/// Writes `alias` in hexadecimal when it is a number or an address; `false` for the others,
/// which print as usual. Widths follow HAProxy's: 8 digits for an IPv4 address, at least 4
/// for a number.
pub fn write_hex(alias: LogAlias, txn: &Txn<'_>, out: &mut Vec<u8>) -> bool {
    let ip = |ip: IpAddr, out: &mut Vec<u8>| {
        let _ = match unmap(ip) {
            IpAddr::V4(a) => write!(out, "{:08X}", u32::from(a)),
            IpAddr::V6(a) => write!(out, "{:032X}", u128::from(a)),
        };
    };
    let num = |n: u64, out: &mut Vec<u8>| {
        let _ = write!(out, "{n:04X}");
    };
    match alias {
        LogAlias::ClientIp => ip(txn.src.ip(), out),
        LogAlias::FrontendIp => ip(txn.dst.ip(), out),
        LogAlias::ClientPort => num(u64::from(txn.src.port()), out),
        LogAlias::FrontendPort => num(u64::from(txn.dst.port()), out),
        LogAlias::StartTimestamp => num(unix_now(), out),
        LogAlias::RequestCounter => num(request_number(txn), out),
        LogAlias::Pid => num(u64::from(std::process::id()), out),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::vars::Vars;

    #[test]
    fn hex_format_writes_addresses_and_ports_in_fixed_width_hex() {
        let fmt = LogFormat::parse("%{+X}o %ci:%cp_%fi:%fp_%rt").unwrap();
        let vars = Vars::default();
        let nbsrv = |_: &str| None;
        let mut txn = Txn::connection(
            "127.0.0.1:33000".parse().unwrap(),
            "10.0.0.30:8080".parse().unwrap(),
            "fe",
            &nbsrv,
        );
        txn.vars = Some(&vars);
        let mut edits = HeadEdits::default();
        let uid = UniqueId {
            format: fmt,
            header: Some(b"X-Unique-ID".to_vec()),
        };
        uid.assign(&txn, &mut edits);
        let id = String::from_utf8(of(&txn).unwrap()).unwrap();
        let rt = request_number(&txn);
        // No leading space: HAProxy drops the separator after a leading `%{+X}o` (its
        // manual's example ID starts with the address).
        assert_eq!(id, format!("7F000001:80E8_0A00001E:1F90_{rt:04X}"));
        assert_eq!(edits.added, [(b"X-Unique-ID".to_vec(), id.into_bytes())]);
        vars.next_transaction();
        assert!(of(&txn).is_none(), "the ID belongs to one request");
        assert_ne!(
            request_number(&txn),
            rt,
            "the next request gets the next number"
        );
    }
}
