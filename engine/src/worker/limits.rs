//! Connection limits: global, per-frontend and per-`bind` `maxconn`, and the descriptor
//! arithmetic that decides whether a configuration fits in `RLIMIT_NOFILE`.
//!
//! A limit is one shared atomic counter per frontend (and per `bind` line with its own
//! `maxconn`) plus one global counter, not a per-worker share: `SO_REUSEPORT` spreads
//! connections unevenly, and a share would refuse connections on a busy worker while another
//! sits idle. Acquiring is one `fetch_add` on accept, releasing one `fetch_sub` on close; a
//! worker at the limit stops accepting (the kernel backlog holds the waiting clients) and
//! looks again every few milliseconds.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A counter of open connections with a ceiling.
#[derive(Debug)]
pub struct ConnLimit {
    current: AtomicU32,
    /// Changed at run time by `set maxconn global`.
    max: AtomicU32,
}

impl ConnLimit {
    pub fn new(max: u32) -> Arc<Self> {
        Arc::new(Self {
            current: AtomicU32::new(0),
            max: AtomicU32::new(max),
        })
    }

    pub fn max(&self) -> u32 {
        self.max.load(Ordering::Relaxed)
    }

    /// A new ceiling: connections above it stay open, new ones wait until below it.
    pub fn set_max(&self, max: u32) {
        self.max.store(max, Ordering::Relaxed);
    }

    pub fn current(&self) -> u32 {
        self.current.load(Ordering::Relaxed)
    }

    fn try_take(&self) -> bool {
        let prev = self.current.fetch_add(1, Ordering::AcqRel);
        if prev >= self.max() {
            self.current.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn put(&self) {
        self.current.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The limits one accepted connection counts against: the process and its frontend.
#[derive(Debug, Clone)]
pub struct Limits {
    pub global: Arc<ConnLimit>,
    pub frontend: Arc<ConnLimit>,
}

impl Limits {
    /// A slot for one more connection, or `None` when either limit is reached.
    pub fn try_acquire(&self) -> Option<ConnSlot> {
        self.try_acquire_on(None)
    }

    /// A slot for one more connection on a `bind` line with its own `maxconn` (`bind`), or
    /// `None` when any of the three limits is reached.
    pub fn try_acquire_on(&self, bind: Option<&Arc<ConnLimit>>) -> Option<ConnSlot> {
        if !self.global.try_take() {
            return None;
        }
        if !self.frontend.try_take() {
            self.global.put();
            return None;
        }
        if let Some(b) = bind {
            if !b.try_take() {
                self.frontend.put();
                self.global.put();
                return None;
            }
        }
        Some(ConnSlot {
            limits: self.clone(),
            bind: bind.cloned(),
        })
    }
}

/// One counted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnSlot {
    limits: Limits,
    bind: Option<Arc<ConnLimit>>,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        if let Some(b) = &self.bind {
            b.put();
        }
        self.limits.frontend.put();
        self.limits.global.put();
    }
}

/// Descriptors a proxied connection holds: client and server sockets, plus two pipes when
/// splicing.
pub fn fds_per_connection(splice: bool) -> u64 {
    if splice {
        6
    } else {
        2
    }
}

/// Descriptors kept for everything that is not a connection: stdio, logs, the control
/// thread, each worker's ring, timer and inbox, checks, the runtime socket.
pub const SPARE_FDS: u64 = 64;

/// What the descriptor limit allows, computed at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdBudget {
    /// The soft `RLIMIT_NOFILE` in force after any raise.
    pub nofile: u64,
    /// The largest global `maxconn` that fits.
    pub maxconn_fit: u32,
    /// The `maxconn` the process runs with.
    pub maxconn: u32,
}

#[derive(Debug)]
pub enum LimitError {
    Rlimit(io::Error),
    /// The configured `maxconn` needs more descriptors than the process may open.
    TooFewFds {
        maxconn: u32,
        needed: u64,
        nofile: u64,
        hard: u64,
    },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rlimit(e) => write!(f, "cannot read or raise the file descriptor limit: {e}"),
            Self::TooFewFds {
                maxconn,
                needed,
                nofile,
                hard,
            } => write!(
                f,
                "maxconn {maxconn} needs {needed} file descriptors but only {nofile} are allowed \
                 (hard limit {hard}); lower maxconn or raise 'ulimit-n' / the hard limit"
            ),
        }
    }
}

impl std::error::Error for LimitError {}

/// The default global `maxconn` when the configuration sets none, before the descriptor cap.
pub const DEFAULT_MAXCONN: u32 = 100_000;

