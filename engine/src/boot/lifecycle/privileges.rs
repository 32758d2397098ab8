//! `chroot`, `user`/`group`/`uid`/`gid`: applied once the listening sockets are bound and
//! before any worker thread exists, so ports below 1024 can be bound as root and nothing
//! is ever served with more rights than configured.

use std::ffi::CString;
use std::io;
use std::path::PathBuf;

use ringlb_config::model::Global;

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

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

/// The uid and primary gid of user `name`.
pub(crate) fn lookup_user(name: &str) -> io::Result<(u32, u32)> {
    let c = cstring(name.as_bytes())?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to a buffer we own, sized as passed.
    let rc =
        unsafe { libc::getpwnam_r(c.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("'user {name}': no such user"),
        ));
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}

pub(crate) fn lookup_group(name: &str) -> io::Result<u32> {
    let c = cstring(name.as_bytes())?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer refers to a buffer we own, sized as passed.
    let rc =
        unsafe { libc::getgrnam_r(c.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("'group {name}': no such group"),
        ));
    }
    Ok(grp.gr_gid)
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
