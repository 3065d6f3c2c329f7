//! `tmpcopyup` (runc's mount option): a tmpfs mounted over a directory of the image starts
//! with a copy of what that directory held, with modes, owners and times. The copy reads the
//! covered directory through an fd opened before the mount and writes through an fd of the
//! new tmpfs, so no path is looked up in between (the image cannot redirect it with a symlink).

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};

use nix::dir::Dir;
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;

use crate::error::{Context, Result};
use crate::sys::openat_fd;

const READ_DIR: libc::c_int = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;

/// Opens `dir` (any fd of a directory, O_PATH included) for reading its entries.
pub fn open_dir(dir: BorrowedFd) -> Result<OwnedFd> {
    openat_fd(dir, c".", READ_DIR, 0)
        .context(|| "tmpcopyup: open the directory the tmpfs covers".into())
}

/// Copies everything under `from` into `to` (both open directories), then gives `to` the
/// mode, owner and times of `from`.
pub fn copy_tree(from: BorrowedFd, to: BorrowedFd) -> Result<()> {
    let top = nix::sys::stat::fstat(from.as_raw_fd())
        .context(|| "tmpcopyup: stat the covered directory".into())?;
    copy_entries(from, to)?;
    set_metadata(to, None, &top)
}

fn copy_entries(from: BorrowedFd, to: BorrowedFd) -> Result<()> {
    let names: Vec<CString> = {
        let listing = openat_fd(from, c".", READ_DIR, 0)
            .context(|| "tmpcopyup: read the covered directory".into())?;
        let mut dir = Dir::from_fd(listing.into_raw_fd())
            .context(|| "tmpcopyup: read the covered directory".into())?;
        dir.iter()
            .filter_map(|e| e.ok())
            .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
            .map(|e| e.file_name().to_owned())
            .collect()
    };
    for name in &names {
        let name = name.as_c_str();
        let what = || format!("tmpcopyup: copy {}", name.to_string_lossy());
        let st =
            fstatat(Some(from.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW).context(what)?;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                nix::sys::stat::mkdirat(
                    Some(to.as_raw_fd()),
                    name,
                    Mode::from_bits_truncate(0o700),
                )
                .context(what)?;
                let src = openat_fd(from, name, READ_DIR, 0).context(what)?;
                let dst = openat_fd(to, name, READ_DIR, 0).context(what)?;
                copy_entries(src.as_fd(), dst.as_fd())?;
                set_metadata(dst.as_fd(), None, &st)?;
            }
            libc::S_IFREG => {
                let src =
                    openat_fd(from, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0).context(what)?;
                let dst = openat_fd(
                    to,
                    name,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                    0o600,
                )
                .context(what)?;
                let (mut src, mut dst) = (std::fs::File::from(src), std::fs::File::from(dst));
                std::io::copy(&mut src, &mut dst).context(what)?;
                set_metadata(dst.as_fd(), None, &st)?;
            }
            libc::S_IFLNK => {
                let target = nix::fcntl::readlinkat(Some(from.as_raw_fd()), name).context(what)?;
                nix::unistd::symlinkat(target.as_os_str(), Some(to.as_raw_fd()), name)
                    .context(what)?;
                set_metadata(to, Some(name), &st)?;
            }
            kind => {
                // devices, fifos, sockets: the node itself
                nix::sys::stat::mknodat(
                    Some(to.as_raw_fd()),
                    name,
                    SFlag::from_bits_truncate(kind),
                    Mode::from_bits_truncate(st.st_mode & 0o7777),
                    st.st_rdev,
                )
                .context(what)?;
                set_metadata(to, Some(name), &st)?;
            }
        }
    }
    Ok(())
}

/// Owner, mode and times of `st` for `fd` itself (name None) or for `name` in directory `fd`
/// (a symlink keeps its own mode; only its owner and times change).
fn set_metadata(fd: BorrowedFd, name: Option<&CStr>, st: &FileStat) -> Result<()> {
    let uid = Some(nix::unistd::Uid::from_raw(st.st_uid));
    let gid = Some(nix::unistd::Gid::from_raw(st.st_gid));
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
    let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    let what = || "tmpcopyup: copy owner, mode and times".to_string();
    let Some(name) = name else {
        nix::unistd::fchown(fd.as_raw_fd(), uid, gid).context(what)?;
        nix::sys::stat::fchmod(fd.as_raw_fd(), mode).context(what)?;
        return nix::sys::stat::futimens(fd.as_raw_fd(), &atime, &mtime).context(what);
    };
    nix::unistd::fchownat(
        Some(fd.as_raw_fd()),
        name,
        uid,
        gid,
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .context(what)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
        nix::sys::stat::fchmodat(
            Some(fd.as_raw_fd()),
            name,
            mode,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .context(what)?;
    }
    nix::sys::stat::utimensat(
        Some(fd.as_raw_fd()),
        name,
        &atime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .context(what)
}
