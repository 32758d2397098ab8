//! `unique-id-format` / `unique-id-header` through the engine: the server receives the ID
//! in the named header, the `unique-id` fetch returns it to rules, and the log line's `%ID`
//! carries the same value.

mod support;

use std::net::SocketAddr;
use std::path::Path;

use support::*;

/// A server answering each request with the values of its `X-Unique-ID` and `X-Copy`
/// headers, one `name=value` line each.
fn id_server() -> SocketAddr {
    Origin::serve(|req| {
        let body: String = req
            .headers
            .iter()
            .filter(|(n, _)| {
                n.eq_ignore_ascii_case("x-unique-id") || n.eq_ignore_ascii_case("x-copy")
            })
            .map(|(n, v)| format!("{}={v}\n", n.to_ascii_lowercase()))
            .collect();
        Reply::ok(body)
    })
    .addr
}

fn unique_id_reaches_the_server_the_rules_and_the_log(legacy: bool) {
    let rx = Receiver::new();
    let port = free_port();
    let text = format!(
        "global\n nbthread 1\n log {log} local3 info\ndefaults\n mode http\n log global\n \
         timeout client 5s\n timeout server 5s\n timeout connect 1s\n\
         frontend www\n bind 127.0.0.1:{port}\n \
         unique-id-format %{{+X}}o%ci:%cp_%fi:%fp_%Ts_%rt\n unique-id-header X-Unique-ID\n \
         log-format \"id=%ID\"\n http-request set-header X-Copy %[unique-id]\n \
         default_backend app\nbackend app\n server s {srv}\n",
        log = rx.addr(),
        srv = id_server(),
    );
    let loaded = ringlb_config::parse_str(&text, Path::new("unique.cfg"));
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    let h = run(config, legacy);

    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, body) = http_get(addr_of(&h, "www"), "/").unwrap();
        assert_eq!(status, 200);
        let mut lines = body.lines();
        let header = lines.next().unwrap().strip_prefix("x-unique-id=").unwrap();
        let copy = lines.next().unwrap().strip_prefix("x-copy=").unwrap();
        assert_eq!(copy, header, "the unique-id fetch returns the same ID");
        let log = rx.line();
        assert!(
            log.ends_with(&format!("id={header}")),
            "log {log:?} carries {header}"
        );
        ids.push(header.to_string());
    }
    for id in &ids {
        // 7F000001:PPPP_7F000001:PPPP_TTTTTTTT_NNNN
        let (front, tail) = id.split_once('_').unwrap();
        assert!(front.starts_with("7F000001:"), "{id}");
        assert_eq!(front.len(), "7F000001:".len() + 4, "{id}");
        let port_hex = format!("7F000001:{port:04X}");
        assert!(
            tail.starts_with(&port_hex),
            "{id} names the frontend {port_hex}"
        );
        assert!(id.rsplit('_').next().unwrap().len() >= 4, "{id}");
    }
    assert_ne!(ids[0], ids[1], "every request has its own ID");
    drop(h);
}
both_drivers!(
    unique_id_reaches_the_server_the_rules_and_the_log,
    super::unique_id_reaches_the_server_the_rules_and_the_log
);

fn without_a_format_no_header_is_added(legacy: bool) {
    let h = run_http(
        1,
        &format!(
            "listen www\n bind 127.0.0.1:{}\n server s {}\n",
            free_port(),
            id_server()
        ),
        legacy,
    );
    let (status, body) = http_get(addr_of(&h, "www"), "/").unwrap();
    assert_eq!((status, body.as_str()), (200, ""));
}
both_drivers!(
    without_a_format_no_header_is_added,
    super::without_a_format_no_header_is_added
);
