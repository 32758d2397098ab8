//! ACL match methods (`-m str|beg|…|ip|int`) and their typed patterns: strings, validated
//! regexes, integer ranges and IP networks.

use std::fmt;

use super::fetch::{ParseError, SampleType};
use crate::lexer::quote;
use crate::net::IpNet;

/// How a sample is compared with an ACL's patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchMethod {
    /// `found`: the sample exists; patterns are not allowed.
    Found,
    /// `bool`: the sample is true or a non-zero integer; patterns are not allowed.
    Bool,
    /// `int`: the sample as an integer, against values and ranges.
    Int,
    /// `ip`: the sample as an address, against addresses and networks.
    Ip,
    /// `len`: the sample's length, against integer values and ranges.
    Len,
    /// `str`: exact string.
    Str,
    /// `sub`: the pattern occurs in the sample.
    Sub,
    /// `reg`: the regex matches somewhere in the sample.
    Reg,
    /// `beg`: the sample begins with the pattern.
    Beg,
    /// `end`: the sample ends with the pattern.
    End,
    /// `dir`: the pattern is one of the `/`-delimited parts of the sample.
    Dir,
    /// `dom`: the pattern is one of the `.`- or `/`-delimited parts of the sample.
    Dom,
    /// `bin`: the sample's bytes equal the pattern, written in hexadecimal.
    Bin,
}

impl MatchMethod {
    pub const ALL: [MatchMethod; 13] = [
        MatchMethod::Found,
        MatchMethod::Bool,
        MatchMethod::Int,
        MatchMethod::Ip,
        MatchMethod::Len,
        MatchMethod::Str,
        MatchMethod::Sub,
        MatchMethod::Reg,
        MatchMethod::Beg,
        MatchMethod::End,
        MatchMethod::Dir,
        MatchMethod::Dom,
        MatchMethod::Bin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MatchMethod::Found => "found",
            MatchMethod::Bool => "bool",
            MatchMethod::Int => "int",
            MatchMethod::Ip => "ip",
            MatchMethod::Len => "len",
            MatchMethod::Str => "str",
            MatchMethod::Sub => "sub",
            MatchMethod::Reg => "reg",
            MatchMethod::Beg => "beg",
            MatchMethod::End => "end",
            MatchMethod::Dir => "dir",
            MatchMethod::Dom => "dom",
            MatchMethod::Bin => "bin",
        }
    }

    pub fn from_name(name: &str) -> Option<MatchMethod> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The method an ACL uses when neither `-m` nor a derived name (`path_beg`) says.
    pub fn default_for(t: SampleType) -> MatchMethod {
        match t {
            SampleType::Bool => MatchMethod::Bool,
            SampleType::Int => MatchMethod::Int,
            SampleType::Ip => MatchMethod::Ip,
            SampleType::Str => MatchMethod::Str,
            SampleType::Bin => MatchMethod::Bin,
        }
    }
}

/// A regular expression checked at parse time and kept as written.
///
/// Patterns use the `regex` crate's syntax, which is PCRE's without backreferences (`\1`)
/// and without lookaround (`(?=…)`, `(?!…)`, `(?<=…)`, `(?<!…)`); such patterns are refused
/// when the configuration is loaded rather than failing on traffic. Matching is by search
/// (unanchored), as in HAProxy: write `^…$` to match a whole value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegexPattern(String);

