//! `disable|enable|shutdown frontend` inside one worker: which of its frontends accept, and
//! what happens to their listening sockets.
//!
//! As HAProxy does on Linux, a disabled frontend refuses new clients rather than queueing
//! them: its TCP sockets are shut down, which takes them out of the `SO_REUSEPORT` group and
//! resets the clients already queued, and `listen()` puts them back on enable. A Unix socket
//! cannot listen again once shut down, and a socket shared with a new process after a
//! reload must keep its queue for it: those only stop being accepted from (clients wait in
//! the backlog). The accept loops look at the gate before each accept.

use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::rc::Rc;

use crate::worker::listener::Acceptor;

/// A frontend's listening state, as `show stat` names it (`OPEN`, `PAUSED`, `STOP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontendState {
    Open,
    /// `disable frontend`: refuses clients until `enable frontend`.
    Paused,
    /// `shutdown frontend`: its sockets are closed for good.
    Stopped,
}

/// One listening socket of this worker, with what re-arming it needs.
pub struct OwnedListener {
    /// The frontend's position (`FrontendPlan::index`).
    pub frontend: usize,
    /// The `bind` line's backlog, for `listen()` on enable.
    pub backlog: i32,
    pub acceptor: Rc<Acceptor>,
}

impl OwnedListener {
    /// Whether shutting the socket down and listening again is safe: a TCP socket this
    /// process alone accepts on.
    fn rearmable(&self) -> bool {
        matches!(*self.acceptor, Acceptor::Tcp(_))
            && !crate::worker::listener::listeners_handed_over()
    }

    /// Refuses new clients at once (queued ones are reset).
    pub fn refuse(&self) {
        if self.rearmable() {
            // SAFETY: a plain syscall on a descriptor `acceptor` keeps open.
            unsafe { libc::shutdown(self.acceptor.as_raw_fd(), libc::SHUT_RDWR) };
        }
    }

    /// Accepts clients again after [`Self::refuse`].
    fn rearm(&self) {
        if self.rearmable() {
            // SAFETY: as above; listening again on a shut-down TCP socket re-enters it in
            // its port's `SO_REUSEPORT` group.
            if unsafe { libc::listen(self.acceptor.as_raw_fd(), self.backlog) } != 0 {
                eprintln!(
                    "ringlb: cannot listen again: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

/// Each frontend's state in this worker, indexed by `FrontendPlan::index`.
#[derive(Default)]
pub struct Gates {
    states: RefCell<Vec<Cell<FrontendState>>>,
}

impl Gates {
    pub fn new(frontends: usize) -> Self {
        Self {
            states: RefCell::new(vec![Cell::new(FrontendState::Open); frontends]),
        }
    }

    pub fn state(&self, frontend: usize) -> FrontendState {
        self.states
            .borrow()
            .get(frontend)
            .map_or(FrontendState::Open, Cell::get)
    }

    /// Applies `to` to `frontend` and its sockets in `listeners`; a stopped frontend's
    /// sockets leave the list (its accept loops drop the last references and close them).
    pub fn apply(&self, frontend: usize, to: FrontendState, listeners: &mut Vec<OwnedListener>) {
        let states = self.states.borrow();
        let Some(cell) = states.get(frontend) else {
            return;
        };
        let from = cell.get();
        if from == to || from == FrontendState::Stopped {
            return;
        }
        let mine = listeners.iter().filter(|l| l.frontend == frontend);
        match to {
            FrontendState::Open => mine.for_each(OwnedListener::rearm),
            FrontendState::Paused => mine.for_each(OwnedListener::refuse),
            FrontendState::Stopped => {
                if from == FrontendState::Open {
                    mine.for_each(OwnedListener::refuse);
                }
                listeners.retain(|l| l.frontend != frontend);
            }
        }
        cell.set(to);
    }
}
