//! `option ssl-hello-chk`: send a TLS ClientHello and accept the server when it answers
//! with a TLS handshake record (its ServerHello) or a TLS alert: either way a TLS stack,
//! not just an open port, is listening. Anything else is `L6RSP`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use monoio::io::{AsyncReadRent, AsyncWriteRent};

use super::{write_then_read, Exchange};
use crate::status::{CheckResult, CheckStatus};

/// TLS record content types.
const HANDSHAKE: u8 = 0x16;
const ALERT: u8 = 0x15;
/// A TLS record header: type, version (2), length (2).
const RECORD_HEADER: usize = 5;

/// A TLS 1.2 ClientHello offering common suites, in one TLS 1.0 record.
pub fn client_hello() -> Vec<u8> {
    let mut random = [0u8; 32];
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut x = seed | 1;
    for b in &mut random {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let suites: [u16; 8] = [
        0xc02f, 0xc030, 0xc02b, 0xc02c, 0x009c, 0x009d, 0x002f, 0x0035,
    ];
    let mut ext = Vec::new();
    // supported_groups: x25519, secp256r1, secp384r1
    ext.extend_from_slice(&[
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18,
    ]);
    // ec_point_formats: uncompressed
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // signature_algorithms: rsa_pss_rsae_sha256, rsa_pkcs1_sha256, ecdsa_secp256r1_sha256
    ext.extend_from_slice(&[
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x08, 0x04, 0x04, 0x01, 0x04, 0x03,
    ]);

    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&random);
    body.push(0); // no session id
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);

    let mut hs = vec![0x01]; // client_hello
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);

    let mut rec = vec![HANDSHAKE, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Whether `reply` starts like a TLS server's answer.
pub fn judge(reply: &[u8]) -> CheckResult {
    if reply.len() < RECORD_HEADER {
        return CheckResult::new(CheckStatus::L6Rsp).with_info("Short TLS reply");
    }
    let tls_version = reply[1] == 0x03;
    match reply[0] {
        HANDSHAKE | ALERT if tls_version => CheckResult::new(CheckStatus::L6Ok),
        _ => CheckResult::new(CheckStatus::L6Rsp).with_info("Not a TLS reply"),
    }
}

pub(super) async fn exchange<S: AsyncReadRent + AsyncWriteRent>(
    mut stream: S,
    timeout: Duration,
) -> CheckResult {
    match write_then_read(&mut stream, client_hello(), timeout, 4096, |b| {
        b.len() >= RECORD_HEADER
    })
    .await
    {
        Exchange::Read(b) => judge(&b),
        Exchange::TimedOut(b) if b.is_empty() => CheckResult::new(CheckStatus::L6Timeout),
        Exchange::TimedOut(b) => judge(&b),
        Exchange::Failed(e) => {
            CheckResult::new(CheckStatus::SockErr).with_info(super::os_error_text(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_is_one_well_formed_record() {
        let h = client_hello();
        assert_eq!(h[0], HANDSHAKE);
        let len = u16::from_be_bytes([h[3], h[4]]) as usize;
        assert_eq!(h.len(), RECORD_HEADER + len);
        assert_eq!(h[5], 0x01, "client_hello message");
        let hs_len = u32::from_be_bytes([0, h[6], h[7], h[8]]) as usize;
        assert_eq!(hs_len + 4, len);
    }

    #[test]
    fn server_hello_and_alert_pass_plain_text_does_not() {
        assert_eq!(
            judge(&[0x16, 0x03, 0x03, 0x00, 0x31, 0x02]).status,
            CheckStatus::L6Ok
        );
        assert_eq!(
            judge(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28]).status,
            CheckStatus::L6Ok
        );
        assert_eq!(
            judge(b"HTTP/1.1 400 Bad Request\r\n").status,
            CheckStatus::L6Rsp
        );
        assert_eq!(judge(&[0x16]).status, CheckStatus::L6Rsp);
    }
}
