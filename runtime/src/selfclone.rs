//! CVE-2019-5736: a process of vrun's inside the container (init before its exec, or an
//! `exec`'d process before its own) shows the vrun binary at /proc/<pid>/exe; a container
//! with CAP_SYS_PTRACE can open it there and, once vrun has exited, write through that fd
//! to the host's binary. As runc and crun do, the commands that put a process into a
//! container (create, run, exec) first re-execute themselves from a sealed memfd copy: what
//! the container can reach is then an anonymous file no one can write.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

use crate::error::{Context, Error, Result};

const SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

/// Returns when this process already runs from a sealed copy; otherwise makes one and
/// re-executes from it with the same arguments and environment (never returning then).
pub fn ensure_sealed_exe() -> Result<()> {
    let exe = std::fs::File::open("/proc/self/exe").context(|| "open /proc/self/exe".into())?;
    if fcntl(exe.as_raw_fd(), FcntlArg::F_GET_SEALS)
        .is_ok_and(|s| SealFlag::from_bits_truncate(s).contains(SEALS))
    {
        return Ok(());
    }
    let copy = memfd_create(
        c"vrun",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .context(|| "memfd_create for the sealed copy of vrun".into())?;
    copy_all(&exe, &copy)?;
    fcntl(copy.as_raw_fd(), FcntlArg::F_ADD_SEALS(SEALS))
        .context(|| "seal the copy of vrun".into())?;
    let args = cstrings(std::env::args_os().map(|a| a.as_bytes().to_vec()))?;
    let env = cstrings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        kv
    }))?;
    let Err(err) = nix::unistd::fexecve(copy.as_raw_fd(), &args, &env);
    Err(Error::Sys {
        what: "re-execute vrun from its sealed copy".into(),
        source: err,
    })
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
