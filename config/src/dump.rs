//! `dump`: a configuration written back in HAProxy syntax, every proxy fully expanded so
//! that no `defaults` values are needed. Parsing the output gives an equal model.

use std::fmt::Write as _;

use crate::lexer::quote;
use crate::model::{Config, ErrorSource, Global, LogFormatKind, LogTarget, Password};
use crate::parse::log::{facility_name, level_name, LOG_FORMATS};
use crate::value::{fmt_duration, fmt_id_set, fmt_log_address, fmt_socket_address};

mod compat;
mod proxy;
mod tcpcheck;

/// The whole configuration as text.
pub fn dump(config: &Config) -> String {
    let mut out = Out::default();
    dump_global(&mut out, &config.global);
    for u in &config.userlists {
        out.section(&["userlist", &q(&u.name)]);
        for g in &u.groups {
            let mut w = vec!["group".to_string(), q(&g.name)];
            if !g.users.is_empty() {
                w.push("users".into());
                w.push(q(&g.users.join(",")));
            }
            out.line(w);
        }
        for user in &u.users {
            let mut w = vec!["user".to_string(), q(&user.name)];
            match &user.password {
                Password::Crypt(h) => w.extend(["password".into(), q(h)]),
                Password::Insecure(p) => w.extend(["insecure-password".into(), q(p)]),
            }
            if !user.groups.is_empty() {
                w.extend(["groups".into(), q(&user.groups.join(","))]);
            }
            out.line(w);
        }
    }
    for h in &config.http_errors {
        out.section(&["http-errors", &q(&h.name)]);
        for e in &h.errorfiles {
            out.line(errorfile_words(e));
        }
    }
    // Proxies remember which named `defaults` they came from; an empty section of that
    // name keeps the name without adding any setting, and a final unnamed one stops later
    // proxies from inheriting it.
    let mut named: Vec<&str> = Vec::new();
    for p in &config.proxies {
        if let Some(d) = &p.defaults {
            if !named.contains(&d.as_str()) {
                named.push(d);
            }
        }
    }
    for d in &named {
        out.section(&["defaults", &q(d)]);
    }
    if !named.is_empty() {
        out.section(&["defaults"]);
    }
    for p in &config.proxies {
        proxy::dump_proxy(&mut out, p);
    }
    out.text
}

#[derive(Default)]
pub(super) struct Out {
    text: String,
}

impl Out {
    pub(super) fn section(&mut self, words: &[&str]) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(&words.join(" "));
        self.text.push('\n');
    }
    pub(super) fn line(&mut self, words: Vec<String>) {
        let _ = writeln!(self.text, "    {}", words.join(" "));
    }
    pub(super) fn kv(&mut self, kw: &str, v: impl AsRef<str>) {
        self.line(vec![kw.to_string(), q(v.as_ref())]);
    }
    pub(super) fn flag(&mut self, kw: &str, on: bool) {
        if on {
            self.line(vec![kw.to_string()]);
        }
    }
}

pub(super) fn q(s: &str) -> String {
    quote(s).into_owned()
}

fn dump_global(out: &mut Out, g: &Global) {
    out.section(&["global"]);
    out.flag("daemon", g.daemon);
    out.flag("master-worker", g.master_worker);
    out.flag("quiet", g.quiet);
    if let Some(n) = g.nbproc {
        out.kv("nbproc", n.to_string());
    }
    if let Some(n) = g.nbthread {
        out.kv("nbthread", n.to_string());
    }
    for m in &g.cpu_map {
        let mut first = String::new();
        if m.auto {
            first.push_str("auto:");
        }
        if let Some(p) = &m.process {
            first.push_str(&fmt_id_set(p));
            first.push('/');
        }
        first.push_str(&fmt_id_set(&m.threads));
        out.line(vec!["cpu-map".into(), first, fmt_id_set(&m.cpus)]);
    }
    for (kw, v) in [
        ("maxconn", g.maxconn),
        ("ulimit-n", g.ulimit_n),
        ("uid", g.uid),
        ("gid", g.gid),
    ] {
        if let Some(v) = v {
            out.kv(kw, v.to_string());
        }
    }
    for (kw, v) in [
        ("user", &g.user),
        ("group", &g.group),
        ("log-tag", &g.log_tag),
    ] {
        if let Some(v) = v {
            out.kv(kw, v);
        }
    }
    for (kw, v) in [("chroot", &g.chroot), ("pidfile", &g.pidfile)] {
        if let Some(v) = v {
            out.kv(kw, v.display().to_string());
        }
    }
    for l in &g.logs {
        out.line(log_words(l));
    }
    for s in &g.stats_sockets {
        let mut w = vec![
            "stats".into(),
            "socket".into(),
            q(&fmt_socket_address(&s.addr)),
        ];
        if let Some(m) = s.mode {
            w.extend(["mode".into(), format!("{m:o}")]);
        }
        w.extend(["level".into(), level_word(s.level).into()]);
        for (kw, v) in [
            ("process", &s.process),
            ("user", &s.user),
            ("group", &s.group),
        ] {
            if let Some(v) = v {
                w.extend([kw.to_string(), q(v)]);
            }
        }
        if s.expose_fd_listeners {
            w.extend(["expose-fd".into(), "listeners".into()]);
        }
        out.line(w);
    }
    if let Some(t) = g.stats_timeout {
        out.line(vec!["stats".into(), "timeout".into(), fmt_duration(t)]);
    }
    if let Some(p) = g.spread_checks {
        out.kv("spread-checks", p.to_string());
    }
    if let Some(t) = g.hard_stop_after {
        out.kv("hard-stop-after", fmt_duration(t));
    }
    let tune = crate::model::Tune::default();
    if g.tune.bufsize != tune.bufsize {
        out.kv("tune.bufsize", g.tune.bufsize.to_string());
    }
    if g.tune.maxrewrite != tune.maxrewrite {
        out.kv("tune.maxrewrite", g.tune.maxrewrite.to_string());
    }
    let (h2, d) = (&g.tune.h2, &tune.h2);
    for (kw, v, dv) in [
        (
            "tune.h2.header-table-size",
            h2.header_table_size,
            d.header_table_size,
        ),
        (
            "tune.h2.initial-window-size",
            h2.initial_window_size,
            d.initial_window_size,
        ),
        (
            "tune.h2.max-concurrent-streams",
            h2.max_concurrent_streams,
            d.max_concurrent_streams,
        ),
    ] {
        if v != dv {
            out.kv(kw, v.to_string());
        }
    }
    if let Some(n) = h2.max_frame_size {
        out.kv("tune.h2.max-frame-size", n.to_string());
    }
    dump_global_tls(out, &g.tls);
}

