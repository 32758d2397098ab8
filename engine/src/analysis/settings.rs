//! What an HTTP session needs from the configuration of its frontend and backend, taken
//! once from the model so the request path never looks into it.

use std::sync::Arc;
use std::time::Duration;

use ringlb_config::model::{
    CookiePersist, ForwardFor, HttpConnMode, HttpReuse, OriginalTo, Proxy, Timeouts, Tune,
};

use crate::analysis::errors::ErrorPages;
use crate::analysis::rules::{ProxyRules, Shared};

/// A frontend (or the front half of a `listen`).
#[derive(Debug, Clone)]
pub struct HttpFrontend {
    pub name: String,
    pub timeouts: Timeouts,
    pub mode: HttpConnMode,
    pub forwardfor: Option<ForwardFor>,
    pub originalto: Option<OriginalTo>,
    pub errors: ErrorPages,
    /// ACLs, `use_backend`, `http-request`/`http-response`/`tcp-request`, monitor settings.
    pub rules: Arc<ProxyRules>,
    /// `default_backend`, or the `listen` section itself.
    pub default_backend: Option<String>,
    /// Largest request or response head: `tune.bufsize - tune.maxrewrite`.
    pub head_limit: usize,
    /// `unique-id-format` / `unique-id-header`; `None` builds no ID.
    pub unique_id: Option<crate::analysis::unique_id::UniqueId>,
    /// `option http-no-delay`.
    pub no_delay: bool,
    /// `tune.h2.*`, with the frame size resolved (the largest of 16384 and `tune.bufsize`
    /// when not set, as HAProxy announces).
    pub h2: ringlb_config::model::H2Tune,
}

impl HttpFrontend {
    /// Takes the settings of `proxy`; panics only when its rules cannot be compiled, which
    /// [`ProxyRules::compile`] reports for callers that check first.
    pub fn from_proxy(proxy: &Proxy, tune: &Tune) -> Self {
        let rules =
            ProxyRules::compile(proxy).unwrap_or_else(|e| panic!("proxy '{}': {e}", proxy.name));
        Self::with_rules(proxy, tune, Arc::new(rules))
    }

    /// Like [`HttpFrontend::from_proxy`] with rules compiled by the caller.
    pub fn with_rules(proxy: &Proxy, tune: &Tune, rules: Arc<ProxyRules>) -> Self {
        let default_backend = proxy
            .default_backend
            .clone()
            .or_else(|| proxy.kind.has_backend().then(|| proxy.name.clone()));
        Self {
            name: proxy.name.clone(),
            timeouts: proxy.timeouts.clone(),
            mode: proxy.options.http_conn_mode,
            forwardfor: proxy.options.forwardfor.clone(),
            originalto: proxy.options.originalto.clone(),
            errors: ErrorPages::from_proxy(proxy),
            rules,
            default_backend,
            head_limit: tune.bufsize.saturating_sub(tune.maxrewrite).max(256) as usize,
            unique_id: crate::analysis::unique_id::UniqueId::from_proxy(proxy),
            no_delay: proxy.options.http_no_delay,
            h2: ringlb_config::model::H2Tune {
                max_frame_size: Some(
                    tune.h2
                        .max_frame_size
                        .unwrap_or(tune.bufsize.clamp(16384, 16777215)),
                ),
                ..tune.h2
            },
        }
    }

    /// Time allowed to receive a whole request head (`timeout http-request`, else `client`).
    pub fn head_timeout(&self) -> Option<Duration> {
        self.timeouts.http_request.or(self.timeouts.client)
    }

    /// Time an idle keep-alive connection waits for the next request.
    pub fn keep_alive_timeout(&self) -> Option<Duration> {
        self.timeouts.http_keep_alive.or(self.head_timeout())
    }
}

/// A backend (or the back half of a `listen`).
#[derive(Debug, Clone)]
pub struct HttpBackend {
    pub name: String,
    pub timeouts: Timeouts,
    pub mode: HttpConnMode,
    pub forwardfor: Option<ForwardFor>,
    pub originalto: Option<OriginalTo>,
    pub errors: ErrorPages,
    /// The backend's own `http-request`/`http-response` rules, run after the frontend's.
    pub rules: Arc<ProxyRules>,
    /// Cookie persistence (`cookie NAME …`), if configured.
    pub cookie: Option<CookiePersist>,
    /// This backend's index in the worker counters, set once at startup so the request path
    /// does not look it up by name; `None` leaves the lookup to the observer.
    pub stats_index: Option<usize>,
    /// `http-reuse`: which requests may use an idle server connection.
    pub reuse: HttpReuse,
    /// `option http-no-delay`.
    pub no_delay: bool,
}

impl HttpBackend {
    pub fn from_proxy(proxy: &Proxy) -> Self {
        Self::in_config(proxy, Shared::default())
    }

    /// Like [`HttpBackend::from_proxy`], with the userlists and http-errors sections of the
    /// configuration the proxy belongs to.
    pub fn in_config(proxy: &Proxy, shared: Shared<'_>) -> Self {
        let rules = ProxyRules::compile_in(proxy, shared)
            .unwrap_or_else(|e| panic!("proxy '{}': {e}", proxy.name));
        Self {
            rules: Arc::new(rules),
            name: proxy.name.clone(),
            timeouts: proxy.timeouts.clone(),
            mode: proxy.options.http_conn_mode,
            forwardfor: proxy.options.forwardfor.clone(),
            originalto: proxy.options.originalto.clone(),
            errors: ErrorPages::in_config(proxy, shared),
            cookie: proxy.cookie.clone(),
            stats_index: None,
            reuse: proxy.http_reuse,
            no_delay: proxy.options.http_no_delay,
        }
    }
}
