//! Conditional expressions of `-cc` and `.if`/`.elif`: `version_atleast(X)`, `feature(X)`,
//! `defined(VAR)`, `streq(a,b)`, `strneq(a,b)`, with `&&`, `||`, `!` and parentheses.

use crate::diag::nearest;

/// What an expression may ask about the running program.
pub struct CcEnv<'a> {
    /// This program's version, `MAJOR.MINOR[.PATCH]`.
    pub version: &'a str,
    /// Build features (`feature(X)` is true when X is listed). `enabled(X)` asks the same
    /// list, as ringlb has no runtime switches for what it was built with.
    pub features: &'a [&'a str],
    /// Environment lookup for `defined(VAR)` and `"${VAR}"` in arguments.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Evaluates an expression given as words (as split by the lexer). `Err` says what is wrong.
///
/// Words are joined with blanks, so an expression may arrive as one word or many. An empty
/// expression is false; an integer is true when non-zero.
pub fn eval(words: &[String], env: &CcEnv<'_>) -> Result<bool, String> {
    let text = words.join(" ");
    let tokens = tokenize(&text)?;
    if tokens.is_empty() {
        return Ok(false);
    }
    let mut p = Parser { tokens, pos: 0 };
    let expr = p.or()?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(format!("unexpected {} in '{text}'", t.describe()));
    }
    expr.eval(env)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    LParen,
    RParen,
    And,
    Or,
    Not,
    /// A number or a predicate with its arguments.
    Term(String, Option<Vec<String>>),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::LParen => "'('".into(),
            Token::RParen => "')'".into(),
            Token::And => "'&&'".into(),
            Token::Or => "'||'".into(),
            Token::Not => "'!'".into(),
            Token::Term(name, _) => format!("'{name}'"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::LParen);
                i += 1;
            }
            ')' => {
                out.push(Token::RParen);
                i += 1;
            }
            '!' => {
                out.push(Token::Not);
                i += 1;
            }
            '&' | '|' => {
                if chars.get(i + 1) != Some(&c) {
                    return Err(format!("'{c}' must be doubled: write '{c}{c}'"));
                }
                out.push(if c == '&' { Token::And } else { Token::Or });
                i += 2;
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '-' | '.'))
                {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                let mut args = None;
                if chars.get(i) == Some(&'(') && !name.chars().all(|c| c.is_ascii_digit()) {
                    let (a, next) = read_args(&chars, i + 1, &name)?;
                    args = Some(a);
                    i = next;
                }
                out.push(Token::Term(name, args));
            }
            other => return Err(format!("unexpected character '{other}' in '{text}'")),
        }
    }
    Ok(out)
}

/// Reads `a,b)` after a predicate's `(`; commas and parentheses inside quotes are text.
fn read_args(chars: &[char], mut i: usize, name: &str) -> Result<(Vec<String>, usize), String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut depth = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (None, '(') => {
                depth += 1;
                cur.push(c);
            }
            (None, ')') if depth > 0 => {
                depth -= 1;
                cur.push(c);
            }
            (None, ')') => {
                args.push(cur);
                return Ok((args, i));
            }
            (None, ',') if depth == 0 => args.push(std::mem::take(&mut cur)),
            (None, c) => cur.push(c),
        }
    }
    Err(format!("missing ')' after the arguments of '{name}'"))
}

