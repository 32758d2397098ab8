//! `balance roundrobin`: smooth weighted round robin over a schedule every worker derives
//! alike, walked with one cursor all workers share.
//!
//! Fairness across workers: each worker builds the same schedule from the same server
//! states (state and weight changes reach every worker through its inbox), and every pick
//! in any worker advances the backend's one shared cursor (a relaxed `fetch_add`). The
//! aggregate sequence of picks is therefore exactly the schedule a single-threaded balancer
//! would walk, whichever worker accepted each request. A runtime weight change rebuilds the
//! schedule at once; the cursor simply carries on.

use std::sync::Arc;

use crate::backend::lb::{eligible, first_from, gcd, weighted_cycle, Balancer, LbServer, PickCtx};
use crate::backend::{BackendLoad, ServerId};

pub struct RoundRobin {
    load: Arc<BackendLoad>,
    allbackups: bool,
    schedule: Vec<ServerId>,
}

impl RoundRobin {
    pub fn new(load: Arc<BackendLoad>, allbackups: bool) -> Self {
        Self {
            load,
            allbackups,
            schedule: Vec::new(),
        }
    }
}

impl Balancer for RoundRobin {
    fn pick(&self, ctx: &PickCtx<'_, '_>) -> Option<ServerId> {
        if self.schedule.is_empty() {
            return None;
        }
        first_from(&self.schedule, self.load.next_cursor(), ctx)
    }

    fn rebuild(&mut self, servers: &[LbServer]) {
        self.schedule = smooth_weighted_order(&eligible(servers, self.allbackups, false));
    }
}

/// One cycle of smooth weighted round robin: each server appears `weight / gcd` times,
/// spread out rather than in bursts (weights 5:1:1 give a a b a c a a, not a a a a a b c).
pub fn smooth_weighted_order(servers: &[(ServerId, u16)]) -> Vec<ServerId> {
    let g = servers
        .iter()
        .fold(0, |g, &(_, w)| gcd(g, u64::from(w)))
        .max(1);
    let weights: Vec<i64> = servers
        .iter()
        .map(|&(_, w)| (u64::from(w) / g) as i64)
        .collect();
    weighted_cycle(&weights, |score| score)
        .into_iter()
        .map(|i| servers[i].0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lb::testing::*;

    #[test]
    fn smooth_order_spreads_heavy_servers_and_reduces_by_gcd() {
        let ids = [(ServerId(0), 10), (ServerId(1), 2), (ServerId(2), 2)];
        let order: Vec<usize> = smooth_weighted_order(&ids).iter().map(|s| s.0).collect();
        assert_eq!(
            order,
            [0, 0, 1, 0, 2, 0, 0],
            "5:1:1 after dividing by 2, never three a in a row"
        );
    }

    #[test]
    fn weights_one_two_three_over_six_thousand_picks() {
        let load = load(3);
        let rr = crate::backend::lb::build(
            &Default::default(),
            Default::default(),
            false,
            load.clone(),
            &servers(&[1, 2, 3]),
        );
        let p = picks(&*rr, &load, 6000);
        for (i, want) in [1000, 2000, 3000].into_iter().enumerate() {
            assert_eq!(p.iter().filter(|&&s| s == i).count(), want);
        }
    }

    #[test]
    fn equal_weights_never_repeat_a_server() {
        let load = load(4);
        let mut rr = RoundRobin::new(load.clone(), false);
        rr.rebuild(&servers(&[3, 3, 3, 3]));
        let p = picks(&rr, &load, 100);
        assert!(p.windows(2).all(|w| w[0] != w[1]), "{p:?}");
    }

    #[test]
    fn a_weight_change_applies_to_the_next_picks() {
        let load = load(2);
        let mut s = servers(&[1, 1]);
        let mut rr = RoundRobin::new(load.clone(), false);
        rr.rebuild(&s);
        s[1].weight = 3;
        rr.weight_changed(&s, ServerId(1));
        let p = picks(&rr, &load, 8);
        assert_eq!(p.iter().filter(|&&i| i == 1).count(), 6);
    }

    #[test]
    fn full_servers_are_passed_over() {
        let load = load(2);
        let mut rr = RoundRobin::new(load.clone(), false);
        rr.rebuild(&servers(&[1, 1]));
        let limited = Arc::new(BackendLoad::new(
            vec![
                Arc::new(crate::backend::ServerLoad::new(Some(1), None, None)),
                Arc::new(Default::default()),
            ],
            0,
            0,
        ));
        assert!(limited.try_take(0));
        let p = picks(&rr, &limited, 4);
        assert_eq!(p, [1, 1, 1, 1]);
    }
}
