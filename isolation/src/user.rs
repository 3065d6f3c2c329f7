//! Switching to `process.user`: supplementary groups, gid, uid, umask, keeping capabilities
//! across the switch so that the configured sets can be applied afterwards.

use nix::unistd::{setresgid, setresuid, Gid, Uid};

use crate::error::{Context, Result};
use crate::sys;

#[derive(Debug, Clone, Default)]
pub struct UserSpec {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// False in a user namespace whose setgroups is denied (rootless).
    pub set_groups: bool,
}

/// Becomes root of the (new) user namespace, so that setup writes files as its root.
pub fn become_ns_root() -> Result<()> {
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .context(|| "setresgid(0) in the user namespace".into())?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .context(|| "setresuid(0) in the user namespace".into())
}

/// Switches ids, with PR_SET_KEEPCAPS on across the uid change and off again after it.
pub fn switch(user: &UserSpec) -> Result<()> {
    sys::prctl(libc::PR_SET_KEEPCAPS, 1, 0).context(|| "prctl(PR_SET_KEEPCAPS)".into())?;
    if user.set_groups {
        sys::setgroups(&user.additional_gids)
            .context(|| "setgroups (process.user.additionalGids)".into())?;
    }
    let gid = Gid::from_raw(user.gid);
    setresgid(gid, gid, gid).context(|| format!("setgid to {} (process.user.gid)", user.gid))?;
    let uid = Uid::from_raw(user.uid);
    setresuid(uid, uid, uid).context(|| format!("setuid to {} (process.user.uid)", user.uid))?;
    sys::prctl(libc::PR_SET_KEEPCAPS, 0, 0).context(|| "prctl(PR_SET_KEEPCAPS)".into())
}

pub fn set_umask(mask: u32) {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
}

/// HOME for a uid from the container's /etc/passwd (called after pivot_root), "/" when the
/// file or the entry is missing, as runc does.
pub fn home_of(uid: u32) -> String {
    let Ok(passwd) = std::fs::read_to_string("/etc/passwd") else {
        return "/".into();
    };
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
        })
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}
