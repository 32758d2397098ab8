//! Connection modes: the frontend × backend matrix of seed 002 (KAL / SCL / CLO) and what
//! each side of one exchange asked for in its `Connection` header.

use ringlb_config::model::HttpConnMode;

use crate::codec::head::{list_items, HeaderSpan, Version};

/// The `close`, `keep-alive` and `upgrade` options of a message's `Connection` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionTokens {
    pub close: bool,
    pub keep_alive: bool,
    pub upgrade: bool,
}

impl ConnectionTokens {
    pub fn parse(buf: &[u8], headers: &[HeaderSpan]) -> Self {
        let mut t = Self::default();
        for item in list_items(buf, headers, "connection") {
            t.close |= item.eq_ignore_ascii_case(b"close");
            t.keep_alive |= item.eq_ignore_ascii_case(b"keep-alive");
            t.upgrade |= item.eq_ignore_ascii_case(b"upgrade");
        }
        t
    }

    /// Whether the sender of a message of `version` expects the connection to stay open:
    /// HTTP/1.1 unless it says `close`, HTTP/1.0 only when it says `keep-alive`.
    pub fn persistent(self, version: Version) -> bool {
        !self.close && (version == Version::Http11 || self.keep_alive)
    }
}

/// What happens to each side's connection after one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangePlan {
    /// The mode in effect: the stricter of the frontend's and the backend's.
    pub mode: HttpConnMode,
    /// The client connection stays open for another request.
    pub client_keep_alive: bool,
    /// The server connection may go back to the idle pool.
    pub server_keep_alive: bool,
}

impl ExchangePlan {
    pub fn new(
        frontend: HttpConnMode,
        backend: HttpConnMode,
        client_version: Version,
        client: ConnectionTokens,
    ) -> Self {
        let mode = frontend.combine(backend);
        Self {
            mode,
            client_keep_alive: mode != HttpConnMode::Close && client.persistent(client_version),
            server_keep_alive: mode == HttpConnMode::KeepAlive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HttpConnMode::*;

    #[test]
    fn seed_matrix_combines_frontend_and_backend_modes() {
        let names = [KeepAlive, ServerClose, Close];
        let matrix = [
            [KeepAlive, ServerClose, Close],
            [ServerClose, ServerClose, Close],
            [Close, Close, Close],
        ];
        for (i, fe) in names.iter().enumerate() {
            for (j, be) in names.iter().enumerate() {
                let plan = ExchangePlan::new(*fe, *be, Version::Http11, Default::default());
                assert_eq!(plan.mode, matrix[i][j], "{fe:?} x {be:?}");
                assert_eq!(plan.client_keep_alive, matrix[i][j] != Close);
                assert_eq!(plan.server_keep_alive, matrix[i][j] == KeepAlive);
            }
        }
    }

    #[test]
    fn client_choice_limits_client_side_only() {
        let close = ConnectionTokens {
            close: true,
            ..Default::default()
        };
        let plan = ExchangePlan::new(KeepAlive, KeepAlive, Version::Http11, close);
        assert!(!plan.client_keep_alive);
        assert!(plan.server_keep_alive);
        let plain10 = ExchangePlan::new(KeepAlive, KeepAlive, Version::Http10, Default::default());
        assert!(!plain10.client_keep_alive);
        let ka = ConnectionTokens {
            keep_alive: true,
            ..Default::default()
        };
        assert!(ExchangePlan::new(KeepAlive, KeepAlive, Version::Http10, ka).client_keep_alive);
    }
}
