//! Debian's haproxy (installed by `scripts/deps.sh`) as a child process, for side-by-side
//! checks: started in the foreground on a configuration file, killed on drop; and beside
//! ringlb on the same site ([`SideBySide`]).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ringlb::boot::run::RunHandle;

use super::engine::{run, Receiver};
use super::process::{free_port, TempDir};

pub struct Haproxy(Child);

impl Haproxy {
    /// Starts `haproxy -db -f CONFIG` and waits up to 10 s for `socket` (its `stats socket`)
    /// to accept connections.
    pub fn start(config: &Path, socket: &Path) -> Self {
        let child = Command::new("/usr/sbin/haproxy")
            .args(["-db", "-f"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy runs (scripts/deps.sh installs it)");
        let h = Self(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "haproxy does not serve its socket"
            );
            thread::sleep(Duration::from_millis(20));
        }
        h
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's haproxy 2.6 and ringlb serving the same site, each logging to a receiver of its
/// own: `site(PORT)` is everything after the `global` section, binding `PORT`.
pub struct SideBySide {
    /// haproxy's port and log receiver.
    pub theirs: (u16, Receiver),
    /// ringlb's port and log receiver.
    pub ours: (u16, Receiver),
    _haproxy: Haproxy,
    _engine: RunHandle,
    _dir: TempDir,
}

impl SideBySide {
    pub fn start(site: impl Fn(u16) -> String) -> Self {
        let dir = TempDir::new("logs-vs-haproxy");
        let (ours_rx, theirs_rx) = (Receiver::new(), Receiver::new());
        let (hport, rport) = (free_port(), free_port());
        let sock = dir.path().join("haproxy.sock");
        let hcfg = dir.write(
            "haproxy.cfg",
            &format!(
                "global\n stats socket {}\n log {} local3 info\n{}",
                sock.display(),
                theirs_rx.addr(),
                site(hport)
            ),
        );
        let haproxy = Haproxy::start(&hcfg, &sock);
        let text = format!(
            "global\n nbthread 1\n log {} local3 info\n{}",
            ours_rx.addr(),
            site(rport)
        );
        let loaded = ringlb_config::parse_str(&text, std::path::Path::new("side-by-side.cfg"));
        let engine = run(loaded.config.expect("valid"), false);
        Self {
            theirs: (hport, theirs_rx),
            ours: (rport, ours_rx),
            _haproxy: haproxy,
            _engine: engine,
            _dir: dir,
        }
    }

    /// Runs `client` on haproxy's port, then on ringlb's, and returns the two log lines
    /// (haproxy's, then ringlb's), without haproxy's final newline (docs/compatibility.md).
    pub fn lines(&self, mut client: impl FnMut(u16)) -> (String, String) {
        client(self.theirs.0);
        let theirs = self.theirs.1.line().trim_end().to_string();
        client(self.ours.0);
        (theirs, self.ours.1.line())
    }
}
