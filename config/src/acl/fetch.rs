//! Sample expressions: what an ACL, a `%[…]` log-format part or a rule reads from a stream
//! (`hdr(host)`, `src`, `nbsrv(app)`…) and the converters applied to it (`,lower`).

use std::fmt;

use super::convert::Converter;
use crate::acl::var::VarName;
use crate::diag::nearest;

/// Why a piece of text is not a valid sample expression, pattern or format; the caller adds
/// the file, line and keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub help: Option<String>,
}

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// The type of value a fetch or converter yields; it decides an ACL's default match method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleType {
    Bool,
    Int,
    Ip,
    Str,
    /// Raw bytes (`req.payload`): matched against hexadecimal patterns by default.
    Bin,
}

/// A sample fetch. Header and cookie names are kept as written; HTTP header names compare
/// case-insensitively at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// `src`: the client's address.
    Src,
    /// `src_port`: the client's port.
    SrcPort,
    /// `dst`: the local address the client reached.
    Dst,
    /// `dst_port`: the local port the client reached.
    DstPort,
    /// `method`: the request method.
    Method,
    /// `path`: the request path, without the query string.
    Path,
    /// `url`: the request target as sent.
    Url,
    /// `query`: the query string, without the `?`.
    Query,
    /// `base`: the Host header followed by the path.
    Base,
    /// `req.ver`: the request's HTTP version, `1.0` or `1.1`.
    ReqVer,
    /// `req.len`: bytes of request data buffered so far.
    ReqLen,
    /// `req.proto_http`: true once the buffered request parses as HTTP.
    ReqProtoHttp,
    /// `req.rdp_cookie_cnt`: number of RDP cookies in the buffered request.
    ReqRdpCookieCnt,
    /// `wait_end`: true once the `tcp-request inspect-delay` has expired.
    WaitEnd,
    /// `req.ssl_sni`, also `req_ssl_sni`: the server name of the TLS ClientHello buffered
    /// in a `mode tcp` stream.
    ReqSslSni,
    /// `req.ssl_hello_type`, also `req_ssl_hello_type`: the handshake type of the TLS record
    /// buffered (1 for a ClientHello), once the whole handshake message is there.
    ReqSslHelloType,
    /// `req.ssl_ver`, also `req_ssl_ver`: the version the ClientHello offers, major in the
    /// high 16 bits (TLS 1.2 is `0x30003`); ACL patterns are written `3.3`.
    ReqSslVer,
    /// `req.payload(OFFSET,LENGTH)`: LENGTH bytes of the buffered request from OFFSET; a
    /// LENGTH of 0 means up to the end of what is buffered.
    ReqPayload {
        offset: u32,
        length: u32,
    },
    /// `req.payload_lv(OFFSET1,LENGTH[,OFFSET2])`: a block whose size is the LENGTH-byte
    /// big-endian integer at OFFSET1, starting right after that integer or at OFFSET2.
    ReqPayloadLv {
        len_offset: u32,
        len_size: u8,
        data: Option<DataOffset>,
    },
    /// `req.hdr([NAME[,OCC]])`, also spelled `hdr`: header values. `occ` counts from 1,
    /// negative from the last one; `None` means every occurrence.
    ReqHdr {
        name: Option<String>,
        occ: Option<i32>,
    },
    /// `req.hdr_cnt([NAME])`, also `hdr_cnt`: how many times the header occurs.
    ReqHdrCnt {
        name: Option<String>,
    },
    /// `res.hdr([NAME[,OCC]])`, also `shdr`: response header values.
    ResHdr {
        name: Option<String>,
        occ: Option<i32>,
    },
    /// `req.cook([NAME])`, also `cook`: a request cookie's value.
    ReqCook {
        name: Option<String>,
    },
    /// `req.cook_cnt([NAME])`, also `cook_cnt`: how many times the cookie occurs.
    ReqCookCnt {
        name: Option<String>,
    },
    /// `url_param([NAME])`, also `urlp`: a query-string parameter's value.
    UrlParam {
        name: Option<String>,
    },
    /// `nbsrv([BACKEND])`: usable servers in the backend (the current one when `None`).
    Nbsrv {
        backend: Option<String>,
    },
    /// `be_name`: the backend chosen for the stream.
    BeName,
    /// `unique-id`: the request's ID built from the frontend's `unique-id-format`.
    UniqueId,
    /// `fe_name`: the frontend that accepted the stream.
    FeName,
    /// `srv_name`: the server the stream was sent to.
    SrvName,
    /// `status`: the response status code.
    Status,
    /// `http_auth(USERLIST)`: true when the request's Basic credentials name a user of the
    /// userlist with the right password.
    HttpAuth {
        userlist: String,
    },
    /// `http_auth_group(USERLIST)`: the groups of the user the Basic credentials prove, so
    /// that an ACL lists the groups it admits.
    HttpAuthGroup {
        userlist: String,
    },
    /// `var(SCOPE.NAME[,DEFAULT])`: a variable set by `set-var`, or the default when it is
    /// not set.
    Var {
        var: VarName,
        default: Option<String>,
    },
    /// `ssl_fc*`, `ssl_c_*`: what the client connection's TLS handshake settled.
    Ssl(SslFetch),
    /// `str(TEXT)`: a constant string.
    Str(String),
    /// `int(N)`: a constant integer.
    Int(i64),
    AlwaysTrue,
    AlwaysFalse,
}

