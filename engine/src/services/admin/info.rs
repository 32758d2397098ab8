//! The texts of `show info`, `show servers state` and `show backend`, in HAProxy's formats.

use std::fmt::Write as _;

use ringlb_checks::{AdminState, CheckStatus};

use crate::services::admin::Runtime;
use crate::services::stats::typed::{self, Field};

/// How `show info` and `show stat` answer: HAProxy's plain text (or CSV), `typed` or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Plain,
    Typed,
    Json,
}

/// `show info [typed|json]`: HAProxy 2.6's fields, positions and order; a field this
/// process has no value for is left out, as HAProxy leaves out its empty fields.
pub fn show_info(rt: &Runtime, format: Format) -> String {
    let fields = info_fields(rt);
    let mut out = String::new();
    match format {
        Format::Plain => {
            for f in &fields {
                let _ = writeln!(out, "{}: {}", f.name, f.value);
            }
        }
        Format::Typed => {
            for f in &fields {
                out.push_str(&typed::typed_line(f));
                out.push('\n');
            }
        }
        Format::Json => typed::write_info_json(&fields, &mut out),
    }
    out
}

/// The `show info` fields with a value, each at HAProxy's position.
fn info_fields(rt: &Runtime) -> Vec<Field<'static>> {
    let snap = rt.stats.snapshot();
    let p = &snap.process;
    let up = rt.started.elapsed().as_secs();
    let uptime = format!(
        "{}d {}h{:02}m{:02}s",
        up / 86400,
        up / 3600 % 24,
        up / 60 % 60,
        up % 60
    );
    let start_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().saturating_sub(up));
    let listeners = listener_count(rt);
    // Bytes this process sent: to clients (frontends' `bout`) and to servers (backends'
    // `bin`); the runtime API's own answers are not counted.
    let bytes_out = snap.frontends.iter().map(|(_, c)| c.bytes_out).sum::<u64>()
        + snap
            .backends
            .iter()
            .map(|b| b.counters.bytes_in)
            .sum::<u64>();
    let maxconn = rt.global_limit.max().to_string();
    // `-m`: the address space limit, 0 when there is none.
    let memmax = crate::worker::limits::memory_limit();
    let version = env!("CARGO_PKG_VERSION");
    let n = |v: u64| Some(v.to_string());
    let zero = || Some("0".to_string());
    let table: Vec<(
        usize,
        &'static str,
        &'static str,
        &'static str,
        Option<String>,
    )> = vec![
        (0, "Name", "POS", "str", Some("ringlb".into())),
        (1, "Version", "POS", "str", Some(version.into())),
        (3, "Nbthread", "CGS", "u32", n(rt.nbthread as u64)),
        (4, "Nbproc", "CGS", "u32", Some("1".into())),
        (5, "Process_num", "KGP", "u32", Some("1".into())),
        (6, "Pid", "SGP", "u32", n(u64::from(std::process::id()))),
        (7, "Uptime", "MDP", "str", Some(uptime)),
        (8, "Uptime_sec", "MDP", "u32", n(up)),
        (9, "Memmax_MB", "CLP", "u32", n(memmax >> 20)),
        (13, "Ulimit-n", "CLP", "u32", n(rt.nofile)),
        (14, "Maxsock", "CLP", "u32", n(rt.nofile)),
        (15, "Maxconn", "CLP", "u32", Some(maxconn)),
        (16, "Hard_maxconn", "CLP", "u32", n(rt.maxconn)),
        (17, "CurrConns", "MGP", "u32", n(p.sess_cur)),
        (18, "CumConns", "MCP", "u32", n(p.sess_total)),
        (19, "CumReq", "MCP", "u32", n(p.req_total)),
        (20, "MaxSslConns", "MMP", "u32", zero()),
        (
            21,
            "CurrSslConns",
            "MGP",
            "u32",
            n(crate::io::tls::open_connections()),
        ),
        (22, "CumSslConns", "MCP", "u32", n(p.tls_handshakes)),
        (23, "Maxpipes", "CLP", "u32", zero()),
        (24, "PipesUsed", "MGP", "u32", zero()),
        (25, "PipesFree", "MGP", "u32", zero()),
        (26, "ConnRate", "MRP", "u32", n(p.sess_rate)),
        (27, "ConnRateLimit", "CLP", "u32", zero()),
        (28, "MaxConnRate", "MMP", "u32", n(p.sess_rate_max)),
        (29, "SessRate", "MRP", "u32", n(p.sess_rate)),
        (30, "SessRateLimit", "CLP", "u32", zero()),
        (31, "MaxSessRate", "MRP", "u32", n(p.sess_rate_max)),
        (32, "SslRate", "MRP", "u32", zero()),
        (33, "SslRateLimit", "CLP", "u32", zero()),
        (34, "MaxSslRate", "MMP", "u32", zero()),
        (
            37,
            "SslFrontendSessionReuse_pct",
            "MGP",
            "u32",
            n(crate::services::stats::prometheus::reuse_pct(p)),
        ),
        (42, "CompressBpsIn", "MRP", "u32", zero()),
        (43, "CompressBpsOut", "MRP", "u32", zero()),
        (44, "CompressBpsRateLim", "CLP", "u32", zero()),
        (47, "Tasks", "MGP", "u32", n(rt.nbthread as u64)),
        (48, "Run_queue", "MGP", "u32", zero()),
        (49, "Idle_pct", "MaP", "u32", Some("100".into())),
        (
            50,
            "node",
            "COS",
            "str",
            Some(crate::io::host::hostname().to_string()),
        ),
        (
            52,
            "Stopping",
            "MGP",
            "u32",
            n(u64::from(rt.inboxes.stopping())),
        ),
        // The listeners, the connections being served and this runtime API session.
        (53, "Jobs", "MGP", "u32", n(listeners + p.sess_cur + 1)),
        (54, "Unstoppable Jobs", "MGP", "u32", zero()),
        (55, "Listeners", "MGP", "u32", n(listeners)),
        (56, "ActivePeers", "MGP", "u32", zero()),
        (57, "ConnectedPeers", "MGP", "u32", zero()),
        (58, "DroppedLogs", "MGP", "u32", n(snap.log_drops)),
        (59, "BusyPolling", "MGP", "u32", zero()),
        (60, "FailedResolutions", "MGP", "u32", zero()),
        (61, "TotalBytesOut", "MGP", "u64", n(bytes_out)),
        (62, "TotalSplicdedBytesOut", "MGP", "u64", zero()),
        (64, "DebugCommandsIssued", "MGP", "u32", zero()),
        (65, "CumRecvLogs", "MCP", "u32", zero()),
        (66, "Build info", "POS", "str", Some(version.into())),
        (67, "Memmax_bytes", "CLP", "u32", n(memmax)),
        (70, "Start_time_sec", "MDP", "u32", n(start_time)),
        (71, "Tainted", "SGP", "str", zero()),
    ];
    table
        .into_iter()
        .filter_map(|(pos, name, tags, ty, value)| {
            Some(Field {
                pos,
                name,
                tags,
                ty,
                value: value?,
            })
        })
        .collect()
}

