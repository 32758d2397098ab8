//! Traffic logs end to end: the engine on loopback sends its lines to a UDP receiver in the
//! test (or to stderr through the binary), and each line is matched field by field.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::Duration;

use ringlb::boot::run::RunHandle;
use ringlb_config::model::Level;
use support::*;

/// An origin: `/missing…` answers 404, `/slow` waits 1 s, `/slow-big` waits 1 s and answers
/// 4 MiB, anything else 200 `hello`.
fn origin() -> SocketAddr {
    Origin::serve(|req| {
        if req.path.starts_with("/missing") {
            Reply::new(404, "nope").header("Content-Type", "text/plain")
        } else if req.path == "/slow" {
            Reply::text("hello").after(Duration::from_secs(1))
        } else if req.path == "/slow-big" {
            Reply::text(vec![b'x'; 4 << 20]).after(Duration::from_secs(1))
        } else {
            Reply::text("hello")
        }
    })
    .addr
}

/// Starts the engine on `text` (`@ORIGIN`, `@LOG`, `@PORT` substituted) after a global
/// section that sends `local3 info` to the receiver with tag `testlb`.
fn start(text: &str, origin: SocketAddr, log: SocketAddr, legacy: bool) -> (RunHandle, u16) {
    let port = free_port();
    let text = text
        .replace("@ORIGIN", &origin.to_string())
        .replace("@PORT", &port.to_string())
        .replace("@LOG", &log.to_string());
    let full = format!(
        "global\n nbthread 1\n log @LOG local3 info\n log-tag testlb\ndefaults\n mode http\n log global\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n{text}"
    )
    .replace("@LOG", &log.to_string());
    let loaded = ringlb_config::parse_str(&full, Path::new("logging.cfg"));
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    (run(config, legacy), port)
}

/// Sends one `Connection: close` request; returns the client's port and the bytes received.
fn raw_get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let mut s = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    let cport = s.local_addr().unwrap().port();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let got = read_to_end(&mut s).unwrap_or_default();
    (cport, got)
}

/// A syslog line split into its header (`<PRI>date`), tag, pid and message fields.
struct Line {
    pri: u32,
    tag: String,
    pid: u32,
    fields: Vec<String>,
}

fn parse(line: &str) -> Line {
    let rest = line.strip_prefix('<').expect("starts with <PRI>");
    let (pri, rest) = rest.split_once('>').unwrap();
    // `Mmm dd hh:mm:ss ` is 16 bytes.
    let rest = &rest[16..];
    let (tag_pid, msg) = rest.split_once(": ").unwrap();
    let (tag, pid) = tag_pid.trim_end_matches(']').split_once('[').unwrap();
    Line {
        pri: pri.parse().unwrap(),
        tag: tag.into(),
        pid: pid.parse().unwrap(),
        fields: msg.split(' ').map(String::from).collect(),
    }
}

const SITE: &str = "frontend www\n bind 127.0.0.1:@PORT\n option httplog\n capture request header Host len 8\n capture response header Content-Type len 30\n acl forbidden path_beg /forbidden\n acl empty path_beg /empty\n http-request deny if forbidden\n use_backend nosrv if empty\n default_backend web\nbackend web\n server web1 @ORIGIN\nbackend nosrv\n";

