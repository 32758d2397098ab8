//! `parse → dump → parse` gives an equal model, for the examples and for inline
//! configurations that use every keyword the parser models.

use std::path::{Path, PathBuf};

use ringlb_config::{dump, load, parse_str, Config};

fn round_trip(config: &Config, file: &Path) {
    let text = dump(config);
    let again = parse_str(&text, file);
    let errors: Vec<String> = again
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    let back = again
        .config
        .unwrap_or_else(|| panic!("dump of {} is refused: {errors:#?}\n{text}", file.display()));
    assert_eq!(&back, config, "dump of {} differs:\n{text}", file.display());
    assert_eq!(dump(&back), text, "dump is not stable");
}

fn cfg_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            cfg_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "cfg") {
            out.push(p);
        }
    }
}

#[test]
fn every_example_round_trips() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files = Vec::new();
    cfg_files(&examples, &mut files);
    files.sort();
    assert!(files.len() > 30, "the seed examples are found: {files:?}");
    for f in files {
        let loaded = load(std::slice::from_ref(&f));
        let config = loaded.config.unwrap_or_else(|| {
            let errors: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
            panic!("{} does not parse: {errors:#?}", f.display())
        });
        round_trip(&config, &f);
    }
}

const EVERYTHING: &str = r#"
global
    daemon
    master-worker
    quiet
    nbthread 8
    cpu-map auto:1/1-4 0-3
    cpu-map 5 4,6
    cpu-map 1/all 0-1
    maxconn 50000
    ulimit-n 200000
    user haproxy
    group haproxy
    uid 99
    gid 99
    chroot /var/lib/haproxy
    pidfile /run/haproxy.pid
    log 127.0.0.1 local0 info
    log /dev/log len 2048 format rfc5424 local1 notice err
    log stdout format raw daemon
    log-tag "ring lb"
    stats socket /run/haproxy.sock mode 660 level admin expose-fd listeners user root group adm
    stats socket ipv4@127.0.0.1:9999 level operator process 1
    stats socket ipv6@[::1]:9998 level user
    stats timeout 2m
    spread-checks 5
    hard-stop-after 30s
    tune.bufsize 32k
    tune.maxrewrite 2048
    tune.h2.header-table-size 8192
    tune.h2.initial-window-size 1048576
    tune.h2.max-concurrent-streams 250
    tune.h2.max-frame-size 32768

userlist admins
    group ops users alice,bob
    user alice password $6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1 groups ops
    user bob insecure-password "s3cret pass"

http-errors site
    errorfile 503 data/503.http

defaults base
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 5s
    timeout http-request 10s
    timeout http-keep-alive 2s
    timeout queue 1m
    timeout check 3s
    timeout tunnel 1h
    timeout client-fin 1s
    timeout server-fin 1s
    timeout tarpit 5s
    retries 2
    option httplog
    option dontlognull
    option http-server-close
    option forwardfor except 10.0.0.0/8 header X-Client if-none
    option originalto header X-Orig
    option redispatch
    log global
    default-server inter 3s fall 2 maxqueue 10

frontend www from base
    bind *:80,:8080 name plain
    bind [::]:443 v6only
    bind 10.0.0.1:9000-9010 backlog 512 maxconn 1000 interface eth0 transparent accept-proxy process 1
    bind /run/www.sock mode 600 user www group www
    bind fd@4
    bind 127.0.0.1:8081 proto h2
    bind 127.0.0.1:8082 proto h1
    maxconn 20000
    backlog 1024
    description "public web front"
    id 7
    capture request header Host len 64
    capture response header Server len 32
    log-format "%ci:%cp [%t] %ft %b/%s"
    monitor-uri /health
    monitor-net 192.168.0.0/16
    errorloc 403 https://example.com/forbidden
    errorloc303 502 https://example.com/oops
    errorfiles site 503
    default_backend app
    use_backend %[req.hdr(host),lower]

