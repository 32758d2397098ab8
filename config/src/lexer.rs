//! The lexer: HAProxy's rules for splitting a configuration line into words.
//!
//! Words split on blanks; `#` starts a comment; a backslash escapes the next character
//! (`\ `, `\#`, `\\`, `\"`, `\'`, `\r`, `\n`, `\t`, `\xHH`); double quotes keep blanks,
//! honour escapes and expand `$VAR`, `${VAR}` and `${VAR-default}`; single quotes are
//! literal. Quoted and unquoted parts glue into one word: `a"b c"d` is `ab cd`.

/// One non-empty configuration line, split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in its file.
    pub number: usize,
    pub words: Vec<String>,
    /// The line as written, for diagnostics.
    pub raw: String,
}

/// Why a line could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub number: usize,
    pub raw: String,
    pub message: String,
    pub help: &'static str,
}

/// Splits a whole file. `env` resolves environment variables inside double quotes.
pub fn lex(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<Result<Line, LexError>> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let number = i + 1;
            match split_line(raw, env) {
                Ok(words) if words.is_empty() => None,
                Ok(words) => Some(Ok(Line {
                    number,
                    words,
                    raw: raw.to_string(),
                })),
                Err((message, help)) => Some(Err(LexError {
                    number,
                    raw: raw.to_string(),
                    message,
                    help,
                })),
            }
        })
        .collect()
}

/// The process environment, for [`lex`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

type SplitError = (String, &'static str);

/// Splits one line into words; an empty result means a blank or comment-only line.
pub fn split_line(
    line: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word exists once any part of it was seen, so `""` yields an empty word.
    let mut in_word = false;
    let mut chars = line.chars().peekable();

    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' => break,
            '\\' => {
                in_word = true;
                push_escape(&mut chars, &mut word)?;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => {
                            return Err((
                                "unterminated single quote".to_string(),
                                "close the quote with ' on the same line",
                            ))
                        }
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => push_escape(&mut chars, &mut word)?,
                        Some('$') => expand_variable(&mut chars, &mut word, env)?,
                        Some(ch) => word.push(ch),
                        None => {
                            return Err((
                                "unterminated double quote".to_string(),
                                "close the quote with \" on the same line",
                            ))
                        }
                    }
                }
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn push_escape(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    word: &mut String,
) -> Result<(), SplitError> {
    match chars.next() {
        Some('r') => word.push('\r'),
        Some('n') => word.push('\n'),
        Some('t') => word.push('\t'),
        Some('x') => {
            let hex: String = (0..2).filter_map(|_| chars.next()).collect();
            match u8::from_str_radix(&hex, 16) {
                Ok(b) if hex.len() == 2 => word.push(char::from(b)),
                _ => {
                    return Err((
                        format!("invalid hex escape '\\x{hex}'"),
                        "write \\x followed by exactly two hexadecimal digits, e.g. \\x20",
                    ))
                }
            }
        }
        Some(ch @ (' ' | '\t' | '#' | '\\' | '\'' | '"' | '$')) => word.push(ch),
        // Any other escape stays as written: `\1` in a regex replacement, `\.` in a
        // pattern, mean what they say to the regex engine, as in HAProxy.
        Some(ch) => {
            word.push('\\');
            word.push(ch);
        }
        None => word.push('\\'),
    }
    Ok(())
}

/// `$NAME`, `${NAME}` or `${NAME-default}` inside double quotes.
fn expand_variable(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    word: &mut String,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), SplitError> {
    let braced = chars.peek() == Some(&'{');
    if braced {
        chars.next();
    }
    let mut name = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_alphanumeric() || c == '_' {
            name.push(c);
            chars.next();
        } else {
            break;
        }
    }
    if name.is_empty() {
        // A lone `$` is literal, as in HAProxy.
        word.push('$');
        if braced {
            word.push('{');
        }
        return Ok(());
    }
    let mut default = None;
    if braced {
        if chars.peek() == Some(&'-') {
            chars.next();
            let mut d = String::new();
            loop {
                match chars.next() {
                    Some('}') => break,
                    Some(c) => d.push(c),
                    None => return Err(unterminated_brace()),
                }
            }
            default = Some(d);
        } else if chars.next() != Some('}') {
            return Err(unterminated_brace());
        }
    }
    if let Some(value) = env(&name).or(default) {
        word.push_str(&value);
    }
    Ok(())
}

