//! Per-process attributes with one kernel call each: hostname, domainname, sysctls,
//! oom_score_adj, no_new_privs, dumpable, the session keyring, an AppArmor profile.

use std::collections::HashMap;
use std::ffi::CString;

use crate::error::{Context, Error, Result};
use crate::sys;
use vrun_rootfs::procfs;

pub fn set_hostname(name: &str) -> Result<()> {
    nix::unistd::sethostname(name).context(|| format!("sethostname {name:?} (hostname)"))
}

pub fn set_domainname(name: &str) -> Result<()> {
    sys::setdomainname(name).context(|| format!("setdomainname {name:?} (domainname)"))
}

/// Which namespace a sysctl key belongs to, so a key that would change the host is refused
/// (runc's rule): net.* needs a network namespace, the ipc keys an ipc namespace, the uts
/// keys a uts namespace. Anything else is refused outright.
pub fn sysctl_namespace(key: &str) -> Option<&'static str> {
    const IPC: [&str; 7] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
    ];
    if key.starts_with("net.") {
        Some("network")
    } else if IPC.contains(&key) || key.starts_with("fs.mqueue.") || key == "kernel.shm_rmid_forced"
    {
        Some("ipc")
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some("uts")
    } else {
        None
    }
}

/// Writes sysctls through /proc/sys of the process's own namespaces. Keys are validated
/// first (see [`sysctl_namespace`]); a key with a path separator trick is refused.
pub fn apply_sysctls(sysctl: &HashMap<String, String>) -> Result<()> {
    for (key, value) in sysctl {
        if key.contains('/') || key.split('.').any(|p| p.is_empty() || p == "..") {
            return Err(Error::Invalid(format!(
                "linux.sysctl: {key:?} is not a sysctl name"
            )));
        }
        let path = format!("sys/{}", key.replace('.', "/"));
        procfs::write(&path, value.as_bytes())
            .context(|| format!("set sysctl {key}={value} (linux.sysctl)"))?;
    }
    Ok(())
}

pub fn set_oom_score_adj(value: i32) -> Result<()> {
    procfs::write("self/oom_score_adj", value.to_string().as_bytes())
        .context(|| format!("set oom_score_adj to {value} (process.oomScoreAdj)"))
}

pub fn set_no_new_privs() -> Result<()> {
    sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0).context(|| "prctl(PR_SET_NO_NEW_PRIVS)".into())
}

/// Not dumpable until exec: the container cannot ptrace the half-set-up init or read its
/// memory through /proc. execve resets it.
pub fn set_not_dumpable() -> Result<()> {
    sys::prctl(libc::PR_SET_DUMPABLE, 0, 0).context(|| "prctl(PR_SET_DUMPABLE)".into())
}

/// A new session keyring named after the container; kernels or seccomp profiles without
/// keyctl (ENOSYS) are fine, as in runc.
pub fn join_new_session_keyring(id: &str) -> Result<()> {
    let name = CString::new(format!("_ses.{id}"))
        .map_err(|_| Error::Invalid("container id has a NUL byte".into()))?;
    match sys::join_session_keyring(&name) {
        Ok(()) | Err(nix::errno::Errno::ENOSYS) => Ok(()),
        Err(e) => Err(Error::Sys {
            what: "create a session keyring".into(),
            source: e,
        }),
    }
}

/// Whether AppArmor is enabled on the host.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'))
}

/// The AppArmor profile to switch to at exec.
pub fn set_apparmor_exec_profile(profile: &str) -> Result<()> {
    let text = format!("exec {profile}");
    procfs::write("thread-self/attr/apparmor/exec", text.as_bytes())
        .or_else(|_| procfs::write("thread-self/attr/exec", text.as_bytes()))
        .context(|| format!("set the AppArmor profile {profile} (process.apparmorProfile)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctls_belong_to_namespaces() {
        assert_eq!(sysctl_namespace("net.ipv4.ip_forward"), Some("network"));
        assert_eq!(sysctl_namespace("kernel.shmmax"), Some("ipc"));
        assert_eq!(sysctl_namespace("fs.mqueue.queues_max"), Some("ipc"));
        assert_eq!(sysctl_namespace("kernel.domainname"), Some("uts"));
        assert_eq!(sysctl_namespace("vm.swappiness"), None);
    }
}
