//! `http-response` rules: actions on the server's response, each with an optional condition.

use std::fmt;

use super::header::HeaderAction;
use super::reply::{parse_reply, write_reply, Redirect, ReturnSpec};
use super::{
    capture_id, quote, set_var_name, unknown_action, unset_var_name, write_condition, Args,
    LogLevel, VarName,
};
use crate::acl::{Condition, Ctx, SampleExpr};
use crate::diag::Diagnostic;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponseRule {
    pub action: HttpResponseAction,
    pub condition: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpResponseAction {
    /// Stops rule evaluation and lets the response through.
    Allow,
    /// Replaces the response with the spec (502 unless `deny_status` says otherwise).
    Deny(ReturnSpec),
    Header(HeaderAction),
    /// `set-status N [reason R]`: the reason defaults to the standard one for N.
    SetStatus {
        status: u16,
        reason: Option<String>,
    },
    /// Replaces the response with this one (200 by default).
    Return(ReturnSpec),
    Redirect(Redirect),
    SetVar {
        var: VarName,
        expr: SampleExpr,
    },
    UnsetVar(VarName),
    /// `capture SAMPLE id SLOT`: the sample, cut to the slot's length, in `capture response
    /// header` slot SLOT (0-based) for the log (`%hs`).
    Capture {
        sample: SampleExpr,
        id: u32,
    },
    SetLogLevel(LogLevel),
}

const ACTIONS: &[&str] = &[
    "allow",
    "deny",
    "add-header",
    "set-header",
    "del-header",
    "replace-header",
    "replace-value",
    "set-status",
    "return",
    "redirect",
    "set-var",
    "unset-var",
    "capture",
    "set-log-level",
];

/// Parses the words after `http-response`.
pub fn parse_http_response(args: &[String], ctx: &Ctx<'_>) -> Result<HttpResponseRule, Diagnostic> {
    let Some(word) = args.first() else {
        return Err(ctx
            .error("'http-response' expects an action")
            .with_help(format!("actions: {}", ACTIONS.join(", "))));
    };
    let mut a = Args::new(args, 1, ctx, word);
    let action = parse_action(word, &mut a)?;
    Ok(HttpResponseRule {
        action,
        condition: a.condition()?,
    })
}

fn parse_action(word: &str, a: &mut Args<'_, '_>) -> Result<HttpResponseAction, Diagnostic> {
    if let Some(h) = HeaderAction::parse(word, a) {
        return h.map(HttpResponseAction::Header);
    }
    if let Some(var) = set_var_name(a.ctx, word) {
        let var = var?;
        let expr = a.sample("set-var(SCOPE.NAME) SAMPLE, e.g. set-var(txn.status) status")?;
        return Ok(HttpResponseAction::SetVar { var, expr });
    }
    if let Some(var) = unset_var_name(a.ctx, word) {
        return Ok(HttpResponseAction::UnsetVar(var?));
    }
    Ok(match word {
        "allow" => HttpResponseAction::Allow,
        "deny" => HttpResponseAction::Deny(parse_reply(a, 502, &["deny_status", "status"])?),
        "set-status" => {
            let usage = "set-status CODE [reason TEXT]";
            let w = a.next("a status code", usage)?;
            let status = super::parse_status(w)
                .map_err(|m| a.error(m).with_help(format!("write: {usage}")))?;
            let reason = if a.peek() == Some("reason") {
                a.skip();
                Some(a.value_of("reason")?.clone())
            } else {
                None
            };
            HttpResponseAction::SetStatus { status, reason }
        }
        "return" => HttpResponseAction::Return(parse_reply(a, 200, &["status"])?),
        "redirect" => HttpResponseAction::Redirect(Redirect::parse(a)?),
        "capture" => {
            let usage = "capture SAMPLE id SLOT";
            let sample = a.sample(usage)?;
            if a.next("'id'", usage)? != "id" {
                return Err(a
                    .error("'http-response capture' expects 'id' after the sample")
                    .with_help(format!("write: {usage}")));
            }
            let id = capture_id(a, usage)?;
            HttpResponseAction::Capture { sample, id }
        }
        "set-log-level" => HttpResponseAction::SetLogLevel(LogLevel::parse(a)?),
        _ => return Err(unknown_action(a.ctx, "http-response", word, ACTIONS)),
    })
}

impl fmt::Display for HttpResponseAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HttpResponseAction as A;
        match self {
            A::Allow => f.write_str("allow"),
            A::Deny(spec) => {
                f.write_str("deny")?;
                write_reply(f, spec, "deny_status", 502)
            }
            A::Header(h) => write!(f, "{h}"),
            A::SetStatus { status, reason } => {
                write!(f, "set-status {status}")?;
                match reason {
                    Some(r) => write!(f, " reason {}", quote(r)),
                    None => Ok(()),
                }
            }
            A::Return(spec) => {
                f.write_str("return")?;
                write_reply(f, spec, "status", 200)
            }
            A::Redirect(r) => write!(f, "{r}"),
            A::SetVar { var, expr } => write!(f, "set-var({var}) {}", quote(&expr.to_string())),
            A::UnsetVar(var) => write!(f, "unset-var({var})"),
            A::Capture { sample, id } => {
                write!(f, "capture {} id {id}", quote(&sample.to_string()))
            }
            A::SetLogLevel(l) => write!(f, "set-log-level {l}"),
        }
    }
}

/// The words after `http-response`, condition included.
impl fmt::Display for HttpResponseRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.action)?;
        write_condition(f, &self.condition)
    }
}
