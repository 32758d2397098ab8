//! TLS towards servers (`server … ssl`): what server lines name is read when the
//! configuration settles, and the rustls client configuration is built here, so `-c`
//! builds exactly what the engine and the health checker connect with.
//!
//! HAProxy's verification rule: with `verify required` the chain must lead to a `ca-file`
//! certificate, and the certificate must be valid for the name sent as SNI, else for
//! `verifyhost`; when neither gives a name, the certificate's names are not checked.
//! rustls always checks a name, so a connection without SNI uses a configuration whose
//! verifier either checks `verifyhost` or ignores only the name mismatch. `verify none`
//! accepts any certificate (a verifier from rustls's `danger` API); the handshake's
//! signatures are still checked.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption, Tls12Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, Error};
use rustls::{RootCertStore, SignatureScheme};

use super::provider::{chain_der, key_der, provider_for};
use super::settle::{check_options, locate};
use super::{load_ca, load_cert_key, load_crl, offered_alpn, resolve};
use crate::diag::Diagnostic;
use crate::model::{Config, GlobalTls, Host, Mode, ServerTls, Verify};

/// Sessions kept per server for resumption: one per name it is reached by, in practice.
const SESSIONS: usize = 256;

/// A server's TLS, ready to start connections: built once, shared by every worker.
pub struct ClientTls {
    /// For a connection that sends a name (SNI).
    named: Arc<ClientConfig>,
    /// For a connection that sends none.
    unnamed: Arc<ClientConfig>,
    /// `verifyhost`: the name checked when none is sent.
    verifyhost: Option<ServerName<'static>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("verifyhost", &self.verifyhost)
            .finish()
    }
}

impl ClientTls {
    /// Builds a server's TLS from its settled settings, `verify` already decided
    /// ([`ServerTls::verify_or`]); `http`: the backend speaks HTTP/1, which limits the
    /// ALPN protocols offered.
    pub fn new(t: &ServerTls, verify: Verify, g: &GlobalTls, http: bool) -> Result<Self, String> {
        let (provider, versions) = provider_for(&resolve(&t.options)?);
        let chain = match verify {
            Verify::None => None,
            _ => Some(chain_verifier(t, &provider)?),
        };
        let verifyhost = match &t.verifyhost {
            Some(n) => Some(
                ServerName::try_from(n.clone())
                    .map_err(|_| format!("verifyhost '{n}' is not a host name"))?,
            ),
            None => None,
        };
        let resumption = match t.no_reuse {
            true => Resumption::disabled(),
            false => Resumption::store(Arc::new(ClientSessionMemoryCache::new(SESSIONS))),
        };
        let resumption = match t.options.no_tls_tickets {
            true => resumption.tls12_resumption(Tls12Resumption::SessionIdOnly),
            false => resumption,
        };
        let build = |names: bool, sni: bool| -> Result<Arc<ClientConfig>, String> {
            let verifier = Arc::new(Verifier {
                chain: chain.clone(),
                names,
                provider: provider.clone(),
            });
            let builder = ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&versions)
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(verifier);
            let mut c = match &t.cert {
                Some(cert) => builder
                    .with_client_auth_cert(chain_der(cert), key_der(cert))
                    .map_err(|e| format!("crt '{}': {e}", cert.path.display()))?,
                None => builder.with_no_client_auth(),
            };
            c.enable_sni = sni;
            c.resumption = resumption.clone();
            c.max_fragment_size = g.maxrecord.map(|n| n as usize + 5);
            if let Some(alpn) = &t.options.alpn {
                c.alpn_protocols = offered_alpn(alpn, http, false)
                    .0
                    .into_iter()
                    .map(String::into_bytes)
                    .collect();
            }
            Ok(Arc::new(c))
        };
        Ok(Self {
            named: build(true, true)?,
            unnamed: build(verifyhost.is_some(), false)?,
            verifyhost,
        })
    }

    /// A connection to a server at `addr` sending `sni` (none when `None` or empty).
    pub fn connect(&self, sni: Option<&str>, addr: IpAddr) -> Result<ClientConnection, String> {
        let (config, name) = self.target(sni, addr);
        ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())
    }

    /// [`ClientTls::connect`] for rustls's unbuffered API (the engine's connections).
    pub fn connect_unbuffered(
        &self,
        sni: Option<&str>,
        addr: IpAddr,
    ) -> Result<rustls::client::UnbufferedClientConnection, String> {
        let (config, name) = self.target(sni, addr);
        rustls::client::UnbufferedClientConnection::new(config.clone(), name)
            .map_err(|e| e.to_string())
    }

    /// The configuration and the name a connection sending `sni` uses.
    fn target(&self, sni: Option<&str>, addr: IpAddr) -> (&Arc<ClientConfig>, ServerName<'static>) {
        let named = sni
            .filter(|s| !s.is_empty())
            .and_then(|s| ServerName::try_from(s.to_string()).ok());
        match named {
            Some(n) => (&self.named, n),
            None => (
                &self.unnamed,
                self.verifyhost
                    .clone()
                    .unwrap_or(ServerName::IpAddress(addr.into())),
            ),
        }
    }
}

