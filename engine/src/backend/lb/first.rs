//! `balance first`: the first eligible server in declaration order that still has a free
//! connection slot, so that servers beyond the first can be powered down at quiet times.
//! Without `maxconn` the first server takes everything.

use crate::backend::lb::{eligible, Balancer, LbServer, PickCtx};
use crate::backend::ServerId;

pub struct First {
    allbackups: bool,
    order: Vec<ServerId>,
}

impl First {
    pub fn new(allbackups: bool) -> Self {
        Self {
            allbackups,
            order: Vec::new(),
        }
    }
}

impl Balancer for First {
    fn pick(&self, ctx: &PickCtx<'_, '_>) -> Option<ServerId> {
        self.order.iter().copied().find(|&id| !ctx.skipped(id))
    }

    fn rebuild(&mut self, servers: &[LbServer]) {
        self.order = eligible(servers, self.allbackups, false)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lb::testing::*;
    use crate::backend::{BackendLoad, ServerLoad};
    use std::sync::Arc;

    #[test]
    fn fills_the_first_server_before_the_next() {
        let load = Arc::new(BackendLoad::new(
            (0..3)
                .map(|_| Arc::new(ServerLoad::new(Some(2), None, None)))
                .collect(),
            0,
            0,
        ));
        let mut b = First::new(false);
        b.rebuild(&servers(&[1, 1, 1]));
        let mut got = Vec::new();
        for _ in 0..5 {
            let id = picks(&b, &load, 1)[0];
            assert!(load.try_take(id));
            got.push(id);
        }
        assert_eq!(got, [0, 0, 1, 1, 2]);
    }
}
