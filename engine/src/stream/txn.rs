//! The stream value analysis reads: the request (and response) head with the buffer its
//! offsets point into, addresses, the frontend, backend and server chosen, the rewrites rules
//! made so far and the variables they stored.

use std::net::SocketAddr;

use crate::codec::edits::HeadEdits;
use crate::codec::head::{path_of, RequestHead, ResponseHead};
use crate::io::tls::TlsStream;
use crate::stream::inspected::Inspected;
use crate::stream::vars::Vars;

/// Everything a fetch may read about one stream. Nothing here is copied from the buffer.
#[derive(Clone, Copy)]
pub struct Txn<'a> {
    /// The client read buffer the request head's offsets point into; in `mode tcp`, the
    /// bytes buffered for inspection.
    pub buf: &'a [u8],
    /// In `mode tcp`, the bytes buffered for `tcp-request content` rules, read by the
    /// layer-6 fetches (`req.ssl_sni`, `req.payload`…); `None` on an HTTP stream.
    pub payload: Option<&'a Inspected<'a>>,
    /// `None` before a head is parsed (`tcp-request connection`, tcp mode).
    pub req: Option<&'a RequestHead>,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub frontend: &'a str,
    pub backend: Option<&'a str>,
    pub server: Option<&'a str>,
    /// The response buffer and head, for `http-response` rules.
    pub res: Option<(&'a [u8], &'a ResponseHead)>,
    /// Usable servers of a backend by name (`nbsrv`); `None` when there is no such backend.
    pub nbsrv: &'a dyn Fn(&str) -> Option<usize>,
    /// Rewrites earlier rules made to the request: set only once one did, so that later
    /// conditions see the request as it will be sent while an untouched request is read
    /// straight from the buffer.
    pub edits: Option<&'a HeadEdits>,
    /// What `set-var`, `capture` and `set-log-level` stored on the stream; `None` where
    /// no rule can write (then only `proc` variables are readable).
    pub vars: Option<&'a Vars>,
    /// The client connection's TLS, when it is TLS.
    pub tls: Option<&'a TlsStream>,
    /// The request came on an HTTP/2 stream (its head reads as HTTP/1.1: `codec/http2.rs`).
    pub h2: bool,
}

impl<'a> Txn<'a> {
    /// A stream with nothing read yet: only addresses and names can be fetched.
    pub fn connection(
        src: SocketAddr,
        dst: SocketAddr,
        frontend: &'a str,
        nbsrv: &'a dyn Fn(&str) -> Option<usize>,
    ) -> Self {
        Txn {
            buf: &[],
            payload: None,
            req: None,
            src,
            dst,
            frontend,
            backend: None,
            server: None,
            res: None,
            nbsrv,
            edits: None,
            vars: None,
            tls: None,
            h2: false,
        }
    }

    /// This stream seen with `edits` applied to its request (none when they are empty).
    pub fn with_edits<'b>(&self, edits: &'b HeadEdits) -> Txn<'b>
    where
        'a: 'b,
    {
        Txn {
            edits: (!edits.is_empty()).then_some(edits),
            ..*self
        }
    }

    pub fn method(&self) -> Option<&'a [u8]> {
        let h = self.req?;
        match self.edits.and_then(|e| e.method.as_deref()) {
            Some(m) => Some(m),
            None => Some(&self.buf[h.method.clone()]),
        }
    }

    /// The request target as it will be sent.
    pub fn url(&self) -> Option<&'a [u8]> {
        let h = self.req?;
        match self.edits.and_then(|e| e.target.as_deref()) {
            Some(t) => Some(t),
            None => Some(&self.buf[h.target.clone()]),
        }
    }

    /// The request's header lines as (name, value), after the rewrites of earlier rules:
    /// original lines not deleted (with replaced values), then the added ones.
    pub fn request_lines(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone + 'a {
        let (buf, headers): (&'a [u8], &'a [crate::codec::head::HeaderSpan]) = match self.req {
            Some(h) => (self.buf, &h.headers),
            None => (&[], &[]),
        };
        let edits = self.edits;
        let original = headers
            .iter()
            .enumerate()
            .filter(move |(i, _)| !edits.is_some_and(|e| e.is_removed(*i)))
            .map(move |(i, h)| {
                let v = match edits {
                    Some(e) => e.value(i, buf, h),
                    None => &buf[h.value.clone()],
                };
                (&buf[h.name.clone()], v)
            });
        let added = edits
            .into_iter()
            .flat_map(|e| e.added.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        original.chain(added)
    }

    /// The path: the target up to `?`, without `scheme://authority` for an absolute URI.
    pub fn path(&self) -> Option<&'a [u8]> {
        self.url().map(|u| path_of(u).0)
    }

    pub fn query(&self) -> Option<&'a [u8]> {
        self.url().and_then(|u| path_of(u).1)
    }

    /// Raw values of the request header `name`, one per line.
    pub fn header_lines(&self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.request_lines()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

/// Rewrites that read the request target through the stream (the target as edited so far,
/// else as received).
impl HeadEdits {
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
}
