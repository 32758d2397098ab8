//! Log-format strings (`log-format`, `lf-string`, header values, `use_backend %[…]`): literal
//! text, `%x` aliases and `%[fetch,converter]` sample expressions, parsed into parts for the
//! engine to fill in per request.

use std::fmt;

use crate::acl::{ParseError, SampleExpr};
use crate::diag::nearest;

/// A log-format string, parsed into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    /// As written, for `--dump`.
    pub source: String,
    pub parts: Vec<LogPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogPart {
    /// Text copied as it is (`%%` already turned into `%`).
    Literal(String),
    /// `%{+Q}ci`: a predefined variable.
    Alias {
        alias: LogAlias,
        flags: Vec<LogFlag>,
    },
    /// `%{+Q}[req.hdr(host),lower]`: a sample expression.
    Sample {
        expr: SampleExpr,
        flags: Vec<LogFlag>,
    },
    /// `%{+Q}o`: flags that apply to every later variable of the string.
    Options(Vec<LogFlag>),
}

/// A `+F` or `-F` in `%{…}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFlag {
    /// `+` sets the flag, `-` clears one set by `%{…}o`.
    pub enable: bool,
    pub kind: LogFlagKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFlagKind {
    /// `Q`: quote the value.
    Quote,
    /// `X`: write numbers in hexadecimal.
    Hex,
    /// `E`: escape `"`, `\` and `]`.
    Escape,
}

macro_rules! log_aliases {
    ($($variant:ident = $name:literal : $doc:literal,)*) => {
        /// The `%x` variables of HAProxy's log format.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum LogAlias {
            $(#[doc = $doc] $variant,)*
        }

        impl LogAlias {
            pub const ALL: &'static [LogAlias] = &[$(LogAlias::$variant,)*];

            /// The name written after `%`.
            pub fn name(self) -> &'static str {
                match self {
                    $(LogAlias::$variant => $name,)*
                }
            }
        }
    };
}

log_aliases! {
    BytesRead = "B": "bytes sent to the client",
    CapturedRequestCookie = "CC": "captured request cookie",
    CapturedResponseCookie = "CS": "captured response cookie",
    Hostname = "H": "this host's name",
    HttpMethod = "HM": "request method",
    HttpPath = "HP": "request path",
    HttpPathOnly = "HPO": "request path without the query string",
    HttpQuery = "HQ": "request query string, with its '?'",
    HttpUri = "HU": "request URI",
    HttpVersion = "HV": "request HTTP version",
    UniqueId = "ID": "unique request id",
    Status = "ST": "response status code",
    DateGmt = "T": "accept date, GMT",
    ActiveTime = "Ta": "time from request received to response sent, ms",
    ConnectTime = "Tc": "time to connect to the server, ms",
    DataTime = "Td": "time spent transferring data, ms",
    HandshakeTime = "Th": "handshake time, ms",
    IdleTime = "Ti": "idle time before the request, ms",
    RequestTime = "Tq": "time to receive the request head, ms",
    RequestReceiveTime = "TR": "time to receive the request head from its first byte, ms",
    ResponseTime = "Tr": "server response time, ms",
    StartTimestamp = "Ts": "request start as a Unix timestamp",
    SessionTime = "Tt": "total session duration, ms",
    UserTime = "Tu": "total time seen by the client, ms",
    QueueTime = "Tw": "time spent in queues, ms",
    BytesUploaded = "U": "bytes received from the client",
    ActConn = "ac": "active connections in the process",
    Backend = "b": "backend name",
    BeConn = "bc": "connections on the backend",
    BackendIp = "bi": "local address of the server connection",
    BackendPort = "bp": "local port of the server connection",
    BackendQueue = "bq": "backend queue length",
    ClientIp = "ci": "client address",
    ClientPort = "cp": "client port",
    Frontend = "f": "frontend name",
    FeConn = "fc": "connections on the frontend",
    FrontendIp = "fi": "address the client reached",
    FrontendPort = "fp": "port the client reached",
    FrontendTransport = "ft": "frontend name with transport marker",
    CapturedRequestHeaders = "hr": "captured request headers, in braces",
    CapturedRequestHeadersList = "hrl": "captured request headers, as a list",
    CapturedResponseHeaders = "hs": "captured response headers, in braces",
    CapturedResponseHeadersList = "hsl": "captured response headers, as a list",
    LogCounter = "lc": "frontend log counter",
    Milliseconds = "ms": "milliseconds part of the accept date",
    Pid = "pid": "process id",
    RequestLine = "r": "HTTP request line",
    RetriesCount = "rc": "retries",
    RequestCounter = "rt": "request counter",
    Server = "s": "server name",
    SrvConn = "sc": "connections on the server",
    SslCipher = "sslc": "TLS cipher suite of the client connection (OpenSSL name)",
    SslVersion = "sslv": "TLS version of the client connection",
    ServerIp = "si": "server address",
    ServerPort = "sp": "server port",
    ServerQueue = "sq": "server queue length",
    Date = "t": "accept date, local time",
    RequestDate = "tr": "request date, local time",
    RequestDateGmt = "trg": "request date, GMT",
    RequestDateLocal = "trl": "request date, local time with zone",
    TerminationState = "ts": "termination state",
    TerminationStateCookie = "tsc": "termination state with cookie status",
}

