//! Workers: one OS thread per `nbthread`, pinned, each running its own monoio runtime
//! (io_uring, or epoll where io_uring is unavailable or refused).

pub mod dispatch;
pub mod event_loop;
pub mod frontends;
pub mod inbox;
pub mod limits;
pub mod listener;
pub mod park;
pub mod pin;
pub mod streams;
pub mod upstream;

use std::fmt;
use std::future::Future;
use std::io;
use std::thread::JoinHandle;

use monoio::time::TimeDriver;
use monoio::{FusionDriver, FusionRuntime, IoUringDriver, LegacyDriver, RuntimeBuilder};

/// The runtime every worker runs: io_uring or epoll, both with timers.
pub type WorkerRuntime = FusionRuntime<TimeDriver<IoUringDriver>, TimeDriver<LegacyDriver>>;

/// Which event loop a worker got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    IoUring,
    Epoll,
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::IoUring => "io_uring",
            Self::Epoll => "epoll",
        })
    }
}

/// Builds a worker runtime. `legacy` forces epoll; otherwise `FusionDriver` picks io_uring
/// when the kernel offers every operation monoio needs (and `MONOIO_FORCE_LEGACY_DRIVER`
/// is not set), epoll otherwise.
pub fn build_runtime(legacy: bool, entries: u32) -> io::Result<(WorkerRuntime, DriverKind)> {
    let rt: WorkerRuntime = if legacy {
        RuntimeBuilder::<LegacyDriver>::new()
            .enable_timer()
            .with_entries(entries)
            .build()?
            .into()
    } else {
        let mut builder = RuntimeBuilder::<FusionDriver>::new()
            .enable_timer()
            .with_entries(entries);
        if let Some(urb) = tuned_uring() {
            builder = builder.uring_builder(urb);
        }
        builder.build()?
    };
    let kind = match rt {
        FusionRuntime::Uring(_) => DriverKind::IoUring,
        FusionRuntime::Legacy(_) => DriverKind::Epoll,
    };
    Ok((rt, kind))
}

/// io_uring setup for a ring that one worker thread alone drives (`SINGLE_ISSUER`, which
/// lets the kernel skip the locking a shared ring needs), best first:
///
/// - `DEFER_TASKRUN` (Linux 6.1): completions are run only when the worker asks for them,
///   entering the kernel to wait, never by interrupting it while it runs; the worker's
///   turn then handles every completion at once. Keep-alive CPU per request fell from 1.11×
///   haproxy's to 1.03× with it (`perf/README.md`). monoio asks for completions whenever its
///   queue of ready tasks runs dry, which on a proxy's worker is every turn: tasks here wake
///   only from I/O and timers.
/// - `COOP_TASKRUN` (6.0): completions are run when the worker next enters the kernel for any
///   reason, instead of interrupting it.
///
/// `None` when the kernel refuses both: the plain ring is used, not the epoll fallback.
fn tuned_uring() -> Option<io_uring::Builder> {
    let mut defer = io_uring::IoUring::builder();
    defer.setup_single_issuer().setup_defer_taskrun();
    if defer.build(8).is_ok() {
        return Some(defer);
    }
    let mut coop = io_uring::IoUring::builder();
    coop.setup_coop_taskrun().setup_single_issuer();
    coop.build(8).ok().map(|_probe| coop)
}

/// Whether the environment asks for the epoll driver (`MONOIO_FORCE_LEGACY_DRIVER=1`).
pub fn legacy_forced_by_env() -> bool {
    std::env::var("MONOIO_FORCE_LEGACY_DRIVER")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

/// What a worker reports once its runtime runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// 0-based worker index (HAProxy's thread id minus one).
    pub index: usize,
    pub driver: DriverKind,
    /// The CPUs the worker asked for.
    pub cpus: Vec<usize>,
    /// The CPUs the kernel reports for the worker thread after pinning.
    pub affinity: Vec<usize>,
}

/// Starts worker `index` on its own thread: pins it to `cpus`, builds its runtime, logs one
/// line (unless `quiet`), then runs `body` to completion.
pub fn spawn_worker<F, Fut>(
    index: usize,
    cpus: Vec<usize>,
    (legacy, entries): (bool, u32),
    quiet: bool,
    body: F,
) -> io::Result<JoinHandle<io::Result<()>>>
where
    F: FnOnce(WorkerInfo) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    std::thread::Builder::new()
        .name(format!("ringlb-w{}", index + 1))
        .spawn(move || {
            let pinned = pin::pin_current(&cpus);
            let affinity = pin::current_affinity();
            let (mut rt, driver) = build_runtime(legacy, entries)?;
            if !quiet {
                eprintln!(
                    "ringlb: worker {} running on {} driver, pinned to CPU {}",
                    index + 1,
                    driver,
                    if pinned {
                        format!("{cpus:?}")
                    } else {
                        format!("(not pinned, may use {affinity:?})")
                    }
                );
            }
            let info = WorkerInfo {
                index,
                driver,
                cpus,
                affinity,
            };
            rt.block_on(body(info));
            Ok(())
        })
}
