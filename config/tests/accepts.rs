//! Configurations that must be accepted, and the model values they turn into.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ringlb_config::model::*;
use ringlb_config::{load, parse_str, Config, Diagnostic, Loaded};

fn parse(text: &str) -> Loaded {
    parse_str(text, Path::new("ok.cfg"))
}

fn accept(text: &str) -> (Config, Vec<Diagnostic>) {
    let l = parse(text);
    match l.config {
        Some(c) => (c, l.diagnostics),
        None => panic!("refused: {:#?}", l.diagnostics),
    }
}

fn warning_on(diags: &[Diagnostic], line: usize, needle: &str) -> bool {
    diags
        .iter()
        .any(|d| !d.is_error() && d.location.line == line && d.message.contains(needle))
}

const TIMEOUTS: &str = "    timeout client 30s\n    timeout server 30s\n    timeout connect 5s\n";

#[test]
fn proxies_inherit_the_last_defaults_section() {
    let text = format!(
        "defaults\n    mode http\n{TIMEOUTS}    option httplog\n    balance leastconn\n    retries 5\n    default-server inter 5s rise 4\n    maxconn 900\n\
         frontend fe\n    bind :80\n    default_backend be\n\
         backend be\n    server a 10.0.0.1:80\n    server b 10.0.0.2:80 inter 1s\n"
    );
    let (c, _) = accept(&text);
    let be = c.proxy("be").unwrap();
    assert_eq!(be.mode, Mode::Http);
    assert_eq!(be.balance, Balance::LeastConn);
    assert_eq!(be.retries, 5);
    assert_eq!(be.timeouts.connect, Some(Duration::from_secs(5)));
    assert_eq!(be.servers[0].check.inter, Duration::from_secs(5));
    assert_eq!(be.servers[0].check.rise, 4);
    assert_eq!(be.servers[1].check.inter, Duration::from_secs(1));
    assert_eq!(be.maxconn, None, "maxconn in defaults applies to frontends");
    let fe = c.proxy("fe").unwrap();
    assert_eq!(fe.maxconn, Some(900));
    assert!(fe.options.httplog.is_some());
    assert_eq!(fe.defaults, None);
}

#[test]
fn from_picks_a_named_defaults_section() {
    let text = format!(
        "defaults web\n    mode http\n{TIMEOUTS}defaults raw\n    mode tcp\n{TIMEOUTS}\
         backend a from web\n    server s 10.0.0.1:80\nbackend b\n    server s 10.0.0.1:80\n"
    );
    let (c, _) = accept(&text);
    assert_eq!(c.proxy("a").unwrap().mode, Mode::Http);
    assert_eq!(c.proxy("a").unwrap().defaults.as_deref(), Some("web"));
    assert_eq!(
        c.proxy("b").unwrap().mode,
        Mode::Tcp,
        "without from, the last defaults"
    );
    assert_eq!(c.proxy("b").unwrap().defaults.as_deref(), Some("raw"));
}

#[test]
fn no_option_overrides_defaults() {
    let text = format!(
        "defaults\n    mode http\n{TIMEOUTS}    option redispatch\n    option httpclose\n\
         backend b\n    no option redispatch\n    no option httpclose\n    server s 10.0.0.1:80\n"
    );
    let (c, _) = accept(&text);
    let b = c.proxy("b").unwrap();
    assert!(!b.options.redispatch);
    assert_eq!(b.options.http_conn_mode, HttpConnMode::KeepAlive);
}

#[test]
fn legacy_listen_forms_become_binds_with_warnings() {
    let text = format!(
        "defaults\n{TIMEOUTS}listen webfarm 192.168.1.1:80\n    server a 10.0.0.1:80\n\
         listen 127.0.0.1:8000\n    server a 10.0.0.1:80\n\
         frontend main *:80\n    default_backend webfarm\n"
    );
    let (c, diags) = accept(&text);
    let w = c.proxy("webfarm").unwrap();
    assert_eq!(
        w.binds[0].addrs,
        vec![BindAddr::Tcp {
            ip: Some("192.168.1.1".parse().unwrap()),
            ports: PortRange::single(80)
        }]
    );
    let anon = c
        .proxy("listen_127.0.0.1_8000")
        .expect("named from its address");
    assert_eq!(anon.binds.len(), 1);
    assert!(warning_on(&diags, 7, "without a name"));
    assert_eq!(
        c.proxy("main").unwrap().binds[0].addrs,
        vec![BindAddr::Tcp {
            ip: None,
            ports: PortRange::single(80)
        }]
    );
    assert!(warning_on(&diags, 5, "legacy form"));
}

