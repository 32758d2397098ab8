//! What rule actions store on a stream: variables (`set-var`, read by `var()`), capture
//! values (`http-request capture`) and the log level (`set-log-level`). A stream holds a
//! [`Vars`] that stays empty, without allocating, until a rule writes into it; the `proc`
//! scope is one map for the whole process, locked only by rules that use it.

use std::borrow::Cow;
use std::cell::{Ref, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};

use ringlb_config::model::{self, Proxy};
use ringlb_config::rules::{HttpRequestAction, LogLevel, VarName, VarScope};

use crate::stream::sample::Sample;

/// A stored sample, owning its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Str(Vec<u8>),
}

impl Value {
    pub fn of(s: Sample<'_>) -> Self {
        match s {
            Sample::Bool(b) => Value::Bool(b),
            Sample::Int(n) => Value::Int(n),
            Sample::Ip(ip) => Value::Ip(ip),
            Sample::Str(b) => Value::Str(b.into_owned()),
        }
    }

    fn sample<'a>(self) -> Sample<'a> {
        match self {
            Value::Bool(b) => Sample::Bool(b),
            Value::Int(n) => Sample::Int(n),
            Value::Ip(ip) => Sample::Ip(ip),
            Value::Str(b) => Sample::Str(Cow::Owned(b)),
        }
    }
}

/// Which side a capture slot belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureSide {
    Request,
    Response,
}

/// The lengths of the request capture slots `http-request capture … len N` adds to a
/// frontend, after its `capture request header` slots, in configuration order.
pub fn rule_capture_lens(p: &Proxy) -> impl Iterator<Item = usize> + '_ {
    p.http_request
        .iter()
        .filter(move |_| p.kind.has_frontend())
        .filter_map(|r| match &r.action {
            HttpRequestAction::Capture { len, id: None, .. } => Some(*len as usize),
            _ => None,
        })
}

/// How many `capture … header` slots `p` declares on `side`.
pub fn declared_captures(p: &Proxy, side: CaptureSide) -> Vec<usize> {
    let want = match side {
        CaptureSide::Request => model::CaptureSide::Request,
        CaptureSide::Response => model::CaptureSide::Response,
    };
    p.captures
        .iter()
        .filter(|c| c.side == want)
        .map(|c| c.len as usize)
        .collect()
}

/// The `proc` scope: shared by every worker of the process.
fn proc_vars() -> &'static Mutex<HashMap<String, Value>> {
    static PROC: OnceLock<Mutex<HashMap<String, Value>>> = OnceLock::new();
    PROC.get_or_init(Default::default)
}

#[derive(Debug, Default)]
struct Store {
    /// `sess`, `txn`, `req` and `res` variables; a handful per stream, so a list.
    vars: Vec<(VarScope, String, Value)>,
    captures: Vec<(CaptureSide, usize, Vec<u8>)>,
    log_level: Option<LogLevel>,
    /// The request's `unique-id`, once built.
    unique_id: Option<Vec<u8>>,
    /// The request's number (`%rt`), once something asked for it.
    request_number: Option<u64>,
}

/// One stream's rule-written state (a client connection's, across its requests).
#[derive(Debug, Default)]
pub struct Vars {
    store: RefCell<Option<Box<Store>>>,
}

impl Vars {
    fn with_store(&self, f: impl FnOnce(&mut Store)) {
        let mut s = self.store.borrow_mut();
        f(s.get_or_insert_with(Default::default));
    }

    /// Stores `value` in `var`, replacing what was there.
    pub fn set(&self, var: &VarName, value: Value) {
        if var.scope == VarScope::Proc {
            let mut p = proc_vars().lock().unwrap_or_else(|e| e.into_inner());
            p.insert(var.name.clone(), value);
            return;
        }
        self.with_store(|s| {
            match s
                .vars
                .iter_mut()
                .find(|(sc, n, _)| *sc == var.scope && *n == var.name)
            {
                Some(slot) => slot.2 = value,
                None => s.vars.push((var.scope, var.name.clone(), value)),
            }
        });
    }

    pub fn unset(&self, var: &VarName) {
        if var.scope == VarScope::Proc {
            let mut p = proc_vars().lock().unwrap_or_else(|e| e.into_inner());
            p.remove(&var.name);
            return;
        }
        if let Some(s) = self.store.borrow_mut().as_mut() {
            s.vars
                .retain(|(sc, n, _)| !(*sc == var.scope && *n == var.name));
        }
    }

    /// The value of `var`, copied out (reads are rare and the store may change after).
    pub fn get<'a>(&self, var: &VarName) -> Option<Sample<'a>> {
        if var.scope == VarScope::Proc {
            let p = proc_vars().lock().unwrap_or_else(|e| e.into_inner());
            return p.get(&var.name).cloned().map(Value::sample);
        }
        let s = self.store.borrow();
        let (_, _, v) = s
            .as_ref()?
            .vars
            .iter()
            .find(|(sc, n, _)| *sc == var.scope && *n == var.name)?;
        Some(v.clone().sample())
    }

