//! Every seed configuration (`examples/seeds/*.cfg`) served by the real binary: addresses
//! moved to loopback, one fixture backend per server address, one request per frontend.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use support::*;

/// What a frontend of a seed answers to `GET /` with `Host: x`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A fixture backend of the same file answers 200.
    Backend,
    /// The proxy answers by itself; the reason says why no backend can.
    Proxy(&'static str),
    /// The proxy redirects (302) to this location.
    Redirect(&'static str),
}

fn expectation(file: &str, frontend: &str) -> Expect {
    match (file, frontend) {
        // Only `use_backend` rules on the Host header and no `default_backend`: Host `x`
        // matches none, so no backend is chosen.
        ("001-acl-host-routing.cfg", "www") | ("004-annotated-reference.cfg", "http_80_in") => {
            Expect::Proxy("no default_backend and no use_backend matches Host: x")
        }
        // Stats and monitor sections without servers.
        ("004-annotated-reference.cfg", "admin_status" | "site_status")
        | ("004-keepalived-pair-nbproc.cfg", "stats")
        | ("004-www-htmpool-imgpool.cfg", "admin_stats") => {
            Expect::Proxy("a stats or monitor section without servers")
        }
        ("000-redirect-location.cfg", _) => Expect::Redirect("http://192.0.2.10/"),
        _ => Expect::Backend,
    }
}

/// A seed rewritten to run here, with what to send and what to expect.
struct Seed {
    name: String,
    config: PathBuf,
    pidfile: Option<PathBuf>,
    /// (frontend name, its addresses after rewriting).
    frontends: Vec<(String, Vec<SocketAddr>)>,
    /// Fixture answers of the file's servers: `fixture ORIGINAL-ADDRESS`.
    fixtures: Vec<String>,
    /// The listening ports, held until this seed's process starts.
    reserved: Vec<std::net::TcpListener>,
}

/// `host:port` with a numeric port; `*`, empty and `0.0.0.0` hosts are the same wildcard.
fn parse_addr(word: &str) -> Option<(String, u16)> {
    let (host, port) = word.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = match host {
        "" | "*" | "0.0.0.0" => "0.0.0.0".to_string(),
        h if h.parse::<Ipv4Addr>().is_ok() => h.to_string(),
        _ => return None,
    };
    Some((host, port))
}

/// Drops a `#` comment (a `#` at the start of a word).
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    match (0..b.len()).find(|&i| b[i] == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace())) {
        Some(i) => &line[..i],
        None => line,
    }
}

const SECTIONS: &[&str] = &["global", "defaults", "frontend", "listen", "backend"];

/// Whether word `i` of a line is a listening address: after `bind`, or after the name on a
/// `frontend`/`listen` line (or in place of the name, which HAProxy 1.x allowed).
fn is_bind_word(words: &[&str], i: usize) -> bool {
    match words[0] {
        "bind" => i == 1,
        "frontend" | "listen" => i >= 1 && words[i].split(',').all(|a| parse_addr(a).is_some()),
        _ => false,
    }
}

