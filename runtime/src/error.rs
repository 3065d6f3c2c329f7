//! The runtime's one error type. Each variant is a kind of failure a caller (the CLI, a
//! shim mapping to gRPC codes) tells apart with [`Error::kind`], without parsing text; the
//! text itself is the user's, unchanged: clients match on some of it.

use std::io;

/// Every error a lifecycle operation reports. The CLI prints it once, as one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config, flag or other input vrun refuses; the message names the field and file.
    #[error("{0}")]
    Invalid(String),
    #[error("container \"{0}\" does not exist")]
    NotFound(String),
    #[error("container \"{0}\" already exists")]
    Exists(String),
    /// The container is not in a state the operation needs (start of a running one, ...).
    #[error("{0}")]
    WrongState(String),
    /// The container's process failed on its way (init died before it was ready, a
    /// handshake broke): neither the input's fault nor one system call's.
    #[error("{0}")]
    Failed(String),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: nix::errno::Errno,
    },
    #[error(transparent)]
    Isolation(#[from] vrun_isolation::Error),
    #[error(transparent)]
    Rootfs(#[from] vrun_rootfs::Error),
    #[error(transparent)]
    Cgroup(#[from] vrun_cgroup::Error),
    #[error(transparent)]
    Seccomp(#[from] vrun_seccomp::Error),
}

/// What kind of failure an [`Error`] is: what a caller acts on (a shim's gRPC code, an
/// exit status, a retry). Serializable: a shim passes it between its processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// No container of that id.
    NotFound,
    /// A container of that id exists already.
    AlreadyExists,
    /// The container's state does not allow the operation.
    WrongState,
    /// The config, a flag or an input is refused.
    InvalidConfig,
    /// The kernel said the caller may not (EPERM, EACCES).
    PermissionDenied,
    /// Anything else the system did: a failed system call, a process that died.
    System,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The kind of this failure, looking through the facility crates' errors.
    pub fn kind(&self) -> ErrorKind {
        let from_errno = |errno: Option<i32>| match errno {
            Some(libc::EPERM | libc::EACCES) => ErrorKind::PermissionDenied,
            _ => ErrorKind::System,
        };
        match self {
            Error::Invalid(_) => ErrorKind::InvalidConfig,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Exists(_) => ErrorKind::AlreadyExists,
            Error::WrongState(_) => ErrorKind::WrongState,
            Error::Failed(_) => ErrorKind::System,
            Error::Io { source, .. } => from_errno(source.raw_os_error()),
            Error::Sys { source, .. } => from_errno(Some(*source as i32)),
            Error::Isolation(vrun_isolation::Error::Invalid(_))
            | Error::Rootfs(vrun_rootfs::Error::Invalid(_))
            | Error::Cgroup(vrun_cgroup::Error::Invalid(_))
            | Error::Seccomp(vrun_seccomp::Error::Profile(_)) => ErrorKind::InvalidConfig,
            Error::Isolation(e) if e.is_permission_denied() => ErrorKind::PermissionDenied,
            Error::Cgroup(e) if e.is_permission_denied() => ErrorKind::PermissionDenied,
            Error::Rootfs(e) => from_errno(e.errno().map(|e| e as i32)),
            Error::Seccomp(e) => from_errno(e.errno().map(|e| e as i32)),
            Error::Isolation(_) | Error::Cgroup(_) => ErrorKind::System,
        }
    }
}

pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, nix::errno::Errno> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Sys {
            what: what(),
            source,
        })
    }
}
