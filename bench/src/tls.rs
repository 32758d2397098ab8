//! TLS for the TLS workloads: the certificates every proxy presents (made by `openssl` at
//! start), the harness's own rustls client, and the check that a proxy resumes no session.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use ringlb_config::model::{GlobalTls, ServerTls, Verify};
use ringlb_config::tls::client::ClientTls;
use rustls::{ClientConnection, HandshakeKind};

/// The key of the certificate a TLS workload's proxies present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    EcdsaP256,
    Rsa2048,
}

impl KeyType {
    fn stem(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::Rsa2048 => "rsa-2048",
        }
    }

    fn newkey(self) -> &'static [&'static str] {
        match self {
            KeyType::EcdsaP256 => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            KeyType::Rsa2048 => &["-newkey", "rsa:2048"],
        }
    }
}

/// The name the certificates are made for; the harness's client sends it as SNI.
pub const SERVER_NAME: &str = "bench.test";

/// One PEM file per key type, certificate then key, as `crt` and nginx's
/// `ssl_certificate`/`ssl_certificate_key` all read it.
#[derive(Debug, Clone)]
pub struct Certs {
    ecdsa_p256: PathBuf,
    rsa_2048: PathBuf,
}

impl Certs {
    /// Makes a self-signed certificate of each key type in `dir`.
    pub fn generate(dir: &Path) -> Result<Certs, String> {
        Ok(Certs {
            ecdsa_p256: self_signed(dir, KeyType::EcdsaP256)?,
            rsa_2048: self_signed(dir, KeyType::Rsa2048)?,
        })
    }

    pub fn pem(&self, key: KeyType) -> &Path {
        match key {
            KeyType::EcdsaP256 => &self.ecdsa_p256,
            KeyType::Rsa2048 => &self.rsa_2048,
        }
    }
}

fn self_signed(dir: &Path, key: KeyType) -> Result<PathBuf, String> {
    let crt = dir.join(format!("{}.crt", key.stem()));
    let keyfile = dir.join(format!("{}.key", key.stem()));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "30"])
        .args(key.newkey())
        .args(["-subj", &format!("/CN={SERVER_NAME}")])
        .args(["-addext", &format!("subjectAltName=DNS:{SERVER_NAME}")])
        .arg("-keyout")
        .arg(&keyfile)
        .arg("-out")
        .arg(&crt)
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl req ({}) failed: {}",
            key.stem(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut pem = read(&crt)?;
    pem.extend(read(&keyfile)?);
    let path = dir.join(format!("{}.pem", key.stem()));
    std::fs::write(&path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The harness's client: the engine's own server-side TLS with `verify none` (the harness
/// measures the proxy, it does not authenticate it; wrk and h2load do not verify either),
/// TLS 1.2 and 1.3, and a session store, so a second connection offers the first one's
/// session.
pub fn client() -> ClientTls {
    let g = GlobalTls::default();
    ClientTls::new(&ServerTls::default(), Verify::None, &g, true)
        .expect("the default client settings build")
}

/// A connection to the proxy at `addr`, sending the certificates' name.
pub fn connect(tls: &ClientTls, addr: SocketAddr) -> std::io::Result<ClientConnection> {
    tls.connect(Some(SERVER_NAME), addr.ip())
        .map_err(std::io::Error::other)
}

/// Whether the proxy on `addr` resumes TLS sessions: two connections, one request each, from
/// one client, so the second offers the session (ticket or ID) the first was given.
pub fn resumes(addr: SocketAddr) -> Result<bool, String> {
    let config = client();
    let mut kind = None;
    for _ in 0..2 {
        let mut conn = crate::idle::after_one_request(addr, Some(&config), crate::idle::Ask::Get)
            .map_err(|e| format!("TLS probe of {addr}: {e}"))?;
        kind = conn.handshake_kind();
        conn.close();
    }
    Ok(kind == Some(HandshakeKind::Resumed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::{haproxy_language, Mode, Spec};

    #[test]
    fn ringlb_loads_both_certificates_with_resumption_off() {
        let dir = std::env::temp_dir().join(format!("ringlb-bench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let certs = Certs::generate(&dir).unwrap();
        for key in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            let spec = Spec {
                mode: Mode::Http,
                front_port: 18443,
                back_port: 18080,
                threads: 1,
                proxy_cpus: vec![1],
                routing: false,
                h2: false,
                maxconn: 4096,
                tls: Some(certs.pem(key).to_owned()),
            };
            let text = haproxy_language(&spec, true);
            assert!(text.contains("tune.ssl.cachesize 0"), "{text}");
            assert!(text.contains(" ssl crt ") && text.contains(" no-tls-tickets"));
            let loaded = ringlb_config::parse_str(&text, &dir.join("bench.cfg"));
            assert!(loaded.config.is_some(), "{:?}\n{text}", loaded.diagnostics);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
