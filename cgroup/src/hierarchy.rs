//! Which cgroup hierarchies this host has, and where the caller sits in each.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::placement::Placement;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// One mounted hierarchy: its mount point, its controllers ("cpu", "name=systemd", ...),
/// and the cgroup at its root (not "/" inside a cgroup namespace).
#[derive(Debug, Clone)]
pub struct Mounted {
    pub mount_point: PathBuf,
    pub controllers: Vec<String>,
    pub root: String,
}

#[derive(Debug, Clone)]
pub struct Hierarchy {
    version: Version,
    mounts: Vec<Mounted>,
    /// /proc/self/cgroup: (controllers, path) per line.
    own: Vec<(Vec<String>, String)>,
}

impl Hierarchy {
    /// Reads /proc/self/mountinfo and /proc/self/cgroup. A cgroup2 mount at /sys/fs/cgroup
    /// means v2; otherwise the v1 hierarchies are used (hybrid hosts included).
    pub fn detect() -> Result<Hierarchy> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| Error::Io {
            what: "read /proc/self/mountinfo".into(),
            source: e,
        })?;
        let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| Error::Io {
            what: "read /proc/self/cgroup".into(),
            source: e,
        })?;
        Self::from_text(&info, &own)
    }

    pub fn from_text(mountinfo: &str, proc_cgroup: &str) -> Result<Hierarchy> {
        let mut v1 = Vec::new();
        let mut v2 = None;
        let mut hybrid_unified = None;
        for line in mountinfo.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(dash) = fields.iter().position(|f| *f == "-") else {
                continue;
            };
            if fields.len() < dash + 4 || fields.len() < 5 {
                continue;
            }
            let (root, mount_point, fstype, opts) =
                (fields[3], fields[4], fields[dash + 1], fields[dash + 3]);
            match fstype {
                "cgroup2" if mount_point == "/sys/fs/cgroup" => {
                    v2 = Some(Mounted {
                        mount_point: mount_point.into(),
                        controllers: Vec::new(),
                        root: root.into(),
                    })
                }
                // A hybrid host's v2 hierarchy (systemd's "unified"): the container is placed
                // there too, as runc does, so that tools reading the "0::" line of
                // /proc/PID/cgroup (systemd, cAdvisor) find it rather than its caller.
                "cgroup2" if mount_point == "/sys/fs/cgroup/unified" => {
                    hybrid_unified = Some(Mounted {
                        mount_point: mount_point.into(),
                        controllers: Vec::new(),
                        root: root.into(),
                    })
                }
                // Only the hierarchies at their standard place: the same controllers are
                // also mounted elsewhere at times (a container without a mount namespace of
                // its own has them under its rootfs, read-only), and those are views, not
                // where to make cgroups.
                "cgroup"
                    if Path::new(mount_point).parent() == Some(Path::new("/sys/fs/cgroup")) =>
                {
                    let controllers: Vec<String> = opts
                        .split(',')
                        .filter(|o| {
                            !matches!(*o, "rw" | "ro")
                                && !o.starts_with("release_agent")
                                && *o != "clone_children"
                                && *o != "noprefix"
                                && *o != "xattr"
                                && *o != "cpuset_v2_mode"
                        })
                        .map(String::from)
                        .collect();
                    v1.push(Mounted {
                        mount_point: mount_point.into(),
                        controllers,
                        root: root.into(),
                    });
                }
                _ => {}
            }
        }
        let own = proc_cgroup
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ':');
                let _id = parts.next()?;
                let ctrls = parts.next()?;
                let path = parts.next()?;
                Some((
                    ctrls
                        .split(',')
                        .filter(|c| !c.is_empty())
                        .map(String::from)
                        .collect(),
                    path.to_string(),
                ))
            })
            .collect();
        match (v2, v1.is_empty()) {
            (Some(m), _) => Ok(Hierarchy {
                version: Version::V2,
                mounts: vec![m],
                own,
            }),
            (None, false) => Ok(Hierarchy {
                version: Version::V1,
                mounts: v1.into_iter().chain(hybrid_unified).collect(),
                own,
            }),
            (None, true) => Err(Error::Invalid(
                "no cgroup hierarchy is mounted under /sys/fs/cgroup".into(),
            )),
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The caller's cgroup in one hierarchy, relative to that hierarchy's mount.
    fn own_path(&self, m: &Mounted) -> String {
        let path = self
            .own
            .iter()
            .find(|(ctrls, _)| match self.version {
                Version::V2 => ctrls.is_empty(),
                Version::V1 => {
                    let mut a = ctrls.clone();
                    let mut b = m.controllers.clone();
                    a.sort();
                    b.sort();
                    a == b
                }
            })
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| "/".into());
        // Inside a cgroup namespace the mount's root is a prefix of what /proc says.
        match path.strip_prefix(m.root.as_str()) {
            Some(rest) if m.root != "/" => format!("/{}", rest.trim_start_matches('/')),
            _ => path,
        }
    }

    /// The mount point of the hierarchy `dir` lies in. Nothing at or above it is a cgroup
    /// directory, let alone one vrun made.
    pub fn mount_point_of(&self, dir: &Path) -> Option<&Path> {
        self.mounts
            .iter()
            .map(|m| m.mount_point.as_path())
            .filter(|mp| dir.starts_with(mp))
            .max_by_key(|mp| mp.as_os_str().len())
    }

    /// The directory of the cgroup `path` (absolute from the hierarchies' root, as systemd's
    /// ControlGroup property gives it) in each hierarchy, named as [`Self::container_dirs`]
    /// names them.
    pub fn dirs_at(&self, path: &str) -> Vec<(String, PathBuf)> {
        self.mounts
            .iter()
            .map(|m| {
                // inside a cgroup namespace the mount's root is a prefix of the path
                let rel = match path.strip_prefix(m.root.as_str()) {
                    Some(rest) if m.root != "/" => rest,
                    _ => path,
                };
                (self.dir_name(m), join_inside(&m.mount_point, rel))
            })
            .collect()
    }

    fn dir_name(&self, m: &Mounted) -> String {
        match self.version {
            Version::V2 => String::new(),
            Version::V1 => m
                .mount_point
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| m.controllers.join(",")),
        }
    }

    /// The container's directory in each hierarchy, named by its controllers.
    pub fn container_dirs(&self, placement: &Placement) -> Result<Vec<(String, PathBuf)>> {
        self.mounts
            .iter()
            .map(|m| {
                let own = self.own_path(m);
                let rel = placement.path_under(&own)?;
                Ok((self.dir_name(m), join_inside(&m.mount_point, &rel)))
            })
            .collect()
    }
}

