//! `tcp-check connect|send|send-binary|expect|comment` lines, and the protocol check options
//! (`option redis-check`, `smtpchk`, `mysql-check`, `pgsql-check`, `ldap-check`).

use super::proxy::Draft;
use super::{unknown, LineRef, Step};
use crate::diag::Diagnostic;
use crate::model::{
    MysqlUser, ProtocolCheck, StatusCodeExpr, TcpCheckAction, TcpCheckConnect, TcpCheckExpect,
    TcpCheckMatch, TcpCheckRule, TcpCheckStatus,
};
use crate::tcpcheck::text_bytes;
use crate::value;

const ACTIONS: &[&str] = &["connect", "send", "send-binary", "expect", "comment"];
const CONNECT_OPTIONS: &[&str] = &["default", "port", "addr", "send-proxy", "linger", "comment"];
const EXPECT_MATCHES: &[&str] = &["string", "rstring", "binary", "rbinary"];
const EXPECT_OPTIONS: &[&str] = &[
    "min-recv",
    "comment",
    "ok-status",
    "error-status",
    "tout-status",
    "on-success",
    "on-error",
    "status-code",
];

/// One `tcp-check` line. The first rule written in a section replaces the rules it
/// inherited from `defaults`.
pub(super) fn tcp_check(d: &mut Draft, line: &LineRef<'_>) -> Step {
    let rule = rule(line)?;
    if d.sites.get("tcp-check").is_some_and(|s| s.inherited) {
        d.proxy.tcp_check.clear();
    }
    d.proxy.tcp_check.push(rule);
    d.sites.insert("tcp-check", line.site());
    Ok(())
}

fn rule(line: &LineRef<'_>) -> Result<TcpCheckRule, Diagnostic> {
    let action = line.arg(1, "tcp-check", "connect|send|send-binary|expect|comment …")?;
    match action {
        "connect" => connect(line),
        "send" | "send-binary" => send(line, action == "send-binary"),
        "expect" => expect(line),
        "comment" => {
            let text = line.arg(2, "tcp-check comment", "TEXT")?;
            line.no_more(2, "tcp-check comment")?;
            Ok(TcpCheckRule {
                comment: None,
                action: TcpCheckAction::Comment(text.to_string()),
            })
        }
        "send-lf" | "send-binary-lf" => Err(line
            .error(format!(
                "'tcp-check {action}' is not supported: log-format data needs a traffic context \
                 that health checks do not have"
            ))
            .with_help(format!(
                "write the data literally with 'tcp-check {}'",
                action.trim_end_matches("-lf")
            ))),
        a if a.starts_with("set-var") || a.starts_with("unset-var") => Err(line
            .error(format!(
                "'tcp-check {a}' is not supported: check variables are not implemented"
            ))
            .with_help("write the values the variables would hold into the rules themselves")),
        other => Err(unknown(line, "'tcp-check' action", other, ACTIONS)),
    }
}

/// `comment <msg>` at word `i`: the message.
fn comment_at(line: &LineRef<'_>, i: usize, what: &str) -> Result<String, Diagnostic> {
    line.arg(i + 1, &format!("{what} comment"), "TEXT")
        .map(str::to_string)
}

