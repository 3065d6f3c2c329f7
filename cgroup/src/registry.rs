//! The cgroup directories vrun made, for the containers of one state root that share them
//! (one `cgroupsPath` for many containers, or a common parent): any of them may remove such a
//! directory once it is empty, whoever made it, so the last one out cleans up; a directory
//! vrun did not make (the caller's own cgroup, one a user made and pointed a container at) is
//! never removed. The `vrun/` parent of the default placement is not listed: it is vrun's by
//! its name, and any container in it, of any state root, may remove it (`Cgroup::create`).
//!
//! `<root>/@cgroups` lists them (a JSON array of paths), and goes away with the last one.
//! Making a directory and listing it, and removing it and its entry, happen under a lock on
//! the state root itself (no lock file to leave behind), so a container joining a directory
//! never sees it half made or half removed. The list is read once and written once per
//! `create` or `delete`. Containers of other roots coordinate only through the kernel (rmdir
//! of a cgroup in use fails) and by making a vanished directory again (`Cgroup::recreate`).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// '@' is not a container id character, so this never collides with a container.
const FILE: &str = "@cgroups";

#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

/// The registry while it is locked: the list, read when first needed, written back by
/// [`Session::save`] if it changed.
pub struct Session<'a> {
    registry: &'a Registry,
    _lock: Flock<File>,
    made: Option<BTreeSet<PathBuf>>,
    changed: bool,
}

impl Registry {
    pub fn under(root: &Path) -> Registry {
        Registry {
            root: root.to_path_buf(),
        }
    }

    fn file(&self) -> PathBuf {
        self.root.join(FILE)
    }

    /// Takes the lock: a flock on the state root, held until the session is dropped.
    pub fn lock(&self) -> Result<Session<'_>> {
        let dir = match File::open(&self.root) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.root).map_err(|e| Error::Io {
                    what: format!("create {}", self.root.display()),
                    source: e,
                })?;
                File::open(&self.root).map_err(|e| Error::Io {
                    what: format!("open {}", self.root.display()),
                    source: e,
                })?
            }
            Err(e) => {
                return Err(Error::Io {
                    what: format!("open {}", self.root.display()),
                    source: e,
                })
            }
        };
        let lock = Flock::lock(dir, FlockArg::LockExclusive).map_err(|(_, e)| Error::Sys {
            what: format!("lock {}", self.root.display()),
            source: e,
        })?;
        Ok(Session {
            registry: self,
            _lock: lock,
            made: None,
            changed: false,
        })
    }
}

impl Session<'_> {
    fn made(&mut self) -> Result<&mut BTreeSet<PathBuf>> {
        if self.made.is_none() {
            let file = self.registry.file();
            let list = match std::fs::read(&file) {
                Ok(text) => serde_json::from_slice(&text).map_err(|e| {
                    Error::Invalid(format!(
                        "{}: not a list of cgroup paths: {e}",
                        file.display()
                    ))
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
                Err(e) => {
                    return Err(Error::Io {
                        what: format!("read {}", file.display()),
                        source: e,
                    })
                }
            };
            self.made = Some(list);
        }
        Ok(self.made.get_or_insert_with(BTreeSet::new))
    }

    /// Whether vrun made this directory (and it has not been removed since).
    pub(crate) fn is_marked(&mut self, dir: &Path) -> Result<bool> {
        Ok(self.made()?.contains(dir))
    }

    pub(crate) fn mark(&mut self, dir: &Path) -> Result<()> {
        self.changed |= self.made()?.insert(dir.to_path_buf());
        Ok(())
    }

    pub(crate) fn unmark(&mut self, dir: &Path) -> Result<()> {
        self.changed |= self.made()?.remove(dir);
        Ok(())
    }

    /// Writes the list back (through a temporary file and a rename), or removes it when it
    /// is empty.
    pub fn save(mut self) -> Result<()> {
        if !self.changed {
            return Ok(());
        }
        let file = self.registry.file();
        let made = self.made()?;
        if made.is_empty() {
            return match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
                    what: format!("remove {}", file.display()),
                    source: e,
                }),
                _ => Ok(()),
            };
        }
        let text = serde_json::to_vec(made).map_err(|e| Error::Invalid(e.to_string()))?;
        let tmp = self.registry.root.join(".@cgroups.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &file))
            .map_err(|e| Error::Io {
                what: format!("write {}", file.display()),
                source: e,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_kept_across_sessions_and_goes_with_its_last_entry() {
        let root = std::env::temp_dir().join(format!("vrun-registry-{}", std::process::id()));
        let r = Registry::under(&root);
        let a = Path::new("/sys/fs/cgroup/memory/a");
        let b = Path::new("/sys/fs/cgroup/memory/b");
        let mut s = r.lock().unwrap();
        s.mark(a).unwrap();
        s.save().unwrap();
        let mut s = r.lock().unwrap();
        assert!(s.is_marked(a).unwrap() && !s.is_marked(b).unwrap());
        s.unmark(b).unwrap();
        s.unmark(a).unwrap();
        s.save().unwrap();
        assert!(
            !root.join(FILE).exists(),
            "the registry outlived its last entry"
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
