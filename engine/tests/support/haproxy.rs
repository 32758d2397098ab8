//! Debian's haproxy (installed by `scripts/deps.sh`) as a child process, for side-by-side
//! checks: started in the foreground on a configuration file, killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

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