fn connect(line: &LineRef<'_>) -> Result<TcpCheckRule, Diagnostic> {
    let mut c = TcpCheckConnect::default();
    let mut comment = None;
    let mut i = 2;
    while let Some(w) = line.words.get(i) {
        match w.as_str() {
            "default" => c.default = true,
            "linger" => c.linger = true,
            "send-proxy" => c.send_proxy = true,
            "port" => {
                let v = line.arg(i + 1, "tcp-check connect port", "PORT")?;
                let port = value::port(v).map_err(|e| line.invalid("tcp-check connect port", e))?;
                if port == 0 {
                    return Err(line
                        .error("'tcp-check connect port' must be between 1 and 65535")
                        .with_help("write: tcp-check connect port 6379"));
                }
                c.port = Some(port);
                i += 1;
            }
            "addr" => {
                let v = line.arg(i + 1, "tcp-check connect addr", "IP")?;
                c.addr = Some(value::ip(v).map_err(|e| line.invalid("tcp-check connect addr", e))?);
                i += 1;
            }
            "comment" => {
                comment = Some(comment_at(line, i, "tcp-check connect")?);
                i += 1;
            }
            "ssl" | "sni" | "alpn" => {
                return Err(line
                    .error(format!(
                        "'tcp-check connect {w}' is not supported: health checks do not speak TLS"
                    ))
                    .with_help("remove it, or check the TLS port with 'option ssl-hello-chk'"))
            }
            "via-socks4" | "proto" => {
                return Err(line
                    .error(format!(
                        "'tcp-check connect {w}' is not supported: health checks open plain TCP \
                         connections"
                    ))
                    .with_help(format!("remove '{w}'")))
            }
            other => {
                return Err(unknown(
                    line,
                    "'tcp-check connect' option",
                    other,
                    CONNECT_OPTIONS,
                ))
            }
        }
        i += 1;
    }
    Ok(TcpCheckRule {
        comment,
        action: TcpCheckAction::Connect(c),
    })
}

fn send(line: &LineRef<'_>, binary: bool) -> Result<TcpCheckRule, Diagnostic> {
    let what = if binary {
        "tcp-check send-binary"
    } else {
        "tcp-check send"
    };
    let usage = if binary { "HEX" } else { "STRING" };
    let v = line.arg(2, what, usage)?;
    let data = if binary {
        parse_hex(line, what, v)?
    } else {
        text_bytes(v)
    };
    let comment = match line.words.get(3).map(String::as_str) {
        None => None,
        Some("comment") => {
            line.no_more(4, what)?;
            Some(comment_at(line, 3, what)?)
        }
        Some(w) => {
            return Err(line
                .error(format!("unexpected '{w}' after '{what}'"))
                .with_help("escape blanks in the data with '\\ ' or quote it"))
        }
    };
    if data.is_empty() {
        return Err(line
            .error(format!("'{what}' has nothing to send"))
            .with_help(format!("write: {what} {usage}")));
    }
    Ok(TcpCheckRule {
        comment,
        action: TcpCheckAction::Send { data, binary },
    })
}

fn parse_hex(line: &LineRef<'_>, what: &str, v: &str) -> Result<Vec<u8>, Diagnostic> {
    let bad = || {
        line.error(format!(
            "'{what}': '{v}' is not an even number of hexadecimal digits"
        ))
        .with_help("write two hexadecimal digits per byte, e.g. 50494e470d0a")
    };
    if v.len() & 1 == 1 || !v.is_ascii() {
        return Err(bad());
    }
    (0..v.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v[i..i + 2], 16).map_err(|_| bad()))
        .collect()
}

fn status(
    line: &LineRef<'_>,
    opt: &str,
    v: &str,
    allowed: &[TcpCheckStatus],
) -> Result<TcpCheckStatus, Diagnostic> {
    match TcpCheckStatus::from_code(v) {
        Some(s) if allowed.contains(&s) => Ok(s),
        _ => {
            let names: Vec<&str> = allowed.iter().map(|s| s.code()).collect();
            Err(line
                .error(format!("'tcp-check expect {opt}' does not accept '{v}'"))
                .with_help(format!("expected one of: {}", names.join(", "))))
        }
    }
}

/// `on-success` / `on-error` text: log-format variables cannot be evaluated in a check.
fn info_text(line: &LineRef<'_>, opt: &str, v: &str) -> Result<String, Diagnostic> {
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            if chars.peek() == Some(&'%') {
                chars.next();
                continue;
            }
            return Err(line
                .error(format!(
                    "'tcp-check expect {opt}': log-format variables are not supported here"
                ))
                .with_help("write plain text; a literal percent sign is written %%"));
        }
    }
    Ok(v.replace("%%", "%"))
}

