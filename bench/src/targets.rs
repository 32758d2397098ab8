//! The systems under test: equivalent configurations for ringlb, haproxy and nginx,
//! generated per workload and CPU layout, and the processes started from them.

use std::fmt::Write as _;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::procfs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Ringlb,
    Haproxy,
    Nginx,
    Direct,
}

impl Target {
    pub const ALL: [Target; 4] = [
        Target::Ringlb,
        Target::Haproxy,
        Target::Nginx,
        Target::Direct,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Ringlb => "ringlb",
            Target::Haproxy => "haproxy",
            Target::Nginx => "nginx",
            Target::Direct => "direct",
        }
    }

    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// Layer the proxy works at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Http,
    Tcp,
}

/// Everything a generated configuration depends on.
#[derive(Debug, Clone)]
pub struct Spec {
    pub mode: Mode,
    pub front_port: u16,
    pub back_port: u16,
    pub threads: usize,
    pub proxy_cpus: Vec<usize>,
    /// 100 ACLs and 50 backends in front of the one fixture backend.
    pub routing: bool,
    /// Clients speak HTTP/2 (h2c): nginx needs `http2` on its listener for it; ringlb and
    /// haproxy see the preface.
    pub h2: bool,
    pub maxconn: u32,
    /// Terminate TLS with this certificate and key (one PEM). Resumption is off: no session
    /// tickets, no session cache, so every new connection is a full handshake, and the
    /// cache does not grow with the connections of the idle workload.
    pub tls: Option<PathBuf>,
}

/// Number of path ACLs and backends in the routing workload.
pub const ROUTING_ACLS: usize = 100;
pub const ROUTING_BACKENDS: usize = 50;

/// The path the routing workload requests: it matches the last ACL, so every rule is tried.
pub fn routing_path() -> String {
    format!("/svc{}/", ROUTING_ACLS - 1)
}

fn thread_cpu(spec: &Spec, i: usize) -> usize {
    spec.proxy_cpus[i % spec.proxy_cpus.len()]
}

/// ringlb and haproxy read the same language; only `cpu-map` is spelled differently
/// (haproxy 2.6 takes `process/thread`, ringlb the thread number).
pub fn haproxy_language(spec: &Spec, ringlb: bool) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "global\n    nbthread {}\n    maxconn {}",
        spec.threads, spec.maxconn
    );
    for i in 0..spec.threads {
        let cpu = thread_cpu(spec, i);
        if ringlb {
            let _ = writeln!(c, "    cpu-map {} {cpu}", i + 1);
        } else {
            let _ = writeln!(c, "    cpu-map 1/{} {cpu}", i + 1);
        }
    }
    if spec.tls.is_some() {
        let _ = writeln!(c, "    tune.ssl.cachesize 0");
    }
    let mode = if spec.mode == Mode::Http {
        "http"
    } else {
        "tcp"
    };
    let _ = writeln!(
        c,
        "\ndefaults\n    mode {mode}\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s"
    );
    if spec.mode == Mode::Http {
        // Keep-alive as long as nginx's `keepalive_timeout`: the idle workloads' first
        // connections must outlive the opening of the last (9,000 TLS handshakes take
        // longer than the 10 s of `timeout http-request`, which applies otherwise).
        let _ = writeln!(
            c,
            "    timeout http-request 10s\n    timeout http-keep-alive 75s"
        );
    }
    let _ = write!(c, "\nfrontend fe\n    bind 127.0.0.1:{}", spec.front_port);
    if let Some(pem) = &spec.tls {
        let _ = write!(
            c,
            " ssl crt {} ssl-min-ver TLSv1.3 no-tls-tickets",
            pem.display()
        );
    }
    c.push('\n');
    if spec.routing {
        for i in 0..ROUTING_ACLS {
            let _ = writeln!(c, "    acl a{i} path_beg /svc{i}/");
        }
        for i in 0..ROUTING_ACLS {
            let _ = writeln!(c, "    use_backend be{} if a{i}", i % ROUTING_BACKENDS);
        }
    }
    let _ = writeln!(c, "    default_backend be");
    let mut backend = |name: String| {
        let _ = writeln!(
            c,
            "\nbackend {name}\n    balance roundrobin\n    server s1 127.0.0.1:{}",
            spec.back_port
        );
    };
    backend("be".into());
    if spec.routing {
        for i in 0..ROUTING_BACKENDS {
            backend(format!("be{i}"));
        }
    }
    c
}