impl RegexPattern {
    /// Validates `pattern`; `ignore_case` is the `-i` flag, under which it will be compiled.
    pub fn new(pattern: &str, ignore_case: bool) -> Result<RegexPattern, ParseError> {
        let p = RegexPattern(pattern.to_string());
        p.compile(ignore_case).map_err(|e| {
            ParseError::new(format!("invalid regex '{pattern}': {}", first_line(&e))).with_help(
                "regexes use Rust regex syntax: PCRE without backreferences or lookaround",
            )
        })?;
        Ok(p)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compiles the pattern; never fails for a value built by [`RegexPattern::new`] with the
    /// same `ignore_case`.
    pub fn compile(&self, ignore_case: bool) -> Result<regex::Regex, regex::Error> {
        regex::RegexBuilder::new(&self.0)
            .case_insensitive(ignore_case)
            .build()
    }
}

fn first_line(e: &regex::Error) -> String {
    // The regex crate's messages draw the pattern over several lines; the last line says why.
    let text = e.to_string();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

impl fmt::Display for RegexPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An integer pattern. `eq`, `lt`, `le`, `gt`, `ge` and the range forms `N:M`, `N:`, `:M`
/// all become inclusive ranges; `ne N` stays a separate case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntPattern {
    /// Inclusive bounds; `None` is unbounded.
    Range { min: Option<i64>, max: Option<i64> },
    /// `ne N`: any value but N.
    Ne(i64),
}

impl IntPattern {
    pub fn matches(&self, v: i64) -> bool {
        match *self {
            IntPattern::Range { min, max } => {
                !matches!(min, Some(m) if v < m) && !matches!(max, Some(m) if v > m)
            }
            IntPattern::Ne(n) => v != n,
        }
    }

    fn exact(n: i64) -> IntPattern {
        IntPattern::Range {
            min: Some(n),
            max: Some(n),
        }
    }
}

impl fmt::Display for IntPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IntPattern::Ne(n) => write!(f, "ne {n}"),
            IntPattern::Range {
                min: Some(a),
                max: Some(b),
            } if a == b => write!(f, "{a}"),
            IntPattern::Range { min, max } => {
                if let Some(a) = min {
                    write!(f, "{a}")?;
                }
                f.write_str(":")?;
                if let Some(b) = max {
                    write!(f, "{b}")?;
                }
                Ok(())
            }
        }
    }
}

/// An integer comparison operator written before a value (`nbsrv(app) lt 2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl IntOp {
    fn from_word(w: &str) -> Option<IntOp> {
        Some(match w {
            "eq" => IntOp::Eq,
            "ne" => IntOp::Ne,
            "lt" => IntOp::Lt,
            "le" => IntOp::Le,
            "gt" => IntOp::Gt,
            "ge" => IntOp::Ge,
            _ => return None,
        })
    }
}

/// A match method with its patterns; the variant fixes the pattern type, so a string
/// matcher can never hold an integer range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    Found,
    Bool,
    Int(Vec<IntPattern>),
    Len(Vec<IntPattern>),
    Ip(Vec<IpNet>),
    Str(Vec<String>),
    Sub(Vec<String>),
    Beg(Vec<String>),
    End(Vec<String>),
    Dir(Vec<String>),
    Dom(Vec<String>),
    Reg(Vec<RegexPattern>),
    /// Hexadecimal patterns as written; the parser checked they decode.
    Bin(Vec<String>),
}

impl Matcher {
    pub fn method(&self) -> MatchMethod {
        match self {
            Matcher::Found => MatchMethod::Found,
            Matcher::Bool => MatchMethod::Bool,
            Matcher::Int(_) => MatchMethod::Int,
            Matcher::Len(_) => MatchMethod::Len,
            Matcher::Ip(_) => MatchMethod::Ip,
            Matcher::Str(_) => MatchMethod::Str,
            Matcher::Sub(_) => MatchMethod::Sub,
            Matcher::Beg(_) => MatchMethod::Beg,
            Matcher::End(_) => MatchMethod::End,
            Matcher::Dir(_) => MatchMethod::Dir,
            Matcher::Dom(_) => MatchMethod::Dom,
            Matcher::Reg(_) => MatchMethod::Reg,
            Matcher::Bin(_) => MatchMethod::Bin,
        }
    }

    /// The patterns as they are written back, one word each (`ne N` is two).
    pub fn pattern_words(&self) -> Vec<String> {
        match self {
            Matcher::Found | Matcher::Bool => Vec::new(),
            Matcher::Int(v) | Matcher::Len(v) => v
                .iter()
                .flat_map(|p| match p {
                    IntPattern::Ne(n) => vec!["ne".to_string(), n.to_string()],
                    p => vec![p.to_string()],
                })
                .collect(),
            Matcher::Ip(v) => v.iter().map(ToString::to_string).collect(),
            Matcher::Str(v)
            | Matcher::Sub(v)
            | Matcher::Beg(v)
            | Matcher::End(v)
            | Matcher::Dir(v)
            | Matcher::Dom(v)
            | Matcher::Bin(v) => v.clone(),
            Matcher::Reg(v) => v.iter().map(|r| r.as_str().to_string()).collect(),
        }
    }

