//! Tests of `http-response` and `tcp-request` rules.

use std::time::Duration;

use super::tests::{res, res_ok, tcp, tcp_ok, with_ctx, words};
use super::*;

#[test]
fn http_response_actions_parse() {
    assert_eq!(res_ok("allow").action, HttpResponseAction::Allow);
    let HttpResponseAction::Deny(spec) = res_ok("deny if is_api").action else {
        panic!()
    };
    assert_eq!(spec.status, 502);
    let HttpResponseAction::Deny(spec) = res_ok("deny deny_status 500").action else {
        panic!()
    };
    assert_eq!(spec.status, 500);
    assert_eq!(
        res_ok("set-status 503 reason 'Try later'").action,
        HttpResponseAction::SetStatus {
            status: 503,
            reason: Some("Try later".into())
        }
    );
    assert_eq!(
        res_ok("set-status 204").action,
        HttpResponseAction::SetStatus {
            status: 204,
            reason: None
        }
    );
    assert!(matches!(
        res_ok("add-header X-Served-By %s").action,
        HttpResponseAction::Header(HeaderAction::Add { .. })
    ));
    assert!(matches!(
        res_ok("set-header Cache-Control no-cache").action,
        HttpResponseAction::Header(HeaderAction::Set { .. })
    ));
    assert!(matches!(
        res_ok("del-header Server").action,
        HttpResponseAction::Header(HeaderAction::Del { .. })
    ));
    assert!(matches!(
        res_ok(r"replace-header Set-Cookie '(.*)' '\1; Secure'").action,
        HttpResponseAction::Header(HeaderAction::Replace { .. })
    ));
    assert!(matches!(
        res_ok("replace-value Cache-Control ^private$ public").action,
        HttpResponseAction::Header(HeaderAction::ReplaceValue { .. })
    ));
    assert!(matches!(
        res_ok("return status 404 content-type text/plain string gone").action,
        HttpResponseAction::Return(_)
    ));
    assert!(matches!(
        res_ok("redirect location /moved code 301").action,
        HttpResponseAction::Redirect(_)
    ));
    assert!(matches!(
        res_ok("set-var(txn.st) status").action,
        HttpResponseAction::SetVar { .. }
    ));
    assert!(matches!(
        res_ok("capture res.hdr(server) id 0").action,
        HttpResponseAction::Capture { id: 0, .. }
    ));
    assert!(res("capture status len 3")
        .unwrap_err()
        .message
        .contains("expects 'id'"));
    assert!(matches!(
        res_ok("unset-var(txn.st)").action,
        HttpResponseAction::UnsetVar(_)
    ));
    assert!(matches!(
        res_ok("set-log-level debug").action,
        HttpResponseAction::SetLogLevel(_)
    ));
    assert!(res("set-status 1000")
        .unwrap_err()
        .message
        .contains("invalid HTTP status code"));
    assert!(res("set-status")
        .unwrap_err()
        .message
        .contains("expects a status code"));
}

#[test]
fn tcp_request_rules_parse() {
    assert_eq!(
        tcp_ok("connection reject if blacklist"),
        TcpRequestRule::Connection {
            action: TcpAction::Reject,
            condition: Some(
                with_ctx(|ctx| crate::acl::parse_condition(&words("if blacklist"), ctx)).unwrap()
            )
        }
    );
    assert_eq!(
        tcp_ok("connection accept"),
        TcpRequestRule::Connection {
            action: TcpAction::Accept,
            condition: None
        }
    );
    assert!(matches!(
        tcp_ok("content accept if HTTP"),
        TcpRequestRule::Content {
            action: TcpAction::Accept,
            condition: Some(_)
        }
    ));
    assert!(matches!(
        tcp_ok("content reject unless WAIT_END"),
        TcpRequestRule::Content {
            action: TcpAction::Reject,
            ..
        }
    ));
    assert_eq!(
        tcp_ok("inspect-delay 5s"),
        TcpRequestRule::InspectDelay(Duration::from_secs(5))
    );
    assert_eq!(
        tcp_ok("inspect-delay 250"),
        TcpRequestRule::InspectDelay(Duration::from_millis(250))
    );
    assert_eq!(
        tcp_ok("inspect-delay 1500ms"),
        TcpRequestRule::InspectDelay(Duration::from_millis(1500))
    );
    for (line, needle) in [
        ("inspect-delay soon", "invalid time 'soon'"),
        ("inspect-delay", "expects one time value"),
        ("connection drop", "unknown 'tcp-request' action 'drop'"),
        ("session accept", "unknown 'tcp-request' action 'session'"),
        ("content", "expects an action"),
        ("content accept now", "unexpected 'now'"),
        ("", "expects a rule type"),
    ] {
        let e = tcp(line).unwrap_err();
        assert!(e.message.contains(needle), "{line}: {e}");
    }
}
