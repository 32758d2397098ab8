//! Conditions: `if|unless` followed by ACL names, `!` negations, `||`/`or` alternatives and
//! anonymous `{ criterion … }` ACLs, resolved against the ACLs declared so far.

use std::fmt;

use super::{parse_acl_expr, AclExpr, Ctx, Predefined};
use crate::diag::{nearest, Diagnostic};
use crate::lexer::quote;

/// `if|unless` followed by an OR of AND-groups of (possibly negated) ACL terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub polarity: Polarity,
    /// Disjunction (`||`, `or`) of conjunctions (juxtaposition). Never empty, nor is any group.
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
    /// A name declared with `acl` earlier in the same proxy; every `acl` line with that name
    /// is ORed. A declared name shadows a predefined one.
    Named(String),
    /// `{ fetch … }` inline.
    Anonymous(Box<AclExpr>),
    /// `TRUE`, `FALSE`, `HTTP`, `METH_GET`, `LOCALHOST`, …; [`Predefined::expr`] says what
    /// each one tests.
    Predefined(Predefined),
}

impl Condition {
    /// Whether the condition holds, given whether each term's ACL matched; the engine calls
    /// this with its own ACL evaluation.
    pub fn holds(&self, mut acl_matches: impl FnMut(&AclRef) -> bool) -> bool {
        let any = self
            .terms
            .iter()
            .any(|group| group.iter().all(|t| acl_matches(&t.acl) != t.negate));
        match self.polarity {
            Polarity::If => any,
            Polarity::Unless => !any,
        }
    }
}

/// Parses a condition; `words` starts with `if` or `unless`.
pub fn parse_condition(words: &[String], ctx: &Ctx<'_>) -> Result<Condition, Diagnostic> {
    let polarity = match words.first().map(String::as_str) {
        Some("if") => Polarity::If,
        Some("unless") => Polarity::Unless,
        Some(other) => {
            return Err(ctx
                .error(format!("expected 'if' or 'unless', found '{other}'"))
                .with_help("a condition reads: if ACL [ACL…] [|| ACL…] or unless ACL…"))
        }
        None => return Err(ctx.error("missing condition")),
    };
    let kw = &words[0];
    let mut terms: Vec<Vec<CondTerm>> = vec![Vec::new()];
    let mut i = 1;
    while i < words.len() {
        let w = words[i].as_str();
        i += 1;
        if w == "||" || w == "or" {
            if terms.last().is_some_and(Vec::is_empty) {
                return Err(ctx
                    .error(format!("'{w}' has no ACL on its left"))
                    .with_help(format!("write: {kw} ACL1 {w} ACL2")));
            }
            terms.push(Vec::new());
            continue;
        }
        let (negate, rest) = match w.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, w),
        };
        let name = if rest.is_empty() {
            // `!` written as its own word negates the next one.
            match words.get(i) {
                Some(next) if next != "||" && next != "or" && !next.starts_with('!') => {
                    i += 1;
                    next.as_str()
                }
                _ => {
                    return Err(ctx
                        .error("'!' must be followed by an ACL")
                        .with_help(format!("write: {kw} !ACL")))
                }
            }
        } else {
            rest
        };
        let acl = if name == "{" {
            let close = words[i..].iter().position(|w| w == "}").ok_or_else(|| {
                ctx.error("anonymous ACL is missing its closing '}'")
                    .with_help("write: { CRITERION [flags] VALUES } with blanks around the braces")
            })?;
            let inner = &words[i..i + close];
            i += close + 1;
            if inner.is_empty() {
                return Err(ctx
                    .error("empty anonymous ACL '{ }'")
                    .with_help("write a criterion inside the braces, e.g. { path_beg /api }"));
            }
            AclRef::Anonymous(Box::new(parse_acl_expr(inner, ctx)?))
        } else if name == "}" {
            return Err(ctx
                .error("'}' without an opening '{'")
                .with_help("anonymous ACLs read: { CRITERION VALUES }"));
        } else {
            resolve_name(name, ctx)?
        };
        terms
            .last_mut()
            .expect("terms always has a group")
            .push(CondTerm { negate, acl });
    }
    if terms.last().is_some_and(Vec::is_empty) {
        let d = if terms.len() == 1 {
            ctx.error(format!("'{kw}' is not followed by any ACL"))
        } else {
            ctx.error("the condition ends with an operator that has no ACL on its right")
        };
        return Err(d.with_help(format!("write: {kw} ACL [ACL…] [|| ACL…]")));
    }
    Ok(Condition { polarity, terms })
}

fn resolve_name(name: &str, ctx: &Ctx<'_>) -> Result<AclRef, Diagnostic> {
    if ctx.acls.iter().any(|a| a.name == name) {
        return Ok(AclRef::Named(name.to_string()));
    }
    if let Some(p) = Predefined::from_name(name) {
        return Ok(AclRef::Predefined(p));
    }
    let declared = ctx.acls.iter().map(|a| a.name.as_str());
    let predefined = Predefined::ALL.iter().map(|p| p.name());
    let e = ctx.error(format!(
        "no ACL named '{name}' is declared before this line"
    ));
    Err(match nearest(name, declared.chain(predefined)) {
        Some(n) => e.with_help(format!("did you mean '{n}'?")),
        None => e.with_help(format!(
            "declare it first with 'acl {name} CRITERION VALUES…'; an ACL must come before the lines that use it"
        )),
    })
}

/// `if A B || !C`: the condition written back in HAProxy syntax.
impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.polarity {
            Polarity::If => "if",
            Polarity::Unless => "unless",
        })?;
        for (n, group) in self.terms.iter().enumerate() {
            if n > 0 {
                f.write_str(" ||")?;
            }
            for t in group {
                f.write_str(" ")?;
                if t.negate {
                    f.write_str("!")?;
                }
                match &t.acl {
                    AclRef::Named(name) => write!(f, "{}", quote(name))?,
                    AclRef::Predefined(p) => write!(f, "{p}")?,
                    AclRef::Anonymous(e) => write!(f, "{{ {e} }}")?,
                }
            }
        }
        Ok(())
    }
}