/// The TLS fetches of the client connection, each with its HAProxy name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslFetch {
    /// `ssl_fc`: the connection is TLS.
    Fc,
    /// `ssl_fc_sni`: the name the client asked for.
    FcSni,
    /// `ssl_fc_has_sni`: the client sent a name.
    FcHasSni,
    /// `ssl_fc_protocol`: `TLSv1.2` or `TLSv1.3`.
    FcProtocol,
    /// `ssl_fc_cipher`: the suite, by its OpenSSL name.
    FcCipher,
    /// `ssl_fc_alpn`: the protocol ALPN settled on.
    FcAlpn,
    /// `ssl_fc_is_resumed`: the handshake resumed a session.
    FcIsResumed,
    /// `ssl_fc_use_keysize`, `ssl_fc_alg_keysize`: the suite's key size in bits.
    FcKeysize,
    /// `ssl_c_used`: the client presented a certificate.
    CUsed,
    /// `ssl_c_verify`: the verification result (0: verified, or no certificate); a
    /// certificate that fails verification ends the handshake, so it is never seen here.
    CVerify,
    /// `ssl_c_s_dn`, `ssl_c_i_dn`: subject and issuer of the client certificate.
    CSDn,
    CIDn,
    /// `ssl_c_serial`: the serial number, binary.
    CSerial,
    /// `ssl_c_sha1`: the SHA-1 of the certificate's DER, binary.
    CSha1,
    /// `ssl_c_notbefore`, `ssl_c_notafter`: validity, as `YYMMDDhhmmssZ`.
    CNotBefore,
    CNotAfter,
}

const SSL_FETCHES: &[(&str, SslFetch)] = &[
    ("ssl_fc", SslFetch::Fc),
    ("ssl_fc_sni", SslFetch::FcSni),
    ("ssl_fc_has_sni", SslFetch::FcHasSni),
    ("ssl_fc_protocol", SslFetch::FcProtocol),
    ("ssl_fc_cipher", SslFetch::FcCipher),
    ("ssl_fc_alpn", SslFetch::FcAlpn),
    ("ssl_fc_is_resumed", SslFetch::FcIsResumed),
    ("ssl_fc_use_keysize", SslFetch::FcKeysize),
    ("ssl_fc_alg_keysize", SslFetch::FcKeysize),
    ("ssl_c_used", SslFetch::CUsed),
    ("ssl_c_verify", SslFetch::CVerify),
    ("ssl_c_s_dn", SslFetch::CSDn),
    ("ssl_c_i_dn", SslFetch::CIDn),
    ("ssl_c_serial", SslFetch::CSerial),
    ("ssl_c_sha1", SslFetch::CSha1),
    ("ssl_c_notbefore", SslFetch::CNotBefore),
    ("ssl_c_notafter", SslFetch::CNotAfter),
];

