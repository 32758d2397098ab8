//! Certificates, keys, CA bundles and revocation lists read from PEM files, and the
//! certificate fields fetches and the runtime API show.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::model::{CertKey, DerFile, KeyFormat};

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read '{}': {e}", path.display()))
}

/// Reads a certificate chain and its key from a PEM file (the key may instead be in
/// `FILE.key`, as HAProxy looks for it), and checks that the key is usable and belongs to
/// the leaf certificate.
pub fn load_cert_key(path: &Path) -> Result<CertKey, String> {
    cert_key_from_pem(path, &read(path)?, true)
}

/// [`load_cert_key`] on PEM text already read (the runtime API's `set ssl cert` payload):
/// `side_key` allows the key to come from `PATH.key` when the text has none.
pub fn cert_key_from_pem(path: &Path, pem: &[u8], side_key: bool) -> Result<CertKey, String> {
    let chain: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("'{}': bad PEM: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!("'{}' holds no certificate", path.display()));
    }
    let key = match PrivateKeyDer::from_pem_slice(pem) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) if !side_key => {
            return Err(format!("'{}': no private key given", path.display()))
        }
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
