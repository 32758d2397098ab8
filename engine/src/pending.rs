//! What a valid configuration asks for that this engine does not apply yet: each item is
//! announced at startup, so nothing the user wrote is dropped silently.

use ringlb_config::model::{Balance, CookieMode, Mode, Proxy};
use ringlb_config::rules::HttpRequestAction;
use ringlb_config::Config;

/// One notice per proxy and feature, in configuration order.
pub fn not_applied(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let g = &config.global;
    if g.daemon {
        out.push("global: 'daemon' is not applied yet; ringlb stays in the foreground".into());
    }
    if g.user.is_some() || g.group.is_some() || g.uid.is_some() || g.gid.is_some() {
        out.push(
            "global: 'user'/'group'/'uid'/'gid' are not applied yet; privileges are not dropped"
                .into(),
        );
    }
    if g.chroot.is_some() {
        out.push("global: 'chroot' is not applied yet".into());
    }
    if !g.logs.is_empty() {
        out.push("global: 'log' targets receive nothing yet; logging is not built".into());
    }
    if !g.stats_sockets.is_empty() {
        out.push("global: 'stats socket' is not served yet".into());
    }
    for p in &config.proxies {
        proxy_notices(p, &mut out);
    }
    out
}

fn proxy_notices(p: &Proxy, out: &mut Vec<String>) {
    let mut say = |what: &str| out.push(format!("{} '{}': {what}", p.kind.keyword(), p.name));
    if p.kind.has_frontend() {
        if !p.use_backends.is_empty() {
            say("'use_backend' rules are not evaluated yet; every request goes to the default backend");
        }
        let unapplied = p
            .http_request
            .iter()
            .filter(|r| r.condition.is_some() || !matches!(r.action, HttpRequestAction::Return(_)))
            .count();
        if unapplied > 0 {
            say(&format!(
                "{unapplied} 'http-request' rule(s) (with conditions, or other than an unconditional 'return') are not applied yet, including any deny, block or redirect"
            ));
        }
        if !p.http_response.is_empty() {
            say("'http-response' rules are not applied yet");
        }
        if !p.tcp_request.is_empty() {
            say("'tcp-request' rules are not applied yet");
        }
        if p.stats.as_ref().is_some_and(|s| s.enabled) {
            say("the stats page is not served yet");
        }
        if p.monitor_uri.is_some() || !p.monitor_net.is_empty() || !p.monitor_fail.is_empty() {
            say("'monitor-uri', 'monitor-net' and 'monitor fail' are not applied yet");
        }
        if !p.logs.is_empty() || p.options.httplog.is_some() || p.options.tcplog {
            say("logging is not built yet");
        }
    }
    if p.kind.has_backend() {
        if !matches!(p.balance, Balance::RoundRobin | Balance::StaticRr) {
            say("this 'balance' algorithm is not built yet; weighted round robin is used");
        }
        if let Some(c) = &p.cookie {
            let mode = match c.mode {
                CookieMode::Insert => "insert",
                CookieMode::Prefix => "prefix",
                CookieMode::Rewrite => "rewrite",
                CookieMode::Passive => "passive",
            };
            say(&format!(
                "cookie persistence ('{}' {mode}) is not applied yet",
                c.name
            ));
        }
        if p.servers.iter().any(|s| s.check.enabled) {
            say("health checks are not run yet; servers are assumed up");
        }
        if p.servers
            .iter()
            .any(|s| s.maxconn.is_some() || s.maxqueue.is_some() || s.minconn.is_some())
        {
            say("server 'maxconn'/'minconn'/'maxqueue' queueing is not applied yet");
        }
        if p.mode == Mode::Http
            && p.options.httpchk.is_some()
            && !p.servers.iter().any(|s| s.check.enabled)
        {
            say("'option httpchk' has no server with 'check'");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn notices(text: &str) -> Vec<String> {
        let loaded = ringlb_config::parse_str(text, Path::new("t.cfg"));
        not_applied(&loaded.config.expect("valid"))
    }

    #[test]
    fn a_plain_proxy_has_nothing_pending() {
        let n = notices(
            "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
             frontend f\n bind :8080\n default_backend b\nbackend b\n server s 127.0.0.1:80\n",
        );
        assert!(n.is_empty(), "{n:?}");
    }

    #[test]
    fn unapplied_features_are_named_with_their_proxy() {
        let n = notices(
            "global\n daemon\ndefaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
             frontend f\n bind :8080\n acl bad src 10.0.0.1\n http-request deny if bad\n default_backend b\n\
             backend b\n balance leastconn\n cookie SRV insert\n server s 127.0.0.1:80 check cookie s\n",
        );
        let all = n.join("\n");
        assert!(all.contains("'daemon' is not applied"), "{all}");
        assert!(
            all.contains("frontend 'f': 1 'http-request' rule(s)"),
            "{all}"
        );
        assert!(
            all.contains("backend 'b': this 'balance' algorithm"),
            "{all}"
        );
        assert!(all.contains("cookie persistence ('SRV' insert)"), "{all}");
        assert!(all.contains("health checks are not run yet"), "{all}");
    }
}
