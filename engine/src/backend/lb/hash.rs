//! Hash-based balancing inputs: HAProxy's hash functions (`hash-type … sdbm|djb2|wt6|crc32
//! [avalanche]`) and the key each `balance` hashing mode takes from a request or connection.

use std::net::IpAddr;
use std::sync::Arc;

use ringlb_config::model::{Balance, HashFunction, HashType};

use crate::backend::upstream::Pick;
use crate::backend::BackendLoad;
use crate::codec::head::{trim, values};

/// What both hashing balancers (map-based and consistent) are built from: the key `balance`
/// names, how it is hashed, the backend's shared cursor for requests without a key, and
/// `option allbackups`.
pub struct HashedBalance {
    pub key: Balance,
    pub hash_type: HashType,
    pub load: Arc<BackendLoad>,
    pub allbackups: bool,
}

impl HashedBalance {
    /// The request's key hashed, or `None` when the request carries no key.
    pub fn hash(&self, request: &Pick<'_>) -> Option<u32> {
        request_hash(&self.key, &self.hash_type, request)
    }
}

/// `sdbm`: the default; good on text keys with long common prefixes.
pub fn sdbm(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// `djb2`: Bernstein's times-33 hash.
pub fn djb2(key: &[u8]) -> u32 {
    key.iter().fold(5381u32, |h, &c| {
        (h << 5).wrapping_add(h).wrapping_add(u32::from(c))
    })
}

/// `wt6`: two 32-bit lanes mixed with data-dependent rotations.
pub fn wt6(key: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0xa53c_965a_u32, 0x5ca6_953a_u32);
    let (mut rot0, mut rot1) = (6u32, 18u32);
    for &c in key {
        let c = u32::from(c);
        h0 = !(h0 ^ c);
        h1 = !h1.wrapping_add(c);
        let next0 = h1.rotate_left(rot0);
        h1 = h0.rotate_left(rot1);
        h0 = next0;
        let mix = ((h0 >> 16) ^ h1) & 0xffff;
        rot0 = mix & 0x1f;
        rot1 = mix >> 11;
    }
    h0 ^ h1
}

/// `crc32`: the IEEE 802.3 CRC (reflected polynomial 0xEDB88320), as zlib computes it.
pub fn crc32(key: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    !key.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Bob Jenkins' 32-bit integer mix (`avalanche`): every input bit flips about half the
/// output bits, so keys differing in one character spread over the whole range. HAProxy
/// finishes with a multiplication by the prime 3221225473, kept here for the same results.
pub fn avalanche(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

/// Hashes `key` with the backend's `hash-type` function, avalanche applied when asked.
pub fn hash_key(t: &HashType, key: &[u8]) -> u32 {
    let h = match t.function {
        HashFunction::Sdbm => sdbm(key),
        HashFunction::Djb2 => djb2(key),
        HashFunction::Wt6 => wt6(key),
        HashFunction::Crc32 => crc32(key),
    };
    if t.avalanche {
        avalanche(h)
    } else {
        h
    }
}

/// The hash of a client address for `balance source`: the address folded into 32 bits
/// (IPv6 words XORed together), not run through the text hash function, as HAProxy does.
/// A consistent ring needs the bits spread, so it gets them avalanched.
pub fn source_hash(ip: IpAddr, consistent: bool) -> u32 {
    let h = match ip {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            o.chunks(4)
                .fold(0, |h, w| h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        }
    };
    if consistent {
        avalanche(h)
    } else {
        h
    }
}

/// The part of the request target `balance uri [len N] [depth N] [whole]` hashes: up to
/// the query string (unless `whole`), at most `len` bytes, at most `depth` directories.
pub fn uri_key(target: &[u8], len: Option<u32>, depth: Option<u32>, whole: bool) -> &[u8] {
    let target = match len {
        Some(n) if n > 0 => &target[..target.len().min(n as usize)],
        _ => target,
    };
    let mut slashes = 0;
    let mut end = target.len();
    for (i, &c) in target.iter().enumerate() {
        if c == b'/' {
            slashes += 1;
            if depth.is_some_and(|d| d > 0 && slashes == d + 1) {
                end = i;
                break;
            }
        } else if c == b'?' && !whole {
            end = i;
            break;
        }
    }
    &target[..end]
}

/// The value of query parameter `name` in `target` (`balance url_param`), if present.
pub fn url_param<'a>(target: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let q = memchr::memchr(b'?', target)?;
    let query = &target[q + 1..];
    let query = &query[..memchr::memchr(b'#', query).unwrap_or(query.len())];
    query
        .split(|&c| c == b'&' || c == b';')
        .find_map(|pair| pair.strip_prefix(name.as_bytes())?.strip_prefix(b"="))
        .filter(|v| !v.is_empty())
}

/// The domain label `hdr(host) use_domain_only` hashes: the label before the last dot,
/// the port dropped (`www.example.com:8080` gives `example`).
pub fn domain_only(value: &[u8]) -> &[u8] {
    let value = match memchr::memrchr(b':', value) {
        Some(c) if !value.contains(&b']') || value[c - 1] == b']' => &value[..c],
        _ => value,
    };
    let mut labels = value.rsplit(|&c| c == b'.');
    let last = labels.next().unwrap_or(value);
    labels.next().unwrap_or(last)
}

/// `mstshash=VALUE` from an RDP connection request's `Cookie:` line (`balance rdp-cookie`).
pub fn rdp_cookie<'a>(data: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let start = memchr::memmem::find(data, b"Cookie: ")? + 8;
    let rest = data[start..]
        .strip_prefix(name.as_bytes())?
        .strip_prefix(b"=")?;
    let end = memchr::memmem::find(rest, b"\r\n").unwrap_or(rest.len());
    Some(&rest[..end]).filter(|v| !v.is_empty())
}

