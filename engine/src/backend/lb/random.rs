//! `balance random [draws N]`: N servers drawn at random by weight, the least loaded of
//! them taken (power of N choices; N defaults to 2). The generator is per worker.

use std::cell::Cell;

use crate::backend::lb::{eligible, Balancer, LbServer, PickCtx};
use crate::backend::ServerId;

pub struct Random {
    draws: u32,
    allbackups: bool,
    /// Eligible servers with their cumulative weights, for a weighted draw.
    cumulative: Vec<(u64, ServerId, u16)>,
    state: Cell<u64>,
}

impl Random {
    pub fn new(draws: u32, allbackups: bool) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Self {
            draws: draws.max(1),
            allbackups,
            cumulative: Vec::new(),
            state: Cell::new(seed | 1),
        }
    }

    /// xorshift64*: fast, and plenty for spreading requests.
    fn next(&self) -> u64 {
        let mut x = self.state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn draw(&self) -> (ServerId, u16) {
        let total = self.cumulative.last().map_or(1, |c| c.0);
        let r = self.next() % total;
        let i = self.cumulative.partition_point(|&(c, _, _)| c <= r);
        let (_, id, w) = self.cumulative[i];
        (id, w)
    }
}

impl Balancer for Random {
    fn pick(&self, ctx: &PickCtx<'_, '_>) -> Option<ServerId> {
        if self.cumulative.is_empty() {
            return None;
        }
        let mut best: Option<(u64, ServerId)> = None;
        // Extra draws, only while every draw so far was passed over (full or failed).
        for k in 0..self.draws * 4 {
            if k >= self.draws && best.is_some() {
                break;
            }
            let (id, w) = self.draw();
            if ctx.skipped(id) {
                continue;
            }
            let score = u64::from(ctx.load.servers[id.0].current()) * 256 / u64::from(w);
            if best.is_none_or(|(b, _)| score < b) {
                best = Some((score, id));
            }
        }
        best.map(|(_, id)| id).or_else(|| {
            self.cumulative
                .iter()
                .map(|&(_, id, _)| id)
                .find(|&id| !ctx.skipped(id))
        })
    }

    fn rebuild(&mut self, servers: &[LbServer]) {
        let mut sum = 0;
        self.cumulative = eligible(servers, self.allbackups, false)
            .into_iter()
            .map(|(id, w)| {
                sum += u64::from(w);
                (sum, id, w)
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lb::testing::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn single_draws_follow_weights() {
        let load = load(2);
        let mut b = Random::new(1, false);
        b.rebuild(&servers(&[1, 3]));
        let p = picks(&b, &load, 8000);
        let heavy = p.iter().filter(|&&i| i == 1).count();
        assert!((5600..6400).contains(&heavy), "3/4 of 8000: {heavy}");
    }

    #[test]
    fn two_draws_avoid_a_loaded_server() {
        let load = load(2);
        let mut b = Random::new(2, false);
        b.rebuild(&servers(&[1, 1]));
        load.servers[0].conns.store(50, Ordering::Relaxed);
        let p = picks(&b, &load, 2000);
        let loaded = p.iter().filter(|&&i| i == 0).count();
        // Only when both draws land on it: a quarter of the picks instead of half.
        assert!((400..600).contains(&loaded), "about 500: {loaded}");
    }
}
