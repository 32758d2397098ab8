//! The seam between an HTTP session and the servers: a backend hands out connections to a
//! chosen server (new or idle) and takes them back when keep-alive allows.

use std::io;
use std::net::SocketAddr;

use crate::io::transport::Stream;

use crate::codec::head::RequestHead;
use crate::stream::txn::Txn;

/// What the balancer may look at to pick a server for one request or connection.
#[derive(Clone, Copy)]
pub struct Pick<'a> {
    /// The client's address (`balance source`, and what a `send-proxy` server is told).
    pub src: SocketAddr,
    /// The address the client reached: servers without a port, or with an offset, follow its
    /// port; a `send-proxy` server is told it.
    pub dst: SocketAddr,
    /// The client read buffer that `req`'s offsets point into.
    pub buf: &'a [u8],
    /// The request head (`balance uri|url_param|hdr|rdp-cookie`); `None` in TCP mode.
    pub req: Option<&'a RequestHead>,
    /// The server a persistence cookie names (its index in the backend), if any.
    pub prefer: Option<usize>,
    /// `force-persist` matched: `prefer` is used even when down or in maintenance.
    pub force_persist: bool,
    /// The stream as a server's `sni` expression reads it; `None`: no name is sent.
    pub txn: Option<&'a Txn<'a>>,
}

impl<'a> Pick<'a> {
    /// A pick with nothing but the addresses: TCP mode, or a request nobody inspects.
    pub fn connection(src: SocketAddr, dst: SocketAddr) -> Self {
        Pick {
            src,
            dst,
            buf: &[],
            req: None,
            prefer: None,
            force_persist: false,
            txn: None,
        }
    }
}

impl Pick<'_> {
    /// A server's `sni` expression evaluated on this stream, as the name to send.
    pub fn sni(&self, e: &ringlb_config::acl::SampleExpr) -> Option<String> {
        use crate::analysis::acl::fetch::{first_value, to_bytes};
        let v = first_value(&e.fetch, &e.converters, self.txn?)?;
        String::from_utf8(to_bytes(v)?.into_owned()).ok()
    }
}

/// Whether an idle pooled connection may be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    Allowed,
    /// A fresh connection: used to retry a request after a pooled one proved dead.
    NewOnly,
    /// Only an idle connection that already carried more than one request, else a new one
    /// (`http-reuse aggressive`, first request of a client connection).
    Proven,
    /// The connection this client connection kept for itself, else a new one; never the
    /// shared pool (`http-reuse never`).
    Private,
}

/// A connection to one server of a backend.
pub struct UpstreamConn {
    pub stream: Stream,
    /// Taken from the idle pool rather than just connected: the server may have closed it.
    pub reused: bool,
    /// The server's position in its backend, for counters and logs.
    pub server: usize,
    /// The server is the one `Pick::prefer` named (persistence held).
    pub persisted: bool,
    /// The server connection slot this exchange holds (`maxconn`, `leastconn`); given
    /// back when the connection is released, discarded or dropped.
    pub slot: Option<crate::backend::ConnSlot>,
    /// The connection started with a PROXY header naming this client (`send-proxy`): it
    /// serves this client connection only, and never goes to the shared idle pool.
    pub private: bool,
}

#[derive(Debug)]
pub enum UpstreamError {
    /// No usable server (all down, none configured, or all full).
    NoServer,
    /// Connecting failed after every retry.
    Connect(io::Error),
    /// Every server was full and the request waited in a queue past `timeout queue` (503).
    QueueTimeout,
    /// Not a failure: the server chosen (its position in the backend) has `redir` and the
    /// request is a GET or HEAD, so the session answers with a redirect and connects
    /// nowhere. Holds the whole response.
    Redirect(usize, Vec<u8>),
}

/// One backend's servers as the session sees them. Implemented by the worker's server table;
/// tests implement it over fixed addresses.
#[allow(async_fn_in_trait)] // used generically inside one worker, never as `dyn` or across threads
pub trait Upstream {
    /// A connection to the server chosen for the next request. Connect timeouts, retries
    /// and redispatch happen inside. With [`Reuse::Private`] (`http-reuse never`), `own` is
    /// the connection the client connection kept, used again when it goes to the same
    /// server; an implementation that keeps none ignores it.
    async fn acquire(
        &self,
        reuse: Reuse,
        own: Option<crate::backend::reuse::PrivateConn>,
        pick: &Pick<'_>,
    ) -> Result<UpstreamConn, UpstreamError>;
    /// Gives back a connection that finished an exchange cleanly and may be reused.
    fn release(&self, conn: UpstreamConn);
    /// Gives back a connection that must be closed (error, close mode, server's choice).
    fn discard(&self, conn: UpstreamConn) {
        drop(conn);
    }
    /// `http-reuse never`: ends an exchange like `release`, but hands the connection back to
    /// the client connection instead of the shared pool.
    fn keep_private(&self, conn: UpstreamConn) -> crate::backend::reuse::PrivateConn {
        crate::backend::reuse::PrivateConn {
            server: conn.server,
            stream: conn.stream,
        }
    }
    /// Persistence: the server whose `cookie` value is `value`. An unknown value is ignored.
    fn server_by_cookie(&self, value: &[u8]) -> Option<usize> {
        let _ = value;
        None
    }
    /// The `cookie` value of `server`, if it has one.
    fn server_cookie(&self, server: usize) -> Option<&str> {
        let _ = server;
        None
    }
    /// `observe`: what an exchange with `server` showed (its response head, or how reading
    /// it failed).
    fn observe(&self, server: usize, outcome: ringlb_checks::Outcome) {
        let _ = (server, outcome);
    }
    /// `option abortonclose`: a request still waiting for a server is dropped when its
    /// client closes.
    fn abort_on_close(&self) -> bool {
        false
    }
}