/// Where Debian's dynamic stream module lives; nginx serves TCP only when it is installed.
pub const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

pub fn nginx_has_stream() -> bool {
    Path::new(NGINX_STREAM_MODULE).exists()
}

pub fn nginx_conf(spec: &Spec) -> String {
    let width = spec.proxy_cpus.iter().max().map_or(1, |m| m + 1);
    let masks: Vec<String> = (0..spec.threads)
        .map(|i| {
            let cpu = thread_cpu(spec, i);
            (0..width)
                .rev()
                .map(|b| if b == cpu { '1' } else { '0' })
                .collect()
        })
        .collect();
    let mut c = String::new();
    if spec.mode == Mode::Tcp {
        let _ = writeln!(c, "load_module {NGINX_STREAM_MODULE};");
    }
    let _ = writeln!(
        c,
        "pid nginx.pid;\ndaemon off;\nworker_processes {};\nworker_cpu_affinity {};\n\
         worker_rlimit_nofile {};\nerror_log error.log warn;\n\
         events {{ worker_connections {}; multi_accept on; }}",
        spec.threads,
        masks.join(" "),
        spec.maxconn * 2 + 100,
        spec.maxconn + 100
    );
    let back = spec.back_port;
    let front = spec.front_port;
    if spec.mode == Mode::Tcp {
        let _ = writeln!(
            c,
            "stream {{\n  upstream be {{ server 127.0.0.1:{back}; }}\n  \
             server {{ listen 127.0.0.1:{front} backlog=4096; proxy_pass be; }}\n}}"
        );
        return c;
    }
    // Upstream keep-alive and a high keepalive_requests: the default of 1000 would make
    // clients reconnect, which is not what the keep-alive rows measure.
    let _ = writeln!(
        c,
        "http {{\n  access_log off;\n  client_body_temp_path tmp_body; proxy_temp_path tmp_proxy;\n  \
         fastcgi_temp_path tmp_fcgi; uwsgi_temp_path tmp_uwsgi; scgi_temp_path tmp_scgi;\n  \
         keepalive_requests 1000000;\n  keepalive_timeout 75s;"
    );
    let mut upstream = |name: String| {
        let _ = writeln!(
            c,
            "  upstream {name} {{ server 127.0.0.1:{back}; keepalive 64; keepalive_requests 1000000; }}"
        );
    };
    upstream("be".into());
    if spec.routing {
        for i in 0..ROUTING_BACKENDS {
            upstream(format!("be{i}"));
        }
    }
    // nginx's WebSocket recipe: `Upgrade` passed on, and `Connection: upgrade` only with it
    // (empty, for upstream keep-alive, otherwise).
    let _ = writeln!(
        c,
        "  map $http_upgrade $connection_upgrade {{ default upgrade; '' \"\"; }}"
    );
    let proxied = "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; \
                   proxy_set_header Connection $connection_upgrade;";
    match &spec.tls {
        None => {
            let h2 = if spec.h2 { " http2" } else { "" };
            let _ = writeln!(
                c,
                "  server {{\n    listen 127.0.0.1:{front}{h2} backlog=4096;"
            );
        }
        Some(pem) => {
            let pem = pem.display();
            let _ = writeln!(
                c,
                "  server {{\n    listen 127.0.0.1:{front} ssl backlog=4096;\n    \
                 ssl_certificate {pem}; ssl_certificate_key {pem}; ssl_protocols TLSv1.3;\n    \
                 ssl_session_tickets off; ssl_session_cache off;"
            );
        }
    }
    if spec.routing {
        for i in 0..ROUTING_ACLS {
            let _ = writeln!(
                c,
                "    location /svc{i}/ {{ proxy_pass http://be{}; {proxied} }}",
                i % ROUTING_BACKENDS
            );
        }
    }
    let _ = writeln!(
        c,
        "    location / {{ proxy_pass http://be; {proxied} }}\n  }}\n}}"
    );
    c
}

