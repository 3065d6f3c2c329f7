//! Which namespaces a container gets, new or joined by path, and the kernel-required order
//! of entering them.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::error::{Context, Error, Result};

/// Every namespace kind, user first: the order `exec` opens a running container's namespaces.
pub const ALL: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Mount,
];

/// The order runc and crun join namespaces: as [`ALL`], without user (handled apart, see
/// [`Namespaces::enter`]); mount comes last so the paths of the others still resolve.
const JOIN_ORDER: &[LinuxNamespaceType] = ALL.split_at(1).1;

pub fn clone_flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // CLONE_NEWTIME (0x80) is not in nix's CloneFlags.
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(0x80),
    }
}

/// The name the spec (and `/proc/<pid>/ns`) uses for a namespace kind.
pub fn spec_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// The file name of a namespace under `/proc/<pid>/ns`.
pub fn proc_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Network => "net",
        other => spec_name(other),
    }
}

/// The container's namespaces: each kind is absent, new, or joined from a path.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    new: Vec<LinuxNamespaceType>,
    /// (kind, path, index in linux.namespaces)
    joined: Vec<(LinuxNamespaceType, PathBuf, usize)>,
}

impl Namespaces {
    /// Reads `linux.namespaces`; a kind listed twice is an error, as the spec requires.
    pub fn from_spec(list: &[LinuxNamespace]) -> Result<Self> {
        let mut ns = Namespaces::default();
        for (i, entry) in list.iter().enumerate() {
            let typ = entry.typ();
            if ns.has(typ) {
                return Err(Error::Invalid(format!(
                    "linux.namespaces: the {} namespace is listed more than once",
                    spec_name(typ)
                )));
            }
            match entry.path() {
                Some(p) if !p.as_os_str().is_empty() => ns.joined.push((typ, p.clone(), i)),
                _ => ns.new.push(typ),
            }
        }
        Ok(ns)
    }

    pub fn has(&self, typ: LinuxNamespaceType) -> bool {
        self.is_new(typ) || self.joined_path(typ).is_some()
    }

    pub fn is_new(&self, typ: LinuxNamespaceType) -> bool {
        self.new.contains(&typ)
    }

    pub fn joined_path(&self, typ: LinuxNamespaceType) -> Option<&Path> {
        self.joined
            .iter()
            .find(|(t, _, _)| *t == typ)
            .map(|(_, p, _)| p.as_path())
    }

    /// The flags the container's init is cloned with. pid must be new at clone time (unshare
    /// only moves children). cgroup and time are left out: cgroup must be unshared after the
    /// process is placed in its cgroup, and time can only be unshared for children (the
    /// caller does that before cloning). When the user namespace is joined, every other new
    /// namespace is unshared after joining it, so that the joined user namespace owns them
    /// (but pid: see vrun_rootfs::mounts::premade_proc).
    pub fn clone_flags(&self) -> CloneFlags {
        let mut flags = CloneFlags::empty();
        let user_joined = self.joined_path(LinuxNamespaceType::User).is_some();
        for &typ in &self.new {
            match typ {
                LinuxNamespaceType::Cgroup | LinuxNamespaceType::Time => {}
                LinuxNamespaceType::Pid => flags |= CloneFlags::CLONE_NEWPID,
                _ if user_joined => {}
                other => flags |= clone_flag(other),
            }
        }
        flags
    }

