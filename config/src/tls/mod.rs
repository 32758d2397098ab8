//! TLS names and words: HAProxy's (OpenSSL's) names for cipher suites, groups and versions
//! turned into the ones rustls has, and the TLS words shared by `bind`, `server` and
//! `crt-list` lines. `-c` and the engine both go through here, so what `-c` accepts is
//! exactly what the engine runs. [`files`] reads certificates and keys, [`settle`] loads
//! what the configuration names once it is parsed, [`provider`] makes rustls objects of the
//! names, and [`client`] is TLS towards servers.

pub mod client;
mod files;
pub mod provider;
mod settle;

pub use files::*;
pub(crate) use settle::settle;

use crate::diag::Diagnostic;
use crate::model::{TlsOptions, TlsVersion, Verify};

/// A cipher suite rustls offers (with the aws-lc-rs provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Tls13Aes128GcmSha256,
    Tls13Aes256GcmSha384,
    Tls13Chacha20Poly1305Sha256,
    EcdheEcdsaAes128GcmSha256,
    EcdheEcdsaAes256GcmSha384,
    EcdheEcdsaChacha20Poly1305,
    EcdheRsaAes128GcmSha256,
    EcdheRsaAes256GcmSha384,
    EcdheRsaChacha20Poly1305,
}

/// TLS 1.3 suites by their IANA (and OpenSSL `ciphersuites`) names, in rustls's order.
const TLS13: &[(&str, Suite)] = &[
    ("TLS_AES_256_GCM_SHA384", Suite::Tls13Aes256GcmSha384),
    ("TLS_AES_128_GCM_SHA256", Suite::Tls13Aes128GcmSha256),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        Suite::Tls13Chacha20Poly1305Sha256,
    ),
];

/// TLS 1.3 suites OpenSSL knows and rustls does not offer.
const TLS13_ABSENT: &[&str] = &["TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"];

/// A TLS 1.2 suite: its OpenSSL name, and the properties OpenSSL's cipher-list aliases
/// select on.
struct Tls12 {
    name: &'static str,
    suite: Suite,
    ecdsa: bool,
    cipher: &'static str,
    mac: &'static str,
}

const TLS12: &[Tls12] = &[
    Tls12 {
        name: "ECDHE-ECDSA-AES256-GCM-SHA384",
        suite: Suite::EcdheEcdsaAes256GcmSha384,
        ecdsa: true,
        cipher: "AES256GCM",
        mac: "SHA384",
    },
    Tls12 {
        name: "ECDHE-ECDSA-AES128-GCM-SHA256",
        suite: Suite::EcdheEcdsaAes128GcmSha256,
        ecdsa: true,
        cipher: "AES128GCM",
        mac: "SHA256",
    },
    Tls12 {
        name: "ECDHE-ECDSA-CHACHA20-POLY1305",
        suite: Suite::EcdheEcdsaChacha20Poly1305,
        ecdsa: true,
        cipher: "CHACHA20",
        mac: "SHA256",
    },
    Tls12 {
        name: "ECDHE-RSA-AES256-GCM-SHA384",
        suite: Suite::EcdheRsaAes256GcmSha384,
        ecdsa: false,
        cipher: "AES256GCM",
        mac: "SHA384",
    },
    Tls12 {
        name: "ECDHE-RSA-AES128-GCM-SHA256",
        suite: Suite::EcdheRsaAes128GcmSha256,
        ecdsa: false,
        cipher: "AES128GCM",
        mac: "SHA256",
    },
    Tls12 {
        name: "ECDHE-RSA-CHACHA20-POLY1305",
        suite: Suite::EcdheRsaChacha20Poly1305,
        ecdsa: false,
        cipher: "CHACHA20",
        mac: "SHA256",
    },
];