/// A process the harness started; stopped (TERM, then KILL) when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pids = procfs::tree(self.pid());
        signal(&pids, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever is left of the tree (a worker that ignored TERM) is killed.
        signal(&pids, libc::SIGKILL);
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(pids: &[u32], sig: i32) {
    for &p in pids {
        // SAFETY: kill takes plain integers; every pid here was found under our own child.
        unsafe {
            libc::kill(p as i32, sig);
        }
    }
}

/// Starts `cmd` pinned to `cpus`, output to `log`, and waits until `port` accepts.
pub fn spawn(
    name: &str,
    mut cmd: Command,
    cpus: &[usize],
    log: PathBuf,
    port: u16,
) -> Result<Proc, String> {
    let child = procfs::spawn_pinned(&mut cmd, cpus, &log)
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let mut p = Proc { child, log };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(st)) = p.child.try_wait() {
            return Err(format!(
                "{name} exited ({st}) before listening on :{port}:\n{}",
                p.log_text()
            ));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(p);
        }
        if Instant::now() > deadline {
            p.stop();
            return Err(format!("{name} did not listen on :{port} within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Binaries the harness drives.
#[derive(Debug, Clone)]
pub struct Bins {
    pub ringlb: PathBuf,
    pub haproxy: String,
    pub nginx: String,
}

/// Writes the configuration for `target` into `dir` and starts it.
pub fn start(target: Target, spec: &Spec, bins: &Bins, dir: &Path) -> Result<Option<Proc>, String> {
    let log = dir.join(format!("{}.log", target.name()));
    let cmd = match target {
        Target::Direct => return Ok(None),
        Target::Ringlb => {
            let cfg = dir.join("ringlb.cfg");
            fs::write(&cfg, haproxy_language(spec, true)).map_err(|e| e.to_string())?;
            let mut cmd = Command::new(&bins.ringlb);
            cmd.arg("-f").arg(&cfg);
            cmd
        }
        Target::Haproxy => {
            let cfg = dir.join("haproxy.cfg");
            fs::write(&cfg, haproxy_language(spec, false)).map_err(|e| e.to_string())?;
            let mut cmd = Command::new(&bins.haproxy);
            cmd.arg("-db").arg("-f").arg(&cfg);
            cmd
        }
        Target::Nginx => {
            let prefix = dir.join("nginx");
            fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
            fs::write(prefix.join("nginx.conf"), nginx_conf(spec)).map_err(|e| e.to_string())?;
            let mut cmd = Command::new(&bins.nginx);
            cmd.arg("-p")
                .arg(&prefix)
                .args(["-c", "nginx.conf", "-e", "error.log"]);
            cmd
        }
    };
    spawn(target.name(), cmd, &spec.proxy_cpus, log, spec.front_port).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(routing: bool, threads: usize, cpus: Vec<usize>) -> Spec {
        Spec {
            mode: Mode::Http,
            front_port: 18000,
            back_port: 18080,
            threads,
            proxy_cpus: cpus,
            routing,
            h2: false,
            maxconn: 9500,
            tls: None,
        }
    }

    #[test]
    fn ringlb_config_parses_and_maps_each_thread_to_its_cpu() {
        let text = haproxy_language(&spec(false, 2, vec![1, 3]), true);
        assert!(text.contains("cpu-map 1 1\n    cpu-map 2 3"));
        let loaded = ringlb_config::parse_str(&text, Path::new("bench.cfg"));
        assert!(loaded.config.is_some(), "{:?}\n{text}", loaded.diagnostics);
    }

    #[test]
    fn routing_config_has_every_acl_and_backend() {
        let text = haproxy_language(&spec(true, 1, vec![1]), false);
        assert_eq!(text.matches("\n    acl ").count(), ROUTING_ACLS);
        assert_eq!(text.matches("\nbackend ").count(), ROUTING_BACKENDS + 1);
        assert!(text.contains("cpu-map 1/1 1"));
    }

    #[test]
    fn nginx_tls_listener_has_the_certificate_and_resumption_off() {
        let tls = Spec {
            tls: Some(PathBuf::from("/tmp/c.pem")),
            ..spec(false, 1, vec![1])
        };
        let text = nginx_conf(&tls);
        assert!(
            text.contains("listen 127.0.0.1:18000 ssl backlog=4096;"),
            "{text}"
        );
        assert!(text.contains("ssl_certificate /tmp/c.pem; ssl_certificate_key /tmp/c.pem;"));
        assert!(text.contains("ssl_session_tickets off; ssl_session_cache off;"));
    }

    #[test]
    fn nginx_affinity_masks_name_the_proxy_cpus() {
        let text = nginx_conf(&spec(true, 2, vec![0, 2]));
        assert!(text.contains("worker_cpu_affinity 001 100;"));
        assert_eq!(text.matches("location /svc").count(), ROUTING_ACLS);
    }
}
