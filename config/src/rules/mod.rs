//! `http-request`, `http-response` and `tcp-request` rules (the legacy `block` and `redirect`
//! keywords fold into `http-request`): typed actions with their arguments and conditions.

mod header;
mod http_request;
mod http_response;
mod reply;
mod tcp;

#[cfg(test)]
mod response_tcp_tests;
#[cfg(test)]
mod tests;

use std::fmt;

pub use crate::logformat::LogFormat;
pub use header::{HeaderAction, NameMatch};
pub use http_request::{parse_http_request, HttpRequestAction, HttpRequestRule, Service};
pub use http_response::{parse_http_response, HttpResponseAction, HttpResponseRule};
pub use reply::{CookieSpec, Redirect, RedirectKind, ReturnBody, ReturnSpec};
pub use tcp::{parse_tcp_request, TcpAction, TcpRequestRule};

use crate::acl::{parse_condition, Condition, Ctx, RegexPattern, SampleExpr};
use crate::diag::{nearest, Diagnostic};
use crate::lexer::quote;
use crate::model::Level;

/// A cursor over a rule's words, reporting errors against the action being parsed.
pub(crate) struct Args<'a, 'c> {
    words: &'a [String],
    pos: usize,
    pub ctx: &'a Ctx<'c>,
    /// The action word (`deny`, `set-header`…), for messages.
    pub action: &'a str,
}

impl<'a, 'c> Args<'a, 'c> {
    pub fn new(words: &'a [String], pos: usize, ctx: &'a Ctx<'c>, action: &'a str) -> Self {
        Self {
            words,
            pos,
            ctx,
            action,
        }
    }

    pub fn peek(&self) -> Option<&'a str> {
        self.words.get(self.pos).map(String::as_str)
    }

    /// True at the end or at `if`/`unless`: the action's own words are over.
    pub fn at_end(&self) -> bool {
        matches!(self.peek(), None | Some("if") | Some("unless"))
    }

    /// The next word, which must be the action's `what`.
    pub fn next(&mut self, what: &str, usage: &str) -> Result<&'a String, Diagnostic> {
        if self.at_end() {
            return Err(self
                .ctx
                .error(format!("'{}' expects {what}", self.action))
                .with_help(format!("write: {usage}")));
        }
        let w = &self.words[self.pos];
        self.pos += 1;
        Ok(w)
    }

    /// The value after an option keyword such as `code` or `content-type`.
    pub fn value_of(&mut self, option: &str) -> Result<&'a String, Diagnostic> {
        match self.words.get(self.pos) {
            Some(w) => {
                self.pos += 1;
                Ok(w)
            }
            None => Err(self
                .ctx
                .error(format!(
                    "'{option}' of '{}' is missing its value",
                    self.action
                ))
                .with_help(format!("write: {option} VALUE"))),
        }
    }

    pub fn skip(&mut self) {
        self.pos += 1;
    }

    pub fn error(&self, message: impl Into<String>) -> Diagnostic {
        self.ctx.error(message)
    }

    /// The rest must be empty or a condition.
    pub fn condition(self) -> Result<Option<Condition>, Diagnostic> {
        let rest = &self.words[self.pos..];
        match rest.first().map(String::as_str) {
            None => Ok(None),
            Some("if") | Some("unless") => parse_condition(rest, self.ctx).map(Some),
            Some(w) => Err(self
                .ctx
                .error(format!("unexpected '{w}' after '{}'", self.action))
                .with_help("only 'if' or 'unless' and a condition may follow the action")),
        }
    }

    pub fn status(&mut self, option: &str) -> Result<u16, Diagnostic> {
        let w = self.value_of(option)?;
        parse_status(w).map_err(|m| {
            self.error(m)
                .with_help("write a three-digit HTTP status code between 100 and 599")
        })
    }

    pub fn log_format(&mut self, what: &str, usage: &str) -> Result<LogFormat, Diagnostic> {
        let w = self.next(what, usage)?;
        LogFormat::parse_parts(w)
            .map(|parts| LogFormat {
                source: w.clone(),
                parts,
            })
            .map_err(|e| self.ctx.diag(e))
    }

    pub fn regex(&mut self, usage: &str) -> Result<RegexPattern, Diagnostic> {
        let w = self.next("a regex", usage)?;
        RegexPattern::new(w, false).map_err(|e| self.ctx.diag(e))
    }

    pub fn header_name(&mut self, usage: &str) -> Result<String, Diagnostic> {
        let w = self.next("a header name", usage)?;
        check_header_name(w).map_err(|m| {
            self.error(m)
                .with_help("header names are HTTP tokens: letters, digits and !#$%&'*+-.^_`|~")
        })?;
        Ok(w.clone())
    }

    pub fn sample(&mut self, usage: &str) -> Result<SampleExpr, Diagnostic> {
        let w = self.next("a sample expression", usage)?;
        SampleExpr::parse(w).map_err(|e| self.ctx.diag(e))
    }
}

