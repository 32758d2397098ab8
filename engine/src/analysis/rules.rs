//! A proxy's layer-7 rules compiled once per load: `use_backend`, `http-request`,
//! `http-response`, `tcp-request`, `monitor` settings; and their evaluation in order.

use std::time::Duration;

use regex::bytes::Regex;
use ringlb_config::acl::SampleExpr;
use ringlb_config::model::{BackendName, Config, HttpErrors, IpNet, Proxy, Userlist};
use ringlb_config::rules::{
    HeaderAction, HttpRequestAction, HttpResponseAction, LogFormat, LogLevel, NameMatch, Redirect,
    ReturnBody, ReturnSpec, Service, TcpAction, TcpRequestRule, VarName,
};

use crate::analysis::acl::fetch::{first_value, to_bytes};
use crate::analysis::acl::{applies, AclCompiler, AclTable, Cond, Test};
use crate::analysis::errors::ErrorPages;
use crate::analysis::logformat::render;
use crate::codec::edits::{expand, HeadEdits};
use crate::codec::head::HeaderSpan;
use crate::stream::txn::Txn;
use crate::stream::vars::{declared_captures, rule_capture_lens, CaptureSide, Value};

/// The sections of a configuration that a proxy's rules and pages may name.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shared<'c> {
    pub userlists: &'c [Userlist],
    pub http_errors: &'c [HttpErrors],
}

impl<'c> Shared<'c> {
    pub fn of(config: &'c Config) -> Self {
        Self {
            userlists: &config.userlists,
            http_errors: &config.http_errors,
        }
    }
}

/// Where `use_backend` sends a request.
#[derive(Debug)]
pub enum BackendTarget {
    Static(String),
    /// `use_backend %[…]`: the name is computed per request.
    Dynamic(LogFormat),
}

/// A header rewrite with its regexes compiled.
#[derive(Debug)]
pub enum HeaderOp {
    Add {
        name: String,
        value: LogFormat,
    },
    Set {
        name: String,
        value: LogFormat,
    },
    Del(NameMatcher),
    /// `replace-header`/`replace-value` (`per_value`): the regex against each line value (or
    /// each comma-separated item of it), replaced as a whole when it matches.
    Replace {
        name: String,
        regex: Regex,
        replacement: LogFormat,
        per_value: bool,
    },
}

impl HeaderOp {
    /// The value (or replacement) to render for the request at hand, if the op has one.
    pub fn format(&self) -> Option<&LogFormat> {
        match self {
            HeaderOp::Add { value, .. } | HeaderOp::Set { value, .. } => Some(value),
            HeaderOp::Replace { replacement, .. } => Some(replacement),
            HeaderOp::Del(_) => None,
        }
    }
}

/// How `del-header` picks header names (always ignoring case).
#[derive(Debug)]
pub enum NameMatcher {
    Str(String),
    Beg(String),
    End(String),
    Sub(String),
    Reg(Regex),
}