    /// Opens every namespace path to join, before anything changes: a path that does not
    /// exist or is not a namespace fails here with its name. A mount namespace that is vrun's
    /// own, or that of pid 1 (the host's init), is refused: the container's init pivots the
    /// root of the mount namespace it is in, which would become every process's root there
    /// (runc does it). Compared as the kernel sees them, by device and inode, whatever path
    /// names them.
    pub fn open_joined(&self) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
        self.joined
            .iter()
            .map(|(typ, path, i)| {
                let fd = std::fs::File::open(path).context(|| {
                    format!("open {} namespace path {}", spec_name(*typ), path.display())
                })?;
                if *typ == LinuxNamespaceType::Mount {
                    refuse_a_shared_mount_namespace(&fd, path, *i)?;
                }
                Ok((*typ, OwnedFd::from(fd)))
            })
            .collect()
    }

    /// In the container's init, after the clone: join the namespaces given by path, then
    /// create the new ones that were not created by the clone. Joining as (host) root, the
    /// user namespace is joined last, since entering it first would drop the privileges the
    /// other setns calls need; the namespaces created afterwards then belong to it.
    pub fn enter(&self, fds: &[(LinuxNamespaceType, OwnedFd)]) -> Result<()> {
        for &typ in JOIN_ORDER {
            // pid and time are joined by the parent (they take effect for children only).
            if matches!(typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                continue;
            }
            if let Some((_, fd)) = fds.iter().find(|(t, _)| *t == typ) {
                setns(fd.as_fd(), clone_flag(typ))
                    .context(|| format!("join the {} namespace", spec_name(typ)))?;
            }
        }
        if let Some((_, fd)) = fds.iter().find(|(t, _)| *t == LinuxNamespaceType::User) {
            setns(fd.as_fd(), CloneFlags::CLONE_NEWUSER)
                .context(|| "join the user namespace".into())?;
            let mut later = CloneFlags::empty();
            for &typ in &self.new {
                if !matches!(
                    typ,
                    LinuxNamespaceType::Pid | LinuxNamespaceType::Cgroup | LinuxNamespaceType::Time
                ) {
                    later |= clone_flag(typ);
                }
            }
            if !later.is_empty() {
                unshare(later)
                    .context(|| "create namespaces in the joined user namespace".into())?;
            }
        }
        Ok(())
    }

    /// The cgroup namespace is created only once the process sits in its own cgroup, so that
    /// the container sees that cgroup as its root.
    pub fn enter_cgroup(&self) -> Result<()> {
        if self.is_new(LinuxNamespaceType::Cgroup) {
            unshare(CloneFlags::CLONE_NEWCGROUP)
                .context(|| "create the cgroup namespace".into())?;
        }
        Ok(())
    }
}

/// Joins one namespace from an fd (used by the parent for pid and time, which affect only
/// the processes it creates afterwards, and by `exec`).
pub fn join(typ: LinuxNamespaceType, fd: &OwnedFd) -> Result<()> {
    setns(fd.as_fd(), clone_flag(typ)).context(|| format!("join the {} namespace", spec_name(typ)))
}

/// The uid_map and gid_map of the user namespace `userns`, as the kernel prints them, read by
/// a helper process that joins it (a namespace file tells nothing of its maps).
pub fn maps_of_user_ns(userns: BorrowedFd) -> Result<(String, String)> {
    use std::io::{Read, Write};
    let (mut report_r, mut report_w) = std::io::pipe().context(|| "pipe".into())?;
    let child = match crate::clone_process(CloneFlags::empty())
        .context(|| "fork the user namespace helper".into())?
    {
        crate::CloneResult::Child => {
            drop(report_r);
            let report = (|| -> std::result::Result<String, String> {
                setns(userns, CloneFlags::CLONE_NEWUSER)
                    .map_err(|e| format!("join the user namespace: {e}"))?;
                let read =
                    |f: &str| std::fs::read_to_string(f).map_err(|e| format!("read {f}: {e}"));
                Ok(format!(
                    "{}\0{}",
                    read("/proc/self/uid_map")?,
                    read("/proc/self/gid_map")?
                ))
            })();
            let text = match report {
                Ok(maps) => format!("ok\0{maps}"),
                Err(e) => format!("error\0{e}"),
            };
            let _ = report_w.write_all(text.as_bytes());
            drop(report_w);
            crate::sys::exit_now(0)
        }
        crate::CloneResult::Parent(pid) => pid,
    };
    drop(report_w);
    let result = (|| {
        let mut text = String::new();
        report_r
            .read_to_string(&mut text)
            .context(|| "the user namespace helper".into())?;
        let parts: Vec<&str> = text.split('\0').collect();
        match parts.as_slice() {
            ["ok", uid_map, gid_map] => Ok((uid_map.to_string(), gid_map.to_string())),
            ["error", e] => Err(Error::Invalid(format!(
                "linux.namespaces: the user namespace: {e}"
            ))),
            _ => Err(Error::Invalid(
                "linux.namespaces: the user namespace helper died".into(),
            )),
        }
    })();
    let _ = nix::sys::wait::waitpid(child, None);
    result
}

/// Whether the text of a uid_map or gid_map file holds exactly the given mappings (in any
/// order), as (container id, host id, size).
pub fn map_is(text: &str, maps: &[(u32, u32, u32)]) -> bool {
    let mut have: Vec<(u32, u32, u32)> = text
        .lines()
        .filter_map(|l| {
            let v: Vec<u32> = l
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            match v.as_slice() {
                [c, h, s] => Some((*c, *h, *s)),
                _ => None,
            }
        })
        .collect();
    let mut want = maps.to_vec();
    have.sort_unstable();
    want.sort_unstable();
    have == want
}

