//! Getting framed lines out without ever blocking a worker: datagrams are sent
//! non-blocking (one syscall per line, dropped when the socket buffer is full), and stdout
//! or stderr lines go through a bounded queue to one writer thread (dropped when full).

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::Mutex;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};

use super::target::{Dest, Sink};

/// Lines waiting for the stdout/stderr writer before new ones are dropped.
const STDIO_QUEUE: usize = 8192;

/// A line for the stdio writer: `true` for stderr.
type StdioLine = (bool, Vec<u8>);

/// The thread writing stdout and stderr lines, and the queue feeding it.
#[derive(Debug)]
pub struct StdioWriter {
    tx: Mutex<Option<Sender<StdioLine>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl StdioWriter {
    pub fn start() -> io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<StdioLine>(STDIO_QUEUE);
        let thread = std::thread::Builder::new()
            .name("ringlb-log".into())
            .spawn(move || {
                let (out, err) = (io::stdout(), io::stderr());
                for (to_err, line) in rx {
                    let _ = if to_err {
                        err.lock().write_all(&line)
                    } else {
                        out.lock().write_all(&line)
                    };
                }
                let _ = out.lock().flush();
            })?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// A sender for one worker (cloned once, at its start).
    pub fn sender(&self) -> Option<Sender<StdioLine>> {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops taking lines and waits until every queued line is written. Workers must have
    /// dropped their senders first.
    pub fn finish(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

/// The sockets one thread sends its log lines through.
#[derive(Debug)]
pub struct LineSender {
    udp4: Option<UdpSocket>,
    udp6: Option<UdpSocket>,
    unix: Option<UnixDatagram>,
    stdio: Option<Sender<StdioLine>>,
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
        stdio: Option<Sender<StdioLine>>,
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
                Some(tx) => match tx.try_send((*dest == Dest::Stderr, line.to_vec())) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
                },
                None => false,
            },
        }
    }
}
