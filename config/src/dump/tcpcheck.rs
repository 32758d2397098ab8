//! `tcp-check` rules and the protocol check options, written back as configuration lines.

use super::{q, Out};
use crate::model::{Options, ProtocolCheck, Proxy, TcpCheckAction, TcpCheckMatch, TcpCheckRule};
use crate::tcpcheck::{bytes_text, hex};

/// The `option` line of a protocol check, if the proxy has one.
pub(super) fn protocol_option(out: &mut Out, o: &Options) {
    let Some(c) = &o.protocol_check else {
        return;
    };
    let mut w = vec!["option".to_string()];
    match c {
        ProtocolCheck::Redis => w.push("redis-check".into()),
        ProtocolCheck::Ldap => w.push("ldap-check".into()),
        ProtocolCheck::Smtp { hello, domain } => {
            w.extend(["smtpchk".into(), q(hello), q(domain)]);
        }
        ProtocolCheck::Pgsql { user } => w.extend(["pgsql-check".into(), "user".into(), q(user)]),
        ProtocolCheck::Mysql { user } => {
            w.push("mysql-check".into());
            if let Some(u) = user {
                w.extend(["user".into(), q(&u.name)]);
                if u.pre41 {
                    w.push("pre-41".into());
                }
            }
        }
    }
    out.line(w);
}

pub(super) fn rules(out: &mut Out, p: &Proxy) {
    for r in &p.tcp_check {
        out.line(rule_words(r));
    }
}

fn rule_words(r: &TcpCheckRule) -> Vec<String> {
    let mut w = vec!["tcp-check".to_string()];
    match &r.action {
        TcpCheckAction::Comment(t) => w.extend(["comment".into(), q(t)]),
        TcpCheckAction::Connect(c) => {
            w.push("connect".into());
            if c.default {
                w.push("default".into());
            }
            if let Some(port) = c.port {
                w.extend(["port".into(), port.to_string()]);
            }
            if let Some(a) = c.addr {
                w.extend(["addr".into(), a.to_string()]);
            }
            if c.send_proxy {
                w.push("send-proxy".into());
            }
            if c.linger {
                w.push("linger".into());
            }
        }
        TcpCheckAction::Send { data, binary: true } => {
            w.extend(["send-binary".into(), hex(data)]);
        }
        TcpCheckAction::Send {
            data,
            binary: false,
        } => {
            w.extend(["send".into(), q(&bytes_text(data))]);
        }
        TcpCheckAction::Expect(e) => {
            w.push("expect".into());
            if let Some(n) = e.min_recv {
                w.extend(["min-recv".into(), n.to_string()]);
            }
            for (kw, st) in [
                ("ok-status", e.ok_status),
                ("error-status", e.error_status),
                ("tout-status", e.tout_status),
            ] {
                if let Some(st) = st {
                    w.extend([kw.into(), st.code().into()]);
                }
            }
            for (kw, text) in [("on-success", &e.on_success), ("on-error", &e.on_error)] {
                if let Some(t) = text {
                    w.extend([kw.into(), q(&t.replace('%', "%%"))]);
                }
            }
            if let Some(s) = &e.status_code {
                w.extend(["status-code".into(), s.to_string()]);
            }
            if e.negate {
                w.push("!".into());
            }
            let (kind, pattern) = match &e.matcher {
                TcpCheckMatch::String(b) => ("string", q(&bytes_text(b))),
                TcpCheckMatch::Rstring(r) => ("rstring", q(r)),
                TcpCheckMatch::Binary(b) => ("binary", hex(b)),
                TcpCheckMatch::Rbinary(r) => ("rbinary", q(r)),
            };
            w.extend([kind.into(), pattern]);
        }
    }
    if let Some(c) = &r.comment {
        w.extend(["comment".into(), q(c)]);
    }
    w
}