/// OpenSSL cipher-list aliases that select only suites rustls does not have (or only
/// restrict by properties every rustls suite shares): valid, they add nothing.
const ALIASES_OF_ABSENT: &[&str] = &[
    "aNULL",
    "eNULL",
    "NULL",
    "COMPLEMENTOFALL",
    "COMPLEMENTOFDEFAULT",
    "EXPORT",
    "EXP",
    "LOW",
    "MEDIUM",
    "MD5",
    "RC4",
    "DES",
    "3DES",
    "IDEA",
    "SEED",
    "CAMELLIA",
    "CAMELLIA128",
    "CAMELLIA256",
    "ARIA",
    "ARIA128",
    "ARIA256",
    "PSK",
    "kPSK",
    "kECDHEPSK",
    "kDHEPSK",
    "kRSAPSK",
    "aPSK",
    "SRP",
    "kSRP",
    "DSS",
    "aDSS",
    "DH",
    "DHE",
    "EDH",
    "kDHE",
    "kEDH",
    "kDH",
    "ADH",
    "AECDH",
    "kRSA",
    "SHA1",
    "SHA",
    "CBC",
    "AESCCM",
    "AESCCM8",
    "AES128CCM",
    "AES256CCM",
    "SSLv3",
    "TLSv1",
    "TLSv1.0",
    "GOST",
    "kGOST",
    "aGOST",
    "SUITEB128",
    "SUITEB128ONLY",
    "SUITEB192",
    "aECDH",
    "kECDH",
    "ECDH",
    "AECDH",
];

/// Pieces of OpenSSL cipher names: a name made of them names a real suite rustls lacks
/// (`DHE-RSA-AES128-GCM-SHA256`, `ECDHE-RSA-AES128-SHA`), as opposed to a typing mistake.
const NAME_PIECES: &[&str] = &[
    "AES", "CHACHA20", "CAMELLIA", "DES", "RC4", "ARIA", "SEED", "IDEA", "NULL", "PSK", "SRP",
    "GOST",
];

/// A key-exchange group rustls offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    X25519,
    Secp256r1,
    Secp384r1,
    X25519MlKem768,
}

const GROUPS: &[(&str, Group)] = &[
    ("X25519", Group::X25519),
    ("P-256", Group::Secp256r1),
    ("prime256v1", Group::Secp256r1),
    ("secp256r1", Group::Secp256r1),
    ("P-384", Group::Secp384r1),
    ("secp384r1", Group::Secp384r1),
    ("X25519MLKEM768", Group::X25519MlKem768),
];

const GROUPS_ABSENT: &[&str] = &["P-521", "secp521r1", "X448", "ffdhe2048", "ffdhe3072"];

/// A parameter list turned into rustls's terms: what it selects, and names it holds that
/// OpenSSL knows but rustls does not offer (left out, worth a warning).
#[derive(Debug, PartialEq, Eq)]
pub struct Selection<T> {
    pub items: Vec<T>,
    pub absent: Vec<String>,
}

impl<T> Default for Selection<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            absent: Vec::new(),
        }
    }
}

fn list_words(list: &str) -> impl Iterator<Item = &str> {
    list.split([':', ',', ' ']).filter(|w| !w.is_empty())
}

