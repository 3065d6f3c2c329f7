//! The `options` of a mount in config.json, split into mount(2) flags, propagation changes,
//! recursive attributes (mount_setattr) and filesystem data, with the meanings runc gives them.

use nix::mount::MsFlags;

use crate::error::{Error, Result};

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;
/// MS_NOSYMFOLLOW (Linux 5.10), which nix 0.29 does not name.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
/// The atime field: the three modes above are values of it, not bits, so a change of mode
/// clears the whole field and sets the mode (mount_setattr(2)).
pub const MOUNT_ATTR__ATIME: u64 = 0x70;

#[derive(Debug, Clone, PartialEq)]
pub struct MountOptions {
    /// Flags for mount(2).
    pub flags: MsFlags,
    /// Propagation changes, applied one by one after the mount.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes to set and clear with mount_setattr(AT_RECURSIVE).
    pub rec_set: u64,
    pub rec_clear: u64,
    /// Everything else, joined with commas, as the filesystem's data.
    pub data: String,
    /// `idmap` (Some(false)) or `ridmap` (Some(true)): an idmapped mount, recursively or not.
    pub idmap: Option<bool>,
    /// `tmpcopyup`: a tmpfs starts with a copy of what the directory it covers held.
    pub tmpcopyup: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            rec_set: 0,
            rec_clear: 0,
            data: String::new(),
            idmap: None,
            tmpcopyup: false,
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// The flags a bind mount needs a remount for (bind ignores them on the first call).
    pub fn remount_flags(&self) -> MsFlags {
        self.flags
            .difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
    }
}

/// Parses a mount's options; `field` names it in errors (e.g. `mounts[3] (/data)`).
pub fn parse(options: &[String], field: &str) -> Result<MountOptions> {
    let mut o = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        let (set, clear): (MsFlags, MsFlags) = match opt.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "iversion" => (MsFlags::MS_I_VERSION, MsFlags::empty()),
            "nosymfollow" => (MS_NOSYMFOLLOW, MsFlags::empty()),
            "symfollow" => (MsFlags::empty(), MS_NOSYMFOLLOW),
            "noiversion" => (MsFlags::empty(), MsFlags::MS_I_VERSION),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                o.propagation
                    .push(propagation_flag(opt).unwrap_or(MsFlags::MS_PRIVATE));
                continue;
            }
            "rnoatime" | "ratime" | "rrelatime" | "rnorelatime" | "rstrictatime"
            | "rnostrictatime" => {
                // One mode for the whole tree; the last option wins, as with the flags.
                o.rec_set = (o.rec_set & !MOUNT_ATTR__ATIME) | recursive_atime(opt);
                o.rec_clear |= MOUNT_ATTR__ATIME;
                continue;
            }
            "rro" | "rrw" | "rnosuid" | "rsuid" | "rnodev" | "rdev" | "rnoexec" | "rexec"
            | "rnodiratime" | "rdiratime" | "rnosymfollow" | "rsymfollow" => {
                let (attr, clear) = recursive_attr(opt);
                if clear {
                    o.rec_clear |= attr;
                } else {
                    o.rec_set |= attr;
                }
                continue;
            }
            "tmpcopyup" => {
                o.tmpcopyup = true;
                continue;
            }
            "idmap" | "ridmap" => {
                let recursive = opt == "ridmap";
                if o.idmap.is_some_and(|r| r != recursive) {
                    return Err(Error::Invalid(format!(
                        "{field}: idmap and ridmap exclude each other"
                    )));
                }
                o.idmap = Some(recursive);
                continue;
            }
            other => {
                data.push(other.to_string());
                continue;
            }
        };
        // By bits: `!flags` would drop the bits nix does not name (MS_NOSYMFOLLOW).
        o.flags = MsFlags::from_bits_retain((o.flags.bits() | set.bits()) & !clear.bits());
    }
    o.data = data.join(",");
    Ok(o)
}

/// The flag of a propagation name ("rslave", ...), as for `linux.rootfsPropagation`.
pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

