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
            return Err(Error::Invalid(format!(
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
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => Error::Invalid(format!(
                "cannot start container \"{id}\": its init process is not running"
            )),
            _ => Error::Io {
                what: format!("open {}", fifo.display()),
                source: e,
            },
        })?;
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