/// `ciphersuites`: TLS 1.3 suites, `:`-separated, in preference order.
pub fn tls13_suites(list: &str) -> Result<Selection<Suite>, String> {
    let mut sel = Selection::default();
    for w in list_words(list) {
        if let Some(&(_, s)) = TLS13.iter().find(|(n, _)| *n == w) {
            if !sel.items.contains(&s) {
                sel.items.push(s);
            }
        } else if TLS13_ABSENT.contains(&w) {
            sel.absent.push(w.to_string());
        } else {
            return Err(format!(
                "unknown TLS 1.3 cipher suite '{w}' (known: {})",
                TLS13.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok(sel)
}

/// The TLS 1.2 suites an OpenSSL cipher-list alias (or `A+B` intersection) selects:
/// `None` when the word is not an alias.
fn alias(word: &str) -> Option<Vec<Suite>> {
    let all = || TLS12.iter().map(|c| c.suite).collect::<Vec<_>>();
    let mut set = all();
    for part in word.split('+') {
        let keep = |f: &dyn Fn(&Tls12) -> bool| -> Vec<Suite> {
            TLS12.iter().filter(|c| f(c)).map(|c| c.suite).collect()
        };
        let sel: Vec<Suite> = match part {
            "ALL" | "DEFAULT" | "HIGH" | "FIPS" | "ECDHE" | "EECDH" | "kEECDH" | "kECDHE"
            | "TLSv1.2" | "AEAD" | "SSLv3" => all(),
            "aECDSA" | "ECDSA" => keep(&|c| c.ecdsa),
            "aRSA" | "RSA" => keep(&|c| !c.ecdsa),
            "AESGCM" | "AES" => keep(&|c| c.cipher.starts_with("AES")),
            "AES128" => keep(&|c| c.cipher == "AES128GCM"),
            "AES256" => keep(&|c| c.cipher == "AES256GCM"),
            "CHACHA20" => keep(&|c| c.cipher == "CHACHA20"),
            "SHA256" => keep(&|c| c.mac == "SHA256"),
            "SHA384" => keep(&|c| c.mac == "SHA384"),
            _ if ALIASES_OF_ABSENT.contains(&part) => Vec::new(),
            _ => return None,
        };
        set.retain(|s| sel.contains(s));
    }
    Some(set)
}

/// `ciphers`: an OpenSSL cipher list for TLS 1.2 (`A:B`, `!X` removes for good, `-X`
/// removes, `+X` moves to the end, `A+B` is an intersection, `@STRENGTH` and
/// `@SECLEVEL=N` are accepted and change nothing rustls offers).
pub fn tls12_suites(list: &str) -> Result<Selection<Suite>, String> {
    let mut sel = Selection::default();
    let mut banned: Vec<Suite> = Vec::new();
    for w in list_words(list) {
        if w.starts_with('@') {
            continue;
        }
        let (op, body) = match w.as_bytes()[0] {
            b'!' | b'-' | b'+' => (w.as_bytes()[0], &w[1..]),
            _ => (0, w),
        };
        let suites = if let Some(c) = TLS12.iter().find(|c| c.name == body) {
            vec![c.suite]
        } else if let Some(set) = alias(body) {
            set
        } else if body
            .split('-')
            .any(|p| NAME_PIECES.iter().any(|k| p.starts_with(k)))
            && body
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            if op == 0 {
                sel.absent.push(body.to_string());
            }
            Vec::new()
        } else {
            return Err(format!(
                "unknown cipher '{body}' (rustls offers for TLS 1.2: {})",
                TLS12.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
            ));
        };
        match op {
            b'!' => {
                sel.items.retain(|s| !suites.contains(s));
                banned.extend(suites);
            }
            b'-' => sel.items.retain(|s| !suites.contains(s)),
            b'+' => {
                for s in suites {
                    if let Some(i) = sel.items.iter().position(|x| *x == s) {
                        let s = sel.items.remove(i);
                        sel.items.push(s);
                    }
                }
            }
            _ => {
                for s in suites {
                    if !banned.contains(&s) && !sel.items.contains(&s) {
                        sel.items.push(s);
                    }
                }
            }
        }
    }
    Ok(sel)
}

/// `curves`: key-exchange groups in preference order.
pub fn groups(list: &str) -> Result<Selection<Group>, String> {
    let mut sel = Selection::default();
    for w in list_words(list) {
        if let Some(&(_, g)) = GROUPS.iter().find(|(n, _)| n.eq_ignore_ascii_case(w)) {
            if !sel.items.contains(&g) {
                sel.items.push(g);
            }
        } else if GROUPS_ABSENT.iter().any(|n| n.eq_ignore_ascii_case(w)) {
            sel.absent.push(w.to_string());
        } else {
            return Err(format!(
                "unknown curve '{w}' (known: X25519, P-256, P-384, X25519MLKEM768)"
            ));
        }
    }
    if sel.items.is_empty() {
        return Err(format!("'{list}' names no group rustls offers"));
    }
    Ok(sel)
}

/// The versions a setting allows, as rustls speaks them: TLS 1.2 and/or 1.3.
pub fn versions(o: &TlsOptions) -> Result<Vec<TlsVersion>, String> {
    let min = o.min_ver.unwrap_or(TlsVersion::Tls12);
    let max = o.max_ver.unwrap_or(TlsVersion::Tls13);
    let allowed: Vec<TlsVersion> = [TlsVersion::Tls12, TlsVersion::Tls13]
        .into_iter()
        .filter(|v| (min..=max).contains(v))
        .collect();
    if allowed.is_empty() {
        return Err(format!(
            "versions {} to {} leave none that rustls speaks (TLSv1.2 and TLSv1.3 only)",
            min.name(),
            max.name()
        ));
    }
    Ok(allowed)
}

/// Everything a TLS setting resolves to, checked: the engine builds its rustls
/// configuration from this, `-c` reports its errors and warnings.
#[derive(Debug, PartialEq, Eq)]
pub struct Resolved {
    pub versions: Vec<TlsVersion>,
    /// `None`: rustls's default suites.
    pub tls12: Option<Vec<Suite>>,
    pub tls13: Option<Vec<Suite>>,
    pub groups: Option<Vec<Group>>,
    /// Names OpenSSL knows that rustls does not offer, left out.
    pub absent: Vec<String>,
}

pub fn resolve(o: &TlsOptions) -> Result<Resolved, String> {
    let versions = versions(o)?;
    let mut absent = Vec::new();
    let tls12 = match &o.ciphers {
        Some(list) => {
            let sel = tls12_suites(list).map_err(|e| format!("ciphers: {e}"))?;
            if sel.items.is_empty() && versions == [TlsVersion::Tls12] {
                return Err(format!(
                    "ciphers '{list}' select no TLS 1.2 suite rustls offers, and TLS 1.2 is \
                     the only version allowed"
                ));
            }
            absent.extend(sel.absent);
            Some(sel.items)
        }
        None => None,
    };
    let tls13 = match &o.ciphersuites {
        Some(list) => {
            let sel = tls13_suites(list).map_err(|e| format!("ciphersuites: {e}"))?;
            if sel.items.is_empty() && versions == [TlsVersion::Tls13] {
                return Err(format!(
                    "ciphersuites '{list}' select no TLS 1.3 suite rustls offers, and TLS 1.3 \
                     is the only version allowed"
                ));
            }
            absent.extend(sel.absent);
            Some(sel.items)
        }
        None => None,
    };
    let versions: Vec<TlsVersion> = versions
        .into_iter()
        .filter(|v| match v {
            TlsVersion::Tls12 => tls12.as_ref().is_none_or(|s| !s.is_empty()),
            _ => tls13.as_ref().is_none_or(|s| !s.is_empty()),
        })
        .collect();
    if versions.is_empty() {
        return Err("the cipher lists leave no suite rustls offers".into());
    }
    let groups = match &o.curves {
        Some(list) => {
            let sel = groups(list).map_err(|e| format!("curves: {e}"))?;
            absent.extend(sel.absent);
            Some(sel.items)
        }
        None => None,
    };
    Ok(Resolved {
        versions,
        tls12,
        tls13,
        groups,
        absent,
    })
}

/// Every suite, TLS 1.3 first.
pub const SUITES: &[Suite] = &[
    Suite::Tls13Aes256GcmSha384,
    Suite::Tls13Aes128GcmSha256,
    Suite::Tls13Chacha20Poly1305Sha256,
    Suite::EcdheEcdsaAes256GcmSha384,
    Suite::EcdheEcdsaAes128GcmSha256,
    Suite::EcdheEcdsaChacha20Poly1305,
    Suite::EcdheRsaAes256GcmSha384,
    Suite::EcdheRsaAes128GcmSha256,
    Suite::EcdheRsaChacha20Poly1305,
];

impl Suite {
    /// The name OpenSSL (and so HAProxy's logs and `ssl_fc_cipher`) gives the suite.
    pub fn openssl_name(self) -> &'static str {
        TLS13
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(n, _)| *n)
            .or_else(|| TLS12.iter().find(|c| c.suite == self).map(|c| c.name))
            .expect("every suite is named")
    }

    /// The symmetric key size in bits.
    pub fn key_bits(self) -> u32 {
        match self {
            Suite::Tls13Aes128GcmSha256
            | Suite::EcdheEcdsaAes128GcmSha256
            | Suite::EcdheRsaAes128GcmSha256 => 128,
            _ => 256,
        }
    }
}

/// Whether an SNI `name` (lowercase) is matched by `pattern`: equal, or `*.rest` matching
/// exactly one label in front of `rest`.
pub fn sni_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(rest) => name
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => pattern == name,
    }
}

