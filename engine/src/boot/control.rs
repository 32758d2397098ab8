//! The control thread: process signals turned into `ShardEvent`s for every worker.
//!
//! The handled signals are blocked in the starting thread before any worker exists, so
//! every thread inherits the mask and only the control thread, in `sigtimedwait`, receives
//! them. SIGINT/SIGTERM stop at once; SIGUSR1 stops softly (listeners close, connections
//! finish), for at most `hard-stop-after`; with `grace` on a proxy, the listeners keep
//! accepting for the longest grace first (one process serves every proxy). SIGTTOU pauses accepting and SIGTTIN resumes it,
//! as seed 003's reload script expects. SIGHUP dumps every proxy's and server's state, as
//! haproxy does (`services/admin/hangup.rs`). SIGUSR2 and SIGQUIT are taken so they cannot
//! kill the process (haproxy survives them too: it dumps its memory pools on SIGQUIT, which
//! ringlb has no equivalent of); reloading on SIGUSR2 is the master's job
//! (`lifecycle/master.rs`).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::worker::inbox::{Inboxes, ShardEvent};

pub const HANDLED_SIGNALS: [libc::c_int; 8] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGHUP,
    libc::SIGUSR2,
    libc::SIGTTOU,
    libc::SIGTTIN,
    libc::SIGQUIT,
];

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in HANDLED_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks the handled signals in the calling thread (and every thread it spawns later).
pub fn block_signals() -> io::Result<()> {
    let set = signal_set();
    // SAFETY: a valid set; the old mask is not needed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// What a signal asks the workers to do.
pub fn event_for_signal(sig: libc::c_int) -> Option<ShardEvent> {
    match sig {
        libc::SIGINT | libc::SIGTERM => Some(ShardEvent::Stop),
        libc::SIGUSR1 => Some(ShardEvent::SoftStop),
        libc::SIGTTOU => Some(ShardEvent::Pause),
        libc::SIGTTIN => Some(ShardEvent::Resume),
        _ => None,
    }
}

/// Starts the control thread. It waits for signals in slices of 100 ms so it notices
/// `done` (set when the workers have stopped) and exits. A soft stop reaches the workers
/// `grace` after the signal and turns into a hard one `hard_stop_after` after the signal.
pub fn spawn_control(
    inboxes: Arc<Inboxes>,
    done: Arc<AtomicBool>,
    hard_stop_after: Option<Duration>,
    grace: Option<Duration>,
    on_hangup: Box<dyn Fn() + Send>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ringlb-control".into())
        .spawn(move || {
            let set = signal_set();
            let slice = libc::timespec {
                tv_sec: 0,
                tv_nsec: 100_000_000,
            };
            let mut hard_stop_at = None;
            let mut soft_stop_at: Option<std::time::Instant> = None;
            while !done.load(Ordering::Acquire) {
                if soft_stop_at.is_some_and(|t| std::time::Instant::now() >= t) {
                    eprintln!("ringlb: grace period over, closing the listeners");
                    inboxes.broadcast(&ShardEvent::SoftStop);
                    soft_stop_at = None;
                }
                if hard_stop_at.is_some_and(|t| std::time::Instant::now() >= t) {
                    eprintln!("ringlb: hard-stop-after expired, closing the remaining connections");
                    inboxes.broadcast(&ShardEvent::Kill);
                    hard_stop_at = None;
                }
                // SAFETY: valid set and timeout; siginfo is not needed.
                let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &slice) };
                if sig < 0 {
                    continue;
                }
                match event_for_signal(sig) {
                    Some(ev) => {
                        let what = match ev {
                            ShardEvent::Stop => "stopping",
                            ShardEvent::Pause => "pausing the listeners",
                            ShardEvent::Resume => "resuming the listeners",
                            _ => "stopping softly",
                        };
                        eprintln!("ringlb: signal {sig} received, {what}");
                        if matches!(ev, ShardEvent::SoftStop) {
                            if hard_stop_at.is_none() {
                                hard_stop_at =
                                    hard_stop_after.map(|d| std::time::Instant::now() + d);
                            }
                            if let Some(g) = grace.filter(|g| !g.is_zero()) {
                                if soft_stop_at.is_none() {
                                    eprintln!(
                                        "ringlb: still accepting for the {}ms grace period",
                                        g.as_millis()
                                    );
                                    soft_stop_at = Some(std::time::Instant::now() + g);
                                }
                                continue;
                            }
                        }
                        inboxes.broadcast(&ev);
                    }
                    None if sig == libc::SIGHUP => on_hangup(),
                    None => eprintln!("ringlb: signal {sig} received and ignored"),
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_signals_map_to_stops() {
        assert!(matches!(
            event_for_signal(libc::SIGTERM),
            Some(ShardEvent::Stop)
        ));
        assert!(matches!(
            event_for_signal(libc::SIGINT),
            Some(ShardEvent::Stop)
        ));
        assert!(matches!(
            event_for_signal(libc::SIGUSR1),
            Some(ShardEvent::SoftStop)
        ));
        assert!(matches!(
            event_for_signal(libc::SIGTTOU),
            Some(ShardEvent::Pause)
        ));
        assert!(matches!(
            event_for_signal(libc::SIGTTIN),
            Some(ShardEvent::Resume)
        ));
        assert!(event_for_signal(libc::SIGHUP).is_none());
    }
}
