//! A listener's TLS: one rustls configuration per certificate it can present, chosen by the
//! name the client asks for (SNI), and the handshake of an accepted connection.
//!
//! The ClientHello is read first (rustls's `Acceptor`), then the certificate is chosen the
//! way HAProxy chooses: an exact name before a wildcard, `!name` filters excluded, the
//! first certificate when nothing matches (or a refusal with `strict-sni`). Per-certificate
//! `crt-list` options (versions, suites, ALPN, client verification) are each certificate's
//! own configuration. Every configuration of a listener shares one session cache and one
//! ticket key rotation, and the listener is shared by all workers, so a session made on
//! one worker resumes on any.

use std::os::fd::AsRawFd;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use monoio::net::TcpStream;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use rustls::server::{Acceptor, ProducesTickets, StoresServerSessions, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};

use ringlb_config::model::{BindCert, BindTls, CertKey, GlobalTls, Verify};
use ringlb_config::tls::provider::{chain_der, key_der, provider_for};
use ringlb_config::tls::{self as names};

use super::{ready, would_block, Fd, HandshakeError, TlsStream};
use super::{Session, Side};

/// One certificate a listener presents, with the configuration that presents it.
struct Presented {
    /// What it was built from: the certificate, its names and per-line options.
    source: BindCert,
    config: Arc<ServerConfig>,
}

/// `bind … ssl`, ready to accept: shared by every worker.
pub struct TlsListener {
    /// The `bind` line's `name`, else its position in the frontend (from 1), for logs.
    pub name: String,
    /// The certificates, replaced whole when the runtime API commits a new one: a
    /// handshake takes the list as it is when the ClientHello arrives.
    certs: RwLock<Arc<Vec<Presented>>>,
    /// What every certificate's configuration is built with, kept to build a new one.
    bind: BindTls,
    global: GlobalTls,
    http: bool,
    sessions: Arc<dyn StoresServerSessions>,
    ticketer: Arc<dyn ProducesTickets>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("certs", &self.certificates().len())
            .field("strict_sni", &self.bind.strict_sni)
            .finish()
    }
}

/// Tickets issued with `tune.ssl.lifetime` as their lifetime, keys from rustls's rotator.
#[derive(Debug)]
struct Lifetime(Arc<dyn ProducesTickets>, u32);

impl ProducesTickets for Lifetime {
    fn enabled(&self) -> bool {
        self.0.enabled()
    }
    fn lifetime(&self) -> u32 {
        self.1
    }
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.0.encrypt(plain)
    }
    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.0.decrypt(cipher)
    }
}

impl TlsListener {
    /// Builds a listener's TLS from its settled configuration (`http`: the frontend speaks
    /// HTTP/1, which limits the ALPN protocols offered).
    pub fn new(name: String, t: &BindTls, g: &GlobalTls, http: bool) -> Result<Self, String> {
        let sessions: Arc<dyn StoresServerSessions> = match g.cachesize {
            0 => Arc::new(rustls::server::NoServerSessionStorage {}),
            n => rustls::server::ServerSessionMemoryCache::new(n as usize),
        };
        let lifetime = u32::try_from(g.lifetime.as_secs()).unwrap_or(u32::MAX);
        let ticketer: Arc<dyn ProducesTickets> = Arc::new(Lifetime(
            aws_lc_rs::Ticketer::new().map_err(|e| e.to_string())?,
            lifetime,
        ));
        let bind = BindTls {
            certs: Vec::new(),
            ..t.clone()
        };
        let mut me = Self {
            name,
            certs: RwLock::new(Arc::new(Vec::new())),
            bind,
            global: g.clone(),
            http,
            sessions,
            ticketer,
        };
        let mut certs = Vec::with_capacity(t.certs.len());
        for c in &t.certs {
            certs.push(me.present(c.clone())?);
        }
        if certs.is_empty() {
            return Err("no certificate to present".into());
        }
        me.certs = RwLock::new(Arc::new(certs));
        Ok(me)
    }

    fn present(&self, source: BindCert) -> Result<Presented, String> {
        let config = server_config(
            &self.bind,
            &source,
            &self.global,
            self.http,
            &self.sessions,
            &self.ticketer,
        )
        .map_err(|e| format!("'{}': {e}", source.cert.path.display()))?;
        Ok(Presented {
            source,
            config: Arc::new(config),
        })
    }

