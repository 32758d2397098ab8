//! Values inside configuration words: durations, sizes, numbers, ports, addresses, networks
//! and id sets, parsed into model types and written back for `dump`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::model::{
    BindAddr, Host, IdSet, IpNet, LogAddress, PortRange, PortSpec, ServerAddr, SocketAddress,
};

/// Why a value was refused, and how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
    pub help: Option<String>,
}

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: None,
        }
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

pub type Parsed<T> = Result<T, Invalid>;

/// The unit a bare number is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Ms,
    S,
}

/// HAProxy's timers are 32-bit milliseconds; longer values are refused rather than wrapped.
const MAX_DURATION_MS: u64 = i32::MAX as u64;

const DURATION_HELP: &str =
    "write a number with an optional unit: us, ms, s, m, h or d (e.g. 5s, 500ms, 1m)";

/// `5s`, `500` (in `bare` units), `100ms`, `1m`, `2h`, `1d`, `250us`.
pub fn duration(word: &str, bare: TimeUnit) -> Parsed<Duration> {
    if word.is_empty() {
        return Err(Invalid::new("empty duration").help(DURATION_HELP));
    }
    if word.starts_with('-') {
        return Err(Invalid::new(format!("negative duration '{word}'")).help(DURATION_HELP));
    }
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(Invalid::new(format!("invalid duration '{word}'")).help(DURATION_HELP));
    }
    let (num, unit) = word.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| Invalid::new(format!("duration '{word}' is too large")))?;
    let micros_per = match unit {
        "" => match bare {
            TimeUnit::Ms => 1_000,
            TimeUnit::S => 1_000_000,
        },
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => {
            return Err(
                Invalid::new(format!("unknown time unit '{unit}' in '{word}'")).help(DURATION_HELP),
            )
        }
    };
    let micros = n
        .checked_mul(micros_per)
        .filter(|us| us / 1_000 <= MAX_DURATION_MS)
        .ok_or_else(|| {
            Invalid::new(format!("duration '{word}' is too large")).help(
                "durations are limited to 2147483647ms (about 24.8 days); use a smaller value",
            )
        })?;
    Ok(Duration::from_micros(micros))
}

/// The shortest exact spelling of a duration, with its unit.
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_micros();
    for (unit, per) in [
        ("d", 86_400_000_000u128),
        ("h", 3_600_000_000),
        ("m", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
    ] {
        if us != 0 && (us / per) * per == us {
            return format!("{}{unit}", us / per);
        }
    }
    if us == 0 {
        "0ms".into()
    } else {
        format!("{us}us")
    }
}

/// A non-negative decimal number.
pub fn number<T: std::str::FromStr>(word: &str, what: &str) -> Parsed<T> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            Invalid::new(format!("{what} must be a number, not '{word}'"))
                .help("write a non-negative decimal integer"),
        );
    }
    word.parse()
        .map_err(|_| Invalid::new(format!("{what} '{word}' is out of range")))
}

/// A number within `min..=max`.
pub fn bounded(word: &str, what: &str, min: u64, max: u64) -> Parsed<u64> {
    let n: u64 = number(word, what)?;
    if n < min || n > max {
        return Err(Invalid::new(format!("{what} {n} is out of range"))
            .help(format!("{what} must be between {min} and {max}")));
    }
    Ok(n)
}

/// A byte size: `16384`, `16k`, `1m`, `1g`.
pub fn size(word: &str, what: &str) -> Parsed<u32> {
    let (num, mult) = match word.char_indices().last() {
        Some((i, 'k' | 'K')) => (&word[..i], 1024u64),
        Some((i, 'm' | 'M')) => (&word[..i], 1024 * 1024),
        Some((i, 'g' | 'G')) => (&word[..i], 1024 * 1024 * 1024),
        _ => (word, 1),
    };
    let n: u64 =
        number(num, what).map_err(|e| e.help("write a byte count such as 16384 or 16k"))?;
    n.checked_mul(mult)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| Invalid::new(format!("{what} '{word}' is too large")))
}