/// The hash `balance` derives from `pick`, or `None` when the key is absent (no such
/// parameter, header or cookie): the caller then falls back to round robin, as HAProxy does.
pub fn request_hash(balance: &Balance, t: &HashType, pick: &Pick<'_>) -> Option<u32> {
    let consistent = t.method == ringlb_config::model::HashMethod::Consistent;
    let target = || pick.req.map(|r| &pick.buf[r.target.clone()]);
    let key = match balance {
        Balance::Source => return Some(source_hash(pick.src.ip(), consistent)),
        Balance::Uri { len, depth, whole } => uri_key(target()?, *len, *depth, *whole),
        Balance::UrlParam { name, .. } => url_param(target()?, name)?,
        Balance::Hdr {
            name,
            use_domain_only,
        } => {
            let req = pick.req?;
            let v = trim(values(pick.buf, &req.headers, name).next()?);
            let v = if *use_domain_only { domain_only(v) } else { v };
            Some(v).filter(|v| !v.is_empty())?
        }
        Balance::RdpCookie { name } => rdp_cookie(pick.buf, name)?,
        _ => return None,
    };
    Some(hash_key(t, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_ieee_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn djb2_and_sdbm_of_short_keys() {
        assert_eq!(djb2(b""), 5381);
        assert_eq!(djb2(b"a"), 5381 * 33 + 97);
        assert_eq!(sdbm(b"a"), 97);
        assert_eq!(sdbm(b"ab"), 98 + (97 << 6) + (97 << 16) - 97);
    }

    #[test]
    fn uri_key_stops_at_query_depth_and_len() {
        let t = b"/a/b/c?x=1";
        assert_eq!(uri_key(t, None, None, false), b"/a/b/c");
        assert_eq!(uri_key(t, None, None, true), b"/a/b/c?x=1");
        assert_eq!(uri_key(t, None, Some(2), false), b"/a/b");
        assert_eq!(uri_key(t, Some(4), None, false), b"/a/b");
    }

    #[test]
    fn url_param_finds_the_named_value_only() {
        assert_eq!(url_param(b"/p?a=1&key=v2&z", "key"), Some(&b"v2"[..]));
        assert_eq!(url_param(b"/p?akey=1", "key"), None);
        assert_eq!(url_param(b"/p", "key"), None);
    }

    #[test]
    fn domain_only_keeps_the_label_before_the_top_level() {
        assert_eq!(domain_only(b"www.example.com:8080"), b"example");
        assert_eq!(domain_only(b"localhost"), b"localhost");
    }

    #[test]
    fn rdp_cookie_reads_mstshash() {
        let data = b"\x03\x00\x00\x2aCookie: mstshash=alice\r\n\x01";
        assert_eq!(rdp_cookie(data, "mstshash"), Some(&b"alice"[..]));
        assert_eq!(rdp_cookie(b"nothing", "mstshash"), None);
    }
}
