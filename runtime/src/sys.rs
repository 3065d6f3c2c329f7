//! The raw syscalls the runtime needs beyond nix: pidfds and close_range. Every `unsafe`
//! block of the crate is here.

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// pidfd_open(2): a handle on a process that stays valid if the pid is recycled.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: integer arguments only; a returned fd is new and owned by nobody else.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: see above.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// pidfd_send_signal(2).
pub fn pidfd_send_signal(fd: &OwnedFd, signal: i32) -> Result<(), Errno> {
    // SAFETY: integer arguments and a null siginfo, which the kernel allows.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// Marks every fd from `first` up close-on-exec, so that nothing of vrun's reaches the
/// container's process (CVE-2024-21626) without closing the fds init still uses.
pub fn cloexec_from(first: u32) -> Result<(), Errno> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    Errno::result(ret).map(drop)
}

/// Closes every fd of this process but those in `keep` (stdio is not kept unless listed).
/// For a created container's init before it waits (see process::release_the_host): the fds it
/// holds without owning them (values of create's stack frame, which the child never unwinds,
/// and whatever the caller passed vrun) go too, so none of them can be closed twice.
pub fn close_fds_except(keep: &[std::os::fd::RawFd]) -> Result<(), Errno> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|fd| u32::try_from(*fd).ok())
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 0u32;
    for fd in keep.into_iter().chain([u32::MAX]) {
        if fd > first {
            close_range(first, fd - 1)?;
        }
        first = fd.saturating_add(1);
    }
    Ok(())
}

/// close_range(2) with no flags; where the kernel lacks it (before 5.9), a close of each
/// number up to the open-files limit.
fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only; the caller owns the decision to close these numbers.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    match Errno::result(ret) {
        Err(Errno::ENOSYS) => {
            let end = open_files_limit().min(u64::from(last) + 1);
            for fd in u64::from(first)..end {
                // SAFETY: as above; EBADF for numbers not open is expected and ignored.
                unsafe { libc::close(fd as i32) };
            }
            Ok(())
        }
        other => other.map(drop),
    }
}

/// The soft RLIMIT_NOFILE: fds are numbered below it.
pub fn open_files_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024)
}

/// Whether `fd` is an open fd of this process.
pub fn is_open(fd: std::os::fd::RawFd) -> bool {
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok()
}

/// dup3(2) with O_CLOEXEC: `fd` at number `target` (which must be free), close-on-exec.
pub fn dup_onto_cloexec(fd: std::os::fd::RawFd, target: std::os::fd::RawFd) -> Result<(), Errno> {
    nix::unistd::dup3(fd, target, nix::fcntl::OFlag::O_CLOEXEC).map(drop)
}

/// execve(2) with prepared C strings; returns only on failure.
pub fn execve(
    path: &std::ffi::CStr,
    args: &[std::ffi::CString],
    env: &[std::ffi::CString],
) -> Errno {
    match nix::unistd::execve(path, args, env) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

pub use vrun_isolation::exit_now;

/// Takes ownership of an fd received with SCM_RIGHTS.
pub fn own_received_fd(fd: std::os::fd::RawFd) -> OwnedFd {
    // SAFETY: the kernel installed this fd in our table for this message; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A copy of `fd` that a child inherits (dup leaves FD_CLOEXEC clear), closed when dropped.
pub fn dup_inheritable(fd: std::os::fd::RawFd) -> Result<OwnedFd, Errno> {
    let copy = nix::unistd::dup(fd)?;
    // SAFETY: dup just made `copy` in our table; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);
nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);
nix::ioctl_write_ptr_bad!(tiocsptlck, libc::TIOCSPTLCK, libc::c_int);

pub fn window_size(fd: std::os::fd::BorrowedFd) -> nix::Result<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we own.
    unsafe { tiocgwinsz(fd.as_raw_fd(), &mut ws) }?;
    Ok(ws)
}

pub fn set_window_size(fd: std::os::fd::BorrowedFd, ws: &libc::winsize) -> nix::Result<()> {
    // SAFETY: TIOCSWINSZ reads one winsize from the struct we pass.
    unsafe { tiocswinsz(fd.as_raw_fd(), ws) }.map(drop)
}

pub fn unlock_pty(fd: std::os::fd::BorrowedFd) -> nix::Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the variable we pass.
    unsafe { tiocsptlck(fd.as_raw_fd(), &unlock) }.map(drop)
}

/// TIOCGPTPEER: opens the pty's peer from its master, without a path the container controls.
pub fn open_pty_peer(master: std::os::fd::BorrowedFd) -> Result<OwnedFd, Errno> {
    const TIOCGPTPEER: libc::c_ulong = 0x5441;
    // SAFETY: TIOCGPTPEER takes open flags as an integer and returns a new fd.
    let peer = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            TIOCGPTPEER as _,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if peer < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new fd returned by the kernel that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(peer) })
}

/// TIOCSCTTY on `fd`: the terminal becomes the session's controlling terminal.
pub fn set_controlling_terminal(fd: std::os::fd::RawFd) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) };
    Errno::result(ret).map(drop)
}

