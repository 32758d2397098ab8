//! `http-request` rules: actions on the request, in the order written, each with an optional
//! condition. The legacy `block if COND` is `deny if COND`; the legacy `redirect` keyword is
//! `http-request redirect`.

use std::fmt;

use super::header::{HeaderAction, HEADER_ACTIONS};
use super::reply::{parse_reply, write_reply, Redirect, ReturnSpec};
use super::{
    capture_id, lf, quote, set_var_name, unknown_action, unset_var_name, write_condition, Args,
    LogFormat, LogLevel, VarName,
};
use crate::acl::{Condition, Ctx, RegexPattern, SampleExpr};
use crate::diag::Diagnostic;

/// One `http-request` rule: an action and its optional condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequestRule {
    pub action: HttpRequestAction,
    pub condition: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpRequestAction {
    /// Stops rule evaluation and lets the request through.
    Allow,
    /// Answers with the spec (403 unless `deny_status` says otherwise) and closes.
    Deny(ReturnSpec),
    /// Holds the connection for `timeout tarpit`, then answers (500 by default).
    Tarpit(ReturnSpec),
    /// Answers 401 asking for credentials, with the realm (the proxy's name when `None`).
    Auth {
        realm: Option<String>,
    },
    Redirect(Redirect),
    /// `http-request return [status N] [content-type T] [string S | file F | lf-string S] [hdr N V]…`
    Return(ReturnSpec),
    Header(HeaderAction),
    /// `set-path FMT`: replaces the path, keeping the query string.
    SetPath(LogFormat),
    /// `set-pathq FMT`: replaces the path and the query string.
    SetPathq(LogFormat),
    /// `set-query FMT`: replaces the query string (without its `?`).
    SetQuery(LogFormat),
    /// `set-uri FMT`: replaces the whole request target.
    SetUri(LogFormat),
    SetMethod(LogFormat),
    /// `replace-path REGEX FMT`: rewrites the path when the regex matches it.
    ReplacePath {
        regex: RegexPattern,
        replacement: LogFormat,
    },
    /// `replace-pathq REGEX FMT`: rewrites path and query string together.
    ReplacePathq {
        regex: RegexPattern,
        replacement: LogFormat,
    },
    /// `replace-uri REGEX FMT`: rewrites the whole request target.
    ReplaceUri {
        regex: RegexPattern,
        replacement: LogFormat,
    },
    /// `set-var(SCOPE.NAME) EXPR`.
    SetVar {
        var: VarName,
        expr: SampleExpr,
    },
    /// `unset-var(SCOPE.NAME)`.
    UnsetVar(VarName),
    /// `capture SAMPLE len N`: keeps up to N bytes of the sample for the log (`%hr`) in a
    /// new slot after the `capture request header` ones. `capture SAMPLE id I` (then `len`
    /// is 0) writes slot I instead, cut to that slot's length.
    Capture {
        sample: SampleExpr,
        len: u32,
        id: Option<u32>,
    },
    SetLogLevel(LogLevel),
    /// `use-service NAME`: the request is answered by a built-in service.
    UseService(Service),
    /// `disable-l7-retry`: no layer-7 retry for this request.
    DisableL7Retry,
}

/// Built-in services for `use-service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `prometheus-exporter`: the metrics page in Prometheus text format.
    PrometheusExporter,
}

const ACTIONS: &[&str] = &[
    "allow",
    "deny",
    "tarpit",
    "auth",
    "redirect",
    "return",
    "add-header",
    "set-header",
    "del-header",
    "replace-header",
    "replace-value",
    "set-path",
    "set-pathq",
    "set-query",
    "set-uri",
    "set-method",
    "replace-path",
    "replace-pathq",
    "replace-uri",
    "set-var",
    "unset-var",
    "capture",
    "set-log-level",
    "use-service",
    "disable-l7-retry",
];

/// Parses the words after `http-request`.
pub fn parse_http_request(args: &[String], ctx: &Ctx<'_>) -> Result<HttpRequestRule, Diagnostic> {
    let Some(word) = args.first() else {
        return Err(ctx
            .error("'http-request' expects an action")
            .with_help(format!("actions: {}", ACTIONS.join(", "))));
    };
    let mut a = Args::new(args, 1, ctx, word);
    let action = parse_action(word, &mut a)?;
    Ok(HttpRequestRule {
        action,
        condition: a.condition()?,
    })
}

