//! Why a stream ended: one value that decides the log line's termination state and the
//! counters it lands in.

/// Why a client connection ended, for logs and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Termination {
    /// The client closed between requests, or the connection mode closed it after a response.
    #[default]
    Normal,
    /// An idle keep-alive connection saw no new request in time.
    IdleTimeout,
    /// A request head (408) or body did not arrive in time.
    ClientTimeout,
    /// The client closed or failed in the middle of an exchange.
    ClientAborted,
    /// The request was refused (400, 501), or the proxy's own rewrite of it failed
    /// (500).
    BadRequest,
    /// A rule refused the connection or the request (`deny`, `tarpit`, `reject`).
    Denied,
    /// No server could be reached (503).
    NoServer,
    /// The server closed or failed mid-exchange: before a whole response head (502) or
    /// during the body.
    ServerError,
    /// The server's response head was not valid HTTP, or its framing was (502): the proxy
    /// refused it, so the log blames the protocol (`PH`), not the server.
    BadResponse,
    /// The server did not answer in time (504, or silence mid-body).
    ServerTimeout,
    /// The server chosen has `redir`: the proxy answered a 302 itself instead of
    /// connecting (`LC` in the log).
    ServerRedirect,
    /// `hard-stop-after` expired with the exchange under way: a request still waiting for
    /// its response gets a 502, as in haproxy (`K` in the log).
    Killed,
}
