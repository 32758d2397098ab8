//! Diagnostics: every problem found in a configuration, with its file, line, keyword and a fix.

use std::fmt;
use std::path::PathBuf;

/// Where a piece of configuration came from.
///
/// Positions are not part of a value's identity: two models that differ only in where
/// their lines stood compare equal, so `parse → dump → parse` round-trips.
#[derive(Debug, Clone, Default)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based line number; 0 when the value did not come from a file.
    pub line: usize,
}

impl PartialEq for Location {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Location {}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One problem in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Location,
    /// The keyword the problem is about (`bind`, `timeout`, `acl`, …); empty when none applies.
    pub keyword: String,
    pub message: String,
    /// The offending line as written, for display.
    pub source_line: String,
    /// How to fix it, when we know.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(
        location: Location,
        keyword: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            location,
            keyword: keyword.into(),
            message: message.into(),
            source_line: String::new(),
            help: None,
        }
    }

    pub fn warning(
        location: Location,
        keyword: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(location, keyword, message)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_source(mut self, line: impl Into<String>) -> Self {
        self.source_line = line.into();
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `FILE:LINE: error: message`, then the line itself, then `help: …`.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}: {}: {}", self.location, level, self.message)?;
        if !self.source_line.is_empty() {
            write!(
                f,
                "\n    {} | {}",
                self.location.line,
                self.source_line.trim_end()
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n    help: {help}")?;
        }
        Ok(())
    }
}

/// The nearest of `candidates` to `word` by edit distance, if it is close enough to be a typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.len() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_a_typo_and_ignores_strangers() {
        let known = ["balance", "bind", "backlog", "timeout"];
        assert_eq!(nearest("balanse", known), Some("balance"));
        assert_eq!(nearest("timout", known), Some("timeout"));
        assert_eq!(nearest("frobnicate", known), None);
    }

    #[test]
    fn display_shows_file_line_source_and_help() {
        let d = Diagnostic::error(
            Location {
                file: "a.cfg".into(),
                line: 7,
            },
            "balanse",
            "unknown keyword 'balanse' in 'backend' section",
        )
        .with_source("  balanse roundrobin")
        .with_help("did you mean 'balance'?");
        let text = d.to_string();
        assert!(text.starts_with("a.cfg:7: error: unknown keyword 'balanse'"));
        assert!(text.contains("7 |   balanse roundrobin"));
        assert!(text.contains("help: did you mean 'balance'?"));
    }
}
