//! HTTP-side proxy keywords: persistence `cookie`, the `stats` page, error pages,
//! `http-check`, and the legacy `block` / `redirect` keywords folded into `http-request`.

use super::proxy::{ctx, optional_condition};
use super::{sections, unknown, LineRef, Step};
use crate::diag::Diagnostic;
use crate::model::{
    CheckMatch, CookieMode, CookiePersist, ErrorFile, ErrorSource, HttpCheckExpect, Proxy, Stats,
};
use crate::rules;
use crate::value::{self, TimeUnit};

const COOKIE_OPTIONS: &[&str] = &[
    "rewrite", "insert", "prefix", "indirect", "nocache", "postonly", "preserve", "httponly",
    "secure", "domain", "maxidle", "maxlife", "dynamic",
];

pub(super) fn cookie(line: &LineRef<'_>) -> Result<CookiePersist, Diagnostic> {
    let name = line
        .arg(1, "cookie", "NAME [rewrite|insert|prefix] [options]")?
        .to_string();
    let mut c = CookiePersist::new(name, CookieMode::Passive);
    let mut i = 2;
    while let Some(w) = line.words.get(i) {
        let mut set_mode = |m: CookieMode| -> Step {
            if c.mode != CookieMode::Passive && c.mode != m {
                return Err(line
                    .error("'cookie' takes only one of rewrite, insert and prefix")
                    .with_help("keep one of rewrite, insert, prefix"));
            }
            c.mode = m;
            Ok(())
        };
        match w.as_str() {
            "rewrite" => set_mode(CookieMode::Rewrite)?,
            "insert" => set_mode(CookieMode::Insert)?,
            "prefix" => set_mode(CookieMode::Prefix)?,
            "indirect" => c.indirect = true,
            "nocache" => c.nocache = true,
            "postonly" => c.postonly = true,
            "preserve" => c.preserve = true,
            "httponly" => c.httponly = true,
            "secure" => c.secure = true,
            "dynamic" => c.dynamic = true,
            "domain" => {
                c.domains
                    .push(line.arg(i + 1, "cookie domain", "DOMAIN")?.to_string());
                i += 1;
            }
            "maxidle" | "maxlife" => {
                let v = line.arg(i + 1, &format!("cookie {w}"), "DURATION")?;
                let d = value::duration(v, TimeUnit::S)
                    .map_err(|e| line.invalid(&format!("cookie {w}"), e))?;
                if w == "maxidle" {
                    c.maxidle = Some(d);
                } else {
                    c.maxlife = Some(d);
                }
                i += 1;
            }
            other => return Err(unknown(line, "'cookie' option", other, COOKIE_OPTIONS)),
        }
        i += 1;
    }
    if (c.maxidle.is_some() || c.maxlife.is_some()) && c.mode != CookieMode::Insert {
        return Err(line
            .error("'cookie' maxidle and maxlife only apply to 'insert' mode")
            .with_help("add 'insert' or remove maxidle/maxlife"));
    }
    Ok(c)
}

const STATS_KEYWORDS: &[&str] = &[
    "enable",
    "uri",
    "realm",
    "auth",
    "refresh",
    "hide-version",
    "admin",
    "scope",
    "show-legends",
    "show-node",
    "show-desc",
    "http-request",
];

pub(super) fn stats(p: &mut Proxy, line: &LineRef<'_>, diags: &mut Vec<Diagnostic>) -> Step {
    let sub = line.arg(1, "stats", "enable|uri|realm|auth|refresh|…")?;
    // Every `stats` keyword turns the page on, as in HAProxy.
    let mut s = p.stats.take().unwrap_or_default();
    let result = stats_keyword(&mut s, &p.acls, sub, line, diags);
    s.enabled = true;
    p.stats = Some(s);
    result
}

