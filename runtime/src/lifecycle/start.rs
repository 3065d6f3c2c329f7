//! `start`: release a created container's init to exec the user's process.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::state::{status, ContainerDir, Status};
use crate::{hooks, notify};

/// Releases the container. With NOTIFY_SOCKET (start's own, or create's), returns the proxy
/// that passes the container's READY=1 on: `vrun start` waits on it, as runc's does.
pub fn start(root: &Path, id: &str) -> Result<Option<notify::Proxy>> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    match status(&dir.path, &state) {
        Status::Created => {}
        s => {
            return Err(Error::WrongState(format!(
                "cannot start container \"{id}\": it is {s}, not created"
            )))
        }
    }
    // Bound before the container runs, so that an early READY is not lost.
    let proxy = match notify::host_socket().or_else(|| state.notify_socket.clone()) {
        Some(host) if state.notify_socket.is_some() => Some(notify::Proxy::bind(
            &notify::dir_of(&dir.path),
            host,
            state.pid,
        )?),
        // (a container created without NOTIFY_SOCKET has no socket of vrun's inside)
        _ => None,
    };
    let fifo = dir.fifo();
    let open = |for_reading: bool| {
        std::fs::OpenOptions::new()
            .read(for_reading)
            .write(!for_reading)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .map_err(|e| Error::Io {
                what: format!("open {}", fifo.display()),
                source: e,
            })
    };
    // Opened first and alone: with init gone there is no reader and the open fails (ENXIO).
    let release = open(false).map_err(|e| match e {
        Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENXIO) => {
            Error::WrongState(format!(
                "cannot start container \"{id}\": its init process is not running"
            ))
        }
        e => e,
    })?;
    let exec_watch = open(true)?;
    // The kernel reports a fifo's hang-up to a reader only for writers opened after it, so the
    // byte goes through a second writer; `release` has served its purpose (init is alive).
    drop(release);
    let mut f = open(false)?;
    f.write_all(b"0").map_err(|e| Error::Io {
        what: format!("write {}", fifo.display()),
        source: e,
    })?;
    drop(f);
    tracing::debug!("container {id}: released init (pid {})", state.pid);
    std::fs::remove_file(&fifo).map_err(|e| Error::Io {
        what: format!("remove {}", fifo.display()),
        source: e,
    })?;
    wait_for_exec(&exec_watch, &fifo)?;
    if let Err(e) = dir.mark_started() {
        // (only kill's wait for a just-started init to catch a signal goes without it)
        tracing::warn!("container {id}: {e}");
    }
    if let Some(h) = state.config.hooks() {
        let running = state.spec_state_json(Status::Running);
        for warning in hooks::run_all(
            "poststart",
            h.poststart().as_deref().unwrap_or(&[]),
            &running,
        ) {
            tracing::warn!("{warning}");
        }
    }
    Ok(proxy)
}

/// Waits until init has run the startContainer hooks and exec'd the user's process (or died):
/// its end of the exec fifo is close-on-exec, so that is when the fifo loses its last writer.
/// The poststart hooks then run after the process is executed, as the runtime spec says, and
/// `start` returns with the container's process in place (runc and crun return as soon as init
/// is released; the startContainer hooks may still be running then).
fn wait_for_exec(watch: &std::fs::File, fifo: &Path) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    loop {
        // No events asked for: POLLHUP is always reported, and the byte init may not have read
        // yet (POLLIN) must not end the wait.
        let mut fds = [PollFd::new(watch.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) if fds[0].any().unwrap_or(true) => return Ok(()),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(Error::Sys {
                    what: format!("wait for the container's exec through {}", fifo.display()),
                    source: e,
                })
            }
        }
    }
}