/// Rewrites one seed: every listening address to a free loopback port, every server
/// address to a fixture backend (or to the listener it names, for a proxy dispatching to
/// its own frontend), `source` to 127.0.0.1, `nbthread` to 2 and the pidfile into `dir`;
/// `ulimit-n` goes and the global `maxconn` is capped (both would need a raised hard limit).
/// A server without a port connects on the client's port: it goes to 127.0.0.2, where a
/// fixture listens on each port of its section's binds.
fn rewrite(path: &Path, dir: &TempDir) -> Seed {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<(String, Vec<&str>)> = text
        .lines()
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            let body = strip_comment(l);
            (l[..indent].to_string(), body.split_whitespace().collect())
        })
        .collect();

    let mut binds: HashMap<(String, u16), SocketAddr> = HashMap::new();
    let mut reserved = Vec::new();
    for (_, words) in &lines {
        for i in 1..words.len() {
            if is_bind_word(words, i) {
                for a in words[i].split(',') {
                    let key = parse_addr(a).unwrap();
                    binds.entry(key).or_insert_with(|| {
                        let port = reserve_port();
                        let addr = port.local_addr().unwrap();
                        reserved.push(port);
                        addr
                    });
                }
            }
        }
    }

    let mut servers: HashMap<(String, u16), SocketAddr> = HashMap::new();
    let mut fixtures = Vec::new();
    let mut portless_sections: Vec<usize> = Vec::new();
    let mut pidfile = None;
    let mut out = String::new();
    let mut frontends = Vec::new();
    let mut section = 0usize;
    for (n, (indent, words)) in lines.iter().enumerate() {
        if words.is_empty() {
            out.push('\n');
            continue;
        }
        let mut new: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        if SECTIONS.contains(&words[0]) {
            section = n;
        }
        let mut server_port = None;
        let in_global = lines[section].1.first() == Some(&"global");
        match words[0] {
            "nbthread" => new[1] = "2".into(),
            // Descriptors beyond the hard limit need privileges: the limit is left as it is
            // and the global maxconn capped to what an unprivileged process can hold.
            "ulimit-n" => continue,
            // The test supervises the process as its child: it must stay in the foreground.
            "daemon" if in_global => continue,
            // The seeds' chroot directories and users do not exist here; privilege
            // dropping has its own test (reload.rs).
            "chroot" | "user" | "group" | "uid" | "gid" if in_global => continue,
            "maxconn" if in_global => new[1] = new[1].parse::<u32>().unwrap().min(4000).to_string(),
            "pidfile" => {
                let p = dir.path().join(format!("{name}.pid"));
                new[1] = p.display().to_string();
                pidfile = Some(p);
            }
            "server" | "dispatch" => {
                let at = if words[0] == "server" { 2 } else { 1 };
                match parse_addr(words[at]) {
                    Some(key) => {
                        let addr = match binds.get(&key) {
                            Some(a) => *a,
                            None => *servers.entry(key.clone()).or_insert_with(|| {
                                let label = format!("fixture {}", words[at]);
                                fixtures.push(label.clone());
                                Origin::text(&label).addr
                            }),
                        };
                        new[at] = addr.to_string();
                        server_port = Some(addr.port());
                    }
                    None => {
                        new[at] = "127.0.0.2".into();
                        portless_sections.push(section);
                    }
                }
                for i in at + 1..words.len() - 1 {
                    match words[i] {
                        "source" => new[i + 1] = "127.0.0.1".into(),
                        "port" => {
                            if let Some(p) = server_port {
                                new[i + 1] = p.to_string();
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                for i in 1..words.len() {
                    if is_bind_word(words, i) {
                        let mapped: Vec<String> = words[i]
                            .split(',')
                            .map(|a| binds[&parse_addr(a).unwrap()].to_string())
                            .collect();
                        new[i] = mapped.join(",");
                    }
                }
            }
        }
        out.push_str(indent);
        out.push_str(&new.join(" "));
        out.push('\n');
    }

    // Frontends and their addresses, from the rewritten text's own section lines.
    let mut current: Option<usize> = None;
    for (n, (_, words)) in lines.iter().enumerate() {
        if words.is_empty() {
            continue;
        }
        if SECTIONS.contains(&words[0]) {
            current = None;
            if matches!(words[0], "frontend" | "listen") {
                let fe_name = if words.len() > 1 && !is_bind_word(words, 1) {
                    words[1].to_string()
                } else {
                    // A name-less `listen ADDR` is named after its address.
                    format!("listen {}", words[1])
                };
                frontends.push((fe_name, Vec::new(), n));
                current = Some(frontends.len() - 1);
            }
        }
        if let Some(c) = current {
            for i in 1..words.len() {
                if is_bind_word(words, i) {
                    for a in words[i].split(',') {
                        frontends[c].1.push(binds[&parse_addr(a).unwrap()]);
                    }
                }
            }
        }
    }
    // Fixtures for servers without a port, on the ports their section listens on.
    for (_, addrs, line) in &frontends {
        if portless_sections.contains(line) {
            for a in addrs {
                let label = format!("fixture 127.0.0.2 on the client's port {}", a.port());
                let body = label.clone();
                Origin::serve_on(
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), a.port()),
                    move |_| Reply::text(body.clone()),
                );
                fixtures.push(label);
            }
        }
    }
    let config = dir.write(&name, &out);
    Seed {
        name,
        config,
        pidfile,
        frontends: frontends
            .into_iter()
            .filter(|(_, a, _)| !a.is_empty())
            .map(|(n, a, _)| (n, a))
            .collect(),
        fixtures,
        reserved,
    }
}

fn check_answer(seed: &Seed, frontend: &str, addr: SocketAddr, lb: &Ringlb) {
    let (status, body) = http_get(addr, "/").unwrap_or_else(|e| {
        panic!(
            "{} frontend '{frontend}' at {addr}: no HTTP response ({e}); config:\n{}\nstderr:\n{}",
            seed.name,
            std::fs::read_to_string(&seed.config).unwrap(),
            lb.stderr()
        )
    });
    let from_fixture = body.starts_with("fixture ");
    let what = format!(
        "{} frontend '{frontend}': {status} {body:?}; stderr:\n{}",
        seed.name,
        lb.stderr()
    );
    // The frontend's name without the section keyword, as the expectations name it.
    let short = frontend.strip_prefix("listen ").unwrap_or(frontend);
    match expectation(&seed.name, short) {
        Expect::Backend => {
            assert_eq!(status, 200, "{what}");
            assert!(
                seed.fixtures.contains(&body),
                "not answered by a backend of this file ({:?}): {what}",
                seed.fixtures
            );
        }
        Expect::Proxy(why) => assert!(
            !from_fixture,
            "expected the proxy to answer ({why}): {what}"
        ),
        Expect::Redirect(location) => {
            assert_eq!(status, 302, "{what}");
            let mut c = connect(addr);
            std::io::Write::write_all(
                &mut c,
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
            let raw = String::from_utf8_lossy(&read_to_end(&mut c).unwrap()).into_owned();
            assert!(
                raw.contains(&format!("\r\nLocation: {location}\r\n")),
                "{raw}"
            );
        }
    }
}

#[test]
fn every_seed_configuration_serves_once_its_backends_exist() {
    let dir = TempDir::new("seeds");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo_root().join("examples/seeds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 30, "seeds found: {paths:?}");
    // Every backend first, then one process per seed in turn.
    let mut seeds: Vec<Seed> = paths.iter().map(|p| rewrite(p, &dir)).collect();

    let mut served: BTreeMap<String, usize> = BTreeMap::new();
    for seed in &mut seeds {
        seed.reserved.clear();
        assert!(
            !seed.frontends.is_empty(),
            "{}: no listening address found",
            seed.name
        );
        // `-V`: a seed with `quiet` still announces its workers, which `wait_serving` reads.
        let mut lb = Ringlb::spawn(
            &[
                "-V".to_string(),
                "-f".to_string(),
                seed.config.display().to_string(),
            ],
            dir.path().join(format!("{}.stderr", seed.name)),
        );
        for (_, addrs) in &seed.frontends {
            for a in addrs {
                lb.wait_serving(*a);
            }
        }
        if let Some(p) = &seed.pidfile {
            assert_eq!(lb.wait_pidfile(p), lb.pid(), "{}: pidfile", seed.name);
        }
        for (fe, addrs) in &seed.frontends {
            for a in addrs {
                check_answer(seed, fe, *a, &lb);
                *served.entry(seed.name.clone()).or_default() += 1;
            }
        }
        assert!(
            lb.exited().is_none(),
            "{} stopped while serving; stderr:\n{}",
            seed.name,
            lb.stderr()
        );
        let status = lb.stop_with(libc::SIGTERM);
        assert_eq!(status.code(), Some(0), "{}: {}", seed.name, lb.stderr());
    }
    assert_eq!(served.len(), seeds.len(), "{served:?}");
}
