//! Backend selection keywords: `balance`, `hash-type`, and frontend `capture` lines.

use super::{unknown, LineRef};
use crate::diag::Diagnostic;
use crate::model::{Balance, Capture, CaptureSide, HashFunction, HashMethod, HashType};
use crate::value;

const BALANCES: &[&str] = &[
    "roundrobin",
    "static-rr",
    "leastconn",
    "first",
    "source",
    "uri",
    "url_param",
    "hdr(NAME)",
    "random",
    "rdp-cookie",
];

pub(super) fn balance(
    line: &LineRef<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Result<Balance, Diagnostic> {
    let algo = line.arg(1, "balance", "ALGORITHM")?;
    let opt_num = |i: usize, what: &str| -> Result<u32, Diagnostic> {
        let w = line.arg(i + 1, what, "NUMBER")?;
        value::number(w, what).map_err(|e| line.invalid(what, e))
    };
    let simple = |b: Balance| -> Result<Balance, Diagnostic> {
        line.no_more(1, "balance")?;
        Ok(b)
    };
    match algo {
        "roundrobin" => simple(Balance::RoundRobin),
        "static-rr" => simple(Balance::StaticRr),
        "leastconn" => simple(Balance::LeastConn),
        "first" => simple(Balance::First),
        "source" => simple(Balance::Source),
        "uri" => {
            let (mut len, mut depth, mut whole) = (None, None, false);
            let mut i = 2;
            while let Some(w) = line.words.get(i) {
                match w.as_str() {
                    "len" => len = Some(opt_num(i, "balance uri len")?),
                    "depth" => depth = Some(opt_num(i, "balance uri depth")?),
                    "whole" => {
                        whole = true;
                        i += 1;
                        continue;
                    }
                    other => {
                        return Err(unknown(
                            line,
                            "'balance uri' option",
                            other,
                            &["len", "depth", "whole"],
                        ))
                    }
                }
                i += 2;
            }
            Ok(Balance::Uri { len, depth, whole })
        }
        "url_param" => {
            let name = line
                .arg(2, "balance url_param", "NAME [check_post N]")?
                .to_string();
            let mut check_post = None;
            let mut i = 3;
            while let Some(w) = line.words.get(i) {
                match w.as_str() {
                    "check_post" => check_post = Some(opt_num(i, "check_post")?),
                    // Announced and dropped: HAProxy 2.6 ignores it too.
                    "max_wait" => {
                        opt_num(i, "max_wait")?;
                        diags.push(
                            line.warning(
                                "'max_wait' of 'balance url_param' is ignored, as HAProxy \
                                 2.6 ignores it",
                            )
                            .with_help("remove 'max_wait N'"),
                        );
                    }
                    other => {
                        return Err(unknown(
                            line,
                            "'balance url_param' option",
                            other,
                            &["check_post", "max_wait"],
                        ))
                    }
                }
                i += 2;
            }
            Ok(Balance::UrlParam { name, check_post })
        }
        "random" => {
            let draws = match line.words.get(2).map(String::as_str) {
                None => 2,
                Some("draws") => {
                    value::bounded(line.arg(3, "balance random draws", "N")?, "draws", 1, 1000)
                        .map_err(|e| line.invalid("balance random", e))? as u32
                }
                Some(other) => {
                    return Err(unknown(line, "'balance random' option", other, &["draws"]))
                }
            };
            line.no_more(3, "balance random")?;
            Ok(Balance::Random { draws })
        }
        "rdp-cookie" => simple(Balance::RdpCookie {
            name: "mstshash".into(),
        }),
        _ => {
            if let Some(inner) = algo
                .strip_prefix("random(")
                .and_then(|r| r.strip_suffix(')'))
            {
                line.no_more(1, "balance")?;
                let draws = value::bounded(inner, "draws", 1, 1000)
                    .map_err(|e| line.invalid("balance random", e))?;
                return Ok(Balance::Random {
                    draws: draws as u32,
                });
            }
            if let Some(inner) = algo
                .strip_prefix("rdp-cookie(")
                .and_then(|r| r.strip_suffix(')'))
            {
                line.no_more(1, "balance")?;
                return Ok(Balance::RdpCookie {
                    name: inner.to_string(),
                });
            }
            if let Some(inner) = algo.strip_prefix("hdr(").and_then(|r| r.strip_suffix(')')) {
                if inner.is_empty() {
                    return Err(line
                        .error("'balance hdr()' needs a header name")
                        .with_help("write: balance hdr(Host)"));
                }
                let use_domain_only = match line.words.get(2).map(String::as_str) {
                    None => false,
                    Some("use_domain_only") => true,
                    Some(other) => {
                        return Err(unknown(
                            line,
                            "'balance hdr' option",
                            other,
                            &["use_domain_only"],
                        ))
                    }
                };
                line.no_more(2, "balance hdr")?;
                return Ok(Balance::Hdr {
                    name: inner.to_string(),
                    use_domain_only,
                });
            }
            Err(unknown(line, "balance algorithm", algo, BALANCES))
        }
    }
}

pub(super) fn hash_type(line: &LineRef<'_>) -> Result<HashType, Diagnostic> {
    let method = match line.arg(
        1,
        "hash-type",
        "map-based|consistent [FUNCTION] [avalanche]",
    )? {
        "map-based" => HashMethod::MapBased,
        "consistent" => HashMethod::Consistent,
        other => {
            return Err(unknown(
                line,
                "hash-type method",
                other,
                &["map-based", "consistent"],
            ))
        }
    };
    let mut h = HashType {
        method,
        ..HashType::default()
    };
    for w in &line.words[2..] {
        match w.as_str() {
            "sdbm" => h.function = HashFunction::Sdbm,
            "djb2" => h.function = HashFunction::Djb2,
            "wt6" => h.function = HashFunction::Wt6,
            "crc32" => h.function = HashFunction::Crc32,
            "avalanche" => h.avalanche = true,
            other => {
                return Err(unknown(
                    line,
                    "hash function",
                    other,
                    &["sdbm", "djb2", "wt6", "crc32", "avalanche"],
                ))
            }
        }
    }
    Ok(h)
}

pub(super) fn capture(line: &LineRef<'_>) -> Result<Capture, Diagnostic> {
    let usage = "request|response header NAME len LENGTH";
    let side = match line.arg(1, "capture", usage)? {
        "request" => CaptureSide::Request,
        "response" => CaptureSide::Response,
        other => return Err(unknown(line, "capture", other, &["request", "response"])),
    };
    match line.arg(2, "capture", usage)? {
        "header" => {}
        other => return Err(unknown(line, "capture kind", other, &["header"])),
    }
    let name = line.arg(3, "capture", usage)?.to_string();
    if line.arg(4, "capture", usage)? != "len" {
        return Err(line
            .error("'capture' expects 'len LENGTH' after the header name")
            .with_help(format!("write: capture {usage}")));
    }
    let len = value::bounded(line.arg(5, "capture", usage)?, "capture len", 1, 65535)
        .map_err(|e| line.invalid("capture", e))?;
    line.no_more(5, "capture")?;
    Ok(Capture {
        side,
        name,
        len: len as u32,
    })
}
