//! `option httpchk`: the request built from `option httpchk` and `http-check send`, and the
//! response held against `http-check expect` (by default any 2xx or 3xx passes).

use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use regex::Regex;
use ringlb_config::model::{CheckMatch, Proxy};

use super::{write_then_read, Exchange};
use crate::status::{CheckResult, CheckStatus};

/// Bytes of a response kept for matching (HAProxy's default `tune.chksize`).
pub const RESPONSE_LIMIT: usize = 16384;

/// A compiled HTTP check.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    request: Vec<u8>,
    expect: Expect,
    negate: bool,
    /// `http-check disable-on-404`: a 404 passes conditionally and stops new traffic.
    disable_on_404: bool,
}

#[derive(Debug, Clone)]
enum Expect {
    /// Nothing configured: 2xx and 3xx pass.
    Default,
    Status(Vec<(u16, u16)>),
    Rstatus(Regex),
    String(String),
    Rstring(Regex),
}

impl Expect {
    fn needs_body(&self) -> bool {
        matches!(self, Self::String(_) | Self::Rstring(_))
    }
}

impl HttpProbe {
    /// The check `proxy` asks for; `None` without `option httpchk`.
    pub fn from_proxy(proxy: &Proxy) -> Result<Option<Self>, String> {
        let Some(chk) = &proxy.options.httpchk else {
            return Ok(None);
        };
        let hc = &proxy.http_check;
        let method = hc.send_method.as_deref().unwrap_or(&chk.method);
        let uri = hc.send_uri.as_deref().unwrap_or(&chk.uri);
        let version = hc.send_version.as_deref().unwrap_or(&chk.version);
        let mut req = format!("{method} {uri} {version}\r\n");
        for (n, v) in chk.extra_headers.iter().chain(&hc.send_headers) {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        let has = |name: &str| {
            chk.extra_headers
                .iter()
                .chain(&hc.send_headers)
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        if let Some(body) = &hc.send_body {
            if !has("content-length") {
                req.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
        }
        // One request per connection: the server closes once it has answered.
        if !has("connection") {
            req.push_str("Connection: close\r\n");
        }
        req.push_str("\r\n");
        if let Some(body) = &hc.send_body {
            req.push_str(body);
        }
        let regex = |r: &str| Regex::new(r).map_err(|e| format!("invalid regex '{r}': {e}"));
        let (expect, negate) = match &hc.expect {
            None => (Expect::Default, false),
            Some(e) => (
                match &e.matcher {
                    CheckMatch::Status(ranges) => Expect::Status(ranges.clone()),
                    CheckMatch::Rstatus(r) => Expect::Rstatus(regex(r)?),
                    CheckMatch::String(s) => Expect::String(s.clone()),
                    CheckMatch::Rstring(r) => Expect::Rstring(regex(r)?),
                },
                e.negate,
            ),
        };
        Ok(Some(Self {
            request: req.into_bytes(),
            expect,
            negate,
            disable_on_404: hc.disable_on_404,
        }))
    }

    /// The request bytes sent on every check.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    pub(super) async fn exchange<S: AsyncReadRent + AsyncWriteRent>(
        &self,
        mut stream: S,
        timeout: Duration,
    ) -> CheckResult {
        let needs_body = self.expect.needs_body();
        let got = write_then_read(
            &mut stream,
            self.request.clone(),
            timeout,
            RESPONSE_LIMIT,
            |b| response_complete(b, needs_body),
        )
        .await;
        match got {
            Exchange::Failed(e) => {
                CheckResult::new(CheckStatus::SockErr).with_info(super::os_error_text(&e))
            }
            Exchange::TimedOut(b) if !response_complete(&b, needs_body) => {
                CheckResult::new(CheckStatus::L7Timeout)
            }
            Exchange::TimedOut(b) | Exchange::Read(b) => self.judge(&b),
        }
    }

    /// Holds a response against the expectation.
    pub fn judge(&self, response: &[u8]) -> CheckResult {
        if response.is_empty() {
            return CheckResult::new(CheckStatus::L7Rsp).with_info("Empty response");
        }
        let Some((code, reason, body)) = parse_response(response) else {
            return CheckResult::new(CheckStatus::L7Rsp).with_info("Invalid HTTP response");
        };
        let reason_info = if reason.is_empty() {
            code.to_string()
        } else {
            reason.to_string()
        };
        match &self.expect {
            Expect::Default => {
                if (200..400).contains(&code) {
                    CheckResult::new(CheckStatus::L7Ok)
                        .with_code(code)
                        .with_info(reason_info)
                } else if code == 404 && self.disable_on_404 {
                    CheckResult::new(CheckStatus::L7OkCond)
                        .with_code(code)
                        .with_info(reason_info)
                } else {
                    CheckResult::new(CheckStatus::L7Sts)
                        .with_code(code)
                        .with_info(reason_info)
                }
            }
            Expect::Status(_) | Expect::Rstatus(_) => {
                let matched = match &self.expect {
                    Expect::Status(ranges) => {
                        ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
                    }
                    Expect::Rstatus(re) => re.is_match(&code.to_string()),
                    _ => unreachable!(),
                };
                let status = if matched != self.negate {
                    CheckStatus::L7Ok
                } else if code == 404 && self.disable_on_404 {
                    CheckStatus::L7OkCond
                } else {
                    CheckStatus::L7Sts
                };
                CheckResult::new(status)
                    .with_code(code)
                    .with_info(reason_info)
            }
            Expect::String(_) | Expect::Rstring(_) => {
                let (matched, what) = match &self.expect {
                    Expect::String(s) => (contains(body, s.as_bytes()), format!("string '{s}'")),
                    Expect::Rstring(re) => (
                        re.is_match(&String::from_utf8_lossy(body)),
                        format!("regex '{}'", re.as_str()),
                    ),
                    _ => unreachable!(),
                };
                if matched != self.negate {
                    CheckResult::new(CheckStatus::L7Ok).with_code(code)
                } else {
                    let verb = if self.negate {
                        "matched"
                    } else {
                        "did not match"
                    };
                    CheckResult::new(CheckStatus::L7Rsp)
                        .with_code(code)
                        .with_info(format!("HTTP content check {verb} {what}"))
                }
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Whether enough of the response is in: the head, and the body too when the expectation
/// looks at it (by Content-Length; otherwise until the server closes).
fn response_complete(b: &[u8], needs_body: bool) -> bool {
    let Some(end) = head_end(b) else {
        return false;
    };
    if !needs_body {
        return true;
    }
    let head = String::from_utf8_lossy(&b[..end]);
    head.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .is_some_and(|len| b.len() >= end + len)
}

/// Status code, reason phrase and body of a response (body possibly partial).
fn parse_response(b: &[u8]) -> Option<(u16, &str, &[u8])> {
    let line_end = b.windows(2).position(|w| w == b"\r\n").unwrap_or(b.len());
    let line = std::str::from_utf8(&b[..line_end]).ok()?;
    let rest = line.strip_prefix("HTTP/1.")?;
    let mut parts = rest.splitn(3, ' ');
    let _minor = parts.next()?;
    let code_text = parts.next()?;
    if code_text.len() != 3 {
        return None;
    }
    let code: u16 = code_text.parse().ok()?;
    let reason = parts.next().unwrap_or("").trim();
    let body = head_end(b).map(|e| &b[e..]).unwrap_or(&[]);
    Some((code, reason, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlb_config::model::{HttpCheckExpect, HttpChk, ProxyKind};

    fn probe(expect: Option<(bool, CheckMatch)>) -> HttpProbe {
        let mut p = Proxy::new(ProxyKind::Backend, "b".into(), Default::default());
        p.options.httpchk = Some(HttpChk {
            method: "HEAD".into(),
            uri: "/running".into(),
            version: "HTTP/1.0".into(),
            extra_headers: Vec::new(),
        });
        p.http_check.expect = expect.map(|(negate, matcher)| HttpCheckExpect { negate, matcher });
        HttpProbe::from_proxy(&p).unwrap().unwrap()
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nalive";
    const ERR: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\ndead";

    #[test]
    fn request_line_comes_from_option_httpchk() {
        let p = probe(None);
        assert_eq!(
            p.request(),
            b"HEAD /running HTTP/1.0\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn send_overrides_method_and_adds_headers_and_body() {
        let mut p = Proxy::new(ProxyKind::Backend, "b".into(), Default::default());
        p.options.httpchk = Some(HttpChk::default());
        p.http_check.send_method = Some("POST".into());
        p.http_check.send_uri = Some("/health".into());
        p.http_check.send_version = Some("HTTP/1.1".into());
        p.http_check.send_headers = vec![("Host".into(), "example.com".into())];
        p.http_check.send_body = Some("ping".into());
        let p = HttpProbe::from_proxy(&p).unwrap().unwrap();
        assert_eq!(
            String::from_utf8_lossy(p.request()),
            "POST /health HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\nConnection: close\r\n\r\nping"
        );
    }

    #[test]
    fn default_expectation_passes_2xx_3xx_only() {
        let p = probe(None);
        assert_eq!(p.judge(OK).status, CheckStatus::L7Ok);
        assert_eq!(
            p.judge(b"HTTP/1.0 302 Found\r\n\r\n").status,
            CheckStatus::L7Ok
        );
        let r = p.judge(ERR);
        assert_eq!(r.status, CheckStatus::L7Sts);
        assert_eq!(r.code, Some(500));
        assert_eq!(r.info.as_deref(), Some("Internal Server Error"));
        assert_eq!(p.judge(b"garbage\r\n\r\n").status, CheckStatus::L7Rsp);
    }

    #[test]
    fn status_and_rstatus_with_negation() {
        let s = probe(Some((false, CheckMatch::Status(vec![(500, 500)]))));
        assert_eq!(s.judge(ERR).status, CheckStatus::L7Ok);
        assert_eq!(s.judge(OK).status, CheckStatus::L7Sts);
        let ns = probe(Some((true, CheckMatch::Status(vec![(500, 599)]))));
        assert_eq!(ns.judge(OK).status, CheckStatus::L7Ok);
        assert_eq!(ns.judge(ERR).status, CheckStatus::L7Sts);
        let rs = probe(Some((false, CheckMatch::Rstatus("^2".into()))));
        assert_eq!(rs.judge(OK).status, CheckStatus::L7Ok);
        assert_eq!(rs.judge(ERR).status, CheckStatus::L7Sts);
    }

    #[test]
    fn string_and_rstring_look_at_the_body() {
        let s = probe(Some((false, CheckMatch::String("alive".into()))));
        assert_eq!(s.judge(OK).status, CheckStatus::L7Ok);
        assert_eq!(s.judge(ERR).status, CheckStatus::L7Rsp);
        let ns = probe(Some((true, CheckMatch::String("dead".into()))));
        assert_eq!(ns.judge(OK).status, CheckStatus::L7Ok);
        assert_eq!(ns.judge(ERR).status, CheckStatus::L7Rsp);
        let rs = probe(Some((false, CheckMatch::Rstring("^al[i]ve$".into()))));
        assert_eq!(rs.judge(OK).status, CheckStatus::L7Ok);
        assert_eq!(rs.judge(ERR).status, CheckStatus::L7Rsp);
    }

    #[test]
    fn completion_waits_for_the_body_only_when_matched_on() {
        assert!(response_complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            false
        ));
        assert!(!response_complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nal",
            true
        ));
        assert!(response_complete(OK, true));
    }
}
