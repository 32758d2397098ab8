//! What a valid configuration asks for that this engine does not apply yet: each item is
//! announced at startup, so nothing the user wrote is dropped silently.

use ringlb_config::model::{Balance, Mode, Proxy};
use ringlb_config::rules::{HttpRequestAction, HttpResponseAction};
use ringlb_config::Config;

/// One notice per proxy and feature, in configuration order.
pub fn not_applied(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let g = &config.global;
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
        let unapplied: Vec<String> = p
            .http_request
            .iter()
            .filter_map(|r| match &r.action {
                HttpRequestAction::SetVar { .. } => Some("set-var".into()),
                HttpRequestAction::Capture { .. } => Some("capture".into()),
                HttpRequestAction::SetLogLevel(_) => Some("set-log-level".into()),
                HttpRequestAction::UseService(_) => Some("use-service".into()),
                HttpRequestAction::DisableL7Retry => Some("disable-l7-retry".into()),
                _ => None,
            })
            .collect();
        if !unapplied.is_empty() {
            say(&format!(
                "'http-request' actions not applied yet: {}",
                unapplied.join(", ")
            ));
        }
        if p.stats.as_ref().is_some_and(|s| s.enabled) {
            say("the stats page is not served yet");
        }
    }
    let response_unapplied = p.http_response.iter().any(|r| {
        matches!(
            r.action,
            HttpResponseAction::SetVar { .. } | HttpResponseAction::SetLogLevel(_)
        )
    });
    if response_unapplied {
        say("'http-response' set-var and set-log-level are not applied yet");
    }
    if p.kind.has_backend() {
        if !matches!(p.balance, Balance::RoundRobin | Balance::StaticRr) {
            say("this 'balance' algorithm is not built yet; weighted round robin is used");
        }
        if p.cookie.as_ref().is_some_and(|c| c.dynamic) {
            say("'cookie … dynamic' is not applied yet; servers use their 'cookie' values");
        }
        if p.options.persist {
            say("'option persist' is not applied yet; a down server's clients are balanced");
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
             frontend f\n bind :8080\n acl bad src 10.0.0.1\n http-request deny if bad\n http-request capture req.hdr(host) len 10\n default_backend b\n\
             backend b\n balance leastconn\n cookie SRV insert\n server s 127.0.0.1:80 check cookie s\n",
        );
        let all = n.join("\n");
        assert!(!all.contains("daemon"), "daemon is applied: {all}");
        assert!(
            all.contains("frontend 'f': 'http-request' actions not applied yet: capture"),
            "{all}"
        );
        assert!(!all.contains("deny"), "deny is applied: {all}");
        assert!(
            all.contains("backend 'b': this 'balance' algorithm"),
            "{all}"
        );
        assert!(
            !all.contains("cookie"),
            "cookie persistence is applied: {all}"
        );
        assert!(!all.contains("health check"), "health checks run: {all}");
    }

    #[test]
    fn option_persist_and_dynamic_cookies_are_announced() {
        let n = notices(
            "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
             listen l\n bind :8080\n option persist\n cookie SRV insert dynamic\n server s 127.0.0.1:80\n",
        );
        let all = n.join("\n");
        assert!(
            all.contains("listen 'l': 'option persist' is not applied yet"),
            "{all}"
        );
        assert!(
            all.contains("listen 'l': 'cookie … dynamic' is not applied yet"),
            "{all}"
        );
    }
}
