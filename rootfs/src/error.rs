use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: nix::errno::Errno,
    },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, nix::errno::Errno> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Sys {
            what: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: what(),
            source,
        })
    }
}

impl Error {
    /// The error with the config field it concerns in front, unless it already names it.
    pub fn within(self, field: &str) -> Error {
        let msg = self.to_string();
        if msg.starts_with(field) {
            self
        } else {
            Error::Invalid(format!("{field}: {msg}"))
        }
    }

    /// The errno behind a failed syscall, to pick a fallback (e.g. EPERM in a user namespace).
    pub fn errno(&self) -> Option<nix::errno::Errno> {
        match self {
            Error::Sys { source, .. } => Some(*source),
            Error::Io { source, .. } => source.raw_os_error().map(nix::errno::Errno::from_raw),
            Error::Invalid(_) => None,
        }
    }
}