#[test]
fn legacy_timeouts_and_redispatch_warn_and_apply() {
    let text = "backend b\n    contimeout 5000\n    clitimeout 50000\n    srvtimeout 50000\n    redispatch\n    server s 10.0.0.1:80\n";
    let (c, diags) = accept(text);
    let b = c.proxy("b").unwrap();
    assert_eq!(b.timeouts.connect, Some(Duration::from_secs(5)));
    assert_eq!(b.timeouts.client, Some(Duration::from_secs(50)));
    assert_eq!(b.timeouts.server, Some(Duration::from_secs(50)));
    assert!(b.options.redispatch);
    let help: Vec<String> = diags.iter().filter_map(|d| d.help.clone()).collect();
    assert!(
        help.iter().any(|h| h.contains("timeout connect 5000")),
        "{help:?}"
    );
    assert!(help.iter().any(|h| h.contains("option redispatch")));
}

#[test]
fn grace_is_inherited_from_defaults_without_a_warning() {
    let (c, diags) =
        accept("defaults\n    grace 2s\nfrontend f\n    bind :80\nbackend b\n    grace 500\n");
    assert_eq!(c.proxy("f").unwrap().grace, Some(Duration::from_secs(2)));
    assert_eq!(
        c.proxy("b").unwrap().grace,
        Some(Duration::from_millis(500))
    );
    assert!(
        !diags.iter().any(|d| d.message.contains("grace")),
        "{diags:?}"
    );
}

#[test]
fn several_global_sections_merge() {
    let (c, _) =
        accept("global\n    daemon\n    maxconn 100\nglobal\n    nbthread 4\n    maxconn 200\n");
    assert!(c.global.daemon);
    assert_eq!(c.global.nbthread, Some(4));
    assert_eq!(c.global.maxconn, Some(200));
}

