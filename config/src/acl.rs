//! ACLs and conditions: `acl NAME CRITERION [flags] VALUES…` and `if|unless` condition trees.

use crate::diag::{Diagnostic, Location};

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

/// One `acl` line. Several lines with the same name are ORed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclDef {
    pub location: Location,
    pub name: String,
    pub expr: AclExpr,
}

/// A fetch, its match method and flags, and the patterns to match against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclExpr {
    // Filled in by the ACL parser: fetch, converters, match method, flags, typed patterns.
}

/// `if|unless` followed by an OR of AND-groups of (possibly negated) ACL terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub polarity: Polarity,
    /// Disjunction (`||`, `or`) of conjunctions (juxtaposition).
    pub terms: Vec<Vec<CondTerm>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    If,
    Unless,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondTerm {
    pub negate: bool,
    pub acl: AclRef,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclRef {
    /// A name declared with `acl` in the same proxy.
    Named(String),
    /// `{ fetch … }` inline.
    Anonymous(Box<AclExpr>),
    /// `TRUE`, `FALSE`, `HTTP`, `METH_GET`, `LOCALHOST`, …
    Predefined(String),
}

/// Parses the words after `acl` (`NAME CRITERION [flags] [operator] VALUES…`).
pub fn parse_acl(args: &[String], ctx: &Ctx<'_>) -> Result<AclDef, Diagnostic> {
    let _ = args;
    Err(Diagnostic::error(
        ctx.location.clone(),
        ctx.keyword,
        "ACLs are not parsed yet",
    ))
}

/// Parses a condition; `words` starts with `if` or `unless`.
pub fn parse_condition(words: &[String], ctx: &Ctx<'_>) -> Result<Condition, Diagnostic> {
    let _ = words;
    Err(Diagnostic::error(
        ctx.location.clone(),
        ctx.keyword,
        "conditions are not parsed yet",
    ))
}

/// `NAME CRITERION [flags] VALUES…`: the words after `acl`, written back in HAProxy syntax.
impl std::fmt::Display for AclDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", crate::lexer::quote(&self.name))
    }
}

/// `if A B || !C`: the condition written back in HAProxy syntax.
impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.polarity {
            Polarity::If => "if",
            Polarity::Unless => "unless",
        })
    }
}
