//! Unix socket files: bound with their mode and owner, and removed when the process is done
//! with them, but only while the path still holds the socket this process bound (a reload's
//! new process binds the same path, and the old one must not remove it).

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// A socket file this process bound.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    ino: u64,
}

impl SocketFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file if it is still the one bound.
    pub fn remove(self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds a listening Unix socket at `path`, replacing a socket file already there (left by
/// an earlier run, or held by the process this one replaces, as HAProxy does); any other
/// kind of file is kept and the bind fails. `mode`, `user` and `group` (names or numeric
/// ids) are applied to the file; `backlog` sizes the accept queue.
pub fn bind(
    path: &Path,
    mode: Option<u32>,
    user: Option<&str>,
    group: Option<&str>,
    backlog: Option<i32>,
) -> io::Result<(UnixListener, SocketFile)> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path)?;
    let file = SocketFile {
        path: path.to_path_buf(),
        ino: std::fs::symlink_metadata(path).map_or(0, |m| m.ino()),
    };
    if let Some(n) = backlog {
        use std::os::fd::AsRawFd;
        // SAFETY: listen(2) on the socket we just bound; again on a listening socket only
        // resizes its queue.
        if unsafe { libc::listen(listener.as_raw_fd(), n) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    chown(path, user, group)?;
    Ok((listener, file))
}

/// `user`/`group` (names or numeric ids) applied to the socket file.
fn chown(path: &Path, user: Option<&str>, group: Option<&str>) -> io::Result<()> {
    use crate::io::users::{lookup_group, lookup_user};
    let uid = match user {
        Some(u) => Some(match u.parse() {
            Ok(n) => n,
            Err(_) => lookup_user(u)?.0,
        }),
        None => None,
    };
    let gid = match group {
        Some(g) => Some(match g.parse() {
            Ok(n) => n,
            Err(_) => lookup_group(g)?,
        }),
        None => None,
    };
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    std::os::unix::fs::chown(path, uid, gid)
}
