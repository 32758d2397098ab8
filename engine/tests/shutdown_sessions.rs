//! `on-marked-down shutdown-sessions` and `on-marked-up shutdown-backup-sessions` seen by a
//! client: a download in flight from a server that goes DOWN is cut (even one the server
//! stopped feeding, and whether checks or maintenance take it down), and so is a download
//! from a backup when an active server comes UP; without the options both run to their end. Descriptors return to their baseline.
//!
//! Each server's health is checked on a port of its own (`check port`), a fixture that can
//! be stopped and restarted, so a server's traffic goes on while its checks fail.

#[path = "../../checks/tests/fixture/mod.rs"]
mod fixture;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fixture::{Answer, Fixture};
use ringlb_config::model::*;
use support::*;

/// Tests of this file run one at a time: they count the whole process's descriptors.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const PIECE: usize = 1000;
const PIECES: usize = 20;

/// A server whose answer is `PIECES` pieces of `PIECE` bytes: the first one at once, the
/// rest only once `release` is set. Until then it stalls, watching for the proxy to end
/// the connection, which it records in `cut`.
struct Download {
    addr: SocketAddr,
    release: Arc<AtomicBool>,
    cut: Arc<AtomicBool>,
}

impl Download {
    /// `http`: answer an HTTP request with a `Content-Length` response; otherwise send the
    /// bytes as soon as a TCP connection opens.
    fn start(http: bool) -> Self {
        let release = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicBool::new(false));
        let (r, c) = (release.clone(), cut.clone());
        let addr = serve_each(move |s| feed(s, http, &r, &c));
        Self { addr, release, cut }
    }
}

fn feed(mut s: TcpStream, http: bool, release: &AtomicBool, cut: &AtomicBool) {
    if http {
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        if read_head(&mut r).is_none() {
            return;
        }
        // Closing after the answer keeps pooled idle connections out of the descriptor count.
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            PIECE * PIECES
        );
        if s.write_all(head.as_bytes()).is_err() {
            return;
        }
    }
    let piece = vec![b'x'; PIECE];
    if s.write_all(&piece).is_err() {
        return;
    }
    s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let give_up = Instant::now() + Duration::from_secs(10);
    let mut byte = [0u8; 64];
    while !release.load(Ordering::SeqCst) && Instant::now() < give_up {
        match s.read(&mut byte) {
            Ok(0) => {
                cut.store(true, Ordering::SeqCst);
                return;
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                cut.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
    for _ in 1..PIECES {
        if s.write_all(&piece).is_err() {
            return;
        }
    }
}

/// What a client got from one download through the proxy.
#[derive(Debug)]
struct Got {
    /// Bytes received in all, response head included.
    bytes: usize,
    /// The proxy closed the connection (rather than the read timing out).
    closed: bool,
}

/// Starts a download through `proxy` on a thread; `first` is signalled once the first
/// piece arrived, and the thread returns what the client got in the end.
fn download(proxy: SocketAddr, http: bool) -> (mpsc::Receiver<()>, std::thread::JoinHandle<Got>) {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let mut s = TcpStream::connect(proxy).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        if http {
            s.write_all(b"GET /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
        }
        let mut bytes = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let mut signalled = false;
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => bytes += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
            if !signalled && bytes >= PIECE {
                signalled = true;
                let _ = tx.send(());
            }
        };
        Got { bytes, closed }
    });
    (rx, t)
}

