//! Cookie persistence (`cookie NAME insert|prefix|rewrite …`): reading the server a client's
//! cookie names, hiding the cookie from the server, and handing it to the client in the
//! response. Pure functions over parsed heads; the session decides when to call them.
//!
//! Cookie values that carry dates (`maxidle`, `maxlife`) read `SRV|LAST|FIRST`, each date
//! five base-64 digits counting 4-second steps since the epoch: compact, cookie-safe, and
//! fine enough for limits counted in minutes.

use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ringlb_config::model::{CookieMode, CookiePersist, PersistKind};

use crate::codec::edits::HeadEdits;
use crate::codec::head::{trim, HeaderSpan, ResponseHead};

/// Separates the server's value from the application's in prefix mode (`A~123`).
const PREFIX_DELIM: u8 = b'~';
/// Separates the server's value from the dates in insert mode (`A|xxxxx|yyyyy`).
const DATE_DELIM: u8 = b'|';
/// How far in the future a cookie's date may lie (clocks of several proxies differ).
const FUTURE_SLACK: u64 = 86_400;
/// Written to delete a cookie in the client.
const EXPIRED: &str = "; Expires=Thu, 01-Jan-1970 00:00:01 GMT";
const DATE_DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The persistence cookie a client presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCookie {
    /// The server's `cookie` value: before `~` in prefix mode, before `|` otherwise.
    pub server: Vec<u8>,
    /// When the proxy last issued this cookie (seconds since the epoch), with `maxidle`.
    pub last_seen: Option<u64>,
    /// When the proxy first issued it, with `maxlife`.
    pub first_seen: Option<u64>,
    /// Too old, or dated too far ahead: it must not choose a server.
    pub expired: bool,
}

/// What happens to one header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEdit {
    Keep,
    Remove,
    Replace(Vec<u8>),
}

/// The current time in seconds since the epoch, as cookie dates count it.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One `name=value` pair of a `Cookie` line, as ranges of that line.
struct Pair {
    whole: Range<usize>,
    name: Range<usize>,
    /// The value as written, quotes included.
    value: Range<usize>,
}

/// The pairs of a `Cookie` header value: `;`-separated, blanks around them ignored.
fn pairs(line: &[u8]) -> Vec<Pair> {
    let mut out = Vec::new();
    let mut start = 0;
    while start <= line.len() {
        let end = line[start..]
            .iter()
            .position(|&b| b == b';')
            .map_or(line.len(), |p| start + p);
        let seg = &line[start..end];
        let lead = seg.len() - trim_start(seg).len();
        let text = trim(seg);
        if !text.is_empty() {
            let s = start + lead;
            let whole = s..s + text.len();
            let (name, value) = match text.iter().position(|&b| b == b'=') {
                Some(eq) => {
                    let n = trim(&text[..eq]);
                    let v = trim(&text[eq + 1..]);
                    (sub(line, n), sub(line, v))
                }
                None => (whole.clone(), whole.end..whole.end),
            };
            out.push(Pair { whole, name, value });
        }
        start = end + 1;
    }
    out
}

fn trim_start(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    v
}

/// The range `part` (a subslice of `line`) occupies in `line`.
fn sub(line: &[u8], part: &[u8]) -> Range<usize> {
    let s = part.as_ptr() as usize - line.as_ptr() as usize;
    s..s + part.len()
}

/// The inside of a value written between double quotes, as a range of `line`.
fn unquoted(line: &[u8], v: Range<usize>) -> Range<usize> {
    let raw = &line[v.clone()];
    if raw.len() >= 2 && raw[0] == b'"' && raw[raw.len() - 1] == b'"' {
        v.start + 1..v.end - 1
    } else {
        v
    }
}

fn delimiter(cfg: &CookiePersist) -> u8 {
    if cfg.mode == CookieMode::Prefix {
        PREFIX_DELIM
    } else {
        DATE_DELIM
    }
}