/// A TCP port, 1..=65535.
pub fn port(word: &str) -> Parsed<u16> {
    let n: u64 = number(word, "port")?;
    if n == 0 || n > 65535 {
        return Err(
            Invalid::new(format!("port {n} is out of range")).help("ports are between 1 and 65535")
        );
    }
    Ok(n as u16)
}

/// `80` or `8000-8010`.
pub fn port_range(word: &str) -> Parsed<PortRange> {
    match word.split_once('-') {
        None => Ok(PortRange::single(port(word)?)),
        Some((a, b)) => {
            let (first, last) = (port(a)?, port(b)?);
            if first > last {
                return Err(Invalid::new(format!("port range '{word}' is reversed"))
                    .help("write the lower port first, e.g. 8000-8010"));
            }
            Ok(PortRange { first, last })
        }
    }
}

pub fn fmt_port_range(r: PortRange) -> String {
    if r.first == r.last {
        r.first.to_string()
    } else {
        format!("{}-{}", r.first, r.last)
    }
}

/// An IP address, with or without brackets.
pub fn ip(word: &str) -> Parsed<IpAddr> {
    let bare = word
        .strip_prefix('[')
        .and_then(|w| w.strip_suffix(']'))
        .unwrap_or(word);
    bare.parse().map_err(|_| {
        Invalid::new(format!("invalid IP address '{word}'"))
            .help("write an IPv4 address such as 10.0.0.1 or an IPv6 address such as ::1")
    })
}

/// `10.0.0.0/8`, `192.168.1.7`, `::1/128`, `10.0.0.0/255.0.0.0`.
pub fn ipnet(word: &str) -> Parsed<IpNet> {
    let help = "write a network as ADDRESS/PREFIX, e.g. 10.0.0.0/8, or a single address";
    let (a, p) = match word.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (word, None),
    };
    let addr = ip(a).map_err(|e| Invalid {
        message: format!("invalid network '{word}': {}", e.message),
        help: Some(help.into()),
    })?;
    let full = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        None => full,
        Some(p) => match (p.parse::<u8>(), addr, p.parse::<Ipv4Addr>()) {
            (Ok(n), _, _) if n <= full => n,
            (_, IpAddr::V4(_), Ok(mask))
                if u32::from(mask).leading_ones() == u32::from(mask).count_ones() =>
            {
                u32::from(mask).count_ones() as u8
            }
            _ => {
                return Err(Invalid::new(format!("invalid prefix length in '{word}'"))
                    .help(format!("the prefix must be between 0 and {full}")))
            }
        },
    };
    Ok(IpNet { addr, prefix })
}

/// Splits `HOST:PORT` at the last colon, honouring `[v6]:port`.
fn split_host_port(word: &str) -> (&str, Option<&str>) {
    if let Some(rest) = word.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let host = &word[..end + 2];
            let tail = &rest[end + 1..];
            return (host, tail.strip_prefix(':'));
        }
    }
    match word.rfind(':') {
        Some(i) => (&word[..i], Some(&word[i + 1..])),
        None => (word, None),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Any,
    V4,
    V6,
}

fn family_prefix(word: &str) -> (Family, &str) {
    if let Some(rest) = word.strip_prefix("ipv4@") {
        (Family::V4, rest)
    } else if let Some(rest) = word.strip_prefix("ipv6@") {
        (Family::V6, rest)
    } else if let Some(rest) = word.strip_prefix("tcp@") {
        (Family::Any, rest)
    } else {
        (Family::Any, word)
    }
}

fn check_family(addr: IpAddr, family: Family, word: &str) -> Parsed<IpAddr> {
    match (family, addr) {
        (Family::V4, IpAddr::V6(_)) => Err(Invalid::new(format!(
            "'{word}' asks for IPv4 but holds an IPv6 address"
        ))
        .help("use ipv6@ for IPv6 addresses")),
        (Family::V6, IpAddr::V4(_)) => Err(Invalid::new(format!(
            "'{word}' asks for IPv6 but holds an IPv4 address"
        ))
        .help("use ipv4@ for IPv4 addresses")),
        _ => Ok(addr),
    }
}

