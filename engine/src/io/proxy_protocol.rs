//! The PROXY protocol (versions 1 and 2, HAProxy's `proxy-protocol.txt`): the header an
//! `accept-proxy` listener's connections start with, read here byte-exact so that what
//! follows it (a TLS ClientHello, an HTTP request) stays in the socket for the session; and
//! the header a `send-proxy` / `send-proxy-v2` server's connections start with. The bytes
//! are parsed and built by the `ppp` crate.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use ppp::v2::{Command, Protocol};
use ppp::{v1, v2, HeaderResult, PartialResult};

use crate::io::transport::Stream;

/// Version 2's fixed part: its signature, version and command, family, and length.
const V2_FIXED: usize = 16;
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
/// Version 1's longest line (`PROXY TCP6 …` with both addresses and ports at their longest).
const V1_MAX: usize = 107;
/// The longest version 2 header taken: HAProxy's own limit is its buffer size, 16 KiB by
/// default; a sender announcing more is refused before any of it is read.
const V2_MAX: usize = 16 * 1024;

/// Why a connection's header was refused, worded as HAProxy logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The client closed before sending anything.
    Closed,
    /// The connection failed before anything came.
    Aborted,
    /// Nothing complete came within `timeout client`.
    Timeout,
    /// The client closed in the middle of the header.
    Truncated,
    /// The first bytes are neither `PROXY ` nor version 2's signature.
    NotHeader,
    /// A header, but a malformed one (bad address, port, command, length, line ending…).
    Invalid,
}

impl HeaderError {
    /// HAProxy's words for the connection error log line.
    pub fn message(self) -> &'static str {
        match self {
            Self::Closed => "Connection closed while waiting for PROXY protocol header",
            Self::Aborted => "Connection error while waiting for PROXY protocol header",
            Self::Timeout => "Timeout while waiting for PROXY protocol header",
            Self::Truncated => "Truncated PROXY protocol header received",
            Self::NotHeader => {
                "Received something which does not look like a PROXY protocol header"
            }
            Self::Invalid => "Received an invalid PROXY protocol header",
        }
    }

    /// Whether `option dontlognull` silences it: the client sent nothing at all.
    pub fn is_null(self) -> bool {
        matches!(self, Self::Closed | Self::Aborted)
    }
}

/// The addresses a header announces: the client's (`src`) and the one it reached (`dst`).
/// `None`: keep the connection's own (v2 `LOCAL`, v1 `UNKNOWN`, v2 `UNSPEC` or Unix).
pub type Announced = Option<(SocketAddr, SocketAddr)>;

/// Reads the header `stream` starts with, within `timeout` of now, and consumes exactly its
/// bytes. Waits on readiness and reads without blocking, so no buffer is pinned while a
/// slow sender dribbles; a header split over several segments is put together.
pub async fn read_header(
    stream: &Stream,
    timeout: Option<Duration>,
) -> Result<Announced, HeaderError> {
    let read = async {
        let mut got: Vec<u8> = Vec::with_capacity(V1_MAX);
        loop {
            match take_header_bytes(stream, &mut got)? {
                Taken::Some => {}
                Taken::Nothing => {
                    stream
                        .readable(false)
                        .await
                        .map_err(|_| HeaderError::Aborted)?;
                    continue;
                }
            }
            match parse(&got) {
                Parsed::Done(a) => return Ok(a),
                Parsed::More => {}
                Parsed::Bad(e) => return Err(e),
            }
        }
    };
    match timeout {
        Some(t) => monoio::time::timeout(t, read)
            .await
            .unwrap_or(Err(HeaderError::Timeout)),
        None => read.await,
    }
}

enum Taken {
    Some,
    /// Nothing to read yet.
    Nothing,
}

