//! Userlists compiled for `http_auth`/`http_auth_group`: Basic credentials from the
//! `Authorization` header checked against plain or SHA-crypt passwords.

use std::sync::Arc;

use ringlb_config::model::{Password, Userlist};
use sha_crypt::{PasswordVerifier, ShaCrypt};

use crate::stream::txn::Txn;

/// One user with every group it belongs to (its own `groups` and the `group … users` lines).
#[derive(Debug)]
struct AuthUser {
    name: Vec<u8>,
    password: Password,
    groups: Vec<Vec<u8>>,
}

/// A userlist ready for checking credentials.
#[derive(Debug)]
pub struct AuthList {
    users: Vec<AuthUser>,
}

impl AuthList {
    pub fn compile(list: &Userlist) -> Arc<Self> {
        let users = list
            .users
            .iter()
            .map(|u| {
                let mut groups: Vec<Vec<u8>> =
                    u.groups.iter().map(|g| g.as_bytes().to_vec()).collect();
                for g in &list.groups {
                    if g.users.contains(&u.name) && !groups.iter().any(|x| x == g.name.as_bytes()) {
                        groups.push(g.name.as_bytes().to_vec());
                    }
                }
                AuthUser {
                    name: u.name.as_bytes().to_vec(),
                    password: u.password.clone(),
                    groups,
                }
            })
            .collect();
        Arc::new(Self { users })
    }

    /// The groups of the user the request's credentials prove, or `None` when there are no
    /// credentials, the user is unknown or the password is wrong.
    pub fn authenticate(&self, txn: &Txn<'_>) -> Option<&[Vec<u8>]> {
        let mut decoded = [0u8; 512];
        let creds = txn.header_lines("authorization").find_map(|v| {
            let v = crate::codec::head::trim(v);
            let (scheme, rest) = v.split_at(v.iter().position(|&b| b == b' ')?);
            if !scheme.eq_ignore_ascii_case(b"basic") {
                return None;
            }
            let n = base64_decode(crate::codec::head::trim(rest), &mut decoded)?;
            Some(n)
        })?;
        let creds = &decoded[..creds];
        let colon = memchr::memchr(b':', creds)?;
        let (user, pass) = (&creds[..colon], &creds[colon + 1..]);
        let u = self.users.iter().find(|u| u.name == user)?;
        let ok = match &u.password {
            Password::Insecure(p) => p.as_bytes() == pass,
            Password::Crypt(hash) => ShaCrypt::default()
                .verify_password(pass, hash.as_str())
                .is_ok(),
        };
        ok.then_some(u.groups.as_slice())
    }
}

/// Decodes standard base64 into `out`; `None` when it is malformed or too long.
fn base64_decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let input = match input.iter().position(|&b| b == b'=') {
        Some(i) if input[i..].iter().all(|&b| b == b'=') && input.len() - i <= 2 => &input[..i],
        Some(_) => return None,
        None => input,
    };
    if input.len() % 4 == 1 || input.len() / 4 * 3 + 3 > out.len() {
        return None;
    }
    let mut n = 0;
    for chunk in input.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out[n] = (acc >> (16 - 8 * i)) as u8;
            n += 1;
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::acl::fetch::base64;

    #[test]
    fn base64_decodes_what_the_encoder_wrote() {
        let mut out = [0u8; 64];
        for s in ["", "a", "ab", "abc", "alice:s3cret", "user:pa:ss"] {
            let enc = base64(s.as_bytes());
            let n = base64_decode(&enc, &mut out).unwrap();
            assert_eq!(&out[..n], s.as_bytes());
        }
        assert_eq!(base64_decode(b"a=b=", &mut out), None);
        assert_eq!(base64_decode(b"ab!d", &mut out), None);
    }
}
