//! `option tcp-check`: a sequence of connect, send and expect rules run over one connection
//! (a `connect` rule opens a new one). The protocol checks (redis, smtp, mysql, pgsql, ldap)
//! are such sequences too, built in their own files.
//!
//! An expect rule reads until its pattern matches, the buffer is full, the peer closes or the
//! check's time is up, as HAProxy does; a rule that cannot match yet waits for more bytes.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use regex::bytes::Regex;
use ringlb_config::model::{
    Proxy, StatusCodeExpr, TcpCheckAction, TcpCheckExpect, TcpCheckMatch, TcpCheckStatus,
};

use super::stream::{CheckStream, Stall};
use super::{connect, os_error_text, Target};
use crate::status::{CheckResult, CheckStatus};
use crate::wording;

/// A compiled rule sequence.
#[derive(Debug, Clone)]
pub struct TcpCheckProbe {
    steps: Vec<Step>,
    /// A protocol check: failures carry the protocol's own words, not the generic ones.
    protocol: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// The rule's place in the configuration, counted from 1; 0 for the implicit connect.
    pub id: usize,
    pub comment: Option<String>,
    pub kind: StepKind,
}

#[derive(Debug, Clone)]
pub(crate) enum StepKind {
    Connect {
        port: Option<u16>,
        addr: Option<IpAddr>,
        /// The PROXY header it starts with: `Own` for `send-proxy`, `Default` for a
        /// `default` or implicit connect, which follows the server's check settings.
        proxy: ConnectProxy,
    },
    Send(Vec<u8>),
    Expect(Box<Expect>),
}

/// Whether a `tcp-check connect` starts with a PROXY header, as HAProxy decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectProxy {
    /// No header.
    None,
    /// `send-proxy`: the header, in the server's version.
    Own,
    /// `default`, or the implicit first connect: the header when the server's checks send
    /// one (`check-send-proxy`, or `send-proxy` with no check port nor address).
    Default,
}

#[derive(Debug, Clone)]
pub(crate) struct Expect {
    pub min_recv: Option<usize>,
    pub ok: CheckStatus,
    pub error: CheckStatus,
    pub timeout: CheckStatus,
    pub on_success: Option<Info>,
    pub on_error: Option<Info>,
    pub code: Option<StatusCodeExpr>,
    pub negate: bool,
    pub matcher: Matcher,
}