pub(crate) fn parse_status(w: &str) -> Result<u16, String> {
    match w.parse::<u16>() {
        Ok(n) if (100..=599).contains(&n) => Ok(n),
        _ => Err(format!("invalid HTTP status code '{w}'")),
    }
}

pub(crate) fn check_header_name(w: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !w.is_empty() && w.chars().all(token) {
        Ok(())
    } else {
        Err(format!("invalid header name '{w}'"))
    }
}

/// The error for an action word that no rule type knows.
pub(crate) fn unknown_action(ctx: &Ctx<'_>, keyword: &str, w: &str, known: &[&str]) -> Diagnostic {
    let e = ctx.error(format!("unknown '{keyword}' action '{w}'"));
    match nearest(w, known.iter().copied()) {
        Some(n) => e.with_help(format!("did you mean '{n}'?")),
        None => e.with_help(format!("known actions: {}", known.join(", "))),
    }
}

pub use crate::acl::var::{VarName, VarScope};

/// Splits `set-var(txn.x)` into its variable.
pub(crate) fn set_var_name(ctx: &Ctx<'_>, word: &str) -> Option<Result<VarName, Diagnostic>> {
    var_in(ctx, word, "set-var")
}

/// Splits `unset-var(txn.x)` into its variable.
pub(crate) fn unset_var_name(ctx: &Ctx<'_>, word: &str) -> Option<Result<VarName, Diagnostic>> {
    var_in(ctx, word, "unset-var")
}

fn var_in(ctx: &Ctx<'_>, word: &str, action: &str) -> Option<Result<VarName, Diagnostic>> {
    let inner = word
        .strip_prefix(action)?
        .strip_prefix('(')?
        .strip_suffix(')')?;
    Some(VarName::parse(inner).map_err(|m| {
        ctx.error(m).with_help(format!(
            "write {action}(SCOPE.NAME) with SCOPE one of proc, sess, txn, req, res"
        ))
    }))
}

/// Reads `id N` (the 0-based index of a `capture … header` slot) after `capture SAMPLE`.
pub(crate) fn capture_id(a: &mut Args<'_, '_>, usage: &str) -> Result<u32, Diagnostic> {
    let v = a.value_of("id")?;
    v.parse().map_err(|_| {
        a.error(format!("invalid capture id '{v}'"))
            .with_help(format!(
                "write the slot number (0 for the first 'capture … header' line): {usage}"
            ))
    })
}

/// `set-log-level LEVEL`: a syslog level, or `silent` to drop the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Silent,
    Level(Level),
}

const LEVELS: [(&str, Level); 8] = Level::NAMES;

impl LogLevel {
    pub(crate) fn parse(args: &mut Args<'_, '_>) -> Result<LogLevel, Diagnostic> {
        let usage = "set-log-level silent|emerg|alert|crit|err|warning|notice|info|debug";
        let w = args.next("a log level", usage)?;
        if w == "silent" {
            return Ok(LogLevel::Silent);
        }
        LEVELS
            .iter()
            .find(|(n, _)| n == w)
            .map(|(_, l)| LogLevel::Level(*l))
            .ok_or_else(|| {
                args.error(format!("unknown log level '{w}'"))
                    .with_help(format!("write: {usage}"))
            })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogLevel::Silent => f.write_str("silent"),
            LogLevel::Level(l) => f.write_str(
                LEVELS
                    .iter()
                    .find(|(_, x)| x == l)
                    .map(|(n, _)| *n)
                    .unwrap_or("info"),
            ),
        }
    }
}

/// Writes ` if …` after an action when there is a condition.
pub(crate) fn write_condition(
    f: &mut fmt::Formatter<'_>,
    condition: &Option<Condition>,
) -> fmt::Result {
    match condition {
        Some(c) => write!(f, " {c}"),
        None => Ok(()),
    }
}

/// Writes a log-format value as one quoted word.
pub(crate) fn lf(f: &LogFormat) -> std::borrow::Cow<'_, str> {
    quote(&f.source)
}
