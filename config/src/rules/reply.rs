//! Replies made by the proxy itself: `return`, the bodies of `deny` and `tarpit`, and
//! `redirect`.

use std::fmt;
use std::path::PathBuf;

use super::{lf, Args, LogFormat};
use crate::diag::Diagnostic;
use crate::lexer::quote;

/// The reply of `http-request return` (and of `deny`/`tarpit` with a body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnSpec {
    pub status: u16,
    /// Required with a `string`, `lf-string`, `file` or `lf-file` body; not allowed with
    /// `errorfile` or `default-errorfiles`, whose files carry their own headers.
    pub content_type: Option<String>,
    pub body: ReturnBody,
    pub headers: Vec<(String, LogFormat)>,
}

impl ReturnSpec {
    pub fn with_status(status: u16) -> Self {
        Self {
            status,
            content_type: None,
            body: ReturnBody::None,
            headers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnBody {
    None,
    String(String),
    LfString(LogFormat),
    /// Contents read from a file at load time.
    File {
        path: PathBuf,
        contents: Vec<u8>,
    },
    /// `lf-file`: a file read at load time and parsed as a log-format.
    LfFile {
        path: PathBuf,
        format: LogFormat,
    },
    /// `errorfile`: a complete HTTP response (status line, headers, body) read at load time.
    ErrorFile {
        path: PathBuf,
        contents: Vec<u8>,
    },
    /// `default-errorfiles`: the proxy's `errorfile` for the status, else the built-in page.
    DefaultErrorfiles,
    /// `errorfiles NAME`: the page for the status from `http-errors NAME`, else as
    /// `default-errorfiles`.
    ErrorFiles {
        section: String,
    },
}

impl ReturnBody {
    fn keyword(&self) -> Option<&'static str> {
        Some(match self {
            ReturnBody::None => return None,
            ReturnBody::String(_) => "string",
            ReturnBody::LfString(_) => "lf-string",
            ReturnBody::File { .. } => "file",
            ReturnBody::LfFile { .. } => "lf-file",
            ReturnBody::ErrorFile { .. } => "errorfile",
            ReturnBody::DefaultErrorfiles => "default-errorfiles",
            ReturnBody::ErrorFiles { .. } => "errorfiles",
        })
    }
}

/// Parses `[STATUS_KW N] [content-type T] [BODY] [hdr N V]…` up to the condition.
/// `status_kws` are the words accepted for the status (`status`, `deny_status`).
pub(crate) fn parse_reply(
    args: &mut Args<'_, '_>,
    default_status: u16,
    status_kws: &[&str],
) -> Result<ReturnSpec, Diagnostic> {
    let mut spec = ReturnSpec::with_status(default_status);
    let mut status_seen = false;
    while !args.at_end() {
        let kw = args.next("an option", "")?.as_str();
        match kw {
            _ if status_kws.contains(&kw) => {
                if status_seen {
                    return Err(args.error(format!("the status of '{}' is given twice", args.action)));
                }
                status_seen = true;
                spec.status = args.status(kw)?;
            }
            "content-type" => spec.content_type = Some(args.value_of(kw)?.clone()),
            "hdr" => {
                let name = args.value_of("hdr")?.clone();
                super::check_header_name(&name).map_err(|m| args.error(m))?;
                let v = args.value_of("hdr")?;
                let value = LogFormat::parse_parts(v)
                    .map(|parts| LogFormat {
                        source: v.clone(),
                        parts,
                    })
                    .map_err(|e| args.ctx.diag(e))?;
                spec.headers.push((name, value));
            }
            "string" | "lf-string" | "file" | "lf-file" | "errorfile" | "errorfiles"
            | "default-errorfiles" => {
                if let Some(prev) = spec.body.keyword() {
                    return Err(args
                        .error(format!("'{}' has two bodies: '{prev}' and '{kw}'", args.action))
                        .with_help("keep one of string, lf-string, file, lf-file, errorfile, errorfiles, default-errorfiles"));
                }
                spec.body = parse_body(args, kw)?;
            }
            other => {
                return Err(args
                    .error(format!("unknown option '{other}' for '{}'", args.action))
                    .with_help(format!(
                        "options are {}, content-type TYPE, string|lf-string|file|lf-file|errorfile FILE, errorfiles NAME, default-errorfiles, hdr NAME VALUE",
                        status_kws.iter().map(|k| format!("{k} CODE")).collect::<Vec<_>>().join(", ")
                    )))
            }
        }
    }
    let own_headers = matches!(
        spec.body,
        ReturnBody::ErrorFile { .. }
            | ReturnBody::ErrorFiles { .. }
            | ReturnBody::DefaultErrorfiles
    );
    if own_headers && (spec.content_type.is_some() || !spec.headers.is_empty()) {
        return Err(args
            .error(format!(
                "'{}' cannot set content-type or hdr with '{}'",
                args.action,
                spec.body.keyword().unwrap_or_default()
            ))
            .with_help("an error file carries its own headers; use 'file' to send a body with your own headers"));
    }
    let has_payload = !own_headers && spec.body != ReturnBody::None;
    if has_payload && spec.content_type.is_none() {
        return Err(args
            .error(format!("'{}' has a body but no content-type", args.action))
            .with_help("add content-type, e.g. content-type text/plain"));
    }
    Ok(spec)
}

fn parse_body(args: &mut Args<'_, '_>, kw: &str) -> Result<ReturnBody, Diagnostic> {
    if kw == "default-errorfiles" {
        return Ok(ReturnBody::DefaultErrorfiles);
    }
    let v = args.value_of(kw)?;
    let lf_of = |text: &str, args: &Args<'_, '_>| {
        LogFormat::parse_parts(text)
            .map(|parts| LogFormat {
                source: text.to_string(),
                parts,
            })
            .map_err(|e| args.ctx.diag(e))
    };
    Ok(match kw {
        "string" => ReturnBody::String(v.clone()),
        "lf-string" => ReturnBody::LfString(lf_of(v, args)?),
        "errorfiles" => ReturnBody::ErrorFiles { section: v.clone() },
        _ => {
            let path = args.ctx.resolve(v);
            let contents = std::fs::read(&path).map_err(|e| {
                args.error(format!("cannot read {kw} '{}': {e}", path.display()))
                    .with_help(
                        "check the path; relative paths start from the configuration file's folder",
                    )
            })?;
            match kw {
                "file" => ReturnBody::File { path, contents },
                "errorfile" => ReturnBody::ErrorFile { path, contents },
                _ => {
                    let text = String::from_utf8(contents).map_err(|_| {
                        args.error(format!("lf-file '{}' is not UTF-8 text", path.display()))
                    })?;
                    ReturnBody::LfFile {
                        format: lf_of(&text, args)?,
                        path,
                    }
                }
            }
        }
    })
}

/// Writes the options of a reply; the status only when it differs from `default_status`.
pub(crate) fn write_reply(
    f: &mut fmt::Formatter<'_>,
    spec: &ReturnSpec,
    status_kw: &str,
    default_status: u16,
) -> fmt::Result {
    if spec.status != default_status {
        write!(f, " {status_kw} {}", spec.status)?;
    }
    if let Some(ct) = &spec.content_type {
        write!(f, " content-type {}", quote(ct))?;
    }
    match &spec.body {
        ReturnBody::None => {}
        ReturnBody::String(s) => write!(f, " string {}", quote(s))?,
        ReturnBody::LfString(l) => write!(f, " lf-string {}", lf(l))?,
        ReturnBody::File { path, .. } => write!(f, " file {}", quote(&path.to_string_lossy()))?,
        ReturnBody::LfFile { path, .. } => {
            write!(f, " lf-file {}", quote(&path.to_string_lossy()))?
        }
        ReturnBody::ErrorFile { path, .. } => {
            write!(f, " errorfile {}", quote(&path.to_string_lossy()))?
        }
        ReturnBody::DefaultErrorfiles => f.write_str(" default-errorfiles")?,
        ReturnBody::ErrorFiles { section } => write!(f, " errorfiles {}", quote(section))?,
    }
    for (name, value) in &spec.headers {
        write!(f, " hdr {} {}", quote(name), lf(value))?;
    }
    Ok(())
}

/// `redirect location|prefix|scheme VALUE [code N] [option]…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub target: LogFormat,
    /// 301, 302 (the default), 303, 307 or 308.
    pub code: u16,
    /// `drop-query`: the query string is not carried over (`prefix` only, as in HAProxy).
    pub drop_query: bool,
    /// `append-slash`: with `drop-query`, a `/` is added to a path not ending in one.
    pub append_slash: bool,
    pub set_cookie: Option<CookieSpec>,
    pub clear_cookie: Option<String>,
}

/// What the redirect's value replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// The whole `Location`.
    Location,
    /// Prepended to the request's path.
    Prefix,
    /// Replaces the scheme, keeping host and path.
    Scheme,
}

