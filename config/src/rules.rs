//! `http-request`, `http-response` and `tcp-request` rules, the legacy `block` and `redirect`
//! keywords, and log-format strings used in their values.

use crate::acl::{Condition, Ctx};
use crate::diag::Diagnostic;

/// A log-format string (`%[src]`, `%ci`, literals), parsed into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    /// As written, for `--dump`.
    pub source: String,
    // Filled in by the rules parser: literal and expression parts.
}

/// One `http-request` rule: an action and its optional condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequestRule {
    pub action: HttpRequestAction,
    pub condition: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpRequestAction {
    /// `http-request return [status N] [content-type T] [string S | file F | lf-string S] [hdr N V]…`
    Return(ReturnSpec),
    // Filled in by the rules parser: allow, deny, tarpit, auth, redirect, header and path actions…
}

/// The reply of `http-request return` (and of `deny`/`tarpit` with a body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnSpec {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: ReturnBody,
    pub headers: Vec<(String, LogFormat)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnBody {
    None,
    String(String),
    LfString(LogFormat),
    /// Contents read from a file at load time.
    File {
        path: std::path::PathBuf,
        contents: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponseRule {
    pub action: HttpResponseAction,
    pub condition: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpResponseAction {
    // Filled in by the rules parser.
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRequestRule {
    // Filled in by the rules parser: `connection` or `content`, action, condition.
}

/// Parses the words after `http-request`.
pub fn parse_http_request(args: &[String], ctx: &Ctx<'_>) -> Result<HttpRequestRule, Diagnostic> {
    let _ = args;
    Err(Diagnostic::error(
        ctx.location.clone(),
        ctx.keyword,
        "http-request is not parsed yet",
    ))
}

/// Parses the words after `http-response`.
pub fn parse_http_response(args: &[String], ctx: &Ctx<'_>) -> Result<HttpResponseRule, Diagnostic> {
    let _ = args;
    Err(Diagnostic::error(
        ctx.location.clone(),
        ctx.keyword,
        "http-response is not parsed yet",
    ))
}

/// Parses the words after `tcp-request`.
pub fn parse_tcp_request(args: &[String], ctx: &Ctx<'_>) -> Result<TcpRequestRule, Diagnostic> {
    let _ = args;
    Err(Diagnostic::error(
        ctx.location.clone(),
        ctx.keyword,
        "tcp-request is not parsed yet",
    ))
}

/// Each rule type displays as the words after its keyword, condition included, in HAProxy
/// syntax, so `--dump` can write it back and the parser read it again.
impl std::fmt::Display for HttpRequestRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("return")
    }
}

impl std::fmt::Display for HttpResponseRule {
    fn fmt(&self, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

impl std::fmt::Display for TcpRequestRule {
    fn fmt(&self, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

/// A log-format string displays as written (unquoted; the dumper quotes words).
impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}
