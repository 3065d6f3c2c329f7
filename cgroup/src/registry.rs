//! The cgroup directories vrun made, for the containers of one state root that share them
//! (one `cgroupsPath` for many containers, or a common parent): any of them may remove such a
//! directory once it is empty, whoever made it, so the last one out cleans up; a directory
//! vrun did not make (the caller's own cgroup, one a user made and pointed a container at) is
//! never removed.
//!
//! `<root>/@cgroups/` holds one marker file per directory (named by a hash of its path,
//! holding the path), and goes away with its last marker. Making a directory and marking it,
//! and removing it and its marker, happen under a lock on the state root itself, so a
//! container joining a directory never sees it half made or half removed. Containers of other
//! roots coordinate only through the kernel (rmdir of a cgroup in use fails) and by making a
//! vanished directory again (see `Cgroup::recreate`).

use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// '@' is not a container id character, so this never collides with a container.
const DIR: &str = "@cgroups";

#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
    dir: PathBuf,
}

/// Held while the registry is changed; released when dropped.
pub struct Lock(#[allow(dead_code)] Flock<File>);

impl Registry {
    pub fn under(root: &Path) -> Registry {
        Registry {
            root: root.to_path_buf(),
            dir: root.join(DIR),
        }
    }

    /// Held while making or removing directories, or joining one (the lock is released on
    /// drop). It is a flock on the state root: no file of its own to leave behind.
    pub fn lock(&self) -> Result<Lock> {
        std::fs::create_dir_all(&self.root).map_err(|e| Error::Io {
            what: format!("create {}", self.root.display()),
            source: e,
        })?;
        let dir = File::open(&self.root).map_err(|e| Error::Io {
            what: format!("open {}", self.root.display()),
            source: e,
        })?;
        Flock::lock(dir, FlockArg::LockExclusive)
            .map(Lock)
            .map_err(|(_, e)| Error::Sys {
                what: format!("lock {}", self.root.display()),
                source: e,
            })
    }

    fn marker(&self, cgroup_dir: &Path) -> PathBuf {
        self.dir
            .join(format!("{:016x}", fnv1a(cgroup_dir.as_os_str().as_bytes())))
    }

    /// Whether vrun made this directory (and it has not been removed since).
    pub(crate) fn is_marked(&self, cgroup_dir: &Path) -> bool {
        let mut text = Vec::new();
        File::open(self.marker(cgroup_dir))
            .and_then(|mut f| f.read_to_end(&mut text))
            .is_ok_and(|_| text == cgroup_dir.as_os_str().as_bytes())
    }

    pub(crate) fn mark(&self, cgroup_dir: &Path) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::Io {
            what: format!("create {}", self.dir.display()),
            source: e,
        })?;
        let path = self.marker(cgroup_dir);
        std::fs::write(&path, cgroup_dir.as_os_str().as_bytes()).map_err(|e| Error::Io {
            what: format!(
                "record the cgroup {} in {}",
                cgroup_dir.display(),
                path.display()
            ),
            source: e,
        })
    }

    pub(crate) fn unmark(&self, cgroup_dir: &Path) {
        if self.is_marked(cgroup_dir) {
            let _ = std::fs::remove_file(self.marker(cgroup_dir));
            // gone with its last marker (ENOTEMPTY otherwise)
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// FNV-1a, 64 bits: a marker's name must be the same for every vrun build (std's hasher is
/// not promised to be), and a collision only means the marker holds another path.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_name_their_directory() {
        let root = std::env::temp_dir().join(format!("vrun-registry-{}", std::process::id()));
        let r = Registry::under(&root);
        let a = Path::new("/sys/fs/cgroup/memory/a");
        let b = Path::new("/sys/fs/cgroup/memory/b");
        let _lock = r.lock().unwrap();
        r.mark(a).unwrap();
        assert!(r.is_marked(a) && !r.is_marked(b));
        r.unmark(b);
        assert!(r.is_marked(a));
        r.unmark(a);
        assert!(!r.is_marked(a));
        assert!(
            !root.join(DIR).exists(),
            "the registry outlived its last marker"
        );
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        std::fs::remove_dir_all(root).unwrap();
    }
}
