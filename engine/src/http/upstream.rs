//! The seam between an HTTP session and the servers: a backend hands out connections to a
//! chosen server (new or idle) and takes them back when keep-alive allows.

use std::io;

use monoio::net::TcpStream;

use super::settings::HttpBackend;

/// Whether an idle pooled connection may be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    Allowed,
    /// A fresh connection: used to retry a request after a pooled one proved dead.
    NewOnly,
}

/// A connection to one server of a backend.
pub struct UpstreamConn {
    pub stream: TcpStream,
    /// Taken from the idle pool rather than just connected: the server may have closed it.
    pub reused: bool,
    /// The server's position in its backend, for counters and logs.
    pub server: usize,
}

#[derive(Debug)]
pub enum UpstreamError {
    /// No usable server (all down, none configured, or all full).
    NoServer,
    /// Connecting failed after every retry.
    Connect(io::Error),
}

/// One backend's servers as the session sees them. Implemented by the worker's server table;
/// tests implement it over fixed addresses.
#[allow(async_fn_in_trait)] // used generically inside one worker, never as `dyn` or across threads
pub trait Upstream {
    /// A connection to the server chosen for the next request, for a client that reached
    /// `client_port`. Connect timeouts, retries and redispatch happen inside.
    async fn acquire(&self, reuse: Reuse, client_port: u16) -> Result<UpstreamConn, UpstreamError>;
    /// Gives back a connection that finished an exchange cleanly and may be reused.
    fn release(&self, conn: UpstreamConn);
    /// Gives back a connection that must be closed (error, close mode, server's choice).
    fn discard(&self, conn: UpstreamConn) {
        drop(conn);
    }
}

/// Finds a backend by name: its HTTP settings and its servers.
pub trait Router {
    type Upstream: Upstream;
    fn backend(&self, name: &str) -> Option<(&HttpBackend, &Self::Upstream)>;
    /// Usable servers of backend `name` (`nbsrv`); `None` when unknown to this router.
    fn usable_servers(&self, name: &str) -> Option<usize> {
        let _ = name;
        None
    }
}