#[derive(Debug)]
enum Expr {
    Term(String, Option<Vec<String>>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.tokens.get(self.pos) == Some(&Token::Or) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.tokens.get(self.pos) == Some(&Token::And) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        match t {
            Some(Token::Not) => Ok(Expr::Not(Box::new(self.unary()?))),
            Some(Token::LParen) => {
                let e = self.or()?;
                if self.tokens.get(self.pos) != Some(&Token::RParen) {
                    return Err("missing ')' to close '('".into());
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Token::Term(name, args)) => Ok(Expr::Term(name, args)),
            Some(other) => Err(format!("expected a term, found {}", other.describe())),
            None => Err("the expression ends where a term was expected".into()),
        }
    }
}

const PREDICATES: &[&str] = &[
    "defined",
    "feature",
    "enabled",
    "streq",
    "strneq",
    "strstr",
    "version_atleast",
    "version_before",
    "openssl_version_atleast",
    "openssl_version_before",
    "ssllib_name_startswith",
];

impl Expr {
    fn eval(&self, env: &CcEnv<'_>) -> Result<bool, String> {
        match self {
            Expr::Not(e) => e.eval(env).map(|b| !b),
            // Both sides are checked even when the left decides, so a typo on the right is
            // reported instead of hidden.
            Expr::And(a, b) => Ok(a.eval(env)? & b.eval(env)?),
            Expr::Or(a, b) => Ok(a.eval(env)? | b.eval(env)?),
            Expr::Term(name, None) => match name.parse::<i64>() {
                Ok(n) => Ok(n != 0),
                Err(_) if PREDICATES.contains(&name.as_str()) => {
                    Err(format!("'{name}' needs its arguments in parentheses"))
                }
                Err(_) => Err(unknown(name)),
            },
            Expr::Term(name, Some(args)) => predicate(name, args, env),
        }
    }
}

fn unknown(name: &str) -> String {
    match nearest(name, PREDICATES.iter().copied()) {
        Some(n) => format!("unknown predicate '{name}' (did you mean '{n}'?)"),
        None => format!(
            "unknown term '{name}' (expected a number or one of {})",
            PREDICATES.join(", ")
        ),
    }
}

fn predicate(name: &str, args: &[String], env: &CcEnv<'_>) -> Result<bool, String> {
    let args: Vec<String> = args
        .iter()
        .map(|a| unquote(a, env))
        .collect::<Result<_, _>>()?;
    let want = match name {
        "streq" | "strneq" | "strstr" => 2,
        _ if PREDICATES.contains(&name) => 1,
        _ => return Err(unknown(name)),
    };
    if args.len() != want {
        return Err(format!(
            "'{name}' takes {want} argument{}, got {}",
            if want == 1 { "" } else { "s" },
            args.len()
        ));
    }
    let a = args[0].as_str();
    Ok(match name {
        "defined" => (env.env)(a).is_some(),
        "feature" | "enabled" => env.features.iter().any(|f| f.eq_ignore_ascii_case(a)),
        "streq" => a == args[1],
        "strneq" => a != args[1],
        "strstr" => a.contains(args[1].as_str()),
        "version_atleast" => compare_versions(env.version, a) != std::cmp::Ordering::Less,
        "version_before" => compare_versions(env.version, a) == std::cmp::Ordering::Less,
        // No TLS library is built in.
        _ => false,
    })
}

/// Removes quotes and expands `"${VAR}"` with the lexer's rules; blanks around are dropped.
fn unquote(arg: &str, env: &CcEnv<'_>) -> Result<String, String> {
    let arg = arg.trim();
    if !arg.contains(['"', '\'', '\\']) {
        return Ok(arg.to_string());
    }
    crate::lexer::split_line(arg, env.env)
        .map(|words| words.join(" "))
        .map_err(|(m, _)| format!("in argument '{arg}': {m}"))
}

/// Compares `MAJOR.MINOR[.PATCH]` numerically; a part's non-digit suffix (`-dev`) is ignored
/// and missing parts count as zero.
fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<u64> {
        v.split(['.', '-'])
            .map_while(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect()
    };
    let (a, b) = (parts(a), parts(b));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).unwrap_or(&0), b.get(i).unwrap_or(&0));
        if x != y {
            return x.cmp(y);
        }
    }
    std::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_lookup(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("bar".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(words: &[&str]) -> Result<bool, String> {
        let env = CcEnv {
            version: "0.1.0",
            features: &["EPOLL", "IOURING"],
            env: &env_lookup,
        };
        let words: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        eval(&words, &env)
    }

    fn t(s: &str) -> bool {
        run(&[s]).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn numbers_are_true_when_non_zero_and_empty_is_false() {
        assert!(t("1"));
        assert!(t("42"));
        assert!(!t("0"));
        assert!(!t(""));
        assert_eq!(run(&[]), Ok(false));
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(t("version_atleast(0.1)"));
        assert!(t("version_atleast(0.1.0)"));
        assert!(!t("version_atleast(0.2)"));
        assert!(!t("version_atleast(1.0)"));
        assert!(t("version_before(0.10)"));
        assert!(t("version_before(1)"));
        assert!(!t("version_before(0.1)"));
        assert!(!t("version_before(0.0.9)"));
        assert_eq!(compare_versions("2.10", "2.9"), std::cmp::Ordering::Greater);
        assert_eq!(
            compare_versions("2.4-dev3", "2.4"),
            std::cmp::Ordering::Equal
        );
    }

    #[test]
    fn defined_feature_and_enabled_ask_the_environment() {
        assert!(t("defined(FOO)"));
        assert!(t("defined(EMPTY)"));
        assert!(!t("defined(NOPE)"));
        assert!(t("feature(EPOLL)"));
        assert!(!t("feature(OPENSSL)"));
        assert!(t("enabled(iouring)"));
        assert!(!t("openssl_version_atleast(1.1.1)"));
    }

    #[test]
    fn string_predicates_compare_their_arguments() {
        assert!(t("streq(a,a)"));
        assert!(!t("streq(a,b)"));
        assert!(t("strneq(a,b)"));
        assert!(!t("strneq(a,a)"));
        assert!(t("strstr(haystack,st)"));
        assert!(t(r#"streq("${FOO}",bar)"#));
        assert!(t(r#"streq("a,b","a,b")"#));
    }

    #[test]
    fn operators_follow_the_truth_tables() {
        for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let (x, y) = (a == 1, b == 1);
            assert_eq!(t(&format!("{a} && {b}")), x && y, "{a} && {b}");
            assert_eq!(t(&format!("{a} || {b}")), x || y, "{a} || {b}");
            assert_eq!(t(&format!("!{a} || {b}")), !x || y, "!{a} || {b}");
        }
        assert!(t("!0"));
        assert!(!t("!!0"));
        // && binds tighter than ||.
        assert!(t("1 || 0 && 0"));
        assert!(!t("(1 || 0) && 0"));
    }

    #[test]
    fn expressions_may_be_split_across_words() {
        assert_eq!(run(&["version_atleast(0.1) && !defined(NOPE)"]), Ok(true));
        assert_eq!(
            run(&["version_atleast(0.1)", "&&", "!defined(FOO)"]),
            Ok(false)
        );
        assert_eq!(
            run(&["(", "1", "||", "0", ")", "&&", "streq(x,x)"]),
            Ok(true)
        );
    }

    #[test]
    fn syntax_errors_say_what_is_wrong() {
        let err = |s: &str| run(&[s]).unwrap_err();
        assert!(err("1 &").contains("'&&'"));
        assert!(err("(1 || 0").contains("missing ')'"));
        assert!(err("1 ||").contains("term was expected"));
        assert!(err("1 1").contains("unexpected '1'"));
        assert!(err("versoin_atleast(1)").contains("did you mean 'version_atleast'"));
        assert!(err("streq(a)").contains("takes 2 arguments"));
        assert!(err("defined").contains("parentheses"));
        assert!(err("feature(X").contains("missing ')'"));
        assert!(err("1 $ 2").contains("unexpected character"));
        assert!(err("bogus").contains("unknown term"));
        // An error on the right of || is reported even when the left is true.
        assert!(run(&["1 || nosuch(1)"]).is_err());
    }
}
