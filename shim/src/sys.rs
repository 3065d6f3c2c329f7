//! The shim's unsafe calls, each with why it is sound.
#![allow(unsafe_code)]

use nix::unistd::ForkResult;

/// Forks the maker (see maker.rs). Called from `Shim::new`, before containerd-shim's
/// bootstrap starts a thread.
pub fn fork_before_threads() -> nix::Result<ForkResult> {
    // SAFETY: the process is single-threaded here (containerd-shim's bootstrap has parsed
    // its flags and set signal handlers, and starts its threads after `Shim::new`), so the
    // child inherits no lock held by another thread.
    unsafe { nix::unistd::fork() }
}

/// The maker starts without the shim's signal handlers: signal-hook's write to a pipe the
/// shim reads, so a SIGCHLD of the maker's would wake the shim's reaper.
pub fn default_signal_handlers() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGPIPE,
        Signal::SIGCHLD,
    ] {
        // SAFETY: installing SIG_DFL runs no handler code; the maker is single-threaded.
        let _ = unsafe { sigaction(sig, &default) };
    }
}

/// Takes ownership of a new fd: one received with SCM_RIGHTS or returned by dup(2), or one a
/// maker's re-exec kept open for the new image (maker.rs's `shed`, checked open there).
pub fn own(fd: std::os::fd::RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: callers pass an fd just made for this process (recvmsg's SCM_RIGHTS, dup) or
    // handed to this image by its own exec (and nothing else of this image knows of it), open
    // and owned by nothing else.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// One malloc arena for the whole process: glibc gives each thread that allocates an arena
/// of its own, and ttrpc's serving threads each kept a few hundred kB they had used once (the
/// shim's RSS rose by 6 MB over 500 containers of a pod, and stayed); with one, by 0.3 MB
/// over 1000. The shim's threads wait on containerd more than they allocate.
pub fn one_malloc_arena() {
    // SAFETY: mallopt only sets a malloc parameter; called in main, before any thread.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
}

/// The child of `cmd` gets `fds` as its fds 3, 4, ... (not close-on-exec there): a logger
/// binary's streams and its ready pipe, as containerd's shims give them.
pub fn give_fds_from_3<const N: usize>(
    cmd: &mut std::process::Command,
    fds: [std::os::fd::RawFd; N],
) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child, before exec, and calls only fcntl and
    // dup2, which are async-signal-safe, on fds the parent keeps open until spawn returns; it
    // allocates nothing. Each fd is first copied above 2 + N, so that no dup2 onto 3.. can
    // close one not yet moved.
    unsafe {
        cmd.pre_exec(move || {
            let mut high = [0; N];
            for (i, fd) in fds.iter().enumerate() {
                high[i] = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3 + N as libc::c_int);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, fd) in high.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as libc::c_int) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    };
}

/// Drops the page-table entries of `mappings` (madvise MADV_DONTNEED); the bytes it dropped.
/// Each is a whole mapping of this process's own binary that /proc/self/smaps showed
/// private, not writable, and with no page of its own (idle.rs, `clean_file_mappings`, the
/// only maker of them).
pub fn drop_mapped_pages(mappings: &[crate::idle::CleanFileMapping]) -> usize {
    let mut dropped = 0;
    for m in mappings {
        // SAFETY: MADV_DONTNEED on a private file mapping drops its pages from this process's
        // page tables; the next access maps the file's page again. A page this process had
        // written would be lost (reset to the file's bytes), but no page of these mappings
        // is its own: they are not writable (nothing of this program writes them; only a
        // debugger's forced write could, between the read of smaps and here), and smaps counted
        // no Anonymous page in them. Their contents, which code and constants are read from,
        // are the same before and after. And the range is still that mapping: the binary's
        // mappings are made by its exec and never unmapped (nothing of this program unmaps
        // or remaps them), so no other mapping can have taken their place.
        let r = unsafe { libc::madvise(m.start as *mut libc::c_void, m.len, libc::MADV_DONTNEED) };
        if r == 0 {
            dropped += m.len;
        }
    }
    dropped
}