fn parse_action(word: &str, a: &mut Args<'_, '_>) -> Result<HttpRequestAction, Diagnostic> {
    if let Some(h) = HeaderAction::parse(word, a) {
        return h.map(HttpRequestAction::Header);
    }
    if let Some(var) = set_var_name(a.ctx, word) {
        let var = var?;
        let expr = a.sample("set-var(SCOPE.NAME) SAMPLE, e.g. set-var(txn.host) req.hdr(host)")?;
        return Ok(HttpRequestAction::SetVar { var, expr });
    }
    if let Some(var) = unset_var_name(a.ctx, word) {
        return Ok(HttpRequestAction::UnsetVar(var?));
    }
    let set = |a: &mut Args<'_, '_>| a.log_format("a format", &format!("{word} FORMAT"));
    let replace = |a: &mut Args<'_, '_>| -> Result<(RegexPattern, LogFormat), Diagnostic> {
        let usage = format!("{word} REGEX REPLACEMENT");
        Ok((a.regex(&usage)?, a.log_format("a replacement", &usage)?))
    };
    Ok(match word {
        "allow" => HttpRequestAction::Allow,
        "deny" => HttpRequestAction::Deny(parse_reply(a, 403, &["deny_status", "status"])?),
        "tarpit" => HttpRequestAction::Tarpit(parse_reply(a, 500, &["deny_status", "status"])?),
        "auth" => {
            let realm = if a.peek() == Some("realm") {
                a.skip();
                Some(a.value_of("realm")?.clone())
            } else {
                None
            };
            HttpRequestAction::Auth { realm }
        }
        "redirect" => HttpRequestAction::Redirect(Redirect::parse(a)?),
        "return" => HttpRequestAction::Return(parse_reply(a, 200, &["status"])?),
        "set-path" => HttpRequestAction::SetPath(set(a)?),
        "set-pathq" => HttpRequestAction::SetPathq(set(a)?),
        "set-query" => HttpRequestAction::SetQuery(set(a)?),
        "set-uri" => HttpRequestAction::SetUri(set(a)?),
        "set-method" => HttpRequestAction::SetMethod(set(a)?),
        "replace-path" => {
            let (regex, replacement) = replace(a)?;
            HttpRequestAction::ReplacePath { regex, replacement }
        }
        "replace-pathq" => {
            let (regex, replacement) = replace(a)?;
            HttpRequestAction::ReplacePathq { regex, replacement }
        }
        "replace-uri" => {
            let (regex, replacement) = replace(a)?;
            HttpRequestAction::ReplaceUri { regex, replacement }
        }
        "capture" => {
            let usage = "capture SAMPLE len LENGTH | capture SAMPLE id SLOT";
            let sample = a.sample(usage)?;
            match a.next("'len' or 'id'", usage)?.as_str() {
                "len" => {}
                "id" => {
                    let id = Some(capture_id(a, usage)?);
                    return Ok(HttpRequestAction::Capture { sample, len: 0, id });
                }
                _ => {
                    return Err(a
                        .error("'capture' expects 'len' or 'id' after the sample")
                        .with_help(format!("write: {usage}")))
                }
            }
            let v = a.value_of("len")?;
            let len = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                a.error(format!("invalid capture length '{v}'"))
                    .with_help("write a positive number of bytes")
            })?;
            HttpRequestAction::Capture {
                sample,
                len,
                id: None,
            }
        }
        "set-log-level" => HttpRequestAction::SetLogLevel(LogLevel::parse(a)?),
        "use-service" => {
            let usage = "use-service prometheus-exporter";
            match a.next("a service name", usage)?.as_str() {
                "prometheus-exporter" => HttpRequestAction::UseService(Service::PrometheusExporter),
                other => {
                    return Err(a
                        .error(format!("unknown service '{other}'"))
                        .with_help(format!(
                            "the only built-in service is prometheus-exporter: {usage}"
                        )))
                }
            }
        }
        "disable-l7-retry" => HttpRequestAction::DisableL7Retry,
        _ => {
            debug_assert!(!HEADER_ACTIONS.contains(&word));
            return Err(unknown_action(a.ctx, "http-request", word, ACTIONS));
        }
    })
}

impl fmt::Display for HttpRequestAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HttpRequestAction as A;
        match self {
            A::Allow => f.write_str("allow"),
            A::Deny(spec) => {
                f.write_str("deny")?;
                write_reply(f, spec, "deny_status", 403)
            }
            A::Tarpit(spec) => {
                f.write_str("tarpit")?;
                write_reply(f, spec, "deny_status", 500)
            }
            A::Auth { realm } => {
                f.write_str("auth")?;
                match realm {
                    Some(r) => write!(f, " realm {}", quote(r)),
                    None => Ok(()),
                }
            }
            A::Redirect(r) => write!(f, "{r}"),
            A::Return(spec) => {
                f.write_str("return")?;
                write_reply(f, spec, "status", 200)
            }
            A::Header(h) => write!(f, "{h}"),
            A::SetPath(v) => write!(f, "set-path {}", lf(v)),
            A::SetPathq(v) => write!(f, "set-pathq {}", lf(v)),
            A::SetQuery(v) => write!(f, "set-query {}", lf(v)),
            A::SetUri(v) => write!(f, "set-uri {}", lf(v)),
            A::SetMethod(v) => write!(f, "set-method {}", lf(v)),
            A::ReplacePath { regex, replacement } => {
                write!(
                    f,
                    "replace-path {} {}",
                    quote(regex.as_str()),
                    lf(replacement)
                )
            }
            A::ReplacePathq { regex, replacement } => {
                write!(
                    f,
                    "replace-pathq {} {}",
                    quote(regex.as_str()),
                    lf(replacement)
                )
            }
            A::ReplaceUri { regex, replacement } => {
                write!(
                    f,
                    "replace-uri {} {}",
                    quote(regex.as_str()),
                    lf(replacement)
                )
            }
            A::SetVar { var, expr } => {
                write!(f, "set-var({var}) {}", quote(&expr.to_string()))
            }
            A::UnsetVar(var) => write!(f, "unset-var({var})"),
            A::Capture { sample, len, id } => {
                write!(f, "capture {}", quote(&sample.to_string()))?;
                match id {
                    Some(id) => write!(f, " id {id}"),
                    None => write!(f, " len {len}"),
                }
            }
            A::SetLogLevel(l) => write!(f, "set-log-level {l}"),
            A::UseService(Service::PrometheusExporter) => {
                f.write_str("use-service prometheus-exporter")
            }
            A::DisableL7Retry => f.write_str("disable-l7-retry"),
        }
    }
}

/// The words after `http-request`, condition included, in HAProxy syntax, so `--dump` can
/// write the rule back and the parser read it again.
impl fmt::Display for HttpRequestRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.action)?;
        write_condition(f, &self.condition)
    }
}