/// Moves into `got` the bytes waiting in the socket that still belong to the header, never
/// one past its end: they are looked at first (`MSG_PEEK`), then only the header's share is
/// taken.
fn take_header_bytes(stream: &Stream, got: &mut Vec<u8>) -> Result<Taken, HeaderError> {
    let fd = stream.as_raw_fd();
    let room = match got.first() {
        Some(b'\r') if got.len() >= V2_FIXED => V2_FIXED + v2_length(got),
        Some(b'\r') => V2_FIXED,
        _ => V1_MAX,
    };
    got.reserve(room.saturating_sub(got.len()));
    let have = got.len();
    let spare = got.spare_capacity_mut();
    let want = room.saturating_sub(have).min(spare.len());
    // SAFETY: the spare capacity is writable for `want` bytes; recv writes at most that.
    let n = unsafe {
        libc::recv(
            fd,
            spare.as_mut_ptr().cast(),
            want,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => Ok(Taken::Nothing),
            _ if have == 0 => Err(HeaderError::Aborted),
            _ => Err(HeaderError::Truncated),
        };
    }
    if n == 0 {
        return Err(if have == 0 {
            HeaderError::Closed
        } else {
            HeaderError::Truncated
        });
    }
    // SAFETY: recv initialised the first `n` spare bytes.
    let seen = unsafe { std::slice::from_raw_parts(spare.as_ptr().cast::<u8>(), n as usize) };
    let take = header_share(&got[..], seen);
    // SAFETY: as above; the `take` bytes just looked at are there to be read again.
    let n = unsafe {
        libc::recv(
            fd,
            got.spare_capacity_mut().as_mut_ptr().cast(),
            take,
            libc::MSG_DONTWAIT,
        )
    };
    if n <= 0 {
        return Err(HeaderError::Truncated);
    }
    // SAFETY: recv initialised `n` more bytes.
    unsafe { got.set_len(have + n as usize) };
    Ok(Taken::Some)
}

/// Version 2's announced length of what follows the fixed part.
fn v2_length(fixed: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([fixed[14], fixed[15]]))
}

/// How many of `seen`, the bytes after `got`, belong to the header: up to and including
/// version 1's line feed (at most its longest line), or up to version 2's fixed part and then its announced length.
fn header_share(got: &[u8], seen: &[u8]) -> usize {
    let first = got.first().or(seen.first()).copied();
    if first == Some(b'\r') {
        let fixed_missing = V2_FIXED.saturating_sub(got.len()).min(seen.len());
        if fixed_missing > 0 {
            return fixed_missing;
        }
        let total = V2_FIXED + v2_length(got);
        return total.saturating_sub(got.len()).min(seen.len());
    }
    let line = match seen.iter().position(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => seen.len(),
    };
    line.min(V1_MAX.saturating_sub(got.len()))
}

#[derive(Debug, Clone, PartialEq)]
enum Parsed {
    Done(Announced),
    More,
    Bad(HeaderError),
}

