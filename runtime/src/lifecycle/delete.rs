//! `delete`: remove a stopped container (with `force`, stop it first): its cgroup, its state,
//! then the poststop hooks.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxNamespaceType;
use vrun_cgroup::Registry;

use crate::error::{Error, Result};
use crate::hooks;
use crate::lifecycle::kill::{signal_init, wait_exit};
use crate::state::{status, ContainerDir, Persisted, Status};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = match ContainerDir::open(root, id) {
        Err(Error::NotFound(_)) if force => return Ok(()),
        other => other?,
    };
    let state = match dir.load() {
        Ok(s) => s,
        // A directory without state.json is what a create killed half-way leaves.
        Err(Error::NotFound(_)) => {
            dir.remove()?;
            return if force {
                Ok(())
            } else {
                Err(Error::NotFound(id.into()))
            };
        }
        Err(e) => return Err(e),
    };
    match status(&dir.path, &state) {
        Status::Stopped => {}
        // A created container never ran its process: deleting it stops it (as runc does).
        Status::Created | Status::Creating => stop(&state)?,
        s if force => {
            let _ = s;
            stop(&state)?
        }
        s => {
            return Err(Error::Invalid(format!(
                "cannot delete container \"{id}\": it is {s} (stop it first, or use --force)"
            )))
        }
    }
    destroy(root, dir, &state)
}

/// Whether the container's processes are exactly those of its own pid namespace: init's
/// death then ends them all (the kernel reaps the whole namespace before init is reported
/// gone), and nothing else in a cgroup it may share with other containers is touched.
fn has_own_pid_ns(state: &Persisted) -> bool {
    state
        .namespaces()
        .is_ok_and(|ns| ns.is_new(LinuxNamespaceType::Pid))
}

fn stop(state: &Persisted) -> Result<()> {
    // Without a pid namespace of its own (or before init's pid is known) the container's
    // processes are whatever is in its cgroup, as runc treats them.
    if !has_own_pid_ns(state) || state.pid == 0 {
        if let Some(cg) = &state.cgroup {
            cg.signal_all(Signal::SIGKILL)?;
        }
    }
    match signal_init(state, Signal::SIGKILL) {
        Ok(()) | Err(Error::Invalid(_)) => {}
        Err(e) => return Err(e),
    }
    // Frozen tasks act on SIGKILL only once thawed.
    if let Some(cg) = state.cgroup.as_ref().filter(|c| c.is_frozen()) {
        cg.set_frozen(false)?;
    }
    if !wait_exit(state, Duration::from_secs(10)) {
        return Err(Error::Invalid(format!(
            "container \"{}\" did not exit after SIGKILL",
            state.id
        )));
    }
    Ok(())
}

/// Removes what a container left: cgroup, state directory; then runs poststop hooks.
pub(crate) fn destroy(root: &Path, dir: ContainerDir, state: &Persisted) -> Result<()> {
    tracing::debug!("container {}: removing its cgroup and state", state.id);
    if let Some(cg) = &state.cgroup {
        if !has_own_pid_ns(state) || state.pid == 0 {
            cg.kill_all(Duration::from_secs(10))?;
        }
        cg.remove(&Registry::under(root))?;
    }
    if let Some(id) = state.host_root_mount {
        vrun_rootfs::host_root::detach(&state.rootfs, id)?;
    }
    dir.remove()?;
    if let Some(d) = &state.disk {
        crate::disk::remove(d);
    }
    if let Some(h) = state.config.hooks() {
        let stopped = state.spec_state_json(Status::Stopped);
        for warning in hooks::run_all("poststop", h.poststop().as_deref().unwrap_or(&[]), &stopped)
        {
            tracing::warn!("{warning}");
        }
    }
    Ok(())
}
