//! User and group names to ids, through the system's account database.

use std::ffi::CString;
use std::io;

pub(crate) fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

/// The uid and primary gid of user `name`.
pub fn lookup_user(name: &str) -> io::Result<(u32, u32)> {
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

pub fn lookup_group(name: &str) -> io::Result<u32> {
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
