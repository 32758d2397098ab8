//! TLS fixtures: a throwaway CA with server and client certificates made by the `openssl`
//! command, and the real TLS clients the tests drive (`openssl s_client`, `curl`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::process::TempDir;

/// A CA and the certificates it signed, in a temporary directory.
pub struct Pki {
    pub dir: TempDir,
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command is installed (scripts/deps.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// A new CA (`ca.pem`), P-256.
    pub fn new() -> Self {
        let dir = TempDir::new("pki");
        let p = |n: &str| dir.path().join(n).display().to_string();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-days",
            "800",
            "-subj",
            "/O=ringlb tests/CN=ringlb test CA",
        ]);
        Self { dir }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A leaf signed by the CA for `subject` (`/CN=…`) with `ext` (an openssl extension
    /// line), `key` being `ec` or `rsa`: returns the certificate and key files.
    fn leaf(&self, name: &str, subject: &str, ext: &str, key: &str) -> (PathBuf, PathBuf) {
        let p = |n: &str| self.dir.path().join(n).display().to_string();
        let (crt, keyf, csr) = (
            p(&format!("{name}.crt")),
            p(&format!("{name}.key")),
            p(&format!("{name}.csr")),
        );
        let extf = self.dir.write(&format!("{name}.ext"), &format!("{ext}\n"));
        let key_args: &[&str] = match key {
            "rsa" => &["-newkey", "rsa:2048"],
            _ => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        };
        let mut args = vec!["req"];
        args.extend_from_slice(key_args);
        args.extend_from_slice(&["-nodes", "-keyout", &keyf, "-out", &csr, "-subj", subject]);
        openssl(&args);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "400",
            "-extfile",
            &extf.display().to_string(),
        ]);
        (crt.into(), keyf.into())
    }

    /// A server certificate for `names` (the first is the CN), chain and key in one PEM.
    pub fn server(&self, file: &str, names: &[&str]) -> PathBuf {
        self.server_with_key(file, names, "ec")
    }

    pub fn server_with_key(&self, file: &str, names: &[&str], key: &str) -> PathBuf {
        let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        let (crt, keyf) = self.leaf(
            file,
            &format!("/CN={}", names[0]),
            // A revocation list location, as a publicly trusted certificate has (scanners
            // rate its absence).
            &format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth\n\
                 crlDistributionPoints=URI:http://crl.ringlb.test/ca.crl",
                san.join(",")
            ),
            key,
        );
        let pem = [std::fs::read(&crt).unwrap(), std::fs::read(&keyf).unwrap()].concat();
        let path = self.dir.path().join(format!("{file}.pem"));
        std::fs::write(&path, pem).unwrap();
        path
    }

    /// A client certificate with subject `/O=ringlb tests/CN={cn}`: certificate and key.
    pub fn client(&self, cn: &str) -> (PathBuf, PathBuf) {
        self.leaf(
            &format!("client-{cn}"),
            &format!("/O=ringlb tests/CN={cn}"),
            "extendedKeyUsage=clientAuth",
            "ec",
        )
    }
}

/// `openssl s_client` to `addr` with `args` and nothing to send: whether the handshake
/// succeeded, and everything it printed.
pub fn s_client(addr: SocketAddr, args: &[&str]) -> (bool, String) {
    s_client_send(addr, args, b"")
}

/// [`s_client`] sending `input` once connected.
pub fn s_client_send(addr: SocketAddr, args: &[&str], input: &[u8]) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the openssl command is installed (scripts/deps.sh)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(input);
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("Cipher is"), text)
}

/// `curl` to `https://NAME:PORT/PATH…` with `NAME` resolved to `addr`: the exit status and
/// standard output.
pub fn curl(addr: SocketAddr, name: &str, paths: &[&str], args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "--resolve"])
        .arg(format!("{name}:{}:127.0.0.1", addr.port()))
        .args(args);
    for p in paths {
        cmd.arg(format!("https://{name}:{}{p}", addr.port()));
    }
    let out = cmd.output().expect("curl is installed (scripts/deps.sh)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
