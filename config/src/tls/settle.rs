//! What every `bind … ssl` names, loaded and checked once the configuration is parsed, with
//! the global `ssl-default-bind-*` settings folded in.

use std::path::{Path, PathBuf};

use super::{cert_dir, load_ca, load_cert_key, load_crl, offered_alpn, option, resolve, verify};
use crate::diag::{Diagnostic, Location};
use crate::model::{BindAddr, BindCert, Config, Mode, TlsOptions, TlsVersion, Verify};

/// Where a file named on a line is read from: as written when absolute, else under `base`
/// (`crt-base`, `ca-base`) when set, else beside the configuration file.
pub(super) fn locate(written: &Path, base: Option<&Path>, at: &Location) -> PathBuf {
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
    super::client::settle(config, &g, &mut diags);
    for p in &mut config.proxies {
        let http = p.mode == Mode::Http;
        for b in &mut p.binds {
            let Some(t) = b.options.tls.as_deref_mut() else {
                continue;
            };
            let at = b.location.clone();
            let err =
                |m: String, help: &str| Diagnostic::error(at.clone(), "bind", m).with_help(help);
            if b.addrs.iter().any(|a| matches!(a, BindAddr::Unix(_))) {
                diags.push(err(
                    "'ssl' on a Unix socket address is not supported".into(),
                    "bind TLS on a TCP address (ADDRESS:PORT)",
                ));
                continue;
            }
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
pub(super) fn check_options(
    o: &TlsOptions,
    http: bool,
    at: &Location,
    kw: &str,
    diags: &mut Vec<Diagnostic>,
) {
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
        let listener = kw == "bind";
        let (_, dropped) = offered_alpn(alpn, http, listener);
        if !dropped.is_empty() {
            let (what, speaks) = match listener {
                true => ("listener", "HTTP/1.1 and HTTP/2 (h2)"),
                false => ("server connection", "HTTP/1.1"),
            };
            diags.push(
                Diagnostic::warning(
                    at.clone(),
                    kw,
                    format!(
                        "alpn: {} not offered: this mode http {what} speaks {speaks}",
                        dropped.join(", "),
                    ),
                )
                .with_help(match listener {
                    true => "write 'alpn h2,http/1.1' to silence this",
                    false => "servers negotiate http/1.1; write 'alpn http/1.1' to silence this",
                }),
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
