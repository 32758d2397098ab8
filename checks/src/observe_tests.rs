//! Observe tests: which outcomes count as errors or successes in each mode, and when the
//! count triggers the `on-error` action.

use super::*;
use std::path::Path;

fn watches(server_opts: &str) -> Watches {
    let text = format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         backend web\n server a 127.0.0.1:80 check {server_opts}\n server n 127.0.0.1:81 check\n"
    );
    let loaded = ringlb_config::parse_str(&text, Path::new("t.cfg"));
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    Watches::new(&config)
}

fn watch(server_opts: &str) -> Arc<Watch> {
    watches(server_opts).get("web", "a").expect("a is observed")
}

#[test]
fn layer7_counts_5xx_except_501_and_505_and_a_good_response_resets() {
    let w = watch("observe layer7 error-limit 3");
    assert_eq!(w.count(Outcome::Response(500)), None);
    assert_eq!(w.count(Outcome::Response(503)), None);
    assert_eq!(w.errors(), 2);
    assert_eq!(
        w.count(Outcome::Response(404)),
        None,
        "4xx is the client's fault"
    );
    assert_eq!(w.errors(), 0);
    for ok in [501, 505, 200, 302] {
        w.count(Outcome::Response(500));
        w.count(Outcome::Response(ok));
        assert_eq!(w.errors(), 0, "{ok} is a valid answer");
    }
}

#[test]
fn layer7_counts_broken_answers_and_connect_failures_but_ignores_connect_successes() {
    let w = watch("observe layer7 error-limit 10");
    for o in [
        Outcome::InvalidResponse,
        Outcome::ReadError,
        Outcome::ReadTimeout,
        Outcome::ServerClosed,
        Outcome::ConnectFailed,
    ] {
        w.count(o);
    }
    assert_eq!(w.errors(), 5);
    w.count(Outcome::Connected);
    assert_eq!(
        w.errors(),
        5,
        "connecting says nothing about the answer in layer7"
    );
}

#[test]
fn layer4_counts_connects_only() {
    let w = watch("observe layer4 error-limit 10");
    w.count(Outcome::ConnectFailed);
    w.count(Outcome::Response(500));
    w.count(Outcome::ReadTimeout);
    assert_eq!(w.errors(), 1, "HTTP outcomes are ignored in layer4");
    w.count(Outcome::Connected);
    assert_eq!(w.errors(), 0);
}

#[test]
fn reaching_the_limit_triggers_the_action_once_and_starts_over() {
    let w = watch("observe layer7 error-limit 2 on-error mark-down");
    assert_eq!(w.count(Outcome::Response(500)), None);
    let t = w.count(Outcome::Response(502)).expect("two errors trigger");
    assert_eq!(t.on_error, OnError::MarkDown);
    assert_eq!(
        t.info(),
        "Detected 2 consecutive errors, last one was: Wrong http response"
    );
    assert_eq!(w.errors(), 0);
    assert_eq!(
        w.count(Outcome::Response(500)),
        None,
        "counting starts over"
    );
}

#[test]
fn defaults_are_ten_errors_and_fail_check() {
    let w = watch("observe layer4");
    for _ in 0..9 {
        assert_eq!(w.count(Outcome::ConnectFailed), None);
    }
    let t = w.count(Outcome::ConnectFailed).unwrap();
    assert_eq!(t.on_error, OnError::FailCheck);
    assert_eq!(
        t.info(),
        "Detected 10 consecutive errors, last one was: L4 unsuccessful connection"
    );
}

#[test]
fn only_checked_servers_with_observe_are_watched() {
    let all = watches("observe layer4");
    assert!(all.get("web", "n").is_none(), "no observe");
    assert_eq!(all.iter().count(), 1);
    let text = "defaults\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
                backend web\n server a 127.0.0.1:80 observe layer4\n";
    let config = ringlb_config::parse_str(text, Path::new("t.cfg"))
        .config
        .unwrap();
    assert!(Watches::new(&config).is_empty(), "observe needs check");
}

#[test]
fn a_trigger_reaches_the_receiving_side() {
    let all = watches("observe layer4 error-limit 1 on-error fastinter");
    let w = all.get("web", "a").unwrap();
    w.report(Outcome::Connected);
    w.report(Outcome::ConnectFailed);
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    let got = rt.block_on(all.link().recv());
    assert_eq!(got.watch, 0);
    assert_eq!(got.on_error, OnError::FastInter);
    assert_eq!(got.last, Outcome::ConnectFailed);
}
