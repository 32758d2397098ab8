//! `hash-type map-based` (the default): the key's hash modulo the total weight of the
//! eligible servers, looked up in a table where each server appears as often as its weight.
//!
//! The table is built the way HAProxy builds its server map, so that a key lands on the
//! server HAProxy would choose for the same server list: weights are first divided by the
//! greatest common divisor of every configured weight, then each slot goes to the server
//! with the highest accumulated score (ties to the first declared). Checked against
//! HAProxy 2.6 in `engine/tests/lb_haproxy_vectors.rs`. Any change to the server set
//! remaps most keys; `hash-type consistent` is the remedy.

use crate::backend::lb::hash::HashedBalance;
use crate::backend::lb::{eligible, first_from, gcd, weighted_cycle, Balancer, LbServer, PickCtx};
use crate::backend::ServerId;

pub struct MapBased {
    setup: HashedBalance,
    table: Vec<ServerId>,
}

impl MapBased {
    pub fn new(setup: HashedBalance) -> Self {
        Self {
            setup,
            table: Vec::new(),
        }
    }

    /// The server `hash` maps to, whatever its load.
    pub fn lookup(&self, hash: u32) -> Option<ServerId> {
        if self.table.is_empty() {
            return None;
        }
        Some(self.table[(hash as usize) % self.table.len()])
    }
}

impl Balancer for MapBased {
    fn pick(&self, ctx: &PickCtx<'_, '_>) -> Option<ServerId> {
        if self.table.is_empty() {
            return None;
        }
        if let Some(h) = self.setup.hash(ctx.request) {
            let id = self.lookup(h)?;
            if Some(id) != ctx.avoid {
                return Some(id);
            }
        }
        // No key in this request (or its server just failed): round robin, as HAProxy does.
        first_from(&self.table, self.setup.load.next_cursor(), ctx)
    }

    fn rebuild(&mut self, servers: &[LbServer]) {
        self.table = server_map(&eligible(servers, self.setup.allbackups, false), servers);
    }

    fn binds_to_key(&self) -> bool {
        true
    }
}

/// The weighted server table: `eligible` weights scaled down by the greatest common divisor
/// of all configured weights in `servers`, one entry per unit of scaled weight.
pub fn server_map(eligible: &[(ServerId, u16)], servers: &[LbServer]) -> Vec<ServerId> {
    let g = servers
        .iter()
        .map(|s| u64::from(s.conf_weight))
        .filter(|&w| w > 0)
        .fold(0, gcd)
        .max(1);
    let weights: Vec<i64> = eligible
        .iter()
        .map(|&(_, w)| u64::from(w).div_ceil(g) as i64)
        .collect();
    let total: i64 = weights.iter().sum();
    if total <= 1 {
        return eligible
            .first()
            .map(|&(id, _)| vec![id])
            .unwrap_or_default();
    }
    // HAProxy ranks by whole rounds of the total, so near-equal scores tie and go to the
    // first declared server.
    weighted_cycle(&weights, |score| (score + total) / total)
        .into_iter()
        .map(|i| eligible[i].0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lb::testing::*;
    use crate::backend::upstream::Pick;
    use ringlb_config::model::{Balance, HashType};

    #[test]
    fn table_holds_each_server_by_its_reduced_weight() {
        let s = servers(&[10, 20, 30]);
        let t = server_map(&eligible(&s, false, false), &s);
        assert_eq!(t.len(), 6);
        assert_eq!(t.iter().filter(|i| i.0 == 2).count(), 3);
    }

    #[test]
    fn a_missing_key_falls_back_to_round_robin() {
        let load = load(2);
        let mut b = MapBased::new(HashedBalance {
            key: Balance::UrlParam {
                name: "id".into(),
                check_post: None,
            },
            hash_type: HashType::default(),
            load: load.clone(),
            allbackups: false,
        });
        b.rebuild(&servers(&[1, 1]));
        let pick = Pick::connection(src(), "10.0.0.9:80".parse().unwrap());
        let ctx = PickCtx {
            request: &pick,
            load: &load,
            avoid: None,
            skip_full: false,
        };
        let a = b.pick(&ctx).unwrap();
        assert_ne!(b.pick(&ctx).unwrap(), a);
    }
}
