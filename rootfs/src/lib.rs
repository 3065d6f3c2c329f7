//! The container's root filesystem: its mounts, /dev, masked and read-only paths, and the
//! switch into it with pivot_root.
//!
//! Every path from config.json is resolved inside the rootfs with openat2(RESOLVE_IN_ROOT)
//! and mounted through the resulting fd (see [`resolve`]); the string is never resolved twice.
//! All of it runs before pivot_root, while the host's own /proc (which the container cannot
//! have touched yet) is the procfs used for /proc/self/fd paths.

pub mod copyup;
pub mod devices;
pub mod disk;
mod error;
pub mod host_root;
pub mod masked;
pub mod mount_options;
pub mod mounts;
pub mod pivot;
pub mod procfs;
pub mod resolve;
pub mod sys;

pub use error::{Error, Result};
