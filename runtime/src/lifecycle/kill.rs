//! `kill`: a signal to the container's init, or with `all` to every process in its cgroup.

use std::path::Path;

use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::state::{status, ContainerDir, Persisted, Status};
use crate::{procfs, sys};

pub fn kill(root: &Path, id: &str, signal: Signal, all: bool) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    if status(&dir.path, &state) == Status::Stopped {
        return Err(Error::Invalid(format!("container \"{id}\" is not running")));
    }
    if all {
        let cg = state
            .cgroup
            .as_ref()
            .ok_or_else(|| Error::Invalid("kill --all: the container has no cgroup".into()))?;
        cg.signal_all(signal)?;
        return Ok(());
    }
    signal_init(&state, signal)
}

/// Signals init through a pidfd, after checking (with the pidfd held) that the pid still
/// belongs to the container, so a recycled pid is never signalled.
pub(crate) fn signal_init(state: &Persisted, signal: Signal) -> Result<()> {
    let not_running = || Error::Invalid(format!("container \"{}\" is not running", state.id));
    let fd = sys::pidfd_open(state.pid).map_err(|_| not_running())?;
    if !procfs::is_alive(state.pid, state.start_time) {
        return Err(not_running());
    }
    sys::pidfd_send_signal(&fd, signal as i32).map_err(|e| Error::Sys {
        what: format!("send {signal} to the container"),
        source: e,
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
