//! Load balancing: one trait every `balance` algorithm implements, in the spirit of
//! HAProxy's `lbprm` hooks (pick a server; a server went up or down; its weight changed; a
//! connection was taken or released), and one file per algorithm.
//!
//! An algorithm sees the backend's servers as [`LbServer`]s: their live weight and state,
//! and the connection counts every worker shares. Which servers are eligible is decided
//! here once for all algorithms ([`eligible`]): usable active servers, or, when none is, the
//! first usable backup (every usable backup with `option allbackups`).

pub mod consistent;
pub mod first;
pub mod hash;
pub mod leastconn;
pub mod map_based;
pub mod random;
pub mod roundrobin;
pub mod static_rr;

use std::sync::Arc;

use ringlb_config::model::{Balance, HashMethod, HashType};

use crate::backend::upstream::Pick;
use crate::backend::{BackendLoad, ServerId};

/// What an algorithm knows of one server.
#[derive(Debug, Clone)]
pub struct LbServer {
    /// The weight now (runtime changes included); 0 takes no new traffic.
    pub weight: u16,
    /// The weight from the configuration (`static-rr` ignores runtime changes).
    pub conf_weight: u16,
    /// Up and not `disabled`.
    pub up: bool,
    pub backup: bool,
}

impl LbServer {
    /// An active server that is up, configured with `weight` and still at it.
    pub fn up_with_weight(weight: u16) -> Self {
        Self {
            weight,
            conf_weight: weight,
            up: true,
            backup: false,
        }
    }

    pub fn usable(&self) -> bool {
        self.up && self.weight > 0
    }
}

/// The servers that may take new traffic, with the weight each takes it by.
pub fn eligible(
    servers: &[LbServer],
    allbackups: bool,
    conf_weights: bool,
) -> Vec<(ServerId, u16)> {
    let weight = |s: &LbServer| {
        if conf_weights {
            s.conf_weight
        } else {
            s.weight
        }
    };
    let pick = |backup: bool| -> Vec<(ServerId, u16)> {
        servers
            .iter()
            .enumerate()
            .filter(|(_, s)| s.backup == backup && s.up && weight(s) > 0)
            .map(|(i, s)| (ServerId(i), weight(s)))
            .collect()
    };
    let active = pick(false);
    if !active.is_empty() {
        return active;
    }
    let mut backups = pick(true);
    if !allbackups {
        backups.truncate(1);
    }
    backups
}

/// One pick: the request, the shared counters, and what must be passed over.
pub struct PickCtx<'a, 'p> {
    pub request: &'a Pick<'p>,
    pub load: &'a BackendLoad,
    /// The server that just failed (redispatch): chosen only when nothing else is eligible.
    pub avoid: Option<ServerId>,
    /// Pass over servers at their connection limit. Hashing ignores this: a key belongs to
    /// its server, and waits in that server's queue when it is full.
    pub skip_full: bool,
}

impl PickCtx<'_, '_> {
    /// Whether `id` should not be chosen by a load-driven algorithm.
    pub fn skipped(&self, id: ServerId) -> bool {
        Some(id) == self.avoid || (self.skip_full && self.load.server_full(id.0))
    }
}

/// A `balance` algorithm. Picking takes `&self` (algorithms keep their positions in cells or
/// shared atomics); changes of the server set take `&mut self`.
pub trait Balancer {
    /// The server for this request, or `None` when every eligible server is passed over.
    fn pick(&self, ctx: &PickCtx<'_, '_>) -> Option<ServerId>;

    /// Recomputes whatever the algorithm derives from the server set.
    fn rebuild(&mut self, servers: &[LbServer]);

    /// A server went up or down (health checks, maintenance).
    fn server_state(&mut self, servers: &[LbServer], _id: ServerId) {
        self.rebuild(servers);
    }

    /// A server's weight changed at run time.
    fn weight_changed(&mut self, servers: &[LbServer], _id: ServerId) {
        self.rebuild(servers);
    }

    /// A request took a connection slot on `id`. Counts live in [`BackendLoad`], which
    /// every worker shares, so the algorithms here need no bookkeeping of their own.
    fn conn_taken(&self, _id: ServerId) {}

    /// A request gave its slot on `id` back.
    fn conn_released(&self, _id: ServerId) {}

    /// Whether the choice follows a key rather than load: a full server chosen this way
    /// keeps the request in its own queue.
    fn binds_to_key(&self) -> bool {
        false
    }
}

