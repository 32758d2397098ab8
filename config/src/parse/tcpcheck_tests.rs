//! Parsing `tcp-check` lines and the protocol check options: accepted forms, refusals, and
//! the dump that reads back as the same model.

use std::path::Path;

use crate::model::{
    MysqlUser, ProtocolCheck, Proxy, StatusCodeExpr, TcpCheckAction, TcpCheckConnect,
    TcpCheckMatch, TcpCheckStatus,
};
use crate::{Config, Severity};

const HEAD: &str =
    "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n";

fn load(body: &str) -> Config {
    let text = format!("{HEAD}{body}");
    let loaded = crate::parse_str(&text, Path::new("t.cfg"));
    loaded
        .config
        .unwrap_or_else(|| panic!("{:#?}", loaded.diagnostics))
}

fn backend(body: &str) -> Proxy {
    load(&format!(
        "backend b\n{body} server s 127.0.0.1:6379 check\n"
    ))
    .proxy("b")
    .unwrap()
    .clone()
}

/// The one error a bad backend line gives: (line number, message, help).
fn error(body: &str) -> (usize, String, String) {
    let text = format!("{HEAD}backend b\n{body}");
    let loaded = crate::parse_str(&text, Path::new("t.cfg"));
    let e = loaded
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
        .unwrap_or_else(|| panic!("no error for {body:?}: {:?}", loaded.diagnostics))
        .clone();
    assert_eq!(e.location.file, Path::new("t.cfg"));
    assert_eq!(e.keyword, body.split_whitespace().next().unwrap());
    (e.location.line, e.message, e.help.unwrap_or_default())
}

fn round_trips(c: &Config) {
    let text = crate::dump(c);
    let back = crate::parse_str(&text, Path::new("dump.cfg"));
    let back = back
        .config
        .unwrap_or_else(|| panic!("{text}\n{:#?}", back.diagnostics));
    assert_eq!(&back, c, "{text}");
}

#[test]
fn a_send_expect_sequence_keeps_its_order_escapes_and_options() {
    let p = backend(
        " option tcp-check\n tcp-check comment PING\\ phase\n tcp-check connect port 6380 addr 10.0.0.2 linger\n\
         tcp-check send PING\\r\\n\n tcp-check send-binary 0d0A comment raw\n\
         tcp-check expect min-recv 5 error-status L7STS on-error \"no pong\" status-code int(42) string +PONG\n\
         tcp-check expect ! rstring ^-ERR\n tcp-check expect !binary ff00\n tcp-check expect rbinary ^2B comment hex\n",
    );
    assert!(p.options.tcp_check);
    let a: Vec<&TcpCheckAction> = p.tcp_check.iter().map(|r| &r.action).collect();
    assert_eq!(a.len(), 8);
    assert_eq!(a[0], &TcpCheckAction::Comment("PING phase".into()));
    assert_eq!(
        a[1],
        &TcpCheckAction::Connect(TcpCheckConnect {
            default: false,
            port: Some(6380),
            addr: Some("10.0.0.2".parse().unwrap()),
            send_proxy: false,
            linger: true,
        })
    );
    assert_eq!(
        a[2],
        &TcpCheckAction::Send {
            data: b"PING\r\n".to_vec(),
            binary: false
        }
    );
    assert_eq!(
        a[3],
        &TcpCheckAction::Send {
            data: vec![0x0d, 0x0a],
            binary: true
        }
    );
    assert_eq!(p.tcp_check[3].comment.as_deref(), Some("raw"));
    let TcpCheckAction::Expect(e) = a[4] else {
        panic!("{:?}", a[4])
    };
    assert_eq!(e.min_recv, Some(5));
    assert_eq!(e.error_status, Some(TcpCheckStatus::L7Sts));
    assert_eq!(e.on_error.as_deref(), Some("no pong"));
    assert_eq!(e.status_code, Some(StatusCodeExpr::Int(42)));
    assert_eq!(e.matcher, TcpCheckMatch::String(b"+PONG".to_vec()));
    assert!(!e.negate);
    let TcpCheckAction::Expect(e) = a[5] else {
        panic!()
    };
    assert!(e.negate);
    assert_eq!(e.matcher, TcpCheckMatch::Rstring("^-ERR".into()));
    let TcpCheckAction::Expect(e) = a[6] else {
        panic!()
    };
    assert!(e.negate);
    assert_eq!(e.matcher, TcpCheckMatch::Binary(vec![0xff, 0]));
    assert_eq!(p.tcp_check[7].comment.as_deref(), Some("hex"));
}

