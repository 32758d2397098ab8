//! `hash-type consistent`: servers own points on a 32-bit ring, a key goes to the owner of
//! the first point at or after its hash. Each server's points depend only on its position
//! and weight, so removing one of N servers moves only the keys it owned, about 1/N.

use crate::backend::lb::hash::{avalanche, HashedBalance};
use crate::backend::lb::{eligible, first_from, Balancer, LbServer, PickCtx};
use crate::backend::ServerId;

/// Ring points per unit of weight: enough to keep shares within a few percent.
const POINTS_PER_WEIGHT: u32 = 16;

pub struct Consistent {
    setup: HashedBalance,
    ring: Vec<(u32, ServerId)>,
    /// Eligible servers in order, for requests without a key.
    order: Vec<ServerId>,
}

impl Consistent {
    pub fn new(setup: HashedBalance) -> Self {
        Self {
            setup,
            ring: Vec::new(),
            order: Vec::new(),
        }
    }

    /// The owner of `hash`, passing over `avoid` when another server owns points.
    pub fn lookup(&self, hash: u32, avoid: Option<ServerId>) -> Option<ServerId> {
        let n = self.ring.len();
        if n == 0 {
            return None;
        }
        let start = self.ring.partition_point(|&(p, _)| p < hash);
        (0..n)
            .map(|k| self.ring[(start + k) % n].1)
            .find(|&id| Some(id) != avoid)
    }
}

impl Balancer for Consistent {
    fn pick(&self, ctx: &PickCtx<'_, '_>) -> Option<ServerId> {
        match self.setup.hash(ctx.request) {
            // Text hashes cluster; spreading them keeps the ring's shares even.
            Some(h) => self.lookup(avalanche(h), ctx.avoid),
            None if self.order.is_empty() => None,
            None => first_from(&self.order, self.setup.load.next_cursor(), ctx),
        }
    }

    fn rebuild(&mut self, servers: &[LbServer]) {
        let set = eligible(servers, self.setup.allbackups, false);
        self.order = set.iter().map(|&(id, _)| id).collect();
        self.ring.clear();
        for &(id, w) in &set {
            for j in 0..u32::from(w) * POINTS_PER_WEIGHT {
                // Positions of a server's points depend on nothing but its index.
                let seed = (id.0 as u32 + 1).wrapping_mul(0x0001_0000).wrapping_add(j);
                self.ring.push((avalanche(avalanche(seed)), id));
            }
        }
        self.ring.sort_unstable();
    }

    fn binds_to_key(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lb::testing::*;
    use ringlb_config::model::{Balance, HashType};

    #[test]
    fn removing_one_of_ten_servers_moves_only_its_keys() {
        let load = load(10);
        let mut s = servers(&[1; 10]);
        let mut ring = Consistent::new(HashedBalance {
            key: Balance::Source,
            hash_type: HashType::default(),
            load,
            allbackups: false,
        });
        ring.rebuild(&s);
        let keys: Vec<u32> = (0..10_000u32).map(avalanche).collect();
        let before: Vec<ServerId> = keys
            .iter()
            .map(|&k| ring.lookup(k, None).unwrap())
            .collect();
        s[3].up = false;
        ring.server_state(&s, ServerId(3));
        let moved = keys
            .iter()
            .zip(&before)
            .filter(|(&k, &b)| ring.lookup(k, None).unwrap() != b)
            .count();
        let owned = before.iter().filter(|b| b.0 == 3).count();
        assert_eq!(moved, owned, "only the removed server's keys move");
        assert!((700..1300).contains(&moved), "about 1/10 of 10000: {moved}");
    }
}
