//! TLS on listeners (`bind … ssl`) and towards servers (`server … ssl`), with the global
//! `ssl-default-*` settings already folded in. Certificates, keys and CA bundles are read
//! and checked while the configuration loads, so `-c` reports a missing, unreadable or
//! mismatched file at the line that names it, and the engine builds its TLS state from
//! what is here without touching the files again.

use std::path::PathBuf;

/// The TLS protocol versions there are to name. rustls speaks TLS 1.2 and 1.3 only: the
/// older ones are accepted as bounds (`ssl-min-ver TLSv1.0` still allows 1.2 and 1.3) and
/// refused where they would be the only version left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    pub const NAMES: &'static [&'static str] =
        &["SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "SSLv3" => Self::Ssl3,
            "TLSv1.0" => Self::Tls10,
            "TLSv1.1" => Self::Tls11,
            "TLSv1.2" => Self::Tls12,
            "TLSv1.3" => Self::Tls13,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// Settings a listener and a server connection share. `None` and `false` mean "not
/// written here"; [`TlsOptions::or`] fills them from the `ssl-default-*` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub min_ver: Option<TlsVersion>,
    pub max_ver: Option<TlsVersion>,
    /// `ciphers`: the TLS 1.2 list as written (OpenSSL's cipher-list syntax).
    pub ciphers: Option<String>,
    /// `ciphersuites`: the TLS 1.3 list as written.
    pub ciphersuites: Option<String>,
    /// `curves`: the key-exchange groups as written (`X25519:P-256`).
    pub curves: Option<String>,
    pub no_tls_tickets: bool,
    /// `prefer-client-ciphers`: the client's suite order wins over ours.
    pub prefer_client_ciphers: bool,
    /// `alpn`: protocol names, in preference order.
    pub alpn: Option<Vec<String>>,
}

impl TlsOptions {
    /// These settings, with what they leave unsaid taken from `defaults`.
    pub fn or(&self, defaults: &TlsOptions) -> TlsOptions {
        TlsOptions {
            min_ver: self.min_ver.or(defaults.min_ver),
            max_ver: self.max_ver.or(defaults.max_ver),
            ciphers: self.ciphers.clone().or_else(|| defaults.ciphers.clone()),
            ciphersuites: self
                .ciphersuites
                .clone()
                .or_else(|| defaults.ciphersuites.clone()),
            curves: self.curves.clone().or_else(|| defaults.curves.clone()),
            no_tls_tickets: self.no_tls_tickets || defaults.no_tls_tickets,
            prefer_client_ciphers: self.prefer_client_ciphers || defaults.prefer_client_ciphers,
            alpn: self.alpn.clone().or_else(|| defaults.alpn.clone()),
        }
    }
}

/// `verify none|optional|required`: whether the peer must present a certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verify {
    None,
    Optional,
    #[default]
    Required,
}

/// The kind of DER a private key was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    Pkcs1,
    Sec1,
    Pkcs8,
}

/// A certificate chain and its private key, as read from a PEM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertKey {
    /// The file as named (after `crt-base`), for messages and `show ssl cert`.
    pub path: PathBuf,
    /// DER certificates, the leaf first.
    pub chain: Vec<Vec<u8>>,
    pub key: Vec<u8>,
    pub key_format: KeyFormat,
    /// The DNS names the leaf is valid for (subjectAltName, else the common name),
    /// lowercase; wildcards as `*.example.com`.
    pub names: Vec<String>,
}

/// DER certificates read from a `ca-file`, or revocation lists from a `crl-file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerFile {
    pub path: PathBuf,
    pub items: Vec<Vec<u8>>,
}

/// One certificate a listener can present: a `crt` file (or each file of a `crt`
/// directory), or a `crt-list` line with its SNI filters and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindCert {
    pub cert: CertKey,
    /// SNI names this certificate answers (`*.example.com` wildcards allowed): the
    /// crt-list filters, or the certificate's own names when the line has none.
    pub sni: Vec<String>,
    /// Names excluded by `!name` filters.
    pub not_sni: Vec<String>,
    /// Per-line options of a `crt-list` (`[alpn h2 ssl-min-ver TLSv1.2]`), over the bind's.
    pub options: TlsOptions,
    /// Per-line `verify` of a `crt-list`.
    pub verify: Option<Verify>,
}

