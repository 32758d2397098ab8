//! Rewrites decided by rules, kept as a small list of edits over the parsed head and applied
//! while the outgoing head is written, so the head is never re-parsed.

use regex::bytes::Captures;

use crate::codec::head::HeaderSpan;

/// Edits to a request or response head.
#[derive(Debug, Default, Clone)]
pub struct HeadEdits {
    pub method: Option<Vec<u8>>,
    /// The whole new request target.
    pub target: Option<Vec<u8>>,
    /// `set-status` on a response.
    pub status: Option<(u16, Option<String>)>,
    /// Original header lines removed, one bit per line (a head has at most 101).
    removed: u128,
    /// Original header lines whose value is replaced.
    pub(crate) replaced: Vec<(usize, Vec<u8>)>,
    /// Lines added, in order, after the original ones.
    pub added: Vec<(Vec<u8>, Vec<u8>)>,
}

impl HeadEdits {
    pub fn is_empty(&self) -> bool {
        self.method.is_none()
            && self.target.is_none()
            && self.status.is_none()
            && self.removed == 0
            && self.replaced.is_empty()
            && self.added.is_empty()
    }

    pub fn is_removed(&self, i: usize) -> bool {
        i < 128 && self.removed & (1 << i) != 0
    }

    fn remove(&mut self, i: usize) {
        if i < 128 {
            self.removed |= 1 << i;
        }
    }

    /// Drops original header line `i` from the outgoing head.
    pub fn remove_line(&mut self, i: usize) {
        self.remove(i);
    }

    /// Gives original header line `i` a new value.
    pub fn replace_line(&mut self, i: usize, value: Vec<u8>) {
        self.replaced.push((i, value));
    }

    /// The value of original line `i` after edits.
    pub fn value<'b>(&'b self, i: usize, buf: &'b [u8], h: &HeaderSpan) -> &'b [u8] {
        self.replaced
            .iter()
            .rev()
            .find(|(j, _)| *j == i)
            .map_or(&buf[h.value.clone()], |(_, v)| v)
    }

    pub(crate) fn delete(
        &mut self,
        buf: &[u8],
        headers: &[HeaderSpan],
        pick: impl Fn(&[u8]) -> bool,
    ) {
        for (i, h) in headers.iter().enumerate() {
            if pick(&buf[h.name.clone()]) {
                self.remove(i);
            }
        }
        self.added.retain(|(n, _)| !pick(n));
    }
}

/// A replacement with `\0`…`\9` standing for the regex's groups, as HAProxy writes them.
pub fn expand(template: &[u8], caps: &Captures<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len() + 32);
    let mut i = 0;
    while i < template.len() {
        match (template[i], template.get(i + 1)) {
            (b'\\', Some(d)) if d.is_ascii_digit() => {
                if let Some(m) = caps.get(usize::from(d - b'0')) {
                    out.extend_from_slice(m.as_bytes());
                }
                i += 2;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}