    /// `var` as a fetch reads it: through the stream's store, or the process map for
    /// `proc` even where a stream has none (`tcp-request connection` rules).
    pub fn read<'a>(vars: Option<&Vars>, var: &VarName) -> Option<Sample<'a>> {
        match vars {
            Some(v) => v.get(var),
            None if var.scope == VarScope::Proc => Vars::default().get(var),
            None => None,
        }
    }

    /// Keeps `value` for capture slot `slot` of `side`, replacing an earlier one.
    pub fn capture(&self, side: CaptureSide, slot: usize, value: Vec<u8>) {
        self.with_store(|s| {
            s.captures.retain(|(sd, i, _)| !(*sd == side && *i == slot));
            s.captures.push((side, slot, value));
        });
    }

    /// The values rules captured, as (side, slot, bytes).
    pub fn captures(&self) -> Ref<'_, [(CaptureSide, usize, Vec<u8>)]> {
        Ref::map(self.store.borrow(), |s| {
            s.as_ref().map_or(&[][..], |s| &s.captures[..])
        })
    }

    pub fn set_log_level(&self, level: LogLevel) {
        self.with_store(|s| s.log_level = Some(level));
    }

    /// The level a rule chose for this request's log line.
    pub fn log_level(&self) -> Option<LogLevel> {
        self.store.borrow().as_ref().and_then(|s| s.log_level)
    }

    pub fn set_unique_id(&self, id: Vec<u8>) {
        self.with_store(|s| s.unique_id = Some(id));
    }

    /// The request's unique ID, copied out.
    pub fn unique_id(&self) -> Option<Vec<u8>> {
        self.store.borrow().as_ref()?.unique_id.clone()
    }

    /// The request's number, taken from `next` the first time it is asked for.
    pub fn request_number(&self, next: impl FnOnce() -> u64) -> u64 {
        let mut n = 0;
        self.with_store(|s| n = *s.request_number.get_or_insert_with(next));
        n
    }

    /// The request part of the exchange is over: `req` variables end.
    pub fn end_request(&self) {
        if let Some(s) = self.store.borrow_mut().as_mut() {
            s.vars.retain(|(sc, _, _)| *sc != VarScope::Req);
        }
    }

    /// A new request starts on the connection: only `sess` variables remain.
    pub fn next_transaction(&self) {
        if let Some(s) = self.store.borrow_mut().as_mut() {
            s.vars.retain(|(sc, _, _)| *sc == VarScope::Sess);
            s.captures.clear();
            s.log_level = None;
            s.unique_id = None;
            s.request_number = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(s: &str) -> VarName {
        VarName::parse(s).unwrap()
    }

    fn text(s: Option<Sample<'_>>) -> Option<Vec<u8>> {
        match s {
            Some(Sample::Str(b)) => Some(b.into_owned()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unused_store_holds_nothing() {
        let v = Vars::default();
        assert!(v.store.borrow().is_none());
        assert_eq!(v.get(&var("txn.x")), None);
        v.next_transaction();
        assert!(v.store.borrow().is_none());
    }

    #[test]
    fn scopes_end_with_their_request_transaction_or_session() {
        let v = Vars::default();
        for (name, val) in [("sess.a", "1"), ("txn.b", "2"), ("req.c", "3")] {
            v.set(&var(name), Value::Str(val.into()));
        }
        v.set(&var("txn.b"), Value::Str(b"22".to_vec()));
        assert_eq!(text(v.get(&var("txn.b"))), Some(b"22".to_vec()));
        v.end_request();
        assert_eq!(v.get(&var("req.c")), None);
        assert!(v.get(&var("txn.b")).is_some());
        v.next_transaction();
        assert_eq!(v.get(&var("txn.b")), None);
        assert_eq!(text(v.get(&var("sess.a"))), Some(b"1".to_vec()));
        v.unset(&var("sess.a"));
        assert_eq!(v.get(&var("sess.a")), None);
    }

    #[test]
    fn proc_variables_are_seen_by_every_stream() {
        let (a, b) = (Vars::default(), Vars::default());
        a.set(&var("proc.vars_unit_test"), Value::Int(7));
        assert_eq!(b.get(&var("proc.vars_unit_test")), Some(Sample::Int(7)));
        assert!(b.store.borrow().is_none(), "proc needs no stream storage");
        b.unset(&var("proc.vars_unit_test"));
        assert_eq!(a.get(&var("proc.vars_unit_test")), None);
    }

    #[test]
    fn captures_replace_per_slot_and_end_with_the_transaction() {
        let v = Vars::default();
        v.capture(CaptureSide::Request, 1, b"x".to_vec());
        v.capture(CaptureSide::Request, 1, b"y".to_vec());
        v.capture(CaptureSide::Response, 1, b"z".to_vec());
        let got = |side, i| {
            v.captures()
                .iter()
                .find(|(s, j, _)| *s == side && *j == i)
                .map(|(_, _, b)| b.clone())
        };
        assert_eq!(got(CaptureSide::Request, 1), Some(b"y".to_vec()));
        assert_eq!(got(CaptureSide::Response, 1), Some(b"z".to_vec()));
        assert_eq!(got(CaptureSide::Request, 0), None);
        v.next_transaction();
        assert_eq!(got(CaptureSide::Request, 1), None);
    }
}
