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
        // A directory without state.json is what a create killed before its first save
        // leaves (its cgroup may be made already).
        Err(Error::NotFound(_)) => {
            remove_unrecorded(root, dir, None)?;
            return if force {
                Ok(())
            } else {
                Err(Error::NotFound(id.into()))
            };
        }
        Err(e) if force => return remove_unrecorded(root, dir, Some(e)),
        Err(e) => {
            return Err(Error::Invalid(format!(
                "{e} (`delete --force` removes what it can find of the container)"
            )))
        }
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
            return Err(Error::WrongState(format!(
                "cannot delete container \"{id}\": it is {s} (stop it first, or use --force)"
            )))
        }
    }
    let creating = state.pid == 0;
    destroy(root, dir, &state)?;
    if creating {
        // (a create killed mid-way may have made more than its state says)
        let left = vrun_cgroup::remove_marked_for(
            &Registry::for_container(root, id),
            id,
            Duration::from_secs(10),
        )?;
        if !left.is_empty() {
            return Err(still_in_use(id, &left));
        }
    }
    Ok(())
}

/// `delete --force` of a container whose state says nothing (none was saved yet) or cannot be
/// read (`damage`: truncated, garbage, not a file): what vrun's records still name goes. Its
/// init, when the damaged state still gives its pid and start time (which tell it from a
/// recycled pid); the cgroup directories the registry marks as made for it, with whatever is
/// in them; the rootfs's bind of a container without a mount namespace of its own; the
/// directory. What cannot be found this way (poststop hooks, which the config names) is said.
fn remove_unrecorded(root: &Path, dir: ContainerDir, damage: Option<Error>) -> Result<()> {
    let id = dir.id.clone();
    let salvaged = match &damage {
        Some(_) => crate::state::Salvaged::read(&dir.path, &id),
        None => Default::default(),
    };
    if let (Some(pid), Some(start_time)) = (salvaged.pid, salvaged.start_time) {
        let init = Persisted::recovered(&id, pid, start_time);
        if crate::procfs::is_alive(pid, start_time) {
            let _ = signal_init(&init, Signal::SIGKILL);
            if !wait_exit(&init, Duration::from_secs(10)) {
                return Err(Error::Failed(format!(
                    "container \"{id}\": its init (pid {pid}) did not exit after SIGKILL"
                )));
            }
        }
    }
    let left = vrun_cgroup::remove_marked_for(
        &Registry::for_container(root, &id),
        &id,
        Duration::from_secs(10),
    )?;
    if let (Some(rootfs), Some(mount)) = (&salvaged.rootfs, salvaged.host_root_mount) {
        vrun_rootfs::host_root::detach(rootfs, mount)?;
    }
    dir.remove()?;
    if !left.is_empty() {
        return Err(still_in_use(&id, &left));
    }
    if let Some(e) = damage {
        tracing::warn!(
            "container \"{id}\": {e}: removed what vrun's records name (its directory, the cgroups made for it{}); its poststop hooks, which only the state names, did not run",
            match salvaged.pid {
                Some(pid) => format!(", its init pid {pid}"),
                None => String::new(),
            }
        );
    }
    Ok(())
}

fn still_in_use(id: &str, left: &[std::path::PathBuf]) -> Error {
    Error::Invalid(format!(
        "container \"{id}\": its cgroup directories {} still hold processes after SIGKILL: left",
        left.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Whether the container's processes are exactly those of its own pid namespace: init's
/// death then ends them all (the kernel reaps the whole namespace before init is reported
/// gone), and nothing else in a cgroup it may share with other containers is touched.
fn has_own_pid_ns(state: &Persisted) -> bool {
    state
        .namespaces()
        .is_ok_and(|ns| ns.is_new(LinuxNamespaceType::Pid))
}

/// Whether the container's processes are whatever is in its cgroup: without a pid namespace
/// of its own, as runc treats them; before init's pid is known (a create that died
/// half-way), only in a cgroup that is the container's alone (the default placement, named
/// by its id, or its systemd unit). A `cgroupsPath` other containers share holds their
/// processes too; a half-made init there ends with its create, whose sync socket closed.
fn processes_are_the_cgroups(state: &Persisted, cg: &vrun_cgroup::Cgroup) -> bool {
    !has_own_pid_ns(state) || (state.pid == 0 && (cg.default_placement || cg.unit.is_some()))
}

fn stop(state: &Persisted) -> Result<()> {
    if let Some(cg) = state
        .cgroup
        .as_ref()
        .filter(|cg| processes_are_the_cgroups(state, cg))
    {
        cg.signal_all(Signal::SIGKILL)?;
    }
    match signal_init(state, Signal::SIGKILL) {
        Ok(()) | Err(Error::WrongState(_)) => {}
        Err(e) => return Err(e),
    }
    // Frozen tasks act on SIGKILL only once thawed.
    if let Some(cg) = state.cgroup.as_ref().filter(|c| c.is_frozen()) {
        cg.set_frozen(false)?;
    }
    if !wait_exit(state, Duration::from_secs(10)) {
        return Err(Error::Failed(format!(
            "container \"{}\" did not exit after SIGKILL",
            state.id
        )));
    }
    Ok(())
}

/// An init whose main thread has exited reads as stopped (a zombie to /proc, as runc reads
/// it) while its other threads may run on, in its cgroup (or still be exiting: a Go init's
/// exit ends its threads one by one). They are the container's: SIGKILL ends them, and the
/// cgroup is removed once init has left it (it was left "for the last container out").
fn end_threads_of_exited_init(state: &Persisted, cg: &vrun_cgroup::Cgroup) -> Result<()> {
    let in_cgroup = || cg.pids().is_ok_and(|p| p.contains(&state.pid));
    if !in_cgroup() {
        return Ok(());
    }
    // (the pidfd holds the pid: checked to be init's, it cannot be another's when signalled)
    let Ok(fd) = crate::sys::pidfd_open(state.pid) else {
        return Ok(());
    };
    if crate::procfs::stat(state.pid).is_none_or(|(_, t)| t != state.start_time) {
        return Ok(());
    }
    // (a zombie's thread group takes the signal: its live threads die)
    let _ = crate::sys::pidfd_send_signal(&fd, Signal::SIGKILL as i32);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while in_cgroup() {
        if std::time::Instant::now() > deadline {
            return Err(Error::Failed(format!(
                "container \"{}\": the threads of its init (pid {}) did not exit after SIGKILL",
                state.id, state.pid
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// Removes what a container left: cgroup, state directory; then runs poststop hooks.
pub(crate) fn destroy(root: &Path, dir: ContainerDir, state: &Persisted) -> Result<()> {
    tracing::debug!("container {}: removing its cgroup and state", state.id);
    if let Some(cg) = &state.cgroup {
        if processes_are_the_cgroups(state, cg) {
            cg.kill_all(Duration::from_secs(10))?;
        } else if state.pid != 0 {
            end_threads_of_exited_init(state, cg)?;
        } else {
            // (a half-made init ends by itself: given the time, its cgroup goes now if it
            // is the only one in it)
            let deadline = std::time::Instant::now() + vrun_cgroup::HALF_MADE_INIT_ENDS;
            while cg.pids().is_ok_and(|p| !p.is_empty()) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        cg.remove(&Registry::for_container(root, &state.id))?;
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