/// Builds the algorithm `balance` names, for `servers`, sharing `load`'s cursor.
pub fn build(
    balance: &Balance,
    hash_type: HashType,
    allbackups: bool,
    load: Arc<BackendLoad>,
    servers: &[LbServer],
) -> Box<dyn Balancer> {
    let mut b: Box<dyn Balancer> = match balance {
        Balance::RoundRobin => Box::new(roundrobin::RoundRobin::new(load, allbackups)),
        Balance::StaticRr => Box::new(static_rr::StaticRr::new(load, allbackups)),
        Balance::LeastConn => Box::new(leastconn::LeastConn::new(load, allbackups)),
        Balance::First => Box::new(first::First::new(allbackups)),
        Balance::Random { draws } => Box::new(random::Random::new(*draws, allbackups)),
        key => {
            let method = hash_type.method;
            let setup = hash::HashedBalance {
                key: key.clone(),
                hash_type,
                load,
                allbackups,
            };
            match method {
                HashMethod::MapBased => Box::new(map_based::MapBased::new(setup)),
                HashMethod::Consistent => Box::new(consistent::Consistent::new(setup)),
            }
        }
    };
    b.rebuild(servers);
    b
}

/// Greatest common divisor; weights are divided by it so that 10:20 schedules like 1:2.
pub(crate) fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// One cycle of a weighted schedule, as indexes into `weights`: each slot, every entry's
/// score grows by its weight, the entry whose `rank(score)` is highest (the first on ties)
/// takes the slot and gives back the total weight. Entries appear as often as their weight,
/// spread out rather than in bursts. Round robin ranks by the score itself; HAProxy's map
/// ranks by whole rounds of the total.
pub(crate) fn weighted_cycle(weights: &[i64], rank: impl Fn(i64) -> i64) -> Vec<usize> {
    let total: i64 = weights.iter().sum();
    let mut score = vec![0i64; weights.len()];
    let mut order = Vec::with_capacity(total.max(0) as usize);
    for _ in 0..total {
        let mut best: Option<(usize, i64)> = None;
        for (i, w) in weights.iter().enumerate() {
            score[i] += w;
            let r = rank(score[i]);
            if best.is_none_or(|(_, max)| r > max) {
                best = Some((i, r));
            }
        }
        let (i, _) = best.expect("a positive total has entries");
        score[i] -= total;
        order.push(i);
    }
    order
}

/// Walks `order` from position `start`, cyclically, to the first server not passed over.
pub(crate) fn first_from(
    order: &[ServerId],
    start: u64,
    ctx: &PickCtx<'_, '_>,
) -> Option<ServerId> {
    let len = order.len() as u64;
    (0..len)
        .map(|k| order[((start + k) % len) as usize])
        .find(|&id| !ctx.skipped(id))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Server sets and picks for the algorithms' unit tests.
    use super::*;
    use crate::backend::ServerLoad;
    use std::net::SocketAddr;

    pub fn servers(weights: &[u16]) -> Vec<LbServer> {
        weights
            .iter()
            .map(|&w| LbServer::up_with_weight(w))
            .collect()
    }

    pub fn load(n: usize) -> Arc<BackendLoad> {
        Arc::new(BackendLoad::new(
            (0..n).map(|_| Arc::new(ServerLoad::default())).collect(),
            0,
            0,
        ))
    }

    pub fn src() -> SocketAddr {
        "10.0.0.1:5000".parse().unwrap()
    }

    /// Picks `n` times with nothing in the request and returns the server indexes.
    pub fn picks(b: &dyn Balancer, load: &BackendLoad, n: usize) -> Vec<usize> {
        let pick = Pick::connection(src(), "10.0.0.9:80".parse().unwrap());
        (0..n)
            .map(|_| {
                b.pick(&PickCtx {
                    request: &pick,
                    load,
                    avoid: None,
                    skip_full: true,
                })
                .unwrap()
                .0
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_are_eligible_only_without_active_servers_and_one_at_a_time() {
        let mut s = testing::servers(&[1, 1, 1, 1]);
        s[2].backup = true;
        s[3].backup = true;
        assert_eq!(eligible(&s, false, false).len(), 2);
        s[0].up = false;
        s[1].weight = 0;
        assert_eq!(eligible(&s, false, false), vec![(ServerId(2), 1)]);
        assert_eq!(
            eligible(&s, true, false),
            vec![(ServerId(2), 1), (ServerId(3), 1)],
            "allbackups spreads over every backup"
        );
    }
}