/// The first cookie named `cfg.name` in the request's `Cookie` lines.
pub fn find<'l>(
    cfg: &CookiePersist,
    lines: impl IntoIterator<Item = &'l [u8]>,
    now: u64,
) -> Option<ClientCookie> {
    let name = cfg.name.as_bytes();
    for line in lines {
        for p in pairs(line) {
            if &line[p.name.clone()] != name {
                continue;
            }
            let v = &line[unquoted(line, p.value)];
            let delim = delimiter(cfg);
            let (server, rest) = match v.iter().position(|&b| b == delim) {
                Some(d) => (&v[..d], Some(&v[d + 1..])),
                None => (v, None),
            };
            let mut c = ClientCookie {
                server: server.to_vec(),
                last_seen: None,
                first_seen: None,
                expired: false,
            };
            if let (Some(rest), true) = (rest, delim == DATE_DELIM) {
                let mut dates = rest.split(|&b| b == DATE_DELIM);
                c.last_seen = dates.next().and_then(decode_date);
                c.first_seen = dates.next().and_then(decode_date);
            }
            c.expired = expired(cfg, &c, now);
            return Some(c);
        }
    }
    None
}

fn expired(cfg: &CookiePersist, c: &ClientCookie, now: u64) -> bool {
    let too_old = |date: Option<u64>, limit: Option<Duration>| match (date, limit) {
        (Some(d), Some(l)) => d.saturating_add(l.as_secs()) < now,
        _ => false,
    };
    let ahead = |date: Option<u64>| date.is_some_and(|d| d > now + FUTURE_SLACK);
    too_old(c.last_seen, cfg.maxidle)
        || too_old(c.first_seen, cfg.maxlife)
        || ahead(c.last_seen)
        || ahead(c.first_seen)
}

/// A date as five base-64 digits of 4-second steps, rounded up.
pub fn encode_date(secs: u64) -> [u8; 5] {
    let mut steps = secs.div_ceil(4);
    let mut out = [0u8; 5];
    for d in out.iter_mut().rev() {
        *d = DATE_DIGITS[(steps & 63) as usize];
        steps >>= 6;
    }
    out
}

/// The seconds [`encode_date`] wrote, or `None` for anything else.
pub fn decode_date(text: &[u8]) -> Option<u64> {
    if text.len() != 5 {
        return None;
    }
    let mut steps = 0u64;
    for &c in text {
        let d = DATE_DIGITS.iter().position(|&x| x == c)?;
        steps = steps << 6 | d as u64;
    }
    Some(steps * 4)
}

/// What one request `Cookie` line becomes: insert + indirect removes the persistence
/// cookie, prefix mode strips its `SRV~`; other modes send it as it came.
pub fn request_line(cfg: &CookiePersist, line: &[u8]) -> LineEdit {
    let remove = cfg.mode == CookieMode::Insert && cfg.indirect;
    let strip = cfg.mode == CookieMode::Prefix;
    if !remove && !strip {
        return LineEdit::Keep;
    }
    let mut changed = false;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for p in pairs(line) {
        if &line[p.name.clone()] != cfg.name.as_bytes() {
            kept.push(line[p.whole].to_vec());
            continue;
        }
        if remove {
            changed = true;
            continue;
        }
        let inner = unquoted(line, p.value.clone());
        match line[inner.clone()].iter().position(|&b| b == PREFIX_DELIM) {
            Some(d) => {
                changed = true;
                let mut pair = line[p.whole.start..inner.start].to_vec();
                pair.extend_from_slice(&line[inner.start + d + 1..p.whole.end]);
                kept.push(pair);
            }
            None => kept.push(line[p.whole].to_vec()),
        }
    }
    match (changed, kept.is_empty()) {
        (false, _) => LineEdit::Keep,
        (true, true) => LineEdit::Remove,
        (true, false) => LineEdit::Replace(kept.join(&b"; "[..])),
    }
}

/// Reads the client's persistence cookie from `headers` and records the edits that hide it
/// from the server. Lines already removed or rewritten by rules are taken as edited.
pub fn edit_request(
    cfg: &CookiePersist,
    buf: &[u8],
    headers: &[HeaderSpan],
    edits: &mut HeadEdits,
    now: u64,
) -> Option<ClientCookie> {
    let lines: Vec<(usize, &[u8])> = headers
        .iter()
        .enumerate()
        .filter(|(i, h)| {
            !edits.is_removed(*i) && buf[h.name.clone()].eq_ignore_ascii_case(b"cookie")
        })
        .map(|(i, h)| (i, edits.value(i, buf, h)))
        .collect();
    let found = find(cfg, lines.iter().map(|(_, v)| *v), now);
    let changes: Vec<(usize, LineEdit)> = lines
        .iter()
        .map(|&(i, v)| (i, request_line(cfg, v)))
        .collect();
    for (i, e) in changes {
        match e {
            LineEdit::Keep => {}
            LineEdit::Remove => edits.remove_line(i),
            LineEdit::Replace(v) => edits.replace_line(i, v),
        }
    }
    found
}