impl NameMatcher {
    pub fn matches(&self, name: &[u8]) -> bool {
        let lower_has = |hay: &[u8], pat: &str, f: fn(&[u8], &[u8]) -> bool| {
            let mut tmp = [0u8; 128];
            if hay.len() > tmp.len() {
                return false;
            }
            for (t, h) in tmp.iter_mut().zip(hay) {
                *t = h.to_ascii_lowercase();
            }
            f(&tmp[..hay.len()], pat.to_ascii_lowercase().as_bytes())
        };
        match self {
            NameMatcher::Str(s) => name.eq_ignore_ascii_case(s.as_bytes()),
            NameMatcher::Beg(s) => {
                name.len() >= s.len() && name[..s.len()].eq_ignore_ascii_case(s.as_bytes())
            }
            NameMatcher::End(s) => {
                name.len() >= s.len()
                    && name[name.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
            }
            NameMatcher::Sub(s) => lower_has(name, s, |h, p| memchr::memmem::find(h, p).is_some()),
            NameMatcher::Reg(r) => r.is_match(name),
        }
    }
}

#[derive(Debug)]
pub enum RequestAction {
    Allow,
    Deny(ReturnSpec),
    Tarpit(ReturnSpec),
    Auth {
        realm: String,
    },
    Redirect(Redirect),
    Return(ReturnSpec),
    Header(HeaderOp),
    SetPath(LogFormat),
    SetPathq(LogFormat),
    SetQuery(LogFormat),
    SetUri(LogFormat),
    SetMethod(LogFormat),
    ReplacePath {
        regex: Regex,
        replacement: LogFormat,
    },
    ReplacePathq {
        regex: Regex,
        replacement: LogFormat,
    },
    ReplaceUri {
        regex: Regex,
        replacement: LogFormat,
    },
    /// `use-service`: a built-in service answers the request.
    Service(Service),
    Store(StoreOp),
    /// Actions that change nothing the proxy sends (`disable-l7-retry`, a `capture … len`
    /// outside a frontend); listed by the startup notices.
    NoEffect,
}

/// An action writing into the stream's [`crate::stream::vars::Vars`] rather than the message.
#[derive(Debug)]
pub enum StoreOp {
    SetVar(VarName, SampleExpr),
    UnsetVar(VarName),
    /// The sample's bytes, cut to `len`, in capture slot `slot`.
    Capture {
        sample: SampleExpr,
        side: CaptureSide,
        slot: usize,
        len: usize,
    },
    SetLogLevel(LogLevel),
}

impl StoreOp {
    fn run(&self, txn: &Txn<'_>) {
        let Some(vars) = txn.vars else {
            return;
        };
        match self {
            StoreOp::SetVar(var, e) => {
                if let Some(v) = first_value(&e.fetch, &e.converters, txn) {
                    vars.set(var, Value::of(v));
                }
            }
            StoreOp::UnsetVar(var) => vars.unset(var),
            StoreOp::Capture {
                sample,
                side,
                slot,
                len,
            } => {
                let v = first_value(&sample.fetch, &sample.converters, txn).and_then(to_bytes);
                if let Some(v) = v {
                    vars.capture(*side, *slot, v[..v.len().min(*len)].to_vec());
                }
            }
            StoreOp::SetLogLevel(l) => vars.set_log_level(*l),
        }
    }
}

/// Capture actions of one side compiled to slots: `len` ones get new slots after the
/// declared ones, `id` ones name a slot and take its length. A slot not declared here (a
/// backend writing its frontend's) keeps the whole value; the log line cuts it.
fn capture_op(
    sample: &SampleExpr,
    side: CaptureSide,
    id: Option<u32>,
    declared: &[usize],
    added: &mut std::iter::Enumerate<std::vec::IntoIter<usize>>,
) -> Option<StoreOp> {
    let (slot, len) = match id {
        Some(id) => {
            let slot = id as usize;
            (slot, declared.get(slot).copied().unwrap_or(usize::MAX))
        }
        None => match added.next() {
            Some((k, len)) => (declared.len() + k, len),
            None => return None,
        },
    };
    Some(StoreOp::Capture {
        sample: sample.clone(),
        side,
        slot,
        len,
    })
}

#[derive(Debug)]
pub enum ResponseAction {
    Allow,
    Deny(ReturnSpec),
    Return(ReturnSpec),
    Redirect(Redirect),
    Header(HeaderOp),
    SetStatus { status: u16, reason: Option<String> },
    Store(StoreOp),
}

/// What a proxy decides about a request beyond forwarding it.
#[derive(Debug, Clone, Copy)]
pub enum RequestVerdict<'r> {
    /// Forward it (after the edits collected).
    Pass,
    Deny(&'r ReturnSpec),
    Tarpit(&'r ReturnSpec),
    Auth(&'r str),
    Redirect(&'r Redirect),
    Return(&'r ReturnSpec),
    /// `use-service`: a built-in service answers.
    Service(Service),
}

/// What `http-response` rules decide about a response.
#[derive(Debug, Clone, Copy)]
pub enum ResponseVerdict<'r> {
    /// Relay it (after the edits collected).
    Pass,
    /// Replace it with the error reply (`deny`, 502 by default).
    Deny(&'r ReturnSpec),
    /// Replace it with this reply (`return`).
    Return(&'r ReturnSpec),
    /// Replace it with a redirect.
    Redirect(&'r Redirect),
}

/// What `tcp-request` rules decide about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpVerdict {
    Accept,
    /// Close without a word.
    Reject,
    /// A condition needs more request bytes: read more, within the inspect-delay.
    Wait,
}

/// Every rule of one proxy, in configuration order.
#[derive(Debug, Default)]
pub struct ProxyRules {
    pub acls: AclTable,
    pub use_backends: Vec<(BackendTarget, Option<Cond>)>,
    pub http_request: Vec<(RequestAction, Option<Cond>)>,
    pub http_response: Vec<(ResponseAction, Option<Cond>)>,
    pub tcp_connection: Vec<(TcpAction, Option<Cond>)>,
    pub tcp_content: Vec<(TcpAction, Option<Cond>)>,
    /// `tcp-request inspect-delay`: how long `tcp_content` rules of a `mode tcp` stream may
    /// wait for request bytes (`None`, or zero: they decide on what is there at accept).
    pub inspect_delay: Option<Duration>,
    pub monitor_uri: Option<String>,
    pub monitor_net: Vec<IpNet>,
    pub monitor_fail: Vec<Cond>,
    /// `force-persist` / `ignore-persist`, in order; the first that holds applies.
    pub persist: Vec<(ringlb_config::model::PersistKind, Cond)>,
    /// `timeout tarpit` (else `timeout connect`).
    pub tarpit: Duration,
    /// The stats page this proxy serves (`stats enable`, `stats uri`…).
    pub stats: Option<std::sync::Arc<crate::analysis::stats_page::StatsPage>>,
}

fn regex(r: &ringlb_config::acl::RegexPattern, ci: bool) -> Result<Regex, String> {
    regex::bytes::RegexBuilder::new(r.as_str())
        .case_insensitive(ci)
        .build()
        .map_err(|e| format!("regex '{}': {e}", r.as_str()))
}

/// `errorfiles NAME` in a reply becomes the section's page for the status, or the proxy's
/// pages (`default-errorfiles`) when the section has none for it.
fn resolve_reply(spec: &ReturnSpec, shared: Shared<'_>) -> ReturnSpec {
    let mut spec = spec.clone();
    if let ReturnBody::ErrorFiles { section } = &spec.body {
        spec.body = match ErrorPages::from_section(shared, section, spec.status) {
            Some(contents) => ReturnBody::ErrorFile {
                path: format!("http-errors {section}").into(),
                contents,
            },
            None => ReturnBody::DefaultErrorfiles,
        };
    }
    spec
}

fn header_op(h: &HeaderAction) -> Result<HeaderOp, String> {
    Ok(match h {
        HeaderAction::Add { name, value } => HeaderOp::Add {
            name: name.clone(),
            value: value.clone(),
        },
        HeaderAction::Set { name, value } => HeaderOp::Set {
            name: name.clone(),
            value: value.clone(),
        },
        HeaderAction::Del { name } => HeaderOp::Del(match name {
            NameMatch::Str(s) => NameMatcher::Str(s.clone()),
            NameMatch::Beg(s) => NameMatcher::Beg(s.clone()),
            NameMatch::End(s) => NameMatcher::End(s.clone()),
            NameMatch::Sub(s) => NameMatcher::Sub(s.clone()),
            NameMatch::Reg(r) => NameMatcher::Reg(regex(r, true)?),
        }),
        HeaderAction::Replace {
            name,
            regex: r,
            replacement,
        }
        | HeaderAction::ReplaceValue {
            name,
            regex: r,
            replacement,
        } => HeaderOp::Replace {
            name: name.clone(),
            regex: regex(r, false)?,
            replacement: replacement.clone(),
            per_value: matches!(h, HeaderAction::ReplaceValue { .. }),
        },
    })
}

impl ProxyRules {
    /// Compiles `proxy`'s rules. Fails only on what the parser cannot see (a regex over the
    /// compiled size limit).
    pub fn compile(proxy: &Proxy) -> Result<Self, String> {
        Self::compile_in(proxy, Shared::default())
    }

    /// Compiles `proxy`'s rules with the userlists and http-errors sections they may name.
    pub fn compile_in(proxy: &Proxy, shared: Shared<'_>) -> Result<Self, String> {
        let mut acls = AclCompiler::new(&proxy.acls).with_userlists(shared.userlists);
        let mut use_backends = Vec::new();
        for u in &proxy.use_backends {
            let target = match &u.backend {
                BackendName::Static(n) => BackendTarget::Static(n.clone()),
                BackendName::Dynamic(lf) => BackendTarget::Dynamic(lf.clone()),
            };
            use_backends.push((target, acls.optional(&u.condition)?));
        }
        let req_slots = declared_captures(proxy, CaptureSide::Request);
        let mut added = rule_capture_lens(proxy)
            .collect::<Vec<_>>()
            .into_iter()
            .enumerate();
        let mut http_request = Vec::new();
        for r in &proxy.http_request {
            use HttpRequestAction as A;
            let re = |r| regex(r, false);
            let action = match &r.action {
                A::Allow => RequestAction::Allow,
                A::Deny(s) => RequestAction::Deny(resolve_reply(s, shared)),
                A::Tarpit(s) => RequestAction::Tarpit(resolve_reply(s, shared)),
                A::Auth { realm } => RequestAction::Auth {
                    realm: realm.clone().unwrap_or_else(|| proxy.name.clone()),
                },
                A::Redirect(r) => RequestAction::Redirect(r.clone()),
                A::Return(s) => RequestAction::Return(resolve_reply(s, shared)),
                A::Header(h) => RequestAction::Header(header_op(h)?),
                A::SetPath(v) => RequestAction::SetPath(v.clone()),
                A::SetPathq(v) => RequestAction::SetPathq(v.clone()),
                A::SetQuery(v) => RequestAction::SetQuery(v.clone()),
                A::SetUri(v) => RequestAction::SetUri(v.clone()),
                A::SetMethod(v) => RequestAction::SetMethod(v.clone()),
                A::UseService(svc) => RequestAction::Service(*svc),
                A::ReplacePath { regex, replacement } => RequestAction::ReplacePath {
                    regex: re(regex)?,
                    replacement: replacement.clone(),
                },
                A::ReplacePathq { regex, replacement } => RequestAction::ReplacePathq {
                    regex: re(regex)?,
                    replacement: replacement.clone(),
                },
                A::ReplaceUri { regex, replacement } => RequestAction::ReplaceUri {
                    regex: re(regex)?,
                    replacement: replacement.clone(),
                },
                A::SetVar { var, expr } => {
                    RequestAction::Store(StoreOp::SetVar(var.clone(), expr.clone()))
                }
                A::UnsetVar(var) => RequestAction::Store(StoreOp::UnsetVar(var.clone())),
                A::SetLogLevel(l) => RequestAction::Store(StoreOp::SetLogLevel(*l)),
                A::Capture { sample, id, .. } => {
                    let side = CaptureSide::Request;
                    match capture_op(sample, side, *id, &req_slots, &mut added) {
                        Some(op) => RequestAction::Store(op),
                        None => RequestAction::NoEffect,
                    }
                }
                A::DisableL7Retry => RequestAction::NoEffect,
            };
            http_request.push((action, acls.optional(&r.condition)?));
        }
        let res_slots = declared_captures(proxy, CaptureSide::Response);
        let mut http_response = Vec::new();
        for r in &proxy.http_response {
            use HttpResponseAction as A;
            let action = match &r.action {
                A::Allow => ResponseAction::Allow,
                A::Deny(s) => ResponseAction::Deny(resolve_reply(s, shared)),
                A::Return(s) => ResponseAction::Return(resolve_reply(s, shared)),
                A::Redirect(r) => ResponseAction::Redirect(r.clone()),
                A::Header(h) => ResponseAction::Header(header_op(h)?),
                A::SetStatus { status, reason } => ResponseAction::SetStatus {
                    status: *status,
                    reason: reason.clone(),
                },
                A::SetVar { var, expr } => {
                    ResponseAction::Store(StoreOp::SetVar(var.clone(), expr.clone()))
                }
                A::UnsetVar(var) => ResponseAction::Store(StoreOp::UnsetVar(var.clone())),
                A::SetLogLevel(l) => ResponseAction::Store(StoreOp::SetLogLevel(*l)),
                A::Capture { sample, id } => {
                    let side = CaptureSide::Response;
                    let mut none = Vec::new().into_iter().enumerate();
                    let op = capture_op(sample, side, Some(*id), &res_slots, &mut none);
                    ResponseAction::Store(op.expect("an id always names a slot"))
                }
            };
            http_response.push((action, acls.optional(&r.condition)?));
        }
        let mut tcp_connection = Vec::new();
        let mut tcp_content = Vec::new();
        let mut inspect_delay = None;
        for r in &proxy.tcp_request {
            match r {
                TcpRequestRule::Connection { action, condition } => {
                    tcp_connection.push((*action, acls.optional(condition)?))
                }
                TcpRequestRule::Content { action, condition } => {
                    tcp_content.push((*action, acls.optional(condition)?))
                }
                TcpRequestRule::InspectDelay(d) => {
                    inspect_delay = Some(*d).filter(|d| !d.is_zero())
                }
            }
        }
        let stats = match &proxy.stats {
            Some(st) => {
                crate::analysis::stats_page::StatsPage::compile(&proxy.name, st, &mut acls)?
                    .map(std::sync::Arc::new)
            }
            None => None,
        };
        let monitor_fail = proxy
            .monitor_fail
            .iter()
            .map(|c| acls.condition(c))
            .collect::<Result<_, _>>()?;
        let persist = proxy
            .persist_rules
            .iter()
            .map(|r| Ok((r.kind, acls.condition(&r.condition)?)))
            .collect::<Result<_, String>>()?;
        Ok(Self {
            persist,
            acls: acls.finish(),
            use_backends,
            http_request,
            http_response,
            tcp_connection,
            tcp_content,
            inspect_delay,
            monitor_uri: proxy.monitor_uri.clone(),
            monitor_net: proxy.monitor_net.clone(),
            monitor_fail,
            tarpit: proxy
                .timeouts
                .tarpit
                .or(proxy.timeouts.connect)
                .unwrap_or(Duration::ZERO),
            stats,
        })
    }

    /// `tcp-request connection` (or `content`) rules: whether the connection is accepted.
    /// The first rule whose condition holds decides; none means accept.
    pub fn tcp_accepts(
        rules: &[(TcpAction, Option<Cond>)],
        acls: &AclTable,
        txn: &Txn<'_>,
    ) -> bool {
        Self::tcp_verdict(rules, acls, txn) != TcpVerdict::Reject
    }

    /// The rules' verdict, or `Wait` when a condition before the deciding rule needs bytes
    /// a `mode tcp` stream has not buffered yet (only while `txn.payload` is not done). As
    /// in HAProxy, rules run in order and an undecided one stops them until more bytes
    /// come or the inspect-delay ends.
    pub fn tcp_verdict(
        rules: &[(TcpAction, Option<Cond>)],
        acls: &AclTable,
        txn: &Txn<'_>,
    ) -> TcpVerdict {
        for (action, cond) in rules {
            let test = match cond {
                Some(c) => c.test(acls, txn),
                None => Test::Pass,
            };
            match (test, action) {
                (Test::Miss, _) => return TcpVerdict::Wait,
                (Test::Fail, _) => {}
                (Test::Pass, TcpAction::Accept) => return TcpVerdict::Accept,
                (Test::Pass, TcpAction::Reject) => return TcpVerdict::Reject,
            }
        }
        TcpVerdict::Accept
    }

    /// Whether a `monitor fail` condition holds: the monitor URI then answers 503.
    pub fn monitor_failing(&self, txn: &Txn<'_>) -> bool {
        self.monitor_fail.iter().any(|c| c.holds(&self.acls, txn))
    }

    /// The backend for a request: the first `use_backend` whose condition holds, else
    /// `default`. A dynamic name naming no backend falls through to `default`, as in HAProxy.
    pub fn choose_backend<'s>(
        &'s self,
        txn: &Txn<'_>,
        exists: &dyn Fn(&str) -> bool,
        default: Option<&'s str>,
    ) -> Option<std::borrow::Cow<'s, str>> {
        for (target, cond) in &self.use_backends {
            if !applies(cond, &self.acls, txn) {
                continue;
            }
            return match target {
                BackendTarget::Static(n) => Some(n.as_str().into()),
                BackendTarget::Dynamic(lf) => {
                    let mut name = Vec::new();
                    render(lf, txn, &mut name);
                    match String::from_utf8(name) {
                        Ok(n) if exists(&n) => Some(n.into()),
                        _ => default.map(Into::into),
                    }
                }
            };
        }
        default.map(Into::into)
    }

    /// Runs the `http-request` rules in order, collecting rewrites into `edits`, until one
    /// stops evaluation (allow, deny, tarpit, auth, redirect, return). Each rule's condition
    /// and values see the request as the rules before it rewrote it.
    pub fn http_request<'s>(&'s self, txn: &Txn<'_>, edits: &mut HeadEdits) -> RequestVerdict<'s> {
        for (action, cond) in &self.http_request {
            let view = txn.with_edits(edits);
            if !applies(cond, &self.acls, &view) {
                continue;
            }
            let fmt = |lf: &LogFormat| {
                let mut v = Vec::new();
                render(lf, &view, &mut v);
                v
            };
            let (buf, req) = (txn.buf, txn.req);
            match action {
                RequestAction::Allow => return RequestVerdict::Pass,
                RequestAction::Deny(s) => return RequestVerdict::Deny(s),
                RequestAction::Tarpit(s) => return RequestVerdict::Tarpit(s),
                RequestAction::Auth { realm } => return RequestVerdict::Auth(realm),
                RequestAction::Redirect(r) => return RequestVerdict::Redirect(r),
                RequestAction::Return(s) => return RequestVerdict::Return(s),
                RequestAction::Service(svc) => return RequestVerdict::Service(*svc),
                RequestAction::Header(op) => {
                    let value = op.format().map(fmt).unwrap_or_default();
                    if let Some(h) = req {
                        edits.apply_header(op, value, buf, &h.headers);
                    }
                }
                RequestAction::SetMethod(lf) => {
                    let m = fmt(lf);
                    edits.method = Some(m);
                }
                RequestAction::SetUri(lf) => {
                    let t = fmt(lf);
                    edits.target = Some(t);
                }
                RequestAction::SetPath(lf) => {
                    let path = fmt(lf);
                    edits.set_path(txn, |_, q| (path, q.map(<[u8]>::to_vec)));
                }
                RequestAction::SetPathq(lf) => {
                    let pq = fmt(lf);
                    edits.set_target_from(txn, |_| Some(pq));
                }
                RequestAction::SetQuery(lf) => {
                    let q = fmt(lf);
                    edits.set_path(txn, |p, _| (p.to_vec(), (!q.is_empty()).then_some(q)));
                }
                RequestAction::ReplacePath { regex, replacement } => {
                    let rep = fmt(replacement);
                    edits.set_path(txn, |p, q| {
                        let p = match regex.captures(p) {
                            Some(c) => expand(&rep, &c),
                            None => p.to_vec(),
                        };
                        (p, q.map(<[u8]>::to_vec))
                    });
                }
                RequestAction::ReplacePathq { regex, replacement } => {
                    let rep = fmt(replacement);
                    edits.set_target_from(txn, |pq| regex.captures(pq).map(|c| expand(&rep, &c)));
                }
                RequestAction::ReplaceUri { regex, replacement } => {
                    let rep = fmt(replacement);
                    let uri = edits.target(txn).to_vec();
                    if let Some(c) = regex.captures(&uri) {
                        edits.target = Some(expand(&rep, &c));
                    }
                }
                RequestAction::Store(op) => op.run(&view),
                RequestAction::NoEffect => {}
            }
        }
        RequestVerdict::Pass
    }

    /// Runs the `http-response` rules in order until one replaces the response or allows it.
    pub fn http_response<'s>(
        &'s self,
        txn: &Txn<'_>,
        edits: &mut HeadEdits,
    ) -> ResponseVerdict<'s> {
        let Some((buf, res)) = txn.res else {
            return ResponseVerdict::Pass;
        };
        for (action, cond) in &self.http_response {
            if !applies(cond, &self.acls, txn) {
                continue;
            }
            let fmt = |lf: &LogFormat| {
                let mut v = Vec::new();
                render(lf, txn, &mut v);
                v
            };
            match action {
                ResponseAction::Allow => return ResponseVerdict::Pass,
                ResponseAction::Deny(s) => return ResponseVerdict::Deny(s),
                ResponseAction::Return(s) => return ResponseVerdict::Return(s),
                ResponseAction::Redirect(r) => return ResponseVerdict::Redirect(r),
                ResponseAction::Header(op) => {
                    let value = op.format().map(fmt).unwrap_or_default();
                    edits.apply_header(op, value, buf, &res.headers)
                }
                ResponseAction::SetStatus { status, reason } => {
                    edits.status = Some((*status, reason.clone()))
                }
                ResponseAction::Store(op) => op.run(txn),
            }
        }
        ResponseVerdict::Pass
    }
}

impl HeadEdits {
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
}
