//! Connecting to a server: `timeout connect`, `retries`, and `option redispatch` on the
//! last retry; every attempt is reported to `observe`. A server with `ssl` is connected
//! when its TLS handshake is done, within the same `timeout connect`; a failed handshake
//! is a failed attempt. A server with `send-proxy[-v2]` gets its PROXY header first, before
//! any TLS. A server with `source` is connected from that address.
//!
//! Each attempt is bounded by `timeout connect`. A failed attempt is retried on the same
//! server up to `retries` times; with `redispatch` the last retry goes to another server
//! when one is usable. Retries follow at once (HAProxy waits up to a second between
//! retries on a refused connection; not done here).

use std::fmt;
use std::io;
use std::time::Duration;

use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::UnixStream;

use crate::backend::resolve::Target;
use crate::io::proxy_protocol;
use crate::io::tls::{HandshakeError, TlsConnector};
use crate::io::transport::Stream;
use ringlb_checks::Outcome;
use ringlb_config::acl::SampleExpr;

use crate::backend::{BackendTable, ServerId};
use crate::stream::Addrs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectErrorKind {
    /// No usable server in the backend (HAProxy answers 503).
    NoServer,
    /// The last attempt exceeded `timeout connect` (503 in HTTP, as every failure to get a
    /// server connection; 504 is for a server that does not answer in time).
    Timeout,
    /// The last attempt failed (refused, unreachable; 503 in HTTP).
    Failed,
}

#[derive(Debug)]
pub struct ConnectError {
    pub kind: ConnectErrorKind,
    /// The server of the last attempt.
    pub server: Option<ServerId>,
    pub attempts: u32,
    pub source: Option<io::Error>,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ConnectErrorKind::NoServer => write!(f, "no server available"),
            ConnectErrorKind::Timeout => {
                write!(f, "connect timeout after {} attempt(s)", self.attempts)
            }
            ConnectErrorKind::Failed => write!(
                f,
                "connect failed after {} attempt(s): {}",
                self.attempts,
                self.source
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            ),
        }
    }
}

impl std::error::Error for ConnectError {}

/// What a connection evaluates a server's `sni` expression with: the stream it is made
/// for (`None` when there is nothing to evaluate on).
pub type SniOf<'a> = &'a dyn Fn(&SampleExpr) -> Option<String>;

/// The TLS of one attempt: the server's connector and the name to send.
pub type TlsAttempt<'a> = Option<(&'a TlsConnector, Option<&'a str>)>;

/// One connection attempt bounded by `timeout`: the PROXY header first when `proxy` holds
/// one, then the TLS handshake when `tls` asks for one. Dropping a pending connect, header
/// write or handshake on timeout is safe: no request is in flight yet, and the socket is
/// closed with it.
pub async fn connect_once(
    target: Target<'_>,
    tls: TlsAttempt<'_>,
    proxy: Option<Vec<u8>>,
    timeout: Option<Duration>,
) -> Result<Stream, (ConnectErrorKind, Option<io::Error>)> {
    let attempt = async {
        match (target, tls) {
            (Target::Inet(addr, source), Some((connector, sni))) => {
                let mut tcp = ringlb_checks::probe::connect_tcp(addr, source).await?;
                let _ = tcp.set_nodelay(true);
                if let Some(h) = proxy {
                    write_header(&mut tcp, h).await?;
                }
                match connector.connect(tcp, sni, None).await {
                    Ok(t) => Ok(Stream::Tls(Box::new(t))),
                    Err(HandshakeError::Refused(e)) => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("TLS: {e}"),
                    )),
                    Err(e) => Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        e.to_string(),
                    )),
                }
            }
            (Target::Inet(addr, source), None) => {
                let mut tcp = ringlb_checks::probe::connect_tcp(addr, source).await?;
                if let Some(h) = proxy {
                    write_header(&mut tcp, h).await?;
                }
                Ok(Stream::from(tcp))
            }
            // `-c` refuses `ssl` on a Unix-socket server.
            (Target::Unix(path), _) => {
                let mut unix = UnixStream::connect(path).await?;
                if let Some(h) = proxy {
                    write_header(&mut unix, h).await?;
                }
                Ok(Stream::from(unix))
            }
        }
    };
    let res = match timeout {
        Some(t) => match crate::io::timed::within(t, attempt).await {
            Ok(r) => r,
            Err(_) => return Err((ConnectErrorKind::Timeout, None)),
        },
        None => attempt.await,
    };
    match res {
        Ok(s) => {
            s.set_nodelay();
            Ok(s)
        }
        Err(e) => Err((ConnectErrorKind::Failed, Some(e))),
    }
}

