//! The fds a caller hands to the container's process: LISTEN_FDS (socket activation), then
//! `--preserve-fds N`, at 3 .. 3+count. The container gets exactly those of them the caller
//! had open; a number in the range the caller left closed stays closed in the container.
//!
//! vrun opens fds of its own (the host's /proc, the exec fifo, the sync socket, a `--log`
//! file), and the kernel gives each the lowest free number: with a gap in the range, one of
//! them would land there and be handed over (youki's fd_control test showed the host's procfs
//! at fd 3). So before vrun opens anything, every free number of the range is taken by a
//! placeholder, a close-on-exec /dev/null: vrun's own fds then all sit above 3+count, and the
//! placeholders go at exec (or, in a created container's init, with everything else it does
//! not need; see init.rs).

use std::os::fd::{AsRawFd, RawFd};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassedFds {
    /// The numbers of 3 .. 3+count (LISTEN_FDS + --preserve-fds) the caller had open: what
    /// the container gets.
    pub open: Vec<RawFd>,
}

impl PassedFds {
    /// Notes which of fds 3 .. 3+count the caller passed and fills the others with
    /// placeholders. Call it first thing, before this process opens an fd of its own (main()
    /// does, before logging opens `--log`). `flag` names the count in errors.
    pub fn reserve(count: u32, flag: &str) -> Result<PassedFds> {
        let mut passed = PassedFds::default();
        if count == 0 {
            return Ok(passed);
        }
        let limit = crate::sys::open_files_limit();
        let end = 3u64 + u64::from(count);
        if end > limit {
            return Err(Error::Invalid(format!(
                "{flag} {count}: fds 3 to {} would reach past this process's limit of {limit} open files (RLIMIT_NOFILE)",
                end - 1
            )));
        }
        let mut placeholder = None;
        for fd in 3..end as RawFd {
            if crate::sys::is_open(fd) {
                passed.open.push(fd);
                continue;
            }
            let null = match &placeholder {
                Some(f) => f,
                None => {
                    placeholder.insert(std::fs::File::open("/dev/null").map_err(|e| Error::Io {
                        what: format!("{flag}: open /dev/null to hold fd {fd}"),
                        source: e,
                    })?)
                }
            };
            // (the open above took the lowest free number, which may be this very one)
            if null.as_raw_fd() != fd {
                crate::sys::dup_onto_cloexec(null.as_raw_fd(), fd).map_err(|e| Error::Sys {
                    what: format!("{flag}: hold fd {fd} for the container"),
                    source: e,
                })?;
            }
        }
        // The placeholders are held by number from now on: the first one is not closed when
        // `placeholder` goes out of scope, if it sits in the range.
        if let Some(f) = placeholder {
            let fd = f.as_raw_fd();
            if (fd as u64) < end {
                std::mem::forget(f);
            }
        }
        Ok(passed)
    }

    /// The fds main() reserved (`given`), or, for a caller of the library that did not,
    /// [`PassedFds::reserve`] of `count` now.
    pub fn given_or_reserved(given: Option<&PassedFds>, count: u32) -> Result<PassedFds> {
        match given {
            Some(p) => Ok(p.clone()),
            None => PassedFds::reserve(count, "--preserve-fds"),
        }
    }
}