/// mount point + a cgroup path, which is absolute within the hierarchy.
fn join_inside(mount_point: &Path, cgroup: &str) -> PathBuf {
    let mut p = mount_point.to_path_buf();
    for part in cgroup.split('/').filter(|s| !s.is_empty()) {
        p.push(part);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
    const OWN: &str = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";

    #[test]
    fn hybrid_hosts_use_the_v1_controllers_under_the_callers_cgroup() {
        let h = Hierarchy::from_text(HYBRID, OWN).unwrap();
        assert_eq!(h.version(), Version::V1);
        let dirs = h
            .container_dirs(&Placement::parse(None, "c1", false).unwrap())
            .unwrap();
        assert_eq!(
            dirs,
            vec![
                (
                    "cpu".to_string(),
                    PathBuf::from("/sys/fs/cgroup/cpu/vrun/c1")
                ),
                (
                    "memory".to_string(),
                    PathBuf::from("/sys/fs/cgroup/memory/process_api/abc/vrun/c1")
                ),
                (
                    "systemd".to_string(),
                    PathBuf::from("/sys/fs/cgroup/systemd/vrun/c1")
                ),
                (
                    "unified".to_string(),
                    PathBuf::from("/sys/fs/cgroup/unified/vrun/c1")
                ),
            ]
        );
    }

    #[test]
    fn v2_is_one_directory() {
        let info = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate";
        let h = Hierarchy::from_text(info, "0::/user.slice/me\n").unwrap();
        let dirs = h
            .container_dirs(&Placement::parse(Some("/abs/x"), "c", false).unwrap())
            .unwrap();
        assert_eq!(
            dirs,
            vec![(String::new(), PathBuf::from("/sys/fs/cgroup/abs/x"))]
        );
        let dirs = h
            .container_dirs(&Placement::parse(Some("rel/x"), "c", false).unwrap())
            .unwrap();
        assert_eq!(
            dirs,
            vec![(
                String::new(),
                PathBuf::from("/sys/fs/cgroup/user.slice/me/rel/x")
            )]
        );
    }

    #[test]
    fn cgroup_mounts_elsewhere_are_not_hierarchies() {
        let info = format!(
            "{HYBRID}\n90 41 0:29 /c1 /tmp/b/rootfs/sys/fs/cgroup/cpu ro,relatime - cgroup cgroup rw,cpu"
        );
        let h = Hierarchy::from_text(&info, OWN).unwrap();
        let dirs = h
            .container_dirs(&Placement::parse(None, "c1", false).unwrap())
            .unwrap();
        assert_eq!(dirs.len(), 4);
        assert!(
            dirs.iter().all(|(_, d)| d.starts_with("/sys/fs/cgroup/")),
            "{dirs:?}"
        );
    }

    #[test]
    fn no_cgroups_is_an_error() {
        assert!(Hierarchy::from_text("", "").is_err());
    }
}
