//! ringlb-config: HAProxy's configuration language turned into a typed model.
//!
//! [`load`] reads files, [`diag::Diagnostic`] reports every problem with its file and line,
//! [`model::Config`] is the result the engine runs from.

// Parsing returns `Result<_, Diagnostic>` everywhere; a diagnostic is large but only built on
// the error path, once per bad line, so boxing it would buy nothing.
#![allow(clippy::result_large_err)]

// Modules in layers: each names only those declared above it (`engine/tests/layers.rs`).

// Words and quoting, and diagnostics with file and line.
pub mod diag;
pub mod lexer;

// Network values.
pub mod net;

// Conditions and sample expressions, then the rules built on them.
pub mod acl;
pub mod rules;

// Health check sequences, log formats, `-cc` expressions.
pub mod ccexpr;
pub mod logformat;
pub mod tcpcheck;

// The typed configuration and the value parsers that produce its fields.
pub mod model;
pub mod value;

// TLS material read and checked, and OpenSSL names turned into rustls ones.
pub mod tls;

// Checks across sections, the parser, and what is derived from a parsed configuration.
pub mod validate;

mod parse;

pub mod diff;
pub mod dump;

pub use diag::{Diagnostic, Location, Severity};
pub use diff::{diff, Change};
pub use dump::dump;
pub use model::Config;
pub use validate::validate;

use std::path::{Path, PathBuf};

/// The result of loading a configuration: the model when there was no error, and every
/// diagnostic (errors and warnings) in file order.
#[derive(Debug, Default)]
pub struct Loaded {
    pub config: Option<Config>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads configuration files in order; a directory contributes its `*.cfg` files in name order.
/// A file that cannot be read is an error diagnostic; the others are still parsed.
pub fn load(paths: &[PathBuf]) -> Loaded {
    let mut parser = parse::Parser::new();
    for path in paths {
        if path.is_dir() {
            match cfg_files(path) {
                Ok(files) => {
                    for f in files {
                        load_file(&mut parser, &f);
                    }
                }
                Err(e) => parser.unreadable(path, &e),
            }
        } else {
            load_file(&mut parser, path);
        }
    }
    parser.finish()
}

fn load_file(parser: &mut parse::Parser, path: &Path) {
    match std::fs::read_to_string(path) {
        Ok(text) => parser.feed(&text, path),
        Err(e) => parser.unreadable(path, &e),
    }
}

/// The `*.cfg` files of a directory, sorted by name.
fn cfg_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "cfg") && !path.is_dir() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Parses configuration text as if read from `file` (relative paths in it, such as
/// `errorfile`, are read from `file`'s directory).
pub fn parse_str(text: &str, file: &Path) -> Loaded {
    let mut parser = parse::Parser::new();
    parser.feed(text, file);
    parser.finish()
}
