//! The second transport: the HTTP/1 session and the TCP tunnel over Unix sockets, on both
//! sides (`bind unix@PATH` for clients, `server … unix@PATH` for servers), through the
//! `ringlb` binary on both drivers. Keep-alive, request bodies by length and chunked,
//! pipelining, a large response, half-close through the tunnel, the file's `mode`, and the
//! files removed on stop.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use support::*;

/// A keep-alive HTTP/1.1 origin on a Unix socket: `/big` answers 1 MiB of a pattern, any
/// other path answers `PATH LEN` where LEN is the request body's length (by Content-Length
/// or chunked).
fn unix_origin(path: &Path) {
    let listener = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                while let Some(head) = read_head(&mut r) {
                    let target = head.split(' ').nth(1).unwrap_or("").to_string();
                    let lower = head.to_ascii_lowercase();
                    let len = lower
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse::<usize>().unwrap());
                    let body = if lower.contains("transfer-encoding: chunked") {
                        read_chunked(&mut r)
                    } else {
                        let mut b = vec![0; len.unwrap_or(0)];
                        r.read_exact(&mut b).unwrap();
                        b
                    };
                    let reply = if target == "/big" {
                        pattern(1 << 20)
                    } else {
                        format!("{target} {}", body.len()).into_bytes()
                    };
                    let head =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", reply.len());
                    if w.write_all(head.as_bytes())
                        .and_then(|_| w.write_all(&reply))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
}

fn read_chunked(r: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let n = usize::from_str_radix(line.trim(), 16).unwrap();
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk).unwrap();
        if n == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// An echo server on a Unix socket: sends back what it reads, then closes its side once the
/// client has closed its own.
fn unix_echo(path: &Path) {
    let listener = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut buf = [0u8; 16384];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => conn.write_all(&buf[..n]).unwrap(),
                    }
                }
                let _ = conn.shutdown(std::net::Shutdown::Write);
            });
        }
    });
}

/// Connects to `path`, waiting up to 10 s for the proxy to bind it.
fn connect(path: &Path) -> UnixStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = UnixStream::connect(path) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "nothing listens on {}",
            path.display()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Reads one response with a Content-Length body: (status line, body).
fn read_response(r: &mut impl BufRead) -> (String, Vec<u8>) {
    let head = read_head(r).expect("a response head");
    let len = head
        .to_ascii_lowercase()
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .expect("a Content-Length");
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (head.lines().next().unwrap().to_string(), body)
}

struct Setup {
    dir: TempDir,
    lb: Ringlb,
}

impl Setup {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Starts ringlb with an HTTP frontend and a TCP listen on Unix sockets, in front of the
/// Unix origin and echo servers.
fn start(legacy: bool) -> Setup {
    let dir = TempDir::new("unix");
    let p = |n: &str| dir.path().join(n).display().to_string();
    unix_origin(&dir.path().join("origin.sock"));
    unix_echo(&dir.path().join("echo.sock"));
    let config = dir.write(
        "unix.cfg",
        &format!(
            "global\n    nbthread 2\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
             frontend web\n    bind unix@{} mode 660\n    default_backend be\n\
             backend be\n    server s1 unix@{}\n\
             listen tunnel\n    mode tcp\n    bind {}\n    server echo unix@{}\n",
            p("front.sock"),
            p("origin.sock"),
            p("tunnel.sock"),
            p("echo.sock"),
        ),
    );
    let mut args = vec!["-f".to_string(), config.display().to_string()];
    if legacy {
        args.push("--legacy-driver".into());
    }
    let lb = Ringlb::spawn(&args, dir.path().join("stderr.txt"));
    Setup { dir, lb }
}

fn http_session_over_unix_sockets(legacy: bool) {
    let mut s = start(legacy);
    let front = s.path("front.sock");
    let c = connect(&front);
    let mode = std::fs::metadata(&front).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "bind … mode 660 applies to the socket file");
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);

    // Keep-alive: several exchanges on one client connection.
    w.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(
        read_response(&mut r),
        ("HTTP/1.1 200 OK".into(), b"/a 0".to_vec())
    );
    let body = pattern(100_000);
    w.write_all(
        format!(
            "POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    w.write_all(&body).unwrap();
    assert_eq!(read_response(&mut r).1, b"/len 100000");
    w.write_all(b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r).1, b"/chunked 11");
    w.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut r).1,
        pattern(1 << 20),
        "a 1 MiB body arrives whole"
    );

    // Pipelining: three requests in one write, three answers in order.
    w.write_all(b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\nGET /p3 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    for p in ["/p1 0", "/p2 0", "/p3 0"] {
        assert_eq!(read_response(&mut r).1, p.as_bytes());
    }
    // Connection: close ends the connection after the answer.
    w.write_all(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r).1, b"/last 0");
    let mut rest = Vec::new();
    assert_eq!(
        r.read_to_end(&mut rest).unwrap(),
        0,
        "closed after Connection: close"
    );

    assert_eq!(
        s.lb.stop_with(libc::SIGTERM).code(),
        Some(0),
        "{}",
        s.lb.stderr()
    );
    for f in ["front.sock", "tunnel.sock"] {
        assert!(!s.path(f).exists(), "{f} is removed on stop");
    }
    assert!(
        s.path("origin.sock").exists(),
        "a socket ringlb did not bind is left alone"
    );
}
both_drivers!(
    http_session_over_unix_sockets,
    super::http_session_over_unix_sockets
);

fn tcp_tunnel_over_unix_sockets(legacy: bool) {
    let mut s = start(legacy);
    let c = connect(&s.path("tunnel.sock"));
    let sent = pattern(1 << 20);
    let mut w = c.try_clone().unwrap();
    let data = sent.clone();
    let writer = thread::spawn(move || {
        w.write_all(&data).unwrap();
        // Half-close: the echo server sees the end and closes its side in turn.
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    let mut r = c;
    r.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(
        got == sent,
        "the tunnel carries every byte both ways, in order"
    );
    assert_eq!(
        s.lb.stop_with(libc::SIGTERM).code(),
        Some(0),
        "{}",
        s.lb.stderr()
    );
}
both_drivers!(
    tcp_tunnel_over_unix_sockets,
    super::tcp_tunnel_over_unix_sockets
);
