//! The model of `tcp-check` rule sequences and of the protocol checks (`option redis-check`,
//! `smtpchk`, `mysql-check`, `pgsql-check`, `ldap-check`), re-exported from [`crate::model`].

use std::net::IpAddr;

/// One `tcp-check` line, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheckRule {
    /// `comment <msg>` written on the rule itself.
    pub comment: Option<String>,
    pub action: TcpCheckAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpCheckAction {
    /// `tcp-check connect …`: opens a (new) connection.
    Connect(TcpCheckConnect),
    /// `tcp-check send <string>` (`binary` false) or `send-binary <hex>` (`binary` true).
    Send {
        data: Vec<u8>,
        binary: bool,
    },
    Expect(TcpCheckExpect),
    /// `tcp-check comment <text>`: the comment of the rules that follow.
    Comment(String),
}

/// `tcp-check connect [default] [port N] [addr IP] [send-proxy] [linger]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpCheckConnect {
    pub default: bool,
    pub port: Option<u16>,
    pub addr: Option<IpAddr>,
    /// `send-proxy`: the connection starts with a PROXY header (the server's version).
    pub send_proxy: bool,
    pub linger: bool,
}

/// `tcp-check expect [options] [!] <match> <pattern>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheckExpect {
    /// `min-recv N`: bytes needed before the rule is judged.
    pub min_recv: Option<u32>,
    pub ok_status: Option<TcpCheckStatus>,
    pub error_status: Option<TcpCheckStatus>,
    pub tout_status: Option<TcpCheckStatus>,
    /// `on-success TEXT`: the info logged when the sequence passes on this rule.
    pub on_success: Option<String>,
    /// `on-error TEXT`: the info logged when this rule fails.
    pub on_error: Option<String>,
    pub status_code: Option<StatusCodeExpr>,
    pub negate: bool,
    pub matcher: TcpCheckMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpCheckMatch {
    /// `string`: these bytes appear in the response.
    String(Vec<u8>),
    /// `rstring`: the regex (validated at parse time) matches the response.
    Rstring(String),
    /// `binary`: these bytes (written in hex) appear in the response.
    Binary(Vec<u8>),
    /// `rbinary`: the regex matches the response written in upper-case hex.
    Rbinary(String),
}

/// The check statuses `ok-status`, `error-status` and `tout-status` accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpCheckStatus {
    L7Ok,
    L7OkC,
    L6Ok,
    L4Ok,
    L7Rsp,
    L7Sts,
    L6Rsp,
    L4Con,
    L7Tout,
    L6Tout,
    L4Tout,
}

impl TcpCheckStatus {
    pub const ALL: [TcpCheckStatus; 11] = [
        Self::L7Ok,
        Self::L7OkC,
        Self::L6Ok,
        Self::L4Ok,
        Self::L7Rsp,
        Self::L7Sts,
        Self::L6Rsp,
        Self::L4Con,
        Self::L7Tout,
        Self::L6Tout,
        Self::L4Tout,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::L7Ok => "L7OK",
            Self::L7OkC => "L7OKC",
            Self::L6Ok => "L6OK",
            Self::L4Ok => "L4OK",
            Self::L7Rsp => "L7RSP",
            Self::L7Sts => "L7STS",
            Self::L6Rsp => "L6RSP",
            Self::L4Con => "L4CON",
            Self::L7Tout => "L7TOUT",
            Self::L6Tout => "L6TOUT",
            Self::L4Tout => "L4TOUT",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// `status-code EXPR`: the forms that need no traffic context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusCodeExpr {
    /// `int(N)`.
    Int(i64),
    /// `res.payload(OFFSET,LENGTH)`: those response bytes read as a decimal number.
    Payload { offset: u32, length: u32 },
}

impl std::fmt::Display for StatusCodeExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(n) => write!(f, "int({n})"),
            Self::Payload { offset, length } => write!(f, "res.payload({offset},{length})"),
        }
    }
}

/// A health check that speaks a server's own protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolCheck {
    /// `option redis-check`.
    Redis,
    /// `option smtpchk [HELO|EHLO DOMAIN]`: the greeting command.
    Smtp { hello: String, domain: String },
    /// `option mysql-check [user NAME [post-41|pre-41]]`.
    Mysql { user: Option<MysqlUser> },
    /// `option pgsql-check user NAME`.
    Pgsql { user: String },
    /// `option ldap-check`.
    Ldap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlUser {
    pub name: String,
    /// `pre-41`: the client authentication packet of MySQL before 4.1.
    pub pre41: bool,
}

/// A string's bytes: characters up to U+00FF are one byte each (that is what `\xHH` escapes
/// produce), anything else is its UTF-8 encoding.
pub fn text_bytes(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        if (c as u32) < 0x100 {
            out.push(c as u32 as u8);
        } else {
            let mut b = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
    }
    out
}

/// The inverse of [`text_bytes`]: one character per byte.
pub fn bytes_text(b: &[u8]) -> String {
    b.iter().map(|&b| char::from(b)).collect()
}

/// Upper-case hex of `b`, as `send-binary` and `expect binary` are written back.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02X}")).collect()
}