/// How the request that this response answers was served.
#[derive(Debug, Clone)]
pub struct Served<'a> {
    /// The `cookie` value of the server that answered (`None`: it has none).
    pub server_cookie: Option<&'a str>,
    /// The client's cookie chose this server (persistence held).
    pub direct: bool,
    /// The client's persistence cookie, valid or not.
    pub presented: Option<&'a ClientCookie>,
    /// The request was a POST (`postonly`).
    pub post: bool,
    pub now: u64,
}

/// What the request side learned, kept for its response.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub presented: Option<ClientCookie>,
    pub post: bool,
    pub now: u64,
}

impl Seen {
    /// How the request was served by the server whose value is `server_cookie`.
    pub fn served<'a>(&'a self, server_cookie: Option<&'a str>, direct: bool) -> Served<'a> {
        Served {
            server_cookie,
            direct,
            presented: self.presented.as_ref(),
            post: self.post,
            now: self.now,
        }
    }
}

/// What one `Set-Cookie` line of the server becomes, and whether it sets our cookie.
pub fn set_cookie_line(cfg: &CookiePersist, served: &Served<'_>, line: &[u8]) -> (LineEdit, bool) {
    let first = line
        .iter()
        .position(|&b| b == b';')
        .map_or(line.len(), |p| p);
    let Some(eq) = line[..first].iter().position(|&b| b == b'=') else {
        return (LineEdit::Keep, false);
    };
    if trim(&line[..eq]) != cfg.name.as_bytes() {
        return (LineEdit::Keep, false);
    }
    if cfg.preserve {
        return (LineEdit::Keep, true);
    }
    // The proxy's own cookie replaces the server's; and a client that already holds the
    // right value need not hear about it again.
    let srv = served.server_cookie;
    if (cfg.mode == CookieMode::Insert && srv.is_some()) || (served.direct && cfg.indirect) {
        return (LineEdit::Remove, true);
    }
    let Some(srv) = srv else {
        return (LineEdit::Keep, true);
    };
    let value = unquoted(line, sub(line, trim(&line[eq + 1..first])));
    let mut out = line[..value.start].to_vec();
    match cfg.mode {
        CookieMode::Rewrite => out.extend_from_slice(srv.as_bytes()),
        CookieMode::Prefix => {
            out.extend_from_slice(srv.as_bytes());
            out.push(PREFIX_DELIM);
            out.extend_from_slice(&line[value.clone()]);
        }
        CookieMode::Insert | CookieMode::Passive => return (LineEdit::Keep, true),
    }
    out.extend_from_slice(&line[value.end..]);
    (LineEdit::Replace(out), true)
}

/// The value of the `Set-Cookie` the proxy adds in insert mode, or `None` when the client
/// needs none. `server_set`: the server set the cookie itself (kept with `preserve`).
pub fn inserted_cookie(
    cfg: &CookiePersist,
    served: &Served<'_>,
    server_set: bool,
) -> Option<String> {
    if cfg.mode != CookieMode::Insert
        || (server_set && cfg.preserve)
        || (cfg.postonly && !served.post)
    {
        return None;
    }
    let Some(srv) = served.server_cookie else {
        // A server without a value: a cookie the client still holds would keep pointing
        // elsewhere, so it is deleted.
        return served
            .presented
            .map(|_| format!("{}={EXPIRED}; path=/", cfg.name))
            .map(|s| with_attributes(cfg, s));
    };
    let held = served.presented.filter(|_| served.direct);
    let refresh_idle =
        cfg.maxidle.is_some() && held.is_none_or(|c| c.last_seen.is_none_or(|d| d < served.now));
    let refresh_life = match held {
        Some(c) => cfg.maxlife.is_some() != c.first_seen.is_some(),
        None => false,
    };
    if served.direct && cfg.indirect && !refresh_idle && !refresh_life {
        return None;
    }
    let mut value = format!("{}={srv}", cfg.name);
    if cfg.maxidle.is_some() || cfg.maxlife.is_some() {
        value.push(DATE_DELIM as char);
        value.push_str(std::str::from_utf8(&encode_date(served.now)).unwrap_or_default());
        if cfg.maxlife.is_some() {
            let first = held.and_then(|c| c.first_seen).unwrap_or(served.now);
            value.push(DATE_DELIM as char);
            value.push_str(std::str::from_utf8(&encode_date(first)).unwrap_or_default());
        }
    }
    value.push_str("; path=/");
    Some(with_attributes(cfg, value))
}

