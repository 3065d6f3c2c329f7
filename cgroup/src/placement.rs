//! Where a container's cgroup goes (`linux.cgroupsPath`): relative paths nest under the
//! caller's own cgroup, absolute ones under the hierarchy root, none means
//! `<caller>/vrun/<id>`; with --systemd-cgroup the path is `slice:prefix:name`.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    Relative(String),
    Absolute(String),
    Systemd {
        slice: String,
        prefix: String,
        name: String,
    },
}

impl Placement {
    pub fn parse(cgroups_path: Option<&str>, id: &str, systemd: bool) -> Result<Placement> {
        let path = cgroups_path.unwrap_or("");
        if systemd {
            let parts: Vec<&str> = path.split(':').collect();
            if path.is_empty() {
                // the slice chosen by who runs it: system.slice, or user.slice for a user
                return Ok(Placement::Systemd {
                    slice: String::new(),
                    prefix: "vrun".into(),
                    name: id.into(),
                });
            }
            if parts.len() != 3 {
                return Err(Error::Invalid(format!("linux.cgroupsPath: {path:?} is not of the form slice:prefix:name, which --systemd-cgroup needs")));
            }
            return Ok(Placement::Systemd {
                slice: parts[0].into(),
                prefix: parts[1].into(),
                name: parts[2].into(),
            });
        }
        if path.split('/').any(|p| p == "..") {
            return Err(Error::Invalid(format!(
                "linux.cgroupsPath: {path:?} contains \"..\""
            )));
        }
        // A systemd-style path without --systemd-cgroup is a directory name to the cgroupfs
        // driver, as runc takes it: critest, finding no cgroup driver in containerd 1.6's
        // answer, gives pods "test.slice" and containerd makes "test.slice:cri-containerd:ID".
        if path.contains(':') && !path.starts_with('/') {
            tracing::warn!(
                "linux.cgroupsPath: {path:?} looks like a systemd path (slice:prefix:name), but --systemd-cgroup is not given: it is taken as a cgroup directory's name, as runc takes it"
            );
        }
        Ok(match path {
            "" => Placement::Relative(format!("vrun/{id}")),
            p if p.starts_with('/') => Placement::Absolute(p.to_string()),
            p => Placement::Relative(p.to_string()),
        })
    }

    /// The placement used when the config names none (`vrun/<id>`).
    pub fn is_default(&self) -> bool {
        matches!(self, Placement::Relative(p) if p.starts_with("vrun/") && p.matches('/').count() == 1)
    }

    /// The cgroup path within a hierarchy, given the caller's own cgroup there.
    pub fn path_under(&self, own: &str) -> Result<String> {
        match self {
            Placement::Absolute(p) => Ok(p.clone()),
            Placement::Relative(p) => Ok(format!("{}/{}", own.trim_end_matches('/'), p)),
            // where the system manager puts the unit (see systemd::Unit)
            Placement::Systemd {
                slice,
                prefix,
                name,
            } => crate::systemd::Unit::new(slice, prefix, name, false)?.expected_path(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements() {
        assert_eq!(
            Placement::parse(None, "c1", false).unwrap(),
            Placement::Relative("vrun/c1".into())
        );
        assert_eq!(
            Placement::parse(Some("a/b"), "c1", false)
                .unwrap()
                .path_under("/me")
                .unwrap(),
            "/me/a/b"
        );
        assert_eq!(
            Placement::parse(Some("/a/b"), "c1", false)
                .unwrap()
                .path_under("/me")
                .unwrap(),
            "/a/b"
        );
        assert_eq!(
            Placement::parse(None, "c1", false)
                .unwrap()
                .path_under("/")
                .unwrap(),
            "/vrun/c1"
        );
    }

    #[test]
    fn systemd_paths() {
        assert_eq!(
            Placement::parse(Some("machine.slice:libpod:abc"), "abc", true).unwrap(),
            Placement::Systemd {
                slice: "machine.slice".into(),
                prefix: "libpod".into(),
                name: "abc".into()
            }
        );
        assert!(Placement::parse(Some("a:b"), "x", true)
            .unwrap_err()
            .to_string()
            .contains("slice:prefix:name"));
        assert_eq!(
            Placement::parse(Some("machine.slice:libpod:abc"), "x", true)
                .unwrap()
                .path_under("/ignored")
                .unwrap(),
            "/machine.slice/libpod-abc.scope"
        );
        assert_eq!(
            Placement::parse(None, "c1", true)
                .unwrap()
                .path_under("/")
                .unwrap(),
            "/system.slice/vrun-c1.scope"
        );
        // without --systemd-cgroup, a directory's name, as runc takes it
        assert_eq!(
            Placement::parse(Some("machine.slice:libpod:abc"), "x", false).unwrap(),
            Placement::Relative("machine.slice:libpod:abc".into())
        );
    }

    #[test]
    fn dotdot_is_refused() {
        assert!(Placement::parse(Some("../x"), "c", false).is_err());
    }
}
