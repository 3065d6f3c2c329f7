//! `run`: create + start, then (unless detached) wait for the process, forward signals to it,
//! proxy its terminal, and delete the container; the exit status is the process's.

use std::os::fd::AsFd;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Context, Result};
use crate::lifecycle::{create, delete, start, ConsoleMode, CreateOptions};
use crate::state::ContainerDir;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub create: CreateOptions,
    pub console_socket: Option<std::path::PathBuf>,
    pub detach: bool,
    /// Keep the container's state after it exits (no delete).
    pub keep: bool,
    /// `--no-subreaper`: vrun does not become the child subreaper of what the container
    /// orphans (runc's default is to become it).
    pub no_subreaper: bool,
}

/// Returns the exit status to leave with.
pub fn run(opts: &RunOptions) -> Result<i32> {
    let console = match (&opts.console_socket, opts.detach) {
        (Some(p), _) => ConsoleMode::Socket(p.clone()),
        (None, false) => ConsoleMode::Proxy,
        (None, true) => ConsoleMode::None,
    };
    if !opts.no_subreaper {
        // Processes of a container without a pid namespace of its own that lose their
        // parent come to vrun rather than to the host's init, as with runc.
        nix::sys::prctl::set_child_subreaper(true)
            .context(|| "prctl(PR_SET_CHILD_SUBREAPER)".into())?;
    }
    let forwarded = forwarded_signals();
    // Block the forwarded signals before the container exists so none is lost; init unblocks
    // them before exec.
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None)
        .context(|| "block signals".into())?;
    let created = create(&opts.create, console)?;
    let root = &opts.create.root;
    let id = &opts.create.id;
    let proxy = match start(root, id) {
        Ok(p) => p,
        Err(e) => {
            let _ = delete(root, id, true);
            return Err(e);
        }
    };
    if opts.detach {
        // With NOTIFY_SOCKET: return once the container is ready, as runc's run -d does.
        if let Some(p) = proxy {
            p.wait()?;
        }
        return Ok(0);
    }
    // In the foreground the READY is passed on beside the wait (signals stay blocked in the
    // thread, which inherits the mask: they go to the signalfd of this one).
    if let Some(p) = proxy {
        std::thread::spawn(move || {
            if let Err(e) = p.wait() {
                tracing::warn!("{e}");
            }
        });
    }
    let code = wait_foreground(created.pid, created.console.as_ref())?;
    if !opts.keep {
        // Someone may have deleted it while it ran (`vrun delete --force`): nothing left to do.
        // (The directory may also vanish while we wait for its lock.)
        let found =
            ContainerDir::open(root, id).and_then(|dir| dir.load().map(|state| (dir, state)));
        match found {
            Ok((dir, state)) => crate::lifecycle::delete::destroy(root, dir, &state)?,
            Err(crate::Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(code)
}

/// Waits for a child of ours (forwarding signals to it, proxying its terminal when there is
/// one) and returns its exit status. The forwarded signals must already be blocked.
pub(crate) fn wait_foreground(pid: Pid, console: Option<&std::os::fd::OwnedFd>) -> Result<i32> {
    let signals = SignalFd::with_flags(
        &forwarded_signals(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .context(|| "signalfd".into())?;
    Ok(match console {
        Some(master) => {
            let mut exit = None;
            let _ = crate::console::proxy(master, || {
                forward_pending(&signals, pid);
                if exit.is_none() {
                    exit = reap(pid);
                }
                exit.is_some()
            });
            match exit {
                Some(c) => c,
                None => wait_forwarding(&signals, pid)?,
            }
        }
        None => wait_forwarding(&signals, pid)?,
    })
}

pub(crate) fn forwarded_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGCHLD,
    ] {
        set.add(s);
    }
    set
}

/// Exit status of `pid` if it has exited: its code, or 128 + the signal that killed it.
fn reap(pid: Pid) -> Option<i32> {
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
        Err(nix::errno::Errno::ECHILD) => Some(255),
        _ => None,
    }
}

fn forward_pending(signals: &SignalFd, pid: Pid) {
    while let Ok(Some(info)) = signals.read_signal() {
        let sig = info.ssi_signo as i32;
        if sig != Signal::SIGCHLD as i32 {
            let _ = nix::sys::signal::kill(pid, Signal::try_from(sig).ok());
        }
    }
}

fn wait_forwarding(signals: &SignalFd, pid: Pid) -> Result<i32> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        if let Some(code) = reap(pid) {
            return Ok(code);
        }
        let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => forward_pending(signals, pid),
            Err(e) => {
                return Err(crate::error::Error::Sys {
                    what: "wait for the container".into(),
                    source: e,
                })
            }
        }
    }
}
