//! The compatibility keywords of one proxy section in `dump`: `http-reuse`, the unique ID and
//! the persistence overrides.

use super::Out;
use crate::model::{HttpReuse, PersistKind, Proxy};

pub(super) fn dump_compat(out: &mut Out, p: &Proxy) {
    if p.http_reuse != HttpReuse::default() {
        out.kv("http-reuse", p.http_reuse.keyword());
    }
    if let Some(f) = &p.unique_id_format {
        out.kv("unique-id-format", f.to_string());
    }
    if let Some(h) = &p.unique_id_header {
        out.kv("unique-id-header", h);
    }
    for r in &p.persist_rules {
        let kw = match r.kind {
            PersistKind::Force => "force-persist",
            PersistKind::Ignore => "ignore-persist",
        };
        out.line(vec![kw.into(), r.condition.to_string()]);
    }
}