#[test]
fn hex_escapes_in_send_become_single_bytes() {
    let p = backend(" option tcp-check\n tcp-check send \\x00\\xff\\t\n");
    assert_eq!(
        p.tcp_check[0].action,
        TcpCheckAction::Send {
            data: vec![0, 0xff, b'\t'],
            binary: false
        }
    );
}

#[test]
fn a_backend_rule_replaces_the_rules_of_defaults() {
    let c = load(
        "defaults d2\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         option tcp-check\n tcp-check send A\\r\\n\n tcp-check expect string A\n\
         backend inherits from d2\n server s 127.0.0.1:1 check\n\
         backend own from d2\n tcp-check send B\\r\\n\n server s 127.0.0.1:1 check\n",
    );
    assert_eq!(c.proxy("inherits").unwrap().tcp_check.len(), 2);
    let own = &c.proxy("own").unwrap().tcp_check;
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(
        own[0].action,
        TcpCheckAction::Send {
            data: b"B\r\n".to_vec(),
            binary: false
        }
    );
}

#[test]
fn protocol_options_parse_and_the_last_check_method_wins() {
    assert_eq!(
        backend(" option redis-check\n").options.protocol_check,
        Some(ProtocolCheck::Redis)
    );
    assert_eq!(
        backend(" option smtpchk\n").options.protocol_check,
        Some(ProtocolCheck::Smtp {
            hello: "HELO".into(),
            domain: "localhost".into()
        })
    );
    assert_eq!(
        backend(" option smtpchk EHLO mx.example.com\n")
            .options
            .protocol_check,
        Some(ProtocolCheck::Smtp {
            hello: "EHLO".into(),
            domain: "mx.example.com".into()
        })
    );
    assert_eq!(
        backend(" option mysql-check user hc pre-41\n")
            .options
            .protocol_check,
        Some(ProtocolCheck::Mysql {
            user: Some(MysqlUser {
                name: "hc".into(),
                pre41: true
            })
        })
    );
    assert_eq!(
        backend(" option mysql-check\n").options.protocol_check,
        Some(ProtocolCheck::Mysql { user: None })
    );
    assert_eq!(
        backend(" option pgsql-check user pg\n")
            .options
            .protocol_check,
        Some(ProtocolCheck::Pgsql { user: "pg".into() })
    );
    let p = backend(" option httpchk\n option ldap-check\n");
    assert_eq!(p.options.protocol_check, Some(ProtocolCheck::Ldap));
    assert!(p.options.httpchk.is_none());
    let p = backend(" option redis-check\n option tcp-check\n");
    assert_eq!(p.options.protocol_check, None);
    assert!(p.options.tcp_check);
}

