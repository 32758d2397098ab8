//! `http-reuse`, `unique-id-format`, `unique-id-header`, `force-persist` and
//! `ignore-persist`: what they parse into, where they are refused, and their dump.

use std::path::Path;

use ringlb_config::model::{HttpReuse, PersistKind};
use ringlb_config::{dump, parse_str, Diagnostic, Loaded};

const HEAD: &str =
    "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n";

fn parse(body: &str) -> Loaded {
    parse_str(&format!("{HEAD}{body}"), Path::new("c.cfg"))
}

fn error(body: &str) -> Diagnostic {
    let loaded = parse(body);
    assert!(loaded.config.is_none(), "accepted:\n{body}");
    loaded
        .diagnostics
        .into_iter()
        .find(Diagnostic::is_error)
        .unwrap()
}

#[test]
fn http_reuse_is_inherited_by_backends_and_defaults_to_safe() {
    let loaded = parse(
        "defaults\n mode http\n http-reuse never\nbackend a\nbackend b\n http-reuse always\nlisten c\n",
    );
    let c = loaded.config.unwrap();
    let modes: Vec<HttpReuse> = c.proxies.iter().map(|p| p.http_reuse).collect();
    assert_eq!(
        modes,
        [HttpReuse::Never, HttpReuse::Always, HttpReuse::Never]
    );
    let plain = parse("backend a\n").config.unwrap();
    assert_eq!(plain.proxies[0].http_reuse, HttpReuse::Safe);
}

#[test]
fn bad_http_reuse_lines_name_the_keyword_and_the_fix() {
    let d = error("backend a\n http-reuse sometimes\n");
    assert_eq!(d.location.line, 7);
    assert!(
        d.message.contains("unknown 'http-reuse' mode 'sometimes'"),
        "{d}"
    );
    let d = error("backend a\n http-reuse\n");
    assert!(
        d.message
            .contains("'http-reuse' expects never|safe|aggressive|always"),
        "{d}"
    );
    let d = error("frontend f\n bind :80\n http-reuse safe\n");
    assert!(d.message.contains("not allowed in frontend"), "{d}");
}

#[test]
fn unique_id_lines_parse_and_a_lone_header_warns() {
    let c = parse("frontend f\n bind :80\n unique-id-format %{+X}o%ci:%cp_%rt\n unique-id-header X-Unique-ID\n")
        .config
        .unwrap();
    let f = &c.proxies[0];
    assert_eq!(
        f.unique_id_format.as_ref().unwrap().to_string(),
        "%{+X}o%ci:%cp_%rt"
    );
    assert_eq!(f.unique_id_header.as_deref(), Some("X-Unique-ID"));

    let loaded = parse("frontend f\n bind :80\n unique-id-header X-Unique-ID\n");
    assert!(loaded.config.is_some());
    assert!(loaded
        .diagnostics
        .iter()
        .any(|d| !d.is_error() && d.message.contains("no effect without 'unique-id-format'")));
}

#[test]
fn bad_unique_id_lines_are_refused() {
    let d = error("frontend f\n bind :80\n unique-id-format %{+X}o%nosuch\n");
    assert!(
        d.message.contains("'unique-id-format': invalid log-format"),
        "{d}"
    );
    let d = error("frontend f\n bind :80\n unique-id-header X:Bad\n");
    assert!(d.message.contains("not a valid header name"), "{d}");
    let d = error("backend b\n unique-id-format %ci\n");
    assert!(d.message.contains("not allowed in backend"), "{d}");
}

#[test]
fn persist_rules_keep_their_order_and_need_a_condition() {
    let c = parse(
        "backend b\n acl st path_beg /static\n ignore-persist if st\n force-persist unless st\n",
    )
    .config
    .unwrap();
    let kinds: Vec<PersistKind> = c.proxies[0].persist_rules.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [PersistKind::Ignore, PersistKind::Force]);

    let d = error("backend b\n force-persist\n");
    assert!(
        d.message.contains("'force-persist' needs a condition"),
        "{d}"
    );
    let d = error("backend b\n ignore-persist if nosuch\n");
    assert!(d.message.contains("nosuch"), "{d}");
    let d = error("defaults\n ignore-persist if TRUE\n");
    assert!(
        d.message.contains("not allowed in a 'defaults' section"),
        "{d}"
    );
}

#[test]
fn every_compat_keyword_round_trips_through_dump() {
    let c = parse(
        "frontend f\n bind :80\n unique-id-format \"%{+X}o %ci:%cp_%fi:%fp_%Ts_%rt\"\n unique-id-header X-Req-ID\n default_backend b\n\
         backend b\n http-reuse aggressive\n acl st path_beg /static\n ignore-persist if st\n force-persist unless st\n server s 127.0.0.1:80\n",
    )
    .config
    .unwrap();
    let text = dump(&c);
    assert!(text.contains("http-reuse aggressive"), "{text}");
    assert!(text.contains("ignore-persist if st"), "{text}");
    let back = parse_str(&text, Path::new("d.cfg")).config.unwrap();
    assert_eq!(back, c);
    assert_eq!(dump(&back), text);
}