fn status_code(line: &LineRef<'_>, v: &str) -> Result<StatusCodeExpr, Diagnostic> {
    let bad = || {
        line.error(format!(
            "'tcp-check expect status-code': unsupported expression '{v}'"
        ))
        .with_help("write int(N) or res.payload(OFFSET,LENGTH)")
    };
    if let Some(n) = v.strip_prefix("int(").and_then(|r| r.strip_suffix(')')) {
        return n.trim().parse().map(StatusCodeExpr::Int).map_err(|_| bad());
    }
    if let Some(args) = v
        .strip_prefix("res.payload(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (o, l) = args.split_once(',').ok_or_else(bad)?;
        let offset = o.trim().parse().map_err(|_| bad())?;
        let length: u32 = l.trim().parse().map_err(|_| bad())?;
        if length == 0 || length > 9 {
            return Err(bad().with_help("a status code is 1 to 9 digits: write res.payload(0,3)"));
        }
        return Ok(StatusCodeExpr::Payload { offset, length });
    }
    Err(bad())
}

fn expect(line: &LineRef<'_>) -> Result<TcpCheckRule, Diagnostic> {
    use TcpCheckStatus::*;
    let what = "tcp-check expect";
    let usage = "[min-recv N] [ok-status ST] [error-status ST] [tout-status ST] [on-success TEXT] \
                 [on-error TEXT] [status-code EXPR] [!] string|rstring|binary|rbinary PATTERN";
    let mut e = TcpCheckExpect {
        min_recv: None,
        ok_status: None,
        error_status: None,
        tout_status: None,
        on_success: None,
        on_error: None,
        status_code: None,
        negate: false,
        matcher: TcpCheckMatch::String(Vec::new()),
    };
    let mut comment = None;
    let mut matcher = None;
    let mut i = 2;
    while let Some(w) = line.words.get(i) {
        let mut kw = w.as_str();
        if kw == "!" {
            e.negate = true;
            i += 1;
            kw = line.arg(i, what, usage)?;
        } else if let Some(rest) = kw.strip_prefix('!') {
            e.negate = true;
            kw = rest;
        }
        let val = |opt: &str| line.arg(i + 1, &format!("{what} {opt}"), "VALUE");
        match kw {
            "string" | "rstring" | "binary" | "rbinary" => {
                if matcher.is_some() {
                    return Err(line
                        .error(format!("'{what}' has more than one match"))
                        .with_help("write one expect line per pattern"));
                }
                let p = line.arg(i + 1, &format!("{what} {kw}"), "PATTERN")?;
                let regex = |r: &str| {
                    regex::Regex::new(r).map(|_| ()).map_err(|err| {
                        line.error(format!("'{what} {kw}': invalid regular expression: {err}"))
                            .with_help("check the regular expression syntax")
                    })
                };
                matcher = Some(match kw {
                    "string" => TcpCheckMatch::String(text_bytes(p)),
                    "binary" => {
                        TcpCheckMatch::Binary(parse_hex(line, "tcp-check expect binary", p)?)
                    }
                    "rstring" => {
                        regex(p)?;
                        TcpCheckMatch::Rstring(p.to_string())
                    }
                    _ => {
                        regex(p)?;
                        TcpCheckMatch::Rbinary(p.to_string())
                    }
                });
            }
            "string-lf" | "binary-lf" | "custom" => {
                return Err(line
                    .error(format!("'{what} {kw}' is not supported"))
                    .with_help("match with string, rstring, binary or rbinary"))
            }
            _ if e.negate && matcher.is_none() && !EXPECT_OPTIONS.contains(&kw) => {
                return Err(unknown(
                    line,
                    "'tcp-check expect' match",
                    kw,
                    EXPECT_MATCHES,
                ))
            }
            "min-recv" => {
                let v = val(kw)?;
                // -1 is HAProxy's spelling of "no minimum".
                e.min_recv = if v == "-1" {
                    None
                } else {
                    Some(
                        value::number(v, "min-recv")
                            .map_err(|err| line.invalid("tcp-check expect min-recv", err))?,
                    )
                };
            }
            "comment" => comment = Some(val(kw)?.to_string()),
            "ok-status" => {
                e.ok_status = Some(status(line, kw, val(kw)?, &[L7Ok, L7OkC, L6Ok, L4Ok])?)
            }
            "error-status" => {
                e.error_status = Some(status(
                    line,
                    kw,
                    val(kw)?,
                    &[L7OkC, L7Rsp, L7Sts, L6Rsp, L4Con],
                )?)
            }
            "tout-status" => {
                e.tout_status = Some(status(line, kw, val(kw)?, &[L7Tout, L6Tout, L4Tout])?)
            }
            "on-success" => e.on_success = Some(info_text(line, kw, val(kw)?)?),
            "on-error" => e.on_error = Some(info_text(line, kw, val(kw)?)?),
            "status-code" => e.status_code = Some(status_code(line, val(kw)?)?),
            other => {
                let mut known = EXPECT_MATCHES.to_vec();
                known.extend_from_slice(EXPECT_OPTIONS);
                return Err(unknown(line, "'tcp-check expect' word", other, &known));
            }
        }
        i += 2;
    }
    let Some(matcher) = matcher else {
        return Err(line
            .error(format!("'{what}' needs a match and its pattern"))
            .with_help(format!("write: {what} {usage}")));
    };
    e.matcher = matcher;
    Ok(TcpCheckRule {
        comment,
        action: TcpCheckAction::Expect(e),
    })
}

