//! Entering the rootfs: pivot_root (or, with --no-pivot, MS_MOVE + chroot), and the final
//! read-only remount of the root.

use std::os::fd::AsFd;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use crate::error::{Context, Result};
use crate::mounts::remount_bind;
use crate::resolve::{fd_path, Root};

/// Remounts the rootfs read-only (`root.readonly`); done before the switch so that it acts on
/// the rootfs mount we made, through its fd.
pub fn make_root_readonly(root: &Root) -> Result<()> {
    let fd = root.open_path(".").context(|| "open the rootfs".into())?;
    remount_bind(&fd, MsFlags::MS_RDONLY)
        .context(|| "remount the rootfs read-only (root.readonly)".into())
}

/// pivot_root into the rootfs and detach the old root, without needing a directory for it:
/// pivot_root(".", ".") stacks the old root on top of the new one, then it is unmounted.
pub fn pivot(root: &Root) -> Result<()> {
    let old = std::fs::File::open("/").context(|| "open the old root".into())?;
    fchdir(std::os::fd::AsRawFd::as_raw_fd(&root.fd())).context(|| "chdir to the rootfs".into())?;
    pivot_root(".", ".").context(|| format!("pivot_root into {}", root.path().display()))?;
    fchdir(std::os::fd::AsRawFd::as_raw_fd(&old)).context(|| "chdir to the old root".into())?;
    // Keep the unmount from propagating to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .context(|| "make the old root a slave".into())?;
    umount2(".", MntFlags::MNT_DETACH).context(|| "detach the old root".into())?;
    chdir("/").context(|| "chdir to /".into())
}

/// --no-pivot: move the rootfs over / and chroot into it (for ramdisk roots, where
/// pivot_root is impossible; weaker, since the old root stays reachable to a process with
/// CAP_SYS_CHROOT).
pub fn move_root(root: &Root) -> Result<()> {
    fchdir(std::os::fd::AsRawFd::as_raw_fd(&root.fd())).context(|| "chdir to the rootfs".into())?;
    let here = fd_path(root.fd().as_fd());
    mount(
        Some(here.as_str()),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .context(|| "move the rootfs to /".into())?;
    chroot(".").context(|| "chroot into the rootfs".into())?;
    chdir("/").context(|| "chdir to /".into())
}

/// For a container without a mount namespace of its own: chroot into the rootfs (pivot_root
/// would switch the root of the caller's namespace). As with runc, such a container is not
/// held in its filesystem view against a process keeping CAP_SYS_CHROOT.
pub fn chroot_into(root: &Root) -> Result<()> {
    fchdir(std::os::fd::AsRawFd::as_raw_fd(&root.fd())).context(|| "chdir to the rootfs".into())?;
    chroot(".").context(|| "chroot into the rootfs".into())?;
    chdir("/").context(|| "chdir to /".into())
}

/// `linux.rootfsPropagation`, applied to the new / once inside it.
pub fn set_root_propagation(flags: MsFlags) -> Result<()> {
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .context(|| "set the propagation of the new root (linux.rootfsPropagation)".into())
}
