//! Micro-benchmarks of the pure functions on the request path: head parse + rewrite, server
//! pick, and config parse. ACL evaluation has its own bench in the engine crate
//! (`engine/benches/acl_eval.rs`, `cargo bench -p ringlb --bench acl_eval`).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use ringlb::backend::{BackendTable, ResolvedBackend};
use ringlb::codec::edits::HeadEdits;
use ringlb::codec::head::parse_request;
use ringlb::codec::rewrite::{write_request_head, RequestRewrite};

const REQUEST: &[u8] = b"GET /api/v1/items?id=42&page=3 HTTP/1.1\r\n\
Host: shop.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Cookie: SERVERID=s2; session=abcdef0123456789\r\n\
Connection: keep-alive\r\n\r\n";

fn config_text(servers: usize) -> String {
    let mut c = String::from(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 5s\n    \
         timeout client 30s\n    timeout server 30s\n\nfrontend fe\n    bind 127.0.0.1:8080\n    \
         default_backend be\n\nbackend be\n    balance roundrobin\n",
    );
    for i in 0..servers {
        c.push_str(&format!(
            "    server s{i} 127.0.0.{}:80{} weight {}\n",
            1 + i % 200,
            i % 10,
            1 + i % 5
        ));
    }
    c
}

fn head(c: &mut Criterion) {
    c.bench_function("parse_request", |b| {
        b.iter(|| parse_request(black_box(REQUEST), 16384).unwrap().unwrap())
    });
    let parsed = parse_request(REQUEST, 16384).unwrap().unwrap();
    let rw = RequestRewrite {
        server_close: false,
        forwarded_for: Some(("X-Forwarded-For", IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)))),
        upgrade: false,
        original_to: None,
    };
    let no_edits = HeadEdits::default();
    let mut out = Vec::with_capacity(1024);
    c.bench_function("write_request_head", |b| {
        b.iter(|| {
            write_request_head(&mut out, black_box(REQUEST), &parsed, &rw, &no_edits);
            out.len()
        })
    });
    c.bench_function("parse_and_rewrite", |b| {
        b.iter(|| {
            let h = parse_request(black_box(REQUEST), 16384).unwrap().unwrap();
            write_request_head(&mut out, REQUEST, &h, &rw, &no_edits);
            out.len()
        })
    });
}

fn server_pick(c: &mut Criterion) {
    for n in [2usize, 50] {
        let loaded = ringlb_config::parse_str(&config_text(n), Path::new("bench.cfg"));
        let config = loaded.config.expect("bench config parses");
        let proxy = config.backends().next().expect("one backend");
        let table = BackendTable::new(&ResolvedBackend::resolve(proxy).expect("resolves"));
        c.bench_function(&format!("choose_server/{n}_servers"), |b| {
            b.iter(|| table.choose_server(black_box(None)))
        });
    }
}

fn config_parse(c: &mut Criterion) {
    let text = config_text(50);
    c.bench_function("parse_str/50_servers", |b| {
        b.iter(|| ringlb_config::parse_str(black_box(&text), Path::new("bench.cfg")))
    });
}

criterion_group!(benches, head, server_pick, config_parse);
criterion_main!(benches);