fn unterminated_brace() -> SplitError {
    (
        "unterminated '${' in variable reference".to_string(),
        "write ${NAME} or ${NAME-default}",
    )
}

/// Writes `word` so that [`split_line`] reads it back as exactly one word equal to `word`.
///
/// Plain words stay as they are; anything else is single-quoted when it can be, and
/// double-quoted with escapes otherwise (`$` is escaped so nothing is expanded).
pub fn quote(word: &str) -> std::borrow::Cow<'_, str> {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            !c.is_whitespace() && !c.is_control() && !matches!(c, '#' | '\\' | '"' | '\'')
        });
    if plain {
        return word.into();
    }
    if !word.contains('\'') && !word.chars().any(|c| c.is_control()) {
        return format!("'{word}'").into();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '"' | '\\' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("8080".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn split(s: &str) -> Vec<String> {
        split_line(s, &env).unwrap()
    }

    #[test]
    fn words_split_on_blanks_and_comments_end_the_line() {
        assert_eq!(
            split("  server  web1\t10.0.0.1:80 check # main"),
            ["server", "web1", "10.0.0.1:80", "check"]
        );
        assert!(split("   # only a comment").is_empty());
    }

    #[test]
    fn backslash_escapes_blanks_hash_and_controls() {
        assert_eq!(split(r"a\ b c\#d \x41 \\"), ["a b", "c#d", "A", "\\"]);
    }

    #[test]
    fn unknown_escapes_keep_their_backslash() {
        assert_eq!(
            split(r"replace-path /a/(.*) /b/\1 \. \d"),
            ["replace-path", "/a/(.*)", r"/b/\1", r"\.", r"\d"]
        );
        assert_eq!(split(r#""x\1y""#), [r"x\1y"]);
    }

    #[test]
    fn double_quotes_keep_blanks_and_expand_environment() {
        assert_eq!(
            split(r#"bind "127.0.0.1:${PORT}" "x y" "$PORT""#),
            ["bind", "127.0.0.1:8080", "x y", "8080"]
        );
        assert_eq!(
            split(r#""${MISSING-9000}" "${MISSING}" """#),
            ["9000", "", ""]
        );
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(
            split(r#"'${PORT} \n # not a comment'"#),
            [r"${PORT} \n # not a comment"]
        );
    }

    #[test]
    fn quoted_and_unquoted_parts_glue_into_one_word() {
        assert_eq!(split(r#"a"b c"d'e f'"#), ["ab cde f"]);
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert!(split_line("acl x \"abc", &env).is_err());
        assert!(split_line("acl x 'abc", &env).is_err());
        assert!(split_line("acl x \"${A\"", &env).is_err());
    }

    #[test]
    fn quote_round_trips_through_split() {
        for w in [
            "plain",
            "",
            "a b",
            "it's",
            "#x",
            "$HOME",
            "tab\there",
            "back\\slash",
            "q\"uote",
            "x\u{1}y",
        ] {
            let q = quote(w);
            assert_eq!(split_line(&q, &env).unwrap(), [w], "{w:?} quoted as {q}");
        }
    }

    #[test]
    fn lex_numbers_lines_and_skips_blank_ones() {
        let lines = lex("global\n\n  # c\n  daemon\n", &env);
        let numbers: Vec<usize> = lines.iter().map(|l| l.as_ref().unwrap().number).collect();
        assert_eq!(numbers, [1, 4]);
    }
}
