//! What an HTTP session needs from the configuration of its frontend and backend, taken
//! once from the model so the request path never looks into it.

use std::time::Duration;

use ringlb_config::model::{ForwardFor, HttpConnMode, Proxy, Timeouts, Tune};
use ringlb_config::rules::{HttpRequestAction, ReturnSpec};

use super::errors::ErrorPages;

/// A frontend (or the front half of a `listen`).
#[derive(Debug, Clone)]
pub struct HttpFrontend {
    pub name: String,
    pub timeouts: Timeouts,
    pub mode: HttpConnMode,
    pub forwardfor: Option<ForwardFor>,
    pub errors: ErrorPages,
    /// Unconditional `http-request return` replies; the first one answers every request.
    pub returns: Vec<ReturnSpec>,
    /// `default_backend`, or the `listen` section itself.
    pub default_backend: Option<String>,
    /// Largest request or response head: `tune.bufsize - tune.maxrewrite`.
    pub head_limit: usize,
}

impl HttpFrontend {
    pub fn from_proxy(proxy: &Proxy, tune: &Tune) -> Self {
        let returns = proxy
            .http_request
            .iter()
            .filter(|r| r.condition.is_none())
            .filter_map(|r| match &r.action {
                HttpRequestAction::Return(spec) => Some(spec.clone()),
                _ => None,
            })
            .collect();
        let default_backend = proxy
            .default_backend
            .clone()
            .or_else(|| proxy.kind.has_backend().then(|| proxy.name.clone()));
        Self {
            name: proxy.name.clone(),
            timeouts: proxy.timeouts.clone(),
            mode: proxy.options.http_conn_mode,
            forwardfor: proxy.options.forwardfor.clone(),
            errors: ErrorPages::from_proxy(proxy),
            returns,
            default_backend,
            head_limit: tune.bufsize.saturating_sub(tune.maxrewrite).max(256) as usize,
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
    pub errors: ErrorPages,
}

impl HttpBackend {
    pub fn from_proxy(proxy: &Proxy) -> Self {
        Self {
            name: proxy.name.clone(),
            timeouts: proxy.timeouts.clone(),
            mode: proxy.options.http_conn_mode,
            forwardfor: proxy.options.forwardfor.clone(),
            errors: ErrorPages::from_proxy(proxy),
        }
    }
}
