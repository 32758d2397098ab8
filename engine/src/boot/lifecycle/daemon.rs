//! `daemon` / `-D`: the process detaches into the background, but the command that started
//! it returns only once the daemon serves (exit 0) or has failed (exit 1, its errors
//! printed), so scripts and init systems can trust the exit code.
//!
//! The fork happens before any thread exists; the child reports readiness over a pipe
//! after binding and writing the pidfile, then points its standard streams at /dev/null.

use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// The detached child's end of the readiness pipe.
pub struct Detached {
    ready: std::fs::File,
}

/// Forks. The parent waits for the child to report and exits; this returns in the child,
/// which is the leader of a new session. Must be called while the process has one thread.
pub fn detach() -> io::Result<Detached> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh descriptors we own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: single-threaded here (documented precondition), so the child may go on freely.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(r);
            // SAFETY: no preconditions; detaches from the controlling terminal.
            unsafe { libc::setsid() };
            Ok(Detached {
                ready: std::fs::File::from(w),
            })
        }
        child => {
            drop(w);
            std::process::exit(wait_for_child(std::fs::File::from(r), child))
        }
    }
}

/// The parent's exit code: 0 once the child says it serves, 1 when it dies first.
fn wait_for_child(mut ready: std::fs::File, child: libc::pid_t) -> i32 {
    let mut byte = [0u8; 1];
    if matches!(ready.read(&mut byte), Ok(1)) {
        return 0;
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(child, &mut status, 0) };
    1
}

impl Detached {
    /// Tells the waiting parent the daemon serves, and stops using the terminal's streams.
    pub fn ready(mut self) {
        to_dev_null();
        let _ = self.ready.write_all(b"1");
    }
}

/// Points stdin, stdout and stderr at /dev/null.
pub fn to_dev_null() {
    // SAFETY: a valid path; dup2 onto the standard descriptors is atomic for other threads.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
}
