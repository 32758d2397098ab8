//! The TLS keywords outside `bind`: the global ones (`ssl-default-*`, `ca-base`,
//! `crt-base`, `tune.ssl.*`) and those of `server` and `default-server` lines.

use super::{unknown, LineRef, Step};
use crate::acl::{Fetch, SampleExpr};
use crate::diag::Diagnostic;
use crate::model::{DerFile, GlobalTls, ServerCheck, ServerTls, Verify};
use crate::tls::{option, WORDS};
use crate::value::{self, TimeUnit};

/// The global TLS keywords; `None` when `kw` is not one.
pub(super) fn global(
    g: &mut GlobalTls,
    line: &LineRef<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Step> {
    let kw = line.keyword();
    let one = || -> Result<String, Diagnostic> {
        let w = line.arg(1, kw, "VALUE")?;
        line.no_more(1, kw)?;
        Ok(w.to_string())
    };
    let r = || -> Step {
        match kw {
            "ca-base" => g.ca_base = Some(one()?.into()),
            "crt-base" => g.crt_base = Some(one()?.into()),
            "ssl-default-bind-ciphers" => g.bind.ciphers = Some(one()?),
            "ssl-default-bind-ciphersuites" => g.bind.ciphersuites = Some(one()?),
            "ssl-default-bind-curves" => g.bind.curves = Some(one()?),
            "ssl-default-server-ciphers" => g.server.ciphers = Some(one()?),
            "ssl-default-server-ciphersuites" => g.server.ciphersuites = Some(one()?),
            "ssl-default-server-curves" => g.server.curves = Some(one()?),
            "ssl-default-bind-options" | "ssl-default-server-options" => {
                let o = if kw.contains("-bind-") {
                    &mut g.bind
                } else {
                    &mut g.server
                };
                let mut i = 1;
                line.arg(1, kw, "OPTION [OPTION…]")?;
                while let Some(w) = line.words.get(i) {
                    let arg = || line.arg(i + 1, w, "VALUE").map(str::to_string);
                    let err = |m: String, h: String| line.error(m).with_help(h);
                    match option(o, w, &arg, &err) {
                        // `alpn` belongs on the bind or server line (HAProxy has no default).
                        Some(r) if w != "alpn" => i += if r? { 2 } else { 1 },
                        _ => {
                            let known: Vec<&str> =
                                WORDS.iter().copied().filter(|w| *w != "alpn").collect();
                            return Err(unknown(line, &format!("'{kw}' option"), w, &known));
                        }
                    }
                }
            }
            "ssl-server-verify" => {
                g.server_verify = match one()?.as_str() {
                    "none" => Verify::None,
                    "required" => Verify::Required,
                    other => {
                        return Err(unknown(
                            line,
                            "'ssl-server-verify' mode",
                            other,
                            &["none", "required"],
                        ))
                    }
                }
            }
            "tune.ssl.cachesize" => {
                g.cachesize = value::number(&one()?, kw).map_err(|e| line.invalid(kw, e))?
            }
            "tune.ssl.lifetime" => {
                g.lifetime =
                    value::duration(&one()?, TimeUnit::S).map_err(|e| line.invalid(kw, e))?
            }
            "tune.ssl.maxrecord" => {
                let n = value::number(&one()?, kw).map_err(|e| line.invalid(kw, e))?;
                // 0 is HAProxy's "no limit"; rustls takes 32 to 16384 bytes of payload.
                g.maxrecord = match n {
                    0 => None,
                    32..=16384 => Some(n),
                    _ => {
                        return Err(line
                            .error(format!("'tune.ssl.maxrecord' {n} is out of range"))
                            .with_help("use 0 (no limit) or 32 to 16384 bytes"))
                    }
                }
            }
            "tune.ssl.default-dh-param" | "ssl-dh-param-file" => {
                one()?;
                diags.push(
                    line.warning(format!(
                        "'{kw}' has no effect: rustls offers no finite-field Diffie-Hellman \
                         suites, only elliptic-curve key exchange"
                    ))
                    .with_help("remove it"),
                );
            }
            _ => {
                return Err(line
                    .error(format!("'{kw}' is not supported by ringlb's TLS (rustls)"))
                    .with_help(
                        "remove it; the TLS settings ringlb applies are listed in \
                         docs/tls.md",
                    ))
            }
        }
        Ok(())
    };
    is_global(kw).then(r)
}

/// Whether `kw` is a global TLS keyword (applied or refused by [`global`]).
fn is_global(kw: &str) -> bool {
    kw.starts_with("ssl-default-")
        || kw.starts_with("tune.ssl.")
        || kw.starts_with("ssl-")
        || matches!(kw, "ca-base" | "crt-base" | "key-base")
}

/// The TLS words of a `server` or `default-server` line, for "did you mean" help.
pub(super) const SERVER_WORDS: &[&str] = &[
    "verify",
    "ca-file",
    "crl-file",
    "sni",
    "verifyhost",
    "crt",
    "no-ssl-reuse",
    "ssl-reuse",
    "tls-tickets",
    "check-ssl",
    "no-check-ssl",
    "check-sni",
];

/// A TLS word of a `server` or `default-server` line at word `i`: `None` when `kw` is not
/// one, otherwise whether it took a value. `ssl` and `no-ssl` are the caller's.
pub(super) fn server(
    t: &mut ServerTls,
    check: &mut ServerCheck,
    line: &LineRef<'_>,
    i: usize,
) -> Option<Result<bool, Diagnostic>> {
    let kw = line.words.get(i)?.as_str();
    let arg = || line.arg(i + 1, kw, "VALUE").map(str::to_string);
    let file = |path: String| DerFile {
        path: path.into(),
        items: Vec::new(),
    };
    let r = || -> Result<bool, Diagnostic> {
        match kw {
            "verify" => {
                t.verify = Some(match arg()?.as_str() {
                    "none" => Verify::None,
                    "required" => Verify::Required,
                    other => {
                        return Err(unknown(
                            line,
                            "server 'verify' method",
                            other,
                            &["none", "required"],
                        ))
                    }
                })
            }
            "ca-file" => t.ca_file = Some(file(arg()?)),
            "crl-file" => t.crl_file = Some(file(arg()?)),
            "crt" => t.crt = Some(arg()?.into()),
            "verifyhost" => t.verifyhost = Some(arg()?.to_ascii_lowercase()),
            "check-sni" => t.check_sni = Some(arg()?),
            "sni" => t.sni = Some(sni(line, &arg()?)?),
            "no-ssl-reuse" | "ssl-reuse" => {
                t.no_reuse = kw == "no-ssl-reuse";
                return Ok(false);
            }
            "tls-tickets" => {
                t.options.no_tls_tickets = false;
                return Ok(false);
            }
            "check-ssl" | "no-check-ssl" => {
                check.ssl = kw == "check-ssl";
                return Ok(false);
            }
            // HAProxy has these on `bind` lines only.
            "curves" | "prefer-client-ciphers" => {
                return Err(line
                    .error(format!("'{kw}' is a 'bind' setting, not a 'server' one"))
                    .with_help("remove it from the server line"))
            }
            _ => {
                let err = |m: String, h: String| line.error(m).with_help(h);
                return option(&mut t.options, kw, &arg, &err).expect("a TLS word");
            }
        }
        Ok(true)
    };
    (SERVER_WORDS.contains(&kw) || WORDS.contains(&kw)).then(r)
}

/// `sni EXPR`: a sample expression whose value is known when the connection is made: the
/// request and the connection, not the response.
fn sni(line: &LineRef<'_>, text: &str) -> Result<SampleExpr, Diagnostic> {
    let fail = |m: String| {
        line.error(format!("error detected while parsing sni expression: {m}"))
            .with_help(
                "write a sample expression, e.g. 'sni req.hdr(host)' or 'sni str(www.example.com)'",
            )
    };
    let e = SampleExpr::parse(text).map_err(|e| fail(e.message))?;
    if matches!(e.fetch, Fetch::ResHdr { .. } | Fetch::Status) {
        return Err(fail(format!(
            "'{}' reads the response, which does not exist yet when the server connection \
             is made",
            e.fetch.name()
        )));
    }
    Ok(e)
}
