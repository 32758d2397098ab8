//! `balance leastconn`: the eligible server with the fewest connections in progress
//! relative to its weight, counted across all workers (the shared [`BackendLoad`]). Ties go
//! round robin: the scan starts at a position taken from the backend's shared cursor.

use std::sync::Arc;

use crate::backend::lb::{eligible, Balancer, LbServer, PickCtx};
use crate::backend::{BackendLoad, ServerId};

pub struct LeastConn {
    load: Arc<BackendLoad>,
    allbackups: bool,
    servers: Vec<(ServerId, u16)>,
}

impl LeastConn {
    pub fn new(load: Arc<BackendLoad>, allbackups: bool) -> Self {
        Self {
            load,
            allbackups,
            servers: Vec::new(),
        }
    }
}

impl Balancer for LeastConn {
    fn pick(&self, ctx: &PickCtx<'_, '_>) -> Option<ServerId> {
        let n = self.servers.len();
        if n == 0 {
            return None;
        }
        let start = (self.load.next_cursor() % n as u64) as usize;
        // (conns, weight, id) of the best so far; conns/weight is compared by cross
        // multiplication, so the scan does no division.
        let mut best: Option<(u64, u64, ServerId)> = None;
        let (tail, head) = self.servers.split_at(start);
        for &(id, w) in head.iter().chain(tail) {
            if ctx.skipped(id) {
                continue;
            }
            let (c, w) = (u64::from(ctx.load.servers[id.0].current()), u64::from(w));
            if best.is_none_or(|(bc, bw, _)| c * bw < bc * w) {
                best = Some((c, w, id));
            }
        }
        best.map(|(_, _, id)| id)
    }

    fn rebuild(&mut self, servers: &[LbServer]) {
        self.servers = eligible(servers, self.allbackups, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lb::testing::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn the_least_loaded_server_wins_and_ties_rotate() {
        let load = load(3);
        let mut b = LeastConn::new(load.clone(), false);
        b.rebuild(&servers(&[1, 1, 1]));
        load.servers[0].conns.store(2, Ordering::Relaxed);
        load.servers[1].conns.store(1, Ordering::Relaxed);
        load.servers[2].conns.store(1, Ordering::Relaxed);
        let p = picks(&b, &load, 4);
        assert!(p.iter().all(|&i| i != 0), "{p:?}");
        assert!(p.contains(&1) && p.contains(&2), "ties rotate: {p:?}");
    }

    #[test]
    fn weight_scales_the_connection_count() {
        let load = load(2);
        let mut b = LeastConn::new(load.clone(), false);
        b.rebuild(&servers(&[1, 4]));
        load.servers[0].conns.store(1, Ordering::Relaxed);
        load.servers[1].conns.store(3, Ordering::Relaxed);
        assert_eq!(picks(&b, &load, 3), [1, 1, 1], "3/4 is less than 1/1");
    }
}
