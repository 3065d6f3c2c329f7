//! Entering the rootfs: pivot_root (or, with --no-pivot, MS_MOVE + chroot), and the final
//! read-only remount of the root.

use std::path::{Path, PathBuf};

use nix::errno::Errno;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use crate::error::{Context, Result};
use crate::mounts::remount_bind;
use crate::resolve::Root;

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
///
/// Before the move, every full procfs and sysfs mount of the old root is detached (or,
/// where that is refused, covered with a tmpfs), as runc does: the kernel lets a process
/// mount a new procfs or sysfs only where a full, uncovered one is visible in its mount
/// namespace, and after a chroot the host's /proc would still be there to vouch for one
/// (`unshare -mrpf mount -t proc` inside the container would succeed).
pub fn move_root(root: &Root) -> Result<()> {
    fchdir(std::os::fd::AsRawFd::as_raw_fd(&root.fd())).context(|| "chdir to the rootfs".into())?;
    hide_full_proc_and_sys(root.path())?;
    // "." is the rootfs (no /proc/self/fd path: the host's /proc may be gone by now)
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .context(|| "move the rootfs to /".into())?;
    chroot(".").context(|| "chroot into the rootfs".into())?;
    chdir("/").context(|| "chdir to /".into())
}

/// The mount points of full (root "/") procfs and sysfs mounts outside `rootfs`, from
/// /proc/self/mountinfo's text.
fn full_proc_and_sys_mounts(mountinfo: &str, rootfs: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let fstype = right.split(' ').next().unwrap_or("");
        if fields.len() < 5 || fields[3] != "/" || !matches!(fstype, "proc" | "sysfs") {
            continue;
        }
        let point = PathBuf::from(unescape_mountinfo(fields[4]));
        if !point.starts_with(rootfs) {
            found.push(point);
        }
    }
    found
}

/// mountinfo writes space, tab, newline and backslash as octal escapes (\040 ...).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hide_full_proc_and_sys(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .context(|| "read /proc/self/mountinfo".into())?;
    for point in full_proc_and_sys_mounts(&info, rootfs) {
        // Keep the unmount from propagating to the host.
        match mount(
            None::<&str>,
            &point,
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        ) {
            // gone with a parent detached before it
            Err(Errno::ENOENT) => continue,
            r => r.context(|| format!("make {} a slave mount", point.display()))?,
        }
        match umount2(&point, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            // locked (a user namespace's inherited mounts): cover it instead
            Err(Errno::EINVAL | Errno::EPERM) => mount(
                Some("tmpfs"),
                &point,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .context(|| format!("cover {} with a tmpfs", point.display()))?,
            Err(e) => Err(e).context(|| format!("detach {}", point.display()))?,
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_proc_and_sys_mounts_outside_the_rootfs_are_hidden() {
        let info = "\
22 1 0:21 / / rw - ext4 /dev/vda rw
23 22 0:22 / /proc rw,nosuid - proc proc rw
24 22 0:23 / /sys rw - sysfs sysfs rw
25 23 0:24 / /proc/sys/fs/binfmt_misc rw - binfmt_misc b rw
26 22 0:22 /sys /mnt/partial rw - proc proc rw
27 22 0:25 / /b/rootfs/proc rw - proc proc rw
28 22 0:23 / /with\\040space rw - sysfs sysfs rw
";
        assert_eq!(
            full_proc_and_sys_mounts(info, Path::new("/b/rootfs")),
            vec![
                PathBuf::from("/proc"),
                PathBuf::from("/sys"),
                PathBuf::from("/with space")
            ]
        );
    }
}
