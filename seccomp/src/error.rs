//! The seccomp crate's one error type: what a caller may tell apart without reading text.

/// Why a profile was not compiled, loaded or handed over. The messages are users' (and
/// clients' tests match on some of them): each variant carries its text whole.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile cannot be compiled; the message names the field under linux.seccomp.
    #[error("{0}")]
    Profile(String),
    /// The kernel refused to load the filter.
    #[error("{message}")]
    Load {
        message: String,
        errno: nix::errno::Errno,
    },
    /// The SCMP_ACT_NOTIFY listener could not reach its agent at linux.seccomp.listenerPath.
    #[error("{message}")]
    Listener {
        message: String,
        errno: nix::errno::Errno,
    },
}

impl Error {
    /// The errno behind a kernel's refusal, None for a profile the compiler refused.
    pub fn errno(&self) -> Option<nix::errno::Errno> {
        match self {
            Error::Profile(_) => None,
            Error::Load { errno, .. } | Error::Listener { errno, .. } => Some(*errno),
        }
    }
}