fn stats_keyword(
    s: &mut Stats,
    acls: &[crate::acl::AclDef],
    sub: &str,
    line: &LineRef<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Step {
    let what = format!("stats {sub}");
    let one = |usage: &str| -> Result<String, Diagnostic> {
        let v = line.arg(2, &what, usage)?;
        line.no_more(2, &what)?;
        Ok(v.to_string())
    };
    match sub {
        "enable" => line.no_more(1, "stats enable"),
        "hide-version" => {
            line.no_more(1, "stats hide-version")?;
            s.hide_version = true;
            Ok(())
        }
        "show-legends" => {
            line.no_more(1, "stats show-legends")?;
            s.show_legends = true;
            Ok(())
        }
        "uri" => {
            let u = one("URI")?;
            if !u.starts_with('/') {
                return Err(line
                    .error(format!("'stats uri' must start with '/': '{u}'"))
                    .with_help("write: stats uri /stats"));
            }
            s.uri = u;
            Ok(())
        }
        "realm" => {
            line.arg(2, &what, "REALM")?;
            // A realm with unescaped blanks arrives as several words. Older guides print such
            // lines with a lost backslash; the intent is the whole phrase, so keep it all.
            let realm = line.words[2..].join(" ");
            if line.words.len() > 3 {
                diags.push(
                    line.warning(format!(
                        "'stats realm' has unescaped blanks; the realm is read as '{realm}'"
                    ))
                    .with_help(format!(
                        "escape the blanks: stats realm {}",
                        realm.replace(' ', "\\ ")
                    )),
                );
            }
            s.realm = Some(realm);
            Ok(())
        }
        "auth" => {
            let v = one("USER:PASSWORD")?;
            let Some((u, pw)) = v.split_once(':') else {
                return Err(line
                    .error(format!("'stats auth' expects USER:PASSWORD, found '{v}'"))
                    .with_help("write: stats auth admin:secret"));
            };
            s.auth.push((u.to_string(), pw.to_string()));
            Ok(())
        }
        "refresh" => {
            let v = one("DELAY")?;
            s.refresh = Some(
                value::duration(&v, TimeUnit::S).map_err(|e| line.invalid("stats refresh", e))?,
            );
            Ok(())
        }
        "scope" => {
            s.scope.push(one("PROXY")?);
            Ok(())
        }
        "show-node" | "show-desc" => {
            let v = line.words.get(2).cloned().unwrap_or_default();
            if line.words.len() > 3 {
                return Err(line
                    .error(format!("'{what}' takes one word"))
                    .with_help("quote a text with blanks"));
            }
            if sub == "show-node" {
                s.show_node = Some(v);
            } else {
                s.show_desc = Some(v);
            }
            Ok(())
        }
        "admin" => match optional_condition(line, 2, acls)? {
            Some(c) => {
                s.admin.push(c);
                Ok(())
            }
            None => Err(line
                .error("'stats admin' needs a condition")
                .with_help("write: stats admin if LOCALHOST")),
        },
        "http-request" => {
            let rule = rules::parse_http_request(&line.words[2..], &ctx(line, acls))?;
            s.http_request.push(rule);
            Ok(())
        }
        "socket" | "timeout" => Err(line
            .error(format!("'stats {sub}' belongs in the global section"))
            .with_help(format!("move 'stats {sub}' to 'global'"))),
        other => Err(unknown(line, "'stats' keyword", other, STATS_KEYWORDS)),
    }
}

/// `errorfile CODE FILE`, `errorloc[302|303] CODE URL`; a later line for a code replaces it.
pub(super) fn errorfile(p: &mut Proxy, line: &LineRef<'_>) -> Step {
    let kw = line.keyword();
    let ef = if kw == "errorfile" {
        sections::errorfile(line)?
    } else {
        let status = sections::error_code(line, line.arg(1, kw, "CODE URL")?)?;
        let url = line.arg(2, kw, "CODE URL")?.to_string();
        line.no_more(2, kw)?;
        let code = if kw == "errorloc303" { 303 } else { 302 };
        ErrorFile {
            status,
            source: ErrorSource::Location { code, url },
        }
    };
    p.errorfiles.retain(|e| e.status != ef.status);
    p.errorfiles.push(ef);
    Ok(())
}

/// `block if|unless COND` and `redirect …` become `http-request` rules at their position.
pub(super) fn legacy_rule(p: &mut Proxy, line: &LineRef<'_>, diags: &mut Vec<Diagnostic>) -> Step {
    let kw = line.keyword();
    let mut args: Vec<String> = Vec::with_capacity(line.words.len());
    if kw == "block" {
        if !matches!(line.words.get(1).map(String::as_str), Some("if" | "unless")) {
            return Err(line
                .error("'block' needs a condition")
                .with_help("write: http-request deny if CONDITION"));
        }
        diags.push(line.warning("'block' is deprecated").with_help(format!(
            "write 'http-request deny {}' instead",
            line.words[1..].join(" ")
        )));
        args.push("deny".into());
    } else {
        args.push("redirect".into());
    }
    args.extend(line.words[1..].iter().cloned());
    let rule = rules::parse_http_request(&args, &ctx(line, &p.acls))?;
    p.http_request.push(rule);
    Ok(())
}

const HTTP_CHECK: &[&str] = &["expect", "send", "disable-on-404"];
const EXPECT_KINDS: &[&str] = &["status", "rstatus", "string", "rstring"];
const SEND_OPTIONS: &[&str] = &["meth", "uri", "ver", "hdr", "body"];

pub(super) fn http_check(p: &mut Proxy, line: &LineRef<'_>) -> Step {
    let hc = &mut p.http_check;
    match line.arg(1, "http-check", "expect|send|disable-on-404 …")? {
        "disable-on-404" => {
            line.no_more(1, "http-check disable-on-404")?;
            hc.disable_on_404 = true;
            Ok(())
        }
        "expect" => {
            let usage = "[!] status|rstatus|string|rstring VALUE";
            let mut i = 2;
            let negate = line.words.get(2).map(String::as_str) == Some("!");
            if negate {
                i += 1;
            }
            let kind = line.arg(i, "http-check expect", usage)?;
            let v = line.arg(i + 1, "http-check expect", usage)?.to_string();
            line.no_more(i + 1, "http-check expect")?;
            let regex = |v: &str| -> Step {
                regex::Regex::new(v).map(|_| ()).map_err(|e| {
                    line.error(format!(
                        "'http-check expect {kind}': invalid regular expression: {e}"
                    ))
                    .with_help("check the regular expression syntax")
                })
            };
            let matcher = match kind {
                "status" => CheckMatch::Status(status_ranges(line, &v)?),
                "rstatus" => {
                    regex(&v)?;
                    CheckMatch::Rstatus(v)
                }
                "string" => CheckMatch::String(v),
                "rstring" => {
                    regex(&v)?;
                    CheckMatch::Rstring(v)
                }
                other => {
                    return Err(unknown(
                        line,
                        "'http-check expect' match",
                        other,
                        EXPECT_KINDS,
                    ))
                }
            };
            hc.expect = Some(HttpCheckExpect { negate, matcher });
            Ok(())
        }
        "send" => {
            let mut i = 2;
            while let Some(w) = line.words.get(i) {
                let val = |j: usize| {
                    line.arg(j, &format!("http-check send {w}"), "VALUE")
                        .map(str::to_string)
                };
                match w.as_str() {
                    "meth" => hc.send_method = Some(val(i + 1)?),
                    "uri" => hc.send_uri = Some(val(i + 1)?),
                    "ver" => hc.send_version = Some(val(i + 1)?),
                    "body" => hc.send_body = Some(val(i + 1)?),
                    "hdr" => {
                        let name = val(i + 1)?;
                        let v = line
                            .arg(i + 2, "http-check send hdr", "NAME VALUE")?
                            .to_string();
                        hc.send_headers.push((name, v));
                        i += 1;
                    }
                    other => {
                        return Err(unknown(
                            line,
                            "'http-check send' option",
                            other,
                            SEND_OPTIONS,
                        ))
                    }
                }
                i += 2;
            }
            Ok(())
        }
        other => Err(unknown(line, "'http-check' keyword", other, HTTP_CHECK)),
    }
}

/// `200`, `200-399`, `200,301-302`.
fn status_ranges(line: &LineRef<'_>, v: &str) -> Result<Vec<(u16, u16)>, Diagnostic> {
    v.split(',')
        .map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let parse = |s: &str| {
                value::bounded(s, "status", 100, 599)
                    .map(|n| n as u16)
                    .map_err(|e| line.invalid("http-check expect status", e))
            };
            let (a, b) = (parse(a)?, parse(b)?);
            if a > b {
                return Err(line
                    .error(format!("reversed status range '{part}'"))
                    .with_help("write the lower status first, e.g. 200-399"));
            }
            Ok((a, b))
        })
        .collect()
}