impl SslFetch {
    pub fn name(self) -> &'static str {
        SSL_FETCHES
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .expect("every TLS fetch is named")
    }

    pub fn output_type(self) -> SampleType {
        match self {
            SslFetch::Fc | SslFetch::FcHasSni | SslFetch::FcIsResumed | SslFetch::CUsed => {
                SampleType::Bool
            }
            SslFetch::FcKeysize | SslFetch::CVerify => SampleType::Int,
            _ => SampleType::Str,
        }
    }
}

/// Where `req.payload_lv` finds its block: an absolute offset (`12`), or one relative to the
/// end of the length field (`+2`, `-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataOffset {
    Absolute(u32),
    Relative(i64),
}

impl fmt::Display for DataOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataOffset::Absolute(n) => write!(f, "{n}"),
            DataOffset::Relative(n) => write!(f, "{n:+}"),
        }
    }
}

/// Every fetch name accepted, aliases included, for "did you mean" help.
pub const FETCH_NAMES: &[&str] = &[
    "src",
    "src_port",
    "dst",
    "dst_port",
    "method",
    "path",
    "url",
    "query",
    "base",
    "req.ver",
    "req_ver",
    "req.len",
    "req_len",
    "req.proto_http",
    "req_proto_http",
    "req.rdp_cookie_cnt",
    "rdp_cookie_cnt",
    "wait_end",
    "req.ssl_sni",
    "req_ssl_sni",
    "req.ssl_hello_type",
    "req_ssl_hello_type",
    "req.ssl_ver",
    "req_ssl_ver",
    "req.payload",
    "payload",
    "req.payload_lv",
    "payload_lv",
    "req.hdr",
    "hdr",
    "req.hdr_cnt",
    "hdr_cnt",
    "res.hdr",
    "shdr",
    "req.cook",
    "cook",
    "req.cook_cnt",
    "cook_cnt",
    "url_param",
    "urlp",
    "nbsrv",
    "be_name",
    "unique-id",
    "fe_name",
    "srv_name",
    "status",
    "http_auth",
    "http_auth_group",
    "var",
    "str",
    "int",
    "always_true",
    "always_false",
];

