//! `show stat` and the stats page's `;csv`: the rows of [`crate::services::stats::view`] as HAProxy's CSV,
//! header line `# pxname,svname,…` then one line per row, every line ending in a comma.

use std::fmt::Write as _;

use crate::services::stats::view::{CheckView, Row, RowKind};

/// HAProxy 2.6's `show stat` columns, in order: the generic fields 0 to 102 of the
/// management guide, the `-` that separates them from the statistics modules' fields (a
/// column of the CSV, not a field: the typed forms skip it), then the SSL, HTTP/2 and
/// HTTP/1 modules' fields as HAProxy 2.6 prints them.
pub const COLUMNS: [&str; 128] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// The position of `uweight`, the last generic field before the aggregated ones.
const UWEIGHT: usize = 99;

/// The position of the `-` column between the generic fields and the modules' ones.
pub const MODULES_SEPARATOR: usize = 103;

/// The header line, newline included.
pub fn header() -> String {
    let mut s = String::from("# ");
    for c in COLUMNS {
        s.push_str(c);
        s.push(',');
    }
    s.push('\n');
    s
}

/// Writes the header and every row of `rows` to `out`.
pub fn write_csv<'a>(rows: impl IntoIterator<Item = &'a Row>, out: &mut String) {
    out.push_str(&header());
    for r in rows {
        write_row(r, out);
    }
}