/// Listening sockets: every address of every enabled frontend's `bind` lines, and the
/// `stats socket` lines (HAProxy counts one listener per address, not per thread).
fn listener_count(rt: &Runtime) -> u64 {
    let binds: usize = rt
        .config
        .frontends()
        .filter(|f| !f.disabled)
        .flat_map(|f| &f.binds)
        .map(|b| b.addrs.len())
        .sum();
    (binds + rt.config.global.stats_sockets.len()) as u64
}

/// `show backend`: the backends' names under a `# name` header.
pub fn show_backend(rt: &Runtime) -> String {
    let mut out = String::from("# name\n");
    for p in rt.config.backends() {
        out.push_str(&p.name);
        out.push('\n');
    }
    out
}

/// HAProxy's `srv_admin_state` bits: forced maintenance, maintenance from the
/// configuration (`disabled`), forced drain.
fn admin_bits(admin: AdminState, disabled_in_config: bool) -> u32 {
    match admin {
        // `disabled` in the configuration: HAProxy sets both the forced and the
        // configuration maintenance bits.
        AdminState::Maint if disabled_in_config => 0x05,
        AdminState::Maint => 0x01,
        AdminState::Drain => 0x08,
        AdminState::Ready => 0,
    }
}

/// `show servers state [BACKEND]`: the version 1 format `load-server-state-from-file` reads.
pub fn show_servers_state(rt: &Runtime, only: Option<&str>) -> Result<String, String> {
    if let Some(b) = only {
        if !rt.config.backends().any(|p| p.name == b) {
            return Err("Can't find backend.\n".into());
        }
    }
    let mut out = String::from(
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state \
         srv_uweight srv_iweight srv_time_since_last_change srv_check_status \
         srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id \
         srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port \
         srv_check_addr srv_agent_addr srv_agent_port\n",
    );
    let states = rt.servers.snapshot();
    for (pi, p) in rt.config.proxies.iter().enumerate() {
        if !p.kind.has_backend() || only.is_some_and(|b| b != p.name) {
            continue;
        }
        let Some(rb) = rt.servers.backends().iter().find(|b| b.name == p.name) else {
            continue;
        };
        let be_id = crate::services::stats::view::proxy_iid(&rt.config, pi);
        for (si, s) in rb.servers.iter().enumerate() {
            let st = states
                .iter()
                .find(|x| x.backend == p.name && x.server == s.name);
            let up = st.is_none_or(|x| x.up);
            let admin = st.map_or(AdminState::Ready, |x| x.admin);
            let checked = st.is_some_and(|x| x.checked);
            // Operational state: 0 stopped, 2 running.
            let op = if up { 2 } else { 0 };
            let uweight = rt
                .servers
                .weights(&p.name, &s.name)
                .map_or(s.weight, |w| w.0);
            let (check_status, check_result) = match st.and_then(|x| x.last_check.as_ref()) {
                Some(r) if r.status.passed() => (status_code(r.status), 3),
                Some(r) => (status_code(r.status), 2),
                // No result yet (or no check): HAProxy says INI, result unknown.
                None => (1, 0),
            };
            let check_state = match st {
                Some(x) if x.checked && x.check_enabled => 6,
                Some(x) if x.checked => 2,
                _ => 0,
            };
            // As `set server … addr` left it.
            let (ip, port) = rt.servers.addr(&p.name, &s.name).unwrap_or((s.ip, s.port));
            let port = match port {
                Some(ringlb_config::model::PortSpec::Fixed(n)) => i32::from(n),
                Some(ringlb_config::model::PortSpec::Offset(o)) => o,
                None => 0,
            };
            let _ = writeln!(
                out,
                "{be_id} {} {} {} {} {op} {} {uweight} {} {} {check_status} {check_result} {} \
                 {check_state} 0 0 0 - {port} - 0 0 - - 0",
                p.name,
                si + 1,
                s.name,
                ip,
                admin_bits(admin, s.disabled),
                s.weight,
                st.map_or(0, |x| x.since_change.as_secs()),
                // An unchecked server is at `rise` while it takes traffic, as in HAProxy.
                match st {
                    Some(x) if checked => x.health,
                    Some(x) if up && admin != AdminState::Maint => x.rise,
                    _ => 0,
                },
            );
        }
    }
    Ok(out)
}

/// HAProxy 2.6's numeric check status (`srv_check_status`), as its `show servers state`
/// prints it: its list of statuses also holds markers that are never a result (2, 3, 14),
/// so the numbers are not the position of the code in our list.
fn status_code(s: CheckStatus) -> u32 {
    match s.code() {
        "INI" => 1,
        "HANA" => 4,
        "SOCKERR" => 5,
        "L4OK" => 6,
        "L4TOUT" => 7,
        "L4CON" => 8,
        "L6OK" => 9,
        "L6TOUT" => 10,
        "L6RSP" => 11,
        "L7TOUT" => 12,
        "L7RSP" => 13,
        "L7OK" => 15,
        "L7OKC" => 16,
        "L7STS" => 17,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_state_bits_follow_haproxy() {
        assert_eq!(admin_bits(AdminState::Ready, false), 0);
        assert_eq!(admin_bits(AdminState::Maint, false), 1);
        assert_eq!(admin_bits(AdminState::Maint, true), 5);
        assert_eq!(admin_bits(AdminState::Drain, false), 8);
    }
}
