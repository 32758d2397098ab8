//! Header rewrites shared by `http-request` and `http-response`: `add-header`, `set-header`,
//! `del-header`, `replace-header`, `replace-value`.

use std::fmt;

use super::{lf, Args, LogFormat};
use crate::acl::RegexPattern;
use crate::diag::Diagnostic;
use crate::lexer::quote;

/// One header rewrite. Header names compare case-insensitively at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderAction {
    /// `add-header NAME FMT`: appends a header line.
    Add { name: String, value: LogFormat },
    /// `set-header NAME FMT`: removes every `NAME` line, then adds one.
    Set { name: String, value: LogFormat },
    /// `del-header NAME [-m METHOD]`: removes the headers whose name matches.
    Del { name: NameMatch },
    /// `replace-header NAME REGEX FMT`: rewrites each whole line value that the regex
    /// matches; `\1`… in the replacement refer to the regex's groups.
    Replace {
        name: String,
        regex: RegexPattern,
        replacement: LogFormat,
    },
    /// `replace-value NAME REGEX FMT`: like `Replace`, applied to each comma-separated value.
    ReplaceValue {
        name: String,
        regex: RegexPattern,
        replacement: LogFormat,
    },
}

/// How `del-header` compares header names (always ignoring case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameMatch {
    Str(String),
    Beg(String),
    End(String),
    Sub(String),
    Reg(RegexPattern),
}

pub(crate) const HEADER_ACTIONS: [&str; 5] = [
    "add-header",
    "set-header",
    "del-header",
    "replace-header",
    "replace-value",
];

impl HeaderAction {
    /// Parses the arguments of a header action; `None` when `word` is not one.
    pub(crate) fn parse(word: &str, args: &mut Args<'_, '_>) -> Option<Result<Self, Diagnostic>> {
        HEADER_ACTIONS
            .contains(&word)
            .then(|| Self::parse_known(word, args))
    }

    fn parse_known(word: &str, args: &mut Args<'_, '_>) -> Result<Self, Diagnostic> {
        Ok(match word {
            "add-header" | "set-header" => {
                let usage = format!("{word} NAME FORMAT");
                let name = args.header_name(&usage)?;
                let value = args.log_format("a value", &usage)?;
                if word == "add-header" {
                    HeaderAction::Add { name, value }
                } else {
                    HeaderAction::Set { name, value }
                }
            }
            "del-header" => {
                let usage = "del-header NAME [-m str|beg|end|sub|reg]";
                let name = args.next("a header name", usage)?.clone();
                let method = if args.peek() == Some("-m") {
                    args.skip();
                    args.value_of("-m")?.as_str()
                } else {
                    "str"
                };
                let name = match method {
                    "str" | "beg" | "end" | "sub" => {
                        if method == "str" {
                            super::check_header_name(&name).map_err(|m| args.error(m))?;
                        }
                        match method {
                            "str" => NameMatch::Str(name),
                            "beg" => NameMatch::Beg(name),
                            "end" => NameMatch::End(name),
                            _ => NameMatch::Sub(name),
                        }
                    }
                    "reg" => NameMatch::Reg(
                        RegexPattern::new(&name, true).map_err(|e| args.ctx.diag(e))?,
                    ),
                    other => {
                        return Err(args
                            .error(format!("unknown del-header match method '{other}'"))
                            .with_help(format!("write: {usage}")))
                    }
                };
                HeaderAction::Del { name }
            }
            _ => {
                let usage = format!("{word} NAME REGEX REPLACEMENT");
                let name = args.header_name(&usage)?;
                let regex = args.regex(&usage)?;
                let replacement = args.log_format("a replacement", &usage)?;
                if word == "replace-header" {
                    HeaderAction::Replace {
                        name,
                        regex,
                        replacement,
                    }
                } else {
                    HeaderAction::ReplaceValue {
                        name,
                        regex,
                        replacement,
                    }
                }
            }
        })
    }
}

impl fmt::Display for HeaderAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderAction::Add { name, value } => {
                write!(f, "add-header {} {}", quote(name), lf(value))
            }
            HeaderAction::Set { name, value } => {
                write!(f, "set-header {} {}", quote(name), lf(value))
            }
            HeaderAction::Del { name } => {
                let (word, method) = match name {
                    NameMatch::Str(s) => (s.as_str(), None),
                    NameMatch::Beg(s) => (s.as_str(), Some("beg")),
                    NameMatch::End(s) => (s.as_str(), Some("end")),
                    NameMatch::Sub(s) => (s.as_str(), Some("sub")),
                    NameMatch::Reg(r) => (r.as_str(), Some("reg")),
                };
                write!(f, "del-header {}", quote(word))?;
                if let Some(m) = method {
                    write!(f, " -m {m}")?;
                }
                Ok(())
            }
            HeaderAction::Replace {
                name,
                regex,
                replacement,
            } => write!(
                f,
                "replace-header {} {} {}",
                quote(name),
                quote(regex.as_str()),
                lf(replacement)
            ),
            HeaderAction::ReplaceValue {
                name,
                regex,
                replacement,
            } => write!(
                f,
                "replace-value {} {} {}",
                quote(name),
                quote(regex.as_str()),
                lf(replacement)
            ),
        }
    }
}
