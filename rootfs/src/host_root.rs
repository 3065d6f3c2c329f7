//! The rootfs of a container without a mount namespace of its own. Its mounts are then made in
//! the caller's mount namespace, as runc and crun make them, but without their side effects:
//! the rootfs is bind-mounted onto itself first, that mount is made private (nothing mounted
//! under it propagates to other mount namespaces), no other mount's propagation is touched
//! (runc makes the caller's / a slave and the rootfs's parent private), and the whole tree is
//! detached when the container is deleted (runc and crun leave it mounted).
//!
//! The bind is made by `create` before init exists and its mount id is recorded, so that a
//! `delete --force` after a killed create finds and removes exactly that mount.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Context, Result};
use crate::resolve::fd_path;
use crate::sys;

fn open(rootfs: &Path) -> Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(rootfs)
        .map(OwnedFd::from)
        .context(|| format!("open the rootfs {}", rootfs.display()))
}

/// Bind-mounts `rootfs` onto itself (recursively), makes the new mount private, and returns
/// its mount id.
pub fn bind(rootfs: &Path) -> Result<u64> {
    let src = open(rootfs)?;
    mount(
        Some(fd_path(src.as_fd()).as_str()),
        fd_path(src.as_fd()).as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .context(|| format!("bind-mount the rootfs {} onto itself", rootfs.display()))?;
    let top = open(rootfs)?;
    let (id, _) = sys::mount_id(top.as_fd())
        .context(|| format!("read the mount id of {}", rootfs.display()))?;
    let private = mount(
        None::<&str>,
        fd_path(top.as_fd()).as_str(),
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context(|| format!("make the rootfs mount {} private", rootfs.display()));
    if let Err(e) = private {
        let _ = umount2(fd_path(top.as_fd()).as_str(), MntFlags::MNT_DETACH);
        return Err(e);
    }
    Ok(id)
}

/// Detaches the mount `bind` made, with everything mounted under it, if it is still the one
/// on top of `rootfs` (never another mount that happens to be there now). Returns whether it
/// was found.
pub fn detach(rootfs: &Path, id: u64) -> Result<bool> {
    let top = match open(rootfs) {
        Ok(fd) => fd,
        Err(_) => return Ok(false),
    };
    match sys::mount_id(top.as_fd()) {
        Ok((found, true)) if found == id => {}
        _ => return Ok(false),
    }
    umount2(fd_path(top.as_fd()).as_str(), MntFlags::MNT_DETACH)
        .context(|| format!("unmount the container's rootfs {}", rootfs.display()))?;
    Ok(true)
}