/// `option redis-check|smtpchk|mysql-check|pgsql-check|ldap-check …`.
pub(super) fn protocol_option(
    line: &LineRef<'_>,
    name: &str,
    args: &[String],
) -> Result<ProtocolCheck, Diagnostic> {
    let what = format!("option {name}");
    let none = |check: ProtocolCheck| match args.first() {
        None => Ok(check),
        Some(w) => Err(line
            .error(format!("'{what}' takes no argument, found '{w}'"))
            .with_help(format!("write: {what}"))),
    };
    match name {
        "redis-check" => none(ProtocolCheck::Redis),
        "ldap-check" => none(ProtocolCheck::Ldap),
        "smtpchk" => match args {
            [] => Ok(ProtocolCheck::Smtp {
                hello: "HELO".into(),
                domain: "localhost".into(),
            }),
            [hello, domain] => Ok(ProtocolCheck::Smtp {
                // Any other command is sent as HELO, as HAProxy does.
                hello: if hello == "EHLO" { "EHLO" } else { "HELO" }.into(),
                domain: domain.clone(),
            }),
            _ => Err(line
                .error(format!("'{what}' takes no argument or HELO|EHLO DOMAIN"))
                .with_help("write: option smtpchk EHLO mail.example.com")),
        },
        "pgsql-check" => match args {
            [u, name] if u == "user" => Ok(ProtocolCheck::Pgsql { user: name.clone() }),
            _ => Err(line
                .error(format!("'{what}' expects 'user NAME'"))
                .with_help("write: option pgsql-check user haproxy")),
        },
        "mysql-check" => {
            let usage = || {
                line.error(format!("'{what}' takes [user NAME [post-41|pre-41]]"))
                    .with_help("write: option mysql-check user haproxy")
            };
            match args {
                [] => Ok(ProtocolCheck::Mysql { user: None }),
                [u, name, rest @ ..] if u == "user" => {
                    let pre41 = match rest {
                        [] => false,
                        [v] if v == "post-41" => false,
                        [v] if v == "pre-41" => true,
                        [v] if v == "post-80" => {
                            return Err(line
                                .error(format!("'{what} … post-80' is not supported"))
                                .with_help("use post-41 with a check user that has no password"))
                        }
                        [v] => {
                            return Err(unknown(
                                line,
                                "'option mysql-check' version",
                                v,
                                &["post-41", "pre-41"],
                            ))
                        }
                        _ => return Err(usage()),
                    };
                    Ok(ProtocolCheck::Mysql {
                        user: Some(MysqlUser {
                            name: name.clone(),
                            pre41,
                        }),
                    })
                }
                _ => Err(usage()),
            }
        }
        _ => unreachable!("not a protocol check: {name}"),
    }
}

#[cfg(test)]
#[path = "tcpcheck_tests.rs"]
mod tests;
