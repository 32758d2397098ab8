//! One TLS connection's protocol state and its bytes, over rustls's unbuffered API: the
//! connection holds keys and state only, and the bytes (received records, decrypted data
//! not yet taken, records to send) sit in buffers of ours that exist only while bytes wait
//! in them. An idle connection so keeps no buffer at all, where rustls's buffered
//! connection keeps a 4 KiB read buffer for its whole life.

use std::io;

use rustls::client::UnbufferedClientConnection;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use rustls::CommonState;

use crate::io::timed::Fd;

/// The largest record on the wire: 16 KiB of payload plus header and expansion.
const RECORD_MAX: usize = 16384 + 2048 + 5;

/// The least room a read offers.
const READ_MIN: usize = 4096;

/// Room a record adds to its payload (header, content type, tag; a TLS 1.2 explicit
/// nonce): generous, so one reservation fits what `encrypt` writes.
const RECORD_OVERHEAD: usize = 64;

pub(crate) enum Side {
    Server(UnbufferedServerConnection),
    Client(UnbufferedClientConnection),
}

/// What a call wants done once the received records are processed.
#[derive(Clone, Copy)]
enum Job<'p> {
    Read,
    Encrypt(&'p [u8]),
    CloseNotify,
}

/// What processing found.
#[derive(Default)]
struct Flags {
    /// The handshake waits for more bytes from the peer.
    blocked: bool,
    /// The handshake is done: application data may flow.
    established: bool,
    /// The job (encrypting, close_notify) was done.
    done: bool,
}

pub(crate) struct Session {
    side: Side,
    /// Received bytes not yet processed: a partial record at most, between reads.
    incoming: Vec<u8>,
    /// Decrypted bytes the reader has not taken yet (more than its buffer had room for):
    /// rare, so boxed: 8 bytes in the connection instead of 24 (see `TlsStream`'s size
    /// test).
    #[allow(clippy::box_collection)]
    plain: Option<Box<Vec<u8>>>,
    /// Records to send, in order.
    outgoing: Vec<u8>,
    pub handshaking: bool,
    /// The peer sent close_notify.
    pub peer_closed: bool,
    /// The socket reached end of stream.
    pub eof: bool,
    /// The last read filled all the room it had.
    busy: bool,
    /// The connection failed (a bad record, a refused handshake): why.
    pub failed: Option<Box<str>>,
}

impl Session {
    /// A connection starting with `incoming` already received (the ClientHello, on a
    /// listener).
    pub fn new(side: Side, incoming: Vec<u8>) -> Self {
        Self {
            side,
            incoming,
            plain: None,
            outgoing: Vec::new(),
            handshaking: true,
            peer_closed: false,
            eof: false,
            busy: false,
            failed: None,
        }
    }

    pub fn common(&self) -> &CommonState {
        match &self.side {
            Side::Server(c) => c,
            Side::Client(c) => c,
        }
    }

    pub fn is_server(&self) -> bool {
        matches!(self.side, Side::Server(_))
    }

    pub fn has_plain(&self) -> bool {
        self.plain.is_some()
    }

    /// Processes the received records: application data goes to `out` (within its spare
    /// capacity, the rest kept for later), handshake messages to send are encoded.
    pub fn process(&mut self, out: Option<&mut Vec<u8>>) {
        self.run(Job::Read, out);
    }

    /// Encrypts `plain` into records to send. Fails only on a connection that is not (or
    /// no longer) established.
    pub fn encrypt(&mut self, plain: &[u8]) -> bool {
        self.run(Job::Encrypt(plain), None).done
    }

    /// Queues close_notify (once the handshake is done; before, there is nothing to close).
    pub fn close_notify(&mut self) {
        self.run(Job::CloseNotify, None);
    }

    fn run(&mut self, job: Job<'_>, mut out: Option<&mut Vec<u8>>) -> Flags {
        let mut flags = Flags::default();
        while self.failed.is_none() {
            let Session {
                side,
                incoming,
                plain,
                outgoing,
                failed,
                peer_closed,
                ..
            } = self;
            let mut cx = Cx {
                plain,
                out: out.as_deref_mut(),
                outgoing,
                failed,
                peer_closed,
                flags: &mut flags,
            };
            let (discard, again) = match side {
                Side::Server(c) => step(c.process_tls_records(incoming), job, &mut cx),
                Side::Client(c) => step(c.process_tls_records(incoming), job, &mut cx),
            };
            incoming.drain(..discard);
            if !again {
                break;
            }
        }
        if flags.established {
            self.handshaking = false;
        }
        flags
    }

