//! A sample: the value a fetch yields and converters, ACL matchers and variables take.

use std::borrow::Cow;
use std::net::IpAddr;

/// One value produced by a fetch, after converters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample<'a> {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    /// Borrowed from the buffer unless a converter had to build a new value.
    Str(Cow<'a, [u8]>),
}

impl Sample<'_> {
    /// The value as an integer: strings are read as leading decimal digits, as HAProxy does.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Sample::Bool(b) => Some(i64::from(*b)),
            Sample::Int(n) => Some(*n),
            Sample::Ip(_) => None,
            Sample::Str(s) => parse_int(s),
        }
    }
}

pub fn parse_int(s: &[u8]) -> Option<i64> {
    let s = crate::codec::head::trim(s);
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in &digits[..end] {
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -n } else { n })
}