#[test]
fn environment_variables_expand_inside_double_quotes() {
    std::env::set_var("RINGLB_ACCEPTS_PORT", "8123");
    let text = format!("frontend f\n    bind \"*:${{RINGLB_ACCEPTS_PORT}}\"\n    default_backend b\n{TIMEOUTS}backend b\n    server s '10.0.0.1:${{X}}'\n");
    let l = parse(&text);
    assert!(l
        .diagnostics
        .iter()
        .any(|d| d.location.line == 8 && d.message.contains("${X}")));
    let text = text.replace("'10.0.0.1:${X}'", "\"10.0.0.1:${RINGLB_ACCEPTS_PORT}\"");
    let (c, _) = accept(&text);
    assert_eq!(
        c.proxy("f").unwrap().binds[0].addrs,
        vec![BindAddr::Tcp {
            ip: None,
            ports: PortRange::single(8123)
        }]
    );
    assert_eq!(
        c.proxy("b").unwrap().servers[0].addr.port,
        Some(PortSpec::Fixed(8123))
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringlb-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_directory_loads_its_cfg_files_in_name_order() {
    let d = temp_dir("dir");
    std::fs::write(
        d.join("20-b.cfg"),
        "backend second\n    server s 10.0.0.1:80\n",
    )
    .unwrap();
    std::fs::write(
        d.join("10-a.cfg"),
        "backend first\n    server s 10.0.0.1:80\n",
    )
    .unwrap();
    std::fs::write(d.join("notes.txt"), "not a config").unwrap();
    let l = load(std::slice::from_ref(&d));
    let c = l.config.expect("loads");
    let names: Vec<&str> = c.proxies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["first", "second"]);
    let missing = load(&[d.join("absent.cfg")]);
    assert!(missing.config.is_none());
    assert!(missing.diagnostics[0].message.contains("absent.cfg"));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn errorfile_contents_are_read_relative_to_the_config() {
    let d = temp_dir("errorfile");
    std::fs::write(d.join("503.http"), "HTTP/1.0 503 Busy\r\n\r\nbusy\n").unwrap();
    let text = "defaults\n    mode http\n    errorfile 503 503.http\n    errorloc303 502 https://status.example/\n";
    let l = parse_str(text, &d.join("haproxy.cfg"));
    assert!(l.config.is_some(), "{:#?}", l.diagnostics);
    drop(l);
    let text = format!("{text}backend b\n{TIMEOUTS}    server s 10.0.0.1:80\n");
    let c = parse_str(&text, &d.join("haproxy.cfg")).config.unwrap();
    let e = &c.proxy("b").unwrap().errorfiles;
    assert_eq!(e[0].status, 503);
    assert!(
        matches!(&e[0].source, ErrorSource::File { contents, .. } if contents.starts_with(b"HTTP/1.0 503"))
    );
    assert_eq!(
        e[1].source,
        ErrorSource::Location {
            code: 303,
            url: "https://status.example/".into()
        }
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn if_blocks_skip_their_lines_after_a_bad_expression() {
    // `( ` is not a valid expression whatever the evaluator: the block is skipped, so the
    // unknown keyword inside it is not reported.
    let l = parse("global\n.if (\n    nosuchkeyword\n.else\n    alsobad\n.endif\n    daemon\n");
    let errors: Vec<usize> = l
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.location.line)
        .collect();
    assert_eq!(errors, [2]);
}

#[test]
fn warning_and_notice_directives_are_warnings() {
    let (_, diags) = accept("global\n.warning check me\n.notice fyi\n");
    assert!(warning_on(&diags, 2, "check me"));
    assert!(warning_on(&diags, 3, "fyi"));
}

#[test]
fn tcp_proxies_drop_inherited_http_settings_with_a_warning() {
    let text = format!(
        "defaults\n    mode http\n{TIMEOUTS}    option httplog\n    option forwardfor\n    cookie SRV insert\n\
         listen db\n    mode tcp\n    bind :3306\n    server s 10.0.0.1:3306\n"
    );
    let (c, diags) = accept(&text);
    let db = c.proxy("db").unwrap();
    assert!(db.cookie.is_none());
    assert!(db.options.forwardfor.is_none());
    assert!(db.options.httplog.is_none() && db.options.tcplog);
    assert!(warning_on(
        &diags,
        8,
        "'cookie' inherited from defaults is ignored"
    ));
    assert!(warning_on(&diags, 6, "option httplog"));
}

#[test]
fn conflicting_log_options_keep_the_last_with_a_warning() {
    let (c, diags) = accept(&format!(
        "backend b\n{TIMEOUTS}    option httplog\n    option tcplog\n    server s 10.0.0.1:80\n"
    ));
    let b = c.proxy("b").unwrap();
    assert!(b.options.tcplog && b.options.httplog.is_none());
    assert!(warning_on(&diags, 6, "overrides 'option httplog'"));
}

#[test]
fn server_parameters_parse_into_typed_values() {
    let text = format!(
        "backend b\n    mode http\n{TIMEOUTS}    cookie SRV insert indirect nocache\n\
         server a web1.local:8080 weight 6 check inter 2000 rise 2 fall 5 cookie A maxconn 100 backup\n\
         server b 10.0.0.2:+1 source 10.1.2.1 on-marked-down shutdown-sessions observe layer7 error-limit 5 on-error mark-down\n\
         server c 10.0.0.3 agent-check agent-port 9999 agent-inter 3s disabled\n"
    );
    let (c, _) = accept(&text);
    let s = &c.proxy("b").unwrap().servers;
    assert_eq!(s[0].addr.host, Host::Name("web1.local".into()));
    assert_eq!(s[0].weight.get(), 6);
    assert!(s[0].check.enabled && s[0].backup);
    assert_eq!(s[0].check.fall, 5);
    assert_eq!(s[0].cookie.as_deref(), Some("A"));
    assert_eq!(s[1].addr.port, Some(PortSpec::Offset(1)));
    assert_eq!(s[1].source, Some("10.1.2.1:0".parse().unwrap()));
    assert_eq!(s[1].check.on_error, Some(OnError::MarkDown));
    assert_eq!(s[2].addr.port, None);
    assert_eq!(s[2].check.agent.as_ref().map(|a| a.port), Some(9999));
    assert!(s[2].disabled);
}

#[test]
fn global_threads_cpu_map_and_stats_socket() {
    let text = "global\n    nbthread 4\n    cpu-map 1 0\n    cpu-map auto:1/1-4 0-3\n    cpu-map 1/all 0-1\n    nbproc 2\n\
                stats socket ipv4@127.0.0.1:9999 level operator mode 600 expose-fd listeners\n    stats socket /run/ringlb.sock\n    stats timeout 2m\n";
    let (c, diags) = accept(text);
    let g = &c.global;
    assert_eq!(g.cpu_map[0].threads, IdSet::Ranges(vec![(1, 1)]));
    assert!(g.cpu_map[1].auto);
    assert_eq!(g.cpu_map[1].process, Some(IdSet::Ranges(vec![(1, 1)])));
    assert_eq!(g.cpu_map[1].cpus, IdSet::Ranges(vec![(0, 3)]));
    assert_eq!(g.cpu_map[2].threads, IdSet::All);
    assert!(warning_on(&diags, 6, "nbproc"));
    assert_eq!(
        g.stats_sockets[0].addr,
        SocketAddress::Inet("127.0.0.1:9999".parse().unwrap())
    );
    assert_eq!(g.stats_sockets[0].level, AdminLevel::Operator);
    assert_eq!(g.stats_sockets[0].mode, Some(0o600));
    assert_eq!(
        g.stats_sockets[1].addr,
        SocketAddress::Unix("/run/ringlb.sock".into())
    );
    assert_eq!(g.stats_timeout, Some(Duration::from_secs(120)));
}

#[test]
fn frontend_and_backend_may_share_a_name() {
    let (c, _) = accept(&format!("defaults\n{TIMEOUTS}frontend app\n    bind :80\n    default_backend app\nbackend app\n    server s 10.0.0.1:80\n"));
    assert_eq!(c.proxies.len(), 2);
}

#[test]
fn missing_timeouts_and_empty_backends_warn() {
    let (_, diags) = accept("frontend f\n    bind :80\n    default_backend b\nbackend b\n");
    assert!(warning_on(&diags, 1, "missing timeouts for frontend 'f'"));
    assert!(warning_on(&diags, 4, "backend 'b' has no server"));
}

#[test]
fn binds_take_lists_ranges_and_options() {
    let (c, _) = accept(&format!(
        "frontend f\n{TIMEOUTS}    bind 10.0.0.1:80,[::1]:8000-8010 name web maxconn 50 v6only defer-accept\n    bind fd@3\n    default_backend b\nbackend b\n    server s 10.0.0.1:80\n"
    ));
    let b = &c.proxy("f").unwrap().binds;
    assert_eq!(b[0].addrs.len(), 2);
    assert_eq!(
        b[0].addrs[1],
        BindAddr::Tcp {
            ip: Some("::1".parse::<IpAddr>().unwrap()),
            ports: PortRange {
                first: 8000,
                last: 8010
            }
        }
    );
    assert_eq!(b[0].name.as_deref(), Some("web"));
    assert!(b[0].options.v6only && b[0].options.defer_accept);
    assert_eq!(b[1].addrs, vec![BindAddr::Fd(3)]);
}

#[test]
fn global_tls_settings_of_debians_default_config_load() {
    let (c, diags) = accept(
        "global\n\tca-base /etc/ssl/certs\n\tcrt-base /etc/ssl/private\n\tssl-default-bind-ciphers ECDHE-RSA-AES128-GCM-SHA256\n\tssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets\n\ttune.ssl.default-dh-param 2048\n",
    );
    let t = &c.global.tls;
    assert_eq!(
        t.ca_base.as_deref(),
        Some(std::path::Path::new("/etc/ssl/certs"))
    );
    assert_eq!(
        t.crt_base.as_deref(),
        Some(std::path::Path::new("/etc/ssl/private"))
    );
    assert_eq!(
        t.bind.ciphers.as_deref(),
        Some("ECDHE-RSA-AES128-GCM-SHA256")
    );
    assert_eq!(
        t.bind.min_ver,
        Some(ringlb_config::model::TlsVersion::Tls12)
    );
    assert!(t.bind.no_tls_tickets);
    assert!(
        warning_on(&diags, 6, "no finite-field Diffie-Hellman"),
        "{diags:#?}"
    );
    assert_eq!(diags.len(), 1, "{diags:#?}");
}

/// The TLS passthrough front of HAProxy's documentation: routes on the ClientHello's SNI.
const PASSTHROUGH: &str = "frontend tls\n    mode tcp\n    bind :443\n\
    tcp-request inspect-delay 5s\n\
    tcp-request content accept if { req.ssl_hello_type 1 }\n\
    use_backend a if { req.ssl_sni -i a.example }\n\
    use_backend b if { req_ssl_sni -m end .b.example }\n\
    use_backend a if { req.payload(0,3) -m bin 160301 } { req.ssl_ver ge 3.1 }\n\
    default_backend c\n\
    backend a\n    mode tcp\n    server s 10.0.0.1:443\n\
    backend b\n    mode tcp\n    server s 10.0.0.2:443\n\
    backend c\n    mode tcp\n    server s 10.0.0.3:443\n";

#[test]
fn tls_passthrough_routing_parses_without_warnings() {
    let text = format!("defaults\n{TIMEOUTS}{PASSTHROUGH}");
    let (c, diags) = accept(&text);
    assert!(diags.is_empty(), "{diags:#?}");
    let fe = c.proxy("tls").unwrap();
    assert_eq!(fe.use_backends.len(), 3);
    assert!(fe
        .tcp_request
        .contains(&ringlb_config::rules::TcpRequestRule::InspectDelay(
            Duration::from_secs(5)
        )));
}

#[test]
fn layer6_fetches_on_an_http_proxy_are_accepted_with_a_warning() {
    // HAProxy 2.6: "L6 sample fetches ignored on HTTP proxies", and `-c` still passes.
    let text = format!(
        "defaults\n{TIMEOUTS}{}",
        PASSTHROUGH.replace("mode tcp", "mode http")
    );
    let (_, diags) = accept(&text);
    let ignored: Vec<usize> = diags
        .iter()
        .filter(|d| !d.is_error() && d.message.contains("is ignored on HTTP proxy 'tls'"))
        .map(|d| d.location.line)
        .collect();
    // `tcp-request content` (line 9) and each `use_backend` (lines 10 to 12).
    assert_eq!(ignored, [9, 10, 11, 12, 12], "{diags:#?}");
}

#[test]
fn send_proxy_versions_follow_haproxy_s_two_flags_from_default_server() {
    let (c, _) = accept(&format!(
        "backend b\n{TIMEOUTS}    default-server send-proxy-v2 check-send-proxy\n\
         \x20   server a 10.0.0.1:80\n    server b 10.0.0.2:80 no-send-proxy-v2\n\
         \x20   server c 10.0.0.3:80 send-proxy\n    server d 10.0.0.4:80 no-send-proxy-v2 send-proxy\n\
         \x20   server e 10.0.0.5:80 port 81\n"
    ));
    let s = &c.proxy("b").unwrap().servers;
    let got: Vec<_> = s.iter().map(|s| s.send_proxy).collect();
    use ProxyVersion::{V1, V2};
    // Version 2 wins while its flag is set; each `no-` form clears its own flag only.
    assert_eq!(got, [Some(V2), None, Some(V2), Some(V1), Some(V2)]);
    assert!(s.iter().all(|s| s.check.send_proxy));
    // `check-send-proxy` sends the server's version, v1 when it sends none.
    assert_eq!(s[1].check_proxy(), Some(V1));
    assert_eq!(s[0].check_proxy(), Some(V2));

    let (c, _) = accept(&format!(
        "backend b\n{TIMEOUTS}    server a 10.0.0.1:80 send-proxy\n    server b 10.0.0.2:80 send-proxy port 81\n"
    ));
    let s = &c.proxy("b").unwrap().servers;
    // Checks follow the traffic's header unless they go elsewhere.
    assert_eq!(s[0].check_proxy(), Some(V1));
    assert_eq!(s[1].check_proxy(), None);
}

/// Keywords that HAProxy ignores too, or that do nothing where they are written: accepted,
/// each with a warning on its line (nothing the user wrote is dropped without a word).
#[test]
fn keywords_without_effect_are_announced_on_their_line() {
    let text = format!(
        "global\n    cpu-map 2/1 0\n    stats socket /run/a.sock level admin process 1\n\
         defaults\n    mode http\n{TIMEOUTS}\
         frontend f\n    bind :80 process 1 level admin expose-fd listeners\n    option http-use-htx\n    default_backend b\n\
         backend b\n    balance url_param id check_post 64 max_wait 5\n    server s 10.0.0.1:80\n"
    );
    let (c, diags) = accept(&text);
    for (line, needle) in [
        (2, "maps nothing"),
        (3, "'process' on 'stats socket' is ignored"),
        (10, "'process' on 'bind' lines is ignored"),
        (10, "'level' applies to 'stats socket' lines only"),
        (10, "'expose-fd' applies to 'stats socket' lines only"),
        (11, "'option http-use-htx' is ignored"),
        (14, "'max_wait' of 'balance url_param' is ignored"),
    ] {
        assert!(warning_on(&diags, line, needle), "{needle}: {diags:#?}");
    }
    assert_eq!(
        c.proxy("b").unwrap().balance,
        Balance::UrlParam {
            name: "id".into(),
            check_post: Some(64),
        }
    );
}

/// `no option X` for the refused options states their default: accepted quietly.
#[test]
fn negated_refused_options_are_their_default() {
    let text = format!(
        "defaults\n    mode http\n{TIMEOUTS}\
         backend b\n    no option http-buffer-request\n    no option accept-invalid-http-response\n    server s 10.0.0.1:80\n"
    );
    let (_, diags) = accept(&text);
    assert!(diags.is_empty(), "{diags:#?}");
}
