use super::*;

/// A TLS 1.2-style ClientHello record offering `sni` (no server_name extension when `None`).
/// Built field by field so that tests control every length.
fn hello(sni: Option<&[u8]>) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let entry_len = 3 + name.len();
        ext.extend_from_slice(&[0x00, 0x00]);
        ext.extend_from_slice(&((2 + entry_len) as u16).to_be_bytes());
        ext.extend_from_slice(&(entry_len as u16).to_be_bytes());
        ext.push(0x00);
        ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        ext.extend_from_slice(name);
    }
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256.
    ext.extend_from_slice(&[0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x08, 0x04]);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2b, 0xc0, 0x2f]);
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    records(&hs, hs.len())
}

/// Handshake bytes framed in TLS records of at most `chunk` bytes each.
fn records(hs: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in hs.chunks(chunk) {
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The ClientHello rustls itself sends for `name`: the bytes a real client writes.
fn rustls_hello(name: &str) -> Vec<u8> {
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

fn name(b: &[u8]) -> Extract<String> {
    match server_name(b) {
        Extract::Found(n) => Extract::Found(n.into()),
        Extract::Absent => Extract::Absent,
        Extract::Short => Extract::Short,
    }
}

#[test]
fn server_name_is_read_from_a_whole_hello() {
    assert_eq!(
        name(&hello(Some(b"a.example"))),
        Extract::Found("a.example".into())
    );
    assert_eq!(
        name(&rustls_hello("x.b.example")),
        Extract::Found("x.b.example".into())
    );
    // rustls gives names lower-cased.
    assert_eq!(
        name(&hello(Some(b"A.Example"))),
        Extract::Found("a.example".into())
    );
}

#[test]
fn every_truncation_of_a_hello_asks_for_more_bytes() {
    let h = rustls_hello("a.example");
    for n in 0..h.len() {
        assert_eq!(name(&h[..n]), Extract::Short, "cut at {n}");
        assert_eq!(hello_type(&h[..n]), Extract::Short, "cut at {n}");
    }
    assert_eq!(hello_type(&h), Extract::Found(1));
}

#[test]
fn a_hello_split_over_many_records_is_joined() {
    let whole = hello(Some(b"a.example"));
    let split = records(&whole[5..], 7);
    assert_eq!(name(&split), Extract::Found("a.example".into()));
    for n in 0..split.len() {
        assert_eq!(name(&split[..n]), Extract::Short, "cut at {n}");
    }
}

#[test]
fn hostile_hellos_have_no_server_name() {
    assert_eq!(name(b"GET / HTTP/1.1\r\n\r\n"), Extract::Absent);
    assert_eq!(name(&[0x16, 0x02, 0x00, 0x00, 0x10, 0x01]), Extract::Absent);
    // A zero-length name, an IP address, no extension at all.
    assert_eq!(name(&hello(Some(b""))), Extract::Absent);
    assert_eq!(name(&hello(Some(b"10.0.0.1"))), Extract::Absent);
    assert_eq!(name(&hello(None)), Extract::Absent);
    // A ServerHello-typed handshake, and a hello whose length claims more than it holds
    // inside a record that is complete.
    let mut h = hello(Some(b"a.example"));
    h[5] = 2;
    assert_eq!(name(&h), Extract::Absent);
    let mut h = hello(Some(b"a.example"));
    h[8] = h[8].wrapping_sub(3);
    assert_eq!(name(&h), Extract::Absent);
    // Random bytes behind a handshake record header never panic.
    let mut x = 0x2545_f491_u32;
    for len in 0..600 {
        let mut b = vec![0x16, 0x03, 0x01, (len >> 8) as u8, len as u8, 0x01];
        b.extend((0..len).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }));
        let _ = server_name(&b);
        let _ = hello_type(&b);
        let _ = ssl_version(&b);
    }
}

#[test]
fn a_hello_larger_than_rustls_accepts_has_no_name() {
    // A handshake message claiming 70 000 bytes, sent in full-size records.
    let mut hs = vec![0x01, 0x01, 0x11, 0x70];
    hs.resize(4 + 70_000, 0);
    assert_eq!(name(&records(&hs, 16_384)), Extract::Absent);
}

#[test]
fn hello_type_and_version_read_fixed_header_bytes() {
    let h = hello(Some(b"a.example"));
    assert_eq!(hello_type(&h), Extract::Found(1));
    assert_eq!(ssl_version(&h), Extract::Found(0x30003));
    assert_eq!(ssl_version(&h[..10]), Extract::Short);
    assert_eq!(hello_type(b"SSH-2.0-OpenSSH\r\n"), Extract::Absent);
    assert_eq!(ssl_version(b"SSH-2.0-OpenSSH\r\n"), Extract::Absent);
    // SSLv2-era record version, and a record too short for a handshake header.
    assert_eq!(
        hello_type(&[0x16, 0x02, 0x00, 0x00, 0x10, 1, 0, 0, 0]),
        Extract::Absent
    );
    assert_eq!(
        hello_type(&[0x16, 0x03, 0x01, 0x00, 0x03, 1, 0, 0, 0]),
        Extract::Absent
    );
    // A handshake message longer than what arrived: more bytes may complete it.
    assert_eq!(
        hello_type(&[0x16, 0x03, 0x01, 0x40, 0x00, 1, 0, 0x3f, 0xfc]),
        Extract::Short
    );
}

#[test]
fn payload_slices_wait_for_their_bytes() {
    let b = b"\x16\x03\x01\x00\x05hello";
    assert_eq!(slice(b, 0, 3), Extract::Found(&b"\x16\x03\x01"[..]));
    assert_eq!(slice(b, 5, 0), Extract::Found(&b"hello"[..]));
    assert_eq!(slice(b, 8, 3), Extract::Short);
    assert_eq!(slice(b, u32::MAX, u32::MAX), Extract::Short);
    assert_eq!(length_value(b, 3, 2, None), Extract::Found(&b"hello"[..]));
    // The size stays the field's; only where the block starts moves.
    assert_eq!(
        length_value(b, 3, 2, Some(DataOffset::Relative(1))),
        Extract::Short
    );
    let more = b"\x16\x03\x01\x00\x05hello!";
    assert_eq!(
        length_value(more, 3, 2, Some(DataOffset::Relative(1))),
        Extract::Found(&b"ello!"[..])
    );
    assert_eq!(
        length_value(b, 3, 2, Some(DataOffset::Absolute(0))),
        Extract::Found(&b[..5])
    );
    assert_eq!(
        length_value(b, 3, 2, Some(DataOffset::Relative(-6))),
        Extract::Absent
    );
    assert_eq!(length_value(&b[..8], 3, 2, None), Extract::Short);
    assert_eq!(length_value(b, 9, 4, None), Extract::Short);
    assert_eq!(length_value(b"\x00\x00", 0, 2, None), Extract::Absent);
    assert_eq!(
        length_value(b"\xff\xff\xff\xff", 0, 4, None),
        Extract::Short
    );
}
