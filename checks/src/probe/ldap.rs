//! `option ldap-check`: an anonymous LDAPv3 simple bind; the server passes when its
//! bindResponse carries resultCode success (RFC 4511 §4.2.2, §4.1.9).

use super::tcp_check::{Custom, Expect, Info, Matcher, StepKind, TcpCheckProbe};
use crate::status::{CheckResult, CheckStatus};

/// BindRequest, messageID 1, version 3, empty name, empty simple password, in BER.
pub const ANONYMOUS_BIND: &[u8] = &[
    0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00,
];

const NOT_LDAP: &str = "Not LDAPv3 protocol";

/// A BER length at `b[at..]`: (value, bytes it took); `None` when not all there yet.
fn ber_len(b: &[u8], at: usize) -> Option<Result<(usize, usize), ()>> {
    let first = *b.get(at)?;
    if first & 0x80 == 0 {
        return Some(Ok((usize::from(first), 1)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return Some(Err(()));
    }
    let bytes = b.get(at + 1..at + 1 + n)?;
    let v = bytes.iter().fold(0usize, |v, &x| (v << 8) | usize::from(x));
    Some(Ok((v, 1 + n)))
}

/// Reads the bindResponse (the first byte, a SEQUENCE, was checked by the rule before).
pub(crate) fn bind_response(b: &[u8], last: bool) -> Custom {
    let short = || {
        if last {
            Custom::Fail(CheckResult::new(CheckStatus::L7Rsp).with_info(NOT_LDAP))
        } else {
            Custom::Wait
        }
    };
    let bad = || Custom::Fail(CheckResult::new(CheckStatus::L7Rsp).with_info(NOT_LDAP));
    let (msg_len, took) = match ber_len(b, 1) {
        None => return short(),
        Some(Err(())) => return bad(),
        Some(Ok(v)) => v,
    };
    let start = 1 + took;
    if b.len() < start + msg_len {
        return short();
    }
    // messageID INTEGER 1, then [APPLICATION 1] bindResponse.
    if b.get(start..start + 4) != Some(&[0x02, 0x01, 0x01, 0x61][..]) {
        return bad();
    }
    let (_, took) = match ber_len(b, start + 4) {
        None => return short(),
        Some(Err(())) => return bad(),
        Some(Ok(v)) => v,
    };
    let result = start + 4 + took;
    // resultCode ENUMERATED.
    match b.get(result..result + 3) {
        None => short(),
        Some([0x0a, 0x01, 0]) => Custom::Pass(Some("Success".into())),
        Some([0x0a, 0x01, code]) => Custom::Fail(
            CheckResult::new(CheckStatus::L7Sts)
                .with_code(u16::from(*code))
                .with_info("See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9"),
        ),
        Some(_) => bad(),
    }
}

pub fn probe() -> TcpCheckProbe {
    let mut sequence = Expect::new(Matcher::Rbinary(
        regex::bytes::Regex::new("^30").expect("fixed regex"),
    ));
    sequence.min_recv = Some(14);
    sequence.on_error = Some(Info::Text(NOT_LDAP.into()));
    TcpCheckProbe::protocol(
        vec![
            StepKind::Send(ANONYMOUS_BIND.to_vec()),
            StepKind::Expect(Box::new(sequence)),
            StepKind::Expect(Box::new(Expect::new(Matcher::Custom(bind_response)))),
        ],
        1,
    )
}
