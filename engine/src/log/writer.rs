//! Getting framed lines out without ever blocking a worker: datagrams are sent
//! non-blocking (one syscall per line, dropped when the socket buffer is full), and stdout
//! or stderr lines go through a bounded queue to one writer thread (dropped when full).
//!
//! The writer ends when [`StdioWriter::finish`] queues its close, not when the last sender
//! is dropped: the hub keeps a sender for control-side messages as long as it lives, so
//! waiting for every sender to go would wait for ever.

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};

use crate::log::target::{Dest, Sink};

/// Lines waiting for the stdout/stderr writer before new ones are dropped.
const STDIO_QUEUE: usize = 8192;

/// How long [`StdioWriter::finish`] waits for a reader that takes no line at all (a pipe
/// nobody reads) before it gives up on the lines still queued.
const STALLED_READER: Duration = Duration::from_secs(1);

/// What the stdio writer is sent.
#[derive(Debug)]
pub enum StdioMessage {
    /// A framed line; `true` for stderr.
    Line(bool, Vec<u8>),
    /// Write what was queued before this, flush, and end.
    Close,
}

/// The thread writing stdout and stderr lines, and the queue feeding it.
#[derive(Debug)]
pub struct StdioWriter {
    tx: Mutex<Option<Sender<StdioMessage>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Lines written so far, so `finish` can tell a slow reader from a stalled one.
    written: Arc<AtomicU64>,
}

impl StdioWriter {
    pub fn start() -> io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<StdioMessage>(STDIO_QUEUE);
        let written = Arc::new(AtomicU64::new(0));
        let count = written.clone();
        let thread = std::thread::Builder::new()
            .name("ringlb-log".into())
            .spawn(move || {
                let (out, err) = (io::stdout(), io::stderr());
                for msg in rx {
                    let StdioMessage::Line(to_err, line) = msg else {
                        break;
                    };
                    let _ = if to_err {
                        err.lock().write_all(&line)
                    } else {
                        out.lock().write_all(&line)
                    };
                    count.fetch_add(1, Ordering::Relaxed);
                }
                let _ = out.lock().flush();
            })?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            written,
        })
    }

    /// A sender for one worker (cloned once, at its start).
    pub fn sender(&self) -> Option<Sender<StdioMessage>> {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Writes out every line queued so far and ends the writer; lines sent later are
    /// dropped. Returns once the queue is written, or once the reader has taken nothing for
    /// [`STALLED_READER`]: the rest is then lost with the process. Nothing is said about
    /// that loss, since saying it on stderr could block on the very reader that stalled.
    pub fn finish(&self) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let tick = Duration::from_millis(10);
        let mut close = tx.map(|tx| (tx, StdioMessage::Close));
        let mut seen = self.written.load(Ordering::Relaxed);
        let mut progress_at = Instant::now();
        while !thread.is_finished() {
            // The close waits for room in a full queue like any line.
            close = match close {
                Some((tx, msg)) => match tx.send_timeout(msg, tick) {
                    Ok(()) | Err(SendTimeoutError::Disconnected(_)) => None,
                    Err(SendTimeoutError::Timeout(msg)) => Some((tx, msg)),
                },
                None => {
                    std::thread::sleep(tick);
                    None
                }
            };
            let now = self.written.load(Ordering::Relaxed);
            if now != seen {
                (seen, progress_at) = (now, Instant::now());
            } else if progress_at.elapsed() >= STALLED_READER {
                return;
            }
        }
        let _ = thread.join();
    }
}

/// The sockets one thread sends its log lines through.
#[derive(Debug)]
pub struct LineSender {
    udp4: Option<UdpSocket>,
    udp6: Option<UdpSocket>,
    unix: Option<UnixDatagram>,
    stdio: Option<Sender<StdioMessage>>,
}

fn udp(bind: &str) -> Option<UdpSocket> {
    let s = UdpSocket::bind(bind).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

impl LineSender {
    /// Opens what `sinks` need.
    pub fn new<'a>(
        sinks: impl Iterator<Item = &'a Sink> + Clone,
        stdio: Option<Sender<StdioMessage>>,
    ) -> Self {
        let has = |f: &dyn Fn(&Dest) -> bool| sinks.clone().any(|s| f(&s.dest));
        Self {
            udp4: has(&|d| matches!(d, Dest::Udp(SocketAddr::V4(_))))
                .then(|| udp("0.0.0.0:0"))
                .flatten(),
            udp6: has(&|d| matches!(d, Dest::Udp(SocketAddr::V6(_))))
                .then(|| udp("[::]:0"))
                .flatten(),
            unix: has(&|d| matches!(d, Dest::Unix(_)))
                .then(|| {
                    let s = UnixDatagram::unbound().ok()?;
                    s.set_nonblocking(true).ok()?;
                    Some(s)
                })
                .flatten(),
            stdio: has(&|d| matches!(d, Dest::Stdout | Dest::Stderr))
                .then_some(stdio)
                .flatten(),
        }
    }

    /// Sends one framed line; `false` when it was dropped.
    pub fn send(&self, dest: &Dest, line: &[u8]) -> bool {
        match dest {
            Dest::Udp(a @ SocketAddr::V4(_)) => self
                .udp4
                .as_ref()
                .is_some_and(|s| s.send_to(line, a).is_ok()),
            Dest::Udp(a) => self
                .udp6
                .as_ref()
                .is_some_and(|s| s.send_to(line, a).is_ok()),
            Dest::Unix(p) => self
                .unix
                .as_ref()
                .is_some_and(|s| s.send_to(line, p).is_ok()),
            Dest::Stdout | Dest::Stderr => match &self.stdio {
                Some(tx) => {
                    match tx.try_send(StdioMessage::Line(*dest == Dest::Stderr, line.to_vec())) {
                        Ok(()) => true,
                        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
                    }
                }
                None => false,
            },
        }
    }
}
