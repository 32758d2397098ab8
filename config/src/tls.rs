//! TLS material and names: reading certificates, keys, CA bundles and revocation lists from
//! PEM files, and turning HAProxy's (OpenSSL's) names for cipher suites, groups and
//! versions into the ones rustls has. `-c` and the engine both go through here, so what `-c`
//! accepts is exactly what the engine runs.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::diag::{Diagnostic, Location};
use crate::model::{
    BindCert, CertKey, Config, DerFile, KeyFormat, Mode, TlsOptions, TlsVersion, Verify,
};

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

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read '{}': {e}", path.display()))
}

/// Reads a certificate chain and its key from a PEM file (the key may instead be in
/// `FILE.key`, as HAProxy looks for it), and checks that the key is usable and belongs to
/// the leaf certificate.
pub fn load_cert_key(path: &Path) -> Result<CertKey, String> {
    let pem = read(path)?;
    let chain: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("'{}': bad PEM: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!("'{}' holds no certificate", path.display()));
    }
    let key = match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            let mut side = path.as_os_str().to_owned();
            side.push(".key");
            let side = PathBuf::from(side);
            match std::fs::read(&side) {
                Ok(pem) => PrivateKeyDer::from_pem_slice(&pem)
                    .map_err(|e| format!("'{}': no usable private key: {e}", side.display()))?,
                Err(_) => {
                    return Err(format!(
                        "'{}' holds no private key (nor is there a '{}')",
                        path.display(),
                        side.display()
                    ))
                }
            }
        }
        Err(e) => return Err(format!("'{}': bad private key: {e}", path.display())),
    };
    let key_format = match &key {
        PrivateKeyDer::Pkcs1(_) => KeyFormat::Pkcs1,
        PrivateKeyDer::Sec1(_) => KeyFormat::Sec1,
        _ => KeyFormat::Pkcs8,
    };
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| format!("'{}': unusable private key: {e}", path.display()))?;
    let certified = rustls::sign::CertifiedKey::new(
        chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect(),
        signer,
    );
    certified.keys_match().map_err(|e| {
        format!(
            "'{}': the private key does not belong to the certificate ({e})",
            path.display()
        )
    })?;
    let names = cert_names(&chain[0])
        .map_err(|e| format!("'{}': unreadable certificate: {e}", path.display()))?;
    Ok(CertKey {
        path: path.to_path_buf(),
        chain,
        key: key.secret_der().to_vec(),
        key_format,
        names,
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

/// A certificate's subject (or issuer) as OpenSSL's one-line form HAProxy prints:
/// `/C=FR/O=Example/CN=www.example.com`.
pub fn cert_dn(der: &[u8], issuer: bool) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let name = if issuer {
        cert.issuer()
    } else {
        cert.subject()
    };
    let mut out = String::new();
    for rdn in name.iter() {
        for attr in rdn.iter() {
            let oid = attr.attr_type();
            let key = x509_parser::objects::oid2abbrev(oid, x509_parser::objects::oid_registry())
                .map(str::to_string)
                .unwrap_or_else(|_| oid.to_id_string());
            let value = attr.as_str().map(str::to_string).unwrap_or_default();
            out.push('/');
            out.push_str(&key);
            out.push('=');
            out.push_str(&value);
        }
    }
    Some(out)
}

/// A certificate's serial number, big-endian bytes.
pub fn cert_serial(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.raw_serial().to_vec())
}

/// A certificate's validity bound (`after`: notAfter, else notBefore) as `YYMMDDhhmmssZ`.
pub fn cert_time(der: &[u8], after: bool) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let v = cert.validity();
    let t = if after { v.not_after } else { v.not_before }.to_datetime();
    Some(format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        t.year().rem_euclid(100),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// The DNS names a certificate is for: its subjectAltName DNS entries, else its common name.
pub fn cert_names(der: &[u8]) -> Result<Vec<String>, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(s) = cn.as_str() {
                names.push(s.to_ascii_lowercase());
            }
        }
    }
    Ok(names)
}

/// The certificates of a `ca-file`.
pub fn load_ca(path: &Path) -> Result<DerFile, String> {
    let pem = read(path)?;
    let items: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("'{}': bad PEM: {e}", path.display()))?;
    if items.is_empty() {
        return Err(format!("'{}' holds no certificate", path.display()));
    }
    Ok(DerFile {
        path: path.to_path_buf(),
        items,
    })
}

/// The revocation lists of a `crl-file`.
pub fn load_crl(path: &Path) -> Result<DerFile, String> {
    let pem = read(path)?;
    let items: Vec<Vec<u8>> = CertificateRevocationListDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("'{}': bad PEM: {e}", path.display()))?;
    if items.is_empty() {
        return Err(format!("'{}' holds no revocation list", path.display()));
    }
    Ok(DerFile {
        path: path.to_path_buf(),
        items,
    })
}

