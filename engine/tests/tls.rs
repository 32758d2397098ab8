//! TLS termination end to end with real clients: `curl` and `openssl s_client` against
//! `bind … ssl` listeners, certificates from a throwaway CA made by `openssl`, on both
//! drivers.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ringlb::boot::run::RunHandle;
use support::*;

/// An origin that answers with the request headers the TLS fetches filled in.
fn echo_origin() -> SocketAddr {
    Origin::serve(|req| {
        let mut body = String::new();
        for (n, v) in &req.headers {
            if n.to_ascii_lowercase().starts_with("x-tls") {
                body.push_str(&format!("{}={v}\n", n.to_ascii_lowercase()));
            }
        }
        body.push_str(&format!("path={}\n", req.path));
        Reply::text(body)
    })
    .addr
}

/// Runs `text` (one frontend `fe` on `@PORT`; `@ORIGIN`, `@PKI` substituted) with
/// `nbthread` workers.
fn start(text: &str, pki: &Pki, nbthread: u16, legacy: bool) -> (RunHandle, SocketAddr) {
    let port = free_port();
    let text = text
        .replace("@PORT", &port.to_string())
        .replace("@ORIGIN", &echo_origin().to_string())
        .replace("@PKI", &pki.dir.path().display().to_string());
    let h = run_http(nbthread, &text, legacy);
    (h, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn tls_requests_carry_what_the_handshake_settled(legacy: bool) {
    let pki = Pki::new();
    pki.server("site", &["site.test", "*.site.test"]);
    let (_h, addr) = start(
        "frontend fe\n bind 127.0.0.1:@PORT ssl crt @PKI/site.pem\n \
         http-request set-header X-TLS-On %[ssl_fc]\n \
         http-request set-header X-TLS-SNI %[ssl_fc_sni]\n \
         http-request set-header X-TLS-Proto %[ssl_fc_protocol]\n \
         http-request set-header X-TLS-Cipher %[ssl_fc_cipher]\n \
         http-request set-header X-TLS-Bits %[ssl_fc_use_keysize]\n \
         default_backend be\nbackend be\n server s @ORIGIN\n",
        &pki,
        1,
        legacy,
    );
    let ca = pki.ca().display().to_string();
    // Three requests on one connection, a body large enough to span several records.
    let (code, out) = curl(
        addr,
        "www.site.test",
        &["/a", "/b", "/c"],
        &["--cacert", &ca, "--tlsv1.3"],
    );
    assert_eq!(code, 0, "{out}");
    for p in ["/a", "/b", "/c"] {
        assert!(out.contains(&format!("path={p}\n")), "{out}");
    }
    assert!(out.contains("x-tls-on=1\n"), "{out}");
    assert!(out.contains("x-tls-sni=www.site.test\n"), "{out}");
    assert!(out.contains("x-tls-proto=TLSv1.3\n"), "{out}");
    assert!(out.contains("x-tls-cipher=TLS_AES_"), "{out}");
    // TLS 1.2 with a suite named the OpenSSL way.
    let (code, out) = curl(
        addr,
        "site.test",
        &["/"],
        &[
            "--cacert",
            &ca,
            "--tlsv1.2",
            "--tls-max",
            "1.2",
            "--ciphers",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("x-tls-proto=TLSv1.2\n"), "{out}");
    assert!(
        out.contains("x-tls-cipher=ECDHE-ECDSA-AES128-GCM-SHA256\n"),
        "{out}"
    );
    assert!(out.contains("x-tls-bits=128\n"), "{out}");
}
both_drivers!(
    tls_requests_carry_what_the_handshake_settled,
    super::tls_requests_carry_what_the_handshake_settled
);

fn certificates_are_chosen_by_sni(legacy: bool) {
    let pki = Pki::new();
    pki.server("first", &["first.test"]);
    pki.server("alpha", &["alpha.test", "*.alpha.test"]);
    pki.server("exact", &["www.alpha.test"]);
    let cfg = "frontend fe\n bind 127.0.0.1:@PORT ssl crt @PKI/first.pem crt @PKI/alpha.pem \
               crt @PKI/exact.pem @STRICT\n default_backend be\nbackend be\n server s @ORIGIN\n";
    let (_h, addr) = start(&cfg.replace("@STRICT", ""), &pki, 1, legacy);
    let subject = |sni: &str| {
        let (ok, out) = s_client(addr, &["-servername", sni]);
        assert!(ok, "{sni}: {out}");
        out.lines()
            .find(|l| l.starts_with("subject="))
            .unwrap_or_default()
            .to_string()
    };
    assert!(subject("alpha.test").contains("CN = alpha.test"));
    assert!(
        subject("www.alpha.test").contains("CN = www.alpha.test"),
        "an exact name wins over a wildcard"
    );
    assert!(
        subject("x.alpha.test").contains("CN = alpha.test"),
        "wildcard"
    );
    assert!(
        subject("nothing.test").contains("CN = first.test"),
        "the first certificate is the default"
    );
    let (_h2, strict) = start(&cfg.replace("@STRICT", "strict-sni"), &pki, 1, legacy);
    let (ok, out) = s_client(strict, &["-servername", "nothing.test"]);
    assert!(!ok, "strict-sni refuses an unknown name: {out}");
    assert!(s_client(strict, &["-servername", "alpha.test"]).0);
}
both_drivers!(
    certificates_are_chosen_by_sni,
    super::certificates_are_chosen_by_sni
);

fn versions_and_alpn_follow_the_bind_line(legacy: bool) {
    let pki = Pki::new();
    pki.server("site", &["site.test"]);
    let (_h, addr) = start(
        "frontend fe\n bind 127.0.0.1:@PORT ssl crt @PKI/site.pem ssl-min-ver TLSv1.3 alpn h2,http/1.1\n \
         default_backend be\nbackend be\n server s @ORIGIN\n",
        &pki,
        1,
        legacy,
    );
    let (ok, out) = s_client(addr, &["-tls1_2"]);
    assert!(!ok, "TLS 1.2 is below ssl-min-ver: {out}");
    let (ok, out) = s_client(addr, &["-tls1_3", "-alpn", "h2,http/1.1"]);
    assert!(ok, "{out}");
    assert!(out.contains("ALPN protocol: h2"), "{out}");
    let (ok, out) = s_client(addr, &["-tls1_3", "-alpn", "http/1.1"]);
    assert!(ok, "{out}");
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
}
both_drivers!(
    versions_and_alpn_follow_the_bind_line,
    super::versions_and_alpn_follow_the_bind_line
);

fn client_certificates_are_verified_and_fetched(legacy: bool) {
    let pki = Pki::new();
    pki.server("site", &["site.test"]);
    let (crt, key) = pki.client("alice");
    let other = Pki::new();
    let (bad_crt, bad_key) = other.client("mallory");
    let (h, addr) = start(
        "frontend fe\n bind 127.0.0.1:@PORT ssl crt @PKI/site.pem ca-file @PKI/ca.pem verify required\n \
         http-request set-header X-TLS-Used %[ssl_c_used]\n \
         http-request set-header X-TLS-DN %[ssl_c_s_dn]\n \
         http-request set-header X-TLS-Issuer %[ssl_c_i_dn]\n \
         http-request set-header X-TLS-Verify %[ssl_c_verify]\n \
         default_backend be\nbackend be\n server s @ORIGIN\n",
        &pki,
        1,
        legacy,
    );
    let ca = pki.ca().display().to_string();
    let (code, out) = curl(addr, "site.test", &["/"], &["--cacert", &ca]);
    assert_ne!(code, 0, "no certificate, no connection: {out}");
    let with_cert = |crt: &std::path::Path, key: &std::path::Path| {
        let (crt, key) = (crt.display().to_string(), key.display().to_string());
        curl(
            addr,
            "site.test",
            &["/"],
            &["--cacert", &ca, "--cert", &crt, "--key", &key],
        )
    };
    let (code, out) = with_cert(&bad_crt, &bad_key);
    assert_ne!(
        code, 0,
        "a certificate from an unknown CA is refused: {out}"
    );
    let (code, out) = with_cert(&crt, &key);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("x-tls-used=1\n"), "{out}");
    assert!(out.contains("x-tls-dn=/O=ringlb tests/CN=alice\n"), "{out}");
    assert!(
        out.contains("x-tls-issuer=/O=ringlb tests/CN=ringlb test CA\n"),
        "{out}"
    );
    assert!(out.contains("x-tls-verify=0\n"), "{out}");
    let s = h.stats().frontend("fe").unwrap().clone();
    assert!(s.tls_failures >= 2, "{s:?}");
    assert!(s.tls_handshakes >= 1, "{s:?}");
}
both_drivers!(
    client_certificates_are_verified_and_fetched,
    super::client_certificates_are_verified_and_fetched
);

/// Garbage, a stalled handshake and a client that vanishes mid-handshake each end their
/// own connection, are counted, leak no descriptor, and leave the listener serving.
fn bad_handshakes_end_cleanly(legacy: bool) {
    let pki = Pki::new();
    pki.server("site", &["site.test"]);
    let port = free_port();
    let mport = free_port();
    let logs = Receiver::new();
    let text = format!(
        "global\n nbthread 1\n log {} local0 info\ndefaults\n mode http\n timeout client 1s\n \
         timeout server 5s\n timeout connect 1s\n\
         frontend fe\n log global\n option httplog\n bind 127.0.0.1:{port} ssl crt {}/site.pem name tls443\n \
         default_backend be\nbackend be\n server s {}\n\
         frontend metrics\n bind 127.0.0.1:{mport}\n \
         http-request use-service prometheus-exporter if {{ path /metrics }}\n",
        logs.addr(),
        pki.dir.path().display(),
        echo_origin()
    );
    let h = run(parse_config(&text), legacy);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let ca = pki.ca().display().to_string();
    assert_eq!(curl(addr, "site.test", &["/"], &["--cacert", &ca]).0, 0);

    // Plain HTTP on the TLS port.
    let mut got = Vec::new();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_end(&mut got);
    drop(s);
    assert!(
        !got.starts_with(b"HTTP/"),
        "never answered in clear: {got:?}"
    );
    // Logged as HAProxy logs it, with the bind's name.
    // After the line of the request made first, whose frontend is marked TLS (`%ft`).
    let request = logs.line();
    assert!(request.contains(" fe~ be/s "), "{request}");
    let line = logs.line();
    assert!(
        line.contains("fe/tls443: SSL handshake failure (") && line.contains("127.0.0.1:"),
        "{line}"
    );
    // A ClientHello cut short, then silence: released at `timeout client`.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t0 = Instant::now();
    let _ = s.read_to_end(&mut got);
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "a stalled handshake is released at timeout client"
    );
    drop(s);
    // An oversized record header.
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = s.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff]);
    let _ = s.write_all(&[0u8; 4096]);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_end(&mut got);
    drop(s);
    // Connected and gone.
    drop(TcpStream::connect(addr).unwrap());

    assert_eq!(curl(addr, "site.test", &["/"], &["--cacert", &ca]).0, 0);
    // Every client is gone: no connection to the port is still held open by the proxy
    // (the process-wide descriptor count would also see the tests running beside this one).
    let deadline = Instant::now() + Duration::from_secs(3);
    while held_open(port) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(held_open(port), 0, "a connection to the TLS port leaked");
    let s = h.stats().frontend("fe").unwrap().clone();
    assert!(s.tls_failures >= 3, "{s:?}");
    assert_eq!(s.tls_handshakes, 2, "{s:?}");
    // The same counts, scraped.
    let metrics = get(SocketAddr::from(([127, 0, 0, 1], mport)), "/metrics", "x").text();
    let line = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name}: {metrics}"))
            .to_string()
    };
    assert!(line("ringlb_frontend_tls_handshakes_total{proxy=\"fe\"}").ends_with(" 2"));
    assert!(line("haproxy_process_ssl_connections_total").ends_with(" 2"));
    let failed = line("ringlb_frontend_tls_failures_total{proxy=\"fe\"}");
    assert_eq!(
        failed.rsplit(' ').next().unwrap().parse::<u64>().unwrap(),
        s.tls_failures
    );
}
both_drivers!(
    bad_handshakes_end_cleanly,
    super::bad_handshakes_end_cleanly
);

