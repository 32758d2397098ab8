//! The parser driver: walks lexed lines, tracks sections and `.if` blocks, and hands each
//! keyword line to the parser of its section. Keeps going after errors.

mod balance;
mod bind;
mod cond;
mod global;
pub(crate) mod log;
mod options;
pub(crate) mod proxy;
mod proxy_compat;
mod proxy_http;
mod sections;
pub(crate) mod server;
mod tcpcheck;
mod tls;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Location};
use crate::lexer;
use crate::model::{Config, HttpErrors, Userlist};
use crate::rules::LogFormat;
use crate::validate::{Site, Sites};
use crate::value::Invalid;

pub(crate) use proxy::Draft;

/// One keyword line being parsed, with what a diagnostic needs.
pub(crate) struct LineRef<'a> {
    pub loc: Location,
    pub raw: &'a str,
    pub words: &'a [String],
    pub base_dir: &'a Path,
}

impl LineRef<'_> {
    pub fn keyword(&self) -> &str {
        &self.words[0]
    }

    pub fn error(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.loc.clone(), self.keyword(), message).with_source(self.raw)
    }

    pub fn warning(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(self.loc.clone(), self.keyword(), message).with_source(self.raw)
    }

    /// Turns a refused value into a diagnostic on this line.
    pub fn invalid(&self, what: &str, e: Invalid) -> Diagnostic {
        let d = self.error(format!("'{what}': {}", e.message));
        match e.help {
            Some(h) => d.with_help(h),
            None => d,
        }
    }

    /// Word `i`, or an error saying what `what` is missing.
    pub fn arg(&self, i: usize, what: &str, usage: &str) -> Result<&str, Diagnostic> {
        self.words.get(i).map(String::as_str).ok_or_else(|| {
            self.error(format!("'{what}' expects {usage}"))
                .with_help(format!("write: {what} {usage}"))
        })
    }

    /// An error unless the line has no word past index `last`.
    pub fn no_more(&self, last: usize, what: &str) -> Result<(), Diagnostic> {
        match self.words.get(last + 1) {
            None => Ok(()),
            Some(w) => Err(self
                .error(format!("unexpected '{w}' after '{what}'"))
                .with_help(format!("remove '{w}' or check the syntax of '{what}'"))),
        }
    }

    pub fn site(&self) -> Site {
        Site {
            location: self.loc.clone(),
            source_line: self.raw.to_string(),
            inherited: false,
        }
    }
}

pub(crate) type Step = Result<(), Diagnostic>;

/// The section the next keyword belongs to.
enum Section {
    Outside,
    Global,
    Defaults {
        name: Option<String>,
        draft: Box<Draft>,
    },
    Proxy(Box<Draft>),
    Userlist(Userlist),
    HttpErrors(HttpErrors),
}

/// Everything gathered across the files of one load.
pub(crate) struct Parser {
    pub diags: Vec<Diagnostic>,
    pub config: Config,
    pub sites: Sites,
    section: Section,
    named_defaults: HashMap<String, Draft>,
    /// The most recent `defaults` section, named or not, inherited by proxies without `from`.
    last_defaults: Option<(Option<String>, Draft)>,
    seen_global: bool,
    file_order: Vec<PathBuf>,
}

impl Parser {
    pub fn new() -> Self {
        Self {
            diags: Vec::new(),
            config: Config::default(),
            sites: Sites::default(),
            section: Section::Outside,
            named_defaults: HashMap::new(),
            last_defaults: None,
            seen_global: false,
            file_order: Vec::new(),
        }
    }

    /// A file that could not be read.
    pub fn unreadable(&mut self, file: &Path, why: &std::io::Error) {
        self.file_order.push(file.to_path_buf());
        self.diags.push(
            Diagnostic::error(
                Location {
                    file: file.to_path_buf(),
                    line: 0,
                },
                "",
                format!("cannot read configuration file '{}': {why}", file.display()),
            )
            .with_help("check the path and its permissions"),
        );
    }

