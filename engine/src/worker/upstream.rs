//! The worker as the HTTP session's router: backends by name, the worker's observer, stats
//! context and stop latch.

use crate::backend::BackendTable;
use crate::sessions::router::{Router, StatsApplet};
use crate::worker::event_loop::Worker;

impl Router for Worker {
    type Upstream = BackendTable;

    fn backend(
        &self,
        name: &str,
    ) -> Option<(&crate::analysis::settings::HttpBackend, &BackendTable)> {
        Worker::backend(self, name).map(|t| (&t.http, &**t))
    }

    fn usable_servers(&self, name: &str) -> Option<usize> {
        Worker::backend(self, name).map(|t| t.usable_count())
    }

    fn observer(&self) -> Option<&crate::log::observer::Observer> {
        Some(&self.obs)
    }

    fn stats(&self) -> Option<&dyn StatsApplet> {
        Some(&*self.stats_applet)
    }

    fn stopping(&self) -> Option<&crate::io::latch::Latch> {
        Some(Worker::stopping(self))
    }

    fn killed(&self) -> Option<&crate::io::latch::Latch> {
        Some(&self.killed)
    }

    fn idle_after(&self) -> Option<std::time::Duration> {
        self.parking
            .as_ref()
            .map(|_| crate::worker::park::PARK_AFTER)
    }
}
