//! One proxy section of `dump`: every setting that differs from the built-in value.

use std::fmt::Write as _;

use super::{errorfile_words, level_word, log_words, q, Out};
use crate::model::{
    BackendName, Balance, Bind, CheckMatch, CookieMode, HashFunction, HashMethod, HttpConnMode,
    Mode, Proxy, Server, Stats,
};
use crate::parse::server::builtin_server;
use crate::value::{fmt_bind_addr, fmt_duration, fmt_server_addr};

pub(super) fn dump_proxy(out: &mut Out, p: &Proxy) {
    let kind = p.kind.keyword();
    let name = q(&p.name);
    match &p.defaults {
        Some(d) => out.section(&[kind, &name, "from", &q(d)]),
        None => out.section(&[kind, &name]),
    }
    let blank = Proxy::new(p.kind, String::new(), Default::default());
    out.kv(
        "mode",
        match p.mode {
            Mode::Http => "http",
            Mode::Tcp => "tcp",
            Mode::Health => "health",
        },
    );
    out.flag("disabled", p.disabled);
    if let Some(d) = &p.description {
        out.kv("description", d);
    }
    if let Some(id) = p.id {
        out.kv("id", id.to_string());
    }
    for b in &p.binds {
        out.line(bind_words(b));
    }
    for (kw, v) in [
        ("maxconn", p.maxconn),
        ("fullconn", p.fullconn),
        ("backlog", p.backlog),
    ] {
        if let Some(v) = v {
            out.kv(kw, v.to_string());
        }
    }
    if let Some(g) = p.grace {
        out.kv("grace", fmt_duration(g));
    }
    let t = &p.timeouts;
    for (kw, v) in [
        ("client", t.client),
        ("server", t.server),
        ("connect", t.connect),
        ("http-request", t.http_request),
        ("http-keep-alive", t.http_keep_alive),
        ("queue", t.queue),
        ("check", t.check),
        ("tunnel", t.tunnel),
        ("client-fin", t.client_fin),
        ("server-fin", t.server_fin),
        ("tarpit", t.tarpit),
    ] {
        if let Some(v) = v {
            out.line(vec!["timeout".into(), kw.into(), fmt_duration(v)]);
        }
    }
    if p.retries != blank.retries {
        out.kv("retries", p.retries.to_string());
    }
    dump_options(out, p);
    for l in &p.logs {
        out.line(log_words(l));
    }
    if let Some(f) = &p.log_format {
        out.kv("log-format", f.to_string());
    }
    for c in &p.captures {
        let side = match c.side {
            crate::model::CaptureSide::Request => "request",
            crate::model::CaptureSide::Response => "response",
        };
        out.line(vec![
            "capture".into(),
            side.into(),
            "header".into(),
            q(&c.name),
            "len".into(),
            c.len.to_string(),
        ]);
    }
    for a in &p.acls {
        out.line(vec!["acl".into(), a.to_string()]);
    }
    for r in &p.tcp_request {
        out.line(vec!["tcp-request".into(), r.to_string()]);
    }
    for r in &p.http_request {
        out.line(vec!["http-request".into(), r.to_string()]);
    }
    for r in &p.http_response {
        out.line(vec!["http-response".into(), r.to_string()]);
    }
    for u in &p.use_backends {
        let target = match &u.backend {
            BackendName::Static(n) => q(n),
            BackendName::Dynamic(f) => q(&f.to_string()),
        };
        let mut w = vec!["use_backend".into(), target];
        if let Some(c) = &u.condition {
            w.push(c.to_string());
        }
        out.line(w);
    }
    if let Some(b) = &p.default_backend {
        out.kv("default_backend", b);
    }
    if let Some(u) = &p.monitor_uri {
        out.kv("monitor-uri", u);
    }
    for n in &p.monitor_net {
        out.kv("monitor-net", n.to_string());
    }
    for c in &p.monitor_fail {
        out.line(vec!["monitor".into(), "fail".into(), c.to_string()]);
    }
    if let Some(s) = &p.stats {
        dump_stats(out, s);
    }
    for e in &p.errorfiles {
        out.line(errorfile_words(e));
    }
    for (name, codes) in &p.errorfiles_sections {
        let mut w = vec!["errorfiles".into(), q(name)];
        w.extend(codes.iter().map(u16::to_string));
        out.line(w);
    }
    if p.balance != blank.balance {
        out.line(balance_words(&p.balance));
    }
    if p.hash_type != blank.hash_type {
        let h = &p.hash_type;
        let mut w = vec!["hash-type".to_string()];
        w.push(match h.method {
            HashMethod::MapBased => "map-based".into(),
            HashMethod::Consistent => "consistent".into(),
        });
        w.push(
            match h.function {
                HashFunction::Sdbm => "sdbm",
                HashFunction::Djb2 => "djb2",
                HashFunction::Wt6 => "wt6",
                HashFunction::Crc32 => "crc32",
            }
            .into(),
        );
        if h.avalanche {
            w.push("avalanche".into());
        }
        out.line(w);
    }
    if let Some(c) = &p.cookie {
        let mut w = vec!["cookie".into(), q(&c.name)];
        match c.mode {
            CookieMode::Rewrite => w.push("rewrite".into()),
            CookieMode::Insert => w.push("insert".into()),
            CookieMode::Prefix => w.push("prefix".into()),
            CookieMode::Passive => {}
        }
        for (kw, on) in [
            ("indirect", c.indirect),
            ("nocache", c.nocache),
            ("postonly", c.postonly),
            ("preserve", c.preserve),
            ("httponly", c.httponly),
            ("secure", c.secure),
            ("dynamic", c.dynamic),
        ] {
            if on {
                w.push(kw.into());
            }
        }
        for d in &c.domains {
            w.extend(["domain".into(), q(d)]);
        }
        if let Some(d) = c.maxidle {
            w.extend(["maxidle".into(), fmt_duration(d)]);
        }
        if let Some(d) = c.maxlife {
            w.extend(["maxlife".into(), fmt_duration(d)]);
        }
        out.line(w);
    }
    if let Some(d) = p.dispatch {
        out.kv("dispatch", d.to_string());
    }
    let hc = &p.http_check;
    if hc.disable_on_404 {
        out.line(vec!["http-check".into(), "disable-on-404".into()]);
    }
    if let Some(e) = &hc.expect {
        let mut w = vec!["http-check".to_string(), "expect".into()];
        if e.negate {
            w.push("!".into());
        }
        let (kind, v) = match &e.matcher {
            CheckMatch::Status(r) => ("status", crate::value::fmt_ranges(r)),
            CheckMatch::Rstatus(s) => ("rstatus", s.clone()),
            CheckMatch::String(s) => ("string", s.clone()),
            CheckMatch::Rstring(s) => ("rstring", s.clone()),
        };
        w.extend([kind.into(), q(&v)]);
        out.line(w);
    }
    let mut send = vec!["http-check".to_string(), "send".into()];
    for (kw, v) in [
        ("meth", &hc.send_method),
        ("uri", &hc.send_uri),
        ("ver", &hc.send_version),
    ] {
        if let Some(v) = v {
            send.extend([kw.into(), q(v)]);
        }
    }
    for (n, v) in &hc.send_headers {
        send.extend(["hdr".into(), q(n), q(v)]);
    }
    if let Some(b) = &hc.send_body {
        send.extend(["body".into(), q(b)]);
    }
    if send.len() > 2 {
        out.line(send);
    }
    super::compat::dump_compat(out, p);
    super::tcpcheck::rules(out, p);
    for s in &p.servers {
        out.line(server_words(s));
    }
}

