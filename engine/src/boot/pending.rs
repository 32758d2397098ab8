//! What a valid configuration asks for that this engine does not apply yet: each item is
//! announced at startup, so nothing the user wrote is dropped silently.

use ringlb_config::model::{Balance, Mode, Proxy};
use ringlb_config::rules::HttpRequestAction;
use ringlb_config::Config;

/// One notice per proxy and feature, in configuration order.
pub fn not_applied(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
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
    }
    let stats_rules_unapplied = p.stats.as_ref().is_some_and(|s| {
        s.http_request.iter().any(|r| {
            !matches!(
                r.action,
                HttpRequestAction::Allow
                    | HttpRequestAction::Deny(_)
                    | HttpRequestAction::Auth { .. }
            )
        })
    });
    if stats_rules_unapplied {
        say("'stats http-request' applies only allow, deny and auth");
    }
    let slotless_capture = !p.kind.has_frontend()
        && p.http_request
            .iter()
            .any(|r| matches!(r.action, HttpRequestAction::Capture { id: None, .. }));
    if slotless_capture {
        say("'http-request capture … len' needs a frontend's slot; write 'capture … id N' here");
    }
    if p.kind.has_backend() {
        match &p.balance {
            Balance::RdpCookie { .. } => say(
                "'balance rdp-cookie' sees no RDP cookie yet (TCP data is not inspected \
                 before connecting); round robin is used",
            ),
            Balance::UrlParam {
                check_post: Some(_),
                ..
            } => say("'balance url_param … check_post' does not look into request bodies yet"),
            _ => {}
        }
        if p.cookie.as_ref().is_some_and(|c| c.dynamic) {
            say("'cookie … dynamic' is not applied yet; servers use their 'cookie' values");
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
    fn rdp_cookie_balancing_is_announced_as_round_robin() {
        let n = notices(
            "defaults\n mode tcp\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
             listen rdp\n bind :3389\n balance rdp-cookie\n server s 127.0.0.1:3389 maxconn 4\n",
        );
        assert_eq!(n.len(), 1, "{n:?}");
        assert!(
            n[0].starts_with("listen 'rdp': 'balance rdp-cookie'"),
            "{n:?}"
        );
    }

    #[test]
    fn unapplied_features_are_named_with_their_proxy() {
        let n = notices(
            "global\n daemon\ndefaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
             frontend f\n bind :8080\n acl bad src 10.0.0.1\n http-request deny if bad\n http-request capture req.hdr(host) len 10\n\
             http-request set-var(txn.a) src\n http-request set-log-level err\n http-request disable-l7-retry\n\
             http-response set-var(txn.b) status\n default_backend b\n\
             backend b\n balance leastconn\n cookie SRV insert\n http-request capture src len 4\n server s 127.0.0.1:80 check cookie s\n",
        );
        let all = n.join("\n");
        assert!(!all.contains("daemon"), "daemon is applied: {all}");
        assert!(
            all.contains(
                "frontend 'f': 'http-request' actions not applied yet: disable-l7-retry\n"
            ),
            "set-var, capture and set-log-level are applied: {all}"
        );
        assert!(!all.contains("http-response"), "{all}");
        assert!(
            all.contains("backend 'b': 'http-request capture … len' needs a frontend's slot"),
            "{all}"
        );
        assert!(!all.contains("deny"), "deny is applied: {all}");
        assert!(!all.contains("balance"), "leastconn is applied: {all}");
        assert!(
            !all.contains("cookie"),
            "cookie persistence is applied: {all}"
        );
        assert!(!all.contains("health check"), "health checks run: {all}");
    }

    #[test]
    fn dynamic_cookies_are_announced_and_option_persist_is_not() {
        let n = notices(
            "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
             listen l\n bind :8080\n option persist\n cookie SRV insert dynamic\n server s 127.0.0.1:80\n",
        );
        let all = n.join("\n");
        assert!(
            !all.contains("persist'"),
            "option persist is applied: {all}"
        );
        assert!(
            all.contains("listen 'l': 'cookie … dynamic' is not applied yet"),
            "{all}"
        );
    }

    #[test]
    fn the_stats_page_and_the_exporter_are_applied() {
        let n = notices(
            "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
             listen l\n bind :8080\n stats uri /s\n stats http-request set-header X 1\n\
             http-request use-service prometheus-exporter if { path /metrics }\n server s 127.0.0.1:80\n",
        );
        let all = n.join("\n");
        assert!(!all.contains("use-service"), "{all}");
        assert!(!all.contains("stats page"), "{all}");
        assert!(
            all.contains("listen 'l': 'stats http-request' applies only allow, deny and auth"),
            "{all}"
        );
    }
}
