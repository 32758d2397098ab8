//! `option NAME [args]` and `no option NAME`, including the options that exclude each other.

use super::proxy::Draft;
use super::{unknown, LineRef, Step};
use crate::diag::Diagnostic;
use crate::model::{ForwardFor, HttpChk, HttpConnMode, HttpLog, OriginalTo};
use crate::value;

pub(super) const OPTIONS: &[&str] = &[
    "httplog",
    "tcplog",
    "dontlognull",
    "dontlog-normal",
    "log-separate-errors",
    "http-keep-alive",
    "http-server-close",
    "httpclose",
    "forceclose",
    "forwardfor",
    "originalto",
    "redispatch",
    "abortonclose",
    "persist",
    "httpchk",
    "ssl-hello-chk",
    "tcp-check",
    "log-health-checks",
    "allbackups",
    "splice-auto",
    "tcpka",
    "clitcpka",
    "srvtcpka",
    "http-buffer-request",
    "http-no-delay",
    "accept-invalid-http-request",
    "accept-invalid-http-response",
    "http-use-htx",
    "redis-check",
    "smtpchk",
    "mysql-check",
    "pgsql-check",
    "ldap-check",
];

pub(super) fn option(
    d: &mut Draft,
    line: &LineRef<'_>,
    negated: bool,
    diags: &mut Vec<Diagnostic>,
) -> Step {
    // Index of the option name: `option X` or `no option X`.
    let at = if negated { 2 } else { 1 };
    let name = line.arg(at, "option", "NAME")?;
    let args = &line.words[at + 1..];
    let no_args = || -> Step {
        match args.first() {
            None => Ok(()),
            Some(w) => Err(line
                .error(format!("'option {name}' takes no argument, found '{w}'"))
                .with_help(format!("write: option {name}"))),
        }
    };
    if negated {
        no_args()?;
    }
    let conflicts = |d: &Draft, others: &[&'static str], diags: &mut Vec<Diagnostic>| {
        for other in others {
            if d.sites.get(other).is_some_and(|s| !s.inherited) {
                diags.push(
                    line.warning(format!(
                        "'option {name}' overrides '{other}' set earlier in this section"
                    ))
                    .with_help(format!("keep only one of 'option {name}' and '{other}'")),
                );
            }
        }
    };
    let o = &mut d.proxy.options;
    let on = !negated;
    macro_rules! flag {
        ($field:ident) => {{
            if on {
                no_args()?;
            }
            o.$field = on;
        }};
    }
    let key: &'static str = match name {
        "httplog" => {
            if on {
                let clf = match args {
                    [] => false,
                    [w] if w == "clf" => true,
                    [w, ..] => return Err(unknown(line, "'option httplog' argument", w, &["clf"])),
                };
                o.httplog = Some(HttpLog { clf });
                o.tcplog = false;
                conflicts(d, &["option tcplog"], diags);
                d.sites.remove("option tcplog");
            } else {
                o.httplog = None;
            }
            "option httplog"
        }
        "tcplog" => {
            flag!(tcplog);
            if on {
                o.httplog = None;
                conflicts(d, &["option httplog"], diags);
                d.sites.remove("option httplog");
            }
            "option tcplog"
        }
        "dontlognull" => {
            flag!(dontlognull);
            "option dontlognull"
        }
        "dontlog-normal" => {
            flag!(dontlog_normal);
            "option dontlog-normal"
        }
        "log-separate-errors" => {
            flag!(log_separate_errors);
            "option log-separate-errors"
        }
        "log-health-checks" => {
            flag!(log_health_checks);
            "option log-health-checks"
        }
        "redispatch" => {
            flag!(redispatch);
            "option redispatch"
        }
        "abortonclose" => {
            flag!(abortonclose);
            "option abortonclose"
        }
        "persist" => {
            flag!(persist);
            "option persist"
        }
        "allbackups" => {
            flag!(allbackups);
            "option allbackups"
        }
        "ssl-hello-chk" => {
            flag!(ssl_hello_chk);
            if on {
                o.protocol_check = None;
            }
            "option ssl-hello-chk"
        }
        "tcp-check" => {
            flag!(tcp_check);
            if on {
                o.protocol_check = None;
            }
            "option tcp-check"
        }
        "http-use-htx" => {
            if on {
                no_args()?;
                diags.push(
                    line.warning("'option http-use-htx' is ignored: HTX has been HAProxy's only HTTP engine since 2.1, and 2.6 refuses the option")
                        .with_help("remove it"),
                );
            }
            "option http-use-htx"
        }
        "splice-auto" => {
            flag!(splice_auto);
            "option splice-auto"
        }
        "tcpka" => {
            flag!(tcpka);
            "option tcpka"
        }
        "clitcpka" => {
            flag!(clitcpka);
            "option clitcpka"
        }
        "srvtcpka" => {
            flag!(srvtcpka);
            "option srvtcpka"
        }
        "http-buffer-request" => {
            if on {
                return Err(not_supported_yet(
                    line,
                    name,
                    "remove it: ringlb chooses the server on the request head and forwards \
                     the body as it arrives",
                ));
            }
            "option http-buffer-request"
        }
        "http-no-delay" => {
            flag!(http_no_delay);
            "option http-no-delay"
        }
        "accept-invalid-http-request" | "accept-invalid-http-response" => {
            if on {
                let (side, status) = if name.ends_with("request") {
                    ("requests", "400")
                } else {
                    ("responses", "502")
                };
                return Err(not_supported_yet(
                    line,
                    name,
                    &format!(
                        "remove it: ringlb answers invalid {side} with {status}, as HAProxy \
                         does without this option"
                    ),
                ));
            }
            if name.ends_with("request") {
                "option accept-invalid-http-request"
            } else {
                "option accept-invalid-http-response"
            }
        }
        "http-keep-alive" | "http-server-close" | "httpclose" | "forceclose" => {
            let mode = match name {
                "http-keep-alive" => HttpConnMode::KeepAlive,
                "http-server-close" => HttpConnMode::ServerClose,
                _ => HttpConnMode::Close,
            };
            if name == "forceclose" {
                diags.push(
                    line.warning("'option forceclose' is deprecated")
                        .with_help("write 'option httpclose' instead"),
                );
            }
            if on {
                no_args()?;
                let o = &mut d.proxy.options;
                o.http_conn_mode = mode;
                let key = conn_key(mode);
                let others: Vec<&'static str> = [
                    "option http-keep-alive",
                    "option http-server-close",
                    "option httpclose",
                ]
                .into_iter()
                .filter(|k| *k != key)
                .collect();
                conflicts(d, &others, diags);
                for k in others {
                    d.sites.remove(k);
                }
            } else if d.proxy.options.http_conn_mode == mode {
                d.proxy.options.http_conn_mode = HttpConnMode::KeepAlive;
            }
            conn_key(mode)
        }
        "forwardfor" => {
            o.forwardfor = if on {
                let (except, header, flags) =
                    except_header(line, args, "X-Forwarded-For", &["if-none"])?;
                Some(ForwardFor {
                    except,
                    header,
                    if_none: flags.contains(&"if-none"),
                })
            } else {
                None
            };
            "option forwardfor"
        }
        "originalto" => {
            o.originalto = if on {
                let (except, header, _) = except_header(line, args, "X-Original-To", &[])?;
                Some(OriginalTo { except, header })
            } else {
                None
            };
            "option originalto"
        }
        "httpchk" => {
            o.httpchk = if on { Some(httpchk(line, args)?) } else { None };
            if on {
                o.protocol_check = None;
            }
            "option httpchk"
        }
        "redis-check" | "smtpchk" | "mysql-check" | "pgsql-check" | "ldap-check" => {
            // One check method per proxy: the last one written wins, as in HAProxy.
            if on {
                o.protocol_check = Some(super::tcpcheck::protocol_option(line, name, args)?);
                o.httpchk = None;
                o.ssl_hello_chk = false;
                o.tcp_check = false;
            } else {
                o.protocol_check = None;
            }
            "option protocol-check"
        }
        other => return Err(unknown(line, "option", other, OPTIONS)),
    };
    d.sites.insert(key, line.site());
    Ok(())
}