    /// Reads what the socket has into `incoming`: `Ok(0)` at end of stream.
    pub fn recv(&mut self, fd: &mut Fd) -> io::Result<usize> {
        // Room for the record under way (its header says how long it is), at least 4 KiB:
        // requests and handshake messages are small, and a buffer the size of the largest
        // record for each would only be allocated to be freed.
        let under_way = match self.incoming.get(3..5) {
            Some(len) => 5 + usize::from(u16::from_be_bytes([len[0], len[1]])),
            None => 0,
        };
        // A stream busy enough to fill the last read gets room for a whole record.
        let least = if self.busy { RECORD_MAX } else { READ_MIN };
        let want = under_way
            .saturating_sub(self.incoming.len())
            .clamp(least, RECORD_MAX);
        self.incoming.reserve(want);
        let room = self.incoming.capacity() - self.incoming.len();
        let n = fd.recv_into(&mut self.incoming)?;
        self.busy = n == room;
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    /// Sends what is queued (`more`: see [`Fd::send_vectored`]); `WouldBlock` when the
    /// socket takes no more now.
    pub fn send(&mut self, fd: &mut Fd, more: bool) -> io::Result<()> {
        while !self.outgoing.is_empty() {
            let n = fd.send_vectored(&[io::IoSlice::new(&self.outgoing)], more)?;
            self.outgoing.drain(..n);
        }
        Ok(())
    }

    /// Encrypted bytes not sent yet.
    pub fn queued(&self) -> usize {
        self.outgoing.len()
    }

    /// Moves decrypted bytes kept earlier into `out`, as many as fit.
    pub fn take_plain(&mut self, out: &mut Vec<u8>) -> usize {
        let Some(plain) = self.plain.as_mut() else {
            return 0;
        };
        let n = plain.len().min(out.capacity() - out.len());
        out.extend_from_slice(&plain[..n]);
        plain.drain(..n);
        if plain.is_empty() {
            self.plain = None;
        }
        n
    }

    /// Gives back the memory of buffers that hold nothing: an idle connection keeps none.
    pub fn trim(&mut self) {
        for b in [&mut self.incoming, &mut self.outgoing] {
            if b.is_empty() && b.capacity() > 0 {
                *b = Vec::new();
            }
        }
    }
}

/// What a processing step may touch besides the connection and its received bytes.
struct Cx<'a, 'o> {
    #[allow(clippy::box_collection)]
    plain: &'a mut Option<Box<Vec<u8>>>,
    out: Option<&'o mut Vec<u8>>,
    outgoing: &'a mut Vec<u8>,
    failed: &'a mut Option<Box<str>>,
    peer_closed: &'a mut bool,
    flags: &'a mut Flags,
}

impl Cx<'_, '_> {
    /// Decrypted bytes: into the reader's buffer while it has room, the rest kept.
    fn deliver(&mut self, mut bytes: &[u8]) {
        if self.plain.is_none() {
            if let Some(out) = self.out.as_deref_mut() {
                let n = bytes.len().min(out.capacity() - out.len());
                out.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
            }
        }
        if !bytes.is_empty() {
            self.plain.get_or_insert_default().extend_from_slice(bytes);
        }
    }

    /// Runs `write` on room at the end of `outgoing`, growing it until it fits.
    fn append<E>(
        &mut self,
        mut room: usize,
        mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
        needed: impl Fn(&E) -> Option<usize>,
    ) -> bool {
        loop {
            let len = self.outgoing.len();
            self.outgoing.resize(len + room, 0);
            match write(&mut self.outgoing[len..]) {
                Ok(n) => {
                    self.outgoing.truncate(len + n);
                    return true;
                }
                Err(e) => {
                    self.outgoing.truncate(len);
                    match needed(&e) {
                        Some(more) if more > room => room = more,
                        _ => return false,
                    }
                }
            }
        }
    }
}

/// Handles one state rustls reports; returns the received bytes it used up and whether to
/// process again.
fn step<Data>(
    status: UnbufferedStatus<'_, '_, Data>,
    job: Job<'_>,
    cx: &mut Cx<'_, '_>,
) -> (usize, bool) {
    let UnbufferedStatus { mut discard, state } = status;
    let state = match state {
        Ok(s) => s,
        Err(e) => {
            *cx.failed = Some(e.to_string().into());
            return (discard, false);
        }
    };
    let again = match state {
        ConnectionState::ReadTraffic(mut r) => {
            while let Some(rec) = r.next_record() {
                match rec {
                    Ok(rec) => {
                        discard += rec.discard;
                        cx.deliver(rec.payload);
                    }
                    Err(e) => {
                        *cx.failed = Some(e.to_string().into());
                        return (discard, false);
                    }
                }
            }
            true
        }
        // Early data is never accepted (the configurations leave it off), so rustls never
        // reports any; should it, the connection ends rather than lose it silently.
        ConnectionState::ReadEarlyData(_) => {
            *cx.failed = Some("early data is not accepted".into());
            false
        }
        ConnectionState::EncodeTlsData(mut e) => {
            let ok = cx.append(
                1024,
                |buf| e.encode(buf),
                |err| match err {
                    EncodeError::InsufficientSize(s) => Some(s.required_size),
                    _ => None,
                },
            );
            if !ok {
                *cx.failed = Some("could not encode a handshake message".into());
                return (discard, false);
            }
            true
        }
        // The bytes stay queued in `outgoing` and leave in order with what follows.
        ConnectionState::TransmitTlsData(t) => {
            t.done();
            true
        }
        ConnectionState::BlockedHandshake => {
            cx.flags.blocked = true;
            false
        }
        ConnectionState::PeerClosed => {
            *cx.peer_closed = true;
            true
        }
        ConnectionState::Closed => {
            *cx.peer_closed = true;
            false
        }
        ConnectionState::WriteTraffic(mut w) => {
            cx.flags.established = true;
            let needed = |err: &EncryptError| match err {
                EncryptError::InsufficientSize(s) => Some(s.required_size),
                _ => None,
            };
            cx.flags.done = match job {
                Job::Read => false,
                Job::Encrypt(p) => {
                    let room = p.len() + (p.len() / 16384 + 1) * RECORD_OVERHEAD;
                    cx.append(room, |buf| w.encrypt(p, buf), needed)
                }
                Job::CloseNotify => {
                    cx.append(RECORD_OVERHEAD, |buf| w.queue_close_notify(buf), needed)
                }
            };
            false
        }
        _ => false,
    };
    (discard, again)
}