fn fd(word: &str, rest: &str) -> Parsed<i32> {
    rest.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        Invalid::new(format!("invalid file descriptor in '{word}'"))
            .help("write fd@ followed by a descriptor number, e.g. fd@3")
    })
}

fn unsupported_scheme(word: &str) -> Option<Invalid> {
    [
        "abns@",
        "udp@",
        "udp4@",
        "udp6@",
        "sockpair@",
        "quic4@",
        "quic6@",
        "uxst@",
        "uxdg@",
    ]
    .iter()
    .find(|p| word.starts_with(*p))
    .map(|p| {
        Invalid::new(format!("address family '{p}' in '{word}' is not supported"))
            .help("use an IP address and port, ipv4@, ipv6@, unix@PATH or fd@N")
    })
}

const BIND_HELP: &str =
    "write ADDRESS:PORT, *:PORT, :PORT, [IPv6]:PORT, a port range like :8000-8010, a unix socket path or fd@N";

/// One address of a `bind` line (`bind` takes a comma-separated list of these).
pub fn bind_addr(word: &str) -> Parsed<BindAddr> {
    if let Some(e) = unsupported_scheme(word) {
        return Err(e);
    }
    if let Some(rest) = word.strip_prefix("fd@") {
        return Ok(BindAddr::Fd(fd(word, rest)?));
    }
    if let Some(rest) = word.strip_prefix("unix@") {
        if rest.is_empty() {
            return Err(Invalid::new("empty unix socket path").help(BIND_HELP));
        }
        return Ok(BindAddr::Unix(PathBuf::from(rest)));
    }
    if word.starts_with('/') {
        return Ok(BindAddr::Unix(PathBuf::from(word)));
    }
    let (family, rest) = family_prefix(word);
    let (host, port) = split_host_port(rest);
    let Some(port) = port else {
        return Err(Invalid::new(format!("bind address '{word}' has no port")).help(BIND_HELP));
    };
    let ports = port_range(port).map_err(|e| Invalid {
        message: format!("invalid port in bind address '{word}': {}", e.message),
        help: e.help.or(Some(BIND_HELP.into())),
    })?;
    let ip = match host {
        "" | "*" => match family {
            Family::Any => None,
            Family::V4 => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            Family::V6 => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        },
        h => {
            let addr = ip(h).map_err(|_| {
                Invalid::new(format!("invalid bind address '{word}'")).help(
                    "a bind address must be an IP address (host names are not resolved here), \
                     '*' or empty for every address",
                )
            })?;
            Some(check_family(addr, family, word)?)
        }
    };
    Ok(BindAddr::Tcp { ip, ports })
}

pub fn fmt_bind_addr(a: &BindAddr) -> String {
    match a {
        BindAddr::Tcp { ip, ports } => {
            let p = fmt_port_range(*ports);
            match ip {
                None => format!("*:{p}"),
                Some(IpAddr::V4(v4)) => format!("{v4}:{p}"),
                Some(IpAddr::V6(v6)) => format!("[{v6}]:{p}"),
            }
        }
        BindAddr::Unix(path) => fmt_unix(path),
        BindAddr::Fd(n) => format!("fd@{n}"),
    }
}

fn fmt_unix(path: &std::path::Path) -> String {
    let s = path.display().to_string();
    if s.starts_with('/') {
        s
    } else {
        format!("unix@{s}")
    }
}