    /// Parses pattern words for `method`. Each integer operator applies to the one value
    /// that follows it.
    pub fn parse(
        method: MatchMethod,
        words: &[String],
        ignore_case: bool,
    ) -> Result<Matcher, ParseError> {
        let strings = || words.to_vec();
        Ok(match method {
            MatchMethod::Found | MatchMethod::Bool => {
                if let Some(w) = words.first() {
                    return Err(ParseError::new(format!(
                        "match method '{}' takes no pattern, found '{w}'",
                        method.name()
                    ))
                    .with_help("remove the patterns, or choose another match method with -m"));
                }
                if method == MatchMethod::Found {
                    Matcher::Found
                } else {
                    Matcher::Bool
                }
            }
            MatchMethod::Int => Matcher::Int(parse_ints(words)?),
            MatchMethod::Len => Matcher::Len(parse_ints(words)?),
            MatchMethod::Ip => Matcher::Ip(
                words
                    .iter()
                    .map(|w| {
                        w.parse::<IpNet>().map_err(|e| {
                            ParseError::new(format!("invalid IP address or network '{w}': {e}"))
                                .with_help("write an address (10.0.0.1, ::1) or a network in CIDR form (10.0.0.0/8, 2001:db8::/32); host names are not resolved")
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            MatchMethod::Str => Matcher::Str(strings()),
            MatchMethod::Sub => Matcher::Sub(strings()),
            MatchMethod::Beg => Matcher::Beg(strings()),
            MatchMethod::End => Matcher::End(strings()),
            MatchMethod::Dir => Matcher::Dir(strings()),
            MatchMethod::Dom => Matcher::Dom(strings()),
            MatchMethod::Bin => {
                for w in words {
                    decode_hex(w)?;
                }
                Matcher::Bin(strings())
            }
            MatchMethod::Reg => Matcher::Reg(
                words
                    .iter()
                    .map(|w| RegexPattern::new(w, ignore_case))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// The bytes a `bin` pattern stands for: pairs of hexadecimal digits (`160301`).
pub fn decode_hex(w: &str) -> Result<Vec<u8>, ParseError> {
    let bad = || {
        ParseError::new(format!("'{w}' is not a hexadecimal byte string"))
            .with_help("write bytes as pairs of hex digits, e.g. 160301")
    };
    if w.is_empty() || !w.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..w.len())
        .step_by(2)
        .map(|i| {
            w.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

/// `req.ssl_ver` patterns are versions (`3.1`, `3.1:3.3`, `ge 3.1`) as HAProxy writes them;
/// each becomes the integer the fetch yields (major in the high 16 bits). Operators stay.
pub fn undot_versions(words: &[String]) -> Result<Vec<String>, ParseError> {
    let one = |v: &str| -> Result<String, ParseError> {
        if v.is_empty() {
            return Ok(String::new());
        }
        let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
        match (major.parse::<u16>(), minor.parse::<u16>()) {
            (Ok(a), Ok(b)) => Ok(((i64::from(a) << 16) | i64::from(b)).to_string()),
            _ => Err(ParseError::new(format!("'{v}' is not a version"))
                .with_help("write versions as MAJOR.MINOR: 3.1 is TLS 1.0, 3.3 is TLS 1.2")),
        }
    };
    words
        .iter()
        .map(|w| {
            if IntOp::from_word(w).is_some() {
                return Ok(w.clone());
            }
            match w.split_once(':') {
                Some((a, b)) => Ok(format!("{}:{}", one(a)?, one(b)?)),
                None => one(w),
            }
        })
        .collect()
}

/// The inverse of [`undot_versions`] for writing patterns back.
pub fn dot_version(n: i64) -> String {
    format!("{}.{}", n >> 16, n & 0xffff)
}

fn parse_ints(words: &[String]) -> Result<Vec<IntPattern>, ParseError> {
    let mut out = Vec::new();
    let mut op = None;
    for w in words {
        if let Some(o) = IntOp::from_word(w) {
            if op.is_some() {
                return Err(
                    ParseError::new(format!("operator '{w}' follows another operator"))
                        .with_help("write one operator then one value, e.g. lt 2"),
                );
            }
            op = Some(o);
            continue;
        }
        let p = match op.take() {
            None => parse_int_range(w)?,
            Some(o) => {
                let n = parse_int(w)?;
                match o {
                    IntOp::Eq => IntPattern::exact(n),
                    IntOp::Ne => IntPattern::Ne(n),
                    IntOp::Lt => IntPattern::Range {
                        min: None,
                        max: Some(n.checked_sub(1).ok_or_else(|| out_of_range(w))?),
                    },
                    IntOp::Le => IntPattern::Range {
                        min: None,
                        max: Some(n),
                    },
                    IntOp::Gt => IntPattern::Range {
                        min: Some(n.checked_add(1).ok_or_else(|| out_of_range(w))?),
                        max: None,
                    },
                    IntOp::Ge => IntPattern::Range {
                        min: Some(n),
                        max: None,
                    },
                }
            }
        };
        out.push(p);
    }
    if op.is_some() {
        return Err(ParseError::new("integer operator is missing its value")
            .with_help("write the value after the operator, e.g. lt 2"));
    }
    Ok(out)
}

fn out_of_range(w: &str) -> ParseError {
    ParseError::new(format!("integer '{w}' is out of range"))
}

fn parse_int(w: &str) -> Result<i64, ParseError> {
    w.parse::<i64>().map_err(|_| {
        ParseError::new(format!("invalid integer '{w}'")).with_help(
            "write an integer (8080), a range (1024:65535, 1024:, :1023), or an operator and a value (lt 2)",
        )
    })
}

fn parse_int_range(w: &str) -> Result<IntPattern, ParseError> {
    match w.split_once(':') {
        None => Ok(IntPattern::exact(parse_int(w)?)),
        Some((a, b)) => {
            let bound = |s: &str| -> Result<Option<i64>, ParseError> {
                if s.is_empty() {
                    Ok(None)
                } else {
                    parse_int(s).map(Some)
                }
            };
            let (min, max) = (bound(a)?, bound(b)?);
            if min.is_none() && max.is_none() {
                return Err(parse_int(w).unwrap_err());
            }
            if let (Some(a), Some(b)) = (min, max) {
                if a > b {
                    return Err(ParseError::new(format!(
                        "range '{w}' is empty: {a} is greater than {b}"
                    ))
                    .with_help("write the smaller bound first"));
                }
            }
            Ok(IntPattern::Range { min, max })
        }
    }
}

/// Writes pattern words back; `--` goes first when one could be read as a flag.
/// With `versions`, integers are written as `req.ssl_ver` patterns (`3.1`).
pub(crate) fn write_patterns(
    f: &mut fmt::Formatter<'_>,
    m: &Matcher,
    versions: bool,
) -> fmt::Result {
    let words = match m {
        Matcher::Int(v) if versions => v
            .iter()
            .flat_map(|p| match *p {
                IntPattern::Ne(n) => vec!["ne".to_string(), dot_version(n)],
                IntPattern::Range { min, max } if min == max => {
                    vec![min.map(dot_version).unwrap_or_default()]
                }
                IntPattern::Range { min, max } => vec![format!(
                    "{}:{}",
                    min.map(dot_version).unwrap_or_default(),
                    max.map(dot_version).unwrap_or_default()
                )],
            })
            .collect(),
        _ => m.pattern_words(),
    };
    if words.iter().any(|w| w.starts_with('-')) {
        f.write_str(" --")?;
    }
    for w in &words {
        write!(f, " {}", quote(w))?;
    }
    Ok(())
}
