//! `bind ADDR[,ADDR…] [options]`: listening addresses of a frontend.

use super::{global::admin_level, unknown, LineRef, Step};
use crate::model::{Bind, BindOptions, Proxy};
use crate::value;

const OPTIONS: &[&str] = &[
    "name",
    "maxconn",
    "backlog",
    "process",
    "thread",
    "interface",
    "transparent",
    "v4v6",
    "v6only",
    "accept-proxy",
    "defer-accept",
    "ssl",
    "crt",
    "mode",
    "user",
    "group",
    "level",
    "expose-fd",
];

pub(super) fn bind(p: &mut Proxy, line: &LineRef<'_>) -> Step {
    let list = line.arg(1, "bind", "ADDRESS[:PORT][,ADDRESS…] [options]")?;
    let addrs = list
        .split(',')
        .map(value::bind_addr)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| line.invalid("bind", e))?;
    let mut b = Bind {
        location: line.loc.clone(),
        addrs,
        name: None,
        options: BindOptions::default(),
    };
    let o = &mut b.options;
    let mut i = 2;
    while let Some(w) = line.words.get(i) {
        let kw = w.as_str();
        let arg = || line.arg(i + 1, &format!("bind {kw}"), "VALUE");
        let num = || -> Result<u32, _> {
            value::number(arg()?, kw).map_err(|e| line.invalid(&format!("bind {kw}"), e))
        };
        let mut takes_value = true;
        match kw {
            "name" => b.name = Some(arg()?.to_string()),
            "maxconn" => o.maxconn = Some(num()?),
            "backlog" => o.backlog = Some(num()?),
            "process" => o.process = Some(arg()?.to_string()),
            "thread" => o.thread = Some(arg()?.to_string()),
            "interface" => o.interface = Some(arg()?.to_string()),
            "crt" => o.crt.push(arg()?.into()),
            "mode" => {
                o.mode = Some(value::octal_mode(arg()?).map_err(|e| line.invalid("bind mode", e))?)
            }
            "user" => o.user = Some(arg()?.to_string()),
            "group" => o.group = Some(arg()?.to_string()),
            "level" => o.level = Some(admin_level(line, arg()?)?),
            "expose-fd" => match arg()? {
                "listeners" => o.expose_fd_listeners = true,
                other => return Err(unknown(line, "'expose-fd' value", other, &["listeners"])),
            },
            _ => {
                takes_value = false;
                match kw {
                    "transparent" => o.transparent = true,
                    "v4v6" => o.v4v6 = true,
                    "v6only" => o.v6only = true,
                    "accept-proxy" => o.accept_proxy = true,
                    "defer-accept" => o.defer_accept = true,
                    "ssl" => o.ssl = true,
                    other => return Err(unknown(line, "'bind' option", other, OPTIONS)),
                }
            }
        }
        i += if takes_value { 2 } else { 1 };
    }
    if o.v4v6 && o.v6only {
        return Err(line
            .error("'bind' cannot have both 'v4v6' and 'v6only'")
            .with_help("keep one of 'v4v6' and 'v6only'"));
    }
    if o.ssl && o.crt.is_empty() {
        return Err(line
            .error("'bind ... ssl' needs a certificate")
            .with_help("add 'crt /path/to/cert.pem'"));
    }
    p.binds.push(b);
    Ok(())
}