fn recursive_attr(opt: &str) -> (u64, bool) {
    match opt {
        "rro" => (MOUNT_ATTR_RDONLY, false),
        "rrw" => (MOUNT_ATTR_RDONLY, true),
        "rnosuid" => (MOUNT_ATTR_NOSUID, false),
        "rsuid" => (MOUNT_ATTR_NOSUID, true),
        "rnodev" => (MOUNT_ATTR_NODEV, false),
        "rdev" => (MOUNT_ATTR_NODEV, true),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, false),
        "rexec" => (MOUNT_ATTR_NOEXEC, true),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, false),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, false),
        "rsymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, true),
        _ => (MOUNT_ATTR_NODIRATIME, true),
    }
}

/// The atime mode of a recursive atime option. Turning one mode off means the one mount(8)
/// then gives: without noatime or strictatime, the kernel's default relatime; without
/// relatime, atime updated on every access (strictatime).
fn recursive_atime(opt: &str) -> u64 {
    match opt {
        "rnoatime" => MOUNT_ATTR_NOATIME,
        "rstrictatime" | "rnorelatime" => MOUNT_ATTR_STRICTATIME,
        // ratime, rnostrictatime, rrelatime
        _ => MOUNT_ATTR_RELATIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> MountOptions {
        parse(
            &list.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "mounts[0]",
        )
        .unwrap()
    }

    #[test]
    fn flags_data_and_propagation_are_split() {
        let o = opts(&["nosuid", "strictatime", "mode=755", "size=65536k", "rslave"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = opts(&["ro", "rw", "rbind"]);
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert!(o.is_bind());
        assert_eq!(
            opts(&["rbind", "ro", "nosuid"]).remount_flags(),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID
        );
    }

    #[test]
    fn recursive_attributes_go_to_mount_setattr() {
        let o = opts(&["rbind", "rro", "rnosuid", "rexec"]);
        assert_eq!(o.rec_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);
        assert_eq!(o.rec_clear, MOUNT_ATTR_NOEXEC);
    }

    #[test]
    fn recursive_atime_options_set_one_mode_of_the_atime_field() {
        for (opt, mode) in [
            ("rnoatime", MOUNT_ATTR_NOATIME),
            ("ratime", MOUNT_ATTR_RELATIME),
            ("rstrictatime", MOUNT_ATTR_STRICTATIME),
            ("rnostrictatime", MOUNT_ATTR_RELATIME),
            ("rrelatime", MOUNT_ATTR_RELATIME),
            ("rnorelatime", MOUNT_ATTR_STRICTATIME),
        ] {
            let o = opts(&["rbind", "rnodiratime", opt]);
            assert_eq!(o.rec_set, MOUNT_ATTR_NODIRATIME | mode, "{opt}");
            assert_eq!(o.rec_clear, MOUNT_ATTR__ATIME, "{opt}");
        }
        // the last one wins
        let o = opts(&["rnoatime", "rstrictatime"]);
        assert_eq!(o.rec_set, MOUNT_ATTR_STRICTATIME);
    }

    #[test]
    fn idmap_options_and_nosymfollow() {
        assert_eq!(opts(&["bind", "idmap"]).idmap, Some(false));
        assert_eq!(opts(&["rbind", "ridmap"]).idmap, Some(true));
        let err = parse(
            &["idmap".to_string(), "ridmap".to_string()],
            "mounts[2] (/data)",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("mounts[2] (/data): idmap and ridmap exclude each other"),
            "{err}"
        );
        // a bit nix does not name survives the options after it
        let o = opts(&["nosymfollow", "ro"]);
        assert_eq!(o.flags, MS_NOSYMFOLLOW | MsFlags::MS_RDONLY);
        assert_eq!(opts(&["nosymfollow", "symfollow"]).flags, MsFlags::empty());
        assert_eq!(
            opts(&["rbind", "rnosymfollow"]).rec_set,
            MOUNT_ATTR_NOSYMFOLLOW
        );
    }
}