fn dump_options(out: &mut Out, p: &Proxy) {
    let o = &p.options;
    if let Some(h) = o.httplog {
        let mut w = vec!["option".to_string(), "httplog".into()];
        if h.clf {
            w.push("clf".into());
        }
        out.line(w);
    }
    for (name, on) in [
        ("tcplog", o.tcplog),
        ("dontlognull", o.dontlognull),
        ("dontlog-normal", o.dontlog_normal),
        ("log-separate-errors", o.log_separate_errors),
        ("log-health-checks", o.log_health_checks),
        ("redispatch", o.redispatch),
        ("abortonclose", o.abortonclose),
        ("persist", o.persist),
        ("allbackups", o.allbackups),
        ("ssl-hello-chk", o.ssl_hello_chk),
        ("tcp-check", o.tcp_check),
        ("splice-auto", o.splice_auto),
        ("tcpka", o.tcpka),
        ("clitcpka", o.clitcpka),
        ("srvtcpka", o.srvtcpka),
        ("http-no-delay", o.http_no_delay),
    ] {
        if on {
            out.line(vec!["option".into(), name.into()]);
        }
    }
    match o.http_conn_mode {
        HttpConnMode::KeepAlive => {}
        HttpConnMode::ServerClose => out.line(vec!["option".into(), "http-server-close".into()]),
        HttpConnMode::Close => out.line(vec!["option".into(), "httpclose".into()]),
    }
    super::tcpcheck::protocol_option(out, o);
    if let Some(f) = &o.forwardfor {
        let mut w = vec!["option".to_string(), "forwardfor".into()];
        if let Some(n) = f.except {
            w.extend(["except".into(), n.to_string()]);
        }
        w.extend(["header".into(), q(&f.header)]);
        if f.if_none {
            w.push("if-none".into());
        }
        out.line(w);
    }
    if let Some(f) = &o.originalto {
        let mut w = vec!["option".to_string(), "originalto".into()];
        if let Some(n) = f.except {
            w.extend(["except".into(), n.to_string()]);
        }
        w.extend(["header".into(), q(&f.header)]);
        out.line(w);
    }
    if let Some(c) = &o.httpchk {
        let mut version = c.version.clone();
        for (n, v) in &c.extra_headers {
            let _ = write!(version, "\r\n{n}: {v}");
        }
        out.line(vec![
            "option".into(),
            "httpchk".into(),
            q(&c.method),
            q(&c.uri),
            q(&version),
        ]);
    }
}

