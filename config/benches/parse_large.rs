//! Parses and validates a generated configuration of 10,000 backends with 5 servers each,
//! and prints how long it took. Run with `cargo bench -p ringlb-config --bench parse_large`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

const BACKENDS: usize = 10_000;
const SERVERS: usize = 5;

fn generate() -> String {
    let mut t = String::with_capacity(BACKENDS * SERVERS * 80);
    t.push_str("global\n    maxconn 100000\n    nbthread 4\n\n");
    t.push_str("defaults\n    mode http\n    timeout client 30s\n    timeout server 30s\n    timeout connect 5s\n    option httplog\n    default-server inter 2s fall 3\n\n");
    t.push_str("frontend www\n    bind :80\n    default_backend be0\n\n");
    for b in 0..BACKENDS {
        let _ = writeln!(
            t,
            "backend be{b}\n    balance leastconn\n    cookie SRV insert indirect nocache"
        );
        for s in 0..SERVERS {
            let _ = writeln!(
                t,
                "    server s{s} 10.{}.{}.{}:8080 weight {} check cookie c{s} maxconn 200",
                b / 256 % 256,
                b % 256,
                s + 1,
                s + 1
            );
        }
        t.push('\n');
    }
    t
}

fn main() {
    let text = generate();
    let start = Instant::now();
    let loaded = ringlb_config::parse_str(&text, Path::new("large.cfg"));
    let elapsed = start.elapsed();
    let config = loaded.config.expect("generated configuration is valid");
    let servers: usize = config.proxies.iter().map(|p| p.servers.len()).sum();
    assert_eq!(servers, BACKENDS * SERVERS);
    let lines = text.lines().count();
    println!(
        "parse_large: {} backends, {servers} servers, {lines} lines, {} bytes parsed and validated in {:.1} ms ({:.0} lines/s, {:.1} MB/s)",
        BACKENDS,
        text.len(),
        elapsed.as_secs_f64() * 1e3,
        lines as f64 / elapsed.as_secs_f64(),
        text.len() as f64 / elapsed.as_secs_f64() / 1e6,
    );
}
