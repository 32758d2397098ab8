//! HAProxy's typed and JSON forms of `show info` and `show stat`: each field with its
//! position, name, three tags (origin, nature, scope) and value type.

use std::fmt::Write as _;

use crate::services::stats::csv::{cells, COLUMNS, MODULES_SEPARATOR};
use crate::services::stats::view::{Row, RowKind};

/// One field ready for the typed or JSON form. `tags` holds HAProxy's three tag letters
/// (origin, nature, scope); `ty` is `str`, `u32`, `s32` or `u64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub pos: usize,
    pub name: &'a str,
    pub tags: &'static str,
    pub ty: &'static str,
    pub value: String,
}

/// `pos.name.1:TAGS:type:value`, the typed line without its object prefix.
pub fn typed_line(f: &Field) -> String {
    format!("{}.{}.1:{}:{}:{}", f.pos, f.name, f.tags, f.ty, f.value)
}

/// The field's JSON object; `object` holds the leading members (`"objType":…,`) or is
/// empty.
pub fn json_object(f: &Field, object: &str) -> String {
    let value = if f.ty == "str" {
        json_string(&f.value)
    } else {
        // A number written as the CSV has it; an unparsable one is sent as 0, never as
        // invalid JSON.
        match f.value.parse::<i64>() {
            Ok(n) => n.to_string(),
            Err(_) => "0".into(),
        }
    };
    format!(
        "{{{object}\"field\":{{\"pos\":{},\"name\":{}}},\"processNum\":1,\"tags\":{},\"value\":{{\"type\":\"{}\",\"value\":{value}}}}}",
        f.pos,
        json_string(f.name),
        json_tags(f.tags),
        f.ty
    )
}

/// The tag letters spelled out, as HAProxy's JSON does.
fn json_tags(tags: &str) -> String {
    let mut t = tags.chars();
    let origin = match t.next() {
        Some('M') => "Metric",
        Some('S') => "Status",
        Some('K') => "Key",
        Some('C') => "Config",
        _ => "Product",
    };
    let nature = match t.next() {
        Some('A') => "Age",
        Some('a') => "Avg",
        Some('C') => "Counter",
        Some('D') => "Duration",
        Some('L') => "Limit",
        Some('M') => "Max",
        Some('m') => "Min",
        Some('N') => "Name",
        Some('O') => "Output",
        Some('R') => "Rate",
        Some('T') => "Time",
        _ => "Gauge",
    };
    let scope = match t.next() {
        Some('S') => "Service",
        Some('s') => "System",
        Some('C') => "Cluster",
        _ => "Process",
    };
    format!("{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\"scope\":\"{scope}\"}}")
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A row's non-empty cells as fields, in column order. The CSV's `-` column is no field:
/// the modules' fields after it are numbered one lower, as HAProxy numbers them.
fn row_fields(r: &Row) -> impl Iterator<Item = Field<'static>> + '_ {
    cells(r)
        .into_iter()
        .enumerate()
        .filter(|(i, v)| !v.is_empty() && *i != MODULES_SEPARATOR)
        .map(move |(i, value)| {
            let (tags, ty) = match (r.kind, COLUMNS[i]) {
                // HAProxy tags these differently on backend rows.
                (RowKind::Backend, "act" | "bck" | "rate" | "rate_max") => ("MGP", "u32"),
                (_, column) => stat_tags(column),
            };
            Field {
                pos: if i > MODULES_SEPARATOR { i - 1 } else { i },
                name: COLUMNS[i],
                tags,
                ty,
                value,
            }
        })
}

/// HAProxy's name for the kind of object a row describes; its initial in the typed form.
fn object_type(k: RowKind) -> &'static str {
    match k {
        RowKind::Frontend => "Frontend",
        RowKind::Backend => "Backend",
        RowKind::Server => "Server",
    }
}

