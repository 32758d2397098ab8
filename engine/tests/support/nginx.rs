//! nginx as a TLS origin: a child process on a loopback port with a generated
//! configuration, answering every request with what its side of the TLS connection saw
//! (the SNI, the connection's serial number, whether the session was resumed).

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{free_port, TempDir};

pub struct Nginx {
    child: Child,
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Nginx {
    /// nginx serving TLS with `pem` (chain and key in one file), asking for a client
    /// certificate signed by `client_ca` when given. Every answer is one line:
    /// `sni=NAME conn=N reused=r|. client=DN`.
    pub fn tls(pem: &Path, client_ca: Option<&Path>) -> Self {
        Self::start(pem, client_ca, false)
    }

    /// [`Nginx::tls`] speaking HTTP/2 (ALPN `h2`); each answer ends with
    /// ` proto=HTTP/2.0` (the version the request came in).
    pub fn tls_h2(pem: &Path) -> Self {
        Self::start(pem, None, true)
    }

    fn start(pem: &Path, client_ca: Option<&Path>, h2: bool) -> Self {
        let dir = TempDir::new("nginx");
        let port = free_port();
        let verify = match client_ca {
            Some(ca) => format!(
                "ssl_client_certificate {};\n        ssl_verify_client on;",
                ca.display()
            ),
            None => String::new(),
        };
        let d = dir.path().display();
        let conf = dir.write(
            "nginx.conf",
            &format!(
                "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n    access_log off;\n    client_body_temp_path {d};\n    \
                 proxy_temp_path {d};\n    fastcgi_temp_path {d};\n    uwsgi_temp_path {d};\n    \
                 scgi_temp_path {d};\n    keepalive_requests 1000;\n    \
                 ssl_session_cache shared:s:1m;\n    server {{\n        \
                 listen 127.0.0.1:{port} ssl{h2};\n        ssl_certificate {pem};\n        \
                 ssl_certificate_key {pem};\n        {verify}\n        \
                 location / {{ return 200 \"sni=$ssl_server_name conn=$connection \
                 reused=$ssl_session_reused client=$ssl_client_s_dn{proto}\\n\"; }}\n    }}\n}}\n",
                pem = pem.display(),
                h2 = if h2 { " http2" } else { "" },
                proto = if h2 { " proto=$server_protocol" } else { "" },
            ),
        );
        let child = Command::new("nginx")
            .args(["-p", &d.to_string(), "-c", &conf.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (scripts/deps.sh)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start: {}", {
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            });
            std::thread::sleep(Duration::from_millis(10));
        }
        Self {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
