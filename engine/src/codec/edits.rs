//! Rewrites decided by rules, kept as a small list of edits over the parsed head and applied
//! while the outgoing head is written, so the head is never re-parsed.

use regex::bytes::Captures;

use crate::analysis::acl::fetch::path_of;
use crate::analysis::acl::Txn;
use crate::analysis::rules::HeaderOp;
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
    replaced: Vec<(usize, Vec<u8>)>,
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

    /// The request target after edits.
    pub fn target<'b>(&'b self, txn: &Txn<'b>) -> &'b [u8] {
        match &self.target {
            Some(t) => t,
            None => txn.url().unwrap_or_default(),
        }
    }

    /// Replaces path and query with what `f` makes of the current ones.
    pub fn set_path(
        &mut self,
        txn: &Txn<'_>,
        f: impl FnOnce(&[u8], Option<&[u8]>) -> (Vec<u8>, Option<Vec<u8>>),
    ) {
        let cur = self.target(txn).to_vec();
        let (p, q) = path_of(&cur);
        // An absolute URI keeps its scheme and authority.
        let prefix = &cur[..p.as_ptr() as usize - cur.as_ptr() as usize];
        let (np, nq) = f(p, q);
        let mut t = prefix.to_vec();
        t.extend_from_slice(&np);
        if let Some(q) = nq {
            t.push(b'?');
            t.extend_from_slice(&q);
        }
        self.target = Some(t);
    }

    /// Replaces path-and-query with `f`'s result, when it gives one.
    pub fn set_target_from(&mut self, txn: &Txn<'_>, f: impl FnOnce(&[u8]) -> Option<Vec<u8>>) {
        let cur = self.target(txn).to_vec();
        let (p, _) = path_of(&cur);
        let at = p.as_ptr() as usize - cur.as_ptr() as usize;
        if let Some(new) = f(&cur[at..]) {
            let mut t = cur[..at].to_vec();
            t.extend_from_slice(&new);
            self.target = Some(t);
        }
    }

    /// Applies one header rewrite to the lines of `headers` (in `buf`) and the added ones;
    /// `value` is the op's value or replacement, rendered for this message.
    pub fn apply_header(
        &mut self,
        op: &HeaderOp,
        value: Vec<u8>,
        buf: &[u8],
        headers: &[HeaderSpan],
    ) {
        let named = |n: &[u8], name: &str| n.eq_ignore_ascii_case(name.as_bytes());
        match op {
            HeaderOp::Add { name, .. } => self.added.push((name.as_bytes().to_vec(), value)),
            HeaderOp::Set { name, .. } => {
                self.delete(buf, headers, |n| named(n, name));
                self.added.push((name.as_bytes().to_vec(), value));
            }
            HeaderOp::Del(m) => self.delete(buf, headers, |n| m.matches(n)),
            HeaderOp::Replace {
                name,
                regex,
                per_value,
                ..
            } => {
                let rep = value;
                let rewrite = |v: &[u8]| -> Option<Vec<u8>> {
                    if !per_value {
                        return regex.captures(v).map(|c| expand(&rep, &c));
                    }
                    let mut changed = false;
                    let mut out = Vec::with_capacity(v.len());
                    for (k, item) in v.split(|&b| b == b',').enumerate() {
                        if k > 0 {
                            out.extend_from_slice(b", ");
                        }
                        let item = crate::codec::head::trim(item);
                        match regex.captures(item) {
                            Some(c) => {
                                changed = true;
                                out.extend_from_slice(&expand(&rep, &c));
                            }
                            None => out.extend_from_slice(item),
                        }
                    }
                    changed.then_some(out)
                };
                for (i, h) in headers.iter().enumerate() {
                    if self.is_removed(i) || !named(&buf[h.name.clone()], name) {
                        continue;
                    }
                    if let Some(v) = rewrite(self.value(i, buf, h)) {
                        self.replaced.push((i, v));
                    }
                }
                for (n, v) in &mut self.added {
                    if named(n, name) {
                        if let Some(nv) = rewrite(v) {
                            *v = nv;
                        }
                    }
                }
            }
        }
    }

    fn delete(&mut self, buf: &[u8], headers: &[HeaderSpan], pick: impl Fn(&[u8]) -> bool) {
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