/// The TLS words shared by `bind`, `server`, `default-server`, `crt-list` lines and the
/// global `ssl-default-*-options`: versions, cipher lists, groups, tickets, ALPN.
/// The words [`option`] knows, for "did you mean" help.
pub const WORDS: &[&str] = &[
    "ssl-min-ver",
    "ssl-max-ver",
    "ciphers",
    "ciphersuites",
    "curves",
    "alpn",
    "no-tls-tickets",
    "prefer-client-ciphers",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "force-tlsv12",
    "force-tlsv13",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
];

/// Applies TLS word `kw` (with its value from `arg`, when it takes one) to `o`.
/// `None` when `kw` is not a TLS word; otherwise whether it took a value.
pub fn option(
    o: &mut TlsOptions,
    kw: &str,
    arg: &dyn Fn() -> Result<String, Diagnostic>,
    error: &dyn Fn(String, String) -> Diagnostic,
) -> Option<Result<bool, Diagnostic>> {
    let version = |v: &str| {
        TlsVersion::parse(v).ok_or_else(|| {
            error(
                format!("'{kw}': unknown TLS version '{v}'"),
                format!("use one of {}", TlsVersion::NAMES.join(", ")),
            )
        })
    };
    let unspeakable = |v: &str| {
        error(
            format!("'{kw}': rustls does not speak {v}"),
            "ringlb speaks TLSv1.2 and TLSv1.3: use 'force-tlsv12', 'force-tlsv13' or \
             'ssl-min-ver TLSv1.2'"
                .into(),
        )
    };
    let r = || -> Result<bool, Diagnostic> {
        match kw {
            "ssl-min-ver" => o.min_ver = Some(version(&arg()?)?),
            "ssl-max-ver" => o.max_ver = Some(version(&arg()?)?),
            "ciphers" => o.ciphers = Some(arg()?),
            "ciphersuites" => o.ciphersuites = Some(arg()?),
            "curves" => o.curves = Some(arg()?),
            "alpn" => {
                let list: Vec<String> = arg()?
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect();
                if list.is_empty() || list.iter().any(|p| p.len() > 255) {
                    return Err(error(
                        "'alpn' expects protocol names".into(),
                        "write e.g. alpn h2,http/1.1".into(),
                    ));
                }
                o.alpn = Some(list);
            }
            _ => {
                match kw {
                    "no-tls-tickets" => o.no_tls_tickets = true,
                    "prefer-client-ciphers" => o.prefer_client_ciphers = true,
                    // Never offered by rustls: already off.
                    "no-sslv3" | "no-tlsv10" | "no-tlsv11" => {}
                    "no-tlsv12" => o.min_ver = Some(TlsVersion::Tls13),
                    "no-tlsv13" => o.max_ver = Some(TlsVersion::Tls12),
                    "force-tlsv12" => {
                        o.min_ver = Some(TlsVersion::Tls12);
                        o.max_ver = Some(TlsVersion::Tls12);
                    }
                    "force-tlsv13" => {
                        o.min_ver = Some(TlsVersion::Tls13);
                        o.max_ver = Some(TlsVersion::Tls13);
                    }
                    "force-sslv3" => return Err(unspeakable("SSLv3")),
                    "force-tlsv10" => return Err(unspeakable("TLSv1.0")),
                    "force-tlsv11" => return Err(unspeakable("TLSv1.1")),
                    _ => unreachable!("listed below"),
                }
                return Ok(false);
            }
        }
        Ok(true)
    };
    WORDS.contains(&kw).then(r)
}