/// `stats socket` addresses: a path, `unix@PATH`, `ipv4@IP:PORT`, `ipv6@…`, `IP:PORT`, `fd@N`.
pub fn socket_address(word: &str) -> Parsed<SocketAddress> {
    Ok(match bind_addr(word) {
        Ok(BindAddr::Unix(p)) => SocketAddress::Unix(p),
        Ok(BindAddr::Fd(n)) => SocketAddress::Fd(n),
        Ok(BindAddr::Tcp { ip, ports }) if ports.first == ports.last => SocketAddress::Inet(
            SocketAddr::new(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), ports.first),
        ),
        Ok(BindAddr::Tcp { .. }) => {
            return Err(Invalid::new(format!(
                "a socket address takes one port, not a range: '{word}'"
            )))
        }
        // A relative path without `unix@` is still a path.
        Err(_) if !word.contains(':') && !word.contains('@') && !word.is_empty() => {
            SocketAddress::Unix(PathBuf::from(word))
        }
        Err(e) => return Err(e),
    })
}

pub fn fmt_socket_address(a: &SocketAddress) -> String {
    match a {
        SocketAddress::Inet(SocketAddr::V4(v4)) => format!("ipv4@{v4}"),
        SocketAddress::Inet(SocketAddr::V6(v6)) => format!("ipv6@[{}]:{}", v6.ip(), v6.port()),
        SocketAddress::Unix(p) => fmt_unix(p),
        SocketAddress::Fd(n) => format!("fd@{n}"),
    }
}

/// Server address words that are really parameters: a forgotten address shows up as one.
const SERVER_PARAM_WORDS: &[&str] = &["check", "backup", "weight", "cookie", "inter", "disabled"];

const SERVER_HELP: &str =
    "write ADDRESS[:PORT] (e.g. 10.0.0.1:80, web1.local:8080, [::1]:80, 10.0.0.1:+1) or unix@PATH";

/// `server` addresses: `IP`, `IP:PORT`, `HOST:PORT`, `[v6]:PORT`, `:+1`/`:-1` offsets, `unix@`.
pub fn server_addr(word: &str) -> Parsed<ServerAddr> {
    if SERVER_PARAM_WORDS.contains(&word) {
        return Err(Invalid::new(format!(
            "missing server address: '{word}' is a server parameter"
        ))
        .help(SERVER_HELP));
    }
    if let Some(e) = unsupported_scheme(word) {
        return Err(e);
    }
    if word.starts_with("fd@") {
        return Err(Invalid::new("a server cannot connect to fd@").help(SERVER_HELP));
    }
    if let Some(rest) = word.strip_prefix("unix@") {
        return Ok(ServerAddr {
            host: Host::Unix(PathBuf::from(rest)),
            port: None,
        });
    }
    if word.starts_with('/') {
        return Ok(ServerAddr {
            host: Host::Unix(PathBuf::from(word)),
            port: None,
        });
    }
    let (family, rest) = family_prefix(word);
    // A bare IPv6 address has colons but no port.
    if let Ok(v6) = rest.parse::<Ipv6Addr>() {
        return Ok(ServerAddr {
            host: Host::Ip(check_family(IpAddr::V6(v6), family, word)?),
            port: None,
        });
    }
    let (host, port_word) = split_host_port(rest);
    if host.is_empty() {
        return Err(Invalid::new(format!("server address '{word}' has no host")).help(SERVER_HELP));
    }
    let port = match port_word {
        None => None,
        Some(p) if p.starts_with('+') || p.starts_with('-') => {
            let n: i32 = number(&p[1..], "port offset").map_err(|e| e.help(SERVER_HELP))?;
            if n > 65535 {
                return Err(Invalid::new(format!("port offset '{p}' is out of range"))
                    .help("an offset is between -65535 and +65535"));
            }
            Some(PortSpec::Offset(if p.starts_with('-') { -n } else { n }))
        }
        Some(p) => Some(PortSpec::Fixed(port(p).map_err(|e| Invalid {
            message: format!("invalid port in server address '{word}': {}", e.message),
            help: e.help,
        })?)),
    };
    let host = match ip(host) {
        Ok(addr) => Host::Ip(check_family(addr, family, word)?),
        Err(_) if family != Family::Any => {
            return Err(Invalid::new(format!("invalid address '{word}'")).help(SERVER_HELP))
        }
        Err(_) if is_host_name(host) => Host::Name(host.to_string()),
        Err(_) => {
            return Err(Invalid::new(format!("invalid server address '{word}'")).help(SERVER_HELP))
        }
    };
    Ok(ServerAddr { host, port })
}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && !s.starts_with(['-', '.'])
}

