//! Workers: one OS thread per `nbthread`, pinned, each running its own monoio runtime
//! (io_uring, or epoll where io_uring is unavailable or refused).

pub mod dispatch;
pub mod event_loop;
pub mod inbox;
pub mod limits;
pub mod listener;
pub mod park;
pub mod pin;
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

/// io_uring setup for a ring that one worker thread alone drives: completions are run when
/// the worker next enters the kernel instead of interrupting it (`COOP_TASKRUN`), and the
/// kernel may skip the locking a shared ring needs (`SINGLE_ISSUER`). `None` when this
/// kernel refuses the flags (before 6.0): the plain ring is used, not the epoll fallback.
fn tuned_uring() -> Option<io_uring::Builder> {
    let mut urb = io_uring::IoUring::builder();
    urb.setup_coop_taskrun().setup_single_issuer();
    urb.build(8).ok().map(|_probe| urb)
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
/// line, then runs `body` to completion.
pub fn spawn_worker<F, Fut>(
    index: usize,
    cpus: Vec<usize>,
    legacy: bool,
    entries: u32,
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