impl LogAlias {
    pub fn from_name(name: &str) -> Option<LogAlias> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// Whether the `Q` flag quotes this variable: HAProxy quotes the ones it writes as
    /// text (names, addresses, the request and its parts, captures), never numbers, dates
    /// nor the termination state.
    pub fn is_text(self) -> bool {
        use LogAlias::*;
        matches!(
            self,
            CapturedRequestCookie
                | CapturedResponseCookie
                | Hostname
                | HttpMethod
                | HttpPath
                | HttpPathOnly
                | HttpQuery
                | HttpUri
                | HttpVersion
                | UniqueId
                | Backend
                | BackendIp
                | ClientIp
                | Frontend
                | FrontendIp
                | FrontendTransport
                | CapturedRequestHeaders
                | CapturedRequestHeadersList
                | CapturedResponseHeaders
                | CapturedResponseHeadersList
                | RequestLine
                | Server
                | SslCipher
                | SslVersion
                | ServerIp
        )
    }
}

impl LogFormat {
    /// Parses a log-format string.
    pub fn parse(s: &str) -> Result<LogFormat, String> {
        Self::parse_parts(s)
            .map(|parts| LogFormat {
                source: s.to_string(),
                parts,
            })
            .map_err(|e| match e.help {
                Some(h) => format!("{} ({h})", e.message),
                None => e.message,
            })
    }

    /// A format with no variables at all.
    pub fn literal(text: &str) -> LogFormat {
        LogFormat {
            source: text.replace('%', "%%"),
            parts: if text.is_empty() {
                Vec::new()
            } else {
                vec![LogPart::Literal(text.to_string())]
            },
        }
    }

