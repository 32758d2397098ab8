//! `http-request use-service prometheus-exporter`: the output parses as Prometheus text
//! exposition (every sample under a declared TYPE, one block per family, no duplicate
//! series), and after known traffic the HAProxy-named metrics hold exact values.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use prometheus_parse::{Sample, Scrape, Value};
use support::*;

/// Scrapes `/metrics`, checks the exposition's structure and parses it.
fn scrape(addr: SocketAddr) -> Scrape {
    let r = request(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")));
    let text = r.text();
    check_structure(&text);
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    // The parser files a histogram's `_sum` and `_count` as untyped; anything else untyped
    // had no TYPE line.
    for s in &scrape.samples {
        let histogram_part = s.metric.ends_with("_sum") || s.metric.ends_with("_count");
        assert!(
            histogram_part || !matches!(s.value, Value::Untyped(_)),
            "sample without a TYPE: {}",
            s.metric
        );
    }
    scrape
}

/// What the parser forgives: a family's samples must follow its TYPE line, families must
/// not repeat, and no series may appear twice.
fn check_structure(text: &str) {
    let mut families = HashSet::new();
    let mut series = HashSet::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(families.insert(name.to_string()), "family twice: {name}");
            current = Some((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name_labels, value) = line.rsplit_once(' ').expect("sample value");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name = name_labels.split('{').next().unwrap();
        let (fam, kind) = current.as_ref().expect("sample before any TYPE");
        let ok = name == fam
            || (kind == "histogram"
                && [
                    format!("{fam}_bucket"),
                    format!("{fam}_sum"),
                    format!("{fam}_count"),
                ]
                .contains(&name.to_string()));
        assert!(ok, "sample {name} outside its family {fam}");
        assert!(
            series.insert(name_labels.to_string()),
            "series twice: {name_labels}"
        );
    }
}

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .collect();
    assert_eq!(found.len(), 1, "{metric} {labels:?}: {found:?}");
    match &found[0].value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(h) => h.iter().map(|c| c.count).fold(0.0, f64::max),
        Value::Summary(_) => panic!("summary"),
    }
}

fn exporter_values_after_known_traffic(legacy: bool) {
    let web = Origin::text("hello").addr;
    let (port, mport) = (free_port(), free_port());
    let h = run_http(
        2,
        &format!(
            "frontend www\n bind 127.0.0.1:{port}\n acl forbidden path_beg /forbidden\n http-request deny if forbidden\n default_backend web\n\
             backend web\n server web1 {web}\n\
             frontend metrics\n bind 127.0.0.1:{mport}\n http-request use-service prometheus-exporter if {{ path /metrics }}\n"
        ),
        legacy,
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..4 {
        assert_eq!(http_get(addr, "/").unwrap().0, 200);
    }
    assert_eq!(http_get(addr, "/forbidden").unwrap().0, 403);
    let maddr = SocketAddr::from(([127, 0, 0, 1], mport));
    let deadline = Instant::now() + Duration::from_secs(5);
    let s = loop {
        let s = scrape(maddr);
        let idle = value(&s, "haproxy_frontend_current_sessions", &[("proxy", "www")]) == 0.0;
        if idle || Instant::now() > deadline {
            break s;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let www = [("proxy", "www")];
    assert_eq!(value(&s, "haproxy_frontend_http_requests_total", &www), 5.0);
    assert_eq!(value(&s, "haproxy_frontend_sessions_total", &www), 5.0);
    assert_eq!(
        value(&s, "haproxy_frontend_requests_denied_total", &www),
        1.0
    );
    let code = |c| [("proxy", "www"), ("code", c)];
    assert_eq!(
        value(&s, "haproxy_frontend_http_responses_total", &code("2xx")),
        4.0
    );
    assert_eq!(
        value(&s, "haproxy_frontend_http_responses_total", &code("4xx")),
        1.0
    );
    let web1 = [("proxy", "web"), ("server", "web1")];
    let srv = |state| [("proxy", "web"), ("server", "web1"), ("state", state)];
    assert_eq!(value(&s, "haproxy_server_status", &srv("UP")), 1.0);
    assert_eq!(value(&s, "haproxy_server_status", &srv("DOWN")), 0.0);
    assert_eq!(
        value(
            &s,
            "haproxy_server_http_responses_total",
            &[("proxy", "web"), ("server", "web1"), ("code", "2xx")]
        ),
        4.0
    );
    assert_eq!(value(&s, "haproxy_server_weight", &web1), 1.0);
    assert_eq!(
        value(
            &s,
            "haproxy_backend_status",
            &[("proxy", "web"), ("state", "UP")]
        ),
        1.0
    );
    assert_eq!(
        value(&s, "haproxy_backend_active_servers", &[("proxy", "web")]),
        1.0
    );
    assert_eq!(value(&s, "haproxy_process_nbthread", &[]), 2.0);
    // Histograms are published once a second by each worker.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = scrape(maddr);
        let n = value(&s, "ringlb_server_response_time_seconds_count", &web1);
        if n == 4.0 || Instant::now() > deadline {
            assert_eq!(n, 4.0);
            // The parser gathers the buckets into one histogram sample.
            let h = value(&s, "ringlb_server_response_time_seconds", &web1);
            assert_eq!(h, 4.0);
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    // Per-worker sessions add up to the frontend's total.
    let per_worker: f64 = (1..=2)
        .map(|w| {
            let w = w.to_string();
            value(
                &s,
                "ringlb_frontend_worker_sessions_total",
                &[("proxy", "www"), ("worker", &w)],
            )
        })
        .sum();
    assert_eq!(per_worker, 5.0);
    // Outside the condition, the frontend has no backend: 503.
    assert_eq!(http_get(maddr, "/other").unwrap().0, 503);
    drop(h);
}
both_drivers!(
    exporter_values_after_known_traffic,
    super::exporter_values_after_known_traffic
);
