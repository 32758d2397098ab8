//! ACL evaluation cost per request: a frontend with 100 ACLs walked by `use_backend` rules
//! (none matching until the last), and a 10,000-entry Host set. Run with
//! `cargo bench -p ringlb --bench acl_eval`.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use ringlb::analysis::rules::ProxyRules;
use ringlb::codec::head::parse_request;
use ringlb::stream::txn::Txn;

const REQUEST: &[u8] = b"GET /app/v1/users/42?lang=fr&page=2 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: bench/1.0\r\nAccept: text/html, application/json\r\nCookie: SID=abc123; theme=dark\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n";

fn rules(frontend: &str) -> ProxyRules {
    let mut text = format!(
        "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n{frontend} default_backend last\n"
    );
    for b in (0..100)
        .map(|i| format!("b{i}"))
        .chain(["hit".into(), "last".into()])
    {
        text.push_str(&format!("backend {b}\n server s 127.0.0.1:1\n"));
    }
    let loaded = ringlb_config::parse_str(&text, Path::new("bench.cfg"));
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    ProxyRules::compile(config.proxy("f").unwrap()).unwrap()
}

fn measure(name: &str, rules: &ProxyRules, expect: &str) {
    let head = parse_request(REQUEST, 8192).unwrap().unwrap();
    let nbsrv = |_: &str| Some(2usize);
    let exists = |_: &str| true;
    let txn = Txn {
        buf: REQUEST,
        req: Some(&head),
        ..Txn::connection(
            "198.51.100.20:40000".parse().unwrap(),
            "192.0.2.1:80".parse().unwrap(),
            "f",
            &nbsrv,
        )
    };
    let chosen = rules.choose_backend(&txn, &exists, Some("last"));
    assert_eq!(chosen.as_deref(), Some(expect));
    let iters = 200_000u32;
    for _ in 0..iters / 10 {
        black_box(rules.choose_backend(black_box(&txn), &exists, Some("last")));
    }
    let start = Instant::now();
    for _ in 0..iters {
        black_box(rules.choose_backend(black_box(&txn), &exists, Some("last")));
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(iters);
    println!("{name}: {ns:.1} ns per request");
}

fn main() {
    // 100 ACLs of the kinds the seeds use, each behind its own use_backend; none matches.
    let mut fe = String::from("frontend f\n bind :80\n");
    for i in 0..100 {
        let acl = match i % 10 {
            0 => format!("acl a{i} path_beg -i /static{i} /images{i}"),
            1 => format!("acl a{i} path_end -i .jpg{i} .gif{i} .png{i}"),
            2 => format!("acl a{i} hdr_dom(host) -i site{i}.example.org"),
            3 => format!("acl a{i} hdr_reg(host) -i ^img{i}[.]"),
            4 => format!("acl a{i} src 10.{i}.0.0/16 172.16.{i}.0/24"),
            5 => format!("acl a{i} method PUT{i}"),
            6 => format!("acl a{i} url_sub -i token{i}="),
            7 => format!("acl a{i} cook(user{i}) -m found"),
            8 => format!("acl a{i} url_param(page) {}", 1000 + i),
            _ => format!("acl a{i} hdr(host) -i host{i}.example.com"),
        };
        fe.push_str(&format!(" {acl}\n use_backend b{i} if a{i}\n"));
    }
    measure("100 ACLs, none matching", &rules(&fe), "last");

    // A 10,000-entry Host set: one hash lookup, case-insensitive without copying.
    let hosts: Vec<String> = (0..10_000)
        .map(|i| format!("h{i}.example.com"))
        .chain(["www.example.com".to_string()])
        .collect();
    let fe = format!(
        "frontend f\n bind :80\n acl known hdr(host) -i {}\n use_backend hit if known\n",
        hosts.join(" ")
    );
    measure("10,000-entry host set, hit", &rules(&fe), "hit");
    let fe = fe.replace(" www.example.com\n", "\n");
    measure("10,000-entry host set, miss", &rules(&fe), "last");
}
