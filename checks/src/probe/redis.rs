//! `option redis-check`: a PING in the protocol's array form, answered by `+PONG`.

use super::tcp_check::{Expect, Info, Matcher, StepKind, TcpCheckProbe};
use crate::status::CheckStatus;

/// The PING command as a one-element RESP array, which every Redis speaker accepts.
pub const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

pub fn probe() -> TcpCheckProbe {
    let mut pong = Expect::new(Matcher::String(b"+PONG\r\n".to_vec()));
    pong.error = CheckStatus::L7Sts;
    // A failure logs the server's own first line (`-ERR …`, `-LOADING …`).
    pong.on_error = Some(Info::Payload {
        from: 0,
        ltrim: false,
    });
    pong.on_success = Some(Info::Text("Redis server is ok".into()));
    TcpCheckProbe::protocol(
        vec![
            StepKind::Send(PING.to_vec()),
            StepKind::Expect(Box::new(pong)),
        ],
        1,
    )
}
