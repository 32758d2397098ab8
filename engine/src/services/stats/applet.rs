//! The stats service as the HTTP session sees it: the page, its CSV export, the Prometheus
//! exporter and the admin form, behind [`StatsApplet`].

use crate::analysis::stats_page::{ActionOutcome, AdminForm, PageOptions, StatsPage};
use crate::services::stats::service::StatsContext;
use crate::services::stats::view::{self, RowKind};
use crate::sessions::router::StatsApplet;

impl StatsApplet for StatsContext {
    fn html(&self, page: &StatsPage, opts: &PageOptions, admin: bool) -> String {
        crate::services::stats::html::render(self, page, opts, admin)
    }

    fn csv(&self, page: &StatsPage, opts: &PageOptions) -> String {
        let views = self.proxies(&page.scope);
        let mut out = String::new();
        // `;up`: servers that are not UP are left out, as on the HTML page.
        let rows = views
            .iter()
            .flat_map(|v| v.rows())
            .filter(|r| !opts.up_only || r.kind != RowKind::Server || r.status.is_up());
        crate::services::stats::csv::write_csv(rows, &mut out);
        out
    }

    fn prometheus(&self) -> String {
        crate::services::stats::prometheus::render(self)
    }

    fn apply_form(&self, page: &StatsPage, form: &AdminForm) -> ActionOutcome {
        apply_form(self, page, form)
    }
}

/// Applies an admin form to every server it names.
fn apply_form(ctx: &StatsContext, page: &StatsPage, form: &AdminForm) -> ActionOutcome {
    let Some(states) = ctx.states() else {
        return ActionOutcome::Denied;
    };
    // HAProxy names the backend by `#<id>` or by name.
    let backend = match form.backend.strip_prefix('#') {
        Some(id) => ctx
            .config
            .proxies
            .iter()
            .enumerate()
            .find(|(i, _)| id.parse::<u32>().ok() == Some(view::proxy_iid(&ctx.config, *i)))
            .map(|(_, p)| p.name.clone()),
        None => Some(form.backend.clone()),
    };
    let Some(backend) = backend.filter(|b| page.in_scope(b)) else {
        return ActionOutcome::Unknown;
    };
    if form.servers.is_empty() {
        return ActionOutcome::None;
    }
    let (mut changed, mut failed) = (0, 0);
    for s in &form.servers {
        match states.apply(&backend, s, form.action) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(_) => failed += 1,
        }
    }
    match (changed, failed) {
        (0, 0) => ActionOutcome::None,
        (_, 0) => ActionOutcome::Done,
        (0, _) if failed == form.servers.len() => ActionOutcome::Unknown,
        _ => ActionOutcome::Partial,
    }
}