    /// The text when the format has no variable.
    pub fn as_literal(&self) -> Option<String> {
        self.parts
            .iter()
            .map(|p| match p {
                LogPart::Literal(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Parses into parts, with the help kept apart for callers that build a diagnostic.
    pub fn parse_parts(s: &str) -> Result<Vec<LogPart>, ParseError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = s;
        while let Some(pos) = rest.find('%') {
            literal.push_str(&rest[..pos]);
            rest = &rest[pos + 1..];
            if let Some(r) = rest.strip_prefix('%') {
                literal.push('%');
                rest = r;
                continue;
            }
            let mut flags = Vec::new();
            if let Some(r) = rest.strip_prefix('{') {
                let end = r.find('}').ok_or_else(|| {
                    ParseError::new(format!("missing '}}' after '%{{' in log-format '{s}'"))
                        .with_help("write flags as %{+Q}")
                })?;
                flags = parse_flags(&r[..end])?;
                rest = &r[end + 1..];
            }
            let part = if let Some(r) = rest.strip_prefix('[') {
                let end = closing_bracket(r).ok_or_else(|| {
                    ParseError::new(format!("missing ']' after '%[' in log-format '{s}'"))
                        .with_help("write sample expressions as %[fetch,converter]")
                })?;
                let expr = SampleExpr::parse(&r[..end])?;
                rest = &r[end + 1..];
                LogPart::Sample { expr, flags }
            } else {
                let len = rest
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .unwrap_or(rest.len());
                let name = &rest[..len];
                rest = &rest[len..];
                if name == "o" {
                    LogPart::Options(flags)
                } else if name.is_empty() {
                    return Err(ParseError::new(format!(
                        "'%' is not followed by a variable in log-format '{s}'"
                    ))
                    .with_help("write %% for a literal percent sign"));
                } else {
                    let alias = LogAlias::from_name(name).ok_or_else(|| {
                        let e = ParseError::new(format!("unknown log-format variable '%{name}'"));
                        match nearest(name, LogAlias::ALL.iter().map(|a| a.name())) {
                            Some(n) => e.with_help(format!("did you mean '%{n}'?")),
                            None => e.with_help(
                                "write %% for a literal percent sign, or %[fetch] for a sample",
                            ),
                        }
                    })?;
                    LogPart::Alias { alias, flags }
                }
            };
            if !literal.is_empty() {
                parts.push(LogPart::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(LogPart::Literal(literal));
        }
        Ok(parts)
    }
}

/// Position of the `]` closing a `%[`, skipping brackets inside converter arguments.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ']' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// `+Q`, `+Q-X`, `+Q,+E`.
fn parse_flags(s: &str) -> Result<Vec<LogFlag>, ParseError> {
    let bad = || {
        ParseError::new(format!("invalid log-format flags '%{{{s}}}'"))
            .with_help("flags are +Q (quote), +X (hexadecimal), +E (escape), or - to clear one")
    };
    let mut flags = Vec::new();
    let mut chars = s.chars().filter(|c| *c != ',');
    while let Some(sign) = chars.next() {
        let enable = match sign {
            '+' => true,
            '-' => false,
            _ => return Err(bad()),
        };
        let kind = match chars.next() {
            Some('Q') => LogFlagKind::Quote,
            Some('X') => LogFlagKind::Hex,
            Some('E') => LogFlagKind::Escape,
            _ => return Err(bad()),
        };
        flags.push(LogFlag { enable, kind });
    }
    Ok(flags)
}

/// A log-format string displays as written (unquoted; the dumper quotes words).
impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{Converter, Fetch};

    fn parse(s: &str) -> Vec<LogPart> {
        LogFormat::parse(s).unwrap().parts
    }

    #[test]
    fn literals_aliases_and_samples_become_parts() {
        assert_eq!(
            parse("%ci:%cp [%t] %[req.hdr(host),lower] done"),
            vec![
                LogPart::Alias {
                    alias: LogAlias::ClientIp,
                    flags: vec![]
                },
                LogPart::Literal(":".into()),
                LogPart::Alias {
                    alias: LogAlias::ClientPort,
                    flags: vec![]
                },
                LogPart::Literal(" [".into()),
                LogPart::Alias {
                    alias: LogAlias::Date,
                    flags: vec![]
                },
                LogPart::Literal("] ".into()),
                LogPart::Sample {
                    expr: SampleExpr {
                        fetch: Fetch::ReqHdr {
                            name: Some("host".into()),
                            occ: None
                        },
                        converters: vec![Converter::Lower],
                    },
                    flags: vec![]
                },
                LogPart::Literal(" done".into()),
            ]
        );
    }

    #[test]
    fn every_common_alias_parses() {
        for name in [
            "ci", "cp", "fi", "fp", "b", "s", "ST", "r", "Tr", "TR", "Ta", "Tq", "B", "H", "pid",
            "t", "T", "U", "f", "ft", "bi", "bp", "si", "sp", "ID", "hr", "hs", "hrl", "hsl", "CC",
            "CS", "tsc", "ac", "fc", "bc", "sc", "rc", "sq", "bq", "sslv", "sslc",
        ] {
            let parts = parse(&format!("%{name}"));
            assert!(
                matches!(&parts[..], [LogPart::Alias { alias, .. }] if alias.name() == name),
                "%{name} gave {parts:?}"
            );
        }
    }

    #[test]
    fn longest_alias_wins_and_stops_at_non_letters() {
        assert_eq!(
            parse("%hrl/%Tq"),
            vec![
                LogPart::Alias {
                    alias: LogAlias::CapturedRequestHeadersList,
                    flags: vec![]
                },
                LogPart::Literal("/".into()),
                LogPart::Alias {
                    alias: LogAlias::RequestTime,
                    flags: vec![]
                },
            ]
        );
    }

    #[test]
    fn flags_apply_to_aliases_samples_and_options() {
        let q = LogFlag {
            enable: true,
            kind: LogFlagKind::Quote,
        };
        let no_x = LogFlag {
            enable: false,
            kind: LogFlagKind::Hex,
        };
        assert_eq!(
            parse("%{+Q}o %{-X}r %{+Q,-X}[src]"),
            vec![
                LogPart::Options(vec![q]),
                LogPart::Literal(" ".into()),
                LogPart::Alias {
                    alias: LogAlias::RequestLine,
                    flags: vec![no_x]
                },
                LogPart::Literal(" ".into()),
                LogPart::Sample {
                    expr: SampleExpr::new(Fetch::Src),
                    flags: vec![q, no_x]
                },
            ]
        );
        assert!(LogFormat::parse("%{+Z}r").unwrap_err().contains("flags"));
    }

    #[test]
    fn double_percent_is_a_literal_percent() {
        let lf = LogFormat::parse("100%% sure").unwrap();
        assert_eq!(lf.as_literal().as_deref(), Some("100% sure"));
        assert_eq!(LogFormat::literal("100% sure"), lf);
    }

    #[test]
    fn unknown_alias_is_an_error_with_a_suggestion() {
        let e = LogFormat::parse("%cip").unwrap_err();
        assert!(e.contains("unknown log-format variable '%cip'"), "{e}");
        assert!(
            e.contains("did you mean '%ci'?") || e.contains("did you mean"),
            "{e}"
        );
        assert!(LogFormat::parse("%zzzzzz").is_err());
    }

    #[test]
    fn malformed_samples_and_trailing_percent_are_errors() {
        assert!(LogFormat::parse("%[src")
            .unwrap_err()
            .contains("missing ']'"));
        assert!(LogFormat::parse("%[nosuchfetch]")
            .unwrap_err()
            .contains("unknown fetch"));
        assert!(LogFormat::parse("50%").unwrap_err().contains("%%"));
        assert!(LogFormat::parse("%[src,nosuchconv]")
            .unwrap_err()
            .contains("unknown converter"));
    }

    #[test]
    fn display_is_the_source_and_reparses_equal() {
        for s in [
            "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r",
            "%[req.hdr(host),lower,field(1,:)]",
            "static text",
            "",
        ] {
            let lf = LogFormat::parse(s).unwrap();
            assert_eq!(lf.to_string(), s);
            assert_eq!(LogFormat::parse(&lf.to_string()).unwrap(), lf);
        }
    }
}
