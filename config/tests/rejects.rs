//! Configurations that must be refused, each with the line and keyword the user is shown.

use std::path::Path;

use ringlb_config::{parse_str, Diagnostic};

/// Parses `text` and returns the error on `line` whose message holds `needle`, failing if
/// there is none or if the configuration was accepted.
fn error_at(text: &str, line: usize, needle: &str) -> Diagnostic {
    let loaded = parse_str(text, Path::new("bad.cfg"));
    assert!(loaded.config.is_none(), "accepted:\n{text}");
    loaded
        .diagnostics
        .iter()
        .find(|d| d.is_error() && d.location.line == line && d.message.contains(needle))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no error with {needle:?} on line {line}: {:#?}",
                loaded.diagnostics
            )
        })
}

fn check(text: &str, line: usize, needle: &str, help: Option<&str>) {
    let d = error_at(text, line, needle);
    assert!(
        d.to_string()
            .starts_with(&format!("bad.cfg:{line}: error: ")),
        "{d}"
    );
    if let Some(h) = help {
        let got = d.help.clone().unwrap_or_default();
        assert!(got.contains(h), "help {got:?} lacks {h:?}");
    }
}

macro_rules! rejects {
    ($($name:ident: $text:expr, line $line:expr, $needle:expr $(, help $help:expr)?;)*) => {
        $(
            #[test]
            fn $name() {
                #[allow(unused_mut, unused_assignments)]
                let mut help: Option<&str> = None;
                $(help = Some($help);)?
                check($text, $line, $needle, help);
            }
        )*
    };
}

const B: &str = "\nbackend b\n    server s 10.0.0.1:80\n";

