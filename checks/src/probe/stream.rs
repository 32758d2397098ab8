//! The connection a rule-driven check runs over: what it sent, what it has read so far,
//! whether the peer closed, and the one deadline that bounds the whole exchange.

use std::io;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

/// Bytes of a response kept for matching (HAProxy's default buffer size).
pub const BUFFER_LIMIT: usize = 16384;

/// Why reading or writing stopped short.
pub enum Stall {
    TimedOut,
    Failed(io::Error),
}

pub struct CheckStream {
    stream: TcpStream,
    deadline: Instant,
    /// What was read since the last send.
    pub buf: Vec<u8>,
    /// The peer closed its side.
    pub closed: bool,
}

impl CheckStream {
    pub fn new(stream: TcpStream, deadline: Instant) -> Self {
        Self {
            stream,
            deadline,
            buf: Vec::new(),
            closed: false,
        }
    }

    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// No more bytes can arrive or be kept: the peer closed or the buffer is full.
    pub fn last_read(&self) -> bool {
        self.closed || self.buf.len() >= BUFFER_LIMIT
    }

    /// Sends `data`; what was read before is forgotten, as each send starts a new answer.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), Stall> {
        self.buf.clear();
        match monoio::time::timeout(self.left(), self.stream.write_all(data.to_vec())).await {
            Err(_) => Err(Stall::TimedOut),
            Ok((Err(e), _)) => Err(Stall::Failed(e)),
            Ok((Ok(_), _)) => Ok(()),
        }
    }

    /// Reads once more into the buffer (up to its limit); notes when the peer closed.
    pub async fn read_more(&mut self) -> Result<(), Stall> {
        let room = BUFFER_LIMIT.saturating_sub(self.buf.len()).clamp(1, 4096);
        let left = self.left();
        if left.is_zero() {
            return Err(Stall::TimedOut);
        }
        match monoio::time::timeout(left, self.stream.read(Vec::with_capacity(room))).await {
            Err(_) => Err(Stall::TimedOut),
            // A reset after the answer arrived still leaves the answer to judge.
            Ok((Err(_), _)) if !self.buf.is_empty() => {
                self.closed = true;
                Ok(())
            }
            Ok((Err(e), _)) => Err(Stall::Failed(e)),
            Ok((Ok(0), _)) => {
                self.closed = true;
                Ok(())
            }
            Ok((Ok(_), got)) => {
                let keep = got.len().min(BUFFER_LIMIT - self.buf.len());
                self.buf.extend_from_slice(&got[..keep]);
                Ok(())
            }
        }
    }
}
