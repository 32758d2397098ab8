//! A server connection's TLS (`server … ssl`): the client handshake over a connected TCP
//! socket, with the server's one rustls configuration (built at start, shared by every
//! worker, its session cache with it: a session made on one worker resumes on any).

use std::sync::Arc;

use super::{Session, Side};
use monoio::net::TcpStream;

use ringlb_config::acl::SampleExpr;
use ringlb_config::model::{GlobalTls, Server};
use ringlb_config::tls::client::ClientTls;

use super::{HandshakeError, TlsStream};

/// How one server's connections are secured.
#[derive(Debug)]
pub struct TlsConnector {
    tls: ClientTls,
    /// `sni EXPR`: evaluated per connection by whoever asks for one.
    sni: Option<SampleExpr>,
}

// A connector is one server's: two are the same only when they are one.
impl PartialEq for TlsConnector {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for TlsConnector {}

impl TlsConnector {
    /// The TLS of `s`, a server with `ssl` (`http`: its backend speaks HTTP, which limits
    /// the ALPN offered to the versions the server is spoken to in).
    pub fn new(s: &Server, g: &GlobalTls, http: bool) -> Result<Arc<Self>, String> {
        let http1 = http && s.proto != Some(ringlb_config::model::HttpProto::H2);
        Ok(Arc::new(Self {
            tls: ClientTls::new(&s.tls, s.tls.verify_or(g), g, http1)?,
            sni: s.tls.sni.clone(),
        }))
    }

    /// The expression whose value each connection sends as its SNI.
    pub fn sni(&self) -> Option<&SampleExpr> {
        self.sni.as_ref()
    }

    /// The handshake over `tcp` (connected to `tcp`'s peer), sending `sni` (none when
    /// `None`), done by `deadline`.
    pub async fn connect(
        &self,
        tcp: TcpStream,
        sni: Option<&str>,
        deadline: Option<monoio::time::Instant>,
    ) -> Result<TlsStream, HandshakeError> {
        let ip = tcp
            .peer_addr()
            .map(|a| a.ip())
            .map_err(|_| HandshakeError::Closed)?;
        let conn = self
            .tls
            .connect_unbuffered(sni, ip)
            .map_err(HandshakeError::Refused)?;
        let st = Session::new(Side::Client(conn), Vec::new());
        let mut s = TlsStream::handshake(tcp, st, None, deadline).await?;
        s.name = sni.filter(|n| !n.is_empty()).map(Box::from);
        Ok(s)
    }
}
