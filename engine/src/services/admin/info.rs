//! The texts of `show info`, `show servers state` and `show backend`, in HAProxy's formats.

use std::fmt::Write as _;

use ringlb_checks::{AdminState, CheckStatus};

use crate::services::admin::Runtime;

/// `show info`: one `Name: value` line per field, HAProxy's names and order.
pub fn show_info(rt: &Runtime) -> String {
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
    let fields: Vec<(&str, String)> = vec![
        ("Name", "ringlb".into()),
        ("Version", env!("CARGO_PKG_VERSION").into()),
        ("Release_date", String::new()),
        ("Nbthread", rt.nbthread.to_string()),
        ("Nbproc", "1".into()),
        ("Process_num", "1".into()),
        ("Pid", std::process::id().to_string()),
        ("Uptime", uptime),
        ("Uptime_sec", up.to_string()),
        ("Memmax_MB", "0".into()),
        ("Ulimit-n", rt.nofile.to_string()),
        ("Maxsock", rt.nofile.to_string()),
        ("Maxconn", rt.maxconn.to_string()),
        ("Hard_maxconn", rt.maxconn.to_string()),
        ("CurrConns", p.sess_cur.to_string()),
        ("CumConns", p.sess_total.to_string()),
        ("CumReq", p.req_total.to_string()),
        ("MaxSslConns", "0".into()),
        (
            "CurrSslConns",
            crate::io::tls::open_connections().to_string(),
        ),
        ("CumSslConns", p.tls_handshakes.to_string()),
        ("Maxpipes", "0".into()),
        ("PipesUsed", "0".into()),
        ("PipesFree", "0".into()),
        ("ConnRate", p.sess_rate.to_string()),
        ("ConnRateLimit", "0".into()),
        ("MaxConnRate", p.sess_rate_max.to_string()),
        ("SessRate", p.sess_rate.to_string()),
        ("SessRateLimit", "0".into()),
        ("MaxSessRate", p.sess_rate_max.to_string()),
        ("SslRate", "0".into()),
        ("SslRateLimit", "0".into()),
        ("MaxSslRate", "0".into()),
        ("CompressBpsIn", "0".into()),
        ("CompressBpsOut", "0".into()),
        ("CompressBpsRateLim", "0".into()),
        ("Tasks", rt.nbthread.to_string()),
        ("Run_queue", "0".into()),
        ("Idle_pct", "100".into()),
        ("Node", hostname()),
        ("Description", String::new()),
        (
            "SslFrontendSessionReuse_pct",
            crate::services::stats::prometheus::reuse_pct(p).to_string(),
        ),
    ];
    let mut out = String::new();
    for (k, v) in fields {
        let _ = writeln!(out, "{k}: {v}");
    }
    out
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
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
        AdminState::Maint if disabled_in_config => 0x04,
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
        let be_id = p.id.unwrap_or(pi as u32 + 1);
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
                None => (0, 0),
            };
            let check_state = match st {
                Some(x) if x.checked && x.check_enabled => 6,
                Some(x) if x.checked => 2,
                _ => 0,
            };
            let port = match s.port {
                Some(ringlb_config::model::PortSpec::Fixed(n)) => n,
                _ => 0,
            };
            let _ = writeln!(
                out,
                "{be_id} {} {} {} {} {op} {} {uweight} {} {} {check_status} {check_result} {} \
                 {check_state} 0 0 0 - {port} - 0 0 - - 0",
                p.name,
                si + 1,
                s.name,
                s.ip,
                admin_bits(admin, s.disabled),
                s.weight,
                st.map_or(0, |x| x.since_change.as_secs()),
                if checked {
                    st.map_or(0, |x| x.health)
                } else {
                    0
                },
            );
        }
    }
    Ok(out)
}

/// HAProxy's numeric check status (`HCHK_STATUS_*`) for the codes the checker reports.
fn status_code(s: CheckStatus) -> u32 {
    match s.code() {
        "INI" => 1,
        "SOCKERR" => 4,
        "L4OK" => 5,
        "L4TOUT" => 6,
        "L4CON" => 7,
        "L6OK" => 8,
        "L6TOUT" => 9,
        "L6RSP" => 10,
        "L7TOUT" => 11,
        "L7RSP" => 12,
        "L7OK" => 13,
        "L7OKC" => 14,
        "L7STS" => 15,
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
        assert_eq!(admin_bits(AdminState::Maint, true), 4);
        assert_eq!(admin_bits(AdminState::Drain, false), 8);
    }
}