    /// Parses one file's text. Sections do not continue across files.
    pub fn feed(&mut self, text: &str, file: &Path) {
        self.file_order.push(file.to_path_buf());
        let base_dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
        let mut blocks = cond::Blocks::default();
        for line in lexer::lex(text, &lexer::process_env) {
            match line {
                Err(e) => {
                    if blocks.active() {
                        self.diags.push(
                            Diagnostic::error(
                                Location {
                                    file: file.to_path_buf(),
                                    line: e.number,
                                },
                                "",
                                e.message,
                            )
                            .with_source(e.raw)
                            .with_help(e.help),
                        );
                    }
                }
                Ok(l) => {
                    let line = LineRef {
                        loc: Location {
                            file: file.to_path_buf(),
                            line: l.number,
                        },
                        raw: &l.raw,
                        words: &l.words,
                        base_dir: &base_dir,
                    };
                    if line.keyword().starts_with('.') {
                        if let Some(d) = blocks.directive(&line) {
                            self.diags.push(d);
                        }
                    } else if blocks.active() {
                        self.keyword_line(&line);
                    }
                }
            }
        }
        self.diags.extend(blocks.finish(file));
        self.end_section();
    }

    fn keyword_line(&mut self, line: &LineRef<'_>) {
        let kw = line.keyword();
        if sections::is_section_keyword(kw) {
            self.end_section();
            if let Err(d) = self.start_section(line) {
                self.diags.push(d);
            }
            return;
        }
        let result = match &mut self.section {
            Section::Outside => Err(sections::outside_section(line)),
            Section::Global => global::keyword(
                &mut self.config.global,
                &mut self.sites,
                line,
                &mut self.diags,
            ),
            Section::Defaults { draft, .. } => proxy::keyword(draft, true, line, &mut self.diags),
            Section::Proxy(draft) => proxy::keyword(draft, false, line, &mut self.diags),
            Section::Userlist(u) => sections::userlist_keyword(u, line),
            Section::HttpErrors(h) => sections::http_errors_keyword(h, line),
        };
        if let Err(d) = result {
            self.diags.push(d);
        }
    }

    fn end_section(&mut self) {
        match std::mem::replace(&mut self.section, Section::Outside) {
            Section::Outside | Section::Global => {}
            Section::Defaults { name, draft } => {
                if let Some(n) = &name {
                    self.named_defaults.insert(n.clone(), (*draft).clone());
                }
                self.last_defaults = Some((name, *draft));
            }
            Section::Proxy(draft) => {
                let index = self.config.proxies.len();
                let proxy = draft.finish(&mut self.diags, &mut self.sites, index);
                self.config.proxies.push(proxy);
            }
            Section::Userlist(u) => self.config.userlists.push(u),
            Section::HttpErrors(h) => self.config.http_errors.push(h),
        }
    }

