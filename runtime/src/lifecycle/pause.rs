//! `pause`: freeze every process of a running container (freezer v1, cgroup.freeze v2).

use std::path::Path;

use crate::error::{Error, Result};
use crate::state::{status, ContainerDir, Persisted, Status};

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    match status(&dir.path, &state) {
        Status::Running => {}
        s => {
            return Err(Error::Invalid(format!(
                "cannot pause container \"{id}\": it is {s}, not running"
            )))
        }
    }
    cgroup_of(&state)?.set_frozen(true)?;
    Ok(())
}

pub(crate) fn cgroup_of(state: &Persisted) -> Result<&vrun_cgroup::Cgroup> {
    state
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::Invalid(format!("container \"{}\" has no cgroup", state.id)))
}
