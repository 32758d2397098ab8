//! Proxy keywords common in existing haproxy.cfg files: `http-reuse`, `unique-id-format`,
//! `unique-id-header`, `force-persist` and `ignore-persist`.

use super::proxy::{optional_condition, Draft};
use super::{unknown, LineRef, Step};
use crate::diag::Diagnostic;
use crate::model::{HttpReuse, PersistKind, PersistRule};

/// Keywords handled here, each with whether it is allowed in defaults / frontend / backend.
pub(super) const KEYWORDS: &[(&str, bool, bool, bool)] = &[
    ("http-reuse", true, false, true),
    ("unique-id-format", true, true, false),
    ("unique-id-header", true, true, false),
    ("force-persist", false, false, true),
    ("ignore-persist", false, false, true),
];

const REUSE_MODES: &[&str] = &["never", "safe", "aggressive", "always"];

pub(super) fn keyword(d: &mut Draft, line: &LineRef<'_>) -> Step {
    let kw = line.keyword();
    let p = &mut d.proxy;
    match kw {
        "http-reuse" => {
            let w = line.arg(1, kw, "never|safe|aggressive|always")?;
            line.no_more(1, kw)?;
            p.http_reuse = match w {
                "never" => HttpReuse::Never,
                "safe" => HttpReuse::Safe,
                "aggressive" => HttpReuse::Aggressive,
                "always" => HttpReuse::Always,
                other => return Err(unknown(line, "'http-reuse' mode", other, REUSE_MODES)),
            };
        }
        "unique-id-format" => {
            let w = line.arg(1, kw, "FORMAT")?;
            if line.words.len() > 2 {
                return Err(line
                    .error("'unique-id-format' takes one word; the format has unquoted blanks")
                    .with_help("put the whole format in double quotes"));
            }
            p.unique_id_format = Some(super::log_format(line, kw, w)?);
        }
        "unique-id-header" => {
            let w = line.arg(1, kw, "HEADER-NAME")?;
            line.no_more(1, kw)?;
            if !w.bytes().all(is_token_byte) {
                return Err(line
                    .error(format!(
                        "'unique-id-header': '{w}' is not a valid header name"
                    ))
                    .with_help("use letters, digits and '-', e.g. unique-id-header X-Unique-ID"));
            }
            p.unique_id_header = Some(w.to_string());
        }
        "force-persist" | "ignore-persist" => {
            let Some(condition) = optional_condition(line, 1, &p.acls)? else {
                return Err(line
                    .error(format!("'{kw}' needs a condition"))
                    .with_help(format!("write: {kw} if CONDITION (or unless CONDITION)")));
            };
            p.persist_rules.push(PersistRule {
                location: line.loc.clone(),
                kind: if kw == "force-persist" {
                    PersistKind::Force
                } else {
                    PersistKind::Ignore
                },
                condition,
            });
        }
        _ => unreachable!("compat keyword table and match disagree on '{kw}'"),
    }
    d.sites.insert(site_key(kw), line.site());
    Ok(())
}

fn site_key(kw: &str) -> &'static str {
    KEYWORDS
        .iter()
        .find(|(k, ..)| *k == kw)
        .map_or("", |(k, ..)| k)
}

/// An HTTP header name is a token (RFC 9110).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// End of a section: `unique-id-header` alone names a header nobody fills.
pub(super) fn settle(d: &Draft, diags: &mut Vec<Diagnostic>) {
    if d.proxy.unique_id_header.is_some() && d.proxy.unique_id_format.is_none() {
        let Some(site) = d.sites.get("unique-id-header") else {
            return;
        };
        if site.inherited {
            return;
        }
        diags.push(
            Diagnostic::warning(
                site.location.clone(),
                "unique-id-header",
                "'unique-id-header' has no effect without 'unique-id-format'",
            )
            .with_source(site.source_line.clone())
            .with_help("add a 'unique-id-format' line, e.g. unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt"),
        );
    }
}