/// `verify none|optional|required`.
pub fn verify(v: &str) -> Option<Verify> {
    Some(match v {
        "none" => Verify::None,
        "optional" => Verify::Optional,
        "required" => Verify::Required,
        _ => return None,
    })
}

/// The ALPN protocols a listener or a server connection offers: those of `alpn` its
/// sessions speak (HTTP/1.x in `mode http`, and `h2` on a listener (`listener`); anything
/// in `mode tcp`), and those it leaves out.
pub fn offered_alpn(alpn: &[String], http: bool, listener: bool) -> (Vec<String>, Vec<String>) {
    alpn.iter().cloned().partition(|p| {
        !http || matches!(p.as_str(), "http/1.1" | "http/1.0") || (listener && p == "h2")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls12_lists_as_haproxy_users_write_them() {
        // Debian's default haproxy.cfg: DHE suites are OpenSSL's, not rustls's.
        let debian = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
                      ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
                      ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
                      DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
        let sel = tls12_suites(debian).unwrap();
        assert_eq!(sel.items.len(), 6);
        assert_eq!(sel.items[0], Suite::EcdheEcdsaAes128GcmSha256);
        assert_eq!(
            sel.absent,
            ["DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"]
        );
        let sel = tls12_suites("HIGH:!aNULL:!MD5").unwrap();
        assert_eq!(sel.items.len(), 6);
        let sel = tls12_suites("EECDH+AESGCM:EDH+AESGCM").unwrap();
        assert_eq!(sel.items.len(), 4, "{sel:?}");
        let sel = tls12_suites("ALL:!aRSA:-CHACHA20").unwrap();
        assert_eq!(sel.items.len(), 2, "{sel:?}");
        let sel =
            tls12_suites("ECDHE-RSA-AES128-GCM-SHA256:!RSA:ECDHE-RSA-AES128-GCM-SHA256").unwrap();
        assert!(sel.items.is_empty(), "'!' removes for good");
        let err = tls12_suites("ECDHE-RSA-AES128-GCM-SHA256:BOGUS").unwrap_err();
        assert!(err.contains("'BOGUS'"), "{err}");
    }

    #[test]
    fn tls13_suites_and_groups_by_name() {
        let sel = tls13_suites("TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256").unwrap();
        assert_eq!(sel.items, [Suite::Tls13Aes128GcmSha256]);
        assert_eq!(sel.absent, ["TLS_AES_128_CCM_SHA256"]);
        assert!(tls13_suites("TLS_AES_512")
            .unwrap_err()
            .contains("TLS_AES_512"));
        let g = groups("X25519:prime256v1:secp521r1").unwrap();
        assert_eq!(g.items, [Group::X25519, Group::Secp256r1]);
        assert_eq!(g.absent, ["secp521r1"]);
        assert!(groups("P-999").is_err());
        assert!(groups("X448").is_err(), "nothing rustls offers is left");
    }

    #[test]
    fn versions_rustls_speaks() {
        let v = |min, max| {
            versions(&TlsOptions {
                min_ver: min,
                max_ver: max,
                ..Default::default()
            })
        };
        use TlsVersion::*;
        assert_eq!(v(None, None).unwrap(), [Tls12, Tls13]);
        assert_eq!(v(Some(Tls10), None).unwrap(), [Tls12, Tls13]);
        assert_eq!(v(Some(Tls13), None).unwrap(), [Tls13]);
        assert_eq!(v(None, Some(Tls12)).unwrap(), [Tls12]);
        assert!(v(None, Some(Tls11)).is_err());
        assert!(v(Some(Tls13), Some(Tls12)).is_err());
    }

    #[test]
    fn sni_wildcards_cover_one_label() {
        assert!(sni_matches("*.example.com", "www.example.com"));
        assert!(!sni_matches("*.example.com", "a.b.example.com"));
        assert!(!sni_matches("*.example.com", "example.com"));
        assert!(sni_matches("example.com", "example.com"));
    }
}
