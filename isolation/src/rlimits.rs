//! `process.rlimits`.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::error::{Error, Result};

fn resource(typ: PosixRlimitType) -> libc::__rlimit_resource_t {
    match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Checks rlimits before anything is created: soft above hard is the classic mistake.
pub fn validate(limits: &[PosixRlimit]) -> Result<()> {
    let mut seen = Vec::new();
    for l in limits {
        if l.soft() > l.hard() {
            return Err(Error::Invalid(format!(
                "process.rlimits: {} has soft limit {} above its hard limit {}",
                l.typ(),
                l.soft(),
                l.hard()
            )));
        }
        if seen.contains(&l.typ()) {
            return Err(Error::Invalid(format!(
                "process.rlimits: {} is given twice",
                l.typ()
            )));
        }
        seen.push(l.typ());
    }
    Ok(())
}

pub fn apply(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        if let Err(errno) = crate::sys::setrlimit(resource(l.typ()), l.soft(), l.hard()) {
            let err = std::io::Error::from(errno);
            return Err(Error::Invalid(format!(
                "set {} to soft {} hard {} (process.rlimits): {err}{}",
                l.typ(),
                l.soft(),
                l.hard(),
                if err.raw_os_error() == Some(libc::EPERM) {
                    "; raising a hard limit needs CAP_SYS_RESOURCE"
                } else {
                    ""
                }
            )));
        }
    }
    Ok(())
}
