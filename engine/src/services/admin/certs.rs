//! `show ssl cert`, `set ssl cert`, `commit ssl cert`, `abort ssl cert`: replacing a
//! listener's certificate without a reload, in HAProxy's two steps. `set` checks the new
//! PEM (chain, key, and that they belong together) and holds it in a transaction; `commit`
//! makes every listener that loaded the file present it to new handshakes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ringlb_config::model::CertKey;
use ringlb_config::tls as x509;

use crate::io::tls::TlsListener;

/// The listeners' certificates and the transactions open on them.
#[derive(Default)]
pub struct Certs {
    listeners: Vec<Arc<TlsListener>>,
    pending: Mutex<HashMap<PathBuf, CertKey>>,
}

impl Certs {
    pub fn new(listeners: Vec<Arc<TlsListener>>) -> Self {
        Self {
            listeners,
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, CertKey>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every certificate file in use, once each, in load order.
    fn files(&self) -> Vec<CertKey> {
        let mut out: Vec<CertKey> = Vec::new();
        for l in &self.listeners {
            for c in l.certificates() {
                if !out.iter().any(|o| o.path == c.path) {
                    out.push(c);
                }
            }
        }
        out
    }

    /// `show ssl cert [[*]FILE]`.
    pub fn show(&self, name: Option<&str>) -> Result<String, String> {
        let Some(name) = name else {
            let mut out = String::new();
            if let Some(p) = self.pending().keys().next() {
                let _ = writeln!(out, "# transaction\n*{}", p.display());
            }
            out.push_str("# filename\n");
            for c in self.files() {
                let _ = writeln!(out, "{}", c.path.display());
            }
            return Ok(out);
        };
        let (cert, status) = match name.strip_prefix('*') {
            Some(n) => {
                let pending = self.pending();
                let c = pending.get(Path::new(n)).cloned();
                (c.ok_or_else(|| no_transaction(n))?, "Unused")
            }
            None => (
                self.files()
                    .into_iter()
                    .find(|c| c.path == Path::new(name))
                    .ok_or_else(|| unknown(name))?,
                "Used",
            ),
        };
        Ok(describe(name, &cert, status))
    }

    /// `set ssl cert FILE <<PEM`: a transaction holding the new certificate and key.
    pub fn set(&self, name: Option<&str>, payload: Option<&str>) -> Result<String, String> {
        let name = name.ok_or("'set ssl cert' expects a certificate file and a payload.\n")?;
        let payload = payload
            .filter(|p| !p.trim().is_empty())
            .ok_or("'set ssl cert' expects a certificate file and a payload.\n")?;
        if !self.files().iter().any(|c| c.path == Path::new(name)) {
            return Err(unknown(name));
        }
        let mut pending = self.pending();
        if let Some(other) = pending.keys().find(|p| *p != Path::new(name)) {
            return Err(format!(
                "The ongoing transaction is about '{}' but you are trying to set '{name}'\n",
                other.display()
            ));
        }
        let cert = x509::cert_key_from_pem(Path::new(name), payload.as_bytes(), false)
            .map_err(|e| format!("unable to load the certificate: {e}\n"))?;
        let verb = match pending.insert(cert.path.clone(), cert) {
            Some(_) => "updated",
            None => "created",
        };
        Ok(format!("Transaction {verb} for certificate {name}!\n"))
    }

    /// `commit ssl cert FILE`: every listener that loaded FILE presents the new one.
    pub fn commit(&self, name: Option<&str>) -> Result<String, String> {
        let name = name.ok_or("'commit ssl cert' expects a filename\n")?;
        let cert = self
            .pending()
            .remove(Path::new(name))
            .ok_or_else(|| no_transaction(name))?;
        let mut out = format!("Committing {name}");
        for l in &self.listeners {
            if let Err(e) = l.replace(&cert) {
                let _ = write!(out, "\nFailed: {e}\n");
                return Err(out);
            }
        }
        out.push_str("\nSuccess!\n");
        Ok(out)
    }

    /// `abort ssl cert FILE`.
    pub fn abort(&self, name: Option<&str>) -> Result<String, String> {
        let name = name.ok_or("'abort ssl cert' expects a filename\n")?;
        self.pending()
            .remove(Path::new(name))
            .ok_or_else(|| no_transaction(name))?;
        Ok(format!("Transaction aborted for certificate '{name}'!\n"))
    }
}

fn unknown(name: &str) -> String {
    format!("certificate '{name}' is not used by any listener (see 'show ssl cert')\n")
}

fn no_transaction(name: &str) -> String {
    format!("No ongoing transaction for certificate '{name}'!\n")
}

fn hex(bytes: &[u8], sep: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(sep)
}

/// `show ssl cert FILE`: the fields HAProxy prints.
fn describe(name: &str, c: &CertKey, status: &str) -> String {
    let leaf = &c.chain[0];
    let mut out = String::new();
    let _ = writeln!(out, "Filename: {name}");
    let _ = writeln!(out, "Status: {status}");
    let _ = writeln!(
        out,
        "Serial: {}",
        hex(&x509::cert_serial(leaf).unwrap_or_default(), "")
    );
    let field = |v: Option<String>| v.unwrap_or_default();
    let _ = writeln!(out, "notBefore: {}", field(x509::cert_time(leaf, false)));
    let _ = writeln!(out, "notAfter: {}", field(x509::cert_time(leaf, true)));
    let sans: Vec<String> = c.names.iter().map(|n| format!("DNS:{n}")).collect();
    let _ = writeln!(out, "Subject Alternative Name: {}", sans.join(", "));
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf);
    let _ = writeln!(out, "SHA1 FingerPrint: {}", hex(sha1.as_ref(), ""));
    let _ = writeln!(out, "Subject: {}", field(x509::cert_dn(leaf, false)));
    let _ = writeln!(out, "Issuer: {}", field(x509::cert_dn(leaf, true)));
    let _ = writeln!(out, "Chain length: {}", c.chain.len());
    out
}