rejects! {
    send_proxy_v2_ssl_is_refused_with_the_keyword_and_a_fix:
        "backend b\n    server s 10.0.0.1:80 send-proxy-v2-ssl\n", line 2, "server parameter 'send-proxy-v2-ssl' is not supported", help "send-proxy-v2";
    send_proxy_v2_ssl_cn_on_default_server_is_refused:
        "backend b\n    default-server send-proxy-v2-ssl-cn\n    server s 10.0.0.1:80\n", line 2, "'send-proxy-v2-ssl-cn' is not supported";
    proxy_v2_options_is_refused:
        "backend b\n    server s 10.0.0.1:80 send-proxy-v2 proxy-v2-options authority\n", line 2, "'proxy-v2-options' is not supported", help "remove it";
    send_proxy_towards_an_h2_server_is_refused_with_the_reason:
        "backend b\n    mode http\n    default-server send-proxy\n    server s 10.0.0.1:80 proto h2\n", line 4, "'send-proxy' with 'proto h2' is not supported", help "remove 'proto h2'";
    slowstart_is_refused_not_ignored:
        "backend b\n    server s 10.0.0.1:80 check slowstart 30s\n", line 2, "server parameter 'slowstart' is not supported yet", help "full weight";
    slowstart_on_default_server_is_refused:
        "defaults\n    default-server inter 2s slowstart 1m\n", line 2, "'slowstart' is not supported yet";
    http_buffer_request_is_refused_not_ignored:
        "defaults\n    mode http\n    option http-buffer-request\n", line 3, "'option http-buffer-request' is not supported yet", help "forwards the body as it arrives";
    accept_invalid_http_request_is_refused_not_ignored:
        "frontend f\n    mode http\n    option accept-invalid-http-request\n", line 3, "'option accept-invalid-http-request' is not supported yet", help "with 400";
    accept_invalid_http_response_is_refused_not_ignored:
        "backend b\n    mode http\n    option accept-invalid-http-response\n", line 3, "'option accept-invalid-http-response' is not supported yet", help "with 502";
    bind_thread_is_refused_not_ignored:
        "frontend f\n    bind :80 thread 1-2\n", line 2, "'bind … thread' is not supported yet", help "every worker thread";
    unknown_bind_proto_is_named:
        "frontend f\n    mode http\n    bind :80 proto h3\n", line 3, "'proto' value", help "did you mean";
    bind_proto_outside_mode_http_is_refused:
        "frontend f\n    mode tcp\n    bind :80 proto h2\n    default_backend b\nbackend b\n    mode tcp\n    server s 10.0.0.1:80\n", line 3, "not in 'mode http'";
    h2_frame_size_below_the_protocol_minimum_is_refused:
        "global\n    tune.h2.max-frame-size 1000\n", line 2, "out of range", help "16384";
    tls_listener_with_a_missing_certificate_names_the_file:
        "frontend f\n    bind :443 ssl crt /nonexistent/site.pem\n", line 2, "cannot read '/nonexistent/site.pem'", help "PEM file";
    tls_on_a_unix_socket_is_refused:
        "frontend f\n    bind /run/x.sock ssl crt /x.pem\n", line 2, "Unix socket", help "TCP address";
    tls_settings_without_ssl_are_refused:
        "frontend f\n    bind :443 crt /etc/ssl/site.pem\n", line 2, "without 'ssl'", help "add 'ssl'";
    tls_version_rustls_cannot_speak_is_refused:
        "frontend f\n    bind :443 ssl crt /x.pem force-tlsv11\n", line 2, "does not speak TLSv1.1";
    unknown_cipher_in_default_bind_ciphers_is_named:
        "global\n    ssl-default-bind-ciphers ECDHE-RSA-AES128-GCM-SHA256:NOPE\nfrontend f\n    bind :443 ssl crt /x.pem\n", line 4, "unknown cipher 'NOPE'";
    tls_to_a_server_without_a_ca_is_refused_as_haproxy_does:
        "backend b\n    server s 10.0.0.1:443 ssl\n", line 2, "verify is enabled by default but no CA file specified", help "verify none";
    tls_from_default_server_needs_a_ca_on_each_server:
        "backend b\n    default-server ssl\n    server s 10.0.0.1:443\n", line 3, "server 's': verify is enabled";
    explicit_verify_required_without_a_ca_is_refused:
        "global\n    ssl-server-verify none\nbackend b\n    server s 10.0.0.1:443 ssl verify required\n", line 4, "no CA file specified";
    check_ssl_without_a_ca_is_refused:
        "backend b\n    server s 10.0.0.1:80 check check-ssl\n", line 2, "no CA file specified";
    server_verify_optional_is_not_a_server_mode:
        "backend b\n    server s 10.0.0.1:443 ssl verify optional\n", line 2, "unknown server 'verify' method 'optional'";
    server_ca_file_that_cannot_be_read_is_named:
        "backend b\n    server s 10.0.0.1:443 ssl ca-file /nonexistent/ca.pem\n", line 2, "cannot read '/nonexistent/ca.pem'", help "PEM file";
    server_ca_file_is_read_even_without_ssl:
        "backend b\n    server s 10.0.0.1:443 verify none ca-file /nonexistent/ca.pem\n", line 2, "ca-file";
    server_crl_file_that_cannot_be_read_is_named:
        "backend b\n    server s 10.0.0.1:443 ssl verify none crl-file /nonexistent/crl.pem\n", line 2, "crl-file: cannot read";
    server_crt_that_cannot_be_read_is_named:
        "backend b\n    server s 10.0.0.1:443 ssl verify none crt /nonexistent/client.pem\n", line 2, "crt: cannot read";
    server_sni_with_an_unknown_fetch_is_refused:
        "backend b\n    server s 10.0.0.1:443 ssl verify none sni bogus(x)\n", line 2, "error detected while parsing sni expression";
    server_sni_reading_the_response_is_refused:
        "backend b\n    server s 10.0.0.1:443 ssl verify none sni res.hdr(host)\n", line 2, "reads the response";
    server_sni_without_a_value_is_refused:
        "backend b\n    server s 10.0.0.1:443 ssl verify none sni\n", line 2, "'sni'";
    server_cipher_rustls_does_not_know_is_named:
        "backend b\n    server s 10.0.0.1:443 ssl verify none ciphers NOPE\n", line 2, "unknown cipher 'NOPE'";
    server_tls_version_rustls_cannot_speak_is_refused:
        "backend b\n    server s 10.0.0.1:443 ssl verify none force-tlsv10\n", line 2, "does not speak TLSv1.0";
    server_ssl_max_ver_below_rustls_is_refused:
        "backend b\n    server s 10.0.0.1:443 ssl verify none ssl-max-ver TLSv1.1\n", line 2, "TLSv1.2 and TLSv1.3 only";
    server_unknown_ciphersuite_is_named:
        "backend b\n    server s 10.0.0.1:443 ssl verify none ciphersuites TLS_NOPE\n", line 2, "TLS_NOPE";
    default_server_ciphers_are_checked_on_each_server:
        "global\n    ssl-default-server-ciphers NOPE\nbackend b\n    server s 10.0.0.1:443 ssl verify none\n", line 4, "unknown cipher 'NOPE'";
    curves_are_a_bind_setting_not_a_server_one:
        "backend b\n    server s 10.0.0.1:443 ssl verify none curves X25519\n", line 2, "'curves' is a 'bind' setting";
    verifyhost_must_be_a_host_name:
        "backend b\n    server s 10.0.0.1:443 ssl verify none verifyhost bad_name!\n", line 2, "verifyhost 'bad_name!' is not a host name";
    tls_to_a_unix_socket_server_is_refused:
        "backend b\n    server s /run/app.sock ssl verify none\n", line 2, "Unix socket";
    checks_over_tls_with_tcp_check_are_refused:
        "backend b\n    option tcp-check\n    server s 10.0.0.1:443 ssl verify none check\n", line 3, "with option tcp-check", help "port N";
    checks_over_tls_with_ssl_hello_are_refused:
        "backend b\n    option ssl-hello-chk\n    server s 10.0.0.1:443 check check-ssl verify none\n", line 3, "'check-ssl' asks for health checks over TLS";
    typo_in_a_server_tls_word_names_the_nearest:
        "backend b\n    server s 10.0.0.1:443 ssl verify none verifyhots x\n", line 2, "'verifyhots'", help "verifyhost";
    typo_in_global_names_the_nearest_keyword:
        "global\n    nbthred 4\n", line 2, "'nbthred'", help "did you mean 'nbthread'?";
    typo_in_backend_names_balance:
        "backend b\n    balanse roundrobin\n", line 2, "'balanse'", help "did you mean 'balance'?";
    typo_in_frontend_names_default_backend:
        "frontend f\n    bind :80\n    defualt_backend b\n", line 3, "'defualt_backend'", help "default_backend";
    typo_in_defaults_names_timeout:
        "defaults\n    timout connect 5s\n", line 2, "'timout'", help "did you mean 'timeout'?";
    typo_in_option_name:
        "listen l\n    bind :80\n    option forwardfro\n", line 3, "'forwardfro'", help "forwardfor";
    typo_in_userlist:
        "userlist u\n    usr bob password x\n", line 2, "'usr'", help "user";
    typo_in_http_errors:
        "http-errors e\n    errorfil 503 x.http\n", line 2, "'errorfil'", help "errorfile";
    unknown_section_keyword:
        "frontned f\n", line 1, "'frontned'", help "frontend";
    keyword_outside_any_section:
        "    bind :80\nglobal\n", line 1, "'bind' is outside of any section";
    global_keyword_in_a_proxy_points_to_global:
        "backend b\n    nbthread 4\n", line 2, "'nbthread'", help "global section";
    unknown_timeout_name:
        "defaults\n    timeout conect 5s\n", line 2, "'conect'", help "connect";
    duration_with_unknown_unit:
        "defaults\n    timeout client 5sec\n", line 2, "unknown time unit 'sec'", help "us, ms, s, m, h or d";
    negative_duration:
        "defaults\n    timeout client -5s\n", line 2, "negative duration";
    empty_duration:
        "defaults\n    timeout client \"\"\n", line 2, "empty duration";
    duration_overflow:
        "defaults\n    timeout server 99999999999999999999\n", line 2, "too large";
    duration_beyond_timer_range:
        "defaults\n    timeout server 30d\n", line 2, "'timeout server'";
    weight_above_256:
        "backend b\n    server s 10.0.0.1:80 weight 300\n", line 2, "weight 300", help "between 0 and 256";
    weight_not_a_number:
        "backend b\n    server s 10.0.0.1:80 weight heavy\n", line 2, "weight must be a number";
    server_port_zero:
        "backend b\n    server s 10.0.0.1:0\n", line 2, "port 0", help "1 and 65535";
    server_port_too_large:
        "backend b\n    server s 10.0.0.1:70000\n", line 2, "port 70000";
    server_with_invalid_host:
        "backend b\n    server s bad!host:80\n", line 2, "invalid server address";
    server_missing_address:
        "backend b\n    server app1 check\n", line 2, "missing server address";
    server_unknown_parameter:
        "backend b\n    server s 10.0.0.1:80 chek\n", line 2, "'chek'", help "did you mean 'check'?";
    server_rise_zero:
        "backend b\n    server s 10.0.0.1:80 rise 0\n", line 2, "rise 0";
    agent_check_without_port:
        "backend b\n    server s 10.0.0.1:80 agent-check\n", line 2, "'agent-check' needs 'agent-port'";
    bind_port_too_large:
        "frontend f\n    bind :70000\n    default_backend b\n", line 2, "port 70000";
    bind_without_port:
        "frontend f\n    bind 10.0.0.1\n    default_backend b\n", line 2, "has no port";
    bind_host_name_is_refused:
        "frontend f\n    bind example.com:80\n    default_backend b\n", line 2, "invalid bind address";
    bind_reversed_port_range:
        "frontend f\n    bind *:90-80\n    default_backend b\n", line 2, "reversed";
    bind_unknown_option:
        "frontend f\n    bind :80 transparant\n    default_backend b\n", line 2, "'transparant'", help "transparent";
    bind_unsupported_family:
        "frontend f\n    bind abns@x\n    default_backend b\n", line 2, "'abns@'";
    bind_ipv4_prefix_with_ipv6_address:
        "frontend f\n    bind ipv4@[::1]:80\n    default_backend b\n", line 2, "asks for IPv4";
    bind_in_a_backend:
        "backend b\n    bind :80\n", line 2, "'bind' is not allowed in backend 'b'";
    bind_in_defaults:
        "defaults\n    bind :80\n", line 2, "'bind' is not allowed in a 'defaults' section";
    server_in_a_frontend:
        "frontend f\n    bind :80\n    server s 10.0.0.1:80\n", line 3, "'server' is not allowed in frontend 'f'";
    maxconn_in_a_backend:
        "backend b\n    maxconn 10\n", line 2, "'maxconn' is not allowed in backend";
    undefined_default_backend:
        "frontend f\n    bind :80\n    default_backend missing\n", line 3, "backend 'missing', which is not defined";
    undefined_use_backend_suggests_nearest:
        &format!("frontend f\n    bind :80\n    use_backend bb\n    default_backend b\n{B}"), line 3, "'use_backend' names backend 'bb'", help "did you mean 'b'?";
    default_backend_naming_a_frontend:
        "frontend f\n    bind :80\n    default_backend g\nfrontend g\n    bind :81\n    default_backend f\n", line 3, "'g', which is a frontend";
    duplicate_backend_names:
        "backend b\n    server s 10.0.0.1:80\nbackend b\n    server s 10.0.0.1:80\n", line 3, "same name";
    listen_clashes_with_backend:
        "backend b\n    server s 10.0.0.1:80\nlisten b\n    bind :80\n    server s 10.0.0.1:80\n", line 3, "listen 'b' has the same name";
    duplicate_server_names:
        "backend b\n    server s 10.0.0.1:80\n    server s 10.0.0.2:80\n", line 3, "server 's' is declared twice";
    cookie_in_tcp_mode:
        "backend b\n    mode tcp\n    cookie SRV insert\n    server s 10.0.0.1:80 cookie a\n", line 3, "'cookie' requires 'mode http'";
    forwardfor_in_tcp_mode:
        "backend b\n    option forwardfor\n    server s 10.0.0.1:80\n", line 2, "'option forwardfor' requires 'mode http'";
    stats_uri_in_tcp_mode:
        "listen l\n    bind :80\n    stats uri /st\n    server s 10.0.0.1:80\n", line 3, "'stats' requires 'mode http'";
    balance_uri_in_tcp_mode:
        "backend b\n    balance uri\n    server s 10.0.0.1:80\n", line 2, "'balance' requires 'mode http'";
    errorfile_missing_file_names_the_path:
        "defaults\n    errorfile 503 no/such/file.http\n", line 2, "no/such/file.http";
    errorfile_code_not_customizable:
        "defaults\n    errorloc 299 http://x/\n", line 2, "status code 299";
    unterminated_double_quote:
        "frontend f\n    description \"open quote\n    bind :80\n", line 2, "unterminated double quote", help "close the quote";
    cpu_map_without_cpus:
        "global\n    cpu-map 1\n", line 2, "'cpu-map' expects";
    cpu_map_bad_thread_set:
        "global\n    cpu-map 1-x 0\n", line 2, "'cpu-map'";
    cpu_map_beyond_nbthread:
        "global\n    nbthread 2\n    cpu-map 3 2\n", line 3, "names thread 3 but 'nbthread' is 2";
    nbthread_zero:
        "global\n    nbthread 0\n", line 2, "nbthread 0 is out of range";
    nbthread_above_limit:
        "global\n    nbthread 5000\n", line 2, "nbthread 5000", help "4096";
    stats_socket_bad_level:
        "global\n    stats socket /run/x.sock level root\n", line 2, "unknown level 'root'", help "user, operator, admin";
    stats_socket_bad_mode:
        "global\n    stats socket /run/x.sock mode 999\n", line 2, "invalid file mode '999'";
    stats_socket_unknown_option:
        "global\n    stats socket /run/x.sock levle admin\n", line 2, "'levle'", help "level";
    stats_socket_in_a_proxy:
        "listen l\n    mode http\n    bind :80\n    stats socket /x\n", line 4, "'stats socket' belongs in the global section";
    frontend_without_bind:
        &format!("frontend f\n    default_backend b\n{B}"), line 1, "frontend 'f' has no 'bind' line";
    if_with_bad_expression_reports_its_line:
        "global\n.if (\n    daemon\n.endif\n", line 2, "'.if'";
    if_without_endif:
        "global\n.if defined(HOME)\n    daemon\n", line 2, "missing '.endif'";
    endif_without_if:
        "global\n.endif\n", line 2, "'.endif' without a matching '.if'";
    alert_directive_is_an_error:
        "global\n.alert stop here\n", line 2, "stop here";
    unknown_balance_algorithm:
        "backend b\n    balance roundrobn\n", line 2, "'roundrobn'", help "roundrobin";
    unknown_mode:
        "defaults\n    mode htp\n", line 2, "unknown mode 'htp'", help "http";
    from_undefined_defaults:
        "defaults base\nbackend b from bsae\n    server s 10.0.0.1:80\n", line 2, "'bsae' is not defined", help "did you mean 'base'?";
    unknown_log_facility:
        "global\n    log 127.0.0.1 local9\n", line 2, "'local9'", help "local0";
    bad_monitor_net:
        "frontend f\n    bind :80\n    monitor-net 10.0.0.0/40\n", line 3, "invalid prefix length";
    bad_check_regex:
        "backend b\n    http-check expect rstatus (\n", line 2, "invalid regular expression";
    bad_acl_regex_names_the_pattern:
        "frontend f\n    bind :80\n    acl bad path_reg ^/(unclosed\n", line 3, "invalid regex '^/(unclosed'", help "backreferences";
    bad_acl_cidr_names_the_network:
        "frontend f\n    bind :80\n    acl net src 10.0.0.0/33\n", line 3, "'10.0.0.0/33'", help "CIDR";
    bad_acl_int_operator_value:
        "frontend f\n    bind :80\n    acl few hdr_cnt(host) lt many\n", line 3, "invalid integer 'many'", help "lt 2";
    bad_hash_type:
        "backend b\n    hash-type consistant\n", line 2, "'consistant'", help "consistent";
    bad_cookie_option:
        "backend b\n    mode http\n    cookie S insert indirekt\n", line 3, "'indirekt'", help "indirect";
    retries_not_a_number:
        "defaults\n    retries many\n", line 2, "retries must be a number";
    spread_checks_out_of_range:
        "global\n    spread-checks 80\n", line 2, "spread-checks 80", help "between 0 and 50";
    httpchk_uri_without_slash:
        "backend b\n    option httpchk GET health\n", line 2, "must start with '/'";
    user_without_password:
        "userlist u\n    user bob groups admins\n", line 2, "user 'bob' has no password";
    dispatch_without_port:
        "backend b\n    dispatch 10.0.0.1\n", line 2, "has no port";
    undefined_http_errors_section:
        &format!("backend b2\n    mode http\n    errorfiles site\n{B}"), line 3, "http-errors section 'site'";
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let text =
        "global\n    nbthred 4\nbackend b\n    balanse roundrobin\n    server s 10.0.0.1:0\n";
    let loaded = parse_str(text, Path::new("bad.cfg"));
    let lines: Vec<usize> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.location.line)
        .collect();
    assert_eq!(lines, [2, 4, 5]);
}
