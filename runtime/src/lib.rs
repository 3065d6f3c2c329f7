//! The container lifecycle of the OCI runtime spec, composed from the facility crates:
//! `isolation` (namespaces, ids, capabilities), `cgroup`, `rootfs` and `seccomp`; used
//! through [`Runtime`] and [`Container`] (see the `api` module's example).
//!
//! The process model (see DESIGN.md): `create` clones the container's init straight into its
//! namespaces; init sets everything up, reports "ready" over a socketpair and blocks on the
//! exec fifo; `start` opens the fifo and init execs the user's process. No daemon stays.
//!
//! # Layers
//!
//! The modules depend on each other downwards only (the `layers` test checks it):
//!
//! 1. **base**, which know no other module of the crate: `error`, `sys`, `made` (undo
//!    guards), `fault`, `time`, `id`, `size`, `signals`, `procfs`, `sync` (the parent-init
//!    channel), `passed_fds`, `spec_ext`, `hooks`, `console`, `notify`, `netdev`,
//!    `selfclone`;
//! 2. **config**, what a bundle asks for, checked: `process`, `disk`, `features`, `seccomp`,
//!    `bundle`, `spec_default`;
//! 3. **state**, a container as it is kept between commands: `state`;
//! 4. **init**, the container's side of a create: `init`;
//! 5. **lifecycle**, one module per verb (`lifecycle::create`, `start`, `exec`, ...), which
//!    may use each other without a cycle (`run` uses `create`, `start` and `delete`);
//! 6. **api**: [`Runtime`], [`Container`], [`Process`].

mod api;
pub mod bundle;
pub mod console;
pub mod disk;
mod error;
pub mod fault;
pub mod features;
pub mod hooks;
pub mod id;
mod init;
pub mod lifecycle;
mod made;
mod netdev;
pub mod notify;
pub mod passed_fds;
mod process;
pub mod procfs;
mod seccomp;
pub mod selfclone;
pub mod signals;
pub mod size;
pub mod spec_default;
pub mod spec_ext;
pub mod state;
mod sync;
mod sys;
pub mod time;

#[cfg(test)]
mod layers;

pub use api::{Container, Process, Runtime};
pub use error::{Error, ErrorKind, Result};
pub use lifecycle::{ConsoleMode, CreateOptions, ExecOptions, UpdateOptions};

/// The runtime-spec version of the state vrun reports (`vrun state`, hooks' stdin).
pub const OCI_VERSION: &str = "1.2.0";