/// An option refused rather than accepted and ignored (issue "every accepted keyword
/// applied"); `no option NAME`, the default, stays accepted.
fn not_supported_yet(line: &LineRef<'_>, name: &str, help: &str) -> Diagnostic {
    line.error(format!("'option {name}' is not supported yet"))
        .with_help(help)
}

fn conn_key(mode: HttpConnMode) -> &'static str {
    match mode {
        HttpConnMode::KeepAlive => "option http-keep-alive",
        HttpConnMode::ServerClose => "option http-server-close",
        HttpConnMode::Close => "option httpclose",
    }
}

type ExceptHeader<'a> = (Option<crate::model::IpNet>, String, Vec<&'a str>);

/// `[except NET] [header NAME] [FLAG…]` of `option forwardfor` / `option originalto`.
fn except_header<'a>(
    line: &LineRef<'_>,
    args: &'a [String],
    default_header: &str,
    flags: &[&'a str],
) -> Result<ExceptHeader<'a>, Diagnostic> {
    let mut except = None;
    let mut header = default_header.to_string();
    let mut seen = Vec::new();
    let mut i = 0;
    while let Some(w) = args.get(i) {
        match w.as_str() {
            "except" => {
                let v = args.get(i + 1).ok_or_else(|| {
                    line.error("'except' expects a network")
                        .with_help("write: except 10.0.0.0/8")
                })?;
                except = Some(value::ipnet(v).map_err(|e| line.invalid("option except", e))?);
                i += 2;
            }
            "header" => {
                let v = args.get(i + 1).ok_or_else(|| {
                    line.error("'header' expects a header name")
                        .with_help("write: header X-Client-IP")
                })?;
                header = v.clone();
                i += 2;
            }
            f if flags.contains(&f) => {
                seen.push(flags[flags.iter().position(|x| *x == f).expect("found")]);
                i += 1;
            }
            other => {
                let mut known = vec!["except", "header"];
                known.extend_from_slice(flags);
                return Err(unknown(line, "option argument", other, &known));
            }
        }
    }
    Ok((except, header, seen))
}

