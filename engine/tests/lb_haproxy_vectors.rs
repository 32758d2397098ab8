//! `hash-type map-based` sends each key to the server HAProxy 2.6 chooses for the same
//! server list. The vectors in `data/haproxy_lb_vectors.txt` were recorded from Debian's
//! haproxy by `data/haproxy_lb_vectors.sh`; the backends below mirror that script.

use std::net::SocketAddr;
use std::sync::Arc;

use ringlb::backend::lb::{build, LbServer, PickCtx};
use ringlb::backend::upstream::Pick;
use ringlb::backend::{BackendLoad, ServerLoad};
use ringlb::codec::head::parse_request;
use ringlb_config::model::{Balance, HashFunction, HashMethod, HashType};

const VECTORS: &str = include_str!("data/haproxy_lb_vectors.txt");

fn hash(function: HashFunction, avalanche: bool) -> HashType {
    HashType {
        method: HashMethod::MapBased,
        function,
        avalanche,
    }
}

fn uri(len: Option<u32>, depth: Option<u32>, whole: bool) -> Balance {
    Balance::Uri { len, depth, whole }
}

/// The backend `name` of the script: its balance, hash type and server weights.
fn backend(name: &str) -> (Balance, HashType, Vec<u16>) {
    use HashFunction::*;
    let w123 = vec![1, 2, 3];
    match name {
        "uri_sdbm" => (uri(None, None, false), hash(Sdbm, false), w123),
        "uri_djb2" => (uri(None, None, false), hash(Djb2, false), w123),
        "uri_wt6" => (uri(None, None, false), hash(Wt6, false), w123),
        "uri_crc32" => (uri(None, None, false), hash(Crc32, false), w123),
        "uri_sdbm_avalanche" => (uri(None, None, false), hash(Sdbm, true), w123),
        "uri_equal" => (uri(None, None, false), hash(Sdbm, false), vec![1; 5]),
        "uri_gcd" => (
            uri(None, None, false),
            hash(Sdbm, false),
            vec![10, 20, 30, 0],
        ),
        "uri_depth" => (uri(None, Some(2), false), hash(Sdbm, false), w123),
        "uri_len" => (uri(Some(6), None, false), hash(Sdbm, false), w123),
        "uri_whole" => (uri(None, None, true), hash(Sdbm, false), w123),
        "url_param" => (
            Balance::UrlParam {
                name: "key".into(),
                check_post: None,
            },
            hash(Sdbm, false),
            w123,
        ),
        "hdr" => (
            Balance::Hdr {
                name: "x-key".into(),
                use_domain_only: false,
            },
            hash(Sdbm, false),
            w123,
        ),
        "hdr_domain" => (
            Balance::Hdr {
                name: "host".into(),
                use_domain_only: true,
            },
            hash(Sdbm, false),
            vec![1; 4],
        ),
        "source" => (Balance::Source, hash(Sdbm, false), w123),
        "source_equal" => (Balance::Source, hash(Sdbm, false), vec![1; 7]),
        other => panic!("no backend {other} in the vector script"),
    }
}

/// The request the script sent for `key` to backend `name`.
fn request(name: &str, key: &str) -> (String, SocketAddr) {
    let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    match name {
        n if n.starts_with("uri") => (format!("GET {key} HTTP/1.1\r\nHost: x\r\n\r\n"), local),
        "url_param" => (
            format!("GET /p?a=1&key={key}&z=2 HTTP/1.1\r\nHost: x\r\n\r\n"),
            local,
        ),
        "hdr" => (
            format!("GET / HTTP/1.1\r\nHost: x\r\nX-Key: {key}\r\n\r\n"),
            local,
        ),
        "hdr_domain" => (format!("GET / HTTP/1.1\r\nHost: {key}\r\n\r\n"), local),
        _ => (
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            SocketAddr::new(key.parse().unwrap(), 40000),
        ),
    }
}

#[test]
fn map_based_hashing_picks_the_server_haproxy_picks() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in VECTORS.lines() {
        let mut f = line.split(' ');
        let (name, key, want) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let (balance, hash_type, weights) = backend(name);
        let servers: Vec<LbServer> = weights
            .iter()
            .map(|&w| LbServer::up_with_weight(w))
            .collect();
        let load = Arc::new(BackendLoad::new(
            servers
                .iter()
                .map(|_| Arc::new(ServerLoad::default()))
                .collect(),
            0,
            0,
        ));
        let b = build(&balance, hash_type, false, load.clone(), &servers);
        let (raw, src) = request(name, key);
        let head = parse_request(raw.as_bytes(), 8192).unwrap().unwrap();
        let pick = Pick {
            dst: "10.0.0.1:80".parse().unwrap(),
            src,
            buf: raw.as_bytes(),
            req: Some(&head),
            prefer: None,
            force_persist: false,
            txn: None,
        };
        let got = b
            .pick(&PickCtx {
                request: &pick,
                load: &load,
                avoid: None,
                skip_full: false,
            })
            .unwrap();
        let got = ["a", "b", "c", "d", "e", "f", "g"][got.0];
        if got != want {
            wrong.push(format!("{name} {key}: haproxy {want}, ringlb {got}"));
        }
        checked += 1;
    }
    assert_eq!(checked, 600);
    assert!(
        wrong.is_empty(),
        "{} of {checked} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
