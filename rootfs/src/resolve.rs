//! Paths from config.json, resolved inside the rootfs and never outside it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::sys::stat::Mode;

use crate::error::{Context, Error, Result};
use crate::sys::openat2_in_root;

/// An open directory that acts as "/" for every lookup made through it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: std::path::PathBuf,
}

/// The /proc/self/fd path through which a syscall that takes a path reaches an fd. Valid
/// while the fd is open, in a process that sees the host's /proc.
pub fn fd_path(fd: BorrowedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// The relative, normalised form of a container path: "/dev/../x" is refused, "/a//b/" is
/// "a/b". The empty string is the root itself.
pub fn relative(path: &Path) -> Result<String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => parts.push(
                p.to_str()
                    .ok_or_else(|| Error::Invalid(format!("{} is not UTF-8", path.display())))?,
            ),
            Component::ParentDir => {
                // Resolved inside the root anyway, but a ".." in a config path is almost
                // always a mistake or an attack; keep the lexical meaning, clamped at "/".
                parts.pop();
            }
            Component::Prefix(_) => {}
        }
    }
    Ok(parts.join("/"))
}

impl Root {
    pub fn open(path: &Path) -> Result<Root> {
        let fd =
            std::fs::File::open(path).context(|| format!("open the rootfs {}", path.display()))?;
        Ok(Root {
            fd: fd.into(),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `path` (a container path) with O_PATH, resolved inside the root.
    pub fn open_path(&self, path: &str) -> std::result::Result<OwnedFd, Errno> {
        openat2_in_root(self.fd.as_fd(), path, libc::O_PATH, 0)
    }

    /// Opens `path` inside the root with the given flags.
    pub fn open_with(
        &self,
        path: &str,
        flags: i32,
        mode: u32,
    ) -> std::result::Result<OwnedFd, Errno> {
        openat2_in_root(self.fd.as_fd(), path, flags, mode)
    }

    /// mkdir -p inside the root; returns an O_PATH fd of the directory. Every step is
    /// resolved from the root, so a symlink anywhere on the way stays inside it; a dangling
    /// symlink is followed (inside the root) and its target created, as runc does.
    pub fn mkdir_all(&self, path: &Path, mode: u32) -> Result<OwnedFd> {
        let rel = relative(path)?;
        self.mkdir_all_rel(&rel, mode, 0)
            .context(|| format!("create directory {} in the rootfs", path.display()))
    }

    fn mkdir_all_rel(
        &self,
        rel: &str,
        mode: u32,
        links: u32,
    ) -> std::result::Result<OwnedFd, Errno> {
        if links > 40 {
            return Err(Errno::ELOOP);
        }
        // Most targets exist, or all but their last level: the deepest existing level is
        // looked for from the whole path upwards, each lookup resolving exactly as a walk
        // from the root would. (Opening every level from the root down made about a hundred
        // lookups for a container's mounts, issue 14.)
        let dir = libc::O_PATH | libc::O_DIRECTORY;
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        let mut have = parts.len();
        let mut parent = loop {
            let prefix = parts[..have].join("/");
            let path = if prefix.is_empty() { "." } else { &prefix };
            match openat2_in_root(self.fd.as_fd(), path, dir, 0) {
                Ok(fd) => break fd,
                Err(Errno::ENOENT) if have > 0 => have -= 1,
                Err(e) => return Err(e),
            }
        };
        let mut prefix = parts[..have].join("/");
        for (i, part) in parts.iter().enumerate().skip(have) {
            let parent_prefix = prefix.clone();
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            // (missing: every level from `have` on was missing or has just been made)
            match nix::sys::stat::mkdirat(
                Some(parent.as_raw_fd()),
                *part,
                Mode::from_bits_truncate(mode),
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
            match openat2_in_root(self.fd.as_fd(), &prefix, dir, 0) {
                Ok(fd) => parent = fd,
                // `part` is a symlink to something missing: create its target instead.
                Err(Errno::ENOENT) => {
                    let rest = parts[i + 1..].join("/");
                    let next = link_target(&parent, part, &parent_prefix, &rest)?;
                    return self.mkdir_all_rel(&next, mode, links + 1);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(parent)
    }

    /// Makes sure a regular file exists at `path` (for bind mounts of files and device
    /// nodes); returns an O_PATH fd of it. An existing directory there is an error. A
    /// symlink to something missing (an image's `/etc/resolv.conf ->
    /// ../run/systemd/resolve/stub-resolv.conf`) is followed inside the root and its target
    /// made, as runc makes it.
    pub fn create_file(&self, path: &Path, mode: u32) -> Result<OwnedFd> {
        let rel = relative(path)?;
        self.create_file_rel(&rel, mode, 0)
            .context(|| format!("create file {} in the rootfs", path.display()))
    }

    fn create_file_rel(
        &self,
        rel: &str,
        mode: u32,
        links: u32,
    ) -> std::result::Result<OwnedFd, Errno> {
        if links > 40 {
            return Err(Errno::ELOOP);
        }
        // An existing file (the common case) needs no walk through its parents.
        match self.open_path(rel) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let parent = self.mkdir_all_rel(dir, 0o755, 0)?;
        // O_CREAT without O_EXCL never follows a dangling symlink out: RESOLVE_IN_ROOT holds,
        // and O_NOFOLLOW refuses the link itself (ELOOP), which is then read and followed.
        match self.open_with(rel, libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW, mode) {
            Ok(fd) => drop(fd),
            Err(Errno::ELOOP) => {
                let next = link_target(&parent, name, dir, "")?;
                return self.create_file_rel(&next, mode, links + 1);
            }
            Err(e) => return Err(e),
        }
        self.open_path(rel)
    }

    /// A new, empty regular file at `path`, replacing whatever the image had there (a
    /// symlink, a device, a file), so that a mount on it cannot be redirected anywhere
    /// (CVE-2025-52565: /dev/console). Returns an O_PATH fd of it.
    pub fn replace_with_file(&self, path: &Path, mode: u32) -> Result<OwnedFd> {
        let shown = || format!("create {} in the rootfs", path.display());
        let (dir, name) = self.parent_of(path)?;
        match nix::unistd::unlinkat(
            Some(dir.as_raw_fd()),
            name.as_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        ) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(e).context(shown),
        }
        let rel = relative(path)?;
        drop(
            self.open_with(
                &rel,
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
                mode,
            )
            .context(shown)?,
        );
        let fd = self.open_path(&rel).context(shown)?;
        let st = nix::sys::stat::fstat(fd.as_raw_fd()).context(shown)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Error::Invalid(format!(
                "{} changed under vrun while it was made",
                path.display()
            )));
        }
        Ok(fd)
    }

    /// The parent directory (O_PATH) and the last component of a container path.
    pub fn parent_of(&self, path: &Path) -> Result<(OwnedFd, String)> {
        let rel = relative(path)?;
        let (dir, name) = match rel.rsplit_once('/') {
            Some((d, n)) => (d.to_string(), n.to_string()),
            None => (String::new(), rel.clone()),
        };
        if name.is_empty() {
            return Err(Error::Invalid(format!(
                "{} names the root itself",
                path.display()
            )));
        }
        Ok((self.mkdir_all(Path::new(&dir), 0o755)?, name))
    }
}

/// Where the symlink `name` of the directory `parent` (the container path `parent_path`)
/// leads, with `rest` after it: a container path, relative and normalised (see
/// [`relative`]), to be resolved inside the root again.
fn link_target(
    parent: &OwnedFd,
    name: &str,
    parent_path: &str,
    rest: &str,
) -> std::result::Result<String, Errno> {
    let target = nix::fcntl::readlinkat(Some(parent.as_raw_fd()), name)?;
    let target = target.to_str().ok_or(Errno::EINVAL)?;
    let base = if target.starts_with('/') {
        ""
    } else {
        parent_path
    };
    let next = [base, target, rest]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    relative(Path::new(&next)).map_err(|_| Errno::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_normalised() {
        assert_eq!(relative(Path::new("/dev//pts/")).unwrap(), "dev/pts");
        assert_eq!(relative(Path::new("/")).unwrap(), "");
        assert_eq!(relative(Path::new("/../../etc")).unwrap(), "etc");
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("vrun-resolve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("inner")).unwrap();
        std::os::unix::fs::symlink("/", dir.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../..", dir.join("inner/up")).unwrap();
        let root = Root::open(&dir).unwrap();
        // mkdir through a symlink to "/" lands in the root, not on the host.
        root.mkdir_all(Path::new("/escape/vrun-made-this"), 0o755)
            .unwrap();
        assert!(dir.join("vrun-made-this").is_dir());
        // a dangling absolute symlink: its target is made inside the root
        std::os::unix::fs::symlink("/nowhere/deeper", dir.join("dangling")).unwrap();
        root.mkdir_all(Path::new("/dangling/x"), 0o755).unwrap();
        assert!(dir.join("nowhere/deeper/x").is_dir());
        assert!(!Path::new("/nowhere").exists());
        // a loop is refused, not followed forever
        std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
        assert!(root.mkdir_all(Path::new("/loop/x"), 0o755).is_err());
        root.create_file(Path::new("/inner/up/file"), 0o644)
            .unwrap();
        assert!(dir.join("file").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
