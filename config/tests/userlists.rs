//! Userlists and the fetches that check credentials against them: what `-c` accepts and
//! what it refuses, with the line shown to the user.

use std::path::Path;

use ringlb_config::acl::Fetch;
use ringlb_config::{parse_str, Loaded};

fn load(text: &str) -> Loaded {
    parse_str(text, Path::new("auth.cfg"))
}

fn errors(l: &Loaded) -> Vec<String> {
    l.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{d}"))
        .collect()
}

const FE: &str =
    "frontend f\n    bind :80\n    default_backend b\nbackend b\n    server s 10.0.0.1:80\n";

/// A SHA-512-crypt hash of "secret" with the salt "saltsalt".
const SHA512: &str = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";

#[test]
fn http_auth_parses_with_its_userlist() {
    let text = format!(
        "defaults\n    mode http\nuserlist L\n    group admin users alice\n    user alice insecure-password a1\n    user bob password {SHA512} groups ops\n\
         frontend f\n    bind :80\n    acl ok http_auth(L)\n    acl admin http_auth_group(L) admin\n    http-request auth realm R if !ok\n    default_backend b\n\
         backend b\n    server s 10.0.0.1:80\n"
    );
    let l = load(&text);
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    let config = l.config.unwrap();
    let f = config.proxy("f").unwrap();
    assert_eq!(
        f.acls[0].expr.sample.fetch,
        Fetch::HttpAuth {
            userlist: "L".into()
        }
    );
    assert_eq!(
        f.acls[1].expr.sample.fetch,
        Fetch::HttpAuthGroup {
            userlist: "L".into()
        }
    );
    assert_eq!(
        f.acls[1].expr.sample.fetch.to_string(),
        "http_auth_group(L)"
    );
}

#[test]
fn http_auth_naming_an_unknown_userlist_is_refused_at_its_acl_line() {
    let text = "userlist users\n    user a insecure-password x\n\
                frontend f\n    bind :80\n    acl ok http_auth(user)\n    http-request auth if !ok\n    default_backend b\n\
                backend b\n    server s 10.0.0.1:80\n";
    let l = load(text);
    assert!(l.config.is_none());
    let e = errors(&l);
    assert!(
        e.iter().any(|d| d.starts_with("auth.cfg:5: error:")
            && d.contains("userlist 'user', which is not defined")
            && d.contains("did you mean 'users'?")),
        "{e:?}"
    );
}

#[test]
fn http_auth_in_an_anonymous_acl_must_name_a_userlist_too() {
    let text = format!("frontend g\n    bind :81\n    http-request auth if !{{ http_auth(nope) }}\n    default_backend b\n{FE}");
    let e = errors(&load(&text));
    assert!(
        e.iter()
            .any(|d| d.contains("userlist 'nope', which is not defined")),
        "{e:?}"
    );
}

#[test]
fn http_auth_takes_exactly_one_userlist() {
    let text = format!("frontend g\n    bind :81\n    acl ok http_auth\n{FE}");
    let e = errors(&load(&text));
    assert!(
        e.iter()
            .any(|d| d.starts_with("auth.cfg:3:") && d.contains("takes one argument")),
        "{e:?}"
    );
}

#[test]
fn sha256_and_sha512_crypt_passwords_are_accepted() {
    let sha256 = "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA";
    let text =
        format!("userlist L\n    user a password {SHA512}\n    user b password {sha256}\n{FE}");
    let l = load(&text);
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
}

#[test]
fn unsupported_hash_forms_are_refused_at_the_user_line_with_a_fix() {
    for (hash, what) in [
        ("$1$saltsalt$yMO1g6C5QHlhVCeyVuNtF1", "MD5-crypt"),
        (
            "$2y$05$abcdefghijklmnopqrstuuN4Iu1T9x3ZP0ztQ4Nuq0cmm1k1H6wG",
            "bcrypt",
        ),
        ("abJnggxhB/yWI", "DES-crypt"),
        ("$6$saltsalt$tooshort", "not a well-formed $6$ hash"),
        ("plaintext", "expects a crypt(3) hash"),
    ] {
        let text =
            format!("userlist L\n    user a insecure-password x\n    user b password {hash}\n{FE}");
        let l = load(&text);
        let d = l
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .unwrap_or_else(|| panic!("{hash} accepted"));
        let shown = d.to_string();
        assert!(shown.starts_with("auth.cfg:3: error:"), "{shown}");
        assert!(shown.contains(what), "{hash}: {shown}");
        assert!(
            d.help
                .as_deref()
                .unwrap_or_default()
                .contains("insecure-password"),
            "{shown}"
        );
    }
}
