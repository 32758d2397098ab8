//! TLS passthrough in `mode tcp`: routing on the ClientHello's SNI to real TLS servers
//! (`openssl s_server`), clients `openssl s_client` and curl, the hello forwarded untouched;
//! garbage, silent and fragmented clients.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringlb::boot::run::RunHandle;
use support::*;

/// `openssl s_server -www` with a self-signed P-256 certificate whose CN is `cn`; killed
/// on drop.
struct TlsOrigin {
    child: Child,
    addr: SocketAddr,
}

impl TlsOrigin {
    /// `openssl s_server -www` with a certificate for `cn` from `pki`.
    fn start(pki: &Pki, cn: &str) -> Self {
        pki.server(cn, &[cn]);
        let dir = pki.dir.path();
        let (cert, key) = (dir.join(format!("{cn}.crt")), dir.join(format!("{cn}.key")));
        let port = free_port();
        let child = Command::new("openssl")
            .args(["s_server", "-www", "-accept", &port.to_string()])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "s_server {cn} listens");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, addr }
    }
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three TLS servers (CN backend-a, backend-b, backend-c) behind the passthrough frontend
/// `tls` of the brief, and `strict`, which rejects what is not a ClientHello after 1 s.
struct Setup {
    _pki: Pki,
    _origins: Vec<TlsOrigin>,
    proxy: RunHandle,
}

fn setup(legacy: bool) -> Setup {
    let pki = Pki::new();
    let origins: Vec<TlsOrigin> = ["backend-a", "backend-b", "backend-c"]
        .iter()
        .map(|cn| TlsOrigin::start(&pki, cn))
        .collect();
    let text = format!(
        "global\n nbthread 1\n\
         defaults\n mode tcp\n timeout client 10s\n timeout server 10s\n timeout connect 1s\n\
         frontend tls\n bind 127.0.0.1:{}\n\
          tcp-request inspect-delay 5s\n\
          tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
          use_backend a if {{ req.ssl_sni -i a.example }}\n\
          use_backend b if {{ req.ssl_sni -m end .b.example }}\n\
          default_backend c\n\
         frontend strict\n bind 127.0.0.1:{}\n\
          tcp-request inspect-delay 1s\n\
          tcp-request content reject unless {{ req.ssl_hello_type 1 }}\n\
          use_backend a if {{ req_ssl_sni -i a.example }}\n\
          default_backend c\n\
         backend a\n server s {}\n\
         backend b\n server s {}\n\
         backend c\n server s {}\n",
        free_port(),
        free_port(),
        origins[0].addr,
        origins[1].addr,
        origins[2].addr,
    );
    let proxy = run(parse_config(&text), legacy);
    Setup {
        _pki: pki,
        _origins: origins,
        proxy,
    }
}

/// The subject of the certificate `openssl s_client` sees through `addr` when it asks for
/// `sni` (no SNI when `None`).
fn s_client_subject(addr: SocketAddr, sni: Option<&str>) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr.to_string()]);
    match sni {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("subject="))
        .unwrap_or_else(|| panic!("no certificate from {addr} for {sni:?}: {text}"))
        .replace(' ', "")
}

fn tls_routes_on_sni_to_the_right_server(legacy: bool) {
    let s = setup(legacy);
    let tls = addr_of(&s.proxy, "tls");
    assert_eq!(s_client_subject(tls, Some("a.example")), "CN=backend-a");
    assert_eq!(s_client_subject(tls, Some("A.EXAMPLE")), "CN=backend-a");
    assert_eq!(s_client_subject(tls, Some("www.b.example")), "CN=backend-b");
    assert_eq!(s_client_subject(tls, Some("other.example")), "CN=backend-c");
    assert_eq!(s_client_subject(tls, None), "CN=backend-c");
    assert_eq!(
        s_client_subject(addr_of(&s.proxy, "strict"), Some("a.example")),
        "CN=backend-a"
    );

    // curl completes a whole exchange with the server chosen: s_server -www answers with
    // its status page, and curl names the certificate it was given.
    let out = Command::new("curl")
        .args(["-sk", "-v", "--max-time", "10", "--resolve"])
        .arg(format!("x.b.example:{}:127.0.0.1", tls.port()))
        .arg(format!("https://x.b.example:{}/", tls.port()))
        .output()
        .expect("curl runs");
    let page = String::from_utf8_lossy(&out.stdout);
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(
        page.contains("Ciphers supported in s_server binary"),
        "{page}"
    );
    assert!(verbose.contains("subject: CN=backend-b"), "{verbose}");
}
both_drivers!(
    tls_routes_on_sni_to_the_right_server,
    super::tls_routes_on_sni_to_the_right_server
);

/// A ClientHello for `name` written by rustls, offering TLS 1.2 only so that the server's
/// certificate crosses in clear and the test can tell which server answered.
fn client_hello(name: &str) -> Vec<u8> {
    let config = rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS12])
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

/// What the server sends back within a second of `bytes`.
fn answer(c: &mut TcpStream, bytes: &[u8]) -> Vec<u8> {
    c.write_all(bytes).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = c.read(&mut chunk) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    got
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn hellos_in_pieces_and_late_clients(legacy: bool) {
    let s = setup(legacy);
    let tls = addr_of(&s.proxy, "tls");

    // The hello re-framed in 50-byte records and sent a record at a time: the proxy waits
    // for all of it, routes on its SNI and forwards the records as they came.
    let hello = client_hello("a.example");
    let mut records = Vec::new();
    for part in hello[5..].chunks(50) {
        records.extend_from_slice(&[0x16, 0x03, 0x01, 0, part.len() as u8]);
        records.extend_from_slice(part);
    }
    let mut c = connect(tls);
    for piece in records.chunks(55) {
        c.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    let got = answer(&mut c, b"");
    assert!(contains(&got, b"backend-a"), "{got:?}");

    // A client silent past the inspect-delay is decided on nothing: the default backend,
    // whatever its hello says afterwards.
    let mut c = connect(tls);
    std::thread::sleep(Duration::from_millis(5300));
    assert!(contains(&answer(&mut c, &hello), b"backend-c"));
}
both_drivers!(
    hellos_in_pieces_and_late_clients,
    super::hellos_in_pieces_and_late_clients
);

fn garbage_and_silence_end_without_waiting_for_ever(legacy: bool) {
    let s = setup(legacy);
    // Not TLS: no content rule applies, so the default backend gets the bytes at once
    // and its TLS server hangs up on them.
    let started = Instant::now();
    let mut c = connect(addr_of(&s.proxy, "tls"));
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    read_to_end(&mut c).unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));

    // `strict` rejects it at once: closed without a byte.
    let started = Instant::now();
    let mut c = connect(addr_of(&s.proxy, "strict"));
    assert_eq!(answer(&mut c, b"\x00garbage\xff\xfe"), b"");
    assert!(started.elapsed() < Duration::from_secs(2));

    // A truncated hello, then silence: released when the 1 s inspect-delay ends.
    let started = Instant::now();
    let mut c = connect(addr_of(&s.proxy, "strict"));
    c.write_all(&client_hello("a.example")[..40]).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_to_end(&mut c).unwrap(), b"");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // A client that sends nothing at all: the same.
    let started = Instant::now();
    let mut c = connect(addr_of(&s.proxy, "strict"));
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_to_end(&mut c).unwrap(), b"");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}
both_drivers!(
    garbage_and_silence_end_without_waiting_for_ever,
    super::garbage_and_silence_end_without_waiting_for_ever
);
