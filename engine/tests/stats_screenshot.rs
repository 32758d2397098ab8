//! The stats page renders in a real browser: headless chromium takes a screenshot of a
//! running page where one server is DOWN. `RINGLB_SCREENSHOT=PATH` also keeps the image
//! (how `docs/stats-page.png` is made). Without chromium the test fails: scripts/deps.sh
//! installs it, as scripts/test.sh does before running the suite.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use support::*;

const BROWSERS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// The first browser of [`BROWSERS`] that runs.
fn chromium() -> Option<&'static str> {
    BROWSERS.into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn the_page_with_a_down_server_renders_in_headless_chromium() {
    let browser = chromium().unwrap_or_else(|| {
        panic!(
            "no headless browser to render the stats page: none of {} runs. \
             Install chromium (scripts/deps.sh does, as root: apt-get install chromium).",
            BROWSERS.join(", ")
        )
    });
    let (web, api) = (Origin::text("ok").addr, Origin::text("ok").addr);
    let dead = dead_addr();
    let (port, sport) = (free_port(), free_port());
    let text = format!(
        "global\n nbthread 2\ndefaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n\
         frontend www\n bind 127.0.0.1:{port}\n use_backend api if {{ path_beg /api }}\n default_backend web\n\
         backend web\n balance roundrobin\n option httpchk GET /\n\
         server web1 {web} check inter 200ms rise 1 fall 1\n server web2 {dead} check inter 200ms rise 1 fall 1\n\
         server spare {web} backup\n\
         backend api\n server api1 {api} check inter 200ms\n\
         listen stats\n bind 127.0.0.1:{sport}\n stats enable\n stats uri /\n stats show-legends\n stats admin if LOCALHOST\n"
    );
    let h = run(parse_config(&text), false);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for i in 0..40 {
        let path = if i % 4 == 0 { "/api/x" } else { "/" };
        let _ = http_get(addr, path);
    }
    let stats = SocketAddr::from(([127, 0, 0, 1], sport));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, page) = http_get(stats, "/").unwrap();
        if page.contains("<tr class=\"down\">") {
            break;
        }
        assert!(Instant::now() < deadline, "web2 never shown DOWN: {page}");
        thread::sleep(Duration::from_millis(50));
    }
    let dir = TempDir::new("stats-shot");
    let png = dir.path().join("stats.png");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", dir.path().join("profile").display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=1500,900",
            &format!("http://{stats}/;norefresh"),
        ])
        .output()
        .expect("chromium runs");
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank page compresses to a few KiB; tables, colours and text take far more.
    assert!(
        bytes.len() > 30_000,
        "suspiciously small: {} bytes",
        bytes.len()
    );
    if let Ok(keep) = std::env::var("RINGLB_SCREENSHOT") {
        std::fs::copy(&png, keep).expect("screenshot kept");
    }
    drop(h);
}