/// `set-cookie NAME[=VALUE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSpec {
    pub name: String,
    pub value: Option<String>,
}

impl Redirect {
    pub(crate) fn parse(args: &mut Args<'_, '_>) -> Result<Redirect, Diagnostic> {
        let usage = "redirect location|prefix|scheme VALUE [code 301|302|303|307|308] [drop-query] [append-slash] [set-cookie NAME=VALUE] [clear-cookie NAME]";
        let kind = match args.next("location, prefix or scheme", usage)?.as_str() {
            "location" => RedirectKind::Location,
            "prefix" => RedirectKind::Prefix,
            "scheme" => RedirectKind::Scheme,
            other => {
                return Err(args
                    .error(format!("unknown redirect type '{other}'"))
                    .with_help(format!("write: {usage}")))
            }
        };
        let target = args.log_format("a target after the redirect type", usage)?;
        let mut r = Redirect {
            kind,
            target,
            code: 302,
            drop_query: false,
            append_slash: false,
            set_cookie: None,
            clear_cookie: None,
        };
        while !args.at_end() {
            let kw = args.next("an option", usage)?.as_str();
            match kw {
                "code" => {
                    let v = args.value_of("code")?;
                    r.code = match v.parse() {
                        Ok(c @ (301 | 302 | 303 | 307 | 308)) => c,
                        _ => {
                            return Err(args
                                .error(format!("invalid redirect code '{v}'"))
                                .with_help("redirect codes are 301, 302, 303, 307 and 308"))
                        }
                    }
                }
                "drop-query" => r.drop_query = true,
                "append-slash" => r.append_slash = true,
                "set-cookie" => {
                    let v = args.value_of("set-cookie")?;
                    let (name, value) = match v.split_once('=') {
                        Some((n, v)) => (n, Some(v.to_string())),
                        None => (v.as_str(), None),
                    };
                    if name.is_empty() {
                        return Err(args.error("set-cookie needs a cookie name"));
                    }
                    r.set_cookie = Some(CookieSpec {
                        name: name.to_string(),
                        value,
                    });
                }
                "clear-cookie" => {
                    let v = args.value_of("clear-cookie")?;
                    r.clear_cookie = Some(v.trim_end_matches('=').to_string());
                }
                other => {
                    return Err(args
                        .error(format!("unknown redirect option '{other}'"))
                        .with_help(format!("write: {usage}")))
                }
            }
        }
        Ok(r)
    }
}

impl fmt::Display for Redirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            RedirectKind::Location => "location",
            RedirectKind::Prefix => "prefix",
            RedirectKind::Scheme => "scheme",
        };
        write!(f, "redirect {kind} {}", lf(&self.target))?;
        if self.code != 302 {
            write!(f, " code {}", self.code)?;
        }
        if self.drop_query {
            f.write_str(" drop-query")?;
        }
        if self.append_slash {
            f.write_str(" append-slash")?;
        }
        if let Some(c) = &self.set_cookie {
            let v = match &c.value {
                Some(v) => format!("{}={v}", c.name),
                None => c.name.clone(),
            };
            write!(f, " set-cookie {}", quote(&v))?;
        }
        if let Some(c) = &self.clear_cookie {
            write!(f, " clear-cookie {}", quote(c))?;
        }
        Ok(())
    }
}
