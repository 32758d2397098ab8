//! Section headers (`frontend NAME [ADDR] [from DEFAULTS]` and friends), and the small
//! sections: `userlist` and `http-errors`.

use super::{did_you_mean, unknown, LineRef, Step};
use crate::diag::Diagnostic;
use crate::model::{
    BindAddr, ErrorFile, ErrorSource, HttpErrors, Password, User, UserGroup, Userlist,
};
use crate::value;

pub(super) const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "http-errors",
];

pub(super) fn is_section_keyword(word: &str) -> bool {
    SECTIONS.contains(&word)
}

/// A keyword line before any section header.
pub(super) fn outside_section(line: &LineRef<'_>) -> Diagnostic {
    let kw = line.keyword();
    let d = line.error(format!("'{kw}' is outside of any section"));
    match did_you_mean(kw, SECTIONS.iter().copied()) {
        Some(h) => d.with_help(format!("unknown section keyword; {h}")),
        None => d.with_help(format!(
            "start a section first ({}), then put '{kw}' inside it",
            SECTIONS.join(", ")
        )),
    }
}

/// What a `defaults`/`frontend`/`backend`/`listen` header line says.
pub(super) struct Header {
    pub name: Option<String>,
    pub from: Option<String>,
    /// Legacy `listen NAME ADDR:PORT` addresses.
    pub binds: Vec<BindAddr>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Whether a header word is an address rather than a name (`listen 127.0.0.1:8000`).
fn address_list(word: &str) -> Option<Vec<BindAddr>> {
    if !word.contains(':') {
        return None;
    }
    word.split(',').map(|a| value::bind_addr(a).ok()).collect()
}

pub(super) fn proxy_header(
    line: &LineRef<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Result<Header, Diagnostic> {
    let kw = line.keyword();
    let mut words = &line.words[1..];
    let mut header = Header {
        name: None,
        from: None,
        binds: Vec::new(),
    };
    if let Some(first) = words.first().filter(|w| *w != "from") {
        match address_list(first) {
            // Seed configs write `listen ADDR:PORT` with no name at all.
            Some(addrs) if kw == "listen" => {
                let name = format!("listen_{}", first.replace([':', ',', '*', '[', ']'], "_"));
                diags.push(
                    line.warning(format!("'listen' without a name; it is named '{name}'"))
                        .with_help(format!("write: listen NAME\n        bind {first}")),
                );
                header.name = Some(name);
                header.binds = addrs;
                words = &words[1..];
            }
            _ => {
                if !valid_name(first) {
                    return Err(line
                        .error(format!("invalid {kw} name '{first}'"))
                        .with_help("names use letters, digits, '-', '_', '.' and ':'"));
                }
                header.name = Some(first.clone());
                words = &words[1..];
            }
        }
    }
    if header.name.is_none() && kw != "defaults" {
        return Err(line
            .error(format!("'{kw}' needs a name"))
            .with_help(format!("write: {kw} NAME")));
    }
    while let Some(w) = words.first() {
        if w == "from" {
            let Some(d) = words.get(1) else {
                return Err(line
                    .error("'from' needs the name of a defaults section")
                    .with_help(format!("write: {kw} NAME from DEFAULTS")));
            };
            header.from = Some(d.clone());
            words = &words[2..];
        } else if kw == "frontend" || kw == "listen" {
            let addrs = w
                .split(',')
                .map(value::bind_addr)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| line.invalid(kw, e))?;
            diags.push(
                line.warning(format!("address on the '{kw}' line is a legacy form"))
                    .with_help(format!("write 'bind {w}' inside the section instead")),
            );
            header.binds.extend(addrs);
            words = &words[1..];
        } else {
            return Err(line
                .error(format!("unexpected '{w}' after '{kw}' name"))
                .with_help(format!("write: {kw} NAME [from DEFAULTS]")));
        }
    }
    Ok(header)
}

fn comma_list(word: &str) -> Vec<String> {
    word.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn userlist_keyword(u: &mut Userlist, line: &LineRef<'_>) -> Step {
    match line.keyword() {
        "group" => {
            let name = line.arg(1, "group", "NAME [users USER,…]")?.to_string();
            let mut users = Vec::new();
            match line.words.get(2).map(String::as_str) {
                None => {}
                Some("users") => {
                    users = comma_list(line.arg(3, "group NAME users", "USER[,USER…]")?);
                    line.no_more(3, "group")?;
                }
                Some(w) => return Err(unknown(line, "group option", w, &["users"])),
            }
            if u.groups.iter().any(|g| g.name == name) {
                return Err(line.error(format!(
                    "group '{name}' is declared twice in userlist '{}'",
                    u.name
                )));
            }
            u.groups.push(UserGroup { name, users });
            Ok(())
        }
        "user" => {
            let name = line
                .arg(
                    1,
                    "user",
                    "NAME password HASH|insecure-password PASSWORD [groups G,…]",
                )?
                .to_string();
            let mut password = None;
            let mut groups = Vec::new();
            let mut i = 2;
            while let Some(w) = line.words.get(i) {
                match w.as_str() {
                    "password" => {
                        password = Some(Password::Crypt(
                            line.arg(i + 1, "password", "HASH")?.to_string(),
                        ))
                    }
                    "insecure-password" => {
                        password = Some(Password::Insecure(
                            line.arg(i + 1, "insecure-password", "PASSWORD")?
                                .to_string(),
                        ))
                    }
                    "groups" => groups = comma_list(line.arg(i + 1, "groups", "GROUP[,GROUP…]")?),
                    other => {
                        return Err(unknown(
                            line,
                            "user option",
                            other,
                            &["password", "insecure-password", "groups"],
                        ))
                    }
                }
                i += 2;
            }
            let Some(password) = password else {
                return Err(line
                    .error(format!("user '{name}' has no password"))
                    .with_help("add 'password HASH' or 'insecure-password PASSWORD'"));
            };
            if u.users.iter().any(|x| x.name == name) {
                return Err(line.error(format!(
                    "user '{name}' is declared twice in userlist '{}'",
                    u.name
                )));
            }
            u.users.push(User {
                location: line.loc.clone(),
                name,
                password,
                groups,
            });
            Ok(())
        }
        other => Err(unknown(
            line,
            "keyword in 'userlist' section:",
            other,
            &["group", "user"],
        )),
    }
}

pub(super) fn http_errors_keyword(h: &mut HttpErrors, line: &LineRef<'_>) -> Step {
    match line.keyword() {
        "errorfile" => {
            let ef = errorfile(line)?;
            h.errorfiles.retain(|e| e.status != ef.status);
            h.errorfiles.push(ef);
            Ok(())
        }
        other => Err(unknown(
            line,
            "keyword in 'http-errors' section:",
            other,
            &["errorfile"],
        )),
    }
}

/// Status codes HAProxy can answer itself, and so can take an error file for.
pub(super) const ERROR_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];

pub(super) fn error_code(line: &LineRef<'_>, word: &str) -> Result<u16, Diagnostic> {
    let code: u16 =
        value::number(word, "status code").map_err(|e| line.invalid(line.keyword(), e))?;
    if !ERROR_CODES.contains(&code) {
        let list: Vec<String> = ERROR_CODES.iter().map(u16::to_string).collect();
        return Err(line
            .error(format!(
                "'{}': status code {code} cannot be customized",
                line.keyword()
            ))
            .with_help(format!("use one of {}", list.join(", "))));
    }
    Ok(code)
}

/// `errorfile CODE FILE`: the file is read now, relative to the configuration's directory.
pub(super) fn errorfile(line: &LineRef<'_>) -> Result<ErrorFile, Diagnostic> {
    let code = error_code(line, line.arg(1, "errorfile", "CODE FILE")?)?;
    let path = std::path::PathBuf::from(line.arg(2, "errorfile", "CODE FILE")?);
    line.no_more(2, "errorfile")?;
    let full = line.base_dir.join(&path);
    let contents = std::fs::read(&full).map_err(|e| {
        line.error(format!(
            "'errorfile': cannot read '{}': {e}",
            full.display()
        ))
        .with_help(
            "check the path; a relative path is read from the configuration file's directory",
        )
    })?;
    Ok(ErrorFile {
        status: code,
        source: ErrorSource::File { path, contents },
    })
}
