//! `option mysql-check [user NAME [post-41|pre-41]]`: the server's initial handshake must
//! arrive; with a user, a client authentication packet (and COM_QUIT) is sent and the reply
//! must not be an error packet (0xff) either.

use ringlb_config::model::MysqlUser;

use super::tcp_check::{Custom, Expect, Matcher, StepKind, TcpCheckProbe};
use crate::status::{CheckResult, CheckStatus};

/// One MySQL packet: 3-byte little-endian length, sequence id, payload.
fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut p = len.to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(payload);
    p
}

/// The client authentication packet for a user without a password, then COM_QUIT.
pub fn client_auth(user: &MysqlUser) -> Vec<u8> {
    let mut body = Vec::new();
    if user.pre41 {
        body.extend_from_slice(&[0x00, 0x80]); // capabilities: secure connection
        body.extend_from_slice(&[0x00, 0x00, 0x01]); // max packet
    } else {
        body.extend_from_slice(&[0x00, 0x82, 0x00, 0x00]); // protocol 4.1, secure connection
        body.extend_from_slice(&[0x00, 0x80, 0x00, 0x01]); // max packet
        body.push(0x21); // utf8_general_ci
        body.extend_from_slice(&[0; 23]);
    }
    body.extend_from_slice(user.name.as_bytes());
    body.push(0); // end of the user name
    body.push(0); // empty auth response
    let mut out = packet(1, &body);
    out.extend_from_slice(&packet(0, &[0x01])); // COM_QUIT
    out
}

/// Judges the packet at `offset`: complete, and not an error packet.
fn judge_packet(b: &[u8], last: bool, offset: usize) -> Custom {
    let incomplete = || {
        if last {
            Custom::Fail(CheckResult::new(CheckStatus::L7Rsp))
        } else {
            Custom::Wait
        }
    };
    let Some(h) = b.get(offset..offset + 4) else {
        return incomplete();
    };
    let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
    if b.len() < offset + 4 + len {
        return incomplete();
    }
    let payload = &b[offset + 4..offset + 4 + len];
    if payload.first() == Some(&0xff) {
        let code = payload
            .get(1..3)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .unwrap_or(0);
        let text = String::from_utf8_lossy(payload.get(3..).unwrap_or(&[])).into_owned();
        return Custom::Fail(
            CheckResult::new(CheckStatus::L7Sts)
                .with_code(code)
                .with_info(text),
        );
    }
    Custom::Pass(None)
}

/// The server's initial handshake; its version string is logged when the check ends here.
pub(crate) fn initial_handshake(b: &[u8], last: bool) -> Custom {
    match judge_packet(b, last, 0) {
        Custom::Pass(_) => Custom::Pass(Some(version(b))),
        other => other,
    }
}

/// The answer to the authentication packet, right after the initial handshake.
pub(crate) fn auth_reply(b: &[u8], last: bool) -> Custom {
    let first = usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16;
    match judge_packet(b, last, 4 + first) {
        Custom::Pass(_) => Custom::Pass(Some(version(b))),
        other => other,
    }
}

/// The NUL-terminated server version after the protocol byte of the handshake.
fn version(b: &[u8]) -> String {
    let v = b.get(5..).unwrap_or(&[]);
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

pub fn probe(user: Option<&MysqlUser>) -> TcpCheckProbe {
    let mut steps = vec![StepKind::Connect {
        port: None,
        addr: None,
        // HAProxy's built-in sequence connects with `default`.
        proxy: super::tcp_check::ConnectProxy::Default,
    }];
    if let Some(u) = user {
        steps.push(StepKind::Send(client_auth(u)));
    }
    steps.push(StepKind::Expect(Box::new(Expect::new(Matcher::Custom(
        initial_handshake,
    )))));
    if user.is_some() {
        steps.push(StepKind::Expect(Box::new(Expect::new(Matcher::Custom(
            auth_reply,
        )))));
    }
    TcpCheckProbe::protocol(steps, 1)
}
