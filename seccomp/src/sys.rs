//! The seccomp(2) calls: all of this crate's unsafe code.

#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd};

pub const FLAG_TSYNC: u32 = 1;
pub const FLAG_LOG: u32 = 2;
pub const FLAG_SPEC_ALLOW: u32 = 4;
pub const FLAG_NEW_LISTENER: u32 = 8;
pub const FLAG_TSYNC_ESRCH: u32 = 16;
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_GET_ACTION_AVAIL: libc::c_ulong = 2;

/// Loads `program` into the calling thread. With FLAG_NEW_LISTENER the kernel returns the
/// listener fd (close-on-exec).
pub fn set_mode_filter(program: &[libc::sock_filter], flags: u32) -> nix::Result<Option<OwnedFd>> {
    let prog = libc::sock_fprog {
        len: program.len() as libc::c_ushort,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at `program`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(nix::errno::Errno::last());
    }
    if flags & FLAG_NEW_LISTENER != 0 && rc > 0 {
        // SAFETY: with NEW_LISTENER a positive return is a new fd that nothing else owns.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as i32) }));
    }
    Ok(None)
}

/// Whether the kernel knows the SECCOMP_RET_* action.
pub fn action_available(ret: u32) -> bool {
    // SAFETY: the kernel reads one u32 from the pointer, which is valid for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_ulong,
            &ret as *const u32,
        )
    };
    rc == 0
}

/// Whether the kernel knows these filter flags: with a null program it fails with EFAULT
/// once the flags passed its check, EINVAL if they did not (libseccomp probes the same way).
pub fn flags_supported(flags: u32) -> bool {
    // SAFETY: a null program pointer is never dereferenced: the kernel returns EFAULT.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    rc < 0 && nix::errno::Errno::last() == nix::errno::Errno::EFAULT
}
