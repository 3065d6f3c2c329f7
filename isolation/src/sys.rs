//! The raw syscalls this crate needs that nix does not wrap. Every `unsafe` block of the
//! crate is here.

#![allow(unsafe_code)]

use nix::errno::Errno;
use nix::unistd::Pid;

/// The two sides of [`clone_process`].
pub enum CloneResult {
    Parent(Pid),
    Child,
}

/// fork(2) with namespace flags: the child starts as a copy of the caller (same stack, copied
/// memory) directly inside the new namespaces, so with CLONE_NEWPID it is pid 1 there. This is
/// what lets vrun go from `create` to the container's init without a re-exec or an
/// intermediate process.
///
/// The caller must be single-threaded (vrun never starts threads before this point).
pub fn clone_process(flags: nix::sched::CloneFlags) -> Result<CloneResult, Errno> {
    let flags = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: clone with a null stack behaves like fork(2): the child gets a copy-on-write
    // copy of the address space and continues from this call. The process is single-threaded,
    // so no lock can be held by a thread that does not exist in the child. glibc's cached
    // thread id is not refreshed, but glibc (>= 2.34) asks the kernel for the tid when a
    // thread signals itself, and vrun uses no pthread mutexes with owner checks.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(Pid::from_raw(pid as i32))),
    }
}

/// [`clone_process`], the child born in the cgroup v2 directory `cgroup` (clone3 with
/// CLONE_INTO_CGROUP, Linux 5.7): no later move, which would take the kernel's global
/// cgroup_threadgroup_rwsem for writing (see vrun_cgroup::SelfJoin). Fails (without a child)
/// where clone3 or the cgroup refuses; the caller then clones plainly and moves the child.
pub fn clone_process_into(
    flags: nix::sched::CloneFlags,
    cgroup: std::os::fd::BorrowedFd,
) -> Result<CloneResult, Errno> {
    use std::os::fd::AsRawFd;
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    // struct clone_args (CLONE_ARGS_SIZE_VER2: up to and including `cgroup`).
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let args = CloneArgs {
        flags: flags.bits() as u32 as u64 | CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup.as_raw_fd() as u64,
    };
    // SAFETY: args is a valid clone_args of the size given; with stack 0 the child continues
    // on a copy of the caller's stack, as with fork(2) (see clone_process for why that is
    // sound here: the caller is single-threaded).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(Pid::from_raw(pid as i32))),
    }
}

/// prctl(option, arg2) for the options nix lacks (keep-caps, no_new_privs, ambient caps).
pub(crate) fn prctl(
    option: libc::c_int,
    arg2: libc::c_ulong,
    arg3: libc::c_ulong,
) -> Result<(), Errno> {
    // SAFETY: the prctl options used by this crate take integer arguments only.
    let ret = unsafe { libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    Errno::result(ret).map(drop)
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a fresh session keyring for the container, so
/// that it does not share the caller's keys.
pub(crate) fn join_session_keyring(name: &std::ffi::CStr) -> Result<(), Errno> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_ulong = 1;
    // SAFETY: name is a valid NUL-terminated string that outlives the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    Errno::result(ret).map(drop)
}

/// setdomainname(2), which nix does not wrap.
pub(crate) fn setdomainname(name: &str) -> Result<(), Errno> {
    // SAFETY: the pointer and length describe `name`, which outlives the call.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop)
}

/// setrlimit(2) with the resource as the kernel numbers it (nix's enum lacks some, e.g.
/// RLIMIT_RTTIME on some targets).
pub(crate) fn setrlimit(
    resource: libc::__rlimit_resource_t,
    soft: u64,
    hard: u64,
) -> Result<(), Errno> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we pass by reference; nothing else.
    let ret = unsafe { libc::setrlimit(resource, &lim) };
    Errno::result(ret).map(drop)
}

/// setgroups(2): nix's version takes a Vec of Gid; this keeps the caller's slice.
pub(crate) fn setgroups(gids: &[libc::gid_t]) -> Result<(), Errno> {
    // SAFETY: the pointer and length describe the caller's live slice.
    let ret = unsafe { libc::setgroups(gids.len(), gids.as_ptr()) };
    Errno::result(ret).map(drop)
}

/// capset(2) of the calling thread's effective, permitted and inheritable sets in one call
/// (64-bit masks, _LINUX_CAPABILITY_VERSION_3), without reading them first: after a seccomp
/// filter went in early, this is the only syscall the final capability change makes.
pub(crate) fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<(), Errno> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let half = |mask: u64, high: bool| (if high { mask >> 32 } else { mask }) as u32;
    let data = [false, true].map(|high| Data {
        effective: half(effective, high),
        permitted: half(permitted, high),
        inheritable: half(inheritable, high),
    });
    // SAFETY: the header and the two data structs (version 3 takes two) are live, laid out as
    // the kernel's __user_cap_header_struct and __user_cap_data_struct, and only read.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
    Errno::result(ret).map(drop)
}

/// The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER1: with the utilization clamps, which
/// the SCHED_FLAG_UTIL_CLAMP_* flags need).
#[repr(C)]
#[derive(Default)]
pub(crate) struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

/// sched_setattr(2) of the calling thread (libc has no wrapper).
pub(crate) fn sched_setattr(attr: &SchedAttr) -> Result<(), Errno> {
    // SAFETY: attr is a live, fully initialized struct laid out as the kernel's sched_attr,
    // whose size field says how much of it the kernel may read; it is only read.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::pid_t,
            attr as *const SchedAttr,
            0 as libc::c_uint,
        )
    };
    Errno::result(ret).map(drop)
}

/// ioprio_set(IOPRIO_WHO_PROCESS, self, value) (libc has no wrapper).
pub(crate) fn ioprio_set_self(value: libc::c_int) -> Result<(), Errno> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    Errno::result(ret).map(drop)
}

/// personality(2), setting the execution domain.
pub(crate) fn personality(persona: libc::c_ulong) -> Result<(), Errno> {
    // SAFETY: an integer argument only; the previous persona it returns is not needed.
    let ret = unsafe { libc::personality(persona) };
    Errno::result(ret).map(drop)
}

/// set_mempolicy(2) of the calling thread; `nodes` is the node bitmask, one bit per node.
pub(crate) fn set_mempolicy(mode: libc::c_int, nodes: &[libc::c_ulong]) -> Result<(), Errno> {
    let (ptr, maxnode) = if nodes.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // The kernel reads maxnode - 1 bits: one more than the mask holds.
        (
            nodes.as_ptr(),
            (nodes.len() * libc::c_ulong::BITS as usize + 1) as libc::c_ulong,
        )
    };
    // SAFETY: ptr is null or points to `nodes`, live for the call, whose length in bits is
    // what maxnode tells the kernel to read; it is only read.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    Errno::result(ret).map(drop)
}

/// _exit(2): for a forked helper, which must not run the parent's atexit handlers or flush
/// its copies of the parent's buffers.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes an integer and does not return.
    unsafe { libc::_exit(code) }
}