/// A response head held back for the body bytes that follow it (one segment for both, see
/// `codec/body.rs`) leaves at once when the body is late: its TLS record too.
fn a_late_body_does_not_hold_its_head_back(legacy: bool) {
    let pki = Pki::new();
    pki.server("site", &["site.test"]);
    let server = split_writer(Duration::from_millis(800));
    let (_h, addr) = start(
        &format!(
            "frontend fe\n bind 127.0.0.1:@PORT ssl crt @PKI/site.pem\n default_backend be\n\
             backend be\n server s {server}\n"
        ),
        &pki,
        1,
        legacy,
    );
    let ca = pki.ca().display().to_string();
    let times = "\n%{time_pretransfer} %{time_starttransfer} %{time_total}";
    // Held back, the head would leave with the client's next ACK (40 ms of delayed ACK at
    // the least) or the kernel's probe timer (200 ms); the best of three attempts, so that
    // a busy machine does not fail it.
    let mut best = f64::MAX;
    for _ in 0..3 {
        let (code, out) = curl(addr, "site.test", &["/"], &["--cacert", &ca, "-w", times]);
        assert_eq!(code, 0, "{out}");
        assert!(out.starts_with("hello\n"), "{out}");
        let t: Vec<f64> = out
            .lines()
            .last()
            .unwrap()
            .split(' ')
            .map(|v| v.parse().unwrap())
            .collect();
        assert!(t[2] - t[0] >= 0.8, "the body came early: {out}");
        best = best.min(t[1] - t[0]);
    }
    assert!(best < 0.035, "the head came {best:.3} s after the request");
}
both_drivers!(
    a_late_body_does_not_hold_its_head_back,
    super::a_late_body_does_not_hold_its_head_back
);

