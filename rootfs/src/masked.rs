//! `linux.maskedPaths` and `linux.readonlyPaths`.

use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use crate::error::{Context, Result};
use crate::mounts::remount_bind;
use crate::resolve::{fd_path, relative, Root};

/// Hides each path: a directory under an empty read-only tmpfs, anything else under
/// /dev/null. A path that does not exist needs no hiding.
pub fn mask(root: &Root, paths: &[String]) -> Result<()> {
    // The host's /dev/null (this runs before pivot_root), checked to be the null device: a
    // masked path must be hidden by nothing, never by a file someone else chose
    // (CVE-2025-31133).
    let null = std::fs::File::open("/dev/null").context(|| "open /dev/null".into())?;
    let st = nix::sys::stat::fstat(null.as_raw_fd()).context(|| "stat /dev/null".into())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != nix::sys::stat::makedev(1, 3) {
        return Err(crate::Error::Invalid(
            "linux.maskedPaths: /dev/null is not the null device (1:3)".into(),
        ));
    }
    for p in paths {
        let rel = relative(std::path::Path::new(p))?;
        let target = match root.open_path(&rel) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(e).context(|| format!("linux.maskedPaths: open {p}")),
        };
        let is_dir = nix::sys::stat::fstat(target.as_raw_fd())
            .map(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .context(|| format!("stat {p}"))?;
        let path = fd_path(target.as_fd());
        let res = if is_dir {
            mount(
                Some("tmpfs"),
                path.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0k,mode=755"),
            )
        } else {
            mount(
                Some(fd_path(null.as_fd()).as_str()),
                path.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        res.context(|| format!("linux.maskedPaths: mask {p}"))?;
    }
    Ok(())
}

/// Makes each path read-only: bind it onto itself, then remount read-only.
pub fn make_readonly(root: &Root, paths: &[String]) -> Result<()> {
    for p in paths {
        let rel = relative(std::path::Path::new(p))?;
        let target = match root.open_path(&rel) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(e).context(|| format!("linux.readonlyPaths: open {p}")),
        };
        let path = fd_path(target.as_fd());
        mount(
            Some(path.as_str()),
            path.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .context(|| format!("linux.readonlyPaths: bind {p}"))?;
        let mounted = root
            .open_path(&rel)
            .context(|| format!("linux.readonlyPaths: reopen {p}"))?;
        remount_bind(
            &mounted,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        )
        .or_else(|_| remount_bind(&mounted, MsFlags::MS_RDONLY))
        .context(|| format!("linux.readonlyPaths: make {p} read-only"))?;
    }
    Ok(())
}