fn dump_global_tls(out: &mut Out, t: &crate::model::GlobalTls) {
    let d = crate::model::GlobalTls::default();
    for (kw, v) in [("ca-base", &t.ca_base), ("crt-base", &t.crt_base)] {
        if let Some(v) = v {
            out.kv(kw, v.display().to_string());
        }
    }
    for (side, o) in [("bind", &t.bind), ("server", &t.server)] {
        let mut words = tls_words(o);
        for list in ["ciphers", "ciphersuites", "curves"] {
            if let Some(i) = words.iter().position(|w| w == list) {
                let v = words.remove(i + 1);
                words.remove(i);
                out.kv(&format!("ssl-default-{side}-{list}"), v);
            }
        }
        if !words.is_empty() {
            let mut line = vec![format!("ssl-default-{side}-options")];
            line.extend(words);
            out.line(line);
        }
    }
    if t.server_verify != d.server_verify {
        out.kv("ssl-server-verify", verify_word(t.server_verify));
    }
    if t.cachesize != d.cachesize {
        out.kv("tune.ssl.cachesize", t.cachesize.to_string());
    }
    if t.lifetime != d.lifetime {
        out.kv("tune.ssl.lifetime", fmt_duration(t.lifetime));
    }
    if let Some(n) = t.maxrecord {
        out.kv("tune.ssl.maxrecord", n.to_string());
    }
}

pub(super) fn verify_word(v: crate::model::Verify) -> &'static str {
    match v {
        crate::model::Verify::None => "none",
        crate::model::Verify::Optional => "optional",
        crate::model::Verify::Required => "required",
    }
}

/// The words that write `o` back, as on a `bind` or `server` line.
pub(super) fn tls_words(o: &crate::model::TlsOptions) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(v) = o.min_ver {
        w.extend(["ssl-min-ver".into(), v.name().into()]);
    }
    if let Some(v) = o.max_ver {
        w.extend(["ssl-max-ver".into(), v.name().into()]);
    }
    for (kw, v) in [
        ("ciphers", &o.ciphers),
        ("ciphersuites", &o.ciphersuites),
        ("curves", &o.curves),
    ] {
        if let Some(v) = v {
            w.extend([kw.into(), q(v)]);
        }
    }
    if let Some(a) = &o.alpn {
        w.extend(["alpn".into(), q(&a.join(","))]);
    }
    if o.no_tls_tickets {
        w.push("no-tls-tickets".into());
    }
    if o.prefer_client_ciphers {
        w.push("prefer-client-ciphers".into());
    }
    w
}

pub(super) fn level_word(l: crate::model::AdminLevel) -> &'static str {
    match l {
        crate::model::AdminLevel::User => "user",
        crate::model::AdminLevel::Operator => "operator",
        crate::model::AdminLevel::Admin => "admin",
    }
}

pub(super) fn log_words(l: &LogTarget) -> Vec<String> {
    match l {
        LogTarget::Global => vec!["log".into(), "global".into()],
        LogTarget::Remote {
            addr,
            len,
            format,
            facility,
            level,
            min_level,
        } => {
            let mut w = vec!["log".into(), q(&fmt_log_address(addr))];
            if let Some(n) = len {
                w.extend(["len".into(), n.to_string()]);
            }
            if *format != LogFormatKind::default() {
                let name = LOG_FORMATS
                    .iter()
                    .find(|(_, f)| f == format)
                    .map(|(n, _)| *n)
                    .unwrap_or("rfc3164");
                w.extend(["format".into(), name.into()]);
            }
            w.push(facility_name(*facility).into());
            if let Some(l) = level {
                w.push(level_name(*l).into());
                if let Some(m) = min_level {
                    w.push(level_name(*m).into());
                }
            }
            w
        }
    }
}

pub(super) fn errorfile_words(e: &crate::model::ErrorFile) -> Vec<String> {
    match &e.source {
        ErrorSource::File { path, .. } => {
            vec![
                "errorfile".into(),
                e.status.to_string(),
                q(&path.display().to_string()),
            ]
        }
        ErrorSource::Location { code, url } => {
            let kw = if *code == 303 {
                "errorloc303"
            } else {
                "errorloc302"
            };
            vec![kw.into(), e.status.to_string(), q(url)]
        }
    }
}