/// `option httpchk`, `option httpchk URI`, `option httpchk METHOD URI [VERSION]`.
fn httpchk(line: &LineRef<'_>, args: &[String]) -> Result<HttpChk, Diagnostic> {
    let mut chk = HttpChk::default();
    match args {
        [] => {}
        [uri] => chk.uri = uri.clone(),
        [method, uri] => {
            chk.method = method.clone();
            chk.uri = uri.clone();
        }
        [method, uri, version] => {
            chk.method = method.clone();
            chk.uri = uri.clone();
            // Old configurations append headers to the version: `HTTP/1.1\r\nHost:\ www`.
            let mut parts = version.split("\r\n");
            chk.version = parts.next().unwrap_or_default().to_string();
            for h in parts.filter(|h| !h.is_empty()) {
                let Some((n, v)) = h.split_once(':') else {
                    return Err(line
                        .error(format!("'option httpchk': header '{h}' has no ':'"))
                        .with_help("write headers as Name:\\ value, or use 'http-check send hdr NAME VALUE'"));
                };
                chk.extra_headers
                    .push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        [_, _, _, extra, ..] => return Err(line
            .error(format!(
                "'option httpchk' takes at most METHOD URI VERSION, found '{extra}'"
            ))
            .with_help(
                "escape blanks in the version with '\\ ' or use 'http-check send hdr NAME VALUE'",
            )),
    }
    if !chk.uri.starts_with('/') && chk.uri != "*" {
        return Err(line
            .error(format!(
                "'option httpchk' URI must start with '/': '{}'",
                chk.uri
            ))
            .with_help("write: option httpchk GET /health"));
    }
    Ok(chk)
}
