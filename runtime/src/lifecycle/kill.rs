//! `kill`: a signal to the container's init, or with `all` to every process in its cgroup.
//!
//! Clients read runc's answers here: containerd's shims take an error containing
//! "container not running" (or "does not exist") as "already finished", and stop a container
//! with `kill --all ID KILL`, which must succeed once init has exited.

use std::path::Path;
use std::time::{Duration, Instant};

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
        (Some(signal), false) => {
            hold_while_init_settles(&dir, &state, signal);
            signal_init(&state, signal)
        }
        (None, false) => send_to_init(&state, 0, "signal 0"),
    }
}

/// How long after `start` a signal may be held for init to settle (see below): long enough
/// for a shell, Python or Node to set their handlers and reach their first wait.
const SETTLING: Duration = Duration::from_millis(500);

/// A signal sent the moment a container starts meets its init in the middle of its startup,
/// and is lost two ways. If init has no handler for it yet, the kernel drops it (a pid
/// namespace's init has no default action). If it has one but is still busy, as an
/// entrypoint script between `trap ... TERM` and `wait $!`, the trap runs before the wait,
/// which then waits out the whole server: `docker run -d` then `docker stop` took the stop's
/// full timeout and a SIGKILL (runc sends at once; so does vrun after the first SETTLING).
/// So in the first SETTLING after start, a signal other than SIGKILL, SIGSTOP and SIGCONT
/// (never dropped, and not to be late) waits until init takes it (catches or blocks it)
/// and is waiting (not in state R), or has exited, or SETTLING is over; then it is sent.
/// The wait is bounded by start's time, not by anything the container does.
fn hold_while_init_settles(dir: &ContainerDir, state: &Persisted, signal: Signal) {
    if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP | Signal::SIGCONT) {
        return;
    }
    let Some(started) = dir.started_at() else {
        return;
    };
    // (a clock set back makes the start look future: counted as just now)
    let since = started.elapsed().unwrap_or(Duration::ZERO);
    let Some(left) = SETTLING.checked_sub(since) else {
        return;
    };
    let began = Instant::now();
    let mut polls = 0u32;
    let settled = || {
        procfs::signal_target(state.pid).is_none_or(|t| !t.drops(signal as i32) && !t.is_running())
    };
    while !settled() && procfs::is_alive(state.pid, state.start_time) && began.elapsed() < left {
        std::thread::sleep(Duration::from_millis(2));
        polls += 1;
    }
    tracing::debug!(
        "{signal}: init started {since:?} ago, held {:?} ({polls} polls){}",
        began.elapsed(),
        if settled() { "" } else { ", unsettled" }
    );
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