/// Sends the PROXY header on a connection just opened. It fits any socket buffer, so this
/// is one write that does not wait.
async fn write_header<W: AsyncWriteRent>(conn: &mut W, header: Vec<u8>) -> io::Result<()> {
    conn.write_all(header).await.0.map(|_| ())
}

fn no_server(attempts: u32) -> ConnectError {
    ConnectError {
        kind: ConnectErrorKind::NoServer,
        server: None,
        attempts,
        source: None,
    }
}

impl BackendTable {
    /// Reports what traffic to `id` showed, for `observe`: every connection attempt here,
    /// and response heads from the HTTP session. A server without `observe` costs the one
    /// branch on its `None`.
    #[inline]
    pub fn observe(&self, id: ServerId, outcome: Outcome) {
        if let Some(w) = &self.servers[id.0].conf.observe {
            w.report(outcome);
        }
    }

    /// Connects to a server chosen by the balancing algorithm, for a client `src` that
    /// reached `dst`. Returns the stream and the server it reached.
    pub async fn connect(&self, (src, dst): Addrs) -> Result<(Stream, ServerId), ConnectError> {
        let server = self.choose_server(None).ok_or_else(|| no_server(0))?;
        self.connect_to(server, (src, dst)).await
    }

    /// Connects to `server`, already chosen, with the same retries and redispatch (no SNI:
    /// there is no stream to evaluate `sni` on).
    pub async fn connect_to(
        &self,
        server: ServerId,
        client: Addrs,
    ) -> Result<(Stream, ServerId), ConnectError> {
        self.connect_holding(server, client, &|_| None, None).await
    }

    /// The name a connection to `id` sends (its `sni` expression, evaluated by `sni_of`).
    pub(super) fn sni_for(&self, id: ServerId, sni_of: SniOf<'_>) -> Option<String> {
        self.servers[id.0].conf.tls.as_ref()?.sni().and_then(sni_of)
    }

    /// [`Self::connect_to`] for a request holding `slot` on `server`: a redispatch moves
    /// the slot to the new server, and happens only when that server has room. `client`:
    /// the client's address and the one it reached, which a server without a port follows
    /// and a `send-proxy` server is told.
    pub(super) async fn connect_holding(
        &self,
        mut server: ServerId,
        (src, dst): Addrs,
        sni_of: SniOf<'_>,
        mut slot: Option<&mut crate::backend::ConnSlot>,
    ) -> Result<(Stream, ServerId), ConnectError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let conf = &self.servers[server.0].conf;
            let sni = self.sni_for(server, sni_of);
            let tls = conf.tls.as_deref().map(|c| (c, sni.as_deref()));
            let proxy = conf
                .send_proxy
                .map(|v| proxy_protocol::header(v, Some(src), Some(dst)));
            let got = connect_once(
                self.server_target(server, dst.port()),
                tls,
                proxy,
                self.connect_timeout,
            )
            .await;
            self.observe(
                server,
                match got {
                    Ok(_) => Outcome::Connected,
                    Err(_) => Outcome::ConnectFailed,
                },
            );
            match got {
                Ok(s) => {
                    if self.keepalive {
                        s.set_keepalive();
                    }
                    return Ok((s, server));
                }
                Err((kind, source)) => {
                    if attempts > self.retries {
                        return Err(ConnectError {
                            kind,
                            server: Some(server),
                            attempts,
                            source,
                        });
                    }
                    if self.redispatch && attempts == self.retries {
                        let next = self
                            .choose_server(Some(server))
                            .ok_or_else(|| no_server(attempts))?;
                        match slot.as_deref_mut() {
                            None => server = next,
                            Some(_) if next == server => {}
                            Some(held) => {
                                if self.load.try_take(next.0) {
                                    // The old slot is given back when replaced.
                                    held.move_to(next.0);
                                    server = next;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
