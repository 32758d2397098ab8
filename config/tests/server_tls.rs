//! `server … ssl` and the TLS words of `server` and `default-server` lines: what they parse
//! into, what settles from the global section, what `-c` refuses once files are read, and
//! that a dump reads back to the same model. Certificates come from the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::Command;

use ringlb_config::model::{Config, TlsVersion, Verify};
use ringlb_config::{dump, parse_str, Loaded};

/// A CA and a client certificate in a directory of their own.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ringlb-srvtls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("the openssl command is installed (scripts/deps.sh)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=test CA",
        ]);
        openssl(&ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
            "-subj",
            "/CN=proxy",
        ]);
        openssl(&csr);
        // An extension makes it X.509 v3, the only version webpki takes.
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "client.pem",
            "-days",
            "30",
            "-extfile",
            "client.ext",
        ]);
        // The key beside the certificate, as HAProxy finds it (`client.pem.key`).
        std::fs::copy(dir.join("client.key"), dir.join("client.pem.key")).unwrap();
        std::fs::write(
            dir.join("ca.cnf"),
            "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ndefault_md = sha256\n\
             default_crl_days = 30\ncrlnumber = crlnumber\n",
        )
        .unwrap();
        // A CRL number makes it a v2 list, the only kind webpki takes.
        std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        openssl(&[
            "ca", "-gencrl", "-keyfile", "ca.key", "-cert", "ca.pem", "-out", "crl.pem", "-config",
            "ca.cnf",
        ]);
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// `text` with `@DIR` standing for the directory.
    fn text(&self, text: &str) -> String {
        text.replace("@DIR", &self.dir.display().to_string())
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn load(text: &str) -> Loaded {
    parse_str(text, Path::new("t.cfg"))
}

fn accepted(text: &str) -> Config {
    let l = load(text);
    l.config
        .unwrap_or_else(|| panic!("refused: {:#?}\n{text}", l.diagnostics))
}

fn round_trips(c: &Config) {
    let text = dump(c);
    let back = accepted(&text);
    assert_eq!(&back, c, "dump differs:\n{text}");
    assert_eq!(dump(&back), text, "dump is not stable");
}

#[test]
fn every_server_tls_word_is_applied_and_dumped_back() {
    let f = Files::new("words");
    let c = accepted(&f.text(
        "backend b\n    mode http\n    \
         server s 10.0.0.1:443 ssl verify required ca-file @DIR/ca.pem crl-file @DIR/crl.pem \
         crt @DIR/client.pem sni req.hdr(host) verifyhost www.example.com alpn http/1.1 \
         ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 ciphers ECDHE-ECDSA-AES128-GCM-SHA256 \
         ciphersuites TLS_AES_128_GCM_SHA256 no-tls-tickets no-ssl-reuse check check-ssl \
         check-sni health.example.com\n",
    ));
    let s = &c.proxy("b").unwrap().servers[0];
    assert!(s.ssl && s.check.ssl && s.check_tls());
    let t = &s.tls;
    assert_eq!(t.verify, Some(Verify::Required));
    assert_eq!(t.ca_file.as_ref().unwrap().items.len(), 1);
    assert_eq!(t.crl_file.as_ref().unwrap().items.len(), 1);
    let cert = t.cert.as_ref().expect("the client certificate is read");
    assert_eq!(cert.path, Path::new(&f.path("client.pem")));
    assert_eq!(t.sni.as_ref().unwrap().to_string(), "hdr(host)");
    assert_eq!(t.verifyhost.as_deref(), Some("www.example.com"));
    assert_eq!(t.check_sni.as_deref(), Some("health.example.com"));
    assert_eq!(t.options.min_ver, Some(TlsVersion::Tls12));
    assert_eq!(
        t.options.alpn.as_deref(),
        Some(&["http/1.1".to_string()][..])
    );
    assert!(t.options.no_tls_tickets && t.no_reuse);
    round_trips(&c);
}

#[test]
fn default_server_tls_words_apply_to_each_server_and_no_words_reset_them() {
    let c = accepted(
        "backend b\n    default-server ssl verify none sni str(api.example.com) no-ssl-reuse check-ssl\n    \
         server a 10.0.0.1:443\n    server p 10.0.0.2:80 no-ssl ssl-reuse no-check-ssl tls-tickets\n",
    );
    let b = c.proxy("b").unwrap();
    let (a, p) = (&b.servers[0], &b.servers[1]);
    assert!(a.ssl && a.tls.no_reuse && a.check.ssl);
    assert_eq!(
        a.tls.sni.as_ref().unwrap().to_string(),
        "str(api.example.com)"
    );
    assert!(!p.ssl && !p.tls.no_reuse && !p.check.ssl);
    round_trips(&c);
}

#[test]
fn global_server_defaults_fold_into_each_server() {
    let c = accepted(
        "global\n    ssl-server-verify none\n    ssl-default-server-ciphers ECDHE-RSA-AES128-GCM-SHA256\n    \
         ssl-default-server-ciphersuites TLS_AES_256_GCM_SHA384\n    \
         ssl-default-server-options ssl-min-ver TLSv1.3 no-tls-tickets\n\
         backend b\n    server s 10.0.0.1:443 ssl\n    server o 10.0.0.1:443 ssl ciphersuites TLS_AES_128_GCM_SHA256\n",
    );
    let b = c.proxy("b").unwrap();
    let o = &b.servers[0].tls.options;
    assert_eq!(o.ciphers.as_deref(), Some("ECDHE-RSA-AES128-GCM-SHA256"));
    assert_eq!(o.ciphersuites.as_deref(), Some("TLS_AES_256_GCM_SHA384"));
    assert_eq!(o.min_ver, Some(TlsVersion::Tls13));
    assert!(o.no_tls_tickets);
    assert_eq!(
        b.servers[1].tls.options.ciphersuites.as_deref(),
        Some("TLS_AES_128_GCM_SHA256"),
        "the server's own word wins"
    );
    assert_eq!(b.servers[0].tls.verify, None, "ssl-server-verify decides");
    assert_eq!(b.servers[0].tls.verify_or(&c.global.tls), Verify::None);
    round_trips(&c);
}

#[test]
fn checks_follow_traffic_over_tls_unless_they_go_elsewhere() {
    let c = accepted(
        "backend b\n    option httpchk\n    default-server verify none check\n    \
         server same 10.0.0.1:443 ssl\n    server port 10.0.0.1:443 ssl port 80\n    \
         server addr 10.0.0.1:443 ssl addr 10.0.0.2\n    server forced 10.0.0.1:443 ssl port 8443 check-ssl\n    \
         server plain 10.0.0.1:80\n",
    );
    let tls: Vec<bool> = c
        .proxy("b")
        .unwrap()
        .servers
        .iter()
        .map(|s| s.check_tls())
        .collect();
    assert_eq!(tls, [true, false, false, true, false]);
}

#[test]
fn tls_words_without_ssl_are_kept_and_files_still_read() {
    let f = Files::new("nossl");
    // HAProxy keeps them (a `check-ssl` or a runtime `set server … ssl on` uses them).
    let c = accepted(
        &f.text("backend b\n    server s 10.0.0.1:80 verify required ca-file @DIR/ca.pem\n"),
    );
    let s = &c.proxy("b").unwrap().servers[0];
    assert!(!s.ssl);
    assert_eq!(s.tls.ca_file.as_ref().unwrap().items.len(), 1);
    round_trips(&c);
    let l = load(&f.text("backend b\n    server s 10.0.0.1:80 ca-file @DIR/client.key\n"));
    assert!(
        l.config.is_none(),
        "a file without certificates is refused: {:?}",
        l.diagnostics
    );
}

#[test]
fn h2_is_not_offered_to_an_http_server_and_the_user_is_told() {
    let l = load(
        "backend b\n    mode http\n    server s 10.0.0.1:443 ssl verify none alpn h2,http/1.1\n",
    );
    assert!(l.config.is_some());
    let w = l
        .diagnostics
        .iter()
        .find(|d| !d.is_error() && d.message.contains("alpn: h2 not offered"))
        .unwrap_or_else(|| panic!("{:#?}", l.diagnostics));
    assert_eq!(w.location.line, 3);
    assert!(w.message.contains("server connection"), "{}", w.message);
}

#[test]
fn a_client_certificate_without_its_key_is_refused() {
    let f = Files::new("nokey");
    std::fs::copy(f.dir.join("client.pem"), f.dir.join("lonely.pem")).unwrap();
    let l =
        load(&f.text("backend b\n    server s 10.0.0.1:443 ssl verify none crt @DIR/lonely.pem\n"));
    assert!(l.config.is_none());
    let d = l.diagnostics.iter().find(|d| d.is_error()).unwrap();
    assert!(d.message.contains("no private key"), "{}", d.message);
    assert_eq!(d.location.line, 2);
}
