//! `bind ADDR[,ADDR…] [options]`: listening addresses of a frontend.

use super::{global::admin_level, unknown, LineRef, Step};
use crate::diag::Diagnostic;
use crate::model::{Bind, BindOptions, BindTls, DerFile, HttpProto, Proxy, TlsOptions};
use crate::tls;
use crate::value;

const OPTIONS: &[&str] = &[
    "name",
    "maxconn",
    "backlog",
    "process",
    "thread",
    "interface",
    "transparent",
    "v4v6",
    "v6only",
    "accept-proxy",
    "defer-accept",
    "ssl",
    "crt",
    "crt-list",
    "strict-sni",
    "verify",
    "ca-file",
    "crl-file",
    "mode",
    "user",
    "group",
    "level",
    "expose-fd",
    "proto",
];

pub(super) fn bind(p: &mut Proxy, line: &LineRef<'_>, diags: &mut Vec<Diagnostic>) -> Step {
    let list = line.arg(1, "bind", "ADDRESS[:PORT][,ADDRESS…] [options]")?;
    let addrs = list
        .split(',')
        .map(value::bind_addr)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| line.invalid("bind", e))?;
    let mut b = Bind {
        location: line.loc.clone(),
        addrs,
        name: None,
        options: BindOptions::default(),
    };
    let o = &mut b.options;
    let mut ssl = false;
    let mut t = BindTls {
        certs: Vec::new(),
        crt: Vec::new(),
        crt_list: Vec::new(),
        options: TlsOptions::default(),
        strict_sni: false,
        verify: None,
        ca_file: None,
        crl_file: None,
    };
    let file = |path: &str| DerFile {
        path: path.into(),
        items: Vec::new(),
    };
    let mut i = 2;
    while let Some(w) = line.words.get(i) {
        let kw = w.as_str();
        let arg = || line.arg(i + 1, &format!("bind {kw}"), "VALUE");
        let num = || -> Result<u32, _> {
            value::number(arg()?, kw).map_err(|e| line.invalid(&format!("bind {kw}"), e))
        };
        let mut takes_value = true;
        let tls_arg = || arg().map(str::to_string);
        let tls_err = |m: String, h: String| line.error(m).with_help(h);
        if let Some(r) = tls::option(&mut t.options, kw, &tls_arg, &tls_err) {
            i += if r? { 2 } else { 1 };
            continue;
        }
        match kw {
            "name" => b.name = Some(arg()?.to_string()),
            "maxconn" => o.maxconn = Some(num()?),
            "backlog" => o.backlog = Some(num()?),
            "process" => {
                o.process = Some(arg()?.to_string());
                diags.push(
                    line.warning(
                        "'process' on 'bind' lines is ignored: ringlb runs one process \
                         (HAProxy 2.6 deprecates it too)",
                    )
                    .with_help("remove 'process …'"),
                );
            }
            "thread" => {
                return Err(line
                    .error("'bind … thread' is not supported yet")
                    .with_help(
                        "remove 'thread …': every worker thread accepts on every 'bind' line",
                    ))
            }
            "interface" => o.interface = Some(arg()?.to_string()),
            "crt" => t.crt.push(arg()?.into()),
            "crt-list" => t.crt_list.push(arg()?.into()),
            "ca-file" => t.ca_file = Some(file(arg()?)),
            "crl-file" => t.crl_file = Some(file(arg()?)),
            "verify" => {
                t.verify = Some(tls::verify(arg()?).ok_or_else(|| {
                    unknown(
                        line,
                        "'verify' mode",
                        arg().unwrap_or_default(),
                        &["none", "optional", "required"],
                    )
                })?)
            }
            "mode" => {
                o.mode = Some(value::octal_mode(arg()?).map_err(|e| line.invalid("bind mode", e))?)
            }
            "user" => o.user = Some(arg()?.to_string()),
            "group" => o.group = Some(arg()?.to_string()),
            "level" => {
                o.level = Some(admin_level(line, arg()?)?);
                diags.push(only_for_stats_socket(line, "level"));
            }
            "proto" => {
                o.proto = Some(match arg()? {
                    "h1" => HttpProto::H1,
                    "h2" => HttpProto::H2,
                    other => return Err(unknown(line, "'proto' value", other, &["h1", "h2"])),
                })
            }
            "expose-fd" => match arg()? {
                "listeners" => {
                    o.expose_fd_listeners = true;
                    diags.push(only_for_stats_socket(line, "expose-fd"));
                }
                other => return Err(unknown(line, "'expose-fd' value", other, &["listeners"])),
            },
            _ => {
                takes_value = false;
                match kw {
                    "transparent" => o.transparent = true,
                    "v4v6" => o.v4v6 = true,
                    "v6only" => o.v6only = true,
                    "accept-proxy" => o.accept_proxy = true,
                    "defer-accept" => o.defer_accept = true,
                    "ssl" => ssl = true,
                    "strict-sni" => t.strict_sni = true,
                    other => {
                        let known: Vec<&str> = OPTIONS.iter().chain(tls::WORDS).copied().collect();
                        return Err(unknown(line, "'bind' option", other, &known));
                    }
                }
            }
        }
        i += if takes_value { 2 } else { 1 };
    }
    if o.v4v6 && o.v6only {
        return Err(line
            .error("'bind' cannot have both 'v4v6' and 'v6only'")
            .with_help("keep one of 'v4v6' and 'v6only'"));
    }
    if ssl {
        if t.crt.is_empty() && t.crt_list.is_empty() {
            return Err(line
                .error("'bind ... ssl' needs a certificate")
                .with_help("add 'crt /path/to/cert.pem' (or 'crt-list FILE')"));
        }
        o.tls = Some(Box::new(t));
    } else if !t.crt.is_empty()
        || !t.crt_list.is_empty()
        || t.options != TlsOptions::default()
        || t.strict_sni
        || t.verify.is_some()
        || t.ca_file.is_some()
        || t.crl_file.is_some()
    {
        return Err(line
            .error("TLS settings on a 'bind' without 'ssl' would have no effect")
            .with_help("add 'ssl' to terminate TLS on this address, or remove the TLS settings"));
    }
    p.binds.push(b);
    Ok(())
}

/// `level` and `expose-fd` set what a runtime API socket allows; on a frontend's `bind`
/// they do nothing, in HAProxy as here.
fn only_for_stats_socket(line: &LineRef<'_>, kw: &str) -> Diagnostic {
    line.warning(format!(
        "'{kw}' applies to 'stats socket' lines only; it does nothing on a frontend's 'bind'"
    ))
    .with_help(format!(
        "remove '{kw} …', or set it on a 'stats socket' line in 'global'"
    ))
}
