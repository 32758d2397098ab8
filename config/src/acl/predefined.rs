//! HAProxy's predefined ACLs (`TRUE`, `HTTP`, `METH_GET`, `LOCALHOST`, …) and what each one
//! tests, written as an ordinary ACL expression.

use std::fmt;

use super::fetch::{Fetch, SampleExpr};
use super::pattern::{IntPattern, Matcher, RegexPattern};
use super::AclExpr;
use crate::net::IpNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Predefined {
    True,
    False,
    Http,
    Http10,
    Http11,
    HttpContent,
    HttpUrlAbs,
    HttpUrlSlash,
    HttpUrlStar,
    Localhost,
    MethConnect,
    MethDelete,
    MethGet,
    MethHead,
    MethOptions,
    MethPost,
    MethPut,
    MethTrace,
    RdpCookie,
    ReqContent,
    WaitEnd,
}

impl Predefined {
    pub const ALL: [Predefined; 21] = [
        Predefined::True,
        Predefined::False,
        Predefined::Http,
        Predefined::Http10,
        Predefined::Http11,
        Predefined::HttpContent,
        Predefined::HttpUrlAbs,
        Predefined::HttpUrlSlash,
        Predefined::HttpUrlStar,
        Predefined::Localhost,
        Predefined::MethConnect,
        Predefined::MethDelete,
        Predefined::MethGet,
        Predefined::MethHead,
        Predefined::MethOptions,
        Predefined::MethPost,
        Predefined::MethPut,
        Predefined::MethTrace,
        Predefined::RdpCookie,
        Predefined::ReqContent,
        Predefined::WaitEnd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Predefined::True => "TRUE",
            Predefined::False => "FALSE",
            Predefined::Http => "HTTP",
            Predefined::Http10 => "HTTP_1.0",
            Predefined::Http11 => "HTTP_1.1",
            Predefined::HttpContent => "HTTP_CONTENT",
            Predefined::HttpUrlAbs => "HTTP_URL_ABS",
            Predefined::HttpUrlSlash => "HTTP_URL_SLASH",
            Predefined::HttpUrlStar => "HTTP_URL_STAR",
            Predefined::Localhost => "LOCALHOST",
            Predefined::MethConnect => "METH_CONNECT",
            Predefined::MethDelete => "METH_DELETE",
            Predefined::MethGet => "METH_GET",
            Predefined::MethHead => "METH_HEAD",
            Predefined::MethOptions => "METH_OPTIONS",
            Predefined::MethPost => "METH_POST",
            Predefined::MethPut => "METH_PUT",
            Predefined::MethTrace => "METH_TRACE",
            Predefined::RdpCookie => "RDP_COOKIE",
            Predefined::ReqContent => "REQ_CONTENT",
            Predefined::WaitEnd => "WAIT_END",
        }
    }

    pub fn from_name(name: &str) -> Option<Predefined> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// What the ACL tests, as the `acl` line HAProxy documents for it.
    pub fn expr(self) -> AclExpr {
        let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let method = |v: &[&str]| expr(Fetch::Method, Matcher::Str(strs(v)));
        let positive = vec![IntPattern::Range {
            min: Some(1),
            max: None,
        }];
        match self {
            Predefined::True => expr(Fetch::AlwaysTrue, Matcher::Bool),
            Predefined::False => expr(Fetch::AlwaysFalse, Matcher::Bool),
            Predefined::Http => expr(Fetch::ReqProtoHttp, Matcher::Bool),
            Predefined::Http10 => expr(Fetch::ReqVer, Matcher::Str(strs(&["1.0"]))),
            Predefined::Http11 => expr(Fetch::ReqVer, Matcher::Str(strs(&["1.1"]))),
            Predefined::HttpContent => expr(
                Fetch::ReqHdr {
                    name: Some("content-length".into()),
                    occ: None,
                },
                Matcher::Int(positive),
            ),
            Predefined::HttpUrlAbs => expr(
                Fetch::Url,
                Matcher::Reg(vec![
                    RegexPattern::new("^[^/:]*://", false).expect("valid literal regex")
                ]),
            ),
            Predefined::HttpUrlSlash => expr(Fetch::Url, Matcher::Beg(strs(&["/"]))),
            Predefined::HttpUrlStar => expr(Fetch::Url, Matcher::Str(strs(&["*"]))),
            Predefined::Localhost => expr(
                Fetch::Src,
                Matcher::Ip(vec![
                    "127.0.0.1/8"
                        .parse::<IpNet>()
                        .expect("valid literal network"),
                    "::1".parse::<IpNet>().expect("valid literal network"),
                ]),
            ),
            Predefined::MethConnect => method(&["CONNECT"]),
            Predefined::MethDelete => method(&["DELETE"]),
            // As in HAProxy, a HEAD request counts as a GET.
            Predefined::MethGet => method(&["GET", "HEAD"]),
            Predefined::MethHead => method(&["HEAD"]),
            Predefined::MethOptions => method(&["OPTIONS"]),
            Predefined::MethPost => method(&["POST"]),
            Predefined::MethPut => method(&["PUT"]),
            Predefined::MethTrace => method(&["TRACE"]),
            Predefined::RdpCookie => expr(Fetch::ReqRdpCookieCnt, Matcher::Int(positive)),
            Predefined::ReqContent => expr(Fetch::ReqLen, Matcher::Int(positive)),
            Predefined::WaitEnd => expr(Fetch::WaitEnd, Matcher::Bool),
        }
    }
}

fn expr(fetch: Fetch, matcher: Matcher) -> AclExpr {
    AclExpr {
        sample: SampleExpr::new(fetch),
        ignore_case: false,
        no_dns: false,
        matcher,
    }
}

impl fmt::Display for Predefined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