/// Opens `/proc/<pid>/ns/<kind>` of a running process.
pub fn open_of_process(pid: i32, typ: LinuxNamespaceType) -> Result<OwnedFd> {
    let path = format!("/proc/{pid}/ns/{}", proc_name(typ));
    std::fs::File::open(&path)
        .map(OwnedFd::from)
        .context(|| format!("open {path}"))
}

/// Whether `fd` is open on the namespace of kind `typ` this process is in (by device and
/// inode).
pub fn is_own(fd: &impl AsFd, typ: LinuxNamespaceType) -> bool {
    is_namespace_at(fd, &format!("/proc/self/ns/{}", proc_name(typ)))
}

/// Whether `fd` and the namespace file `path` name the same namespace (device and inode).
fn is_namespace_at(fd: &impl AsFd, path: &str) -> bool {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(opened) = nix::sys::stat::fstat(fd.as_fd().as_raw_fd()) else {
        return false;
    };
    std::fs::metadata(path).is_ok_and(|m| m.dev() == opened.st_dev && m.ino() == opened.st_ino)
}

/// See [`Namespaces::open_joined`]: `fd` is open on the mount namespace of
/// linux.namespaces[`i`].
fn refuse_a_shared_mount_namespace(fd: &std::fs::File, path: &Path, i: usize) -> Result<()> {
    for (whose, own) in [
        ("the one vrun runs in", "/proc/self/ns/mnt"),
        ("the one of pid 1 (this machine's init)", "/proc/1/ns/mnt"),
    ] {
        if is_namespace_at(fd, own) {
            return Err(Error::Invalid(format!(
                "linux.namespaces[{i}].path: {}: the mount namespace of linux.namespaces[{i}] is {whose}: the container's init would pivot its root, and every process in it would get the container's rootfs as its root (leave out the path for a mount namespace of the container's own)",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Whether two namespace files name the same namespace (compared by inode).
pub fn same_namespace(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.ino() == y.ino() && x.dev() == y.dev(),
        _ => false,
    }
}

/// Creates a time namespace for the caller's future children and sets its clock offsets.
/// Must run before any child is created after it.
pub fn unshare_time_for_children(offsets: &[(String, i64, u32)]) -> Result<()> {
    unshare(clone_flag(LinuxNamespaceType::Time)).context(|| "create the time namespace".into())?;
    if offsets.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for (clock, secs, nanos) in offsets {
        text.push_str(&format!("{clock} {secs} {nanos}\n"));
    }
    std::fs::write("/proc/self/timens_offsets", text)
        .context(|| "write /proc/self/timens_offsets".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceBuilder;

    fn ns(typ: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
        let b = LinuxNamespaceBuilder::default().typ(typ);
        match path {
            Some(p) => b.path(p).build().unwrap(),
            None => b.build().unwrap(),
        }
    }

    #[test]
    fn a_map_is_compared_as_a_set_of_ranges() {
        let text = "         0     100000      65536\n     65536       1000          1\n";
        assert!(map_is(text, &[(65536, 1000, 1), (0, 100000, 65536)]));
        assert!(!map_is(text, &[(0, 100000, 65536)]));
        assert!(!map_is(text, &[(0, 100000, 65535), (65536, 1000, 1)]));
    }

    #[test]
    fn new_namespaces_become_clone_flags_except_cgroup_and_time() {
        let n = Namespaces::from_spec(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Mount, None),
            ns(LinuxNamespaceType::Cgroup, None),
            ns(LinuxNamespaceType::Time, None),
            ns(LinuxNamespaceType::Network, Some("/proc/1/ns/net")),
        ])
        .unwrap();
        assert_eq!(
            n.clone_flags(),
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS
        );
        assert_eq!(
            n.joined_path(LinuxNamespaceType::Network),
            Some(Path::new("/proc/1/ns/net"))
        );
        assert!(n.has(LinuxNamespaceType::Network) && !n.is_new(LinuxNamespaceType::Network));
    }

    #[test]
    fn joined_user_namespace_defers_other_new_namespaces() {
        let n = Namespaces::from_spec(&[
            ns(LinuxNamespaceType::User, Some("/proc/1/ns/user")),
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Uts, None),
        ])
        .unwrap();
        assert_eq!(n.clone_flags(), CloneFlags::CLONE_NEWPID);
    }

    #[test]
    fn duplicate_kind_is_refused() {
        let err = Namespaces::from_spec(&[
            ns(LinuxNamespaceType::Uts, None),
            ns(LinuxNamespaceType::Uts, None),
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("uts namespace is listed more than once"),
            "{err}"
        );
    }
}
