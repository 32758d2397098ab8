//! `option pgsql-check user NAME`: a StartupMessage for the user; an Authentication ('R')
//! request passes, an ErrorResponse ('E') fails with the server's message.

use regex::bytes::Regex;

use super::tcp_check::{Expect, Info, Matcher, StepKind, TcpCheckProbe};
use crate::status::CheckStatus;

/// StartupMessage, protocol 3.0, with only the `user` parameter.
pub fn startup_message(user: &str) -> Vec<u8> {
    let mut body = vec![0, 3, 0, 0];
    body.extend_from_slice(b"user\0");
    body.extend_from_slice(user.as_bytes());
    body.extend_from_slice(&[0, 0]);
    let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    m.extend_from_slice(&body);
    m
}

pub fn probe(user: &str) -> TcpCheckProbe {
    let mut not_error = Expect::new(Matcher::Rstring(Regex::new("^E").expect("fixed regex")));
    not_error.negate = true;
    not_error.min_recv = Some(5);
    // The ErrorResponse's fields start after its type, length and first field code.
    not_error.on_error = Some(Info::Payload {
        from: 6,
        ltrim: false,
    });
    // 'R', length, then an authentication type the server may ask for.
    let mut auth = Expect::new(Matcher::Rbinary(
        Regex::new("^52000000[A-Z0-9]{2}000000(00|02|03|04|05|06|07|09|0A)").expect("fixed regex"),
    ));
    auth.min_recv = Some(9);
    auth.error = CheckStatus::L7Sts;
    auth.on_success = Some(Info::Text("PostgreSQL server is ok".into()));
    auth.on_error = Some(Info::Text("PostgreSQL unknown error".into()));
    let steps = vec![
        StepKind::Connect {
            port: None,
            addr: None,
            // HAProxy's built-in sequence connects with `default`.
            proxy: super::tcp_check::ConnectProxy::Default,
        },
        StepKind::Send(startup_message(user)),
        StepKind::Expect(Box::new(not_error)),
        StepKind::Expect(Box::new(auth)),
    ];
    TcpCheckProbe::protocol(steps, 1)
}