/// The user's process starts with no blocked signals and default dispositions (the Rust
/// runtime ignores SIGPIPE, and an ignored signal would stay ignored across exec).
pub fn reset_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
            // SAFETY: installing SIG_DFL runs no handler code; this process is single-threaded.
            let _ = unsafe { sigaction(sig, &default) };
        }
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// A created container's init dies on each signal whose default action ends a process, with
/// the status a shell reports for it (128 + the signal), until the exec resets them: as pid 1
/// of its pid namespace it has the kernel's protection, which drops every signal it has no
/// handler for, and `kill ID TERM` would leave it created (runc's init, a Go program, has
/// handlers and dies). SIGPIPE stays ignored: the hooks' pipes may break. The signals are
/// unblocked too (`run` blocks those it forwards before create).
pub fn die_on_terminating_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
    extern "C" fn die(signal: libc::c_int) {
        // SAFETY: _exit is async-signal-safe and ends the process; nothing else runs here.
        unsafe { libc::_exit(128 + signal) }
    }
    let action = SigAction::new(SigHandler::Handler(die), SaFlags::empty(), SigSet::all());
    let mut set = SigSet::empty();
    for signal in Signal::iterator().filter(|s| terminates(*s)) {
        // SAFETY: the handler only calls _exit, which is async-signal-safe; the process is
        // single-threaded.
        let _ = unsafe { sigaction(signal, &action) };
        set.add(signal);
    }
    for signal in libc::SIGRTMIN()..=libc::SIGRTMAX() {
        // SAFETY: as above, through libc for the real-time signals nix does not list.
        unsafe {
            let mut raw: libc::sigaction = std::mem::zeroed();
            raw.sa_sigaction = die as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigfillset(&mut raw.sa_mask);
            libc::sigaction(signal, &raw, std::ptr::null_mut());
        }
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
}

/// Whether a signal's default action ends the process (with or without a core), SIGPIPE
/// aside (see [`die_on_terminating_signals`]).
fn terminates(signal: nix::sys::signal::Signal) -> bool {
    use nix::sys::signal::Signal::*;
    !matches!(
        signal,
        SIGKILL
            | SIGSTOP
            | SIGPIPE
            | SIGCHLD
            | SIGCONT
            | SIGTSTP
            | SIGTTIN
            | SIGTTOU
            | SIGURG
            | SIGWINCH
    )
}

/// Runs the body of a forked child: a panic there becomes an error instead of unwinding into
/// the parent's stack frames, whose guards (copied by the fork) would otherwise undo the
/// parent's work from inside the child.
pub fn no_unwind<T>(body: impl FnOnce() -> crate::Result<T>) -> crate::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(crate::Error::Invalid(format!(
            "internal error in the container's process: {msg}"
        )))
    })
}

/// Runs `f` in the child of `cmd` between fork and exec (std's pre_exec); an error fails the
/// spawn with it.
pub fn pre_exec(
    cmd: &mut std::process::Command,
    f: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static,
) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the only caller (restore) is single-threaded when it spawns, so the forked
    // child holds no lock another thread took; `f` makes system calls and small allocations.
    unsafe {
        cmd.pre_exec(f);
    }
}

/// The child of `cmd` gets SIGKILL when this process (the thread that spawns it) dies: a hook
/// does not outlive the vrun process that runs it (a `create` killed mid-way, say).
pub fn die_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: in the child only prctl, getppid and _exit run, which are async-signal-safe
    // and allocate nothing.
    unsafe {
        cmd.pre_exec(move || {
            // (best effort: a seccomp filter may refuse prctl to a startContainer hook)
            let armed = libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == 0;
            // The parent may have died before the prctl: then no signal comes.
            if armed && libc::getppid() != parent {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

/// O_NONBLOCK on an fd (a pipe to a hook).
pub fn set_nonblocking(fd: std::os::fd::BorrowedFd) -> Result<(), Errno> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

/// Gives back what a waiting process holds without needing: its mappings of the program's
/// read-only segments (text and read-only data, never written, so the kernel refaults them
/// from the page cache when they are touched again), and free heap (malloc_trim). For a
/// created container's init, which waits on the exec fifo for as long as the container stays
/// created: see `init::shed_memory`.
pub fn shed_clean_pages() {
    unsafe extern "C" fn drop_readonly_segments(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        _data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: glibc passes a valid dl_phdr_info whose dlpi_phdr points at dlpi_phnum
        // program headers of a loaded object, valid for the duration of the callback.
        let (base, headers) = unsafe {
            let info = &*info;
            (
                info.dlpi_addr as usize,
                std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize),
            )
        };
        let page = 4096usize;
        for h in headers {
            if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_W != 0 {
                continue;
            }
            // Whole pages inside the segment only: a page shared with a writable neighbour
            // (there is none with the linker's page-aligned segments, but to be sure) stays.
            let start = (base + h.p_vaddr as usize).next_multiple_of(page);
            let end = (base + (h.p_vaddr + h.p_memsz) as usize) / page * page;
            if end > start {
                // SAFETY: [start, end) lies in a read-only segment of this program, mapped
                // private from its file and never written (no text relocations: the
                // writable and RELRO pages are in the PF_W segment, skipped above).
                // MADV_DONTNEED only unmaps its pages here; their content comes back from
                // the file.
                unsafe {
                    libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
                }
            }
        }
        1 // the first object is the program itself: stop there
    }
    // SAFETY: the callback only reads what glibc hands it (see above); no data pointer.
    // malloc_trim only returns free memory of the allocator to the kernel.
    unsafe {
        libc::dl_iterate_phdr(Some(drop_readonly_segments), std::ptr::null_mut());
        libc::malloc_trim(0);
    }
}
