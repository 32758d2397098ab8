//! `option smtpchk`: the greeting must be 2xx, then HELO (or EHLO) and QUIT must each be
//! answered 2xx. The reply code is logged as the check's code.

use regex::bytes::Regex;
use ringlb_config::model::StatusCodeExpr;

use super::tcp_check::{Expect, Info, Matcher, StepKind, TcpCheckProbe};
use crate::status::CheckStatus;

fn rstring(re: &str) -> Matcher {
    Matcher::Rstring(Regex::new(re).expect("fixed regex"))
}

/// An expectation of a 2xx reply matching `re`, logging the reply text.
fn reply(re: &str, min_recv: Option<usize>) -> Expect {
    let mut e = Expect::new(rstring(re));
    e.min_recv = min_recv;
    e.error = CheckStatus::L7Sts;
    let text = Info::Payload {
        from: 4,
        ltrim: true,
    };
    e.on_error = Some(text.clone());
    e.on_success = Some(text);
    e.code = Some(StatusCodeExpr::Payload {
        offset: 0,
        length: 3,
    });
    e
}

pub fn probe(hello: &str, domain: &str) -> TcpCheckProbe {
    // Anything that is not a three-digit reply is not SMTP at all.
    let mut banner = Expect::new(rstring("^[0-9]{3}[ \r]"));
    banner.min_recv = Some(4);
    banner.on_error = Some(Info::Payload {
        from: 0,
        ltrim: false,
    });
    let mut greeting = reply("^2[0-9]{2}[ \r]", Some(4));
    greeting.on_success = None;
    let steps = vec![
        StepKind::Expect(Box::new(banner)),
        StepKind::Expect(Box::new(greeting)),
        StepKind::Send(format!("{hello} {domain}\r\n").into_bytes()),
        // A multi-line EHLO answer ends with its "2xx " line.
        StepKind::Expect(Box::new(reply(
            "^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]",
            None,
        ))),
        // QUIT leaves the server a clean session end instead of a dropped client.
        StepKind::Send(b"QUIT\r\n".to_vec()),
        StepKind::Expect(Box::new(reply("^2[0-9]{2}[- \r]", Some(4)))),
    ];
    TcpCheckProbe::protocol(steps, 2)
}