impl Fetch {
    /// Builds a fetch from its name and its arguments as written inside the parentheses.
    pub fn from_parts(name: &str, args: &[String]) -> Result<Fetch, ParseError> {
        let no_args = |f: Fetch| {
            if args.is_empty() {
                Ok(f)
            } else {
                Err(ParseError::new(format!("fetch '{name}' takes no argument")))
            }
        };
        let opt_name = || -> Result<Option<String>, ParseError> {
            match args {
                [] => Ok(None),
                [n] if !n.is_empty() => Ok(Some(n.clone())),
                [_] => Ok(None),
                _ => Err(ParseError::new(format!(
                    "fetch '{name}' takes at most one argument, got {}",
                    args.len()
                ))),
            }
        };
        let hdr_args = || -> Result<(Option<String>, Option<i32>), ParseError> {
            match args {
                [] => Ok((None, None)),
                [n] => Ok(((!n.is_empty()).then(|| n.clone()), None)),
                [n, occ] => {
                    let occ: i32 = occ.parse().map_err(|_| {
                        ParseError::new(format!("occurrence '{occ}' of '{name}' is not an integer"))
                            .with_help("write the occurrence as 1, 2, … or -1 for the last one")
                    })?;
                    Ok((
                        (!n.is_empty()).then(|| n.clone()),
                        (occ != 0).then_some(occ),
                    ))
                }
                _ => Err(ParseError::new(format!(
                    "fetch '{name}' takes at most two arguments (NAME,OCC)"
                ))),
            }
        };
        match name {
            "src" => no_args(Fetch::Src),
            "src_port" => no_args(Fetch::SrcPort),
            "dst" => no_args(Fetch::Dst),
            "dst_port" => no_args(Fetch::DstPort),
            "method" => no_args(Fetch::Method),
            "path" => no_args(Fetch::Path),
            "url" => no_args(Fetch::Url),
            "query" => no_args(Fetch::Query),
            "base" => no_args(Fetch::Base),
            "req.ver" | "req_ver" => no_args(Fetch::ReqVer),
            "req.len" | "req_len" => no_args(Fetch::ReqLen),
            "req.proto_http" | "req_proto_http" => no_args(Fetch::ReqProtoHttp),
            "req.rdp_cookie_cnt" | "rdp_cookie_cnt" => no_args(Fetch::ReqRdpCookieCnt),
            "wait_end" => no_args(Fetch::WaitEnd),
            "req.ssl_sni" | "req_ssl_sni" => no_args(Fetch::ReqSslSni),
            "req.ssl_hello_type" | "req_ssl_hello_type" => no_args(Fetch::ReqSslHelloType),
            "req.ssl_ver" | "req_ssl_ver" => no_args(Fetch::ReqSslVer),
            "req.payload" | "payload" => payload_args(name, args),
            "req.payload_lv" | "payload_lv" => payload_lv_args(name, args),
            "req.hdr" | "hdr" => hdr_args().map(|(name, occ)| Fetch::ReqHdr { name, occ }),
            "req.hdr_cnt" | "hdr_cnt" => opt_name().map(|name| Fetch::ReqHdrCnt { name }),
            "res.hdr" | "shdr" => hdr_args().map(|(name, occ)| Fetch::ResHdr { name, occ }),
            "req.cook" | "cook" => opt_name().map(|name| Fetch::ReqCook { name }),
            "req.cook_cnt" | "cook_cnt" => opt_name().map(|name| Fetch::ReqCookCnt { name }),
            "url_param" | "urlp" => opt_name().map(|name| Fetch::UrlParam { name }),
            "nbsrv" => opt_name().map(|backend| Fetch::Nbsrv { backend }),
            "be_name" => no_args(Fetch::BeName),
            "unique-id" => no_args(Fetch::UniqueId),
            "fe_name" => no_args(Fetch::FeName),
            "srv_name" => no_args(Fetch::SrvName),
            "status" => no_args(Fetch::Status),
            "http_auth" | "http_auth_group" => {
                let [userlist] = args else {
                    return Err(ParseError::new(format!(
                        "fetch '{name}' takes one argument, the userlist"
                    ))
                    .with_help(format!("write {name}(USERLIST)")));
                };
                let userlist = userlist.clone();
                Ok(if name == "http_auth" {
                    Fetch::HttpAuth { userlist }
                } else {
                    Fetch::HttpAuthGroup { userlist }
                })
            }
            "var" => {
                let (var, default) = match args {
                    [v] => (v, None),
                    [v, d] => (v, Some(d.clone())),
                    _ => {
                        return Err(ParseError::new("fetch 'var' takes a variable name")
                            .with_help("write var(SCOPE.NAME) or var(SCOPE.NAME,DEFAULT)"))
                    }
                };
                let var = VarName::parse(var.trim()).map_err(|m| {
                    ParseError::new(m)
                        .with_help("SCOPE is one of proc, sess, txn, req, res: var(txn.name)")
                })?;
                Ok(Fetch::Var { var, default })
            }
            "str" => {
                match args {
                    [v] => Ok(Fetch::Str(v.clone())),
                    _ => Err(ParseError::new("fetch 'str' takes one argument")
                        .with_help("write str(TEXT)")),
                }
            }
            "int" => match args {
                [v] => v.trim().parse().map(Fetch::Int).map_err(|_| {
                    ParseError::new(format!("'{v}' is not an integer"))
                        .with_help("write int(NUMBER)")
                }),
                _ => Err(ParseError::new("fetch 'int' takes one argument")
                    .with_help("write int(NUMBER)")),
            },
            "always_true" => no_args(Fetch::AlwaysTrue),
            "always_false" => no_args(Fetch::AlwaysFalse),
            "ssl_fc_session_id" | "ssl_fc_unique_id" | "ssl_fc_session_key" => {
                Err(ParseError::new(format!(
                    "fetch '{name}' is not available: rustls does not expose it"
                ))
                .with_help("see docs/tls.md for the TLS fetches ringlb has"))
            }
            _ => match SSL_FETCHES.iter().find(|(n, _)| *n == name) {
                Some((_, f)) => no_args(Fetch::Ssl(*f)),
                None => Err(unknown_fetch(name)),
            },
        }
    }

