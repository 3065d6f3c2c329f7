use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: nix::errno::Errno,
    },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// What another container sharing the cgroup can cause for a moment: its directory
    /// removed (ENOENT, or ENODEV while the removal completes), or made again and not yet
    /// given its cpuset (ENOSPC when a task joins).
    pub fn is_shared_race(&self) -> bool {
        let errno = match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Sys { source, .. } => Some(*source as i32),
            Error::Invalid(_) => None,
        };
        matches!(errno, Some(libc::ENOENT | libc::ENODEV | libc::ENOSPC))
    }

    /// The caller may not do this (a rootless caller making a cgroup): EACCES, EPERM, or
    /// EROFS (a read-only cgroup mount).
    pub fn is_permission_denied(&self) -> bool {
        let errno = match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Sys { source, .. } => Some(*source as i32),
            Error::Invalid(_) => None,
        };
        matches!(errno, Some(libc::EACCES | libc::EPERM | libc::EROFS))
    }
}