    fn current(&self) -> Arc<Vec<Presented>> {
        self.certs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The certificates presented now, in order.
    pub fn certificates(&self) -> Vec<CertKey> {
        self.current()
            .iter()
            .map(|p| p.source.cert.clone())
            .collect()
    }

    /// Presents `cert` in place of every certificate loaded from the same file (new
    /// handshakes only; connections already made keep theirs). Returns how many were
    /// replaced.
    pub fn replace(&self, cert: &CertKey) -> Result<usize, String> {
        let now = self.current();
        let mut next = Vec::with_capacity(now.len());
        let mut replaced = 0;
        for p in now.iter() {
            if p.source.cert.path != cert.path {
                next.push(Presented {
                    source: p.source.clone(),
                    config: p.config.clone(),
                });
                continue;
            }
            // A `crt` certificate answers its own names, so the new one answers its own;
            // `crt-list` filters stay as written.
            let own = p.source.sni == p.source.cert.names;
            let source = BindCert {
                cert: cert.clone(),
                sni: if own {
                    cert.names.clone()
                } else {
                    p.source.sni.clone()
                },
                ..p.source.clone()
            };
            next.push(self.present(source)?);
            replaced += 1;
        }
        if replaced > 0 {
            *self.certs.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        }
        Ok(replaced)
    }

    /// The configuration for a client asking for `sni`: `None` when `strict-sni` finds no
    /// certificate for it.
    fn select(&self, sni: Option<&str>) -> Option<Arc<ServerConfig>> {
        let certs = self.current();
        if let Some(name) = sni.map(|s| s.to_ascii_lowercase()) {
            let allowed = |p: &&Presented| {
                !p.source
                    .not_sni
                    .iter()
                    .any(|n| names::sni_matches(n, &name))
            };
            let exact = certs.iter().filter(allowed).find(|p| {
                p.source
                    .sni
                    .iter()
                    .any(|n| !n.starts_with("*.") && *n == name)
            });
            let wild = || {
                certs.iter().filter(allowed).find(|p| {
                    p.source
                        .sni
                        .iter()
                        .any(|n| n.starts_with("*.") && names::sni_matches(n, &name))
                })
            };
            if let Some(p) = exact.or_else(wild) {
                return Some(p.config.clone());
            }
        }
        (!self.bind.strict_sni).then(|| certs[0].config.clone())
    }

    /// The TLS handshake of an accepted connection, within `limit`.
    pub async fn accept(
        &self,
        tcp: TcpStream,
        limit: Option<Duration>,
    ) -> Result<TlsStream, HandshakeError> {
        let deadline = limit.map(|l| monoio::time::Instant::now() + l);
        let mut fd = Fd(tcp.as_raw_fd());
        let mut acceptor = Acceptor::default();
        // Every byte read, kept: the connection made once the certificate is chosen
        // processes the ClientHello again from them.
        let mut raw: Vec<u8> = Vec::new();
        let accepted = loop {
            let from = raw.len();
            raw.reserve(4096);
            match fd.recv_into(&mut raw) {
                Ok(0) => return Err(HandshakeError::Closed),
                // Fed whole: one `read_tls` takes at most 4 KiB. rustls refuses a
                // ClientHello over 64 KiB; so does this.
                Ok(_) => {
                    let mut rest = &raw[from..];
                    while !rest.is_empty() {
                        match acceptor.read_tls(&mut rest) {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(e) => return Err(HandshakeError::Refused(e.to_string())),
                        }
                    }
                }
                Err(e) if would_block(&e) => {
                    ready(&tcp, false, deadline).await?;
                    continue;
                }
                Err(_) => return Err(HandshakeError::Closed),
            }
            match acceptor.accept() {
                Ok(Some(a)) => break a,
                Ok(None) => {}
                Err((e, mut alert)) => {
                    let _ = alert.write(&mut fd);
                    return Err(HandshakeError::Refused(e.to_string()));
                }
            }
        };
        let sni = accepted.client_hello().server_name().map(str::to_string);
        let Some(config) = self.select(sni.as_deref()) else {
            return Err(HandshakeError::Refused(format!(
                "strict-sni: no certificate for '{}'",
                sni.as_deref().unwrap_or("")
            )));
        };
        drop(accepted);
        let conn = rustls::server::UnbufferedServerConnection::new(config)
            .map_err(|e| HandshakeError::Refused(e.to_string()))?;
        let st = Session::new(Side::Server(conn), raw);
        TlsStream::handshake(tcp, st, sni.map(Box::from), deadline).await
    }
}

fn server_config(
    t: &BindTls,
    c: &BindCert,
    g: &GlobalTls,
    http: bool,
    sessions: &Arc<dyn StoresServerSessions>,
    ticketer: &Arc<dyn ProducesTickets>,
) -> Result<ServerConfig, String> {
    let o = &c.options;
    let resolved = names::resolve(o)?;
    let (provider, versions) = provider_for(&resolved);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?;
    let verify = c.verify.or(t.verify).unwrap_or(Verify::None);
    let builder = match (verify, &t.ca_file) {
        (Verify::None, _) | (_, None) => builder.with_no_client_auth(),
        (v, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            for der in &ca.items {
                roots
                    .add(CertificateDer::from(der.clone()))
                    .map_err(|e| format!("ca-file '{}': {e}", ca.path.display()))?;
            }
            let mut vb = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if let Some(crl) = &t.crl_file {
                vb = vb.with_crls(
                    crl.items
                        .iter()
                        .map(|d| CertificateRevocationListDer::from(d.clone())),
                );
            }
            if v == Verify::Optional {
                vb = vb.allow_unauthenticated();
            }
            builder.with_client_cert_verifier(vb.build().map_err(|e| e.to_string())?)
        }
    };
    let mut config = builder
        .with_single_cert(chain_der(&c.cert), key_der(&c.cert))
        .map_err(|e| e.to_string())?;
    config.session_storage = sessions.clone();
    if !o.no_tls_tickets {
        config.ticketer = ticketer.clone();
    }
    config.ignore_client_order = !o.prefer_client_ciphers;
    config.max_fragment_size = g.maxrecord.map(|n| n as usize + 5);
    if let Some(alpn) = &o.alpn {
        config.alpn_protocols = names::offered_alpn(alpn, http, true)
            .0
            .into_iter()
            .map(String::into_bytes)
            .collect();
    }
    Ok(config)
}