    fn start_section(&mut self, line: &LineRef<'_>) -> Step {
        match line.keyword() {
            "global" => {
                line.no_more(0, "global")?;
                if !self.seen_global {
                    self.config.global.location = line.loc.clone();
                    self.seen_global = true;
                }
                self.section = Section::Global;
                Ok(())
            }
            "defaults" => {
                let header = sections::proxy_header(line, &mut self.diags)?;
                let draft = self.inherit(line, header.from.as_deref(), proxy::Kind::Defaults)?;
                self.section = Section::Defaults {
                    name: header.name,
                    draft: Box::new(draft),
                };
                Ok(())
            }
            "frontend" | "backend" | "listen" => {
                let header = sections::proxy_header(line, &mut self.diags)?;
                let kind = match line.keyword() {
                    "frontend" => proxy::Kind::Frontend,
                    "backend" => proxy::Kind::Backend,
                    _ => proxy::Kind::Listen,
                };
                // Parse the section body even when its header was wrong in `from`, so
                // its own lines are still checked; inherit nothing then.
                let mut draft = match self.inherit(line, header.from.as_deref(), kind) {
                    Ok(d) => d,
                    Err(e) => {
                        self.diags.push(e);
                        Draft::fresh(kind)
                    }
                };
                let name = header.name.unwrap_or_default();
                draft.start(name, line, header.binds);
                self.section = Section::Proxy(Box::new(draft));
                Ok(())
            }
            "userlist" => {
                let name = line.arg(1, "userlist", "NAME")?.to_string();
                line.no_more(1, "userlist")?;
                self.section = Section::Userlist(Userlist {
                    location: line.loc.clone(),
                    name,
                    groups: Vec::new(),
                    users: Vec::new(),
                });
                Ok(())
            }
            "http-errors" => {
                let name = line.arg(1, "http-errors", "NAME")?.to_string();
                line.no_more(1, "http-errors")?;
                self.section = Section::HttpErrors(HttpErrors {
                    location: line.loc.clone(),
                    name,
                    errorfiles: Vec::new(),
                });
                Ok(())
            }
            other => unreachable!("not a section keyword: {other}"),
        }
    }

    /// The starting point of a new proxy or defaults section: the named or last `defaults`.
    fn inherit(
        &self,
        line: &LineRef<'_>,
        from: Option<&str>,
        kind: proxy::Kind,
    ) -> Result<Draft, Diagnostic> {
        let (name, base) = match from {
            Some(n) => match self.named_defaults.get(n) {
                Some(d) => (Some(n.to_string()), d),
                None => {
                    let d = line.error(format!(
                        "defaults section '{n}' is not defined before this line"
                    ));
                    let near =
                        crate::diag::nearest(n, self.named_defaults.keys().map(String::as_str));
                    return Err(match near {
                        Some(k) => d.with_help(format!("did you mean '{k}'?")),
                        None => d.with_help("declare 'defaults NAME' above this section"),
                    });
                }
            },
            None => match &self.last_defaults {
                Some((name, d)) => (name.clone(), d),
                None => return Ok(Draft::fresh(kind)),
            },
        };
        Ok(base.inherit(kind, name))
    }

    /// Ends parsing: validates across sections and returns every diagnostic in file order.
    pub fn finish(mut self) -> crate::Loaded {
        self.end_section();
        let mut diags = self.diags;
        diags.extend(crate::tls::settle(&mut self.config));
        diags.extend(crate::validate::validate_with(&self.config, &self.sites));
        let order: HashMap<&Path, usize> = self
            .file_order
            .iter()
            .enumerate()
            .map(|(i, f)| (f.as_path(), i))
            .collect();
        diags.sort_by_key(|d| {
            (
                order
                    .get(d.location.file.as_path())
                    .copied()
                    .unwrap_or(usize::MAX),
                d.location.line,
            )
        });
        let ok = !diags.iter().any(Diagnostic::is_error);
        crate::Loaded {
            config: ok.then_some(self.config),
            diagnostics: diags,
        }
    }
}

/// A log-format string from its text, or the line's error saying why it is not one.
pub(crate) fn log_format(
    line: &LineRef<'_>,
    keyword: &str,
    source: &str,
) -> Result<LogFormat, Diagnostic> {
    LogFormat::parse(source)
        .map_err(|e| line.error(format!("'{keyword}': invalid log-format '{source}': {e}")))
}

/// The nearest known word as a `did you mean` help, if any is close.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    crate::diag::nearest(word, known).map(|k| format!("did you mean '{k}'?"))
}

/// An error for an unknown word among `known`, with the nearest one as help.
pub(crate) fn unknown(line: &LineRef<'_>, what: &str, word: &str, known: &[&str]) -> Diagnostic {
    let d = line.error(format!("unknown {what} '{word}'"));
    match did_you_mean(word, known.iter().copied()) {
        Some(h) => d.with_help(h),
        None => d.with_help(format!("expected one of: {}", known.join(", "))),
    }
}