fn httplog_lines_match_haproxys_layout(legacy: bool) {
    let rx = Receiver::new();
    let (h, port) = start(SITE, origin(), rx.addr(), legacy);
    let pid = std::process::id();

    let check = |path: &str, status: &str, be_srv: &str, state: &str, hs: &str| {
        let (cport, got) = raw_get(port, path);
        let l = parse(&rx.line());
        assert_eq!(l.pri, 19 * 8 + 6, "local3.info");
        assert_eq!((l.tag.as_str(), l.pid), ("testlb", pid));
        let f = &l.fields;
        assert_eq!(f[0], format!("127.0.0.1:{cport}"), "{f:?}");
        assert!(
            f[1].starts_with('[') && f[1].ends_with(']') && f[1].len() == 26,
            "{f:?}"
        );
        assert_eq!(f[2], "www");
        assert_eq!(f[3], be_srv, "{f:?}");
        assert_eq!(f[4].split('/').count(), 5, "Tq/Tw/Tc/Tr/Ta: {f:?}");
        assert_eq!(f[5], status, "{f:?}");
        assert_eq!(
            f[6],
            got.len().to_string(),
            "bytes sent to the client: {f:?}"
        );
        assert_eq!((f[7].as_str(), f[8].as_str()), ("-", "-"));
        assert_eq!(f[9], format!("{state}--"), "{f:?}");
        assert_eq!(f[11], "0/0");
        assert_eq!(
            f[12], "{shop.exa}",
            "request capture cut to its length: {f:?}"
        );
        assert_eq!(f[13], hs, "{f:?}");
        assert_eq!(f[14..].join(" "), format!("\"GET {path} HTTP/1.1\""));
        f.clone()
    };
    let ok = check("/", "200", "web/web1", "--", "{text/plain}");
    let timers: Vec<i64> = ok[4].split('/').map(|t| t.parse().unwrap()).collect();
    assert!(
        timers.iter().all(|&t| t >= 0),
        "every step reached: {timers:?}"
    );
    assert_eq!(
        ok[10], "1/1/0/0/0",
        "the client connection counts; the backend and server sessions ended before the \
         line, as in haproxy 2.6"
    );

    check("/missing", "404", "web/web1", "--", "{text/plain}");
    let nosrv = check("/empty", "503", "nosrv/<NOSRV>", "SC", "{}");
    let t: Vec<&str> = nosrv[4].split('/').collect();
    assert_eq!(&t[2..4], ["-1", "-1"], "never connected: {t:?}");
    let denied = check("/forbidden", "403", "www/<NOSRV>", "PR", "{}");
    assert_eq!(denied[4].split('/').nth(2), Some("-1"));

    // A client that gives up while the server thinks: without `option abortonclose` the
    // request still runs. A small response leaves in one write the kernel accepts: nothing
    // failed, as haproxy 2.6 logs it too (`200 … ----`).
    let mut s = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    drop(s);
    let l = parse(&rx.line());
    assert_eq!(
        (l.fields[3].as_str(), l.fields[9].as_str()),
        ("web/web1", "----"),
        "{:?}",
        l.fields
    );
    // A response larger than the socket takes finds the client gone in the data phase.
    let mut s = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    s.write_all(b"GET /slow-big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    drop(s);
    let l = parse(&rx.line());
    assert_eq!(l.fields[3], "web/web1");
    assert_eq!(
        l.fields[9], "CD--",
        "client gone during the data phase: {:?}",
        l.fields
    );
    let tr: i64 = l.fields[4].split('/').nth(3).unwrap().parse().unwrap();
    assert!(
        tr >= 900,
        "the server took a second to answer: {:?}",
        l.fields
    );
    drop(h);
}
both_drivers!(httplog, super::httplog_lines_match_haproxys_layout);

fn queue_wait_is_tw_not_tc(legacy: bool) {
    let rx = Receiver::new();
    let one_at_a_time = SITE.replace(" server web1 @ORIGIN\n", " server web1 @ORIGIN maxconn 1\n");
    let (h, port) = start(&one_at_a_time, origin(), rx.addr(), legacy);
    // The first request holds the server's one slot for a second; the second waits in its
    // queue for it.
    let first = thread::spawn(move || raw_get(port, "/slow"));
    thread::sleep(Duration::from_millis(200));
    let (_, got) = raw_get(port, "/");
    assert!(got.starts_with(b"HTTP/1.1 200"), "{got:?}");
    first.join().unwrap();
    let mut lines: Vec<Line> = (0..2).map(|_| parse(&rx.line())).collect();
    lines.sort_by_key(|l| l.fields[14..].join(" "));
    let timers =
        |l: &Line| -> Vec<i64> { l.fields[4].split('/').map(|t| t.parse().unwrap()).collect() };
    let (queued, slow) = (timers(&lines[0]), timers(&lines[1]));
    assert_eq!(lines[0].fields[14..].join(" "), "\"GET / HTTP/1.1\"");
    assert!(
        (600..2000).contains(&queued[1]),
        "Tw is the ~800 ms spent queued: {queued:?}"
    );
    assert!(queued[2] < 300, "Tc is the connect alone: {queued:?}");
    assert_eq!(
        lines[0].fields[11], "0/0",
        "the queue is empty when it logs"
    );
    assert_eq!(slow[1], 0, "the first request did not wait: {slow:?}");
    drop(h);
}
both_drivers!(queue_wait, super::queue_wait_is_tw_not_tc);

fn dontlognull_skips_connections_that_sent_nothing(legacy: bool) {
    let rx = Receiver::new();
    let with = SITE.replace("option httplog\n", "option httplog\n option dontlognull\n");
    let (h, port) = start(&with, origin(), rx.addr(), legacy);
    drop(connect(SocketAddr::from(([127, 0, 0, 1], port))));
    thread::sleep(Duration::from_millis(200));
    let (cport, _) = raw_get(port, "/");
    let l = parse(&rx.line());
    assert_eq!(
        l.fields[0],
        format!("127.0.0.1:{cport}"),
        "the empty connection left no line"
    );
    drop(h);

    let (h, port) = start(SITE, origin(), rx.addr(), legacy);
    let s = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    let cport = s.local_addr().unwrap().port();
    drop(s);
    let l = parse(&rx.line());
    assert_eq!(l.fields[0], format!("127.0.0.1:{cport}"));
    assert_eq!(l.fields[9], "CR--", "{:?}", l.fields);
    assert_eq!(l.fields.last().unwrap(), "\"<BADREQ>\"");
    drop(h);
}
both_drivers!(
    dontlognull,
    super::dontlognull_skips_connections_that_sent_nothing
);

fn dontlog_normal_logs_only_failed_exchanges(legacy: bool) {
    let rx = Receiver::new();
    let with = SITE.replace(
        "option httplog\n",
        "option httplog\n option dontlog-normal\n",
    );
    let (h, port) = start(&with, origin(), rx.addr(), legacy);
    raw_get(port, "/");
    raw_get(port, "/missing");
    let (cport, _) = raw_get(port, "/empty");
    let l = parse(&rx.line());
    assert_eq!(
        l.fields[0],
        format!("127.0.0.1:{cport}"),
        "the 200 and the 404 left no line: {:?}",
        l.fields
    );
    assert_eq!(l.fields[5], "503", "{:?}", l.fields);
    drop(h);
}
both_drivers!(
    dontlog_normal,
    super::dontlog_normal_logs_only_failed_exchanges
);

#[test]
fn tcplog_line_shows_the_tunnel() {
    let rx = Receiver::new();
    let echo = echo_server();
    let text =
        "listen relay\n mode tcp\n option tcplog\n bind 127.0.0.1:@PORT\n server echo1 @ORIGIN\n";
    let (h, port) = start(text, echo, rx.addr(), false);
    let mut s = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    let cport = s.local_addr().unwrap().port();
    assert_eq!(roundtrip(&mut s, b"ping"), b"ping");
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let _ = read_to_end(&mut s);
    let l = parse(&rx.line());
    let f = &l.fields;
    assert_eq!(f[0], format!("127.0.0.1:{cport}"));
    assert_eq!(f[2], "relay");
    assert_eq!(f[3], "relay/echo1");
    let t: Vec<i64> = f[4].split('/').map(|t| t.parse().unwrap()).collect();
    assert_eq!(t.len(), 3, "Tw/Tc/Tt");
    assert!(t.iter().all(|&x| x >= 0), "{t:?}");
    assert_eq!(f[5], "4", "bytes sent to the client");
    assert_eq!(f[6], "--");
    assert_eq!(f[7], "1/1/0/0/0", "as haproxy 2.6 logs a lone tunnel");
    assert_eq!(f[8], "0/0");
    assert_eq!(f.len(), 9, "{f:?}");
    drop(h);
}

#[test]
fn custom_log_format_fills_samples_and_log_variables() {
    let rx = Receiver::new();
    let text = "frontend www\n bind 127.0.0.1:@PORT\n log-format \"%ci %HM %HU %[req.hdr(host)] %b/%s %ST %ts %{+Q}r\"\n default_backend web\nbackend web\n server web1 @ORIGIN\n";
    let (h, port) = start(text, origin(), rx.addr(), false);
    raw_get(port, "/missing?x=1");
    let l = parse(&rx.line());
    assert_eq!(
        l.fields.join(" "),
        "127.0.0.1 GET /missing?x=1 shop.example web/web1 404 -- \"GET /missing?x=1 HTTP/1.1\""
    );
    drop(h);
}

#[test]
fn levels_filter_lines_and_separate_errors_raise_failures() {
    // `log global` from the defaults goes elsewhere; the frontend's own target filters.
    let (elsewhere, rx) = (Receiver::new(), Receiver::new());
    let text = format!("frontend www\n bind 127.0.0.1:@PORT\n log {} local0 err\n option httplog\n option log-separate-errors\n acl empty path_beg /empty\n use_backend nosrv if empty\n default_backend web\nbackend web\n server web1 @ORIGIN\nbackend nosrv\n", rx.addr());
    let (h, port) = start(&text, origin(), elsewhere.addr(), false);
    raw_get(port, "/");
    raw_get(port, "/empty");
    // The 200 is an info line, below `err`: the first line to arrive is the 503's.
    let l = parse(&rx.line());
    assert_eq!(l.pri, 16 * 8 + 3, "local0.err");
    assert_eq!(l.fields[5], "503");
    drop(h);
}

#[test]
fn control_messages_go_to_the_global_targets() {
    let rx = Receiver::new();
    let (h, _) = start(
        "frontend www\n bind 127.0.0.1:@PORT\n default_backend web\nbackend web\n server web1 @ORIGIN\n",
        origin(),
        rx.addr(),
        false,
    );
    h.log_hub().emit(Level::Alert, "Server web/web1 is DOWN");
    let l = parse(&rx.line());
    assert_eq!(l.pri, 19 * 8 + 1, "local3.alert");
    assert_eq!(l.fields.join(" "), "Server web/web1 is DOWN");
    h.log_hub().emit(Level::Debug, "below the target's level");
    assert!(rx.silent(Duration::from_millis(100)));
    drop(h);
}

#[test]
fn raw_stderr_lines_through_the_binary() {
    let dir = TempDir::new("rawlog");
    let origin = origin();
    let port = free_port();
    let cfg = dir.write(
        "raw.cfg",
        &format!(
            "global\n log stderr format raw daemon\ndefaults\n mode http\n log global\n option httplog\n timeout client 5s\n timeout server 5s\n timeout connect 1s\nfrontend www\n bind 127.0.0.1:{port}\n default_backend web\nbackend web\n server web1 {origin}\n"
        ),
    );
    let mut child = Ringlb::spawn(
        &["-f", cfg.to_str().unwrap()],
        dir.path().join("stderr.txt"),
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    child.wait_serving(addr);
    let (cport, _) = raw_get(port, "/");
    let want = format!("127.0.0.1:{cport} [");
    let mut text = String::new();
    for _ in 0..50 {
        text = child.stderr();
        if text.contains(&want) {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let line = text
        .lines()
        .find(|l| l.starts_with(&want))
        .unwrap_or_else(|| panic!("no raw line in {text}"));
    assert!(line.contains(" www web/web1 "), "{line}");
    assert!(line.ends_with("\"GET / HTTP/1.1\""), "{line}");
    assert!(
        !line.starts_with('<'),
        "raw lines carry no syslog header: {line}"
    );
}

/// HAProxy's documented HTTP format written as a `log-format`, with the variables beside it
/// (`%si:%sp`, `%bi:%bp`, `%H`, `%ms`, `%lc`, `%T`, `%trg`, `%sslc`, `%sslv`), rendered by
/// ringlb and by Debian's haproxy 2.6 for the same requests to the same origin: every field
/// that does not depend on the moment or on the client's port is the same, and the others
/// have the same shape. The default tag is haproxy's.
#[test]
fn documented_http_log_format_renders_as_haproxy_does() {
    const LF: &str = "%ci %ft %b/%s %ST %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r %si:%sp %bi %H %lc %sslc %sslv | %TR/%Tw/%Tc/%Tr/%Ta %B %ms %T %trg %bp [%t]";
    let origin = origin();
    let both = SideBySide::start(|port| {
        format!(
            "defaults\n mode http\n log global\n timeout client 5s\n timeout server 5s\n timeout connect 1s\nfrontend www\n bind 127.0.0.1:{port}\n log-format \"{LF}\"\n default_backend web\nbackend web\n server web1 {origin}\n"
        )
    });

    for path in ["/", "/missing"] {
        let (theirs, ours) = both.lines(|port| {
            raw_get(port, path);
        });
        let split = |line: &str| {
            let (head, msg) = line.split_once("]: ").unwrap();
            let (stable, moving) = msg.split_once(" | ").unwrap();
            (head.to_string(), stable.to_string(), moving.to_string())
        };
        let (their_head, their_stable, their_moving) = split(&theirs);
        let (our_head, our_stable, our_moving) = split(&ours);
        assert!(
            our_head.contains(" haproxy[") && their_head.contains(" haproxy["),
            "the tag: {our_head} / {their_head}"
        );
        assert_eq!(our_stable, their_stable, "{path}: ours, then haproxy's");
        // `0/0/0/1/1 141 733 05/Dec/2026:09:24:09 +0000 …`: every run of digits is one
        // `N`, so timers, byte counts, ports and dates compare by their layout.
        let shape = |moving: &str| -> String {
            let mut out = String::new();
            for c in moving.chars() {
                if !c.is_ascii_digit() {
                    out.push(c);
                } else if !out.ends_with('N') {
                    out.push('N');
                }
            }
            out
        };
        assert_eq!(
            shape(&our_moving),
            shape(&their_moving),
            "{path}: {our_moving} / {their_moving}"
        );
        let ms: Vec<&str> = our_moving.split(' ').collect();
        assert_eq!(ms[2].len(), 3, "%ms has 3 digits: {our_moving}");
        assert_eq!((ms[4], ms[6]), ("+0000", "+0000"), "%T and %trg are GMT");
    }
}

/// `halog -tc` (Debian's haproxy package) on syslog lines as a syslog daemon stores them,
/// with a host name after the date: its count of each termination state.
fn halog_tc(lines: &[String]) -> String {
    use std::process::{Command, Stdio};
    let stored: String = lines
        .iter()
        .map(|l| {
            let (_, rest) = l.split_once('>').expect("starts with <PRI>");
            format!("{} localhost {}\n", &rest[..15], &rest[16..])
        })
        .collect();
    let mut child = Command::new("/usr/bin/halog")
        .arg("-tc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("halog runs (scripts/deps.sh installs haproxy)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stored.as_bytes())
        .unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

/// Exchanges that end badly, run through haproxy 2.6 and ringlb: the same status, bytes
/// and termination state in both `option httplog` lines (bytes only where nothing was
/// sent: the sizes of sent pages differ, docs/compatibility.md), and `halog -tc` counts
/// both logs alike.
#[test]
fn termination_states_match_haproxys() {
    let origin = Origin::start().addr;
    let both = SideBySide::start(|port| {
        format!(
            "defaults\n mode http\n log global\n option httplog\n timeout client 5s\n timeout server 5s\n timeout connect 1s\nfrontend www\n bind 127.0.0.1:{port}\n default_backend web\nbackend web\n server web1 {origin}\n"
        )
    });
    let send_then_leave = |bytes: &'static [u8]| {
        move |port: u16| {
            let mut s = connect(SocketAddr::from(([127, 0, 0, 1], port)));
            s.write_all(bytes).unwrap();
            thread::sleep(Duration::from_millis(200));
        }
    };
    // What the client does on a port.
    type Visit = Box<dyn Fn(u16)>;
    let cases: [(&str, Visit, &str, Option<&str>); 4] = [
        (
            "a server answering garbage",
            Box::new(|port| {
                raw_get(port, "/garbage");
            }),
            "PH--",
            None,
        ),
        (
            "a server closing mid-body",
            Box::new(|port| {
                raw_get(port, "/truncated");
            }),
            "SD--",
            None,
        ),
        (
            "a client leaving in the middle of its request head",
            Box::new(send_then_leave(b"GET / HTTP/1.1\r\nHost:")),
            "CR--",
            Some("0"),
        ),
        (
            "a client leaving in the middle of its request body",
            Box::new(send_then_leave(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
            )),
            "CD--",
            Some("0"),
        ),
    ];
    let (mut theirs_all, mut ours_all) = (Vec::new(), Vec::new());
    for (what, client, state, bytes) in &cases {
        let (theirs, ours) = both.lines(client);
        let (t, o) = (parse(&theirs).fields, parse(&ours).fields);
        assert_eq!(t[9], *state, "{what}: haproxy's line {theirs}");
        assert_eq!(
            (&o[5], &o[9]),
            (&t[5], &t[9]),
            "{what}: status and state, ours then haproxy's:\n{ours}\n{theirs}"
        );
        if let Some(b) = bytes {
            assert_eq!((o[6].as_str(), t[6].as_str()), (*b, *b), "{what}: bytes");
        }
        theirs_all.push(theirs);
        ours_all.push(ours);
    }
    assert_eq!(halog_tc(&ours_all), halog_tc(&theirs_all));
}

/// A raw request `method path` with `extra` header lines, `Connection: close` and `body`:
/// the whole answer.
fn raw_request(port: u16, method: &str, path: &str, extra: &str, body: &str) -> String {
    let mut s = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: shop.example\r\n{extra}Connection: close\r\n\r\n{body}"
    )
    .unwrap();
    String::from_utf8_lossy(&read_to_end(&mut s).unwrap_or_default()).into_owned()
}

/// The status and the header lines of an answer, names lowercased and sorted: haproxy
/// writes its own replies' names in lower case, in an order of its own.
fn status_and_headers(answer: &str) -> (String, Vec<String>) {
    let head = answer.split("\r\n\r\n").next().unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_string();
    let mut headers: Vec<String> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            format!("{}:{}", n.to_ascii_lowercase(), v)
        })
        .collect();
    headers.sort();
    (status, headers)
}

/// `server … redir PREFIX`: a GET or HEAD routed to that server is answered with a 302 to
/// the prefix and the request's path and query, nothing reaching the server, and logged
/// `LC` with the server named and no connect time; any other method is proxied. Compared
/// with haproxy 2.6 on the same requests.
#[test]
fn server_redir_answers_get_and_head_as_haproxy_does() {
    let origin = Origin::text("proxied");
    let both = SideBySide::start(|port| {
        format!(
            "defaults\n mode http\n log global\n option httplog\n timeout client 5s\n timeout server 5s\n timeout connect 1s\nfrontend www\n bind 127.0.0.1:{port}\n default_backend img\nbackend img\n server s1 {} redir http://img.example.com\n",
            origin.addr
        )
    });
    let cases = [
        ("GET", "/a/b?x=1", "", ""),
        ("HEAD", "/logo.png", "", ""),
        // A body does not prevent it: haproxy looks at the method only.
        ("GET", "/q", "Content-Length: 3\r\n", "abc"),
        ("GET", "http://shop.example/abs?y", "", ""),
    ];
    for (method, path, extra, body) in cases {
        let (theirs, ours) = both.lines(|port| {
            raw_request(port, method, path, extra, body);
        });
        let (t, o) = (parse(&theirs).fields, parse(&ours).fields);
        assert_eq!(t[5], "302", "haproxy: {theirs}");
        assert_eq!(
            (&o[3], &o[5], &o[9]),
            (&t[3], &t[5], &t[9]),
            "{method} {path}: server, status and state, ours then haproxy's:\n{ours}\n{theirs}"
        );
        // Tw/Tc/Tr: no queue, no connection, no response (`0/-1/-1`); Tq and Ta are times.
        let timers = |f: &str| f.split('/').skip(1).take(3).collect::<Vec<_>>().join("/");
        assert_eq!(timers(&t[4]), "0/-1/-1", "haproxy: {theirs}");
        assert_eq!(timers(&o[4]), timers(&t[4]), "Tw/Tc/Tr:\n{ours}\n{theirs}");
    }
    assert_eq!(
        origin.connections(),
        0,
        "a redirected request reaches no server"
    );
    // The answers themselves.
    for (method, path) in [("GET", "/a/b?x=1"), ("HEAD", "/logo.png")] {
        let theirs = raw_request(both.theirs.0, method, path, "", "");
        let ours = raw_request(both.ours.0, method, path, "", "");
        assert_eq!(
            status_and_headers(&ours),
            status_and_headers(&theirs),
            "{ours}\n{theirs}"
        );
        let (_, headers) = status_and_headers(&ours);
        let want = format!("location: http://img.example.com{path}");
        assert!(headers.contains(&want), "{headers:?}");
        both.theirs.1.line();
        both.ours.1.line();
    }
    // Other methods go to the server.
    let (theirs, ours) = (
        raw_request(both.theirs.0, "POST", "/form", "Content-Length: 0\r\n", ""),
        raw_request(both.ours.0, "POST", "/form", "Content-Length: 0\r\n", ""),
    );
    assert!(
        theirs.starts_with("HTTP/1.1 200") && theirs.ends_with("proxied"),
        "{theirs}"
    );
    assert!(
        ours.starts_with("HTTP/1.1 200") && ours.ends_with("proxied"),
        "{ours}"
    );
}

/// `option httplog clf`: the Common Log Format line (strings quoted, an absent one `""`,
/// numbers and dates bare, captured headers one quoted value each), rendered by ringlb and
/// by haproxy 2.6 for the same requests: the same fields but for the client's port, the
/// milliseconds, the byte count (docs/compatibility.md) and the timers, which must have the
/// same shape.
#[test]
fn httplog_clf_renders_as_haproxy_does() {
    let origin = origin();
    let both = SideBySide::start(|port| {
        format!(
            "defaults\n mode http\n log global\n option httplog clf\n timeout client 5s\n timeout server 5s\n timeout connect 1s\nfrontend www\n bind 127.0.0.1:{port}\n capture request header Host len 20\n capture request header X-None len 8\n capture response header Server len 20\n default_backend web\nbackend web\n server web1 {origin}\n"
        )
    });
    for path in ["/", "/missing?q=1"] {
        let (theirs, ours) = both.lines(|port| {
            raw_get(port, path);
        });
        let msg = |line: &str| line.split_once("]: ").unwrap().1.to_string();
        let (t, o) = (msg(&theirs), msg(&ours));
        // `127.0.0.1 - - [05/Dec/2026:11:41:28 +0000] "GET / HTTP/1.1" 200 49 "" "" 54014 928
        // "www" "web" "web1" 0 0 0 1 1 ---- 1 1 0 0 0 0 0 "" "" "shop.example" "" ""`
        let words = |m: &str| m.split(' ').map(String::from).collect::<Vec<_>>();
        let (tw, ow) = (words(&t), words(&o));
        assert_eq!(ow.len(), tw.len(), "{path}:\n{o}\n{t}");
        // Client port, milliseconds, bytes, the five timers.
        let moving = [9, 12, 13, 17, 18, 19, 20, 21];
        for (i, (a, b)) in ow.iter().zip(&tw).enumerate() {
            if i == 3 || i == 4 {
                // `[%trg]`: the date in GMT to the second; the same layout.
                assert_eq!(a.len(), b.len(), "{path}: date {a} / {b}");
            } else if moving.contains(&i) {
                assert!(a.parse::<i64>().is_ok(), "{path}: field {i} {a} in {o}");
            } else {
                assert_eq!(a, b, "{path}: field {i}:\n{o}\n{t}");
            }
        }
        assert!(t.starts_with("127.0.0.1 - - ["), "{t}");
        // %CC %CS, the two request captures (X-None absent), the response capture.
        let tail = r#" 0 0 "" "" "shop.example" "" """#;
        assert!(t.ends_with(tail), "haproxy: {t}");
        assert!(o.ends_with(tail), "ringlb: {o}");
    }
}