/// Reads `RLIMIT_NOFILE`, raises the soft limit when `ulimit-n` asks for more or when the
/// configured `maxconn` needs more (up to the hard limit), and decides the global maxconn.
///
/// `listeners` is the number of listening descriptors all workers hold together.
pub fn fd_budget(
    maxconn: Option<u32>,
    ulimit_n: Option<u32>,
    listeners: u64,
    splice: bool,
) -> Result<FdBudget, LimitError> {
    let (soft, hard) = get_nofile().map_err(LimitError::Rlimit)?;
    let per = fds_per_connection(splice);
    let needed_for = |m: u32| u64::from(m) * per + listeners + SPARE_FDS;
    let wanted = match (ulimit_n, maxconn) {
        (Some(n), _) => u64::from(n),
        (None, Some(m)) => needed_for(m),
        (None, None) => needed_for(DEFAULT_MAXCONN),
    };
    let mut nofile = soft;
    if wanted > soft {
        let target = wanted.min(hard);
        if set_nofile(target, hard).is_ok() {
            nofile = target;
        }
    }
    let fit = nofile.saturating_sub(listeners + SPARE_FDS) / per;
    let fit = fit.min(u64::from(u32::MAX)) as u32;
    match maxconn {
        Some(m) if needed_for(m) > nofile => Err(LimitError::TooFewFds {
            maxconn: m,
            needed: needed_for(m),
            nofile,
            hard,
        }),
        Some(m) => Ok(FdBudget {
            nofile,
            maxconn_fit: fit,
            maxconn: m,
        }),
        None => Ok(FdBudget {
            nofile,
            maxconn_fit: fit,
            maxconn: fit.min(DEFAULT_MAXCONN),
        }),
    }
}

fn get_nofile() -> io::Result<(u64, u64)> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((rl.rlim_cur, rl.rlim_max))
}

fn set_nofile(soft: u64, hard: u64) -> io::Result<()> {
    let rl = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `-m`: haproxy limits the address space (`RLIMIT_AS`) to this many megabytes.
pub fn limit_memory(mb: u64) -> io::Result<()> {
    let bytes = mb.saturating_mul(1 << 20);
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit with a valid pointer to an initialised struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The memory limit in force (`-m`), in bytes; 0 when unlimited, as `show info` reports it.
pub fn memory_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return 0;
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bind_maxconn_limits_its_line_only() {
        let limits = Limits {
            global: ConnLimit::new(10),
            frontend: ConnLimit::new(10),
        };
        let line = ConnLimit::new(1);
        let a = limits.try_acquire_on(Some(&line)).unwrap();
        assert!(
            limits.try_acquire_on(Some(&line)).is_none(),
            "bind maxconn 1 refuses a second on its line"
        );
        assert_eq!(
            (limits.global.current(), limits.frontend.current()),
            (1, 1),
            "a refused attempt gives the other slots back"
        );
        let _other_line = limits.try_acquire().unwrap();
        drop(a);
        assert_eq!(line.current(), 0);
        assert!(limits.try_acquire_on(Some(&line)).is_some());
    }

    #[test]
    fn a_slot_counts_against_both_limits_until_dropped() {
        let limits = Limits {
            global: ConnLimit::new(3),
            frontend: ConnLimit::new(2),
        };
        let a = limits.try_acquire().unwrap();
        let _b = limits.try_acquire().unwrap();
        assert!(
            limits.try_acquire().is_none(),
            "frontend maxconn 2 refuses a third"
        );
        assert_eq!(
            limits.global.current(),
            2,
            "a refused attempt leaves the global count alone"
        );
        drop(a);
        assert!(
            limits.try_acquire().is_some(),
            "a freed slot is usable again"
        );
    }

    #[test]
    fn maxconn_beyond_the_hard_limit_is_refused_with_the_numbers() {
        let (_, hard) = get_nofile().unwrap();
        let too_many = (hard / 2 + 1).min(u64::from(u32::MAX)) as u32;
        let err = fd_budget(Some(too_many), None, 4, false).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("maxconn {too_many} needs")),
            "{text}"
        );
        assert!(text.contains("file descriptors"), "{text}");
    }

    #[test]
    fn default_maxconn_fits_the_descriptor_limit() {
        let b = fd_budget(None, None, 4, false).unwrap();
        assert!(u64::from(b.maxconn) * 2 + 4 + SPARE_FDS <= b.nofile);
        assert_eq!(
            b.maxconn_fit,
            ((b.nofile - 4 - SPARE_FDS) / 2).min(u64::from(u32::MAX)) as u32
        );
    }
}
