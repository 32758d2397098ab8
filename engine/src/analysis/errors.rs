//! The proxy's error pages: the built-in ones, and the `errorfile` / `errorloc` /
//! `errorfiles` (from `http-errors` sections) replacing them.

use std::collections::HashMap;

use ringlb_config::model::{ErrorFile, ErrorSource, Proxy};

use crate::analysis::rules::Shared;

use crate::codec::status::reason;

/// The reason phrase and the sentence of haproxy 2.6's built-in page for `status`, where it
/// has one: scripts and monitors match on these texts, so they are haproxy's to the byte
/// (including `Time-out`, `Bad request` and the stray `.` of 501). Other statuses get the
/// standard reason and a sentence of ours.
fn page_text(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("Bad request", "Your browser sent an invalid request."),
        403 => ("Forbidden", "Request forbidden by administrative rules."),
        404 => ("Not Found", "The resource could not be found."),
        405 => (
            "Method Not Allowed",
            "A request was made of a resource using a request method not supported by that resource",
        ),
        408 => (
            "Request Time-out",
            "Your browser didn't send a complete request in time.",
        ),
        410 => (
            "Gone",
            "The resource is no longer available and will not be available again.",
        ),
        413 => (
            "Payload Too Large",
            "The request entity exceeds the maximum allowed.",
        ),
        425 => ("Too Early", "Your browser sent early data."),
        429 => (
            "Too Many Requests",
            "You have sent too many requests in a given amount of time.",
        ),
        500 => ("Internal Server Error", "An internal server error occurred."),
        501 => (
            "Not Implemented",
            ".The server does not support the functionality required to fulfill the request.",
        ),
        502 => (
            "Bad Gateway",
            "The server returned an invalid or incomplete response.",
        ),
        503 => (
            "Service Unavailable",
            "No server is available to handle this request.",
        ),
        504 => ("Gateway Time-out", "The server didn't respond in time."),
        431 => (reason(431), "The request headers are too large."),
        _ => (reason(status), "The request could not be served."),
    }
}

/// The built-in page for `status`: a short HTML body, never cached, closing the connection,
/// written as haproxy 2.6 sends its own (header names and order included).
pub fn default_error(status: u16) -> Vec<u8> {
    let (phrase, sentence) = page_text(status);
    let body = format!("<html><body><h1>{status} {phrase}</h1>\n{sentence}\n</body></html>\n");
    format!(
        "HTTP/1.1 {status} {phrase}\r\nContent-length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A proxy's replacements for its error pages, by status.
#[derive(Debug, Clone, Default)]
pub struct ErrorPages {
    pages: HashMap<u16, Vec<u8>>,
}

impl ErrorPages {
    pub fn new(errorfiles: &[ErrorFile]) -> Self {
        let mut pages = Self::default();
        pages.replace(errorfiles, None);
        pages
    }

    /// Sets the pages of `errorfiles` (only the statuses in `only`, when given), replacing
    /// any set before.
    fn replace(&mut self, errorfiles: &[ErrorFile], only: Option<&[u16]>) {
        let pages = errorfiles
            .iter()
            .filter(|e| only.is_none_or(|codes| codes.contains(&e.status)))
            .map(|e| {
                let page = match &e.source {
                    // A raw HTTP response, sent as it is.
                    ErrorSource::File { contents, .. } => contents.clone(),
                    ErrorSource::Location { code, url } => format!(
                        "HTTP/1.1 {code} {}\r\nCache-Control: no-cache\r\nContent-Length: 0\r\nLocation: {url}\r\nConnection: close\r\n\r\n",
                        reason(*code)
                    )
                    .into_bytes(),
                };
                (e.status, page)
            });
        self.pages.extend(pages);
    }

    pub fn from_proxy(proxy: &Proxy) -> Self {
        Self::new(&proxy.errorfiles)
    }

    /// The proxy's pages: each `errorfiles NAME [CODE…]` imports its section's pages in
    /// order (a later import wins for a status), and the proxy's own `errorfile`/`errorloc`
    /// lines win over any import.
    pub fn in_config(proxy: &Proxy, shared: Shared<'_>) -> Self {
        let mut pages = Self::default();
        for (name, codes) in &proxy.errorfiles_sections {
            if let Some(section) = shared.http_errors.iter().find(|h| &h.name == name) {
                let only = (!codes.is_empty()).then_some(codes.as_slice());
                pages.replace(&section.errorfiles, only);
            }
        }
        pages.replace(&proxy.errorfiles, None);
        pages
    }

    /// The page for `status` from the http-errors section `name`, if it has one.
    pub fn from_section(shared: Shared<'_>, name: &str, status: u16) -> Option<Vec<u8>> {
        let section = shared.http_errors.iter().find(|h| h.name == name)?;
        let mut pages = Self::default();
        pages.replace(&section.errorfiles, Some(&[status]));
        pages.pages.remove(&status)
    }

    /// The replacement page for `status`, if this proxy has one.
    pub fn get(&self, status: u16) -> Option<&[u8]> {
        self.pages.get(&status).map(Vec::as_slice)
    }
}

/// The response for `status`: the first proxy in `pages` with a replacement wins (backend
/// before frontend), else the built-in page.
pub fn error_response(pages: &[&ErrorPages], status: u16) -> Vec<u8> {
    pages
        .iter()
        .find_map(|p| p.get(status))
        .map(<[u8]>::to_vec)
        .unwrap_or_else(|| default_error(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(resp: &[u8]) -> (String, String) {
        let text = String::from_utf8(resp.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (head.to_string(), body.to_string())
    }

    #[test]
    fn default_pages_carry_status_length_and_no_cache() {
        for status in [400, 403, 404, 405, 408, 500, 501, 502, 503, 504, 431] {
            let (head, body) = split(&default_error(status));
            assert!(head.starts_with(&format!("HTTP/1.1 {status} {}", page_text(status).0)));
            assert!(head.contains(&format!("Content-length: {}", body.len())));
            assert!(head.contains("Cache-Control: no-cache"));
            assert!(head.contains("Content-Type: text/html"));
            assert!(head.contains("Connection: close"));
            assert!(body.contains(&format!("<h1>{status} ")));
        }
    }

    #[test]
    fn errorfile_and_errorloc_replace_the_default() {
        let raw = b"HTTP/1.0 503 Busy\r\n\r\nsorry".to_vec();
        let fe = ErrorPages::new(&[ErrorFile {
            status: 503,
            source: ErrorSource::File {
                path: "/e/503.http".into(),
                contents: raw.clone(),
            },
        }]);
        let be = ErrorPages::new(&[ErrorFile {
            status: 502,
            source: ErrorSource::Location {
                code: 303,
                url: "https://x/err".into(),
            },
        }]);
        assert_eq!(error_response(&[&be, &fe], 503), raw);
        let (head, _) = split(&error_response(&[&be, &fe], 502));
        assert!(head.starts_with("HTTP/1.1 303 See Other"));
        assert!(head.contains("Location: https://x/err"));
        assert_eq!(error_response(&[&be, &fe], 504), default_error(504));
    }
}