pub fn fmt_server_addr(a: &ServerAddr) -> String {
    let host = match &a.host {
        Host::Ip(IpAddr::V4(v4)) => v4.to_string(),
        Host::Ip(IpAddr::V6(v6)) => format!("[{v6}]"),
        Host::Name(n) => n.clone(),
        Host::Unix(p) => return format!("unix@{}", p.display()),
    };
    match a.port {
        None => host,
        Some(PortSpec::Fixed(p)) => format!("{host}:{p}"),
        Some(PortSpec::Offset(o)) if o < 0 => format!("{host}:{o}"),
        Some(PortSpec::Offset(o)) => format!("{host}:+{o}"),
    }
}

/// `source ADDR[:PORT]` of a server; no port means any (0).
pub fn source_addr(word: &str) -> Parsed<SocketAddr> {
    if let Ok(sa) = word.parse::<SocketAddr>() {
        return Ok(sa);
    }
    ip(word).map(|ip| SocketAddr::new(ip, 0)).map_err(|_| {
        Invalid::new(format!("invalid source address '{word}'"))
            .help("write an IP address, optionally with :PORT")
    })
}

/// `IP:PORT` with a mandatory port (`dispatch`).
pub fn ip_port(word: &str) -> Parsed<SocketAddr> {
    let (host, p) = split_host_port(word);
    let Some(p) = p else {
        return Err(Invalid::new(format!("address '{word}' has no port"))
            .help("write IP:PORT, e.g. 10.0.0.1:80"));
    };
    Ok(SocketAddr::new(ip(host)?, port(p)?))
}

/// Log targets: `IP[:PORT]` (UDP, 514 by default), a path, `unix@PATH`, `stdout`, `stderr`.
pub fn log_address(word: &str) -> Parsed<LogAddress> {
    match word {
        "stdout" | "fd@1" => return Ok(LogAddress::Stdout),
        "stderr" | "fd@2" => return Ok(LogAddress::Stderr),
        _ => {}
    }
    if let Some(rest) = word.strip_prefix("unix@") {
        return Ok(LogAddress::Unix(PathBuf::from(rest)));
    }
    if word.starts_with('/') {
        return Ok(LogAddress::Unix(PathBuf::from(word)));
    }
    let rest = word
        .strip_prefix("udp@")
        .or_else(|| word.strip_prefix("udp4@"))
        .or_else(|| word.strip_prefix("udp6@"))
        .or_else(|| word.strip_prefix("ipv4@"))
        .or_else(|| word.strip_prefix("ipv6@"))
        .unwrap_or(word);
    let help = "write IP[:PORT] (UDP, port 514 by default), a unix socket path, stdout or stderr";
    if let Ok(v6) = rest.parse::<Ipv6Addr>() {
        return Ok(LogAddress::Udp(SocketAddr::new(IpAddr::V6(v6), 514)));
    }
    let (host, p) = split_host_port(rest);
    let port = match p {
        Some(p) => port(p).map_err(|e| e.help(help))?,
        None => 514,
    };
    // `localhost` is what every syslog example uses; it is the loopback address.
    let ip = if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        ip(host).map_err(|_| Invalid::new(format!("invalid log address '{word}'")).help(help))?
    };
    Ok(LogAddress::Udp(SocketAddr::new(ip, port)))
}

pub fn fmt_log_address(a: &LogAddress) -> String {
    match a {
        LogAddress::Udp(sa) => sa.to_string(),
        LogAddress::Unix(p) => fmt_unix(p),
        LogAddress::Stdout => "stdout".into(),
        LogAddress::Stderr => "stderr".into(),
    }
}