backend app from base
    balance uri len 10 depth 2 whole
    hash-type consistent djb2 avalanche
    cookie SRV insert indirect nocache postonly httponly secure domain .example.com domain .example.org maxidle 30m maxlife 8h
    fullconn 500
    option httpchk HEAD /check HTTP/1.1
    http-check expect ! rstatus ^5
    http-check send meth GET uri /ready ver HTTP/1.1 hdr Host example.com body ping
    http-check disable-on-404
    stats enable
    stats uri /admin?stats
    stats realm "Ring LB"
    stats auth admin:admin
    stats refresh 5s
    stats hide-version
    stats show-legends
    stats show-node
    stats show-desc "main site"
    stats scope app
    server a 10.0.0.1:80 weight 256 check cookie A maxconn 100 minconn 10 backup
    server b web2.example:8080 weight 0 disabled source 10.1.2.3:0
    server c 10.0.0.3:+1 fastinter 500ms downinter 10s rise 1 fall 9 port 8081 addr 10.9.9.9 error-limit 3
    server d [2001:db8::1]:-1 on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions observe layer4 on-error sudden-death
    server e unix@/run/app.sock agent-check agent-port 5555 agent-inter 2s agent-addr 10.0.0.5 agent-send "ready\n"
    server f 10.0.0.6:80 send-proxy check-send-proxy redir http://img.example
    server g 10.0.0.7:80 send-proxy-v2
    server h 10.0.0.8:80 send-proxy send-proxy-v2 no-send-proxy-v2

backend hashed
    mode http
    balance hdr(Host) use_domain_only
    server s 10.0.0.1:80

backend params
    mode http
    balance url_param userid check_post 64
    option ssl-hello-chk
    option tcp-check
    option log-health-checks
    option allbackups
    option abortonclose
    option persist
    option splice-auto
    option tcpka
    option clitcpka
    option srvtcpka
    option httpclose
    option dontlog-normal
    option log-separate-errors
    http-check expect status 200-299,302
    server s 10.0.0.1:80

listen db
    mode tcp
    bind :3306
    balance random draws 3
    option tcplog
    no log
    option tcp-check
    tcp-check connect send-proxy
    server s 10.0.0.1:3306 check

listen rdp
    bind :3389
    balance rdp-cookie(msts)
    dispatch 10.0.0.9:3389
    disabled

backend first
    balance first
    hash-type map-based crc32
    server s 10.0.0.1:80
backend src
    balance source
    server s 10.0.0.1:80
backend rr
    balance static-rr
    option httplog clf
    server s 10.0.0.1:80
backend lc
    balance leastconn
    server s 10.0.0.1:80
"#;

#[test]
fn every_keyword_round_trips() {
    let dir = std::env::temp_dir().join(format!("ringlb-roundtrip-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(
        dir.join("data/503.http"),
        "HTTP/1.0 503 Service Unavailable\r\n\r\n",
    )
    .unwrap();
    let file = dir.join("all.cfg");
    let loaded = parse_str(EVERYTHING, &file);
    let config = loaded.config.unwrap_or_else(|| {
        panic!(
            "{:#?}",
            loaded
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .collect::<Vec<_>>()
        )
    });
    // Spot checks that the inline configuration really set what it says.
    let app = &config.proxy("app").unwrap().servers;
    assert_eq!(app.len(), 8);
    use ringlb_config::model::ProxyVersion::{V1, V2};
    let versions: Vec<_> = app[5..].iter().map(|s| s.send_proxy).collect();
    assert_eq!(versions, [Some(V1), Some(V2), Some(V1)]);
    assert!(app[5].check.send_proxy && app[5].redir.is_some());
    assert!(config.proxy("rr").unwrap().options.httplog.unwrap().clf);
    assert_eq!(config.proxy("www").unwrap().binds.len(), 7);
    let h2 = &config.global.tune.h2;
    assert_eq!(
        (h2.header_table_size, h2.max_frame_size),
        (8192, Some(32768))
    );
    assert_eq!(config.userlists[0].users.len(), 2);
    round_trip(&config, &file);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn proxies_without_defaults_and_legacy_forms_round_trip() {
    let text = "listen 127.0.0.1:8000\n    mode http\n    balance roundrobin\n    cookie SERVERID insert indirect nocache\n    option httpchk HEAD /index.html HTTP/1.0\n    server webA 192.168.1.11:80 cookie A check\n    contimeout 5s\n    redispatch\n";
    let file = Path::new("legacy.cfg");
    let loaded = parse_str(text, file);
    round_trip(&loaded.config.expect("accepted"), file);
}
