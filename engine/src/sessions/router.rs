//! What an HTTP session needs from the worker it runs in: backends by name, the worker's
//! counters and log output, the stats answers and the stop latch. The worker implements
//! [`Router`] and the stats service implements [`StatsApplet`]; the session names neither.

use crate::analysis::settings::HttpBackend;
use crate::analysis::stats_page::{ActionOutcome, AdminForm, PageOptions, StatsPage};
use crate::backend::upstream::Upstream;

/// The built-in stats page and Prometheus exporter, each answer made on request from one
/// snapshot of the counters.
pub trait StatsApplet {
    /// The HTML page of `page` (`admin`: with the admin form).
    fn html(&self, page: &StatsPage, opts: &PageOptions, admin: bool) -> String;
    /// The `;csv` export of the proxies `page` shows.
    fn csv(&self, page: &StatsPage, opts: &PageOptions) -> String;
    /// `use-service prometheus-exporter`.
    fn prometheus(&self) -> String;
    /// Applies an admin form posted to `page`.
    fn apply_form(&self, page: &StatsPage, form: &AdminForm) -> ActionOutcome;
}

/// Finds a backend by name: its HTTP settings and its servers.
pub trait Router {
    type Upstream: Upstream;
    fn backend(&self, name: &str) -> Option<(&HttpBackend, &Self::Upstream)>;
    /// Usable servers of backend `name` (`nbsrv`); `None` when unknown to this router.
    fn usable_servers(&self, name: &str) -> Option<usize> {
        let _ = name;
        None
    }
    /// The worker's counters and log output; `None` where nothing is counted.
    fn observer(&self) -> Option<&crate::log::observer::Observer> {
        None
    }
    /// What answers the stats page and the Prometheus exporter; `None` where they are not
    /// served.
    fn stats(&self) -> Option<&dyn StatsApplet> {
        None
    }
    /// Set once the process stops softly: responses then close the client connection, and
    /// idle keep-alive connections get a short last chance to send one more request.
    fn stopping(&self) -> Option<&crate::io::latch::Latch> {
        None
    }
    /// Set when `hard-stop-after` expires: exchanges still under way end at once, a request
    /// waiting for its response with a 502 (`KH`).
    fn killed(&self) -> Option<&crate::io::latch::Latch> {
        None
    }
    /// How long a keep-alive connection may idle between requests before its session ends
    /// and hands it back as an [`IdleConn`](crate::sessions::http::session::IdleConn),
    /// for the caller to watch cheaply; `None`: sessions keep their connections to the end.
    fn idle_after(&self) -> Option<std::time::Duration> {
        None
    }
}
