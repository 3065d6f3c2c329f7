//! The cgroup directories vrun made, for the containers of one state root that share them
//! (one `cgroupsPath` for many containers, or a common parent): any of them may remove such a
//! directory once it is empty, whoever made it, so the last one out cleans up; a directory
//! vrun did not make (the caller's own cgroup, one a user made and pointed a container at) is
//! never removed. The `vrun/` parent of the default placement is not listed: it is vrun's by
//! its name, and any container in it, of any state root, may remove it (`Cgroup::create`).
//!
//! `<root>/@cgroups.d/` holds one mark per directory, named by a hash of its path, and goes
//! away with the last one. A mark is a symlink whose target is `OWNER:PATH`: the id of the
//! container that made the directory (`@` once that container is gone and others still use
//! it) and the directory's path, so that `delete --force` of a container whose state is lost
//! (a create killed before it saved any, a corrupt state.json) finds the directories it made
//! (tmpfs keeps a target under 128 bytes in the inode; a longer one costs a page).
//! A mark is made before its directory, so that no kill in between leaves a directory that
//! nothing records (a mark whose directory never came is removed by that same delete).
//! Making a directory and marking it, and removing it and its mark, happen under a lock on the
//! state root itself (no lock file to leave behind), so a container joining a directory never
//! sees it half made or half removed.
//! A mark costs one file, whatever the number of containers: the single list this replaced
//! (`<root>/@cgroups`, read into memory and written back by every create and delete, under the
//! lock) grew with them, and 100 containers created at once spent their time in it (issue 14);
//! a list an older vrun left is taken over. Containers of other roots coordinate only through
//! the kernel (rmdir of a cgroup in use fails) and by making a vanished directory again
//! (`Cgroup::recreate`).

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// '@' is not a container id character, so these never collide with a container.
const MARKS: &str = "@cgroups.d";
/// The list of vrun before the marks: a JSON array of paths.
const OLD_LIST: &str = "@cgroups";

/// A mark's target for a directory whose maker is gone (or unknown: an older vrun's mark).
const NO_OWNER: &str = "@";

#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
    /// The container whose marks this registry makes (see [`Registry::for_container`]).
    owner: Option<String>,
}

/// The registry while it is locked.
pub struct Session<'a> {
    registry: &'a Registry,
    _lock: Flock<File>,
    /// whether a mark went: the directory may then be empty
    unmarked: bool,
}

impl Registry {
    pub fn under(root: &Path) -> Registry {
        Registry {
            root: root.to_path_buf(),
            owner: None,
        }
    }

    /// The registry as container `id` uses it: the directories it makes are marked as its.
    pub fn for_container(root: &Path, id: &str) -> Registry {
        Registry {
            root: root.to_path_buf(),
            owner: Some(id.to_string()),
        }
    }

    /// Takes the lock: a flock on the state root, held until the session is dropped.
    pub fn lock(&self) -> Result<Session<'_>> {
        let dir = match File::open(&self.root) {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => {
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
        let mut session = Session {
            registry: self,
            _lock: lock,
            unmarked: false,
        };
        session.take_over_old_list()?;
        Ok(session)
    }
}

impl Session<'_> {
    fn marks(&self) -> PathBuf {
        self.registry.root.join(MARKS)
    }

    /// The file marking `dir`: named by the 128-bit FNV-1a hash of its path (stable across
    /// vrun versions and builds, which the standard library's hasher is not), and empty, so
    /// that a mark costs an inode and no page of the state root's tmpfs. Two paths would have
    /// to share a hash for one to be taken for the other: about 10^-30 for a thousand marks.
    fn mark_file(&self, dir: &Path) -> PathBuf {
        const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
        let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        for b in dir.as_os_str().as_bytes() {
            hash = (hash ^ u128::from(*b)).wrapping_mul(PRIME);
        }
        self.marks().join(format!("{hash:032x}"))
    }

