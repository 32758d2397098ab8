//! This machine's host name, as the logs (`%H`), `show info` (`node`) and the local peer
//! name (`-L`'s default) give it.

/// The kernel's host name; empty when it cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
