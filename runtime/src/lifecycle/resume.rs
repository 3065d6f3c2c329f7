//! `resume`: thaw a paused container.

use std::path::Path;

use crate::error::{Error, Result};
use crate::lifecycle::pause::cgroup_of;
use crate::state::{status, ContainerDir, Status};

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    match status(&dir.path, &state) {
        Status::Paused => {}
        s => {
            return Err(Error::Invalid(format!(
                "cannot resume container \"{id}\": it is {s}, not paused"
            )))
        }
    }
    cgroup_of(&state)?.set_frozen(false)?;
    Ok(())
}
