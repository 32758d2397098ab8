//! Conditional blocks (`.if`, `.elif`, `.else`, `.endif`) and the message directives
//! (`.diag`, `.notice`, `.warning`, `.alert`).

use std::path::Path;

use super::LineRef;
use crate::ccexpr::{self, CcEnv};
use crate::diag::{Diagnostic, Location};

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// The current branch is taken.
    Active,
    /// No branch taken yet; a later `.elif`/`.else` may be.
    Waiting,
    /// A branch was taken already, or the enclosing block is skipped.
    Done,
}

struct Frame {
    opened: Location,
    raw: String,
    state: State,
    seen_else: bool,
}

/// The stack of open `.if` blocks of one file.
#[derive(Default)]
pub(super) struct Blocks {
    frames: Vec<Frame>,
}

const DIRECTIVES: &[&str] = &[
    ".if", ".elif", ".else", ".endif", ".diag", ".notice", ".warning", ".alert",
];

impl Blocks {
    /// Whether lines at this point are parsed.
    pub fn active(&self) -> bool {
        self.frames.iter().all(|f| f.state == State::Active)
    }

    /// Handles one `.` line; returns a diagnostic to report, if any.
    pub fn directive(&mut self, line: &LineRef<'_>) -> Option<Diagnostic> {
        let kw = line.keyword();
        match kw {
            ".if" => {
                let state = if !self.active() {
                    State::Done
                } else {
                    match self.eval(line) {
                        Ok(true) => State::Active,
                        Ok(false) => State::Waiting,
                        Err(d) => {
                            // Skip the block, and every branch of it, after a bad expression.
                            self.push(line, State::Done);
                            return Some(d);
                        }
                    }
                };
                self.push(line, state);
                None
            }
            ".elif" => {
                let enclosing_active = self.enclosing_active();
                let Some(frame) = self.frames.last_mut() else {
                    return Some(stray(line, ".elif"));
                };
                if frame.seen_else {
                    return Some(
                        line.error("'.elif' after '.else'")
                            .with_help("move '.elif' above '.else'"),
                    );
                }
                match frame.state {
                    State::Active => frame.state = State::Done,
                    State::Done => {}
                    State::Waiting if !enclosing_active => frame.state = State::Done,
                    State::Waiting => {
                        let result = self.eval(line);
                        let frame = self.frames.last_mut().expect("checked above");
                        match result {
                            Ok(true) => frame.state = State::Active,
                            Ok(false) => {}
                            Err(d) => {
                                frame.state = State::Done;
                                return Some(d);
                            }
                        }
                    }
                }
                None
            }
            ".else" => {
                let Some(frame) = self.frames.last_mut() else {
                    return Some(stray(line, ".else"));
                };
                if frame.seen_else {
                    return Some(
                        line.error("a second '.else' in the same block")
                            .with_help("remove one '.else'"),
                    );
                }
                frame.seen_else = true;
                frame.state = match frame.state {
                    State::Waiting => State::Active,
                    _ => State::Done,
                };
                line.no_more(0, ".else").err()
            }
            ".endif" => match self.frames.pop() {
                None => Some(stray(line, ".endif")),
                Some(_) => line.no_more(0, ".endif").err(),
            },
            ".diag" | ".notice" | ".warning" | ".alert" if !self.active() => None,
            // `.diag` messages are only shown by HAProxy in diagnostic mode; we have none.
            ".diag" => None,
            ".notice" | ".warning" => Some(line.warning(message(line))),
            ".alert" => Some(line.error(message(line))),
            _ if !self.active() => None,
            _ => Some(super::unknown(line, "directive", kw, DIRECTIVES)),
        }
    }

    /// Blocks still open at the end of the file.
    pub fn finish(self, file: &Path) -> Vec<Diagnostic> {
        let _ = file;
        self.frames
            .into_iter()
            .map(|f| {
                Diagnostic::error(
                    f.opened,
                    ".if",
                    "'.if' block is not closed: missing '.endif'",
                )
                .with_source(f.raw)
                .with_help("add '.endif' after the last line of the block")
            })
            .collect()
    }

    fn enclosing_active(&self) -> bool {
        let n = self.frames.len().saturating_sub(1);
        self.frames[..n].iter().all(|f| f.state == State::Active)
    }

    fn push(&mut self, line: &LineRef<'_>, state: State) {
        self.frames.push(Frame {
            opened: line.loc.clone(),
            raw: line.raw.to_string(),
            state,
            seen_else: false,
        });
    }

    fn eval(&self, line: &LineRef<'_>) -> Result<bool, Diagnostic> {
        let kw = line.keyword();
        if line.words.len() < 2 {
            return Err(line
                .error(format!("'{kw}' needs a condition"))
                .with_help(format!("write: {kw} EXPRESSION, e.g. {kw} defined(VAR)")));
        }
        let env = CcEnv {
            version: env!("CARGO_PKG_VERSION"),
            features: &[],
            env: &crate::lexer::process_env,
        };
        ccexpr::eval(&line.words[1..], &env).map_err(|why| {
            line.error(format!("invalid condition in '{kw}': {why}"))
                .with_help("use version_atleast(X), feature(X), defined(VAR), streq(A,B), strneq(A,B) with &&, || and !")
        })
    }
}

fn message(line: &LineRef<'_>) -> String {
    line.words[1..].join(" ")
}

fn stray(line: &LineRef<'_>, kw: &str) -> Diagnostic {
    line.error(format!("'{kw}' without a matching '.if'"))
        .with_help("open the block with '.if EXPRESSION' first, or remove this line")
}
