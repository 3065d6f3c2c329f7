//! Process isolation for a container's init and exec'd processes: namespaces, id maps,
//! capabilities, rlimits and the other per-process attributes of the OCI `process` object.
//!
//! Everything here acts on the calling process (or, for id maps, on a child it names) and
//! returns [`Error`]; nothing prints. The few raw syscalls live in `sys`.

pub mod attrs;
pub mod capabilities;
mod error;
pub mod idmap;
pub mod namespaces;
pub mod rlimits;
pub mod sched;
mod sys;
pub mod user;

pub use error::{Error, Result};
pub use sys::{clone_process, clone_process_into, exit_now, CloneResult};
