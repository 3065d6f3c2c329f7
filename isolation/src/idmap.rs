//! uid/gid maps of a new user namespace, written by the parent for its child.

use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Context, Error, Result};

/// The text of a uid_map or gid_map file.
pub fn map_text(field: &str, maps: &[LinuxIdMapping]) -> Result<String> {
    let mut text = String::new();
    for m in maps {
        if m.size() == 0 {
            return Err(Error::Invalid(format!("{field}: a mapping has size 0")));
        }
        text.push_str(&format!(
            "{} {} {}\n",
            m.container_id(),
            m.host_id(),
            m.size()
        ));
    }
    Ok(text)
}

/// Whether an unprivileged caller (`own` its euid or egid) needs the setuid helper
/// (newuidmap or newgidmap) for these maps: the kernel lets it write only one mapping of size
/// 1 onto its own id; anything more is checked against /etc/subuid or /etc/subgid by the
/// helper, as runc and podman do it.
pub fn needs_helper(maps: &[LinuxIdMapping], own: u32) -> bool {
    !matches!(maps, [m] if m.size() == 1 && m.host_id() == own)
}

/// Writes `/proc/<pid>/uid_map` and gid_map. Root writes them itself. An unprivileged caller
/// writes a map of only its own id itself (for gids, after disabling setgroups, as the kernel
/// requires) and any other through newuidmap/newgidmap.
pub fn write_maps(pid: i32, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<()> {
    let euid = nix::unistd::geteuid();
    let egid = nix::unistd::getegid();
    let privileged = euid.is_root();
    if !uid.is_empty() {
        let text = map_text("linux.uidMappings", uid)?;
        if !privileged && needs_helper(uid, euid.as_raw()) {
            run_helper("newuidmap", pid, uid, "linux.uidMappings")?;
        } else {
            std::fs::write(format!("/proc/{pid}/uid_map"), text)
                .context(|| "write the uid map (linux.uidMappings)".into())?;
        }
    }
    if !gid.is_empty() {
        let text = map_text("linux.gidMappings", gid)?;
        if !privileged && needs_helper(gid, egid.as_raw()) {
            run_helper("newgidmap", pid, gid, "linux.gidMappings")?;
        } else {
            if !privileged {
                std::fs::write(format!("/proc/{pid}/setgroups"), "deny")
                    .context(|| "write setgroups".into())?;
            }
            std::fs::write(format!("/proc/{pid}/gid_map"), text)
                .context(|| "write the gid map (linux.gidMappings)".into())?;
        }
    }
    Ok(())
}

/// `newuidmap PID ID HOSTID SIZE ...` (or newgidmap); its complaint, if any, in the error.
fn run_helper(helper: &str, pid: i32, maps: &[LinuxIdMapping], field: &str) -> Result<()> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd.output().map_err(|e| {
        Error::Invalid(format!(
            "{field}: mapping more than the caller's own id needs {helper} (package uidmap): {e}"
        ))
    })?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "{field}: {helper} refused the mappings (are they within the caller's ranges in /etc/subuid and /etc/subgid?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// A user namespace with the given maps, for an idmapped mount (MOUNT_ATTR_IDMAP takes the
/// mapping of a user namespace): a child unshares one, the caller writes its maps, opens it,
/// and the child is killed; the namespace lives on in the returned fd. The caller must be
/// single-threaded (see `clone_process`) and privileged enough to write the maps.
pub fn user_namespace_with(
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
    field: &str,
) -> Result<std::os::fd::OwnedFd> {
    use std::io::{Read, Write};
    let (mut ready_r, mut ready_w) = std::io::pipe().context(|| "pipe".into())?;
    let (hold_r, hold_w) = std::io::pipe().context(|| "pipe".into())?;
    let child = match crate::clone_process(nix::sched::CloneFlags::empty())
        .context(|| format!("{field}: fork the user namespace helper"))?
    {
        crate::CloneResult::Child => {
            drop((ready_r, hold_w));
            let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = ready_w.write_all(&[ok as u8]);
            // Until the parent has what it needs and kills us (or dies).
            let mut hold = hold_r;
            let _ = hold.read(&mut [0u8]);
            crate::sys::exit_now(0)
        }
        crate::CloneResult::Parent(pid) => pid,
    };
    drop((ready_w, hold_r));
    let result = (|| {
        let mut ok = [0u8];
        ready_r
            .read_exact(&mut ok)
            .context(|| format!("{field}: the user namespace helper"))?;
        if ok[0] != 1 {
            return Err(Error::Invalid(format!(
                "{field}: the helper could not create a user namespace"
            )));
        }
        let pid = child.as_raw();
        std::fs::write(
            format!("/proc/{pid}/uid_map"),
            map_text(&format!("{field} uidMappings"), uid)?,
        )
        .context(|| format!("{field}: write the uid map of the mount's user namespace"))?;
        std::fs::write(
            format!("/proc/{pid}/gid_map"),
            map_text(&format!("{field} gidMappings"), gid)?,
        )
        .context(|| format!("{field}: write the gid map of the mount's user namespace"))?;
        crate::namespaces::open_of_process(pid, oci_spec::runtime::LinuxNamespaceType::User)
    })();
    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(child, None);
    drop(hold_w);
    result
}

/// Maps a container id to the host through the given mappings.
pub fn to_host(maps: &[LinuxIdMapping], id: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let start = m.container_id();
        (id >= start && id - start < m.size()).then(|| m.host_id() + (id - start))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn m(c: u32, h: u32, s: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(s)
            .build()
            .unwrap()
    }

    #[test]
    fn text_has_one_line_per_mapping() {
        assert_eq!(
            map_text("uidMappings", &[m(0, 1000, 1), m(1, 100000, 65536)]).unwrap(),
            "0 1000 1\n1 100000 65536\n"
        );
    }

    #[test]
    fn zero_size_is_refused_with_its_field() {
        assert!(map_text("linux.gidMappings", &[m(0, 0, 0)])
            .unwrap_err()
            .to_string()
            .contains("linux.gidMappings"));
    }

    #[test]
    fn ids_map_to_host() {
        let maps = [m(0, 100000, 10)];
        assert_eq!(to_host(&maps, 3), Some(100003));
        assert_eq!(to_host(&maps, 10), None);
    }
}