/// `all`, `odd`, `even`, `1`, `1-4`, `1,3,5-7`; `min` is the lowest id allowed.
pub fn id_set(word: &str, min: u32, max: u32) -> Parsed<IdSet> {
    let help =
        format!("write all, odd, even, or ids between {min} and {max} as N, N-M or a comma list");
    match word {
        "all" => return Ok(IdSet::All),
        "odd" => return Ok(IdSet::Odd),
        "even" => return Ok(IdSet::Even),
        _ => {}
    }
    let mut ranges = Vec::new();
    for part in word.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let parse = |s: &str| -> Parsed<u32> {
            let n = bounded(s, "id", u64::from(min), u64::from(max))
                .map_err(|e| Invalid::new(format!("invalid id set '{word}': {}", e.message)))?;
            Ok(n as u32)
        };
        let (first, last) = match (parse(a), parse(b)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return Err(e.help(help)),
        };
        if first > last {
            return Err(Invalid::new(format!("reversed range '{part}' in '{word}'")).help(help));
        }
        ranges.push((first, last));
    }
    Ok(IdSet::Ranges(ranges))
}

/// `1-4,7,9-10`: inclusive ranges, a single value written alone.
pub fn fmt_ranges<T: PartialEq + std::fmt::Display>(ranges: &[(T, T)]) -> String {
    ranges
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn fmt_id_set(set: &IdSet) -> String {
    match set {
        IdSet::All => "all".into(),
        IdSet::Odd => "odd".into(),
        IdSet::Even => "even".into(),
        IdSet::Ranges(r) => fmt_ranges(r),
    }
}

/// The highest id in a set, if bounded.
/// Whether `set` names `id` (`odd` names 1, `even` does not).
pub fn id_set_has(set: &IdSet, id: u32) -> bool {
    match set {
        IdSet::All => true,
        IdSet::Odd => id % 2 == 1,
        IdSet::Even => id.is_multiple_of(2),
        IdSet::Ranges(r) => r.iter().any(|&(a, b)| (a..=b).contains(&id)),
    }
}

pub fn id_set_max(set: &IdSet) -> Option<u32> {
    match set {
        IdSet::Ranges(r) => r.iter().map(|(_, b)| *b).max(),
        _ => None,
    }
}

/// `600`, `0600`, `0o600`: unix permission bits, read in octal.
pub fn octal_mode(word: &str) -> Parsed<u32> {
    let digits = word.strip_prefix("0o").unwrap_or(word);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| !digits.is_empty() && *m <= 0o7777)
        .ok_or_else(|| {
            Invalid::new(format!("invalid file mode '{word}'"))
                .help("write octal permission bits, e.g. 600 or 0660")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_default_to_the_bare_unit() {
        assert_eq!(duration("5s", TimeUnit::Ms), Ok(Duration::from_secs(5)));
        assert_eq!(
            duration("500", TimeUnit::Ms),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(duration("30", TimeUnit::S), Ok(Duration::from_secs(30)));
        assert_eq!(
            duration("250us", TimeUnit::Ms),
            Ok(Duration::from_micros(250))
        );
        assert_eq!(duration("2h", TimeUnit::Ms), Ok(Duration::from_secs(7200)));
        assert_eq!(duration("1d", TimeUnit::Ms), Ok(Duration::from_secs(86400)));
    }

    #[test]
    fn durations_refuse_bad_forms() {
        for bad in ["", "-5s", "5x", "s", "1.5s", "99999999999999999999", "30d"] {
            let err = duration(bad, TimeUnit::Ms).unwrap_err();
            assert!(!err.message.is_empty(), "{bad}");
        }
        assert!(duration("5sec", TimeUnit::Ms)
            .unwrap_err()
            .message
            .contains("unknown time unit 'sec'"));
    }

    #[test]
    fn durations_format_back_to_the_same_value() {
        for d in ["1d", "90m", "1500ms", "7us", "0ms", "5s"] {
            let v = duration(d, TimeUnit::Ms).unwrap();
            assert_eq!(duration(&fmt_duration(v), TimeUnit::Ms).unwrap(), v);
        }
        assert_eq!(fmt_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn bind_addresses_cover_haproxy_forms() {
        let tcp = |w: &str| match bind_addr(w).unwrap() {
            BindAddr::Tcp { ip, ports } => (ip, ports.first, ports.last),
            other => panic!("{other:?}"),
        };
        assert_eq!(tcp("*:80"), (None, 80, 80));
        assert_eq!(tcp(":80"), (None, 80, 80));
        assert_eq!(
            tcp("10.0.0.1:8000-8010"),
            (Some("10.0.0.1".parse().unwrap()), 8000, 8010)
        );
        assert_eq!(tcp("[::]:443"), (Some("::".parse().unwrap()), 443, 443));
        assert_eq!(tcp(":::443"), (Some("::".parse().unwrap()), 443, 443));
        assert_eq!(tcp("ipv6@:80"), (Some("::".parse().unwrap()), 80, 80));
        assert_eq!(bind_addr("fd@3").unwrap(), BindAddr::Fd(3));
        assert_eq!(
            bind_addr("/run/x.sock").unwrap(),
            BindAddr::Unix("/run/x.sock".into())
        );
        assert!(bind_addr("10.0.0.1").is_err());
        assert!(bind_addr("*:0").is_err());
        assert!(bind_addr("*:70000").is_err());
        assert!(bind_addr("ipv4@[::1]:80").is_err());
        assert!(bind_addr("example.com:80").is_err());
        assert!(bind_addr("*:90-80").is_err());
    }

    #[test]
    fn server_addresses_keep_names_and_offsets() {
        let a = server_addr("web1.local:8080").unwrap();
        assert_eq!(a.host, Host::Name("web1.local".into()));
        assert_eq!(a.port, Some(PortSpec::Fixed(8080)));
        assert_eq!(
            server_addr("10.0.0.1:+1").unwrap().port,
            Some(PortSpec::Offset(1))
        );
        assert_eq!(
            server_addr("10.0.0.1:-1").unwrap().port,
            Some(PortSpec::Offset(-1))
        );
        assert_eq!(server_addr("10.0.0.1").unwrap().port, None);
        assert_eq!(
            server_addr("::1").unwrap().host,
            Host::Ip("::1".parse().unwrap())
        );
        assert!(server_addr("check").is_err());
        assert!(server_addr("10.0.0.1:0").is_err());
        assert!(server_addr("bad host:80").is_err());
        for w in [
            "10.0.0.1:80",
            "[::1]:80",
            "a.b:+2",
            "h:-3",
            "unix@/x",
            "1.2.3.4",
        ] {
            let a = server_addr(w).unwrap();
            assert_eq!(server_addr(&fmt_server_addr(&a)).unwrap(), a, "{w}");
        }
    }

    #[test]
    fn networks_accept_prefixes_and_masks() {
        assert_eq!(ipnet("10.0.0.0/8").unwrap().prefix, 8);
        assert_eq!(ipnet("10.0.0.0/255.255.0.0").unwrap().prefix, 16);
        assert_eq!(ipnet("192.168.1.7").unwrap().prefix, 32);
        assert!(ipnet("10.0.0.0/33").is_err());
        assert!(ipnet("nope/8").is_err());
    }

    #[test]
    fn id_sets_parse_and_format() {
        assert_eq!(
            id_set("1-4,6", 1, 4096).unwrap(),
            IdSet::Ranges(vec![(1, 4), (6, 6)])
        );
        assert_eq!(fmt_id_set(&id_set("1-4,6", 1, 4096).unwrap()), "1-4,6");
        assert_eq!(id_set("all", 1, 64).unwrap(), IdSet::All);
        assert!(id_set("0", 1, 64).is_err());
        assert!(id_set("4-2", 0, 64).is_err());
    }

    #[test]
    fn sizes_and_modes() {
        assert_eq!(size("16k", "tune.bufsize"), Ok(16384));
        assert_eq!(size("32768", "tune.bufsize"), Ok(32768));
        assert!(size("16q", "tune.bufsize").is_err());
        assert_eq!(octal_mode("600"), Ok(0o600));
        assert!(octal_mode("800").is_err());
    }
}
