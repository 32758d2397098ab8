//! The typed configuration model: one complete value per proxy, `defaults` already applied.
//!
//! Parse, don't validate: every field holds only values the engine can use as they are.
//! Positions (`Location`) never take part in equality, so a model equals the model parsed
//! back from its own `dump`.

mod balance;
mod bind;
mod global;
mod logging;
mod proxy;
mod server;
mod tls;

pub use crate::tcpcheck::{
    MysqlUser, ProtocolCheck, StatusCodeExpr, TcpCheckAction, TcpCheckConnect, TcpCheckExpect,
    TcpCheckMatch, TcpCheckRule, TcpCheckStatus,
};
pub use balance::*;
pub use bind::*;
pub use global::*;
pub use logging::*;
pub use proxy::*;
pub use server::*;
pub use tls::*;

/// A whole configuration, every file merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub global: Global,
    /// Frontends, backends and listens in the order they were declared.
    pub proxies: Vec<Proxy>,
    pub userlists: Vec<Userlist>,
    pub http_errors: Vec<HttpErrors>,
}

impl Config {
    pub fn proxy(&self, name: &str) -> Option<&Proxy> {
        self.proxies.iter().find(|p| p.name == name)
    }

    /// Proxies that accept connections (`frontend` and `listen`).
    pub fn frontends(&self) -> impl Iterator<Item = &Proxy> {
        self.proxies.iter().filter(|p| p.kind.has_frontend())
    }

    /// Proxies that hold servers (`backend` and `listen`).
    pub fn backends(&self) -> impl Iterator<Item = &Proxy> {
        self.proxies.iter().filter(|p| p.kind.has_backend())
    }
}

pub use crate::net::IpNet;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipnet_contains_respects_the_prefix() {
        let net = IpNet {
            addr: "10.1.0.0".parse().unwrap(),
            prefix: 16,
        };
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let any = IpNet {
            addr: "0.0.0.0".parse().unwrap(),
            prefix: 0,
        };
        assert!(any.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn ipnet_parses_addresses_prefixes_and_masks() {
        let n: IpNet = "10.0.0.0/8".parse().unwrap();
        assert_eq!((n.addr.to_string(), n.prefix), ("10.0.0.0".into(), 8));
        let n: IpNet = "192.168.1.7".parse().unwrap();
        assert_eq!(n.prefix, 32);
        let n: IpNet = "10.1.0.0/255.255.0.0".parse().unwrap();
        assert_eq!(n.prefix, 16);
        let n: IpNet = "2001:db8::/32".parse().unwrap();
        assert_eq!((n.prefix, n.to_string()), (32, "2001:db8::/32".to_string()));
        assert_eq!("::1".parse::<IpNet>().unwrap().prefix, 128);
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("::/129".parse::<IpNet>().is_err());
        assert!("10.0.0.0/255.0.255.0".parse::<IpNet>().is_err());
        assert!("300.1.1.1".parse::<IpNet>().is_err());
        assert!("example.com".parse::<IpNet>().is_err());
    }

    #[test]
    fn connection_modes_combine_to_the_stricter() {
        use HttpConnMode::*;
        assert_eq!(KeepAlive.combine(KeepAlive), KeepAlive);
        assert_eq!(KeepAlive.combine(ServerClose), ServerClose);
        assert_eq!(ServerClose.combine(KeepAlive), ServerClose);
        assert_eq!(Close.combine(KeepAlive), Close);
        assert_eq!(ServerClose.combine(Close), Close);
    }

    #[test]
    fn weight_is_bounded() {
        assert_eq!(Weight::new(256).map(Weight::get), Some(256));
        assert!(Weight::new(257).is_none());
    }
}
