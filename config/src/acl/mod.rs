//! ACLs: `acl NAME CRITERION [flags] [operator] VALUES…`, parsed into a typed fetch, match
//! method and patterns; conditions (`if|unless …`) live in [`cond`].

pub mod cond;
pub mod convert;
pub mod fetch;
pub mod pattern;
pub mod predefined;
pub mod var;

use std::fmt;
use std::path::{Path, PathBuf};

pub use cond::{parse_condition, AclRef, CondTerm, Condition, Polarity};
pub use convert::Converter;
pub use fetch::{DataOffset, Fetch, ParseError, SampleExpr, SampleType, SslFetch};
pub use pattern::{IntPattern, MatchMethod, Matcher, RegexPattern};
pub use predefined::Predefined;

use crate::diag::{nearest, Diagnostic, Location};
use crate::lexer::quote;

/// Context for parsing one line that may hold ACLs or a condition.
pub struct Ctx<'a> {
    pub location: &'a Location,
    /// The line as written, for diagnostics.
    pub source_line: &'a str,
    /// The keyword being parsed (`acl`, `use_backend`, `http-request`, …), for diagnostics.
    pub keyword: &'a str,
    /// ACLs declared so far in this proxy; a condition may only name these or predefined ones.
    pub acls: &'a [AclDef],
    /// Directory of the configuration file, for `-f FILE` patterns given relative.
    pub base_dir: &'a std::path::Path,
}

impl Ctx<'_> {
    /// An error about this line, carrying its location, keyword and text.
    pub fn error(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.location.clone(), self.keyword, message)
            .with_source(self.source_line)
    }

    /// Turns a [`ParseError`] into a diagnostic for this line.
    pub fn diag(&self, e: ParseError) -> Diagnostic {
        let d = self.error(e.message);
        match e.help {
            Some(h) => d.with_help(h),
            None => d,
        }
    }

    /// A path as written in the configuration, made relative to the configuration's folder.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// One `acl` line. Several lines with the same name are ORed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclDef {
    pub location: Location,
    pub name: String,
    pub expr: AclExpr,
}

/// A sample expression, its match method with typed patterns, and flags.
///
/// An ACL matches when the sample matches any pattern. Patterns read with `-f FILE` are
/// loaded into `matcher` at parse time, so a changed file shows up as a changed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclExpr {
    pub sample: SampleExpr,
    /// `-i`: compare strings and regexes ignoring ASCII case.
    pub ignore_case: bool,
    /// `-n`: no DNS resolution of patterns. Host names are never resolved here, so it only
    /// round-trips.
    pub no_dns: bool,
    pub matcher: Matcher,
}

impl AclExpr {
    pub fn method(&self) -> MatchMethod {
        self.matcher.method()
    }
}

/// Fetches that also take a `_beg`, `_end`, … suffix, and the names they use for it.
fn derived_base(name: &str) -> Option<&'static str> {
    Some(match name {
        "path" => "path",
        "url" => "url",
        "hdr" => "hdr",
        "cook" => "cook",
        "urlp" => "urlp",
        "base" => "base",
        "shdr" => "shdr",
        _ => return None,
    })
}

fn derived_suffix(base: &str, suffix: &str) -> Option<MatchMethod> {
    Some(match suffix {
        "beg" => MatchMethod::Beg,
        "end" => MatchMethod::End,
        "sub" => MatchMethod::Sub,
        "reg" => MatchMethod::Reg,
        "dom" => MatchMethod::Dom,
        "dir" => MatchMethod::Dir,
        "len" => MatchMethod::Len,
        "val" if base != "path" && base != "url" && base != "base" => MatchMethod::Int,
        "ip" if base == "hdr" || base == "shdr" => MatchMethod::Ip,
        _ => return None,
    })
}

fn derived_names() -> Vec<String> {
    let mut out = Vec::new();
    for base in ["path", "url", "hdr", "cook", "urlp", "base", "shdr"] {
        for suffix in ["beg", "end", "sub", "reg", "dom", "dir", "len", "val", "ip"] {
            if derived_suffix(base, suffix).is_some() {
                out.push(format!("{base}_{suffix}"));
            }
        }
    }
    out
}

