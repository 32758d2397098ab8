//! `chroot`, `user`/`group`/`uid`/`gid`: applied once the listening sockets are bound and
//! before any worker thread exists, so ports below 1024 can be bound as root and nothing
//! is ever served with more rights than configured.

use std::io;
use std::path::PathBuf;

use ringlb_config::model::Global;

use crate::io::users::{cstring, lookup_group, lookup_user};

/// What the `global` section asks to give up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub chroot: Option<PathBuf>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The user name, for its supplementary groups (`initgroups`).
    pub user: Option<String>,
}

impl Plan {
    /// Resolves `user` and `group` names through the system databases. `uid`/`gid` win
    /// over the names when both are given, as in HAProxy.
    pub fn from_global(g: &Global) -> io::Result<Self> {
        let mut plan = Plan {
            chroot: g.chroot.clone(),
            uid: g.uid,
            gid: g.gid,
            user: None,
        };
        if let Some(name) = &g.user {
            let (uid, gid) = lookup_user(name)?;
            plan.uid = plan.uid.or(Some(uid));
            // A user's primary group applies unless a group is configured.
            if g.group.is_none() {
                plan.gid = plan.gid.or(Some(gid));
            }
            plan.user = Some(name.clone());
        }
        if let Some(name) = &g.group {
            let gid = lookup_group(name)?;
            plan.gid = plan.gid.or(Some(gid));
        }
        Ok(plan)
    }

    pub fn is_empty(&self) -> bool {
        self.chroot.is_none() && self.uid.is_none() && self.gid.is_none()
    }

    /// Enters the chroot, then sets groups, gid and uid (in that order: once the uid is
    /// dropped the others can no longer be changed).
    pub fn apply(&self) -> io::Result<()> {
        if let Some(dir) = &self.chroot {
            let c = cstring(dir.as_os_str().as_encoded_bytes())?;
            // SAFETY: valid NUL-terminated paths.
            if unsafe { libc::chroot(c.as_ptr()) } != 0
                || unsafe { libc::chdir(c"/".as_ptr()) } != 0
            {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot chroot to {}: {e}", dir.display()),
                ));
            }
        }
        if let Some(gid) = self.gid {
            let rc = match &self.user {
                Some(user) => {
                    let c = cstring(user.as_bytes())?;
                    // SAFETY: a valid name and a gid.
                    unsafe { libc::initgroups(c.as_ptr(), gid) }
                }
                // SAFETY: an empty list.
                None => unsafe { libc::setgroups(0, std::ptr::null()) },
            };
            // SAFETY: plain system calls on integers.
            if rc != 0 || unsafe { libc::setgid(gid) } != 0 {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot set gid {gid}: {e}"),
                ));
            }
        }
        if let Some(uid) = self.uid {
            // SAFETY: a plain system call; glibc applies it to every thread.
            if unsafe { libc::setuid(uid) } != 0 {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot set uid {uid}: {e}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves_to_uid_zero_and_unknown_users_are_named() {
        let g = Global {
            user: Some("root".into()),
            ..Global::default()
        };
        let plan = Plan::from_global(&g).unwrap();
        assert_eq!(plan.uid, Some(0));
        assert_eq!(plan.gid, Some(0));
        let g = Global {
            user: Some("no-such-user-ringlb".into()),
            ..Global::default()
        };
        let err = Plan::from_global(&g).unwrap_err().to_string();
        assert_eq!(err, "'user no-such-user-ringlb': no such user");
    }

    #[test]
    fn numeric_ids_win_over_names() {
        let g = Global {
            user: Some("root".into()),
            uid: Some(65534),
            gid: Some(65534),
            ..Global::default()
        };
        let plan = Plan::from_global(&g).unwrap();
        assert_eq!((plan.uid, plan.gid), (Some(65534), Some(65534)));
    }
}
