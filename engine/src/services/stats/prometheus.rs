//! `http-request use-service prometheus-exporter`: the process, frontend, backend and
//! server metrics under HAProxy's exporter names and types, in the text exposition format,
//! plus response-time histograms and per-worker sessions (beyond HAProxy).

use std::fmt::Write;

use hdrhistogram::Histogram;

use crate::metrics::Snapshot;
use crate::services::stats::service::StatsContext;
use crate::services::stats::view::{ProxyView, Row, Status};

/// Histogram bucket bounds, seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// HTTP response classes as HAProxy labels them.
const CODES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// A server's possible states, one sample each (1 for the current one).
const SERVER_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];

/// Escapes a label value: backslash, double quote and newline.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family being written: its HELP and TYPE lines come first, once.
struct Family<'o> {
    out: &'o mut String,
    name: &'static str,
}

impl<'o> Family<'o> {
    fn new(out: &'o mut String, name: &'static str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Self { out, name }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.sample_named("", labels, value);
    }

    fn sample_named(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: impl std::fmt::Display,
    ) {
        let _ = write!(self.out, "{}{suffix}", self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A per-row metric: its name, type, help and how to read it from a row.
/// Reads one value from a row; `None` when it does not apply there.
type ReadRow = fn(&Row) -> Option<u64>;

type RowMetric = (&'static str, &'static str, &'static str, ReadRow);

fn status_state(s: &Status) -> &'static str {
    match s {
        Status::Maint => "MAINT",
        Status::Drain => "DRAIN",
        Status::NoLb => "NOLB",
        s if s.is_up() => "UP",
        _ => "DOWN",
    }
}

#[rustfmt::skip]
const FRONTEND: &[RowMetric] = &[
    ("haproxy_frontend_current_sessions", "gauge", "Number of current sessions.", |r| Some(r.scur)),
    ("haproxy_frontend_max_sessions", "gauge", "Maximum observed number of active sessions.", |r| Some(r.smax)),
    ("haproxy_frontend_limit_sessions", "gauge", "Configured session limit.", |r| r.slim),
    ("haproxy_frontend_sessions_total", "counter", "Total number of sessions.", |r| Some(r.stot)),
    ("haproxy_frontend_connections_total", "counter", "Total number of connections.", |r| r.conn_tot),
    ("haproxy_frontend_current_session_rate", "gauge", "Current number of sessions per second over last elapsed second.", |r| Some(r.rate)),
    ("haproxy_frontend_max_session_rate", "gauge", "Maximum observed number of sessions per second.", |r| Some(r.rate_max)),
    ("haproxy_frontend_bytes_in_total", "counter", "Current total of incoming bytes.", |r| Some(r.bin)),
    ("haproxy_frontend_bytes_out_total", "counter", "Current total of outgoing bytes.", |r| Some(r.bout)),
    ("haproxy_frontend_requests_denied_total", "counter", "Total number of denied requests.", |r| r.dreq),
    ("haproxy_frontend_responses_denied_total", "counter", "Total number of denied responses.", |r| r.dresp),
    ("haproxy_frontend_request_errors_total", "counter", "Total number of request errors.", |r| r.ereq),
    ("haproxy_frontend_http_requests_total", "counter", "Total number of HTTP requests received.", |r| r.req_tot),
    ("ringlb_frontend_tls_handshakes_total", "counter", "TLS handshakes completed on the frontend's ssl listeners.", |r| r.tls.map(|t| t.handshakes)),
    ("ringlb_frontend_tls_resumed_total", "counter", "TLS handshakes that resumed a session (ticket or cache).", |r| r.tls.map(|t| t.resumed)),
    ("ringlb_frontend_tls_failures_total", "counter", "TLS handshakes that failed (refused, timed out, or closed).", |r| r.tls.map(|t| t.failures)),
    ("ringlb_frontend_h2_connections_total", "counter", "HTTP/2 connections served to their end.", |r| r.h2.map(|h| h.connections)),
    ("ringlb_frontend_h2_misbehaved_total", "counter", "HTTP/2 connections ended with a GOAWAY for the client's errors (protocol errors, floods, limits).", |r| r.h2.map(|h| h.misbehaved)),
];

#[rustfmt::skip]
const BACKEND: &[RowMetric] = &[
    ("haproxy_backend_current_queue", "gauge", "Current number of queued requests.", |r| r.qcur),
    ("haproxy_backend_max_queue", "gauge", "Maximum observed number of queued requests.", |r| r.qmax),
    ("haproxy_backend_current_sessions", "gauge", "Number of current sessions.", |r| Some(r.scur)),
    ("haproxy_backend_max_sessions", "gauge", "Maximum observed number of active sessions.", |r| Some(r.smax)),
    ("haproxy_backend_limit_sessions", "gauge", "Configured session limit.", |r| r.slim),
    ("haproxy_backend_sessions_total", "counter", "Total number of sessions.", |r| Some(r.stot)),
    ("haproxy_backend_current_session_rate", "gauge", "Current number of sessions per second over last elapsed second.", |r| Some(r.rate)),
    ("haproxy_backend_max_session_rate", "gauge", "Maximum observed number of sessions per second.", |r| Some(r.rate_max)),
    ("haproxy_backend_bytes_in_total", "counter", "Current total of incoming bytes.", |r| Some(r.bin)),
    ("haproxy_backend_bytes_out_total", "counter", "Current total of outgoing bytes.", |r| Some(r.bout)),
    ("haproxy_backend_requests_denied_total", "counter", "Total number of denied requests.", |r| r.dreq),
    ("haproxy_backend_responses_denied_total", "counter", "Total number of denied responses.", |r| r.dresp),
    ("haproxy_backend_connection_errors_total", "counter", "Total number of connection errors.", |r| r.econ),
    ("haproxy_backend_response_errors_total", "counter", "Total number of response errors.", |r| r.eresp),
    ("haproxy_backend_retry_warnings_total", "counter", "Total number of retry warnings.", |r| r.wretr),
    ("haproxy_backend_redispatch_warnings_total", "counter", "Total number of redispatch warnings.", |r| r.wredis),
    ("haproxy_backend_weight", "gauge", "Service weight.", |r| { r.weight }),
    ("haproxy_backend_active_servers", "gauge", "Current number of active servers.", |r| r.act),
    ("haproxy_backend_backup_servers", "gauge", "Current number of backup servers.", |r| r.bck),
    ("haproxy_backend_check_up_down_total", "counter", "Total number of UP->DOWN transitions.", |r| r.chkdown),
    ("haproxy_backend_downtime_seconds_total", "counter", "Total downtime (in seconds) for the service.", |r| r.downtime),
    ("haproxy_backend_loadbalanced_total", "counter", "Total number of times a service was selected.", |r| r.lbtot),
    ("haproxy_backend_http_requests_total", "counter", "Total number of HTTP requests received.", |r| r.req_tot),
];

#[rustfmt::skip]
const SERVER: &[RowMetric] = &[
    ("haproxy_server_current_queue", "gauge", "Current number of queued requests.", |r| r.qcur),
    ("haproxy_server_max_queue", "gauge", "Maximum observed number of queued requests.", |r| r.qmax),
    ("haproxy_server_queue_limit", "gauge", "Configured maxqueue for the server (0 meaning no limit).", |r| r.qlimit.or(Some(0))),
    ("haproxy_server_current_sessions", "gauge", "Number of current sessions.", |r| Some(r.scur)),
    ("haproxy_server_max_sessions", "gauge", "Maximum observed number of active sessions.", |r| Some(r.smax)),
    ("haproxy_server_limit_sessions", "gauge", "Configured session limit.", |r| r.slim),
    ("haproxy_server_sessions_total", "counter", "Total number of sessions.", |r| Some(r.stot)),
    ("haproxy_server_current_session_rate", "gauge", "Current number of sessions per second over last elapsed second.", |r| Some(r.rate)),
    ("haproxy_server_max_session_rate", "gauge", "Maximum observed number of sessions per second.", |r| Some(r.rate_max)),
    ("haproxy_server_bytes_in_total", "counter", "Current total of incoming bytes.", |r| Some(r.bin)),
    ("haproxy_server_bytes_out_total", "counter", "Current total of outgoing bytes.", |r| Some(r.bout)),
    ("haproxy_server_responses_denied_total", "counter", "Total number of denied responses.", |r| r.dresp),
    ("haproxy_server_connection_errors_total", "counter", "Total number of connection errors.", |r| r.econ),
    ("haproxy_server_response_errors_total", "counter", "Total number of response errors.", |r| r.eresp),
    ("haproxy_server_retry_warnings_total", "counter", "Total number of retry warnings.", |r| r.wretr),
    ("haproxy_server_redispatch_warnings_total", "counter", "Total number of redispatch warnings.", |r| r.wredis),
    ("haproxy_server_weight", "gauge", "Service weight.", |r| { r.weight }),
    ("haproxy_server_check_failures_total", "counter", "Total number of failed check (Only when the server is up).", |r| r.chkfail),
    ("haproxy_server_check_up_down_total", "counter", "Total number of UP->DOWN transitions.", |r| r.chkdown),
    ("haproxy_server_downtime_seconds_total", "counter", "Total downtime (in seconds) for the service.", |r| r.downtime),
    ("haproxy_server_last_change_seconds", "gauge", "Number of seconds since the last UP<->DOWN transition.", |r| r.lastchg),
    ("haproxy_server_loadbalanced_total", "counter", "Total number of times a service was selected.", |r| r.lbtot),
];

/// Writes one family over the rows `pick` selects, labelled as HAProxy labels them.
fn row_family<'r>(
    out: &mut String,
    views: &'r [ProxyView],
    pick: &dyn Fn(&'r ProxyView) -> Vec<&'r Row>,
    (name, kind, help, read): &RowMetric,
) {
    let mut fam = Family::new(out, name, kind, help);
    for v in views {
        for r in pick(v) {
            if let Some(value) = read(r) {
                fam.sample(&row_labels(r), value);
            }
        }
    }
}

fn row_labels(r: &Row) -> Vec<(&'static str, &str)> {
    match r.kind {
        crate::services::stats::view::RowKind::Server => {
            vec![("proxy", &r.pxname), ("server", &r.svname)]
        }
        _ => vec![("proxy", &r.pxname)],
    }
}

fn frontends(v: &ProxyView) -> Vec<&Row> {
    v.frontend.iter().collect()
}
fn backends(v: &ProxyView) -> Vec<&Row> {
    v.backend.iter().collect()
}
fn servers(v: &ProxyView) -> Vec<&Row> {
    v.servers.iter().collect()
}

/// The whole exposition for one scrape.
pub fn render(ctx: &StatsContext) -> String {
    let snap = ctx.registry.snapshot();
    let views = ctx.proxies_from(&snap, &[]);
    let mut out = String::with_capacity(32 * 1024);
    process(&mut out, ctx, &snap);

    let mut fam = Family::new(
        &mut out,
        "haproxy_frontend_status",
        "gauge",
        "Current status of the service.",
    );
    for r in views.iter().filter_map(|v| v.frontend.as_ref()) {
        fam.sample(&row_labels(r), u8::from(r.status.is_up()));
    }
    for m in FRONTEND {
        row_family(&mut out, &views, &frontends, m);
    }
    responses(
        &mut out,
        "haproxy_frontend_http_responses_total",
        &views,
        &frontends,
    );

    let mut fam = Family::new(
        &mut out,
        "haproxy_backend_status",
        "gauge",
        "Current status of the service.",
    );
    for r in views.iter().filter_map(|v| v.backend.as_ref()) {
        let up = r.status.is_up();
        for (state, on) in [("DOWN", !up), ("UP", up)] {
            fam.sample(&[("proxy", &r.pxname), ("state", state)], u8::from(on));
        }
    }
    for m in BACKEND {
        row_family(&mut out, &views, &backends, m);
    }
    responses(
        &mut out,
        "haproxy_backend_http_responses_total",
        &views,
        &backends,
    );
    let names = [
        "haproxy_backend_connect_time_average_seconds",
        "haproxy_backend_response_time_average_seconds",
    ];
    averages(&mut out, &views, &backends, names);

    let mut fam = Family::new(
        &mut out,
        "haproxy_server_status",
        "gauge",
        "Current status of the service, per state label value.",
    );
    for r in views.iter().flat_map(|v| v.servers.iter()) {
        let now = status_state(&r.status);
        for state in SERVER_STATES {
            let labels = [
                ("proxy", &*r.pxname),
                ("server", &*r.svname),
                ("state", state),
            ];
            fam.sample(&labels, u8::from(state == now));
        }
    }
    for m in SERVER {
        row_family(&mut out, &views, &servers, m);
    }
    let mut fam = Family::new(
        &mut out,
        "haproxy_server_check_code",
        "gauge",
        "layer5-7 code, if available of the last health check.",
    );
    for r in views.iter().flat_map(|v| v.servers.iter()) {
        if let Some(c) = &r.check {
            fam.sample(&row_labels(r), c.code.unwrap_or(0));
        }
    }
    let mut fam = Family::new(
        &mut out,
        "haproxy_server_check_duration_seconds",
        "gauge",
        "Total duration of the latest server health check, in seconds.",
    );
    for r in views.iter().flat_map(|v| v.servers.iter()) {
        if let Some(c) = &r.check {
            fam.sample(&row_labels(r), c.duration_ms as f64 / 1000.0);
        }
    }
    responses(
        &mut out,
        "haproxy_server_http_responses_total",
        &views,
        &servers,
    );
    let names = [
        "haproxy_server_connect_time_average_seconds",
        "haproxy_server_response_time_average_seconds",
    ];
    averages(&mut out, &views, &servers, names);

    histograms(&mut out, &snap);
    per_worker(&mut out, &views);
    out
}

/// The share of TLS handshakes that resumed a session, in percent.
pub(crate) fn reuse_pct(c: &crate::metrics::CounterSnapshot) -> u64 {
    (c.tls_resumed * 100)
        .checked_div(c.tls_handshakes)
        .unwrap_or(0)
}

fn process(out: &mut String, ctx: &StatsContext, snap: &Snapshot) {
    let started = ctx
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let gauges: [(&'static str, &str, f64); 7] = [
        (
            "haproxy_process_nbthread",
            "Number of started threads (global.nbthread).",
            ctx.registry.workers() as f64,
        ),
        (
            "haproxy_process_uptime_seconds",
            "How long ago this worker process was started (seconds).",
            ctx.uptime().as_secs() as f64,
        ),
        (
            "haproxy_process_start_time_seconds",
            "Start time in seconds.",
            started.as_secs() as f64,
        ),
        (
            "haproxy_process_max_connections",
            "Maximum number of concurrent connections (global.maxconn).",
            ctx.maxconn as f64,
        ),
        (
            "haproxy_process_current_connections",
            "Number of active sessions.",
            snap.process.sess_cur as f64,
        ),
        (
            "haproxy_process_current_ssl_connections",
            "Number of opened SSL connections.",
            crate::io::tls::open_connections() as f64,
        ),
        (
            "haproxy_process_frontend_ssl_reuse",
            "SSL session reuse ratio (percent).",
            reuse_pct(&snap.process) as f64,
        ),
    ];
    for (name, help, v) in gauges {
        Family::new(out, name, "gauge", help).sample(&[], v);
    }
    let counters: [(&'static str, &str, u64); 3] = [
        (
            "haproxy_process_connections_total",
            "Total number of created sessions.",
            snap.process.sess_total,
        ),
        (
            "haproxy_process_requests_total",
            "Total number of requests (TCP or HTTP).",
            snap.process.req_total,
        ),
        (
            "haproxy_process_ssl_connections_total",
            "Total number of opened SSL connections.",
            snap.process.tls_handshakes,
        ),
    ];
    for (name, help, v) in counters {
        Family::new(out, name, "counter", help).sample(&[], v);
    }
    Family::new(out, "haproxy_process_build_info", "gauge", "Build info.")
        .sample(&[("version", env!("CARGO_PKG_VERSION"))], 1);
}

fn responses<'r>(
    out: &mut String,
    name: &'static str,
    views: &'r [ProxyView],
    pick: &dyn Fn(&'r ProxyView) -> Vec<&'r Row>,
) {
    let mut fam = Family::new(
        out,
        name,
        "counter",
        "Total number of HTTP responses, by class of status code.",
    );
    for r in views.iter().flat_map(pick) {
        if let Some(h) = &r.hrsp {
            for (code, n) in CODES.iter().zip(h) {
                let mut labels = row_labels(r);
                labels.push(("code", code));
                fam.sample(&labels, n);
            }
        }
    }
}

/// Average times (milliseconds in the rows, seconds out).
fn averages<'r>(
    out: &mut String,
    views: &'r [ProxyView],
    pick: &dyn Fn(&'r ProxyView) -> Vec<&'r Row>,
    names: [&'static str; 2],
) {
    let reads: [(&str, ReadRow); 2] = [
        (
            "Avg. connect time for last 1024 successful connections.",
            |r| r.ctime,
        ),
        (
            "Avg. response time for last 1024 successful connections.",
            |r| r.rtime,
        ),
    ];
    for (name, (help, read)) in names.into_iter().zip(reads) {
        let mut fam = Family::new(out, name, "gauge", help);
        for r in views.iter().flat_map(pick) {
            if let Some(ms) = read(r) {
                fam.sample(&row_labels(r), ms as f64 / 1000.0);
            }
        }
    }
}

/// Response-time histograms (beyond HAProxy), from the workers' published hdrhistograms.
fn histograms(out: &mut String, snap: &Snapshot) {
    let mut fam = Family::new(
        out,
        "ringlb_backend_response_time_seconds",
        "histogram",
        "Time from request sent to response head received, per backend.",
    );
    for b in &snap.backends {
        histogram(&mut fam, &[("proxy", &b.name)], &b.response);
    }
    let mut fam = Family::new(
        out,
        "ringlb_server_response_time_seconds",
        "histogram",
        "Time from request sent to response head received, per server.",
    );
    for b in &snap.backends {
        for s in &b.servers {
            histogram(
                &mut fam,
                &[("proxy", &b.name), ("server", &s.name)],
                &s.response,
            );
        }
    }
}

/// One histogram's `_bucket`, `_sum` and `_count` samples (microseconds in, seconds out).
fn histogram(fam: &mut Family<'_>, labels: &[(&str, &str)], h: &Histogram<u64>) {
    for le in BUCKETS {
        let upper = (le * 1e6) as u64;
        let n = if h.is_empty() {
            0
        } else {
            h.count_between(0, upper)
        };
        let le = le.to_string();
        let mut l = labels.to_vec();
        l.push(("le", &le));
        fam.sample_named("_bucket", &l, n);
    }
    let mut l = labels.to_vec();
    l.push(("le", "+Inf"));
    fam.sample_named("_bucket", &l, h.len());
    fam.sample_named("_sum", labels, h.mean() * h.len() as f64 / 1e6);
    fam.sample_named("_count", labels, h.len());
}

/// Current sessions per worker (beyond HAProxy): imbalance between cores shows here.
fn per_worker(out: &mut String, views: &[ProxyView]) {
    let mut fam = Family::new(
        out,
        "ringlb_frontend_worker_current_sessions",
        "gauge",
        "Number of current sessions, per worker thread.",
    );
    for r in views.iter().filter_map(|v| v.frontend.as_ref()) {
        for (i, w) in r.per_worker.iter().enumerate() {
            let worker = (i + 1).to_string();
            fam.sample(&[("proxy", &r.pxname), ("worker", &worker)], w.current);
        }
    }
    let mut fam = Family::new(
        out,
        "ringlb_frontend_worker_sessions_total",
        "counter",
        "Total number of sessions, per worker thread.",
    );
    for r in views.iter().filter_map(|v| v.frontend.as_ref()) {
        for (i, w) in r.per_worker.iter().enumerate() {
            let worker = (i + 1).to_string();
            fam.sample(&[("proxy", &r.pxname), ("worker", &worker)], w.total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label("x\ny"), "x\\ny");
    }

    #[test]
    fn a_histogram_has_cumulative_buckets_and_a_count() {
        let mut h = crate::metrics::histogram::new_histogram();
        for us in [300, 800, 20_000, 3_000_000] {
            h.record(us).unwrap();
        }
        let mut out = String::new();
        let mut fam = Family::new(&mut out, "t_seconds", "histogram", "t");
        histogram(&mut fam, &[("proxy", "b")], &h);
        assert!(
            out.contains("t_seconds_bucket{proxy=\"b\",le=\"0.0005\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("t_seconds_bucket{proxy=\"b\",le=\"0.001\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("t_seconds_bucket{proxy=\"b\",le=\"0.025\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("t_seconds_bucket{proxy=\"b\",le=\"+Inf\"} 4\n"),
            "{out}"
        );
        assert!(out.contains("t_seconds_count{proxy=\"b\"} 4\n"), "{out}");
    }
}
