//! CVE-2019-5736: a process of vrun's inside the container (init before its exec, or an
//! `exec`'d process before its own) shows the vrun binary at `/proc/<pid>/exe`; a container
//! with CAP_SYS_PTRACE can open it there and, once vrun has exited, write through that fd
//! to the host's binary. As runc and crun do, the commands that put a process into a
//! container (create, run, exec) first re-execute themselves from a binary no one can write:
//!
//! - as runc 1.2 does, from a read-only overlayfs that is mounted nowhere (fsopen/fsmount
//!   over the binary's directory and another one; an overlay without an upper layer cannot
//!   be written, and a detached mount cannot be remounted by the container). No copy: this
//!   costs a fraction of a millisecond;
//! - where that is not possible (no overlayfs, no CAP_SYS_ADMIN), from a sealed memfd copy
//!   (about 5 ms for vrun's 5 MB).
//!
//! A binary already on a read-only mount (what the first way gives) is not cloned again.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

use crate::error::{Context, Error, Result};

const SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

/// Returns when this process already runs from a binary no one can write (a read-only
/// mount or a sealed memfd); otherwise makes such a view of itself and re-executes from it
/// with the same arguments and environment (never returning then).
pub fn ensure_protected_exe() -> Result<()> {
    // (main() asks before and after parsing the arguments: once found, it stays so)
    static PROTECTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if PROTECTED.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let exe = std::fs::File::open("/proc/self/exe").context(|| "open /proc/self/exe".into())?;
    let read_only = nix::sys::statvfs::fstatvfs(&exe)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    if read_only
        || fcntl(exe.as_raw_fd(), FcntlArg::F_GET_SEALS)
            .is_ok_and(|s| SealFlag::from_bits_truncate(s).contains(SEALS))
    {
        PROTECTED.store(true, std::sync::atomic::Ordering::Relaxed);
        return Ok(());
    }
    let copy = match overlay_view() {
        Some(file) => file,
        None => sealed_copy(&exe)?,
    };
    let args = cstrings(std::env::args_os().map(|a| a.as_bytes().to_vec()))?;
    let env = cstrings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        kv
    }))?;
    let Err(err) = nix::unistd::fexecve(copy.as_raw_fd(), &args, &env);
    Err(Error::Sys {
        what: "re-execute vrun from its protected copy".into(),
        source: err,
    })
}

/// vrun's binary opened through a detached read-only overlay of its directory, or None.
fn overlay_view() -> Option<OwnedFd> {
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    let (dir, name) = (exe.parent()?, exe.file_name()?);
    let name = CString::new(name.as_bytes()).ok()?;
    let top = layer_path(dir.as_os_str().as_bytes())?;
    // The second layer: overlayfs without an upper layer wants two lower ones, and they may
    // not overlap (neither inside the other). Only the binary's name is looked up, and the
    // first layer has it, so any other directory serves: /run or the temp dir, which exist
    // (an empty directory made and removed for each run cost a mkdir and an rmdir on the
    // host's disk, issue 14); an empty one made for the moment where neither will do.
    let existing = [Path::new("/run").to_path_buf(), std::env::temp_dir()]
        .into_iter()
        .filter(|d| d.is_absolute() && !dir.starts_with(d) && !d.starts_with(dir) && d.is_dir());
    for layer in existing {
        let Some(second) = layer_path(layer.as_os_str().as_bytes()) else {
            continue;
        };
        match open_through_overlay(&top, &second, &name) {
            Ok(Some(fd)) => return Some(fd),
            Ok(None) => {}
            Err(NoOverlay) => return None,
        }
    }
    let empty = make_empty_dir()?;
    let fd = layer_path(empty.as_os_str().as_bytes())
        .and_then(|second| open_through_overlay(&top, &second, &name).ok().flatten());
    // (the mount holds the directory: it can go at once)
    let _ = std::fs::remove_dir(&empty);
    fd
}

/// overlayfs cannot be used here at all (not in the kernel, or no CAP_SYS_ADMIN).
struct NoOverlay;

/// `name` opened in a detached read-only overlay of the layers `top` and `second`; None when
/// these layers do not make one.
fn open_through_overlay(
    top: &str,
    second: &str,
    name: &CString,
) -> std::result::Result<Option<OwnedFd>, NoOverlay> {
    use vrun_rootfs::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
    let fs = vrun_rootfs::sys::FsContext::open("overlay").map_err(|_| NoOverlay)?;
    let mount = fs
        .set("lowerdir", &format!("{top}:{second}"))
        .and_then(|()| fs.mount(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
    let Ok(mount) = mount else {
        return Ok(None);
    };
    let Ok(file) = vrun_rootfs::sys::open_readonly_in(&mount, name) else {
        return Ok(None);
    };
    // a directory of the second layer, should the binary have left the first
    let regular = nix::sys::stat::fstat(file.as_raw_fd())
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
    Ok(regular.then_some(file))
}

/// A directory as an overlayfs layer, or None for a path overlayfs would split or unescape
/// (':', ',', '\\'): the memfd copy is used then.
fn layer_path(path: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(path).ok()?;
    (!s.contains([':', '\\', ','])).then(|| s.to_string())
}

fn make_empty_dir() -> Option<std::path::PathBuf> {
    let base = std::env::temp_dir();
    for i in 0..8 {
        let p = base.join(format!(".vrun-exe-{}-{i}", std::process::id()));
        if std::fs::create_dir(&p).is_ok() {
            return Some(p);
        }
    }
    None
}

/// A sealed memfd copy of the binary.
fn sealed_copy(exe: &std::fs::File) -> Result<OwnedFd> {
    let copy = memfd_create(
        c"vrun",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .context(|| "memfd_create for the sealed copy of vrun".into())?;
    copy_all(exe, &copy)?;
    fcntl(copy.as_raw_fd(), FcntlArg::F_ADD_SEALS(SEALS))
        .context(|| "seal the copy of vrun".into())?;
    Ok(copy)
}

fn copy_all(from: &std::fs::File, to: &OwnedFd) -> Result<()> {
    let size = from
        .metadata()
        .context(|| "stat /proc/self/exe".into())?
        .len() as usize;
    let mut done = 0;
    while done < size {
        let n = nix::sys::sendfile::sendfile(to.as_fd(), from.as_fd(), None, size - done)
            .context(|| "copy vrun into the memfd".into())?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(())
}

fn cstrings(items: impl Iterator<Item = Vec<u8>>) -> Result<Vec<CString>> {
    items
        .map(|b| CString::new(b).map_err(|_| Error::Invalid("an argument has a NUL byte".into())))
        .collect()
}