fn dump_stats(out: &mut Out, s: &Stats) {
    let st = |w: &[&str]| {
        let mut v = vec!["stats".to_string()];
        v.extend(w.iter().map(|x| x.to_string()));
        v
    };
    out.line(st(&["enable"]));
    if s.uri != Stats::default().uri {
        out.line(st(&["uri", &q(&s.uri)]));
    }
    if let Some(r) = &s.realm {
        out.line(st(&["realm", &q(r)]));
    }
    for (u, p) in &s.auth {
        out.line(st(&["auth", &q(&format!("{u}:{p}"))]));
    }
    if let Some(r) = s.refresh {
        out.line(st(&["refresh", &fmt_duration(r)]));
    }
    if s.hide_version {
        out.line(st(&["hide-version"]));
    }
    if s.show_legends {
        out.line(st(&["show-legends"]));
    }
    for (kw, v) in [("show-node", &s.show_node), ("show-desc", &s.show_desc)] {
        match v.as_deref() {
            None => {}
            Some("") => out.line(st(&[kw])),
            Some(v) => out.line(st(&[kw, &q(v)])),
        }
    }
    for sc in &s.scope {
        out.line(st(&["scope", &q(sc)]));
    }
    for c in &s.admin {
        out.line(st(&["admin", &c.to_string()]));
    }
    for r in &s.http_request {
        out.line(st(&["http-request", &r.to_string()]));
    }
}

