//! Nanoseconds per server pick for each `balance` algorithm with 2, 16 and 256 servers:
//! the pick runs once per request and must stay off the profile.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use ringlb::backend::lb::{build, LbServer, PickCtx};
use ringlb::backend::upstream::Pick;
use ringlb::backend::{BackendLoad, ServerLoad};
use ringlb::codec::head::parse_request;
use ringlb_config::model::{Balance, HashMethod, HashType};

const REQUEST: &[u8] = b"GET /api/v1/items/42?id=42&user=alice HTTP/1.1\r\n\
Host: shop.example.com\r\nX-Key: client-42\r\n\r\n";

fn algorithms() -> Vec<(&'static str, Balance, HashMethod)> {
    let uri = Balance::Uri {
        len: None,
        depth: None,
        whole: false,
    };
    vec![
        ("roundrobin", Balance::RoundRobin, HashMethod::MapBased),
        ("static-rr", Balance::StaticRr, HashMethod::MapBased),
        ("leastconn", Balance::LeastConn, HashMethod::MapBased),
        ("first", Balance::First, HashMethod::MapBased),
        ("random", Balance::Random { draws: 2 }, HashMethod::MapBased),
        ("source", Balance::Source, HashMethod::MapBased),
        ("uri", uri.clone(), HashMethod::MapBased),
        ("uri-consistent", uri, HashMethod::Consistent),
        (
            "url_param",
            Balance::UrlParam {
                name: "user".into(),
                check_post: None,
            },
            HashMethod::MapBased,
        ),
        (
            "hdr",
            Balance::Hdr {
                name: "x-key".into(),
                use_domain_only: false,
            },
            HashMethod::MapBased,
        ),
    ]
}

fn pick(c: &mut Criterion) {
    let head = parse_request(REQUEST, 8192).unwrap().unwrap();
    let request = Pick {
        src: "192.0.2.7:40000".parse().unwrap(),
        dst: "192.0.2.1:80".parse().unwrap(),
        buf: REQUEST,
        req: Some(&head),
        prefer: None,
        force_persist: false,
        txn: None,
    };
    for (name, balance, method) in algorithms() {
        for n in [2usize, 16, 256] {
            let servers: Vec<LbServer> = (0..n)
                .map(|i| LbServer {
                    weight: 1 + (i % 5) as u16,
                    conf_weight: 1 + (i % 5) as u16,
                    up: true,
                    backup: false,
                })
                .collect();
            let load = Arc::new(BackendLoad::new(
                (0..n).map(|_| Arc::new(ServerLoad::default())).collect(),
                0,
                0,
            ));
            let hash_type = HashType {
                method,
                ..HashType::default()
            };
            let b = build(&balance, hash_type, false, load.clone(), &servers);
            let ctx = PickCtx {
                request: &request,
                load: &load,
                avoid: None,
                skip_full: true,
            };
            c.bench_function(&format!("lb_pick/{name}/{n}_servers"), |bench| {
                bench.iter(|| b.pick(black_box(&ctx)))
            });
        }
    }
}

criterion_group!(benches, pick);
criterion_main!(benches);
