//! The request analysis, top to bottom: monitor URI, `tcp-request content`, the frontend's
//! `http-request` rules, the backend choice, then the backend's own rules. It reads the
//! stream value ([`Txn`]) and leaves its rewrites in [`HeadEdits`]; it knows nothing of the
//! connection the request came on, so any protocol's session can run a request through it.

use ringlb_config::rules::{ReturnBody, ReturnSpec, Service};

use crate::analysis::replies::{auth_reply, monitor_reply, redirect_reply, spec_reply};
use crate::analysis::rules::{ProxyRules, RequestVerdict};
use crate::analysis::settings::{HttpBackend, HttpFrontend};
use crate::codec::edits::HeadEdits;
use crate::stream::txn::Txn;

/// What the rules decided about one request.
pub enum Decision<'a, U> {
    /// The request goes to this backend (its settings, and the handle its servers are
    /// reached by).
    Forward(&'a HttpBackend, U),
    /// No backend applies, or the one named does not exist: 503.
    NoBackend,
    /// `tcp-request content reject`: close without a word.
    Reject,
    /// The stats page answers (access already granted).
    Stats {
        page: &'a crate::analysis::stats_page::StatsPage,
        admin: bool,
    },
    /// `use-service prometheus-exporter` answers.
    Prometheus,
    /// The proxy answers itself.
    Reply {
        bytes: Vec<u8>,
        status: u16,
        close: bool,
        /// `tarpit`: hold the client this long first.
        delay: Option<std::time::Duration>,
        denied: bool,
    },
}

/// Whether a reply is an error page that carries `Connection: close`.
pub fn closes(spec: &ReturnSpec) -> bool {
    match spec.body {
        ReturnBody::None => spec.headers.is_empty() && spec.status >= 400,
        ReturnBody::ErrorFile { .. } | ReturnBody::DefaultErrorfiles => true,
        _ => false,
    }
}

/// The request path's decisions, top to bottom: monitor URI, `tcp-request content`, the
/// frontend's `http-request` rules, the backend choice, then the backend's own rules.
pub fn decide<'a, U>(
    fe: &'a HttpFrontend,
    backend: &dyn Fn(&str) -> Option<(&'a HttpBackend, U)>,
    txn: &Txn<'_>,
    edits: &mut HeadEdits,
    keep: bool,
) -> Decision<'a, U> {
    let rules = &fe.rules;
    if let Some(uri) = &rules.monitor_uri {
        if txn.url() == Some(uri.as_bytes()) {
            let failing = rules.monitor_failing(txn);
            return Decision::Reply {
                bytes: monitor_reply(failing, !keep),
                status: if failing { 503 } else { 200 },
                close: !keep,
                delay: None,
                denied: false,
            };
        }
    }
    if !ProxyRules::tcp_accepts(&rules.tcp_content, &rules.acls, txn) {
        return Decision::Reject;
    }
    // The stats URI is matched on the request as received, and served once the proxy's
    // `http-request` rules let the request through, as HAProxy does.
    let stats = rules.stats.as_deref().filter(|p| p.matches(txn));
    // From here on, conditions and replies see the request as earlier rules rewrote it.
    let verdict = rules.http_request(txn, edits);
    if let Some(d) = verdict_reply(rules, verdict, &txn.with_edits(edits), &[&fe.errors], keep) {
        return d;
    }
    if let Some(page) = stats {
        return stats_decision(page, rules, txn, keep);
    }
    let exists = |n: &str| backend(n).is_some();
    let default = fe.default_backend.as_deref();
    let Some(name) = rules.choose_backend(&txn.with_edits(edits), &exists, default) else {
        return Decision::NoBackend;
    };
    let Some((be, upstream)) = backend(&name) else {
        return Decision::NoBackend;
    };
    if be.name != fe.name {
        let txn = Txn {
            backend: Some(&be.name),
            ..*txn
        };
        let stats = be.rules.stats.as_deref().filter(|p| p.matches(&txn));
        let verdict = be.rules.http_request(&txn, edits);
        let pages = [&be.errors, &fe.errors];
        if let Some(d) = verdict_reply(&be.rules, verdict, &txn.with_edits(edits), &pages, keep) {
            return d;
        }
        if let Some(page) = stats {
            return stats_decision(page, &be.rules, &txn, keep);
        }
    }
    Decision::Forward(be, upstream)
}

/// The stats page for a request that asked for it, or the 401/403 that keeps it out.
fn stats_decision<'a, U>(
    page: &'a crate::analysis::stats_page::StatsPage,
    rules: &ProxyRules,
    txn: &Txn<'_>,
    keep: bool,
) -> Decision<'a, U> {
    use crate::analysis::stats_page::Access;
    match page.access(&rules.acls, txn) {
        Access::Granted { admin } => Decision::Stats { page, admin },
        Access::AuthRequired(realm) => Decision::Reply {
            bytes: auth_reply(&realm, !keep),
            status: 401,
            close: !keep,
            delay: None,
            denied: false,
        },
        Access::Denied => Decision::Reply {
            bytes: crate::analysis::errors::default_error(403),
            status: 403,
            close: true,
            delay: None,
            denied: true,
        },
    }
}

/// The reply for a verdict that stops the request, or `None` to go on.
fn verdict_reply<'a, U>(
    rules: &ProxyRules,
    verdict: RequestVerdict<'_>,
    txn: &Txn<'_>,
    pages: &[&crate::analysis::errors::ErrorPages],
    keep: bool,
) -> Option<Decision<'a, U>> {
    let reply = |bytes, status, close, delay, denied| {
        Some(Decision::Reply {
            bytes,
            status,
            close,
            delay,
            denied,
        })
    };
    match verdict {
        RequestVerdict::Pass => None,
        RequestVerdict::Service(Service::PrometheusExporter) => Some(Decision::Prometheus),
        RequestVerdict::Deny(spec) => reply(
            spec_reply(spec, true, txn, pages),
            spec.status,
            true,
            None,
            true,
        ),
        RequestVerdict::Tarpit(spec) => reply(
            spec_reply(spec, true, txn, pages),
            spec.status,
            true,
            Some(rules.tarpit),
            true,
        ),
        RequestVerdict::Auth(realm) => reply(auth_reply(realm, !keep), 401, !keep, None, false),
        RequestVerdict::Redirect(r) => {
            reply(redirect_reply(r, txn, !keep), r.code, !keep, None, false)
        }
        RequestVerdict::Return(spec) => {
            let close = !keep || closes(spec);
            reply(
                spec_reply(spec, close, txn, pages),
                spec.status,
                close,
                None,
                false,
            )
        }
    }
}