fn balance_words(b: &Balance) -> Vec<String> {
    let mut w = vec!["balance".to_string()];
    match b {
        Balance::RoundRobin => w.push("roundrobin".into()),
        Balance::StaticRr => w.push("static-rr".into()),
        Balance::LeastConn => w.push("leastconn".into()),
        Balance::First => w.push("first".into()),
        Balance::Source => w.push("source".into()),
        Balance::Uri { len, depth, whole } => {
            w.push("uri".into());
            if let Some(n) = len {
                w.extend(["len".into(), n.to_string()]);
            }
            if let Some(n) = depth {
                w.extend(["depth".into(), n.to_string()]);
            }
            if *whole {
                w.push("whole".into());
            }
        }
        Balance::UrlParam { name, check_post } => {
            w.extend(["url_param".into(), q(name)]);
            if let Some(n) = check_post {
                w.extend(["check_post".into(), n.to_string()]);
            }
        }
        Balance::Hdr {
            name,
            use_domain_only,
        } => {
            w.push(q(&format!("hdr({name})")));
            if *use_domain_only {
                w.push("use_domain_only".into());
            }
        }
        Balance::Random { draws } => w.extend(["random".into(), "draws".into(), draws.to_string()]),
        Balance::RdpCookie { name } => w.push(q(&format!("rdp-cookie({name})"))),
    }
    w
}

fn bind_words(b: &Bind) -> Vec<String> {
    let addrs: Vec<String> = b.addrs.iter().map(fmt_bind_addr).collect();
    let mut w = vec!["bind".to_string(), q(&addrs.join(","))];
    let o = &b.options;
    if let Some(n) = &b.name {
        w.extend(["name".into(), q(n)]);
    }
    for (kw, v) in [("maxconn", o.maxconn), ("backlog", o.backlog)] {
        if let Some(v) = v {
            w.extend([kw.into(), v.to_string()]);
        }
    }
    for (kw, v) in [
        ("process", &o.process),
        ("interface", &o.interface),
        ("user", &o.user),
        ("group", &o.group),
    ] {
        if let Some(v) = v {
            w.extend([kw.into(), q(v)]);
        }
    }
    if let Some(m) = o.mode {
        w.extend(["mode".into(), format!("{m:o}")]);
    }
    if let Some(l) = o.level {
        w.extend(["level".into(), level_word(l).into()]);
    }
    for (kw, on) in [
        ("transparent", o.transparent),
        ("v4v6", o.v4v6),
        ("v6only", o.v6only),
        ("accept-proxy", o.accept_proxy),
        ("defer-accept", o.defer_accept),
    ] {
        if on {
            w.push(kw.into());
        }
    }
    if o.expose_fd_listeners {
        w.extend(["expose-fd".into(), "listeners".into()]);
    }
    if let Some(p) = o.proto {
        w.extend(["proto".into(), proto_word(p).into()]);
    }
    if let Some(t) = &o.tls {
        w.push("ssl".into());
        for c in &t.crt {
            w.extend(["crt".into(), q(&c.display().to_string())]);
        }
        for c in &t.crt_list {
            w.extend(["crt-list".into(), q(&c.display().to_string())]);
        }
        w.extend(super::tls_words(&t.options));
        if t.strict_sni {
            w.push("strict-sni".into());
        }
        if let Some(v) = t.verify {
            w.extend(["verify".into(), super::verify_word(v).into()]);
        }
        for (kw, f) in [("ca-file", &t.ca_file), ("crl-file", &t.crl_file)] {
            if let Some(f) = f {
                w.extend([kw.into(), q(&f.path.display().to_string())]);
            }
        }
    }
    w
}