    /// The canonical name, as written back by `Display`.
    pub fn name(&self) -> &'static str {
        match self {
            Fetch::Src => "src",
            Fetch::SrcPort => "src_port",
            Fetch::Dst => "dst",
            Fetch::DstPort => "dst_port",
            Fetch::Method => "method",
            Fetch::Path => "path",
            Fetch::Url => "url",
            Fetch::Query => "query",
            Fetch::Base => "base",
            Fetch::ReqVer => "req.ver",
            Fetch::ReqLen => "req.len",
            Fetch::ReqProtoHttp => "req.proto_http",
            Fetch::ReqRdpCookieCnt => "req.rdp_cookie_cnt",
            Fetch::WaitEnd => "wait_end",
            Fetch::ReqSslSni => "req.ssl_sni",
            Fetch::ReqSslHelloType => "req.ssl_hello_type",
            Fetch::ReqSslVer => "req.ssl_ver",
            Fetch::ReqPayload { .. } => "req.payload",
            Fetch::ReqPayloadLv { .. } => "req.payload_lv",
            Fetch::ReqHdr { .. } => "hdr",
            Fetch::ReqHdrCnt { .. } => "hdr_cnt",
            Fetch::ResHdr { .. } => "res.hdr",
            Fetch::ReqCook { .. } => "cook",
            Fetch::ReqCookCnt { .. } => "cook_cnt",
            Fetch::UrlParam { .. } => "urlp",
            Fetch::Nbsrv { .. } => "nbsrv",
            Fetch::BeName => "be_name",
            Fetch::UniqueId => "unique-id",
            Fetch::FeName => "fe_name",
            Fetch::SrvName => "srv_name",
            Fetch::Status => "status",
            Fetch::HttpAuth { .. } => "http_auth",
            Fetch::HttpAuthGroup { .. } => "http_auth_group",
            Fetch::Var { .. } => "var",
            Fetch::Str(_) => "str",
            Fetch::Int(_) => "int",
            Fetch::AlwaysTrue => "always_true",
            Fetch::AlwaysFalse => "always_false",
            Fetch::Ssl(f) => f.name(),
        }
    }

    pub fn output_type(&self) -> SampleType {
        match self {
            Fetch::Ssl(f) => f.output_type(),
            Fetch::Src | Fetch::Dst => SampleType::Ip,
            Fetch::SrcPort
            | Fetch::DstPort
            | Fetch::ReqLen
            | Fetch::ReqSslHelloType
            | Fetch::ReqSslVer
            | Fetch::ReqRdpCookieCnt
            | Fetch::ReqHdrCnt { .. }
            | Fetch::ReqCookCnt { .. }
            | Fetch::Nbsrv { .. }
            | Fetch::Status
            | Fetch::Int(_) => SampleType::Int,
            Fetch::ReqProtoHttp
            | Fetch::WaitEnd
            | Fetch::HttpAuth { .. }
            | Fetch::AlwaysTrue
            | Fetch::AlwaysFalse => SampleType::Bool,
            Fetch::Method
            | Fetch::Path
            | Fetch::Url
            | Fetch::Query
            | Fetch::Base
            | Fetch::ReqVer
            | Fetch::ReqSslSni
            | Fetch::ReqHdr { .. }
            | Fetch::ResHdr { .. }
            | Fetch::ReqCook { .. }
            | Fetch::UrlParam { .. }
            | Fetch::BeName
            | Fetch::UniqueId
            | Fetch::FeName
            | Fetch::SrvName
            | Fetch::HttpAuthGroup { .. }
            // A variable holds whatever was stored; it matches as a string unless `-m` says
            // otherwise.
            | Fetch::Var { .. }
            | Fetch::Str(_) => SampleType::Str,
            Fetch::ReqPayload { .. } | Fetch::ReqPayloadLv { .. } => SampleType::Bin,
        }
    }

    fn args(&self) -> Vec<String> {
        match self {
            Fetch::ReqHdr { name, occ } | Fetch::ResHdr { name, occ } => {
                let mut args = vec![name.clone().unwrap_or_default()];
                if let Some(occ) = occ {
                    args.push(occ.to_string());
                }
                if args == [""] {
                    args.clear();
                }
                args
            }
            Fetch::ReqHdrCnt { name }
            | Fetch::ReqCook { name }
            | Fetch::ReqCookCnt { name }
            | Fetch::UrlParam { name }
            | Fetch::Nbsrv { backend: name } => name.iter().cloned().collect(),
            Fetch::HttpAuth { userlist } | Fetch::HttpAuthGroup { userlist } => {
                vec![userlist.clone()]
            }
            Fetch::Var { var, default } => {
                let mut args = vec![var.to_string()];
                args.extend(default.iter().cloned());
                args
            }
            Fetch::Str(s) => vec![s.clone()],
            Fetch::Int(n) => vec![n.to_string()],
            Fetch::ReqPayload { offset, length } => vec![offset.to_string(), length.to_string()],
            Fetch::ReqPayloadLv {
                len_offset,
                len_size,
                data,
            } => {
                let mut args = vec![len_offset.to_string(), len_size.to_string()];
                args.extend(data.map(|d| d.to_string()));
                args
            }
            _ => Vec::new(),
        }
    }
}

