//! `resume`: thaw a paused container.

use std::path::Path;

use crate::error::{Error, Result};
use crate::state::{status, ContainerDir, Status};

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    match status(&dir.path, &state) {
        Status::Paused => {}
        s => {
            return Err(Error::WrongState(format!(
                "cannot resume container \"{id}\": it is {s}, not paused"
            )))
        }
    }
    state.own_cgroup()?.set_frozen(false)?;
    Ok(())
}