/// The derived keyword that writes `sample` with `method`, when one exists (`path_beg`).
fn derived_name(sample: &SampleExpr, method: MatchMethod) -> Option<String> {
    if !sample.converters.is_empty() {
        return None;
    }
    let base = derived_base(sample.fetch.name()).or(match sample.fetch {
        Fetch::ResHdr { .. } => Some("shdr"),
        _ => None,
    })?;
    let suffix = match method {
        MatchMethod::Int => "val",
        m => m.name(),
    };
    derived_suffix(base, suffix)?;
    let fetch = sample.fetch.to_string();
    let args = fetch.find('(').map_or("", |i| &fetch[i..]);
    Some(format!("{base}_{suffix}{args}"))
}

/// Parses a criterion word (`path_beg`, `hdr(host),lower`, `nbsrv(app)`) into its sample
/// and, for derived keywords, the match method the keyword implies.
pub fn parse_criterion(word: &str) -> Result<(SampleExpr, Option<MatchMethod>), ParseError> {
    let mut items = fetch::split_items(word)?.into_iter();
    let (name, args) = items.next().unwrap_or_default();
    let converters = items
        .map(|(n, a)| Converter::from_parts(&n, &a))
        .collect::<Result<Vec<_>, _>>()?;
    let (fetch, method) = match Fetch::from_parts(&name, &args) {
        Ok(f) => (f, None),
        Err(e) if e.message.starts_with("unknown fetch") => {
            let derived = name.rsplit_once('_').and_then(|(base, suffix)| {
                let base = derived_base(base)?;
                Some((base, derived_suffix(base, suffix)?))
            });
            match derived {
                Some((base, m)) => (Fetch::from_parts(base, &args)?, Some(m)),
                None => {
                    let mut known: Vec<String> =
                        fetch::FETCH_NAMES.iter().map(|s| s.to_string()).collect();
                    known.extend(derived_names());
                    let err = ParseError::new(format!("unknown ACL criterion '{name}'"));
                    return Err(match nearest(&name, known.iter().map(String::as_str)) {
                        Some(n) => err.with_help(format!("did you mean '{n}'?")),
                        None => err.with_help(
                            "use a fetch such as src, path, path_beg, hdr(NAME), hdr_sub(NAME), url_param(NAME), method, nbsrv(BACKEND)",
                        ),
                    });
                }
            }
        }
        Err(e) => return Err(e),
    };
    Ok((SampleExpr { fetch, converters }, method))
}

/// Parses the words after `acl` (`NAME CRITERION [flags] [operator] VALUES…`).
pub fn parse_acl(args: &[String], ctx: &Ctx<'_>) -> Result<AclDef, Diagnostic> {
    let Some(name) = args.first() else {
        return Err(ctx.error("'acl' expects a name and a criterion").with_help(
            "write: acl NAME CRITERION [flags] VALUES…, e.g. acl is_static path_beg /static",
        ));
    };
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':')))
    {
        return Err(ctx
            .error(format!("invalid character '{bad}' in ACL name '{name}'"))
            .with_help("ACL names use letters, digits, '_', '.', '-' and ':'"));
    }
    if args.len() < 2 {
        return Err(ctx
            .error(format!("acl '{name}' is missing its criterion"))
            .with_help(
                "write: acl NAME CRITERION [flags] VALUES…, e.g. acl is_static path_beg /static",
            ));
    }
    let expr = parse_acl_expr(&args[1..], ctx)?;
    Ok(AclDef {
        location: ctx.location.clone(),
        name: name.clone(),
        expr,
    })
}