/// The certificate files of a `crt` directory, sorted: every file but the companions
/// HAProxy reads beside a certificate (`.key`, `.ocsp`, `.issuer`, `.sctl`).
pub fn cert_dir(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read '{}': {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read '{}': {e}", dir.display()))?
            .path();
        let companion = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "key" | "ocsp" | "issuer" | "sctl"));
        if path.is_file() && !companion {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
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

/// The ALPN protocols a listener offers: those of `alpn` its sessions speak (HTTP/1.x in
/// `mode http`, anything in `mode tcp`), and those it leaves out.
pub fn offered_alpn(alpn: &[String], http: bool) -> (Vec<String>, Vec<String>) {
    alpn.iter()
        .cloned()
        .partition(|p| !http || matches!(p.as_str(), "http/1.1" | "http/1.0"))
}

/// Where a file named on a line is read from: as written when absolute, else under `base`
/// (`crt-base`, `ca-base`) when set, else beside the configuration file.
fn locate(written: &Path, base: Option<&Path>, at: &Location) -> PathBuf {
    if written.is_absolute() {
        return written.to_path_buf();
    }
    match base {
        Some(b) => b.join(written),
        None => at.file.parent().unwrap_or(Path::new(".")).join(written),
    }
}

/// Reads what every `bind … ssl` names (certificates, crt-lists, CA and revocation files)
/// and folds the global `ssl-default-bind-*` settings into each, reporting what cannot be
/// read or used at the line that names it.
pub(crate) fn settle(config: &mut Config) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let g = config.global.tls.clone();
    for p in &mut config.proxies {
        let http = p.mode == Mode::Http;
        for b in &mut p.binds {
            let Some(t) = b.options.tls.as_deref_mut() else {
                continue;
            };
            let at = b.location.clone();
            let err =
                |m: String, help: &str| Diagnostic::error(at.clone(), "bind", m).with_help(help);
            t.options = t.options.or(&g.bind);
            t.certs.clear();
            for written in &t.crt {
                let path = locate(written, g.crt_base.as_deref(), &at);
                let files = if path.is_dir() {
                    match cert_dir(&path) {
                        Ok(f) => f,
                        Err(e) => {
                            diags.push(err(
                                format!("crt: {e}"),
                                "name a readable file or directory",
                            ));
                            continue;
                        }
                    }
                } else {
                    vec![path]
                };
                for f in files {
                    match load_cert_key(&f) {
                        Ok(cert) => t.certs.push(BindCert::own(cert)),
                        Err(e) => diags.push(err(
                            format!("crt: {e}"),
                            "give a PEM file holding the certificate chain and its private key",
                        )),
                    }
                }
            }
            for written in &t.crt_list {
                let path = locate(written, g.crt_base.as_deref(), &at);
                match crt_list(&path, g.crt_base.as_deref(), &mut diags) {
                    Ok(certs) => t.certs.extend(certs),
                    Err(e) => diags.push(err(
                        format!("crt-list: {e}"),
                        "name a readable crt-list file",
                    )),
                }
            }
            check_options(&t.options, http, &at, "bind", &mut diags);
            for c in &mut t.certs {
                c.options = c.options.or(&t.options);
            }
            if let Some(f) = &mut t.ca_file {
                match load_ca(&locate(&f.path, g.ca_base.as_deref(), &at)) {
                    Ok(l) => f.items = l.items,
                    Err(e) => diags.push(err(
                        format!("ca-file: {e}"),
                        "name a PEM file of CA certificates",
                    )),
                }
            }
            if let Some(f) = &mut t.crl_file {
                match load_crl(&locate(&f.path, g.ca_base.as_deref(), &at)) {
                    Ok(l) => f.items = l.items,
                    Err(e) => diags.push(err(
                        format!("crl-file: {e}"),
                        "name a PEM file of revocation lists",
                    )),
                }
            }
            let asks = t.verify.unwrap_or(Verify::None) != Verify::None
                || t.certs
                    .iter()
                    .any(|c| c.verify.is_some_and(|v| v != Verify::None));
            if asks && t.ca_file.is_none() {
                diags.push(err(
                    "'verify optional|required' needs a 'ca-file' to check client \
                     certificates against"
                        .into(),
                    "add 'ca-file /path/to/ca.pem', or 'verify none'",
                ));
            }
            if t.crl_file.is_some() && t.ca_file.is_none() {
                diags.push(err(
                    "'crl-file' without 'ca-file' has nothing to apply to".into(),
                    "add 'ca-file' and 'verify optional|required', or remove 'crl-file'",
                ));
            }
        }
    }
    diags
}

