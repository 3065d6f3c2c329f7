//! `pause`: freeze every process of a running container (freezer v1, cgroup.freeze v2).

use std::path::Path;

use crate::error::{Error, Result};
use crate::state::{status, ContainerDir, Status};

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    match status(&dir.path, &state) {
        Status::Running => {}
        s => {
            return Err(Error::WrongState(format!(
                "cannot pause container \"{id}\": it is {s}, not running"
            )))
        }
    }
    state.own_cgroup()?.set_frozen(true)?;
    Ok(())
}
