//! The stats page in HTML, in the spirit of HAProxy's: process information, a colour
//! legend, then one table per proxy (frontend, servers, backend) with queue, session rate,
//! sessions, bytes, denied, errors, warnings and server state; plus response-time
//! percentiles and per-worker sessions. Admin forms wrap the tables when allowed.

use std::fmt::Write;
use std::time::Duration;

use crate::analysis::stats_page::{ActionOutcome, AdminAction, PageOptions, StatsPage};
use crate::services::stats::service::StatsContext;
use crate::services::stats::view::{ProxyView, Row, RowKind, Status};

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body { font-family: arial, helvetica, sans-serif; font-size: 12px; color: #000; background: #fff; }
h1 { font-size: 16pt; margin: 0 0 6px; padding: 4px 8px; background: #20435c; color: #fff; }
h1 a { color: #fff; text-decoration: none; }
h2 { font-size: 11pt; margin: 6px 0; color: #20435c; }
table.tbl { border-collapse: collapse; border: 1px solid #999; margin-bottom: 10px; }
table.tbl td, table.tbl th { border: 1px solid #bbb; padding: 1px 4px; text-align: right; white-space: nowrap; }
table.tbl th { background: #b0b0d0; font-weight: normal; text-align: center; }
table.tbl th.pxname { background: #20435c; color: #fff; text-align: left; font-weight: bold; font-size: 11pt; }
td.name, th.name { text-align: left; }
tr.frontend td, tr.backend td { background: #f0f0f0; font-weight: bold; }
tr.up td { background: #c0ffc0; }
tr.bck_up td { background: #b0d0ff; }
tr.going_down td { background: #ffffa0; }
tr.going_up td { background: #ffd020; }
tr.down td { background: #ff9090; }
tr.nolb td { background: #e0b0f0; }
tr.drain td { background: #20a0ff; }
tr.maint td { background: #c07820; }
tr.nocheck td { background: #e0e0e0; }
tr.backend.down td { background: #ff9090; }
table.info td { padding: 1px 8px 1px 0; vertical-align: top; }
table.legend td { padding: 1px 6px; }
span.sw { display: inline-block; width: 12px; height: 12px; border: 1px solid #888; vertical-align: middle; }
div.banner { padding: 4px 8px; margin: 6px 0; border: 1px solid #888; }
div.ok { background: #c0ffc0; }
div.err { background: #ff9090; }
ul.menu { margin: 0; padding-left: 16px; }
"#;

/// Renders the whole page for one request.
pub fn render(ctx: &StatsContext, page: &StatsPage, opts: &PageOptions, admin: bool) -> String {
    let views = ctx.proxies(&page.scope);
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n");
    if let Some(r) = page.refresh.filter(|_| !opts.no_refresh) {
        let _ = writeln!(
            out,
            "<meta http-equiv=\"refresh\" content=\"{}\">",
            r.as_secs().max(1)
        );
    }
    let _ = writeln!(
        out,
        "<title>Statistics Report for ringlb on {}</title>\n<style>{STYLE}</style></head><body>",
        escape(page.show_node.as_deref().unwrap_or("localhost"))
    );
    let version = if page.hide_version {
        String::new()
    } else {
        format!(" version {}", env!("CARGO_PKG_VERSION"))
    };
    let _ = writeln!(
        out,
        "<h1><a href=\"https://github.com/\" rel=\"nofollow\">ringlb</a>{version}</h1>\n\
         <h2>Statistics Report for pid {}{}</h2>",
        ctx.pid,
        page.show_node
            .as_ref()
            .map(|n| format!(" on {}", escape(n)))
            .unwrap_or_default()
    );
    if let Some((msg, ok)) = opts.status.as_deref().and_then(ActionOutcome::message) {
        let class = if ok { "ok" } else { "err" };
        let _ = writeln!(
            out,
            "<div class=\"banner {class}\">{msg} [<a href=\"{}\">X</a>]</div>",
            escape(&page.uri)
        );
    }
    info(&mut out, ctx, page, opts, &views);
    for v in &views {
        proxy_table(&mut out, page, opts, admin, v);
    }
    out.push_str("</body></html>\n");
    out
}

/// The process block, the legend and the page's links.
fn info(
    out: &mut String,
    ctx: &StatsContext,
    page: &StatsPage,
    opts: &PageOptions,
    views: &[ProxyView],
) {
    let up = ctx.uptime();
    let snap_cur: u64 = views
        .iter()
        .filter_map(|v| v.frontend.as_ref())
        .map(|r| r.scur)
        .sum();
    out.push_str("<table class=\"info\"><tr><td>");
    let _ = write!(
        out,
        "<b>General process information</b><br>\npid = {} (process #1, nbthread = {})<br>\n\
         uptime = {}<br>\nmaxconn = {}; current conns = {}<br>\n",
        ctx.pid,
        ctx.registry.workers(),
        uptime(up),
        ctx.maxconn,
        snap_cur
    );
    if let Some(d) = &page.show_desc {
        let _ = writeln!(out, "<i>{}</i><br>", escape(d));
    }
    out.push_str("</td><td><table class=\"legend\">");
    let legend = [
        ("up", "active UP"),
        ("bck_up", "backup UP"),
        ("going_down", "active UP, going down"),
        ("going_up", "active DOWN, going up"),
        ("down", "active or backup DOWN"),
        ("nolb", "active or backup SOFT STOPPED (NOLB)"),
        ("drain", "active or backup DRAIN"),
        ("maint", "active or backup MAINT"),
        ("nocheck", "not checked"),
    ];
    for pair in legend.chunks(2) {
        out.push_str("<tr>");
        for (class, label) in pair {
            let _ = write!(
                out,
                "<td class=\"name\"><table style=\"display:inline\"><tr class=\"{class}\">\
                 <td><span class=\"sw\"></span></td></tr></table> {label}</td>"
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    if page.show_legends {
        out.push_str(
            "<p>Note: \"NOLB\"/\"DRAIN\" = UP with load-balancing disabled. \
             Resp. time percentiles are in milliseconds; Workers lists current sessions per \
             worker thread.</p>",
        );
    }
    out.push_str("</td><td><b>Display option:</b><ul class=\"menu\">");
    let link = |o: &PageOptions| escape(&page_link(page, o));
    let mut toggled = opts.clone();
    toggled.up_only = !opts.up_only;
    toggled.status = None;
    let _ = write!(
        out,
        "<li><a href=\"{}\">{}</a></li>",
        link(&toggled),
        if opts.up_only {
            "Show all servers"
        } else {
            "Hide 'DOWN' servers"
        }
    );
    if page.refresh.is_some() {
        let mut t = opts.clone();
        t.no_refresh = !opts.no_refresh;
        t.status = None;
        let _ = write!(
            out,
            "<li><a href=\"{}\">{}</a></li>",
            link(&t),
            if opts.no_refresh {
                "Enable refresh"
            } else {
                "Disable refresh"
            }
        );
    }
    let mut now = opts.clone();
    now.status = None;
    let _ = write!(out, "<li><a href=\"{}\">Refresh now</a></li>", link(&now));
    let csv = PageOptions {
        csv: true,
        ..PageOptions::default()
    };
    let _ = write!(out, "<li><a href=\"{}\">CSV export</a></li>", link(&csv));
    out.push_str("</ul></td></tr></table>\n");
}

/// The page's URI with options.
fn page_link(page: &StatsPage, o: &PageOptions) -> String {
    let mut s = page.uri.clone();
    if o.csv {
        s.push_str(";csv");
    }
    if o.up_only {
        s.push_str(";up");
    }
    if o.no_refresh {
        s.push_str(";norefresh");
    }
    s
}

fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}d {}h{:02}m{:02}s",
        s / 86400,
        s / 3600 % 24,
        s / 60 % 60,
        s % 60
    )
}

/// `1h2m`, `3m4s`, `5s`: HAProxy's short durations.
fn short(secs: u64) -> String {
    match secs {
        s if s >= 86400 => format!("{}d{}h", s / 86400, s / 3600 % 24),
        s if s >= 3600 => format!("{}h{}m", s / 3600, s / 60 % 60),
        s if s >= 60 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

fn row_class(r: &Row) -> &'static str {
    match r.kind {
        RowKind::Frontend => "frontend",
        RowKind::Backend if !r.status.is_up() => "backend down",
        RowKind::Backend => "backend",
        RowKind::Server => match r.status {
            Status::Up if r.backup => "bck_up",
            Status::Up => "up",
            Status::GoingDown { .. } => "going_down",
            Status::GoingUp { .. } => "going_up",
            Status::Down => "down",
            Status::NoLb => "nolb",
            Status::Drain => "drain",
            Status::Maint => "maint",
            Status::NoCheck => "nocheck",
            Status::Open | Status::Stop | Status::Paused => "up",
        },
    }
}

fn cell(v: Option<u64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

const COLUMNS: usize = 35;

fn proxy_table(out: &mut String, page: &StatsPage, opts: &PageOptions, admin: bool, v: &ProxyView) {
    let can_act = admin && !v.servers.is_empty();
    let iid = v.rows().next().map(|r| r.iid).unwrap_or_default();
    if can_act {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"{}\">",
            escape(&page.uri)
        );
    }
    // HAProxy writes the proxy's `description` in the header, after its name.
    let desc = match &v.description {
        Some(d) => format!(" <span class=\"desc\">{}</span>", escape(d)),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "<table class=\"tbl\" id=\"{}\"><tr><th class=\"pxname\" colspan=\"{}\">\
         <a name=\"{0}\"></a>{0}{desc}</th></tr>",
        escape(&v.name),
        COLUMNS + usize::from(can_act)
    );
    let check = if can_act {
        "<th rowspan=\"2\"></th>"
    } else {
        ""
    };
    let _ = write!(
        out,
        "<tr>{check}<th rowspan=\"2\" class=\"name\"></th><th colspan=\"3\">Queue</th>\
         <th colspan=\"3\">Session rate</th><th colspan=\"5\">Sessions</th>\
         <th colspan=\"2\">Bytes</th><th colspan=\"2\">Denied</th><th colspan=\"3\">Errors</th>\
         <th colspan=\"2\">Warnings</th><th colspan=\"9\">Server</th>\
         <th colspan=\"4\">Resp. time (ms)</th><th rowspan=\"2\">Workers<br>cur sessions</th></tr>\n\
         <tr><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th>\
         <th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th>\
         <th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th><th>Resp</th>\
         <th>Retr</th><th>Redis</th><th>Status</th><th>LastChk</th><th>Wght</th><th>Act</th>\
         <th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Thrtle</th>\
         <th>p50</th><th>p90</th><th>p99</th><th>p99.9</th></tr>\n"
    );
    if let Some(r) = &v.frontend {
        row(out, r, can_act.then_some(false));
    }
    for r in &v.servers {
        if opts.up_only && !r.status.is_up() {
            continue;
        }
        row(out, r, can_act.then_some(true));
    }
    if let Some(r) = &v.backend {
        row(out, r, can_act.then_some(false));
    }
    out.push_str("</table>\n");
    if can_act {
        let _ = write!(
            out,
            "Choose the action to perform on the checked servers : <select name=\"action\">\
             <option value=\"\"></option>"
        );
        for a in AdminAction::ALL {
            let _ = write!(out, "<option value=\"{}\">{}</option>", a.name(), a.label());
        }
        let _ = writeln!(
            out,
            "</select><input type=\"hidden\" name=\"b\" value=\"#{iid}\">\
             <input type=\"submit\" value=\"Apply\"></form>"
        );
    }
}

fn row(out: &mut String, r: &Row, checkbox: Option<bool>) {
    let _ = write!(out, "<tr class=\"{}\">", row_class(r));
    match checkbox {
        Some(true) => {
            let _ = write!(
                out,
                "<td><input type=\"checkbox\" name=\"s\" value=\"{}\"></td>",
                escape(&r.svname)
            );
        }
        Some(false) => out.push_str("<td></td>"),
        None => {}
    }
    let name = match r.kind {
        RowKind::Frontend => "Frontend".to_string(),
        RowKind::Backend => "Backend".to_string(),
        RowKind::Server => escape(&r.svname),
    };
    // A server's address, or a TLS frontend's handshakes, on hovering the name.
    let tls = r.tls.map(|t| {
        format!(
            "TLS: {} handshakes, {} resumed, {} failed",
            t.handshakes, t.resumed, t.failures
        )
    });
    let title = r
        .addr
        .clone()
        .or(tls)
        .map(|a| format!(" title=\"{}\"", escape(&a)))
        .unwrap_or_default();
    let _ = write!(out, "<td class=\"name\"{title}>{name}</td>");
    let rate_lim = cell(r.rate_lim.filter(|&l| l > 0));
    let slim = cell(r.slim);
    let cells: [String; 20] = [
        cell(r.qcur),
        cell(r.qmax),
        cell(r.qlimit),
        r.rate.to_string(),
        r.rate_max.to_string(),
        rate_lim,
        r.scur.to_string(),
        r.smax.to_string(),
        slim,
        r.stot.to_string(),
        cell(r.lbtot),
        r.bin.to_string(),
        r.bout.to_string(),
        cell(r.dreq),
        cell(r.dresp),
        cell(r.ereq),
        cell(r.econ),
        cell(r.eresp),
        cell(r.wretr),
        cell(r.wredis),
    ];
    for c in cells {
        let _ = write!(out, "<td>{c}</td>");
    }
    let status = match (r.kind, r.lastchg) {
        (RowKind::Frontend, _) => r.status.text(),
        (_, Some(s)) => format!("{} {}", short(s), r.status.text()),
        (_, None) => r.status.text(),
    };
    let _ = write!(out, "<td class=\"name\">{}</td>", escape(&status));
    let lastchk = r
        .check
        .as_ref()
        .map(|c| {
            let code = c.code.map(|c| format!("/{c}")).unwrap_or_default();
            format!(
                "<span title=\"{}\">{}{code} in {}ms</span>",
                escape(&c.desc),
                escape(&c.status),
                c.duration_ms
            )
        })
        .unwrap_or_default();
    let _ = write!(out, "<td class=\"name\">{lastchk}</td>");
    let (act, bck) = match r.kind {
        RowKind::Server => (
            r.act.map(|a| if a > 0 { "Y" } else { "-" }.to_string()),
            r.bck.map(|b| if b > 0 { "Y" } else { "-" }.to_string()),
        ),
        _ => (r.act.map(|a| a.to_string()), r.bck.map(|b| b.to_string())),
    };
    let server_cells = [
        cell(r.weight),
        act.unwrap_or_default(),
        bck.unwrap_or_default(),
        cell(r.chkfail),
        cell(r.chkdown),
        r.downtime.map(short).unwrap_or_default(),
        String::from(if r.kind == RowKind::Server { "-" } else { "" }),
    ];
    for c in server_cells {
        let _ = write!(out, "<td>{c}</td>");
    }
    let p = r.response.unwrap_or_default();
    if r.response.is_some_and(|p| p.count > 0) {
        for v in [p.p50, p.p90, p.p99, p.p999] {
            let _ = write!(out, "<td>{}</td>", ms(v));
        }
    } else {
        out.push_str("<td></td><td></td><td></td><td></td>");
    }
    let workers: Vec<String> = r.per_worker.iter().map(|w| w.current.to_string()).collect();
    let _ = writeln!(out, "<td>{}</td></tr>", workers.join(" / "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_escaped() {
        assert_eq!(
            escape("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn durations_read_like_haproxys() {
        assert_eq!(short(5), "5s");
        assert_eq!(short(65), "1m5s");
        assert_eq!(short(3700), "1h1m");
        assert_eq!(short(90000), "1d1h");
        assert_eq!(uptime(Duration::from_secs(93784)), "1d 2h03m04s");
    }
}