/// A server line with every parameter that differs from the built-in default.
fn server_words(s: &Server) -> Vec<String> {
    let d = builtin_server();
    let mut w = vec![
        "server".to_string(),
        q(&s.name),
        q(&fmt_server_addr(&s.addr)),
    ];
    let mut push = |kw: &str, v: String| w.extend([kw.to_string(), v]);
    if s.weight != d.weight {
        push("weight", s.weight.get().to_string());
    }
    for (kw, v) in [
        ("maxconn", s.maxconn),
        ("minconn", s.minconn),
        ("maxqueue", s.maxqueue),
    ] {
        if let Some(v) = v {
            push(kw, v.to_string());
        }
    }
    if let Some(c) = &s.cookie {
        push("cookie", q(c));
    }
    if let Some(src) = s.source {
        push("source", src.to_string());
    }
    if let Some(r) = &s.redir {
        push("redir", q(r));
    }
    if let Some(p) = s.proto {
        push("proto", proto_word(p).into());
    }
    let c = &s.check;
    let dc = &d.check;
    if c.inter != dc.inter {
        push("inter", fmt_duration(c.inter));
    }
    for (kw, v) in [("fastinter", c.fastinter), ("downinter", c.downinter)] {
        if let Some(v) = v {
            push(kw, fmt_duration(v));
        }
    }
    if c.rise != dc.rise {
        push("rise", c.rise.to_string());
    }
    if c.fall != dc.fall {
        push("fall", c.fall.to_string());
    }
    if c.error_limit != dc.error_limit {
        push("error-limit", c.error_limit.to_string());
    }
    if let Some(p) = c.port {
        push("port", p.to_string());
    }
    if let Some(a) = c.addr {
        push("addr", a.to_string());
    }
    if c.on_marked_down.is_some() {
        push("on-marked-down", "shutdown-sessions".into());
    }
    if c.on_marked_up.is_some() {
        push("on-marked-up", "shutdown-backup-sessions".into());
    }
    if let Some(o) = c.observe {
        push(
            "observe",
            match o {
                crate::model::Observe::Layer4 => "layer4",
                crate::model::Observe::Layer7 => "layer7",
            }
            .into(),
        );
    }
    if let Some(e) = c.on_error {
        use crate::model::OnError::*;
        let v = match e {
            FastInter => "fastinter",
            FailCheck => "fail-check",
            SuddenDeath => "sudden-death",
            MarkDown => "mark-down",
        };
        push("on-error", v.into());
    }
    if let Some(a) = &c.agent {
        w.push("agent-check".into());
        w.extend(["agent-port".into(), a.port.to_string()]);
        if let Some(i) = a.inter {
            w.extend(["agent-inter".into(), fmt_duration(i)]);
        }
        if let Some(ad) = a.addr {
            w.extend(["agent-addr".into(), ad.to_string()]);
        }
        if let Some(s) = &a.send {
            w.extend(["agent-send".into(), q(s)]);
        }
    }
    for (kw, on) in [
        ("check", c.enabled),
        ("backup", s.backup),
        ("disabled", s.disabled),
        (
            "send-proxy",
            s.send_proxy == Some(crate::model::ProxyVersion::V1),
        ),
        (
            "send-proxy-v2",
            s.send_proxy == Some(crate::model::ProxyVersion::V2),
        ),
        ("check-send-proxy", c.send_proxy),
        ("ssl", s.ssl),
        ("check-ssl", c.ssl),
    ] {
        if on {
            w.push(kw.into());
        }
    }
    w.extend(server_tls_words(&s.tls));
    w
}

/// The TLS words of a server line. `curves` and `prefer-client-ciphers` only come from
/// the global `ssl-default-server-*` lines, written back in the global section: a server
/// line has no such words.
fn server_tls_words(t: &crate::model::ServerTls) -> Vec<String> {
    let mut w = super::tls_words(&t.options);
    if let Some(i) = w.iter().position(|x| x == "curves") {
        w.drain(i..i + 2);
    }
    w.retain(|x| x != "prefer-client-ciphers");
    if let Some(v) = t.verify {
        w.extend(["verify".into(), super::verify_word(v).into()]);
    }
    for (kw, f) in [("ca-file", &t.ca_file), ("crl-file", &t.crl_file)] {
        if let Some(f) = f {
            w.extend([kw.into(), q(&f.path.display().to_string())]);
        }
    }
    if let Some(c) = &t.crt {
        w.extend(["crt".into(), q(&c.display().to_string())]);
    }
    if let Some(e) = &t.sni {
        w.extend(["sni".into(), q(&e.to_string())]);
    }
    for (kw, v) in [("verifyhost", &t.verifyhost), ("check-sni", &t.check_sni)] {
        if let Some(v) = v {
            w.extend([kw.into(), q(v)]);
        }
    }
    if t.no_reuse {
        w.push("no-ssl-reuse".into());
    }
    w
}

/// `proto NAME` of a bind or a server.
fn proto_word(p: crate::model::HttpProto) -> &'static str {
    match p {
        crate::model::HttpProto::H1 => "h1",
        crate::model::HttpProto::H2 => "h2",
    }
}
