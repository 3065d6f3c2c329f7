//! Where and how a process runs: `process.scheduler` (sched_setattr), `process.ioPriority`
//! (ioprio_set), `process.execCPUAffinity` (sched_setaffinity), `linux.personality` and
//! `linux.memoryPolicy` (set_mempolicy). Each has a check that `create` (or `exec`) makes
//! before anything exists, naming the field, and an apply step for init or the exec'd
//! process, made while it is still privileged (a real-time policy or I/O class needs
//! CAP_SYS_NICE or CAP_SYS_ADMIN, which the process may not keep).
//!
//! CPU and node lists arrive parsed, as (first, last) ranges (see `vrun_cgroup::parse_list`,
//! the parser the cpuset fields use).

use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType,
    Scheduler,
};

use crate::error::{Context, Error, Result};
use crate::sys;

fn policy_number(p: LinuxSchedulerPolicy) -> u32 {
    match p {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    }
}

fn flag_bit(f: LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// SCHED_FIFO and SCHED_RR: the policies with a priority, which may need real-time runtime.
fn is_realtime(p: LinuxSchedulerPolicy) -> bool {
    matches!(
        p,
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    )
}

/// The rules runc checks before it starts anything; the kernel checks the rest (a policy it
/// does not have, a deadline it cannot admit) when the process applies it.
pub fn validate_scheduler(s: &Scheduler, field: &str) -> Result<()> {
    let policy = s.policy();
    let realtime = is_realtime(*policy);
    if let Some(nice) = s.nice() {
        if !(-20..=19).contains(nice) {
            return Err(Error::Invalid(format!(
                "{field}.nice: {nice} is outside -20..19"
            )));
        }
    }
    match s.priority() {
        Some(p) if realtime && !(1..=99).contains(p) => {
            return Err(Error::Invalid(format!(
                "{field}.priority: {p} is outside 1..99, the range of {policy}"
            )))
        }
        Some(p) if !realtime && *p != 0 => {
            return Err(Error::Invalid(format!(
                "{field}.priority: only SCHED_FIFO and SCHED_RR have a priority ({p} given for {policy})"
            )))
        }
        None if realtime => {
            return Err(Error::Invalid(format!(
                "{field}.priority: {policy} needs a priority (1..99)"
            )))
        }
        _ => {}
    }
    let deadline_fields = [s.runtime(), s.deadline(), s.period()];
    if *policy == LinuxSchedulerPolicy::SchedDeadline {
        let runtime = s.runtime().unwrap_or(0);
        let deadline = s.deadline().unwrap_or(0);
        let period = s.period().unwrap_or(0).max(deadline);
        if runtime == 0 || runtime > deadline || deadline > period {
            return Err(Error::Invalid(format!(
                "{field}: SCHED_DEADLINE needs 0 < runtime <= deadline <= period (runtime {runtime}, deadline {deadline}, period {})",
                s.period().unwrap_or(0)
            )));
        }
    } else if deadline_fields.iter().any(|v| v.is_some_and(|v| v != 0)) {
        return Err(Error::Invalid(format!(
            "{field}: runtime, deadline and period are for SCHED_DEADLINE only (policy {policy})"
        )));
    }
    Ok(())
}

/// sched_setattr for the calling process (inherited by what it execs and forks, unless
/// SCHED_FLAG_RESET_ON_FORK).
pub fn apply_scheduler(s: &Scheduler, field: &str) -> Result<()> {
    let attr = sys::SchedAttr {
        size: std::mem::size_of::<sys::SchedAttr>() as u32,
        policy: policy_number(*s.policy()),
        flags: s.flags().iter().flatten().map(|f| flag_bit(*f)).sum(),
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..Default::default()
    };
    let realtime = is_realtime(*s.policy());
    sys::sched_setattr(&attr).context(|| {
        let hint = if realtime {
            " (where the kernel schedules real-time tasks by cgroup, the container's cpu cgroup needs real-time runtime: linux.resources.cpu.realtimeRuntime)"
        } else {
            ""
        };
        format!("{field}: sched_setattr {}{hint}", s.policy())
    })
}

pub fn validate_io_priority(p: &LinuxIOPriority, field: &str) -> Result<()> {
    if !(0..=7).contains(&p.priority()) {
        return Err(Error::Invalid(format!(
            "{field}.priority: {} is outside 0..7",
            p.priority()
        )));
    }
    Ok(())
}

/// ioprio_set for the calling process: class in the top bits, level in the low ones.
pub fn apply_io_priority(p: &LinuxIOPriority, field: &str) -> Result<()> {
    const CLASS_SHIFT: i32 = 13;
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    sys::ioprio_set_self((class << CLASS_SHIFT) | p.priority() as i32)
        .context(|| format!("{field}: ioprio_set {} {}", p.class(), p.priority()))
}

/// The CPUs of `ranges` as the calling process's affinity.
pub fn set_cpu_affinity(ranges: &[(u32, u32)], field: &str) -> Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for &(first, last) in ranges {
        for cpu in first..=last {
            set.set(cpu as usize).map_err(|_| {
                Error::Invalid(format!(
                    "{field}: CPU {cpu} is beyond what the kernel's affinity mask holds"
                ))
            })?;
        }
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .context(|| format!("{field}: sched_setaffinity"))
}

/// runtime-spec: no personality flag is defined yet, so any is refused rather than ignored.
pub fn validate_personality(p: &LinuxPersonality, field: &str) -> Result<()> {
    match p.flags().as_deref() {
        Some([first, ..]) => Err(Error::Invalid(format!(
            "{field}.flags: {first:?} is not a personality flag vrun knows (the spec defines none)"
        ))),
        _ => Ok(()),
    }
}

pub fn apply_personality(p: &LinuxPersonality, field: &str) -> Result<()> {
    const PER_LINUX: libc::c_ulong = 0x0000;
    const PER_LINUX32: libc::c_ulong = 0x0008;
    let persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    sys::personality(persona).context(|| format!("{field}: personality {}", p.domain()))
}

/// The spec's rules: MPOL_DEFAULT and MPOL_LOCAL take no nodes; MPOL_BIND, the interleaves
/// and MPOL_PREFERRED_MANY need some; the static and relative node flags exclude each other.
pub fn validate_memory_policy(
    p: &LinuxMemoryPolicy,
    nodes: &[(u32, u32)],
    field: &str,
) -> Result<()> {
    use MemoryPolicyModeType as M;
    let mode = p.mode();
    match mode {
        M::MpolDefault | M::MpolLocal if !nodes.is_empty() => {
            return Err(Error::Invalid(format!(
                "{field}.nodes: {mode} takes no nodes"
            )))
        }
        M::MpolBind | M::MpolInterleave | M::MpolWeightedInterleave | M::MpolPreferredMany
            if nodes.is_empty() =>
        {
            return Err(Error::Invalid(format!("{field}.nodes: {mode} needs nodes")))
        }
        _ => {}
    }
    let flags = p.flags().as_deref().unwrap_or(&[]);
    if flags.contains(&MemoryPolicyFlagType::MpolFStaticNodes)
        && flags.contains(&MemoryPolicyFlagType::MpolFRelativeNodes)
    {
        return Err(Error::Invalid(format!(
            "{field}.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other"
        )));
    }
    if let Some(&(_, last)) = nodes.iter().max_by_key(|(_, last)| *last) {
        // The kernel reads at most a page of node bits.
        if last as usize >= 4096 * 8 {
            return Err(Error::Invalid(format!(
                "{field}.nodes: node {last} is beyond any kernel's node numbers"
            )));
        }
    }
    Ok(())
}

/// set_mempolicy for the calling process (inherited across fork and exec).
pub fn apply_memory_policy(p: &LinuxMemoryPolicy, nodes: &[(u32, u32)], field: &str) -> Result<()> {
    use MemoryPolicyModeType as M;
    let mode = match p.mode() {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    };
    let flags = p
        .flags()
        .iter()
        .flatten()
        .map(|f| match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
        })
        .fold(0, |a, b| a | b);
    let bits = libc::c_ulong::BITS;
    let words = nodes
        .iter()
        .map(|&(_, last)| last / bits + 1)
        .max()
        .unwrap_or(0);
    let mut mask: Vec<libc::c_ulong> = vec![0; words as usize];
    for &(first, last) in nodes {
        for node in first..=last {
            mask[(node / bits) as usize] |= 1 << (node % bits);
        }
    }
    sys::set_mempolicy(mode | flags, &mask)
        .context(|| format!("{field}: set_mempolicy {}", p.mode()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(json: &str) -> Scheduler {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn scheduler_rules() {
        let ok = |j: &str| validate_scheduler(&sched(j), "process.scheduler").is_ok();
        assert!(ok(r#"{"policy":"SCHED_OTHER","nice":5}"#));
        assert!(ok(r#"{"policy":"SCHED_FIFO","priority":10}"#));
        assert!(!ok(r#"{"policy":"SCHED_FIFO"}"#));
        assert!(!ok(r#"{"policy":"SCHED_OTHER","priority":3}"#));
        assert!(!ok(r#"{"policy":"SCHED_BATCH","nice":20}"#));
        assert!(ok(
            r#"{"policy":"SCHED_DEADLINE","runtime":1000000,"deadline":2000000,"period":4000000}"#
        ));
        assert!(!ok(
            r#"{"policy":"SCHED_DEADLINE","runtime":3,"deadline":2}"#
        ));
        assert!(!ok(r#"{"policy":"SCHED_RR","priority":5,"runtime":3}"#));
    }
}