#[test]
fn bad_tcp_check_lines_name_the_line_and_the_fix() {
    let (line, msg, help) = error(" tcp-check connect port 443 ssl\n");
    assert_eq!(line, 7);
    assert!(
        msg.contains("'tcp-check connect ssl' is not supported"),
        "{msg}"
    );
    assert!(help.contains("ssl-hello-chk"), "{help}");

    let (_, msg, _) = error(" tcp-check connect via-socks4\n");
    assert!(msg.contains("via-socks4"), "{msg}");

    let (_, msg, help) = error(" tcp-check send-lf %[src]\n");
    assert!(
        msg.contains("'tcp-check send-lf' is not supported"),
        "{msg}"
    );
    assert!(help.contains("tcp-check send"), "{help}");

    let (_, msg, _) = error(" tcp-check set-var(check.port) int(1)\n");
    assert!(msg.contains("not supported"), "{msg}");

    let (_, msg, help) = error(" tcp-check sned PING\n");
    assert!(msg.contains("unknown 'tcp-check' action 'sned'"), "{msg}");
    assert!(help.contains("send"), "{help}");

    let (_, msg, _) = error(" tcp-check send-binary 123\n");
    assert!(msg.contains("even number of hexadecimal digits"), "{msg}");

    let (_, msg, help) = error(" tcp-check expect strin +PONG\n");
    assert!(msg.contains("'strin'"), "{msg}");
    assert!(help.contains("string"), "{help}");

    let (_, msg, _) = error(" tcp-check expect string-lf %[var(x)]\n");
    assert!(msg.contains("not supported"), "{msg}");

    let (_, msg, _) = error(" tcp-check expect rstring (\n");
    assert!(msg.contains("invalid regular expression"), "{msg}");

    let (_, msg, help) = error(" tcp-check expect ok-status L7STS string x\n");
    assert!(
        msg.contains("'tcp-check expect ok-status' does not accept 'L7STS'"),
        "{msg}"
    );
    assert!(help.contains("L7OK"), "{help}");

    let (_, msg, _) = error(" tcp-check expect min-recv 4\n");
    assert!(msg.contains("needs a match"), "{msg}");

    let (_, msg, help) = error(" tcp-check expect on-error %[res.payload(0,0)] string x\n");
    assert!(msg.contains("log-format variables"), "{msg}");
    assert!(help.contains("plain text"), "{help}");

    let (_, msg, _) = error(" tcp-check expect status-code req.hdr(x) string x\n");
    assert!(msg.contains("unsupported expression"), "{msg}");
}

#[test]
fn bad_protocol_options_say_what_they_take() {
    let (_, msg, help) = error(" option pgsql-check\n");
    assert!(msg.contains("expects 'user NAME'"), "{msg}");
    assert!(help.contains("option pgsql-check user"), "{help}");
    let (_, msg, _) = error(" option redis-check now\n");
    assert!(msg.contains("takes no argument"), "{msg}");
    let (_, msg, _) = error(" option smtpchk EHLO\n");
    assert!(msg.contains("HELO|EHLO DOMAIN"), "{msg}");
    let (_, msg, _) = error(" option mysql-check user hc post-50\n");
    assert!(msg.contains("'post-50'"), "{msg}");
}

#[test]
fn tcp_check_is_refused_in_a_frontend() {
    let text = format!("{HEAD}frontend f\n bind :1\n tcp-check send x\n");
    let loaded = crate::parse_str(&text, Path::new("t.cfg"));
    assert!(loaded.config.is_none());
    assert!(loaded
        .diagnostics
        .iter()
        .any(|d| d.keyword == "tcp-check" && d.location.line == 8));
}

#[test]
fn dump_reads_back_as_the_same_rules_and_options() {
    let c = load(
        "backend r\n option tcp-check\n tcp-check comment first\n tcp-check connect default port 7 linger comment c\n\
         tcp-check send \"PING 'x'\\r\\n\\x01\\xe9\" comment s\n tcp-check send-binary 00ff\n\
         tcp-check expect min-recv 3 ok-status L6OK error-status L4CON tout-status L6TOUT on-success \"up 100%%\" \
         on-error down status-code res.payload(0,3) ! string \"a b\"\n\
         tcp-check expect rbinary ^2B\n tcp-check expect binary 0d0a\n tcp-check expect rstring \"^\\\\+OK\"\n\
         server s 127.0.0.1:1 check\n\
         backend m\n option mysql-check user hc pre-41\n server s 127.0.0.1:1 check\n\
         backend g\n option smtpchk EHLO x.org\n server s 127.0.0.1:1 check\n\
         backend p\n option pgsql-check user pg\n server s 127.0.0.1:1 check\n\
         backend l\n option ldap-check\n server s 127.0.0.1:1 check\n",
    );
    let TcpCheckAction::Expect(e) = &c.proxy("r").unwrap().tcp_check[4].action else {
        panic!()
    };
    assert_eq!(e.on_success.as_deref(), Some("up 100%"));
    round_trips(&c);
}