/// The CA (and revocation lists) a server's certificate chain must lead to.
fn chain_verifier(
    t: &ServerTls,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    let Some(ca) = &t.ca_file else {
        return Err("verify required needs a ca-file".into());
    };
    let mut roots = RootCertStore::empty();
    for der in &ca.items {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| format!("ca-file '{}': {e}", ca.path.display()))?;
    }
    let mut b = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if let Some(crl) = &t.crl_file {
        b = b.with_crls(
            crl.items
                .iter()
                .map(|d| CertificateRevocationListDer::from(d.clone())),
        );
    }
    b.build().map_err(|e| match &t.crl_file {
        Some(crl) => format!(
            "ca-file '{}' with crl-file '{}': {e}",
            ca.path.display(),
            crl.path.display()
        ),
        None => format!("ca-file '{}': {e}", ca.path.display()),
    })
}

/// HAProxy's server verification over rustls's: the chain (when verifying), the name only
/// when there is one to check.
#[derive(Debug)]
struct Verifier {
    /// `None`: `verify none`, any certificate is accepted.
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// The connection's name (SNI or `verifyhost`) must be in the certificate.
    names: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        // rustls checks the chain first, then the name: a name mismatch is the only error
        // that can follow a good chain.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Reads what every server line names (`ca-file`, `crl-file`, `crt`), folds the global
/// `ssl-default-server-*` settings in, and builds the TLS of each server that uses it
/// (`ssl`, or checks over TLS), reporting what cannot work at the server's line.
pub(super) fn settle(config: &mut Config, g: &GlobalTls, diags: &mut Vec<Diagnostic>) {
    for p in &mut config.proxies {
        let http = p.mode == Mode::Http;
        for s in &mut p.servers {
            let at = s.location.clone();
            let err = |m: String, help: &str| {
                Diagnostic::error(at.clone(), "server", format!("server '{}': {m}", s.name))
                    .with_help(help)
            };
            let mut errors = Vec::new();
            let uses = s.ssl || (s.check.enabled && s.check_tls());
            // An HTTP/2 server over TLS is asked for `h2` unless `alpn` says otherwise; its
            // ALPN list is offered as written (HTTP/1 backends offer HTTP/1.x only).
            let h2 = s.proto == Some(crate::model::HttpProto::H2);
            if h2 && s.tls.options.alpn.is_none() {
                s.tls.options.alpn = Some(vec!["h2".into()]);
            }
            let http = http && !h2;
            let unix = matches!(s.addr.host, Host::Unix(_));
            let t = &mut *s.tls;
            t.options = t.options.or(&g.server);
            // Files are read whether or not the server uses TLS, as HAProxy does.
            if let Some(f) = &mut t.ca_file {
                match load_ca(&locate(&f.path, g.ca_base.as_deref(), &at)) {
                    Ok(l) => f.items = l.items,
                    Err(e) => errors.push(err(
                        format!("ca-file: {e}"),
                        "name a PEM file of CA certificates",
                    )),
                }
            }
            if let Some(f) = &mut t.crl_file {
                match load_crl(&locate(&f.path, g.ca_base.as_deref(), &at)) {
                    Ok(l) => f.items = l.items,
                    Err(e) => errors.push(err(
                        format!("crl-file: {e}"),
                        "name a PEM file of revocation lists",
                    )),
                }
            }
            t.cert = None;
            if let Some(crt) = &t.crt {
                match load_cert_key(&locate(crt, g.crt_base.as_deref(), &at)) {
                    Ok(c) => t.cert = Some(c),
                    Err(e) => errors.push(err(
                        format!("crt: {e}"),
                        "give a PEM file holding the client certificate chain and its key",
                    )),
                }
            }
            if uses && errors.is_empty() {
                check_options(&t.options, http, &at, "server", &mut errors);
                let verify = t.verify_or(g);
                if unix {
                    errors.push(err(
                        "TLS to a server on a Unix socket is not supported".into(),
                        "reach the server over TCP, or remove 'ssl'/'check-ssl'",
                    ));
                } else if verify != Verify::None && t.ca_file.is_none() {
                    // HAProxy's own wording.
                    errors.push(err(
                        "verify is enabled by default but no CA file specified".into(),
                        "add 'ca-file /path/to/ca.pem' to check the server's certificate; on \
                         a network where the server is trusted, write 'verify none' on the \
                         server line or 'ssl-server-verify none' in the global section",
                    ));
                } else if !errors.iter().any(Diagnostic::is_error) {
                    if let Err(e) = ClientTls::new(t, verify, g, http) {
                        errors.push(err(e, "see docs/tls.md, section Servers"));
                    }
                }
            }
            diags.extend(errors);
        }
    }
}