/// A CSV cell: commas would split it, so they become spaces (HAProxy escapes free text too).
fn text(s: &str) -> String {
    s.replace([',', '\n', '\r'], " ")
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// The cells of one row, in [`COLUMNS`] order.
pub fn cells(r: &Row) -> Vec<String> {
    let server = r.kind == RowKind::Server;
    let hrsp = |i: usize| r.hrsp.map(|h| h[i].to_string()).unwrap_or_default();
    let chk = |f: fn(&CheckView) -> String| r.check.as_ref().map(f).unwrap_or_default();
    let agt = |f: fn(&CheckView) -> String| r.agent.as_ref().map(f).unwrap_or_default();
    let zero_unless_frontend = || {
        if r.kind == RowKind::Frontend {
            String::new()
        } else {
            "0".into()
        }
    };
    let not_server = || {
        if server {
            String::new()
        } else {
            "0".into()
        }
    };
    let mut c = vec![
        text(&r.pxname),
        text(&r.svname),
        opt(&r.qcur),
        opt(&r.qmax),
        r.scur.to_string(),
        r.smax.to_string(),
        opt(&r.slim),
        r.stot.to_string(),
        r.bin.to_string(),
        r.bout.to_string(),
        opt(&r.dreq),
        opt(&r.dresp),
        opt(&r.ereq),
        opt(&r.econ),
        opt(&r.eresp),
        opt(&r.wretr),
        opt(&r.wredis),
        r.status_text(),
        opt(&r.weight),
        opt(&r.act),
        opt(&r.bck),
        opt(&r.chkfail),
        opt(&r.chkdown),
        opt(&r.lastchg),
        opt(&r.downtime),
        opt(&r.qlimit),
        "1".into(), // pid: HAProxy's relative process number, always 1
        r.iid.to_string(),
        r.sid.to_string(),
        String::new(), // throttle
        opt(&r.lbtot),
        String::new(), // tracked
        r.kind.code().to_string(),
        r.rate.to_string(),
        opt(&r.rate_lim),
        r.rate_max.to_string(),
        chk(|c| c.status.clone()),
        chk(|c| c.code.map(|n| n.to_string()).unwrap_or_default()),
        chk(|c| c.duration_ms.to_string()),
        hrsp(0),
        hrsp(1),
        hrsp(2),
        hrsp(3),
        hrsp(4),
        hrsp(5),
        String::new(), // hanafail: HAProxy 2.6 leaves it empty without `observe`
        opt(&r.req_rate),
        opt(&r.req_rate_max),
        opt(&r.req_tot),
        opt(&r.cli_abrt),
        opt(&r.srv_abrt),
        not_server(), // comp_in
        not_server(), // comp_out
        not_server(), // comp_byp
        not_server(), // comp_rsp
        if r.kind == RowKind::Frontend {
            String::new()
        } else {
            "-1".into()
        }, // lastsess
        chk(|c| text(&c.desc)),
        agt(|c| text(&c.desc)),
        if r.kind == RowKind::Frontend {
            String::new()
        } else {
            "0".into()
        }, // qtime
        opt(&r.ctime),
        opt(&r.rtime),
        zero_unless_frontend(), // ttime
        agt(|c| c.status.clone()),
        agt(|c| c.code.map(|n| n.to_string()).unwrap_or_default()),
        agt(|c| c.duration_ms.to_string()),
        chk(|c| text(&c.reason)),
        agt(|c| text(&c.reason)),
        opt(&r.check_rise),
        opt(&r.check_fall),
        opt(&r.check_health),
        String::new(), // agent_rise
        String::new(), // agent_fall
        String::new(), // agent_health
        opt(&r.addr),
        r.cookie.as_deref().map(text).unwrap_or_default(),
        mode_name(r.mode).to_string(),
        opt(&r.algo),
        if r.kind == RowKind::Frontend {
            r.rate.to_string()
        } else {
            String::new()
        }, // conn_rate
        if r.kind == RowKind::Frontend {
            r.rate_max.to_string()
        } else {
            String::new()
        }, // conn_rate_max
        opt(&r.conn_tot),
    ];
    // intercepted … uweight: counters this proxy does not keep yet read as 0 where HAProxy
    // shows a number for the row's kind, empty elsewhere.
    for col in &COLUMNS[c.len()..UWEIGHT] {
        let applies = match *col {
            "intercepted" | "dcon" | "dses" => r.kind == RowKind::Frontend,
            "wrew" | "eint" => true,
            "connect" | "reuse" | "qtime_max" | "ctime_max" | "rtime_max" | "ttime_max" => {
                r.kind != RowKind::Frontend
            }
            "cache_lookups" | "cache_hits" => r.kind != RowKind::Server,
            "srv_icur" | "idle_conn_cur" | "safe_conn_cur" | "used_conn_cur" | "need_conn_est" => {
                server
            }
            _ => false,
        };
        c.push(if applies { "0".into() } else { String::new() });
    }
    c.push(opt(&r.uweight));
    // agg_*: HAProxy's aggregated server states; not kept here.
    c.extend([String::new(), String::new(), String::new()]);
    c.push("-".into());
    // The SSL module's counters: a frontend's handshakes (none without a `bind … ssl`).
    if r.kind == RowKind::Frontend {
        let t = r.tls.unwrap_or_default();
        c.extend([t.handshakes, t.resumed, t.failures].map(|n| n.to_string()));
    }
    // The HTTP/2 and HTTP/1 modules' counters are not kept per proxy.
    c.resize(COLUMNS.len(), String::new());
    debug_assert_eq!(c.len(), COLUMNS.len());
    c
}

fn mode_name(m: ringlb_config::model::Mode) -> &'static str {
    match m {
        ringlb_config::model::Mode::Http => "http",
        ringlb_config::model::Mode::Tcp => "tcp",
        ringlb_config::model::Mode::Health => "health",
    }
}

/// Appends one row's line to `out`.
pub fn write_row(r: &Row, out: &mut String) {
    for cell in cells(r) {
        let _ = write!(out, "{cell},");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_starts_like_haproxys_and_ends_with_uweight() {
        let h = header();
        assert!(h.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,"));
        assert!(h.contains(",status,weight,act,bck,chkfail,chkdown,lastchg,downtime,"));
        assert!(h.contains(",hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,"));
        assert!(h.contains(",need_conn_est,uweight,agg_server_status,"));
        assert!(h.ends_with(",h1_spliced_bytes_in,h1_spliced_bytes_out,\n"));
        assert_eq!(h.matches(',').count(), COLUMNS.len());
        assert_eq!(COLUMNS[UWEIGHT], "uweight");
        assert_eq!(COLUMNS[MODULES_SEPARATOR], "-");
    }

    #[test]
    fn free_text_cannot_split_a_cell() {
        assert_eq!(text("a,b\nc"), "a b c");
    }
}
