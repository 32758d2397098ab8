//! `show stat`: HAProxy's filters (`<proxy|iid> <type> <sid>`, `up`, `no-maint`) and its
//! three formats (CSV, `typed`, `json`) over the rows every stats reader shares.

use ringlb_checks::AdminState;

use crate::services::admin::info::Format;
use crate::services::admin::Runtime;
use crate::services::stats::view::{self, ProxyView, Row, RowKind};
use crate::services::stats::{csv, typed};

/// What `show stat` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Query {
    /// A proxy id (`iid`), or every proxy.
    iid: Option<u32>,
    /// HAProxy's type mask: 1 frontends, 2 backends, 4 servers.
    types: u32,
    /// A server id (`sid`): other servers are left out; frontends and backends stay.
    sid: Option<u32>,
    /// `up`: only servers that are UP.
    up: bool,
    /// `no-maint`: no server in maintenance.
    no_maint: bool,
    format: Format,
}

const ALL_TYPES: u32 = 1 | 2 | 4;

impl Query {
    /// Reads `[<proxy|iid> <type> <sid>] [typed|json|desc|up|no-maint]…`. The three filter
    /// words count only together, as in HAProxy; `-1` means any.
    fn parse(rt: &Runtime, words: &[&str]) -> Result<Self, String> {
        let mut q = Query {
            iid: None,
            types: ALL_TYPES,
            sid: None,
            up: false,
            no_maint: false,
            format: Format::Plain,
        };
        let mut rest = words;
        if let [px, ty, sid, tail @ ..] = words {
            if let (Ok(ty), Ok(sid)) = (ty.parse::<i64>(), sid.parse::<i64>()) {
                q.iid = proxy_id(rt, px)?;
                q.types = if ty == -1 { ALL_TYPES } else { ty as u32 };
                q.sid = (sid != -1).then_some(sid as u32);
                rest = tail;
            }
        }
        for w in rest {
            match *w {
                "typed" => q.format = Format::Typed,
                "json" => q.format = Format::Json,
                "up" => q.up = true,
                "no-maint" => q.no_maint = true,
                // `desc` adds HAProxy's field descriptions; answered without them.
                _ => {}
            }
        }
        Ok(q)
    }

    fn shows(&self, r: &Row) -> bool {
        let bit = match r.kind {
            RowKind::Frontend => 1,
            RowKind::Backend => 2,
            RowKind::Server => 4,
        };
        let server = r.kind == RowKind::Server;
        self.iid.is_none_or(|i| i == r.iid)
            && self.types & bit != 0
            && !(server && self.sid.is_some_and(|s| s != r.sid))
            && !(server && self.up && !r.status.is_up())
            && !(server && self.no_maint && r.admin == Some(AdminState::Maint))
    }

    /// The proxy's rows to show; with `up` or `no-maint` a backend's status says how many
    /// of its servers are UP, as HAProxy's does.
    fn rows(&self, v: &ProxyView) -> Vec<Row> {
        let counts = (self.up || self.no_maint).then(|| {
            let up = v.servers.iter().filter(|s| s.status.is_up()).count();
            (up, v.servers.len())
        });
        v.rows()
            .filter(|r| self.shows(r))
            .map(|r| {
                let mut r = r.clone();
                if r.kind == RowKind::Backend {
                    r.servers_up = counts;
                }
                r
            })
            .collect()
    }
}

/// A proxy named or numbered as `show stat` takes it: `-1` for any.
fn proxy_id(rt: &Runtime, word: &str) -> Result<Option<u32>, String> {
    if word == "-1" {
        return Ok(None);
    }
    if let Ok(id) = word.parse::<u32>() {
        return Ok(Some(id));
    }
    rt.config
        .proxies
        .iter()
        .enumerate()
        .find(|(_, p)| p.name == word)
        .map(|(i, _)| Some(view::proxy_iid(&rt.config, i)))
        .ok_or_else(|| "No such proxy.\n".to_string())
}

/// `show stat …`: the rows asked for in the format asked for.
pub fn show_stat(rt: &Runtime, words: &[&str]) -> Result<String, String> {
    let q = Query::parse(rt, words)?;
    let views = rt.proxies(&[]);
    let rows: Vec<Row> = views.iter().flat_map(|v| q.rows(v)).collect();
    let mut out = String::new();
    match q.format {
        Format::Plain => csv::write_csv(&rows, &mut out),
        Format::Typed => typed::write_stat_typed(&rows, &mut out),
        Format::Json => typed::write_stat_json(&rows, &mut out),
    }
    Ok(out)
}
