//! The workloads: what is requested, through which kind of proxy configuration, by which
//! load generator, and which targets take part.

use crate::load::Gen;
use crate::targets::{self, Mode, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Requests under load for a fixed time.
    Load,
    /// Idle keep-alive connections opened one by one; memory per connection.
    Idle,
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub name: &'static str,
    pub about: &'static str,
    pub kind: Kind,
    pub mode: Mode,
    pub gen: Gen,
    pub path: String,
    pub close: bool,
    pub routing: bool,
    pub targets: Vec<Target>,
}

impl Workload {
    fn load(name: &'static str, about: &'static str, path: &str) -> Self {
        Workload {
            name,
            about,
            kind: Kind::Load,
            mode: Mode::Http,
            gen: Gen::Wrk,
            path: path.to_owned(),
            close: false,
            routing: false,
            targets: Target::ALL.to_vec(),
        }
    }
}

/// Every workload, in report order.
pub fn all() -> Vec<Workload> {
    let proxies = vec![Target::Ringlb, Target::Haproxy, Target::Nginx];
    let mut tcp_targets = vec![Target::Ringlb, Target::Haproxy];
    if targets::nginx_has_stream() {
        tcp_targets.push(Target::Nginx);
    }
    vec![
        Workload::load("keepalive", "keep-alive, 6-byte responses", "/?s=6"),
        Workload {
            close: true,
            ..Workload::load(
                "close",
                "one connection per request (`Connection: close`), 6-byte responses",
                "/?s=6",
            )
        },
        Workload::load("64k", "keep-alive, 64 KiB responses", "/?s=65536"),
        Workload {
            mode: Mode::Tcp,
            targets: tcp_targets,
            ..Workload::load(
                "tcp",
                "TCP mode (`mode tcp` / nginx stream), keep-alive HTTP inside, 64 KiB responses",
                "/?s=65536",
            )
        },
        Workload {
            routing: true,
            targets: proxies.clone(),
            ..Workload::load(
                "routing",
                "100 path ACLs + 50 backends, request matches the last ACL, keep-alive, 6 bytes",
                &format!("{}?s=6", targets::routing_path()),
            )
        },
        Workload {
            gen: Gen::H2load,
            ..Workload::load(
                "h2load",
                "keep-alive, 6-byte responses, h2load --h1",
                "/?s=6",
            )
        },
        Workload {
            kind: Kind::Idle,
            targets: proxies,
            ..Workload::load(
                "idle",
                "idle keep-alive connections, one request each, proxy RSS per connection",
                "/?s=6",
            )
        },
    ]
}
