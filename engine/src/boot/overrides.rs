//! What haproxy's command line sets beside the configuration: `-C DIR` (working directory),
//! `-L NAME` (local peer name), `-m MB` (memory limit), `-n N` (global `maxconn`) and `-N N`
//! (each proxy's default `maxconn`). The command line wins over the files, as in haproxy.

use std::path::PathBuf;

use ringlb_config::Config;

/// The environment variable haproxy sets to the local peer name (`-L`, else the host
/// name) before reading the configuration, so `"${HAPROXY_LOCALPEER}"` can be used in it.
pub const LOCALPEER_ENV: &str = "HAPROXY_LOCALPEER";

/// The process settings given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `-C DIR`: the directory the configuration paths are relative to.
    pub chdir: Option<PathBuf>,
    /// `-L NAME`: this instance's name among its peers.
    pub local_peer: Option<String>,
    /// `-m MB`: the process's address space limit, in megabytes.
    pub memory_mb: Option<u64>,
    /// `-n N`: global `maxconn`, over the one in `global`.
    pub maxconn: Option<u32>,
    /// `-N N`: `maxconn` of every proxy that sets none (in itself or its `defaults`).
    pub proxy_maxconn: Option<u32>,
}

impl Overrides {
    /// What must happen before the configuration is read: the working directory and the
    /// local peer name in the environment. Runs while the process still has one thread (the
    /// environment is changed).
    pub fn prepare_process(&self) -> Result<(), String> {
        if let Some(dir) = &self.chdir {
            std::env::set_current_dir(dir)
                .map_err(|e| format!("-C: cannot change to directory '{}': {e}", dir.display()))?;
        }
        let peer = self
            .local_peer
            .clone()
            .unwrap_or_else(|| crate::io::host::hostname().to_string());
        std::env::set_var(LOCALPEER_ENV, peer);
        Ok(())
    }

    /// `-m`: limits the address space, as haproxy does, once the configuration says how
    /// many workers will run. ringlb reserves more address space than it uses (mimalloc's
    /// arena takes 1 GiB up front, each thread a stack and a C allocator arena), so a limit
    /// that would stop the workers from starting is refused here with the smallest value
    /// that works, rather than failing half-started.
    pub fn limit_memory(&self, config: &Config) -> Result<(), String> {
        let Some(mb) = self.memory_mb else {
            return Ok(());
        };
        let workers = config.global.nbthread.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            usize::from,
        );
        // Workers plus the control, log, checker and runtime-socket threads.
        let needed = (mapped_bytes() >> 20) + 64 * (workers as u64 + 4);
        if mb < needed {
            return Err(format!(
                "-m {mb}: ringlb with {workers} worker(s) needs about {needed} MB of address \
                 space (its allocator reserves 1 GiB up front; resident memory stays far \
                 lower); give -m {needed} or more, or leave -m out"
            ));
        }
        crate::worker::limits::limit_memory(mb)
            .map_err(|e| format!("-m: cannot limit memory to {mb} MB: {e}"))
    }

    /// Applies `-n` and `-N` to a loaded configuration.
    pub fn apply(&self, config: &mut Config) {
        if let Some(n) = self.maxconn {
            config.global.maxconn = Some(n);
        }
        if let Some(n) = self.proxy_maxconn {
            for p in config.proxies.iter_mut().filter(|p| p.kind.has_frontend()) {
                p.maxconn.get_or_insert(n);
            }
        }
    }

    /// The flags that give these settings to a worker started by the master (the working
    /// directory and the limit are inherited; `-m` is repeated so the worker reports it,
    /// `-L` so the worker sets the same local peer name).
    pub fn worker_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut flag = |f: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push(f.to_string());
                out.push(v);
            }
        };
        flag("-L", self.local_peer.clone());
        flag("-m", self.memory_mb.map(|v| v.to_string()));
        flag("-n", self.maxconn.map(|v| v.to_string()));
        flag("-N", self.proxy_maxconn.map(|v| v.to_string()));
        out
    }
}

/// The address space this process maps now (`VmSize`), in bytes.
fn mapped_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmSize:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb << 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn n_overrides_global_maxconn_and_capital_n_fills_proxies_without_one() {
        let text = "global\n maxconn 100\ndefaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\nfrontend a\n bind 127.0.0.1:1\n default_backend b\nfrontend c\n bind 127.0.0.1:2\n maxconn 9\n default_backend b\nbackend b\n server s 127.0.0.1:3\n";
        let mut config = ringlb_config::parse_str(text, Path::new("t.cfg"))
            .config
            .unwrap();
        Overrides {
            maxconn: Some(7),
            proxy_maxconn: Some(5),
            ..Overrides::default()
        }
        .apply(&mut config);
        assert_eq!(config.global.maxconn, Some(7));
        let maxconn = |name: &str| {
            config
                .proxies
                .iter()
                .find(|p| p.name == name)
                .unwrap()
                .maxconn
        };
        assert_eq!(maxconn("a"), Some(5));
        assert_eq!(maxconn("c"), Some(9), "a proxy's own maxconn stays");
        assert_eq!(maxconn("b"), None, "a backend takes no frontend limit");
    }

    #[test]
    fn worker_args_repeat_the_flags_a_worker_reads_again() {
        let o = Overrides {
            maxconn: Some(7),
            proxy_maxconn: Some(5),
            memory_mb: Some(300),
            local_peer: Some("p1".into()),
            ..Overrides::default()
        };
        assert_eq!(
            o.worker_args(),
            ["-L", "p1", "-m", "300", "-n", "7", "-N", "5"]
        );
    }
}
