//! The names of [`super`] as rustls objects: suites, key-exchange groups and the crypto
//! provider a resolved setting allows, and certificates and keys as rustls takes them.
//! Listeners and server connections (and the health checks over TLS) build from here.

use std::sync::Arc;

use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::SupportedProtocolVersion;

use super::{Group, Resolved, Suite};
use crate::model::{CertKey, KeyFormat, TlsVersion};

/// The rustls suite a configuration [`Suite`] names.
pub fn suite(s: Suite) -> rustls::SupportedCipherSuite {
    use aws_lc_rs::cipher_suite as cs;
    match s {
        Suite::Tls13Aes128GcmSha256 => cs::TLS13_AES_128_GCM_SHA256,
        Suite::Tls13Aes256GcmSha384 => cs::TLS13_AES_256_GCM_SHA384,
        Suite::Tls13Chacha20Poly1305Sha256 => cs::TLS13_CHACHA20_POLY1305_SHA256,
        Suite::EcdheEcdsaAes128GcmSha256 => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        Suite::EcdheEcdsaAes256GcmSha384 => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        Suite::EcdheEcdsaChacha20Poly1305 => cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        Suite::EcdheRsaAes128GcmSha256 => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        Suite::EcdheRsaAes256GcmSha384 => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        Suite::EcdheRsaChacha20Poly1305 => cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    }
}

fn group(g: Group) -> &'static dyn rustls::crypto::SupportedKxGroup {
    use aws_lc_rs::kx_group as kx;
    match g {
        Group::X25519 => kx::X25519,
        Group::Secp256r1 => kx::SECP256R1,
        Group::Secp384r1 => kx::SECP384R1,
        Group::X25519MlKem768 => kx::X25519MLKEM768,
    }
}

/// The provider and versions a resolved TLS setting allows.
pub fn provider_for(r: &Resolved) -> (Arc<CryptoProvider>, Vec<&'static SupportedProtocolVersion>) {
    let mut p = aws_lc_rs::default_provider();
    let default_of = |tls13: bool| -> Vec<rustls::SupportedCipherSuite> {
        aws_lc_rs::DEFAULT_CIPHER_SUITES
            .iter()
            .copied()
            .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)) == tls13)
            .collect()
    };
    let mut suites = match &r.tls13 {
        Some(list) => list.iter().map(|s| suite(*s)).collect(),
        None => default_of(true),
    };
    suites.extend(match &r.tls12 {
        Some(list) => list.iter().map(|s| suite(*s)).collect(),
        None => default_of(false),
    });
    p.cipher_suites = suites;
    if let Some(groups) = &r.groups {
        p.kx_groups = groups.iter().map(|g| group(*g)).collect();
    }
    let versions = r
        .versions
        .iter()
        .map(|v| match v {
            TlsVersion::Tls13 => &rustls::version::TLS13,
            _ => &rustls::version::TLS12,
        })
        .collect();
    (Arc::new(p), versions)
}

pub fn key_der(c: &CertKey) -> PrivateKeyDer<'static> {
    let der = c.key.clone();
    match c.key_format {
        KeyFormat::Pkcs1 => PrivateKeyDer::Pkcs1(der.into()),
        KeyFormat::Sec1 => PrivateKeyDer::Sec1(der.into()),
        KeyFormat::Pkcs8 => PrivateKeyDer::Pkcs8(der.into()),
    }
}

pub fn chain_der(c: &CertKey) -> Vec<CertificateDer<'static>> {
    c.chain
        .iter()
        .map(|d| CertificateDer::from(d.clone()))
        .collect()
}