/// Parses `CRITERION [flags] [operator] VALUES…`, as in an `acl` line or inside `{ … }`.
pub fn parse_acl_expr(words: &[String], ctx: &Ctx<'_>) -> Result<AclExpr, Diagnostic> {
    let Some(criterion) = words.first() else {
        return Err(ctx
            .error("missing ACL criterion")
            .with_help("name a fetch such as path_beg, src or hdr(host)"));
    };
    let (sample, derived) = parse_criterion(criterion).map_err(|e| ctx.diag(e))?;
    let mut ignore_case = false;
    let mut no_dns = false;
    let mut method_flag = None;
    let mut files = Vec::new();
    let mut i = 1;
    while let Some(w) = words.get(i) {
        if !w.starts_with('-') || w.len() < 2 {
            break;
        }
        i += 1;
        match w.as_str() {
            "--" => break,
            "-i" => ignore_case = true,
            "-n" => no_dns = true,
            "-m" | "-f" => {
                let Some(v) = words.get(i) else {
                    return Err(ctx.error(format!("flag '{w}' is missing its value")).with_help(
                        if w == "-m" {
                            "write -m followed by found, bool, int, ip, len, str, sub, reg, beg, end, dir or dom"
                        } else {
                            "write -f followed by a pattern file"
                        },
                    ));
                };
                i += 1;
                if w == "-f" {
                    files.push(v.clone());
                    continue;
                }
                let m = MatchMethod::from_name(v).ok_or_else(|| {
                    let names = MatchMethod::ALL.map(MatchMethod::name);
                    let e = ctx.error(format!("unknown match method '{v}'"));
                    match nearest(v, names) {
                        Some(n) => e.with_help(format!("did you mean '{n}'?")),
                        None => e.with_help(format!("match methods: {}", names.join(", "))),
                    }
                })?;
                if derived.is_some() {
                    return Err(ctx
                        .error(format!(
                            "'-m {v}' cannot change the match method of '{criterion}'"
                        ))
                        .with_help("use the plain fetch with -m, e.g. 'path -m beg', or drop -m"));
                }
                method_flag = Some(m);
            }
            _ => {
                return Err(ctx
                    .error(format!("unknown ACL flag '{w}'"))
                    .with_help("flags are -i, -n, -m METHOD, -f FILE; write '--' before a pattern that starts with '-'"));
            }
        }
    }
    let method = method_flag
        .or(derived)
        .unwrap_or_else(|| MatchMethod::default_for(sample.output_type()));

    let versions = versioned(&sample, method);
    let mut patterns = Vec::new();
    for file in &files {
        patterns.extend(read_pattern_file(file, method, ignore_case, versions, ctx)?);
    }
    patterns.extend(words[i..].iter().cloned());
    if versions {
        patterns = pattern::undot_versions(&patterns).map_err(|e| ctx.diag(e))?;
    }
    let matcher = Matcher::parse(method, &patterns, ignore_case).map_err(|e| ctx.diag(e))?;
    Ok(AclExpr {
        sample,
        ignore_case,
        no_dns,
        matcher,
    })
}

/// Whether integer patterns of `sample` are versions written `MAJOR.MINOR` (`req.ssl_ver`).
fn versioned(sample: &SampleExpr, method: MatchMethod) -> bool {
    sample.converters.is_empty() && sample.fetch == Fetch::ReqSslVer && method == MatchMethod::Int
}

/// Reads `-f FILE`: one pattern per line, blank lines and `#` comments skipped.
fn read_pattern_file(
    file: &str,
    method: MatchMethod,
    ignore_case: bool,
    versions: bool,
    ctx: &Ctx<'_>,
) -> Result<Vec<String>, Diagnostic> {
    let path = ctx.resolve(file);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ctx.error(format!(
            "cannot read pattern file '{}': {e}",
            path.display()
        ))
        .with_help("check the path; relative paths start from the configuration file's folder")
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Checked one by one so an error can name the file's line.
        let words = [line.to_string()];
        let checked = if versions {
            pattern::undot_versions(&words).and_then(|w| Matcher::parse(method, &w, ignore_case))
        } else {
            Matcher::parse(method, &words, ignore_case)
        };
        checked.map_err(|e| {
            ctx.diag(ParseError {
                message: format!("{}:{}: {}", path.display(), n + 1, e.message),
                help: e.help,
            })
        })?;
        out.push(line.to_string());
    }
    Ok(out)
}

/// `NAME CRITERION [flags] VALUES…`: the words after `acl`, written back in HAProxy syntax.
impl fmt::Display for AclDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", quote(&self.name), self.expr)
    }
}

/// `CRITERION [flags] VALUES…`, using a derived keyword (`path_beg`) where one exists.
impl fmt::Display for AclExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = self.method();
        let default = MatchMethod::default_for(self.sample.output_type());
        let derived = (method != default)
            .then(|| derived_name(&self.sample, method))
            .flatten();
        match &derived {
            Some(name) => write!(f, "{}", quote(name))?,
            None => write!(f, "{}", quote(&self.sample.to_string()))?,
        }
        if self.ignore_case {
            f.write_str(" -i")?;
        }
        if self.no_dns {
            f.write_str(" -n")?;
        }
        if derived.is_none() && method != default {
            write!(f, " -m {}", method.name())?;
        }
        let versions = versioned(&self.sample, self.matcher.method());
        pattern::write_patterns(f, &self.matcher, versions)
    }
}

#[cfg(test)]
mod cond_tests;
#[cfg(test)]
mod layer6_tests;
#[cfg(test)]
mod tests;