/// Connections to local `port` still open on the proxy's side: ESTABLISHED or CLOSE_WAIT
/// (the peer closed, the proxy did not), from `/proc/net/tcp`.
fn held_open(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local_port = f[1].rsplit(':').next().unwrap();
            u16::from_str_radix(local_port, 16) == Ok(port) && matches!(f[3], "01" | "08")
        })
        .count()
}

/// A session made on one worker resumes on any: tickets and the cache are shared.
fn sessions_resume_across_workers(legacy: bool) {
    let pki = Pki::new();
    pki.server("site", &["site.test"]);
    // Tickets, then the session cache alone.
    for opts in ["", "no-tls-tickets"] {
        let (_h, addr) = start(
            &format!("frontend fe\n bind 127.0.0.1:@PORT ssl crt @PKI/site.pem {opts}\n default_backend be\nbackend be\n server s @ORIGIN\n"),
            &pki,
            2,
            legacy,
        );
        resumes(&pki, addr, opts);
    }
}
both_drivers!(
    sessions_resume_across_workers,
    super::sessions_resume_across_workers
);

fn resumes(pki: &Pki, addr: SocketAddr, opts: &str) {
    let sess = pki.dir.path().join("sess.pem").display().to_string();
    for version in ["-tls1_3", "-tls1_2"] {
        // A request, so that the client stays for the TLS 1.3 tickets sent after the
        // handshake.
        let get = b"GET / HTTP/1.0\r\n\r\n";
        let (ok, out) = s_client_send(addr, &[version, "-ign_eof", "-sess_out", &sess], get);
        assert!(ok, "{out}");
        // SO_REUSEPORT spreads connections over both workers; every one resumes. Each
        // takes the newest session: a ticket from the session cache is good once.
        for _ in 0..6 {
            let args = [version, "-ign_eof", "-sess_in", &sess, "-sess_out", &sess];
            let (ok, out) = s_client_send(addr, &args, get);
            assert!(ok, "{out}");
            assert!(out.contains("Reused,"), "{version} {opts}: {out}");
        }
    }
}