/// Waits (bounded) until the process's descriptor count is back to `baseline`.
fn fds_back_to(baseline: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = open_fds();
        if now <= baseline {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{now} descriptors open 5 s after the sessions ended, baseline {baseline}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Server `name` carrying traffic to `traffic`, health-checked (rise 2, fall 2, every
/// 50 ms) by a TCP connect to `check`'s port.
fn server_checked_on(name: &str, traffic: SocketAddr, check: &Fixture) -> Server {
    let mut s = checked(name, traffic, 50);
    s.check.port = Some(check.addr.port());
    s
}

/// `listen web` over `servers`, with timeouts far longer than any test waits.
fn web(http: bool, servers: Vec<Server>) -> Proxy {
    let mut p = listen("web", &[]);
    p.mode = if http { Mode::Http } else { Mode::Tcp };
    p.timeouts.client = Some(Duration::from_secs(30));
    p.timeouts.server = Some(Duration::from_secs(30));
    p.servers = servers;
    p
}

/// How a server goes DOWN in a test.
#[derive(Clone, Copy, PartialEq)]
enum Down {
    /// Its health checks fail.
    Checks,
    /// It is put in maintenance (the runtime socket's `set server … state maint`).
    Maintenance,
}

/// A download from a server that goes DOWN mid-way: cut with the option, whole without.
fn download_from_a_server_marked_down(legacy: bool, http: bool, shutdown_sessions: bool) {
    download_from_a_server_going(Down::Checks, legacy, http, shutdown_sessions);
}

fn download_from_a_server_going(how: Down, legacy: bool, http: bool, shutdown_sessions: bool) {
    let _serial = serial();
    let health = Fixture::start(Answer::Http);
    let origin = Download::start(http);
    let mut s = server_checked_on("s1", origin.addr, &health);
    if shutdown_sessions {
        s.check.on_marked_down = Some(OnMarkedDown::ShutdownSessions);
    }
    let h = run(config(2, vec![web(http, vec![s])]), legacy);
    wait_state(&h, "s1", true);
    let baseline = open_fds();

    let (first, client) = download(addr_of(&h, "web"), http);
    first
        .recv_timeout(Duration::from_secs(5))
        .expect("the download starts");
    match how {
        Down::Checks => health.stop(),
        Down::Maintenance => h
            .checker()
            .expect("a checker runs")
            .set_admin("web", "s1", ringlb_checks::AdminState::Maint)
            .unwrap(),
    }
    wait_state(&h, "s1", false);
    if !shutdown_sessions {
        origin.release.store(true, Ordering::SeqCst);
    }
    let got = client.join().unwrap();
    assert!(
        got.closed,
        "the connection ends, it does not time out: {got:?}"
    );
    let body_and_head = PIECE * PIECES;
    if shutdown_sessions {
        assert!(
            got.bytes < body_and_head,
            "the download is cut short: {got:?}"
        );
        assert!(
            origin.cut.load(Ordering::SeqCst),
            "the server sees its connection end"
        );
    } else {
        assert!(
            got.bytes >= body_and_head,
            "the download runs to its end: {got:?}"
        );
    }
    fds_back_to(baseline);
}

fn stalled_http_download_is_cut_when_its_server_goes_down(legacy: bool) {
    download_from_a_server_marked_down(legacy, true, true);
}
both_drivers!(
    stalled_http_download_cut_on_down,
    super::stalled_http_download_is_cut_when_its_server_goes_down
);

fn stalled_tcp_stream_is_cut_when_its_server_goes_down(legacy: bool) {
    download_from_a_server_marked_down(legacy, false, true);
}
both_drivers!(
    stalled_tcp_stream_cut_on_down,
    super::stalled_tcp_stream_is_cut_when_its_server_goes_down
);

fn download_is_cut_when_its_server_is_put_in_maintenance(legacy: bool) {
    download_from_a_server_going(Down::Maintenance, legacy, true, true);
}
both_drivers!(
    download_cut_on_maintenance,
    super::download_is_cut_when_its_server_is_put_in_maintenance
);

fn without_the_option_a_download_outlives_its_server_going_down(legacy: bool) {
    download_from_a_server_marked_down(legacy, true, false);
}
both_drivers!(
    download_outlives_down_without_option,
    super::without_the_option_a_download_outlives_its_server_going_down
);

/// A download from the backup while the active server is down; the active server then
/// comes back UP: the backup's download is cut with `on-marked-up shutdown-backup-sessions`
/// on the active server, and runs to its end without it.
fn backup_download_when_the_active_server_returns(legacy: bool, shutdown_backups: bool) {
    let _serial = serial();
    let active_health = Fixture::start(Answer::Http);
    let active = Download::start(true);
    let backup = Download::start(true);
    let mut a = server_checked_on("a", active.addr, &active_health);
    if shutdown_backups {
        a.check.on_marked_up = Some(OnMarkedUp::ShutdownBackupSessions);
    }
    let mut bk = server("bk", backup.addr);
    bk.backup = true;
    let h = run(config(2, vec![web(true, vec![a, bk])]), legacy);
    active_health.stop();
    wait_state(&h, "a", false);
    let baseline = open_fds();

    let (first, client) = download(addr_of(&h, "web"), true);
    first
        .recv_timeout(Duration::from_secs(5))
        .expect("the backup serves while the active server is down");
    active_health.restart();
    wait_state(&h, "a", true);
    if !shutdown_backups {
        backup.release.store(true, Ordering::SeqCst);
    }
    let got = client.join().unwrap();
    assert!(
        got.closed,
        "the connection ends, it does not time out: {got:?}"
    );
    if shutdown_backups {
        assert!(
            got.bytes < PIECE * PIECES,
            "the download is cut short: {got:?}"
        );
        assert!(
            backup.cut.load(Ordering::SeqCst),
            "the backup sees its connection end"
        );
    } else {
        assert!(
            got.bytes >= PIECE * PIECES,
            "the download runs to its end: {got:?}"
        );
    }
    // Probes of the active server come and go: compare once they are refused again.
    active_health.stop();
    fds_back_to(baseline);
}

fn backup_download_is_cut_when_the_active_server_comes_up(legacy: bool) {
    backup_download_when_the_active_server_returns(legacy, true);
}
both_drivers!(
    backup_download_cut_on_up,
    super::backup_download_is_cut_when_the_active_server_comes_up
);

fn without_the_option_a_backup_download_outlives_the_active_server_returning(legacy: bool) {
    backup_download_when_the_active_server_returns(legacy, false);
}
both_drivers!(
    backup_download_outlives_up_without_option,
    super::without_the_option_a_backup_download_outlives_the_active_server_returning
);
