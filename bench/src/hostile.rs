//! What the hostile-input scenarios (`slowloris`, `soak`) share: a ringlb in front of the
//! fixture backend with a chosen `timeout http-request`, a blocking HTTP/1.1 exchange, and
//! percentiles.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::targets::{self, Mode, Proc, Spec};

/// ringlb and the fixture backend, stopped and cleaned up when dropped.
pub struct Stage {
    pub proxy: Proc,
    pub addr: SocketAddr,
    /// The CPUs of the backend and of the clients; the proxy has the others to itself.
    pub load_cpus: Vec<usize>,
    _fixture: Proc,
    dir: PathBuf,
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.proxy.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Raises this process's descriptor limit to its hard maximum (children inherit it): the
/// scenarios hold thousands of connections on both sides.
pub fn raise_nofile() {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

/// Starts the fixture backend and one worker of `proxy` (ringlb, or haproxy to compare
/// with) with `timeout http-request` set to `head_timeout` seconds and room for `maxconn`
/// clients.
pub fn stage(proxy: Proxy, head_timeout: u64, maxconn: u32) -> Result<Stage, String> {
    raise_nofile();
    let ncpu = crate::procfs::online_cpus();
    let (proxy_cpus, load_cpus) = if ncpu >= 2 {
        (vec![1], vec![0])
    } else {
        (vec![0], vec![0])
    };
    let dir = std::env::temp_dir().join(format!("ringlb-hostile.{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let spec = Spec {
        mode: Mode::Http,
        front_port: crate::free_port()?,
        back_port: crate::free_port()?,
        threads: 1,
        proxy_cpus,
        routing: false,
        h2: false,
        maxconn,
        tls: None,
    };
    let fixture = crate::run::start_fixture(&dir, spec.back_port, &load_cpus)?;
    let is_ringlb = matches!(proxy, Proxy::Ringlb(_));
    let text = targets::haproxy_language(&spec, is_ringlb).replace(
        "timeout http-request 10s",
        &format!("timeout http-request {head_timeout}s"),
    );
    let cfg = dir.join("proxy.cfg");
    std::fs::write(&cfg, text).map_err(|e| e.to_string())?;
    let (name, mut cmd) = match proxy {
        Proxy::Ringlb(path) => ("ringlb", Command::new(crate::ringlb_binary(path)?)),
        Proxy::Haproxy => {
            let bin = crate::find_tool("haproxy").ok_or("haproxy is not installed")?;
            let mut cmd = Command::new(bin);
            cmd.arg("-db");
            ("haproxy", cmd)
        }
    };
    cmd.arg("-f").arg(&cfg);
    let proxy = targets::spawn(
        name,
        cmd,
        &spec.proxy_cpus,
        dir.join("proxy.log"),
        spec.front_port,
    )?;
    Ok(Stage {
        proxy,
        addr: ([127, 0, 0, 1], spec.front_port).into(),
        load_cpus,
        _fixture: fixture,
        dir,
    })
}

/// The proxy a hostile scenario runs against.
pub enum Proxy {
    /// ringlb, from the given binary or the one next to the harness.
    Ringlb(Option<PathBuf>),
    /// The installed haproxy, for comparison.
    Haproxy,
}

/// Sends `request` and reads one response (its head and `Content-Length` body); returns
/// the status and whether the server announced a close. The head is read in blocks, not a
/// byte per call, so the client's own system calls weigh little on the latency it measures;
/// nothing follows a response on these connections, as requests are sent one at a time.
pub fn exchange(s: &mut TcpStream, request: &[u8]) -> std::io::Result<(u16, bool)> {
    s.write_all(request)?;
    let mut buf = Vec::with_capacity(1024);
    let mut block = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut block)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&block[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let text = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {text:?}")))?;
    let len: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let have = buf.len() - head_end;
    if have < len {
        let mut rest = vec![0u8; len - have];
        s.read_exact(&mut rest)?;
    }
    Ok((status, text.contains("\r\nconnection: close\r\n")))
}

pub fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// The `p`-th percentile (0..=100) of `v`, which it sorts.
pub fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * p / 100.0).round() as usize;
    v[i]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