    /// Whether vrun made this directory (and it has not been removed since).
    pub(crate) fn is_marked(&mut self, dir: &Path) -> Result<bool> {
        let file = self.mark_file(dir);
        match std::fs::symlink_metadata(&file) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::Io {
                what: format!("look at {}", file.display()),
                source: e,
            }),
        }
    }

    /// Marks `dir` as made by this registry's container, before it is made. Returns whether
    /// the mark is new (false: `dir` was marked already, by whoever made it).
    pub(crate) fn mark_new(&mut self, dir: &Path) -> Result<bool> {
        let owner = self.registry.owner.as_deref().unwrap_or(NO_OWNER);
        self.make_mark(dir, owner)
    }

    fn make_mark(&mut self, dir: &Path, owner: &str) -> Result<bool> {
        let file = self.mark_file(dir);
        let mut target = std::ffi::OsString::from(format!("{owner}:"));
        target.push(dir.as_os_str());
        let make = |file: &Path| std::os::unix::fs::symlink(&target, file);
        let made = make(&file).or_else(|e| match e.kind() {
            ErrorKind::NotFound => {
                std::fs::create_dir(self.marks()).or_else(|e| match e.kind() {
                    ErrorKind::AlreadyExists => Ok(()),
                    _ => Err(e),
                })?;
                make(&file)
            }
            _ => Err(e),
        });
        match made {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Error::Io {
                what: format!("create {}", file.display()),
                source: e,
            }),
        }
    }

    /// Makes `dir`'s mark this registry's container's (a directory it made again under a
    /// mark left by one that is gone).
    pub(crate) fn take_over(&mut self, dir: &Path) -> Result<()> {
        if self.owner_of(dir).as_deref() != self.registry.owner.as_deref() {
            self.unmark(dir)?;
            self.mark_new(dir)?;
        }
        Ok(())
    }

    /// `dir` stays (others use it) while this registry's container goes: its mark no longer
    /// names that container, so that a later one of the same id does not take it for its own.
    pub(crate) fn disown(&mut self, dir: &Path) -> Result<()> {
        if self.registry.owner.is_some()
            && self.owner_of(dir).as_deref() == self.registry.owner.as_deref()
        {
            self.unmark(dir)?;
            self.make_mark(dir, NO_OWNER)?;
        }
        Ok(())
    }

    /// The container that made `dir`, as its mark says; None for an unmarked directory, one
    /// whose maker is gone, or a mark of an older vrun (an empty file).
    fn owner_of(&self, dir: &Path) -> Option<String> {
        let target = std::fs::read_link(self.mark_file(dir)).ok()?;
        parse_target(target.as_os_str()).and_then(|(owner, _)| owner)
    }

    /// Every directory marked as made by container `id`, deepest first: the directories of a
    /// container whose state does not say them (see the module's comment).
    pub fn marked_for(&self, id: &str) -> Result<Vec<PathBuf>> {
        let entries = match std::fs::read_dir(self.marks()) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::Io {
                    what: format!("read {}", self.marks().display()),
                    source: e,
                })
            }
        };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter_map(|t| match parse_target(t.as_os_str()) {
                Some((Some(owner), path)) if owner == id => Some(path),
                _ => None,
            })
            .collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        Ok(dirs)
    }

    pub(crate) fn unmark(&mut self, dir: &Path) -> Result<()> {
        let file = self.mark_file(dir);
        match std::fs::remove_file(&file) {
            Ok(()) => {
                self.unmarked = true;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io {
                what: format!("remove {}", file.display()),
                source: e,
            }),
        }
    }

    /// Ends the session: the marks' directory goes once its last mark has.
    /// At `save`, the marks' directory goes if it is empty, also when the marks went in
    /// sessions before this one.
    pub(crate) fn remove_marks_dir_if_empty(&mut self) {
        self.unmarked = true;
    }

    pub fn save(self) -> Result<()> {
        if self.unmarked {
            let _ = std::fs::remove_dir(self.marks()); // (not empty: other marks remain)
        }
        Ok(())
    }

    /// A list an older vrun wrote: its entries become marks, and it goes.
    fn take_over_old_list(&mut self) -> Result<()> {
        let file = self.registry.root.join(OLD_LIST);
        let text = match std::fs::read(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(Error::Io {
                    what: format!("read {}", file.display()),
                    source: e,
                })
            }
        };
        let list: Vec<PathBuf> = serde_json::from_slice(&text).map_err(|e| {
            Error::Invalid(format!(
                "{}: not a list of cgroup paths: {e}",
                file.display()
            ))
        })?;
        for dir in &list {
            self.make_mark(dir, NO_OWNER)?;
        }
        std::fs::remove_file(&file).map_err(|e| Error::Io {
            what: format!("remove {}", file.display()),
            source: e,
        })
    }
}

/// A mark's target: (its owner, None for [`NO_OWNER`]; the directory).
fn parse_target(target: &std::ffi::OsStr) -> Option<(Option<String>, PathBuf)> {
    let bytes = target.as_bytes();
    let split = bytes.iter().position(|b| *b == b':')?;
    let owner = std::str::from_utf8(&bytes[..split]).ok()?;
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes[split + 1..]));
    Some(((owner != NO_OWNER).then(|| owner.to_string()), path))
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
        assert!(s.mark_new(a).unwrap());
        assert!(!s.mark_new(a).unwrap(), "marked twice");
        s.save().unwrap();
        let mut s = r.lock().unwrap();
        assert!(s.is_marked(a).unwrap() && !s.is_marked(b).unwrap());
        s.unmark(b).unwrap();
        s.unmark(a).unwrap();
        s.save().unwrap();
        assert!(
            !root.join(MARKS).exists(),
            "the registry outlived its last entry"
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_mark_is_named_by_the_fnv1a_128_hash_of_the_path() {
        // the reference value for "a": the names must not change between vrun versions
        let root = std::env::temp_dir().join(format!("vrun-registry-hash-{}", std::process::id()));
        let r = Registry::under(&root);
        let s = r.lock().unwrap();
        assert_eq!(
            s.mark_file(Path::new("a")).file_name().unwrap(),
            "d228cb696f1a8caf78912b704e4a8964"
        );
        drop(s);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_list_an_older_vrun_left_becomes_marks() {
        let root = std::env::temp_dir().join(format!("vrun-registry-old-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join(OLD_LIST), r#"["/sys/fs/cgroup/pids/a/b"]"#).unwrap();
        let r = Registry::under(&root);
        let mut s = r.lock().unwrap();
        assert!(s.is_marked(Path::new("/sys/fs/cgroup/pids/a/b")).unwrap());
        assert!(!s.is_marked(Path::new("/sys/fs/cgroup/pids/a")).unwrap());
        assert!(!root.join(OLD_LIST).exists(), "the old list stayed");
        s.unmark(Path::new("/sys/fs/cgroup/pids/a/b")).unwrap();
        s.save().unwrap();
        assert!(
            !root.join(MARKS).exists(),
            "the marks outlived the last one"
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
