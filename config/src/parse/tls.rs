//! The global TLS keywords: `ssl-default-*`, `ca-base`, `crt-base`, `tune.ssl.*`.

use super::{unknown, LineRef, Step};
use crate::diag::Diagnostic;
use crate::model::{GlobalTls, Verify};
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