/// A non-negative offset or length argument of `name`.
fn payload_number(name: &str, what: &str, v: &str) -> Result<u32, ParseError> {
    v.trim().parse().map_err(|_| {
        ParseError::new(format!(
            "{what} '{v}' of '{name}' is not a non-negative integer"
        ))
        .with_help(format!(
            "write {name}(OFFSET,LENGTH) with byte counts, e.g. {name}(0,3)"
        ))
    })
}

/// `req.payload(OFFSET,LENGTH)`.
fn payload_args(name: &str, args: &[String]) -> Result<Fetch, ParseError> {
    let [offset, length] = args else {
        return Err(ParseError::new(format!(
            "fetch '{name}' takes two arguments, OFFSET and LENGTH"
        ))
        .with_help(format!(
            "write {name}(0,3) for the first 3 bytes, LENGTH 0 for all that is buffered"
        )));
    };
    Ok(Fetch::ReqPayload {
        offset: payload_number(name, "offset", offset)?,
        length: payload_number(name, "length", length)?,
    })
}

/// `req.payload_lv(OFFSET1,LENGTH[,OFFSET2])`: OFFSET2 with a sign is relative to the end of
/// the length field, without one it is absolute, as in HAProxy.
fn payload_lv_args(name: &str, args: &[String]) -> Result<Fetch, ParseError> {
    let usage = || format!("write {name}(OFFSET1,LENGTH[,OFFSET2]), e.g. {name}(3,2)");
    let (len_offset, len_size, data) = match args {
        [a, b] => (a, b, None),
        [a, b, c] => (a, b, Some(c)),
        _ => {
            return Err(
                ParseError::new(format!("fetch '{name}' takes two or three arguments"))
                    .with_help(usage()),
            )
        }
    };
    let len_offset = payload_number(name, "offset", len_offset)?;
    // The length field is read as a big-endian integer: more than 4 bytes cannot size a
    // block that fits in a buffer.
    let len_size = match len_size.trim().parse::<u8>() {
        Ok(n @ 1..=4) => n,
        _ => {
            return Err(ParseError::new(format!(
                "length '{len_size}' of '{name}' must be 1 to 4 bytes"
            ))
            .with_help(usage()))
        }
    };
    let data = match data.map(|d| d.trim()) {
        None | Some("") => None,
        Some(d) => {
            let bad = || {
                ParseError::new(format!("offset2 '{d}' of '{name}' is not an integer"))
                    .with_help("write an absolute offset (12) or one relative to the end of the length field (+2, -1)")
            };
            Some(if d.starts_with(['+', '-']) {
                let n: i64 = d.parse().map_err(|_| bad())?;
                if i64::from(len_offset) + i64::from(len_size) + n < 0 {
                    return Err(ParseError::new(format!(
                        "offset2 '{d}' of '{name}' points before the start of the request"
                    ))
                    .with_help(usage()));
                }
                DataOffset::Relative(n)
            } else {
                DataOffset::Absolute(d.parse().map_err(|_| bad())?)
            })
        }
    };
    Ok(Fetch::ReqPayloadLv {
        len_offset,
        len_size,
        data,
    })
}

