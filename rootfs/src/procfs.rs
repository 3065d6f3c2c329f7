//! Writes to /proc that cannot be redirected. The container controls its rootfs (and, in
//! `exec`, the /proc mount it sees): a symlink or a fake procfs in the image, or a bind mount
//! over a /proc file, must not turn a security write (sysctl, oom_score_adj, LSM label) into
//! a write somewhere else or a silent no-op (CVE-2019-16884, CVE-2023-27561, CVE-2025-52881).
//! So the host's /proc is pinned once, verified to be the root of a procfs, before the
//! process enters the container's mount namespace, and every write goes through it with
//! openat2: beneath it, no magic links, no crossing into another mount, and the opened file
//! checked to be on procfs.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Mutex;

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::sys;

/// The pinned host /proc, from [`pin`] until [`release`].
static PROC: Mutex<Option<OwnedFd>> = Mutex::new(None);

fn pinned() -> std::sync::MutexGuard<'static, Option<OwnedFd>> {
    PROC.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The procfs root inode number.
const PROC_ROOT_INO: u64 = 1;

fn is_procfs(fd: &OwnedFd) -> bool {
    nix::sys::statfs::fstatfs(fd)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
}

/// Opens and verifies the host's /proc; call it before entering the container's mount
/// namespace. Later calls keep the first handle.
pub fn pin() -> Result<()> {
    if pinned().is_some() {
        return Ok(());
    }
    use std::os::unix::fs::OpenOptionsExt;
    let fd: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open("/proc")
        .map_err(|e| Error::Sys {
            what: "open /proc".into(),
            source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?
        .into();
    let ino = nix::sys::stat::fstat(fd.as_raw_fd())
        .map(|s| s.st_ino)
        .unwrap_or(0);
    if !is_procfs(&fd) || ino != PROC_ROOT_INO {
        return Err(Error::Invalid(
            "/proc is not the root of a procfs: refusing to write process attributes through it"
                .into(),
        ));
    }
    pinned().get_or_insert(fd);
    Ok(())
}

/// Closes the pinned /proc. A created container's init, which waits for `start` for as long
/// as its user likes, holds nothing of the host meanwhile: a process that can see it (a peer
/// in its pid namespace, or one `exec`'d into it) and holds CAP_SYS_PTRACE would otherwise
/// reach the host's processes, their roots and sysctls through `/proc/<init>/fd/N`. Writes
/// after this fail with EBADFD.
pub fn release() {
    drop(pinned().take());
}

/// Writes `value` to /proc/`rel` (e.g. "sys/net/ipv4/ip_forward", "thread-self/attr/exec").
pub fn write(rel: &str, value: &[u8]) -> std::result::Result<(), Errno> {
    let guard = pinned();
    let proc_fd = guard.as_ref().ok_or(Errno::EBADFD)?;
    let file = sys::openat2(
        proc_fd.as_fd(),
        rel,
        libc::O_WRONLY | libc::O_NOCTTY,
        0,
        sys::RESOLVE_BENEATH | sys::RESOLVE_NO_MAGICLINKS | sys::RESOLVE_NO_XDEV,
    )?;
    if !is_procfs(&file) {
        return Err(Errno::EXDEV);
    }
    std::fs::File::from(file)
        .write_all(value)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}
