//! This machine's host name, as the logs (`%H`), `show info` (`node`) and the local peer
//! name (`-L`'s default) give it.

use std::sync::OnceLock;

/// The kernel's host name, read once (as haproxy does at start); empty when it cannot be
/// read.
pub fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}