/// What the header bytes read so far say.
fn parse(got: &[u8]) -> Parsed {
    if !looks_like_header(got) {
        return Parsed::Bad(HeaderError::NotHeader);
    }
    if got.len() >= V2_FIXED && got[0] == b'\r' && V2_FIXED + v2_length(got) > V2_MAX {
        return Parsed::Bad(HeaderError::Invalid);
    }
    let v1 = got[0] != b'\r';
    // Version 1 is a line: parsed once whole (a line cut anywhere, in a port for instance,
    // is no header yet), or once longer than any header can be.
    if v1 && !got.contains(&b'\n') {
        return if got.len() >= V1_MAX {
            Parsed::Bad(HeaderError::Invalid)
        } else {
            Parsed::More
        };
    }
    let result = HeaderResult::parse(got);
    if result.is_incomplete() {
        return if v1 {
            Parsed::Bad(HeaderError::Invalid)
        } else {
            Parsed::More
        };
    }
    match result {
        HeaderResult::V1(Ok(h)) => Parsed::Done(match h.addresses {
            v1::Addresses::Tcp4(a) => Some((
                SocketAddr::new(a.source_address.into(), a.source_port),
                SocketAddr::new(a.destination_address.into(), a.destination_port),
            )),
            v1::Addresses::Tcp6(a) => Some((
                SocketAddr::new(a.source_address.into(), a.source_port),
                SocketAddr::new(a.destination_address.into(), a.destination_port),
            )),
            v1::Addresses::Unknown => None,
        }),
        HeaderResult::V2(Ok(h)) => Parsed::Done(match (h.command, h.addresses) {
            (Command::Local, _) => None,
            (Command::Proxy, v2::Addresses::IPv4(a)) => Some((
                SocketAddr::new(a.source_address.into(), a.source_port),
                SocketAddr::new(a.destination_address.into(), a.destination_port),
            )),
            (Command::Proxy, v2::Addresses::IPv6(a)) => Some((
                SocketAddr::new(a.source_address.into(), a.source_port),
                SocketAddr::new(a.destination_address.into(), a.destination_port),
            )),
            (Command::Proxy, v2::Addresses::Unspecified | v2::Addresses::Unix(_)) => None,
        }),
        HeaderResult::V1(Err(_)) | HeaderResult::V2(Err(_)) => Parsed::Bad(HeaderError::Invalid),
    }
}

/// Whether `got` starts like a header of either version (or is the start of one).
fn looks_like_header(got: &[u8]) -> bool {
    let starts = |sig: &[u8]| {
        let n = got.len().min(sig.len());
        got[..n] == sig[..n]
    };
    starts(b"PROXY ") || starts(V2_SIGNATURE)
}

/// Which header a server connection starts with: `send-proxy` (the text line) or
/// `send-proxy-v2` (the binary form).
pub use ringlb_config::model::ProxyVersion as Version;

/// The header telling a server that `src` reached `dst`, as haproxy 2.6 writes it.
/// Addresses of two families are both given as IPv6 (IPv4-mapped). A client without an
/// address (a Unix-socket one, `0.0.0.0:0` here; a health check, `None`) is `UNKNOWN` in
/// version 1 and `LOCAL` in version 2. No TLV is sent.
pub fn header(version: Version, src: Option<SocketAddr>, dst: Option<SocketAddr>) -> Vec<u8> {
    let pair = match (src.and_then(described), dst.and_then(described)) {
        (Some(s), Some(d)) if s.is_ipv4() == d.is_ipv4() => Some((s, d)),
        (Some(s), Some(d)) => Some((v6(s), v6(d))),
        _ => None,
    };
    match (version, pair) {
        (Version::V1, None) => v1::Addresses::Unknown.to_string().into_bytes(),
        (Version::V1, Some((s, d))) => match (s.ip(), d.ip()) {
            (IpAddr::V4(si), IpAddr::V4(di)) => v1::Addresses::new_tcp4(si, di, s.port(), d.port()),
            (si, di) => v1::Addresses::new_tcp6(v6ip(si), v6ip(di), s.port(), d.port()),
        }
        .to_string()
        .into_bytes(),
        (Version::V2, None) => v2_build(0x20, Protocol::Unspecified, v2::Addresses::Unspecified),
        (Version::V2, Some(p)) => v2_build(0x21, Protocol::Stream, p.into()),
    }
}

/// `a` unless it is the address a Unix-socket peer is given (`0.0.0.0:0`), which no TCP
/// connection can have.
fn described(a: SocketAddr) -> Option<SocketAddr> {
    (!(a.ip().is_unspecified() && a.port() == 0)).then_some(a)
}

fn v2_build(version_command: u8, protocol: Protocol, addrs: v2::Addresses) -> Vec<u8> {
    v2::Builder::with_addresses(version_command, protocol, addrs)
        .build()
        .expect("an address block is far below 64 KiB")
}