/// `show stat typed`: one line per non-empty cell, `F.iid.sid.pos.name.1:tags:type:value`
/// (`F` frontend, `B` backend, `S` server).
pub fn write_stat_typed<'a>(rows: impl IntoIterator<Item = &'a Row>, out: &mut String) {
    for r in rows {
        let kind = &object_type(r.kind)[..1];
        for f in row_fields(r) {
            let _ = writeln!(out, "{kind}.{}.{}.{}", r.iid, r.sid, typed_line(&f));
        }
    }
}

/// `show stat json`: an array of rows, each an array of its non-empty fields.
pub fn write_stat_json<'a>(rows: impl IntoIterator<Item = &'a Row>, out: &mut String) {
    out.push('[');
    for (i, r) in rows.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let kind = object_type(r.kind);
        let object = format!(
            "\"objType\":\"{kind}\",\"proxyId\":{},\"id\":{},",
            r.iid, r.sid
        );
        let fields: Vec<String> = row_fields(r).map(|f| json_object(&f, &object)).collect();
        let _ = write!(out, "[{}]", fields.join(","));
    }
    out.push_str("]\n");
}

/// `show info json`: an array of the fields.
pub fn write_info_json(fields: &[Field], out: &mut String) {
    let all: Vec<String> = fields.iter().map(|f| json_object(f, "")).collect();
    let _ = writeln!(out, "[{}]", all.join(","));
}

/// The tags and type of a `show stat` column, as HAProxy 2.6 reports them.
pub fn stat_tags(column: &str) -> (&'static str, &'static str) {
    match column {
        "pxname" | "svname" => ("KNS", "str"),
        "qcur"
        | "scur"
        | "srv_icur"
        | "src_ilim"
        | "idle_conn_cur"
        | "safe_conn_cur"
        | "used_conn_cur"
        | "need_conn_est"
        | "agg_server_status"
        | "agg_server_check_status"
        | "agg_check_status" => ("MGP", "u32"),
        "qmax" | "smax" | "rate_max" | "req_rate_max" | "conn_rate_max" | "qtime_max"
        | "ctime_max" | "rtime_max" | "ttime_max" => ("MMP", "u32"),
        "slim" | "qlimit" | "rate_lim" => ("CLP", "u32"),
        "status" => ("SGP", "str"),
        "act" | "bck" => ("SGP", "u32"),
        "weight" | "uweight" | "qtime" | "ctime" | "rtime" | "ttime" | "throttle" => ("MaP", "u32"),
        "lastchg" => ("MAP", "u32"),
        "downtime" => ("MCP", "u32"),
        "lastsess" => ("MAP", "s32"),
        "pid" => ("KGP", "u32"),
        "iid" | "sid" => ("KGS", "u32"),
        "type" | "check_rise" | "check_fall" | "check_health" | "agent_rise" | "agent_fall"
        | "agent_health" => ("CGS", "u32"),
        "tracked" | "addr" | "cookie" | "mode" | "algo" => ("CGS", "str"),
        "rate" | "req_rate" | "conn_rate" => ("MRP", "u32"),
        "check_status" | "last_chk" | "check_desc" | "agent_status" | "last_agt" | "agent_desc" => {
            ("MOP", "str")
        }
        "check_code" | "agent_code" => ("MOP", "u32"),
        "check_duration" | "agent_duration" => ("MDP", "u64"),
        "h2_open_connections"
        | "h2_backend_open_streams"
        | "h1_open_connections"
        | "h1_open_streams" => ("MGP", "u64"),
        _ => ("MCP", "u64"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_and_controls() {
        assert_eq!(json_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }

    #[test]
    fn a_field_has_haproxys_typed_and_json_shapes() {
        let f = Field {
            pos: 4,
            name: "scur",
            tags: "MGP",
            ty: "u32",
            value: "7".into(),
        };
        assert_eq!(typed_line(&f), "4.scur.1:MGP:u32:7");
        assert_eq!(
            json_object(&f, ""),
            "{\"field\":{\"pos\":4,\"name\":\"scur\"},\"processNum\":1,\"tags\":{\"origin\":\"Metric\",\"nature\":\"Gauge\",\"scope\":\"Process\"},\"value\":{\"type\":\"u32\",\"value\":7}}"
        );
    }
}
