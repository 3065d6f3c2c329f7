//! The device rules every container gets, as runc applies them: after the config's own rules,
//! mknod of any device, the standard character devices, the ptys and tun. A node the config
//! creates in `linux.devices` gets no rule of its own: the config's `linux.resources.devices`
//! says whether it may be used (runc's rule; a config that denies everything and lists
//! /dev/kmsg means the node exists but cannot be opened).

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// A device rule; a `major`/`minor` of None matches any.
pub(crate) fn rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

pub fn default_allowed() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    vec![
        rule(true, C, None, None, "m"),
        rule(true, B, None, None, "m"),
        rule(true, C, Some(1), Some(3), "rwm"),    // null
        rule(true, C, Some(1), Some(8), "rwm"),    // random
        rule(true, C, Some(1), Some(7), "rwm"),    // full
        rule(true, C, Some(5), Some(0), "rwm"),    // tty
        rule(true, C, Some(1), Some(5), "rwm"),    // zero
        rule(true, C, Some(1), Some(9), "rwm"),    // urandom
        rule(true, C, Some(136), None, "rwm"),     // pts/*
        rule(true, C, Some(5), Some(2), "rwm"),    // ptmx
        rule(true, C, Some(10), Some(200), "rwm"), // net/tun
    ]
}

/// The config's rules, then the defaults.
///
/// Rules of type "p" (fifo) are left out, with a warning: the device controller only sees
/// character and block devices (a fifo is never checked against it), and neither
/// devices.allow nor the eBPF program has a fifo type. Config generators emit them
/// (runtime-tools' generator, which podman uses); runc and crun skip them the same way.
pub fn with_defaults(config: &[LinuxDeviceCgroup]) -> Vec<LinuxDeviceCgroup> {
    let mut all = Vec::with_capacity(config.len() + 11);
    for (i, r) in config.iter().enumerate() {
        if r.typ() == Some(LinuxDeviceType::P) {
            tracing::warn!(
                "linux.resources.devices[{i}]: a rule of type \"p\" (fifo) has no effect: the device cgroup only controls character and block devices"
            );
        } else {
            all.push(r.clone());
        }
    }
    all.extend(default_allowed());
    all
}