fn v6ip(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

fn v6(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(v6ip(a.ip())), a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Feeds `bytes` as they would come, split at every position, and returns what the
    /// reader concludes and how many bytes it took.
    fn feed(bytes: &[u8]) -> (Parsed, usize) {
        let mut got = Vec::new();
        loop {
            let seen = &bytes[got.len()..];
            if seen.is_empty() {
                return (Parsed::Bad(HeaderError::Truncated), got.len());
            }
            // One byte at a time: the slowest sender.
            let take = header_share(&got, &seen[..1]);
            got.extend_from_slice(&seen[..take]);
            match parse(&got) {
                Parsed::More => {}
                done => return (done, got.len()),
            }
        }
    }

    /// The same with everything arriving at once.
    fn whole(bytes: &[u8]) -> (Parsed, usize) {
        let mut got = Vec::new();
        loop {
            let seen = &bytes[got.len()..];
            if seen.is_empty() {
                return (Parsed::Bad(HeaderError::Truncated), got.len());
            }
            let take = header_share(&got, seen);
            got.extend_from_slice(&seen[..take]);
            match parse(&got) {
                Parsed::More => {}
                done => return (done, got.len()),
            }
        }
    }

    fn v2(cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut b = V2_SIGNATURE.to_vec();
        b.extend([cmd, fam]);
        b.extend((body.len() as u16).to_be_bytes());
        b.extend(body);
        b
    }

    #[test]
    fn version_1_addresses_replace_the_connection_s_and_the_request_stays_unread() {
        let line = b"PROXY TCP4 10.1.2.3 10.9.9.9 5555 80\r\n";
        let mut bytes = line.to_vec();
        bytes.extend(b"GET / HTTP/1.1\r\n\r\n");
        let want = Parsed::Done(Some((sa("10.1.2.3:5555"), sa("10.9.9.9:80"))));
        assert_eq!(feed(&bytes), (want, line.len()));
        let want = Parsed::Done(Some((sa("10.1.2.3:5555"), sa("10.9.9.9:80"))));
        assert_eq!(whole(&bytes), (want, line.len()));
        let six = b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\nX";
        let want = Parsed::Done(Some((sa("[2001:db8::1]:1"), sa("[::1]:65535"))));
        assert_eq!(whole(six), (want, six.len() - 1));
        assert_eq!(whole(b"PROXY UNKNOWN\r\n"), (Parsed::Done(None), 15));
    }

    #[test]
    fn version_2_proxy_local_and_tlvs() {
        let body = [10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0xd2, 0, 80];
        let mut bytes = v2(0x21, 0x11, &body);
        let n = bytes.len();
        bytes.extend(b"GET /");
        let want = Parsed::Done(Some((sa("10.0.0.1:1234"), sa("10.0.0.2:80"))));
        assert_eq!(feed(&bytes), (want, n));
        // LOCAL keeps the connection's addresses, whatever the block says.
        assert_eq!(whole(&v2(0x20, 0x11, &body)), (Parsed::Done(None), 28));
        assert_eq!(whole(&v2(0x20, 0x00, &[])), (Parsed::Done(None), 16));
        // TLVs after the addresses are skipped, and nothing past them is taken.
        let mut with_tlv = body.to_vec();
        with_tlv.extend([0x04, 0, 3, 1, 2, 3]);
        let mut bytes = v2(0x21, 0x11, &with_tlv);
        let n = bytes.len();
        bytes.extend(b"\x16\x03\x01");
        let want = Parsed::Done(Some((sa("10.0.0.1:1234"), sa("10.0.0.2:80"))));
        assert_eq!(whole(&bytes), (want, n));
    }

    #[test]
    fn hostile_headers_are_refused() {
        let not = Parsed::Bad(HeaderError::NotHeader);
        let bad = Parsed::Bad(HeaderError::Invalid);
        assert_eq!(whole(b"GET / HTTP/1.1\r\n\r\n").0, not);
        assert_eq!(whole(b"\x16\x03\x01\x02\x00").0, not);
        assert_eq!(whole(b"PROXX TCP4").0, not);
        assert_eq!(whole(b"\r\n\r\n\0\r\nQUIX\n\x21\x11\0\0").0, not);
        assert_eq!(whole(b"PROXY TCP4 1.2.3.4\r\n").0, bad);
        assert_eq!(whole(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n").0, bad);
        assert_eq!(whole(b"PROXY TCP4 ::1 ::2 1 2\r\n").0, bad);
        assert_eq!(whole(b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n").0, bad);
        assert_eq!(whole(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n").0, bad);
        // A line that never ends is cut at version 1's longest.
        let mut long = b"PROXY TCP4 ".to_vec();
        long.extend([b'1'; 300]);
        let (p, n) = whole(&long);
        assert_eq!((p, n), (bad.clone(), V1_MAX));
        // Version 2: wrong version, wrong command, a length too short for its family.
        let body = [10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2];
        assert_eq!(whole(&v2(0x11, 0x11, &body)).0, bad);
        assert_eq!(whole(&v2(0x2f, 0x11, &body)).0, bad);
        assert_eq!(whole(&v2(0x21, 0x11, &body[..6])).0, bad);
        assert_eq!(whole(&v2(0x21, 0x21, &body)).0, bad);
        // A length past the limit is refused before its bytes are read.
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend([0x21, 0x11, 0xff, 0xff]);
        assert_eq!(whole(&huge), (bad, V2_FIXED));
    }

    #[test]
    fn truncated_headers_wait_for_more() {
        for bytes in [
            &b"PROX"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r",
            b"\r\n\r\n\0\r\nQUIT\n",
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x0c\x0a\0\0\x01",
        ] {
            assert_eq!(
                whole(bytes),
                (Parsed::Bad(HeaderError::Truncated), bytes.len()),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn random_bytes_never_panic_nor_overread() {
        // A small deterministic generator: no dependency, same cases every run.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let prefixes: [&[u8]; 3] = [b"", b"PROXY ", V2_SIGNATURE];
        for i in 0..20_000 {
            let mut bytes = prefixes[i % 3].to_vec();
            let len = (next() % 64) as usize;
            bytes.extend((0..len).map(|_| next() as u8));
            let (_, took) = whole(&bytes);
            assert!(took <= bytes.len().max(V2_FIXED));
            let (_, took) = feed(&bytes);
            assert!(took <= bytes.len().max(V2_FIXED));
        }
    }

    #[test]
    fn headers_written_are_read_back() {
        let (s, d) = (sa("192.0.2.7:4000"), sa("198.51.100.1:443"));
        assert_eq!(
            header(Version::V1, Some(s), Some(d)),
            b"PROXY TCP4 192.0.2.7 198.51.100.1 4000 443\r\n"
        );
        for v in [Version::V1, Version::V2] {
            let h = header(v, Some(s), Some(d));
            assert_eq!(whole(&h), (Parsed::Done(Some((s, d))), h.len()));
            let (s6, d6) = (sa("[2001:db8::7]:1"), sa("[2001:db8::1]:2"));
            let h = header(v, Some(s6), Some(d6));
            assert_eq!(whole(&h), (Parsed::Done(Some((s6, d6))), h.len()));
            // Mixed families travel as IPv6.
            let h = header(v, Some(s), Some(d6));
            assert_eq!(whole(&h), (Parsed::Done(Some((v6(s), d6))), h.len()));
        }
        assert_eq!(header(Version::V1, None, None), b"PROXY UNKNOWN\r\n");
        let unix = Some(sa("0.0.0.0:0"));
        assert_eq!(header(Version::V1, unix, unix), b"PROXY UNKNOWN\r\n");
        assert_eq!(
            header(Version::V2, unix, Some(d)),
            header(Version::V2, None, None)
        );
        assert_eq!(
            header(Version::V2, None, None),
            b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00"
        );
    }
}
