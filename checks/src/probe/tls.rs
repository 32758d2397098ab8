//! Checks over TLS (`check-ssl`, or `ssl` without a check port): the handshake with the
//! server's own TLS settings, then the probe's bytes through it. A check runs one short
//! exchange, so the records move through owned buffers, simply, not as the engine's
//! readiness-driven stream does.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::ClientConnection;

use ringlb_config::tls::client::ClientTls;

use crate::status::{CheckResult, CheckStatus};

/// A server's TLS as its checks use it: the server's settings, and `check-sni`.
#[derive(Debug)]
pub struct CheckTls {
    pub tls: ClientTls,
    pub sni: Option<String>,
}

/// A check's connection once the handshake is done.
pub struct TlsProbeStream {
    tcp: TcpStream,
    conn: ClientConnection,
}

/// The handshake over `tcp`, within `timeout`: `L6TOUT` when it takes longer, `L6RSP` when
/// it fails (the reason as info, as HAProxy gives "SSL handshake failure").
pub async fn handshake(
    tcp: TcpStream,
    tls: &CheckTls,
    ip: IpAddr,
    timeout: Duration,
) -> Result<TlsProbeStream, CheckResult> {
    let failed = |e: String| {
        CheckResult::new(CheckStatus::L6Rsp).with_info(format!("SSL handshake failure ({e})"))
    };
    let conn = tls.tls.connect(tls.sni.as_deref(), ip).map_err(failed)?;
    let mut s = TlsProbeStream { tcp, conn };
    let work = async {
        while s.conn.is_handshaking() {
            s.send().await?;
            if s.conn.is_handshaking() && !s.receive().await? {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
        }
        s.send().await
    };
    match monoio::time::timeout(timeout, work).await {
        Err(_) => Err(CheckResult::new(CheckStatus::L6Timeout)),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Ok(Ok(())) => Ok(s),
    }
}

impl TlsProbeStream {
    /// Sends every record rustls has ready.
    async fn send(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            let mut out = Vec::new();
            self.conn.write_tls(&mut out)?;
            let (r, _) = self.tcp.write_all(out).await;
            r?;
        }
        Ok(())
    }

    /// Reads what the server sent and hands it to rustls: `false` at end of stream.
    async fn receive(&mut self) -> io::Result<bool> {
        let (r, buf) = self.tcp.read(Vec::with_capacity(16 * 1024)).await;
        if r? == 0 {
            return Ok(false);
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            self.conn.read_tls(&mut rd)?;
            self.conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        // A ticket or a key update may want an answer.
        self.send().await?;
        Ok(true)
    }
}

impl AsyncReadRent for TlsProbeStream {
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        let cap = buf.bytes_total();
        loop {
            // SAFETY: `write_ptr` is writable for `bytes_total` bytes while `buf` lives;
            // rustls writes plaintext there and says how much.
            let dst = unsafe { std::slice::from_raw_parts_mut(buf.write_ptr(), cap) };
            match self.conn.reader().read(dst) {
                Ok(n) => {
                    // SAFETY: `n` bytes were written at the start of the buffer.
                    unsafe { buf.set_init(n) };
                    return (Ok(n), buf);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The server closed without close_notify: an end like any other for a check.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return (Ok(0), buf),
                Err(e) => return (Err(e), buf),
            }
            match self.receive().await {
                Ok(true) => {}
                Ok(false) => return (Ok(0), buf),
                Err(e) => return (Err(e), buf),
            }
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        (Err(io::ErrorKind::Unsupported.into()), buf)
    }
}

impl AsyncWriteRent for TlsProbeStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: an `IoBuf` is readable at `read_ptr` for `bytes_init` bytes while it lives.
        let bytes = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        if let Err(e) = self.conn.writer().write_all(bytes) {
            return (Err(e), buf);
        }
        let n = bytes.len();
        (self.send().await.map(|()| n), buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        (Err(io::ErrorKind::Unsupported.into()), buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.send().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.send().await
    }
}
