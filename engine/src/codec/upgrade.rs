//! Protocol upgrades on HTTP/1.1 (RFC 9110 §7.8): which requests ask for one, the checks
//! HAProxy applies to a WebSocket handshake (RFC 6455 §4), and whether the server's answer
//! switches the exchange to a tunnel.

use crate::codec::conn_mode::ConnectionTokens;
use crate::codec::head::{
    list_items, trim, values, HeaderSpan, RequestHead, ResponseHead, Version,
};

/// A request that asks to switch protocols: `Connection: upgrade` and an `Upgrade` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// `Upgrade` lists `websocket`.
    pub websocket: bool,
}

/// Why an upgrade handshake is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeError {
    /// A WebSocket request without a `Sec-WebSocket-Key` of 24 characters (the base64 of 16
    /// bytes): 400, as HAProxy answers it.
    WebSocketKey,
    /// A `101` to a request that did not ask to switch, or without `Connection: upgrade`
    /// itself: 502.
    NotAgreed,
    /// A `101` switching to WebSocket without `Sec-WebSocket-Accept`: 502.
    WebSocketAccept,
}

fn lists_websocket(buf: &[u8], headers: &[HeaderSpan]) -> bool {
    list_items(buf, headers, "upgrade").any(|p| p.eq_ignore_ascii_case(b"websocket"))
}

/// Whether `head` (an HTTP/1.1 request whose `Connection` options are `tokens`) asks to
/// switch protocols. An HTTP/1.0 request cannot: its `Upgrade` stays a header its
/// `Connection` names, dropped like any other.
pub fn upgrade_request(
    buf: &[u8],
    head: &RequestHead,
    tokens: ConnectionTokens,
) -> Result<Option<UpgradeRequest>, UpgradeError> {
    let asked = head.version == Version::Http11
        && tokens.upgrade
        && values(buf, &head.headers, "upgrade").any(|v| !trim(v).is_empty());
    if !asked {
        return Ok(None);
    }
    let websocket = lists_websocket(buf, &head.headers);
    if websocket && !values(buf, &head.headers, "sec-websocket-key").any(|k| trim(k).len() == 24) {
        return Err(UpgradeError::WebSocketKey);
    }
    Ok(Some(UpgradeRequest { websocket }))
}

/// Whether the response `head` switches protocols: a `101` to a request that asked for it,
/// with `Connection: upgrade` on the response too (HAProxy asks no more of the `Upgrade`
/// header), and `Sec-WebSocket-Accept` when it switches to WebSocket.
pub fn switches(
    buf: &[u8],
    head: &ResponseHead,
    asked: Option<UpgradeRequest>,
) -> Result<bool, UpgradeError> {
    if head.status != 101 {
        return Ok(false);
    }
    if asked.is_none() || !ConnectionTokens::parse(buf, &head.headers).upgrade {
        return Err(UpgradeError::NotAgreed);
    }
    if lists_websocket(buf, &head.headers)
        && values(buf, &head.headers, "sec-websocket-accept")
            .next()
            .is_none()
    {
        return Err(UpgradeError::WebSocketAccept);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::head::{parse_request, parse_response};

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn ask(text: &str) -> Result<Option<UpgradeRequest>, UpgradeError> {
        let buf = text.as_bytes();
        let head = parse_request(buf, 4096).unwrap().unwrap();
        upgrade_request(buf, &head, ConnectionTokens::parse(buf, &head.headers))
    }

    fn answer(text: &str, asked: Option<UpgradeRequest>) -> Result<bool, UpgradeError> {
        let buf = text.as_bytes();
        let head = parse_response(buf, 4096).unwrap().unwrap();
        switches(buf, &head, asked)
    }

    #[test]
    fn requests_that_ask_to_switch() {
        let ws = Some(UpgradeRequest { websocket: true });
        let other = Some(UpgradeRequest { websocket: false });
        let key = format!("Sec-WebSocket-Key: {KEY}\r\n");
        let cases: Vec<(String, Result<Option<UpgradeRequest>, UpgradeError>)> = vec![
            ("GET / HTTP/1.1\r\n\r\n".into(), Ok(None)),
            (
                format!("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{key}\r\n"),
                Ok(ws),
            ),
            (
                format!("GET / HTTP/1.1\r\nConnection: keep-alive, upgrade\r\nUpgrade: foo, WebSocket\r\n{key}\r\n"),
                Ok(ws),
            ),
            (
                "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".into(),
                Ok(other),
            ),
            // An `Upgrade` header the `Connection` header does not name, or no `Upgrade`.
            (
                format!("GET / HTTP/1.1\r\nUpgrade: websocket\r\n{key}\r\n"),
                Ok(None),
            ),
            (
                "GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade:\r\n\r\n".into(),
                Ok(None),
            ),
            (
                format!("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n{key}\r\n"),
                Ok(None),
            ),
            (
                "GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n".into(),
                Err(UpgradeError::WebSocketKey),
            ),
            (
                "GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: short\r\n\r\n".into(),
                Err(UpgradeError::WebSocketKey),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(ask(&text), want, "{text:?}");
        }
    }

    #[test]
    fn answers_that_switch() {
        let ws = Some(UpgradeRequest { websocket: true });
        let ok = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(answer(ok, ws), Ok(true));
        assert_eq!(answer(ok, None), Err(UpgradeError::NotAgreed));
        let no_conn = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n";
        assert_eq!(answer(no_conn, ws), Err(UpgradeError::NotAgreed));
        let no_accept =
            "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(answer(no_accept, ws), Err(UpgradeError::WebSocketAccept));
        let h2c = "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n";
        assert_eq!(
            answer(h2c, Some(UpgradeRequest { websocket: false })),
            Ok(true)
        );
        let refused = "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(answer(refused, ws), Ok(false));
    }
}
