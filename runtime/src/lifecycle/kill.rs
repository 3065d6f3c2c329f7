//! `kill`: a signal to the container's init, or with `all` to every process in its cgroup.
//!
//! Clients read runc's answers here: containerd's shims take an error containing
//! "container not running" (or "does not exist") as "already finished", and stop a container
//! with `kill --all ID KILL`, which must succeed once init has exited.

use std::path::Path;

use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::state::{status, ContainerDir, Persisted, Status};
use crate::{procfs, sys};

/// `signal` None is signal 0: nothing is sent, and the answer says whether init is alive
/// ("container not running" when not), or with `all`, that the container exists.
pub fn kill(root: &Path, id: &str, signal: Option<Signal>, all: bool) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    let current = status(&dir.path, &state);
    match (signal, all) {
        (Some(signal), true) => signal_cgroup(&state, current, signal),
        (None, true) => Ok(()),
        _ if current == Status::Stopped => Err(not_running(id)),
        (Some(signal), false) => signal_init(&state, signal),
        (None, false) => send_to_init(&state, 0, "signal 0"),
    }
}

/// runc's words ("container not running"), which containerd matches on.
fn not_running(id: &str) -> Error {
    Error::WrongState(format!("cannot signal \"{id}\": container not running"))
}

/// `--all`, as runc: every process left in the container's cgroup, also after init exited
/// (without a pid namespace of its own, its processes outlive it); nothing left is no error.
/// The cgroup is frozen while they are signalled, so that none forks past the walk; it is
/// thawed after, and a paused one too for SIGKILL, whose targets die only once thawed under
/// freezer v1 (runc thaws in every case).
fn signal_cgroup(state: &Persisted, current: Status, signal: Signal) -> Result<()> {
    let Some(cg) = state.cgroup.as_ref() else {
        // rootless, without a cgroup: the processes of its pid namespace
        for pid in procfs::container_processes(state.pid, state.start_time) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
        return Ok(());
    };
    if current == Status::Stopped && cg.pids()?.is_empty() {
        return Ok(());
    }
    let was_paused = current == Status::Paused;
    if !was_paused {
        if let Err(e) = cg.set_frozen(true) {
            tracing::warn!("kill --all: freeze the cgroup first: {e}");
        }
    }
    let result = cg.signal_all(signal);
    // (a freeze that timed out leaves the cgroup half frozen: thawed as well)
    if !was_paused || signal == Signal::SIGKILL {
        if let Err(e) = cg.set_frozen(false) {
            tracing::warn!("kill --all: thaw the cgroup: {e}");
        }
    }
    Ok(result?)
}

/// Signals init through a pidfd, after checking (with the pidfd held) that the pid still
/// belongs to the container, so a recycled pid is never signalled.
pub(crate) fn signal_init(state: &Persisted, signal: Signal) -> Result<()> {
    send_to_init(state, signal as i32, signal.as_ref())
}

fn send_to_init(state: &Persisted, signo: i32, shown: &str) -> Result<()> {
    let gone = || not_running(&state.id);
    let fd = sys::pidfd_open(state.pid).map_err(|_| gone())?;
    if !procfs::is_alive(state.pid, state.start_time) {
        return Err(gone());
    }
    sys::pidfd_send_signal(&fd, signo).map_err(|e| match e {
        // it exited since the check
        nix::errno::Errno::ESRCH => gone(),
        e => Error::Sys {
            what: format!("send {shown} to the container"),
            source: e,
        },
    })
}

/// Waits (up to `timeout`) for init to exit, using its pidfd.
pub(crate) fn wait_exit(state: &Persisted, timeout: std::time::Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let Ok(fd) = sys::pidfd_open(state.pid) else {
        return true;
    };
    if !procfs::is_alive(state.pid, state.start_time) {
        return true;
    }
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32)
        .unwrap_or(PollTimeout::MAX);
    matches!(poll(&mut fds, ms), Ok(n) if n > 0) || !procfs::is_alive(state.pid, state.start_time)
}