/// testssl.sh against a listener with default TLS settings: no finding rated high or
/// critical. The certificate is made to pass the certificate checks (CA given to the
/// scanner, name, lifetime, revocation URI), so what is rated is ringlb's TLS.
#[test]
fn testssl_finds_nothing_high_or_critical() {
    let pki = Pki::new();
    pki.server("site", &["site.test"]);
    let (_h, addr) = start(
        "frontend fe\n bind 127.0.0.1:@PORT ssl crt @PKI/site.pem\n default_backend be\nbackend be\n server s @ORIGIN\n",
        &pki,
        1,
        false,
    );
    let json = pki.dir.path().join("testssl.json");
    let out = std::process::Command::new("testssl")
        .args(["--quiet", "--color", "0", "--warnings", "off", "--add-ca"])
        .arg(pki.ca())
        .arg("--ip")
        .arg("127.0.0.1")
        .arg("--jsonfile")
        .arg(&json)
        .arg(format!("https://site.test:{}/", addr.port()))
        .output()
        .expect("testssl is installed (scripts/deps.sh: testssl.sh)");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|_| {
        panic!(
            "testssl wrote no report: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let findings: Vec<&str> = text
        .split("},")
        .filter(|f| {
            f.contains("\"severity\"") && (f.contains("\"HIGH\"") || f.contains("\"CRITICAL\""))
        })
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
    assert!(text.contains("\"TLS1_3\""), "the scan ran: {text}");
}

/// `mode tcp` with `bind … ssl`: TLS ends at ringlb, the server gets the plain bytes, and
/// routing can use the name the client asked for.
fn tcp_mode_terminates_tls(legacy: bool) {
    let pki = Pki::new();
    pki.server("site", &["a.test", "b.test"]);
    let a = Origin::text("from-a").addr;
    let b = Origin::text("from-b").addr;
    let port = free_port();
    let text = format!(
        "global\n nbthread 1\ndefaults\n mode tcp\n timeout client 5s\n timeout server 5s\n \
         timeout connect 1s\nfrontend fe\n bind 127.0.0.1:{port} ssl crt {}/site.pem\n \
         use_backend a if {{ ssl_fc_sni a.test }}\n default_backend b\n\
         backend a\n server s {a}\nbackend b\n server s {b}\n",
        pki.dir.path().display()
    );
    let _h = run(parse_config(&text), legacy);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let ca = pki.ca().display().to_string();
    // A large upload crosses the tunnel in many records both ways.
    let big = pki.dir.write("big.bin", &"x".repeat(3 << 20));
    for (name, want) in [("a.test", "from-a"), ("b.test", "from-b")] {
        let (code, out) = curl(
            addr,
            name,
            &["/"],
            &[
                "--cacert",
                &ca,
                "--data-binary",
                &format!("@{}", big.display()),
            ],
        );
        assert_eq!(code, 0, "{out}");
        assert!(out.contains(want), "{name}: {out}");
    }
}
both_drivers!(tcp_mode_terminates_tls, super::tcp_mode_terminates_tls);

/// `set ssl cert` + `commit ssl cert` through the runtime socket: new handshakes get the
/// new certificate at once, without a reload; a mismatched key is refused and changes
/// nothing.
#[test]
fn certificates_rotate_through_the_runtime_socket() {
    let pki = Pki::new();
    let site = pki.server("site", &["old.test"]);
    let port = free_port();
    let sock = pki.dir.path().join("admin.sock");
    let text = format!(
        "global\n nbthread 2\n stats socket {} level admin\ndefaults\n mode http\n \
         timeout client 5s\n timeout server 5s\n timeout connect 1s\n\
         frontend fe\n bind 127.0.0.1:{port} ssl crt {}\n default_backend be\n\
         backend be\n server s {}\n",
        sock.display(),
        site.display(),
        echo_origin()
    );
    let _h = run(parse_config(&text), false);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let subject = || {
        let (ok, out) = s_client(addr, &["-servername", "x.test"]);
        assert!(ok, "{out}");
        out.lines()
            .find(|l| l.starts_with("subject="))
            .unwrap_or_default()
            .to_string()
    };
    assert!(subject().contains("CN = old.test"));
    let file = site.display().to_string();
    let listed = socat(&sock, "show ssl cert");
    assert!(
        listed.contains(&format!("# filename\n{file}\n")),
        "{listed}"
    );
    let shown = socat(&sock, &format!("show ssl cert {file}"));
    assert!(shown.contains("Subject: /CN=old.test"), "{shown}");
    assert!(
        shown.contains("Subject Alternative Name: DNS:old.test"),
        "{shown}"
    );

    // A chain with another certificate's key: refused, nothing changes.
    let new = std::fs::read_to_string(pki.server("next", &["new.test"])).unwrap();
    let other_key = std::fs::read_to_string(pki.dir.path().join("site.key")).unwrap();
    let cert_only: String = new
        .split("-----BEGIN PRIVATE KEY-----")
        .next()
        .unwrap()
        .to_string();
    let bad = socat(
        &sock,
        &format!("set ssl cert {file} <<\n{cert_only}{other_key}\n"),
    );
    assert!(bad.contains("does not belong"), "{bad}");
    assert!(socat(&sock, &format!("commit ssl cert {file}")).contains("No ongoing transaction"));

    let set = socat(
        &sock,
        &format!("set ssl cert {file} <<\n{}\n", new.trim_end()),
    );
    assert!(
        set.contains(&format!("Transaction created for certificate {file}!")),
        "{set}"
    );
    assert!(
        subject().contains("CN = old.test"),
        "nothing changes before the commit"
    );
    let pending = socat(&sock, &format!("show ssl cert *{file}"));
    assert!(pending.contains("Subject: /CN=new.test"), "{pending}");
    let commit = socat(&sock, &format!("commit ssl cert {file}"));
    assert!(commit.contains("Success!"), "{commit}");
    // Both workers present the new one.
    for _ in 0..4 {
        assert!(subject().contains("CN = new.test"));
    }
    let shown = socat(&sock, &format!("show ssl cert {file}"));
    assert!(shown.contains("Subject: /CN=new.test"), "{shown}");
}

/// A master-worker reload reads the certificate files anew: a replaced file is presented
/// by the new worker; a file whose key no longer matches makes the reload refused, and the
/// running worker keeps presenting the old one.
#[test]
fn a_reload_picks_up_changed_certificate_files() {
    let pki = Pki::new();
    let site = pki.server("site", &["old.test"]);
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let config = pki.dir.write(
        "tls.cfg",
        &format!(
            "global\n master-worker\n nbthread 1\ndefaults\n mode http\n timeout client 5s\n \
             timeout server 5s\n timeout connect 1s\nfrontend fe\n bind 127.0.0.1:{port} ssl crt {}\n \
             default_backend be\nbackend be\n server s {}\n",
            site.display(),
            echo_origin()
        ),
    );
    let mut master = Ringlb::spawn(
        &["-f".to_string(), config.display().to_string()],
        pki.dir.path().join("stderr.txt"),
    );
    master.wait_serving(addr);
    let subject = || {
        let (ok, out) = s_client(addr, &["-servername", "x.test"]);
        assert!(ok, "{out}");
        out.lines()
            .find(|l| l.starts_with("subject="))
            .unwrap_or_default()
            .to_string()
    };
    assert!(subject().contains("CN = old.test"));
    let presented_within = |cn: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if subject().contains(cn) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    };

    // A certificate with another certificate's key: the reload is refused.
    let next = std::fs::read_to_string(pki.server("next", &["new.test"])).unwrap();
    let old = std::fs::read_to_string(&site).unwrap();
    let cert_only = next.split("-----BEGIN PRIVATE KEY-----").next().unwrap();
    let old_key = &old[old.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
    std::fs::write(&site, format!("{cert_only}{old_key}")).unwrap();
    master.signal(libc::SIGUSR2);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !master.stderr().contains("reload refused") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        master.stderr().contains("does not belong"),
        "{}",
        master.stderr()
    );
    assert!(subject().contains("CN = old.test"));

    std::fs::write(&site, &next).unwrap();
    master.signal(libc::SIGUSR2);
    assert!(presented_within("CN = new.test"), "{}", master.stderr());
    // The master stops its workers with it.
    assert!(master.stop_with(libc::SIGTERM).success());
}

/// `option abortonclose` with a TLS client: one that sends its request and leaves (with
/// close_notify) while queued is not forwarded; without the option it is.
fn abortonclose_sees_a_tls_client_leave(legacy: bool) {
    assert_eq!(requests_after_a_tls_client_leaves(true, legacy), 1);
    assert_eq!(requests_after_a_tls_client_leaves(false, legacy), 2);
}

/// How many requests the server received when a queued TLS client left.
fn requests_after_a_tls_client_leaves(abortonclose: bool, legacy: bool) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let pki = Pki::new();
    pki.server("site", &["site.test"]);
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let origin = Origin::serve(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Reply::text("slow").after(Duration::from_millis(600))
    })
    .addr;
    let port = free_port();
    let text = format!(
        "global\n nbthread 1\ndefaults\n mode http\n timeout client 5s\n timeout server 5s\n \
         timeout connect 1s\nfrontend fe\n bind 127.0.0.1:{port} ssl crt {}/site.pem\n \
         default_backend be\nbackend be\n {}\n timeout queue 10s\n \
         server s {origin} maxconn 1\n",
        pki.dir.path().display(),
        if abortonclose {
            "option abortonclose"
        } else {
            ""
        }
    );
    let _h = run(parse_config(&text), legacy);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let ca = pki.ca().display().to_string();
    let first =
        std::thread::spawn(move || curl(addr, "site.test", &["/first"], &["--cacert", &ca]));
    std::thread::sleep(Duration::from_millis(150));
    // s_client sends the request, then closes on the end of its input.
    let (_, out) = s_client_send(addr, &[], b"GET /gone HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        !out.contains("HTTP/1.1 200"),
        "left before the answer: {out}"
    );
    let (code, body) = first.join().unwrap();
    assert_eq!(code, 0, "{body}");
    std::thread::sleep(Duration::from_millis(900));
    seen.load(Ordering::SeqCst)
}
both_drivers!(
    abortonclose_sees_a_tls_client_leave,
    super::abortonclose_sees_a_tls_client_leave
);
