//! Conditional expressions of `-cc` and `.if`/`.elif`: `version_atleast(X)`, `feature(X)`,
//! `defined(VAR)`, `streq(a,b)`, `strneq(a,b)`, with `&&`, `||`, `!` and parentheses.

/// What an expression may ask about the running program.
pub struct CcEnv<'a> {
    /// This program's version, `MAJOR.MINOR[.PATCH]`.
    pub version: &'a str,
    /// Build features (`feature(X)` is true when X is listed).
    pub features: &'a [&'a str],
    /// Environment lookup for `defined(VAR)` and `"${VAR}"` in arguments.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Evaluates an expression given as words (as split by the lexer). `Err` says what is wrong.
pub fn eval(words: &[String], env: &CcEnv<'_>) -> Result<bool, String> {
    let _ = (words, env);
    Err("conditional expressions are not evaluated yet".into())
}
