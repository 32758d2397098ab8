//! `balance static-rr`: weighted round robin over the configured weights. Runtime weight
//! changes have no effect (as in HAProxy); servers going up or down do. The schedule is
//! HAProxy's map table (see [`crate::backend::lb::map_based`]), walked with the backend's shared cursor.

use std::sync::Arc;

use crate::backend::lb::map_based::server_map;
use crate::backend::lb::{eligible, first_from, Balancer, LbServer, PickCtx};
use crate::backend::{BackendLoad, ServerId};

pub struct StaticRr {
    load: Arc<BackendLoad>,
    allbackups: bool,
    order: Vec<ServerId>,
}

impl StaticRr {
    pub fn new(load: Arc<BackendLoad>, allbackups: bool) -> Self {
        Self {
            load,
            allbackups,
            order: Vec::new(),
        }
    }
}

impl Balancer for StaticRr {
    fn pick(&self, ctx: &PickCtx<'_, '_>) -> Option<ServerId> {
        if self.order.is_empty() {
            return None;
        }
        first_from(&self.order, self.load.next_cursor(), ctx)
    }

    fn rebuild(&mut self, servers: &[LbServer]) {
        self.order = server_map(&eligible(servers, self.allbackups, true), servers);
    }

    fn weight_changed(&mut self, _servers: &[LbServer], _id: ServerId) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lb::testing::*;

    #[test]
    fn follows_configured_weights_and_ignores_runtime_changes() {
        let load = load(2);
        let mut s = servers(&[1, 3]);
        let mut b = StaticRr::new(load.clone(), false);
        b.rebuild(&s);
        s[0].weight = 50;
        b.weight_changed(&s, ServerId(0));
        let p = picks(&b, &load, 400);
        assert_eq!(p.iter().filter(|&&i| i == 0).count(), 100);
        s[1].up = false;
        b.server_state(&s, ServerId(1));
        assert!(picks(&b, &load, 4).iter().all(|&i| i == 0));
    }
}