impl Fetch {
    /// Whether the fetch reads the raw bytes a `mode tcp` stream buffered: HAProxy's layer-6
    /// request fetches, which yield nothing on an HTTP proxy.
    pub fn reads_payload(&self) -> bool {
        matches!(
            self,
            Fetch::ReqSslSni
                | Fetch::ReqSslHelloType
                | Fetch::ReqSslVer
                | Fetch::ReqPayload { .. }
                | Fetch::ReqPayloadLv { .. }
        )
    }
}

fn unknown_fetch(name: &str) -> ParseError {
    let e = ParseError::new(format!("unknown fetch method '{name}'"));
    let names = FETCH_NAMES
        .iter()
        .copied()
        .chain(SSL_FETCHES.iter().map(|(n, _)| *n));
    match nearest(name, names) {
        Some(n) => e.with_help(format!("did you mean '{n}'?")),
        None => e.with_help("known fetches include src, dst, path, url, hdr(NAME), cook(NAME), urlp(NAME), method, nbsrv(BACKEND), status"),
    }
}

impl fmt::Display for Fetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        let args = self.args();
        if !args.is_empty() {
            write!(f, "({})", args.join(","))?;
        }
        Ok(())
    }
}

/// A fetch followed by its converters: `req.hdr(host),lower`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleExpr {
    pub fetch: Fetch,
    pub converters: Vec<Converter>,
}

impl SampleExpr {
    pub fn new(fetch: Fetch) -> Self {
        Self {
            fetch,
            converters: Vec::new(),
        }
    }

    /// Parses `fetch[(args)][,converter[(args)]]…`.
    pub fn parse(text: &str) -> Result<SampleExpr, ParseError> {
        let mut items = split_items(text)?.into_iter();
        let (name, args) = items.next().unwrap_or_default();
        let fetch = Fetch::from_parts(&name, &args)?;
        let converters = items
            .map(|(name, args)| Converter::from_parts(&name, &args))
            .collect::<Result<_, _>>()?;
        Ok(SampleExpr { fetch, converters })
    }

    /// The type of the final value, after every converter.
    pub fn output_type(&self) -> SampleType {
        self.converters
            .last()
            .map_or(self.fetch.output_type(), Converter::output_type)
    }
}

impl fmt::Display for SampleExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.fetch)?;
        for c in &self.converters {
            write!(f, ",{c}")?;
        }
        Ok(())
    }
}

/// Splits `a(x,y),b,c(z)` into `[("a", ["x","y"]), ("b", []), ("c", ["z"])]`.
pub(crate) fn split_items(text: &str) -> Result<Vec<(String, Vec<String>)>, ParseError> {
    let mut items = Vec::new();
    let mut rest = text;
    loop {
        let end = rest.find([',', '(']).unwrap_or(rest.len());
        let name = rest[..end].trim().to_string();
        if name.is_empty() {
            return Err(ParseError::new(format!(
                "missing fetch or converter name in '{text}'"
            )));
        }
        rest = &rest[end..];
        let mut args = Vec::new();
        if let Some(after) = rest.strip_prefix('(') {
            let close = after.find(')').ok_or_else(|| {
                ParseError::new(format!("missing ')' after the arguments of '{name}'"))
                    .with_help("write arguments as NAME(ARG1,ARG2)")
            })?;
            let inner = &after[..close];
            if !inner.is_empty() {
                args = inner.split(',').map(str::to_string).collect();
            }
            rest = &after[close + 1..];
        }
        items.push((name, args));
        if rest.is_empty() {
            return Ok(items);
        }
        rest = rest.strip_prefix(',').ok_or_else(|| {
            ParseError::new(format!("unexpected '{rest}' in sample expression '{text}'"))
                .with_help("separate converters with commas: hdr(host),lower")
        })?;
    }
}