fn with_attributes(cfg: &CookiePersist, mut value: String) -> String {
    for d in &cfg.domains {
        value.push_str("; domain=");
        value.push_str(d);
    }
    if cfg.httponly {
        value.push_str("; HttpOnly");
    }
    if cfg.secure {
        value.push_str("; Secure");
    }
    value
}

/// Whether a shared cache may store this response, judged the way HAProxy does before it
/// tags an inserted cookie private: only statuses cacheable by default, and no
/// `Cache-Control`/`Pragma` directive already forbidding it.
pub fn cacheable(buf: &[u8], head: &ResponseHead) -> bool {
    const STATUSES: [u16; 11] = [200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501];
    if !STATUSES.contains(&head.status) {
        return false;
    }
    let forbids = |name: &[u8], item: &[u8]| {
        let item = trim(item);
        if name.eq_ignore_ascii_case(b"pragma") {
            return item.eq_ignore_ascii_case(b"no-cache");
        }
        let key = item
            .split(|&b| b == b'=')
            .next()
            .map(trim)
            .unwrap_or_default();
        ["private", "no-cache", "no-store"]
            .iter()
            .any(|d| key.eq_ignore_ascii_case(d.as_bytes()))
            || item.eq_ignore_ascii_case(b"max-age=0")
            || item.eq_ignore_ascii_case(b"s-maxage=0")
    };
    !head.headers.iter().any(|h| {
        let name = &buf[h.name.clone()];
        (name.eq_ignore_ascii_case(b"cache-control") || name.eq_ignore_ascii_case(b"pragma"))
            && buf[h.value.clone()]
                .split(|&b| b == b',')
                .any(|i| forbids(name, i))
    })
}

/// Records the response edits persistence asks for: the server's own cookie rewritten,
/// prefixed or removed, then the proxy's `Set-Cookie` and, with `nocache`,
/// `Cache-Control: private`.
pub fn edit_response(
    cfg: &CookiePersist,
    served: &Served<'_>,
    buf: &[u8],
    head: &ResponseHead,
    edits: &mut HeadEdits,
) {
    let mut server_set = false;
    for (i, h) in head.headers.iter().enumerate() {
        if edits.is_removed(i) || !buf[h.name.clone()].eq_ignore_ascii_case(b"set-cookie") {
            continue;
        }
        let (edit, ours) = set_cookie_line(cfg, served, edits.value(i, buf, h));
        server_set |= ours;
        match edit {
            LineEdit::Keep => {}
            LineEdit::Remove => edits.remove_line(i),
            LineEdit::Replace(v) => edits.replace_line(i, v),
        }
    }
    if let Some(value) = inserted_cookie(cfg, served, server_set) {
        edits
            .added
            .push((b"Set-Cookie".to_vec(), value.into_bytes()));
        if cfg.nocache && cacheable(buf, head) {
            edits
                .added
                .push((b"Cache-Control".to_vec(), b"private".to_vec()));
        }
    }
}

/// The first `force-persist` or `ignore-persist` of `be` whose condition holds for `txn`.
pub fn rule(
    be: &crate::analysis::settings::HttpBackend,
    txn: &crate::stream::txn::Txn<'_>,
) -> Option<PersistKind> {
    let rules = &be.rules;
    rules
        .persist
        .iter()
        .find(|(_, c)| c.holds(&rules.acls, txn))
        .map(|(k, _)| *k)
}

#[cfg(test)]
#[path = "persist_tests.rs"]
mod tests;