/// Checks a listener's or server's TLS settings as rustls will apply them: an error for
/// what cannot work, a warning for names left out.
fn check_options(o: &TlsOptions, http: bool, at: &Location, kw: &str, diags: &mut Vec<Diagnostic>) {
    match resolve(o) {
        Ok(r) => {
            if !r.absent.is_empty() {
                diags.push(
                    Diagnostic::warning(
                        at.clone(),
                        kw,
                        format!("not offered by rustls, left out: {}", r.absent.join(", ")),
                    )
                    .with_help("remove them to silence this warning"),
                );
            }
            if o.min_ver.is_some_and(|v| v < TlsVersion::Tls12) {
                diags.push(
                    Diagnostic::warning(
                        at.clone(),
                        kw,
                        format!(
                            "'ssl-min-ver {}': rustls speaks TLSv1.2 and TLSv1.3 only; older \
                             clients cannot connect",
                            o.min_ver.map_or("", |v| v.name())
                        ),
                    )
                    .with_help("write 'ssl-min-ver TLSv1.2'"),
                );
            }
        }
        Err(e) => diags.push(
            Diagnostic::error(at.clone(), kw, e)
                .with_help("see docs/tls.md for the names ringlb (rustls) accepts"),
        ),
    }
    if let Some(alpn) = &o.alpn {
        let (_, dropped) = offered_alpn(alpn, http);
        if !dropped.is_empty() {
            diags.push(
                Diagnostic::warning(
                    at.clone(),
                    kw,
                    format!(
                        "alpn: {} not offered: this mode http listener speaks HTTP/1.1",
                        dropped.join(", ")
                    ),
                )
                .with_help("clients negotiate http/1.1; write 'alpn http/1.1' to silence this"),
            );
        }
    }
}

/// Reads a `crt-list` file: one certificate per line, `FILE [[options]] [[!]sni …]`.
fn crt_list(
    path: &Path,
    crt_base: Option<&Path>,
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<BindCert>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
    let mut certs = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let at = Location {
            file: path.to_path_buf(),
            line: n + 1,
        };
        let err = |m: String, help: &str| {
            Diagnostic::error(at.clone(), "crt-list", m)
                .with_source(raw)
                .with_help(help)
        };
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (file, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let mut rest = rest.trim_start();
        let mut options = TlsOptions::default();
        let mut verify = None;
        if let Some(inner) = rest.strip_prefix('[') {
            let Some((opts, after)) = inner.split_once(']') else {
                diags.push(err(
                    "'[' without ']'".into(),
                    "close the option list with ']'",
                ));
                continue;
            };
            rest = after;
            let words: Vec<&str> = opts.split_whitespace().collect();
            let mut i = 0;
            let mut bad = false;
            while i < words.len() && !bad {
                let kw = words[i];
                if kw == "verify" {
                    verify = words.get(i + 1).and_then(|v| self::verify(v));
                    if verify.is_none() {
                        diags.push(err(
                            "'verify' expects none, optional or required".into(),
                            "write e.g. [verify required]",
                        ));
                        bad = true;
                    }
                    i += 2;
                    continue;
                }
                let arg = || {
                    words.get(i + 1).map(|s| s.to_string()).ok_or_else(|| {
                        Diagnostic::error(at.clone(), "crt-list", format!("'{kw}' expects a value"))
                    })
                };
                let mk = |m: String, h: String| {
                    Diagnostic::error(at.clone(), "crt-list", m).with_help(h)
                };
                match option(&mut options, kw, &arg, &mk) {
                    Some(Ok(took)) => i += if took { 2 } else { 1 },
                    Some(Err(d)) => {
                        diags.push(d.with_source(raw));
                        bad = true;
                    }
                    None => {
                        diags.push(err(
                            format!("crt-list option '{kw}' is not supported"),
                            "supported: verify and the bind TLS options (alpn, ssl-min-ver, \
                             ssl-max-ver, ciphers, ciphersuites, curves, no-tls-tickets)",
                        ));
                        bad = true;
                    }
                }
            }
            if bad {
                continue;
            }
        }
        let cert = match load_cert_key(&locate(Path::new(file), crt_base, &at)) {
            Ok(c) => c,
            Err(e) => {
                diags.push(err(
                    e,
                    "give a PEM file holding the certificate chain and its private key",
                ));
                continue;
            }
        };
        let (mut sni, mut not_sni) = (Vec::new(), Vec::new());
        for f in rest.split_whitespace() {
            match f.strip_prefix('!') {
                Some(n) => not_sni.push(n.to_ascii_lowercase()),
                None => sni.push(f.to_ascii_lowercase()),
            }
        }
        if sni.is_empty() {
            sni = cert.names.clone();
        }
        certs.push(BindCert {
            cert,
            sni,
            not_sni,
            options,
            verify,
        });
    }
    Ok(certs)
}