impl BindCert {
    /// A certificate named by `crt`: it answers its own names, with the bind's options.
    pub fn own(cert: CertKey) -> Self {
        Self {
            sni: cert.names.clone(),
            cert,
            not_sni: Vec::new(),
            options: TlsOptions::default(),
            verify: None,
        }
    }
}

/// `bind … ssl`: what the listener terminates TLS with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindTls {
    /// In load order; the first is the default certificate, presented when no name matches
    /// (unless `strict-sni`).
    pub certs: Vec<BindCert>,
    /// The `crt` and `crt-list` arguments as written, for `dump`.
    pub crt: Vec<PathBuf>,
    pub crt_list: Vec<PathBuf>,
    /// The bind's own options with `ssl-default-bind-*` folded in.
    pub options: TlsOptions,
    pub strict_sni: bool,
    /// `verify`; `None` is HAProxy's default, `none`: no client certificate is asked for.
    pub verify: Option<Verify>,
    pub ca_file: Option<DerFile>,
    pub crl_file: Option<DerFile>,
}

/// A server's TLS settings (`ssl`, `verify`, `ca-file`, `sni`, …), kept whether or not the
/// server has `ssl`: `check-ssl` uses them for health checks, as HAProxy does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTls {
    /// The server's own options with `ssl-default-server-*` folded in.
    pub options: TlsOptions,
    /// `verify none|required`; with `None`, `ssl-server-verify` decides (required by
    /// default). Never `Optional`: a server has no such mode.
    pub verify: Option<Verify>,
    pub ca_file: Option<DerFile>,
    pub crl_file: Option<DerFile>,
    /// `sni EXPR`: evaluated per connection; its string is the name sent in the ClientHello
    /// (and checked against the certificate when verifying). `None`: no name is sent.
    pub sni: Option<crate::acl::SampleExpr>,
    /// `verifyhost NAME`: the name the certificate must hold when no SNI was sent.
    pub verifyhost: Option<String>,
    /// `crt FILE` as written (after `crt-base` when relative): a client certificate.
    pub crt: Option<PathBuf>,
    /// The chain and key `crt` names, read when the configuration settles.
    pub cert: Option<CertKey>,
    /// `no-ssl-reuse`: every connection makes a full handshake.
    pub no_reuse: bool,
    /// `check-sni NAME`: the name health checks send.
    pub check_sni: Option<String>,
}

impl ServerTls {
    /// The `verify` that applies, `ssl-server-verify` filling in when the line says nothing.
    pub fn verify_or(&self, global: &GlobalTls) -> Verify {
        self.verify.unwrap_or(global.server_verify)
    }
}

/// Global TLS settings (`ssl-default-*`, `ca-base`, `crt-base`, `tune.ssl.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalTls {
    pub bind: TlsOptions,
    pub server: TlsOptions,
    pub ca_base: Option<PathBuf>,
    pub crt_base: Option<PathBuf>,
    /// `ssl-server-verify`: the servers' `verify` when they say nothing.
    pub server_verify: Verify,
    /// `tune.ssl.cachesize`: sessions each listener's resumption cache holds (0: no cache).
    pub cachesize: u32,
    /// `tune.ssl.lifetime`: how long a cached session or a ticket may be resumed.
    pub lifetime: std::time::Duration,
    /// `tune.ssl.maxrecord`: the largest record payload sent (`None`: 16384).
    pub maxrecord: Option<u32>,
}

impl Default for GlobalTls {
    fn default() -> Self {
        Self {
            bind: TlsOptions::default(),
            server: TlsOptions::default(),
            ca_base: None,
            crt_base: None,
            server_verify: Verify::Required,
            cachesize: 20_000,
            lifetime: std::time::Duration::from_secs(300),
            maxrecord: None,
        }
    }
}
