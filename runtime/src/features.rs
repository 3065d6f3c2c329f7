//! `vrun features`: what this build supports, in the JSON of runtime-spec features.md.
//! Truthful: seccomp's actions and flags are the ones this kernel accepts.

use serde_json::{json, Value};

use crate::OCI_VERSION;

pub fn features() -> Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": [
            "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime", "loud",
            "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand", "norelatime",
            "nostrictatime", "nosuid", "private", "ratime", "rbind", "rdev", "rdiratime", "relatime", "remount", "rexec",
            "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnorelatime", "rnostrictatime", "rnosuid", "ro", "rprivate",
            "rrelatime", "rro", "rrw", "rshared", "rslave", "rstrictatime", "rsuid", "runbindable", "rw", "shared",
            "silent", "slave", "strictatime", "suid", "sync", "tmpcopyup", "unbindable",
            "nosymfollow", "symfollow", "rnosymfollow", "rsymfollow", "idmap", "ridmap"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true},
            "seccomp": vrun_seccomp::features(),
            "apparmor": {"enabled": true},
            "selinux": {"enabled": false},
            // Refused with an error naming the field (see bundle::intel_rdt_unsupported).
            "intelRdt": {"enabled": false},
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
                          "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            // Bind mounts only (see Bundle::validate_mount_extensions).
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true}
        },
        "annotations": {
            "io.github.vrun.version": env!("CARGO_PKG_VERSION")
        },
        // Annotations that change what vrun does (the virtual disk's: they choose the
        // container's root filesystem), for callers that pass through annotations from
        // users (features.md: a value ending in "." is a prefix).
        "potentiallyUnsafeConfigAnnotations": [crate::disk::ANNOTATION_PREFIX]
    })
}

/// Whether the resctrl filesystem (Intel RDT, AMD PQoS) is mounted at its usual place.
pub fn resctrl_mounted() -> bool {
    std::path::Path::new("/sys/fs/resctrl/schemata").exists()
}