impl Expect {
    /// An expectation with HAProxy's default statuses and no options.
    pub fn new(matcher: Matcher) -> Self {
        Self {
            min_recv: None,
            ok: CheckStatus::L7Ok,
            error: CheckStatus::L7Rsp,
            timeout: CheckStatus::L7Timeout,
            on_success: None,
            on_error: None,
            code: None,
            negate: false,
            matcher,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    String(Vec<u8>),
    Rstring(Regex),
    Binary(Vec<u8>),
    /// Matched against the response written in upper-case hex.
    Rbinary(Regex),
    /// A protocol's own reading of the response.
    Custom(fn(&[u8], bool) -> Custom),
}

/// What a protocol's own reading of the response decided.
pub(crate) enum Custom {
    Wait,
    /// Passed; the info to log if this is the last rule.
    Pass(Option<String>),
    Fail(CheckResult),
}

/// The info logged with a result.
#[derive(Debug, Clone)]
pub(crate) enum Info {
    Text(String),
    /// The response from byte `from`, up to its first line end, leading blanks trimmed
    /// when `ltrim`.
    Payload {
        from: usize,
        ltrim: bool,
    },
}

impl Info {
    fn render(&self, buf: &[u8]) -> String {
        match self {
            Info::Text(t) => t.clone(),
            Info::Payload { from, ltrim } => {
                let rest = buf.get(*from..).unwrap_or(&[]);
                let end = rest
                    .iter()
                    .position(|&b| matches!(b, b'\r' | b'\n' | 0))
                    .unwrap_or(rest.len());
                let text = String::from_utf8_lossy(&rest[..end]).into_owned();
                if *ltrim {
                    text.trim_start_matches(' ').to_string()
                } else {
                    text
                }
            }
        }
    }
}

fn status(s: TcpCheckStatus) -> CheckStatus {
    match s {
        TcpCheckStatus::L7Ok => CheckStatus::L7Ok,
        TcpCheckStatus::L7OkC => CheckStatus::L7OkCond,
        TcpCheckStatus::L6Ok => CheckStatus::L6Ok,
        TcpCheckStatus::L4Ok => CheckStatus::L4Ok,
        TcpCheckStatus::L7Rsp => CheckStatus::L7Rsp,
        TcpCheckStatus::L7Sts => CheckStatus::L7Sts,
        TcpCheckStatus::L6Rsp => CheckStatus::L6Rsp,
        TcpCheckStatus::L4Con => CheckStatus::L4Con,
        TcpCheckStatus::L7Tout => CheckStatus::L7Timeout,
        TcpCheckStatus::L6Tout => CheckStatus::L6Timeout,
        TcpCheckStatus::L4Tout => CheckStatus::L4Timeout,
    }
}

fn upper_hex(b: &[u8]) -> String {
    ringlb_config::tcpcheck::hex(b)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// How one expect rule judged the bytes so far.
enum Eval {
    Wait,
    Pass(Option<String>),
    Fail(CheckResult),
}

impl TcpCheckProbe {
    /// The sequence `proxy`'s `tcp-check` rules describe; `None` when it has none.
    pub fn from_proxy(proxy: &Proxy) -> Result<Option<Self>, String> {
        if proxy.tcp_check.is_empty() {
            return Ok(None);
        }
        let regex = |r: &str| Regex::new(r).map_err(|e| format!("invalid regex '{r}': {e}"));
        let mut steps = Vec::new();
        // A `tcp-check comment` names the rules that follow it, up to the next change of
        // action; a connect uses it up.
        let mut comment: Option<String> = None;
        let mut prev: Option<std::mem::Discriminant<TcpCheckAction>> = None;
        for (i, rule) in proxy.tcp_check.iter().enumerate() {
            let this = std::mem::discriminant(&rule.action);
            if let Some(p) = prev {
                let was_comment =
                    matches!(proxy.tcp_check[i - 1].action, TcpCheckAction::Comment(_));
                if p != this && !was_comment {
                    comment = None;
                }
            }
            prev = Some(this);
            let own = rule.comment.clone().or_else(|| comment.clone());
            let kind = match &rule.action {
                TcpCheckAction::Comment(text) => {
                    comment = Some(text.clone());
                    continue;
                }
                TcpCheckAction::Connect(c) => {
                    comment = None;
                    StepKind::Connect {
                        port: c.port,
                        addr: c.addr,
                        proxy: match (c.send_proxy, c.default) {
                            (true, _) => ConnectProxy::Own,
                            (false, true) => ConnectProxy::Default,
                            (false, false) => ConnectProxy::None,
                        },
                    }
                }
                TcpCheckAction::Send { data, .. } => StepKind::Send(data.clone()),
                TcpCheckAction::Expect(e) => StepKind::Expect(Box::new(compile_expect(e, &regex)?)),
            };
            steps.push(Step {
                id: i + 1,
                comment: own,
                kind,
            });
        }
        Ok(Some(Self::new(steps, false)))
    }

    /// A protocol check's built-in sequence: `kinds` numbered from `first` as HAProxy counts
    /// its steps, without comments.
    pub(crate) fn protocol(kinds: Vec<StepKind>, first: usize) -> Self {
        let steps = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Step {
                id: i + first,
                comment: None,
                kind,
            })
            .collect();
        Self::new(steps, true)
    }

    /// A sequence; an implicit connect is put first when it does not start with one.
    pub(crate) fn new(mut steps: Vec<Step>, protocol: bool) -> Self {
        if !matches!(
            steps.first().map(|s| &s.kind),
            Some(StepKind::Connect { .. })
        ) {
            steps.insert(
                0,
                Step {
                    id: 0,
                    comment: None,
                    kind: StepKind::Connect {
                        port: None,
                        addr: None,
                        proxy: ConnectProxy::Default,
                    },
                },
            );
        }
        Self { steps, protocol }
    }

    /// The port of the first connect rule, for servers that name no port themselves.
    pub fn first_port(&self) -> Option<u16> {
        match self.steps.first().map(|s| &s.kind) {
            Some(StepKind::Connect { port, .. }) => *port,
            _ => None,
        }
    }

    /// Runs the sequence against `target`.
    pub async fn run(&self, target: &Target) -> CheckResult {
        let mut conn: Option<CheckStream> = None;
        // Every connection's exchange ends by the same deadline, set at the first one.
        let mut deadline: Option<Instant> = None;
        let mut last: Option<&Step> = None;
        let mut must_read = true;
        let mut pass_info: Option<String> = None;
        let n = self.steps.len();
        for (i, step) in self.steps.iter().enumerate() {
            last = Some(step);
            match &step.kind {
                StepKind::Connect { port, addr, proxy } => {
                    drop(conn.take());
                    let addr = SocketAddr::new(
                        addr.unwrap_or(target.addr.ip()),
                        port.unwrap_or(target.addr.port()),
                    );
                    let mut t = *target;
                    t.addr = addr;
                    t.proxy = match proxy {
                        ConnectProxy::None => None,
                        ConnectProxy::Own => Some(target.proxy_version),
                        ConnectProxy::Default => target.proxy,
                    };
                    if let Some(d) = deadline {
                        t.connect_timeout = t
                            .connect_timeout
                            .min(d.saturating_duration_since(Instant::now()));
                    }
                    match connect(&t).await {
                        Ok(s) => {
                            let d = *deadline
                                .get_or_insert_with(|| Instant::now() + target.response_timeout);
                            conn = Some(CheckStream::new(s, d));
                            must_read = true;
                        }
                        Err(mut r) => {
                            r.info = self.where_(step, r.info.take());
                            return r;
                        }
                    }
                }
                StepKind::Send(data) => {
                    let c = conn.as_mut().expect("a connect comes first");
                    if let Err(stall) = c.send(data).await {
                        return self.stalled(step, stall);
                    }
                    must_read = true;
                }
                StepKind::Expect(e) => {
                    let c = conn.as_mut().expect("a connect comes first");
                    if must_read {
                        if let Err(stall) = c.read_more().await {
                            return self.stalled(step, stall);
                        }
                        must_read = false;
                    }
                    loop {
                        match self.judge(step, e, &c.buf, c.last_read()) {
                            Eval::Wait => {
                                if let Err(stall) = c.read_more().await {
                                    return self.stalled(step, stall);
                                }
                            }
                            Eval::Pass(info) => {
                                if i + 1 == n {
                                    pass_info = info;
                                }
                                break;
                            }
                            Eval::Fail(r) => return r,
                        }
                    }
                }
            }
        }
        let buf = conn.as_ref().map(|c| c.buf.as_slice()).unwrap_or(&[]);
        match last.map(|s| (&s.kind, s.id)) {
            Some((StepKind::Expect(e), _)) => {
                let info = pass_info
                    .or_else(|| e.on_success.as_ref().map(|i| i.render(buf)))
                    .or_else(|| (!self.protocol).then(|| "(tcp-check)".to_string()));
                let mut r = CheckResult::new(e.ok);
                r.info = info;
                r.code = status_code(e, buf);
                r
            }
            Some((StepKind::Connect { .. }, 0)) => CheckResult::new(CheckStatus::L4Ok),
            Some((StepKind::Connect { .. }, _)) => {
                CheckResult::new(CheckStatus::L4Ok).with_info("(tcp-check)")
            }
            _ => CheckResult::new(CheckStatus::L7Ok).with_info("(tcp-check)"),
        }
    }

    /// Holds the bytes read so far against one expect rule.
    fn judge(&self, step: &Step, e: &Expect, buf: &[u8], last_read: bool) -> Eval {
        if !last_read && e.min_recv.is_some_and(|n| buf.len() < n) {
            return Eval::Wait;
        }
        let matched = match &e.matcher {
            Matcher::String(p) | Matcher::Binary(p) => {
                if !last_read && buf.len() < p.len() {
                    return Eval::Wait;
                }
                contains(buf, p)
            }
            Matcher::Rstring(re) => re.is_match(buf),
            Matcher::Rbinary(re) => re.is_match(upper_hex(buf).as_bytes()),
            Matcher::Custom(f) if !buf.is_empty() => match f(buf, last_read) {
                Custom::Wait if !last_read => return Eval::Wait,
                Custom::Wait => {
                    return Eval::Fail(self.failed(step, e, buf, false, None, CheckStatus::L7Rsp))
                }
                Custom::Pass(info) => return Eval::Pass(info),
                Custom::Fail(r) => {
                    let status = r.status;
                    let code = r.code;
                    let mut f = self.failed(step, e, buf, false, r.info, status);
                    f.code = code.or(f.code);
                    return Eval::Fail(f);
                }
            },
            Matcher::Custom(_) => false,
        };
        if !matched && !last_read && e.min_recv.is_none() {
            return Eval::Wait;
        }
        if matched != e.negate {
            Eval::Pass(None)
        } else {
            Eval::Fail(self.failed(step, e, buf, matched, None, e.error))
        }
    }

    /// The result of a failed expect rule, with HAProxy's info.
    fn failed(
        &self,
        step: &Step,
        e: &Expect,
        buf: &[u8],
        matched: bool,
        info: Option<String>,
        status: CheckStatus,
    ) -> CheckResult {
        let text = if let Some(i) = info {
            Some(i)
        } else if let Some(i) = &e.on_error {
            Some(i.render(buf))
        } else if buf.is_empty() {
            Some(wording::tcpchk_empty(step.id))
        } else if self.protocol {
            None
        } else {
            let what = match &e.matcher {
                Matcher::String(p) => wording::Pattern::String(String::from_utf8_lossy(p).into()),
                Matcher::Binary(_) => wording::Pattern::Binary,
                Matcher::Rstring(_) => wording::Pattern::Regex,
                Matcher::Rbinary(_) => wording::Pattern::BinaryRegex,
                Matcher::Custom(_) => wording::Pattern::Custom,
            };
            Some(wording::tcpchk_mismatch(matched, &what, step.id))
        };
        let text = wording::with_comment(text, step.comment.as_deref());
        let mut r = CheckResult::new(status);
        r.info = text;
        r.code = status_code(e, buf);
        r
    }

    /// A read or write that timed out or failed during `step`.
    fn stalled(&self, step: &Step, stall: Stall) -> CheckResult {
        let (status, os) = match stall {
            Stall::TimedOut => (
                match &step.kind {
                    StepKind::Expect(e) => e.timeout,
                    _ => CheckStatus::L7Timeout,
                },
                None,
            ),
            Stall::Failed(e) => (CheckStatus::SockErr, Some(os_error_text(&e))),
        };
        let mut r = CheckResult::new(status);
        r.info = self.where_(step, os);
        r
    }

    /// The OS error (if any) followed by where in the sequence it happened; protocol
    /// checks name no step.
    fn where_(&self, step: &Step, os: Option<String>) -> Option<String> {
        if self.protocol {
            return os;
        }
        let at = match &step.kind {
            StepKind::Connect { port, .. } => wording::TcpchkStep::Connect(step.id, *port),
            StepKind::Send(_) => wording::TcpchkStep::Send(step.id),
            StepKind::Expect(e) => wording::TcpchkStep::Expect(
                step.id,
                match &e.matcher {
                    Matcher::String(p) => {
                        wording::Pattern::String(String::from_utf8_lossy(p).into())
                    }
                    Matcher::Binary(p) => wording::Pattern::BinaryBytes(upper_hex(p)),
                    Matcher::Rstring(_) => wording::Pattern::Regex,
                    Matcher::Rbinary(_) => wording::Pattern::BinaryRegex,
                    Matcher::Custom(_) => wording::Pattern::Custom,
                },
            ),
        };
        Some(wording::tcpchk_where(
            os.as_deref(),
            &at,
            step.comment.as_deref(),
        ))
    }
}

fn status_code(e: &Expect, buf: &[u8]) -> Option<u16> {
    match e.code.as_ref()? {
        StatusCodeExpr::Int(n) => u16::try_from(*n).ok(),
        StatusCodeExpr::Payload { offset, length } => {
            let from = *offset as usize;
            let digits = buf.get(from..from + *length as usize)?;
            std::str::from_utf8(digits).ok()?.parse().ok()
        }
    }
}

fn compile_expect(
    e: &TcpCheckExpect,
    regex: &dyn Fn(&str) -> Result<Regex, String>,
) -> Result<Expect, String> {
    let matcher = match &e.matcher {
        TcpCheckMatch::String(s) => Matcher::String(s.clone()),
        TcpCheckMatch::Binary(b) => Matcher::Binary(b.clone()),
        TcpCheckMatch::Rstring(r) => Matcher::Rstring(regex(r)?),
        TcpCheckMatch::Rbinary(r) => Matcher::Rbinary(regex(r)?),
    };
    let mut x = Expect::new(matcher);
    x.min_recv = e.min_recv.map(|n| n as usize);
    x.ok = e.ok_status.map(status).unwrap_or(CheckStatus::L7Ok);
    x.error = e.error_status.map(status).unwrap_or(CheckStatus::L7Rsp);
    x.timeout = e.tout_status.map(status).unwrap_or(CheckStatus::L7Timeout);
    x.on_success = e.on_success.clone().map(Info::Text);
    x.on_error = e.on_error.clone().map(Info::Text);
    x.code = e.status_code.clone();
    x.negate = e.negate;
    Ok(x)
}
