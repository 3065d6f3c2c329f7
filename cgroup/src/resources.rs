//! Writing `linux.resources` into cgroup files, v1 and v2.

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use crate::convert::{max_or, shares_to_weight, swap_v2};
use crate::error::{Error, Result};
use crate::Cgroup;

fn write(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|e| Error::Io {
        what: format!("set {field} (write {value:?} to {})", path.display()),
        source: e,
    })
}

/// A new v1 cpuset cgroup starts with empty cpus and mems, and no task can join it until they
/// are copied from the parent.
/// Walks up to the nearest ancestor with values (a parent made a moment ago by a concurrent
/// create may still be empty) and fills every empty level on the way down.
pub(crate) fn v1_inherit_cpuset(dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let read = |d: &Path| {
            std::fs::read_to_string(d.join(file))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let mut empty = Vec::new();
        let mut at = Some(dir);
        let mut value = String::new();
        while let Some(d) = at {
            if !d.join(file).exists() {
                break;
            }
            value = read(d);
            if !value.is_empty() {
                break;
            }
            empty.push(d);
            at = d.parent();
        }
        for d in empty.iter().rev() {
            if read(d).is_empty() {
                write(d, file, &value, file)?;
            }
        }
    }
    Ok(())
}

/// v2: enables in the parent the controllers the new cgroup needs (those the parent has and
/// does not pass down yet). Nothing is written when they already are.
pub(crate) fn v2_enable_controllers(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    let available = std::fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    let enabled =
        std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
    let wanted: Vec<String> = available
        .split_whitespace()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    write(
        parent,
        "cgroup.subtree_control",
        &wanted.join(" "),
        "the parent cgroup's controllers",
    )
}

/// Checks `linux.resources` before anything is written: a clear error naming the field.
pub fn validate(r: &LinuxResources) -> Result<()> {
    crate::ebpf::validate(r.devices().as_deref().unwrap_or(&[]))?;
    if let Some(b) = r.block_io() {
        crate::blkio::validate(b)?;
    }
    if let Some(c) = r.cpu() {
        for (field, list) in [("cpus", c.cpus()), ("mems", c.mems())] {
            if let Some(list) = list {
                check_list(list).map_err(|e| {
                    Error::Invalid(format!("linux.resources.cpu.{field}: {list:?} {e}"))
                })?;
            }
        }
    }
    if let Some(v) = r.memory().and_then(|m| m.swappiness()) {
        if v > 100 {
            return Err(Error::Invalid(format!(
                "linux.resources.memory.swappiness: {v} is above 100"
            )));
        }
    }
    Ok(())
}

/// A cpuset list: "0-3,5,7-8".
fn check_list(list: &str) -> std::result::Result<(), &'static str> {
    if list.trim().is_empty() {
        return Err("is empty");
    }
    for part in list.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
            (Ok(a), Ok(b)) if a <= b => {}
            _ => return Err("is not a list of numbers and ranges (e.g. 0-3,5)"),
        }
    }
    Ok(())
}

pub(crate) fn apply_v1(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    if let Some(key) = r.unified().as_ref().and_then(|u| u.keys().next()) {
        return Err(Error::Invalid(format!(
            "linux.resources.unified.{key}: cgroup v2 keys cannot be set on this host, whose cgroups are v1"
        )));
    }
    if let (Some(m), Some(dir)) = (r.memory(), cg.dir_of("memory")) {
        if let Some(v) = m.limit() {
            write(
                dir,
                "memory.limit_in_bytes",
                &v.to_string(),
                "linux.resources.memory.limit",
            )?;
        }
        if let Some(v) = m.reservation() {
            write(
                dir,
                "memory.soft_limit_in_bytes",
                &v.to_string(),
                "linux.resources.memory.reservation",
            )?;
        }
        if let Some(v) = m.swap() {
            write(
                dir,
                "memory.memsw.limit_in_bytes",
                &v.to_string(),
                "linux.resources.memory.swap",
            )?;
        }
        if let Some(v) = m.swappiness() {
            write(
                dir,
                "memory.swappiness",
                &v.to_string(),
                "linux.resources.memory.swappiness",
            )?;
        }
        if m.disable_oom_killer() == Some(true) {
            write(
                dir,
                "memory.oom_control",
                "1",
                "linux.resources.memory.disableOOMKiller",
            )?;
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(dir) = cg.dir_of("cpu") {
            if let Some(v) = c.shares() {
                write(
                    dir,
                    "cpu.shares",
                    &v.to_string(),
                    "linux.resources.cpu.shares",
                )?;
            }
            if let Some(v) = c.period() {
                write(
                    dir,
                    "cpu.cfs_period_us",
                    &v.to_string(),
                    "linux.resources.cpu.period",
                )?;
            }
            if let Some(v) = c.quota() {
                write(
                    dir,
                    "cpu.cfs_quota_us",
                    &v.to_string(),
                    "linux.resources.cpu.quota",
                )?;
            }
        }
        if let Some(dir) = cg.dir_of("cpuset") {
            if let Some(v) = c.cpus() {
                write(dir, "cpuset.cpus", v, "linux.resources.cpu.cpus")?;
            }
            if let Some(v) = c.mems() {
                write(dir, "cpuset.mems", v, "linux.resources.cpu.mems")?;
            }
        }
    }
    apply_v1_others(cg, r)?;
    apply_v1_cpu_memory_extras(cg, r)?;
    if let Some(b) = r.block_io() {
        let dir = cg.dir_of("blkio").ok_or_else(|| {
            Error::Invalid(
                "linux.resources.blockIO: this host has no blkio cgroup hierarchy".into(),
            )
        })?;
        crate::blkio::apply_v1(dir, b)?;
    }
    if let (Some(p), Some(dir)) = (r.pids(), cg.dir_of("pids")) {
        write(
            dir,
            "pids.max",
            &max_or(p.limit()),
            "linux.resources.pids.limit",
        )?;
    }
    if let (Some(devices), Some(dir)) = (r.devices(), cg.dir_of("devices")) {
        for (i, d) in devices.iter().enumerate() {
            let file = if d.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            write(
                dir,
                file,
                &device_rule(d),
                &format!("linux.resources.devices[{i}]"),
            )?;
        }
    }
    Ok(())
}

/// A device cgroup rule as devices.allow/deny take it: "c 1:3 rwm", "a *:* rwm".
pub fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => 'p',
    };
    let num = |n: Option<i64>| {
        n.filter(|v| *v >= 0)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "*".into())
    };
    let access = d
        .access()
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "rwm".into());
    format!("{kind} {}:{} {access}", num(d.major()), num(d.minor()))
}

pub(crate) fn apply_v2(dir: &Path, r: &LinuxResources) -> Result<()> {
    if let Some(m) = r.memory() {
        if let Some(v) = m.limit() {
            write(
                dir,
                "memory.max",
                &max_or(v),
                "linux.resources.memory.limit",
            )?;
        }
        if let Some(v) = m.reservation() {
            write(
                dir,
                "memory.low",
                &max_or(v),
                "linux.resources.memory.reservation",
            )?;
        }
        if let Some(s) = m.swap() {
            if let Some(v) = swap_v2(m.limit(), s) {
                write(dir, "memory.swap.max", &v, "linux.resources.memory.swap")?;
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(v) = c.shares() {
            write(
                dir,
                "cpu.weight",
                &shares_to_weight(v).to_string(),
                "linux.resources.cpu.shares",
            )?;
        }
        if c.quota().is_some() || c.period().is_some() {
            let quota = c.quota().map(max_or).unwrap_or_else(|| "max".into());
            let period = c.period().unwrap_or(100_000);
            write(
                dir,
                "cpu.max",
                &format!("{quota} {period}"),
                "linux.resources.cpu.quota",
            )?;
        }
        if let Some(v) = c.cpus() {
            write(dir, "cpuset.cpus", v, "linux.resources.cpu.cpus")?;
        }
        if let Some(v) = c.mems() {
            write(dir, "cpuset.mems", v, "linux.resources.cpu.mems")?;
        }
    }
    if let Some(p) = r.pids() {
        write(
            dir,
            "pids.max",
            &max_or(p.limit()),
            "linux.resources.pids.limit",
        )?;
    }
    if let Some(b) = r.block_io() {
        crate::blkio::apply_v2(dir, b)?;
    }
    apply_v2_others(dir, r)?;
    apply_v2_cpu_memory_extras(dir, r)?;
    if let Some(unified) = r.unified() {
        for (key, value) in unified {
            if key.contains('/') || key.starts_with('.') {
                return Err(Error::Invalid(format!(
                    "linux.resources.unified: {key:?} is not a cgroup file name"
                )));
            }
            write(dir, key, value, &format!("linux.resources.unified.{key}"))?;
        }
    }
    Ok(())
}

/// The directory of a v1 controller a config field needs, or a clear error.
fn need<'a>(cg: &'a Cgroup, controller: &str, field: &str) -> Result<&'a Path> {
    cg.dir_of(controller).ok_or_else(|| {
        Error::Invalid(format!(
            "{field}: this host has no {controller} cgroup hierarchy to apply it to"
        ))
    })
}

/// hugepageLimits, network and rdma on v1.
fn apply_v1_others(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let dir = need(cg, "hugetlb", &field)?;
        write(
            dir,
            &format!("hugetlb.{}.limit_in_bytes", h.page_size()),
            &h.limit().to_string(),
            &field,
        )?;
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            let dir = need(cg, "net_cls", "linux.resources.network.classID")?;
            write(
                dir,
                "net_cls.classid",
                &id.to_string(),
                "linux.resources.network.classID",
            )?;
        }
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            let field = format!("linux.resources.network.priorities[{i}]");
            let dir = need(cg, "net_prio", &field)?;
            write(
                dir,
                "net_prio.ifpriomap",
                &format!("{} {}", p.name(), p.priority()),
                &field,
            )?;
        }
    }
    for (device, limits) in r.rdma().iter().flatten() {
        let field = format!("linux.resources.rdma.{device}");
        let dir = need(cg, "rdma", &field)?;
        write(dir, "rdma.max", &rdma_line(device, limits), &field)?;
    }
    Ok(())
}

/// hugepageLimits and rdma on v2; network classes have no v2 equivalent (eBPF does that job).
fn apply_v2_others(dir: &Path, r: &LinuxResources) -> Result<()> {
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        write(
            dir,
            &format!("hugetlb.{}.max", h.page_size()),
            &h.limit().to_string(),
            &format!("linux.resources.hugepageLimits[{i}]"),
        )?;
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(Error::Invalid(
                "linux.resources.network: net_cls/net_prio do not exist on cgroup v2".into(),
            ));
        }
    }
    for (device, limits) in r.rdma().iter().flatten() {
        write(
            dir,
            "rdma.max",
            &rdma_line(device, limits),
            &format!("linux.resources.rdma.{device}"),
        )?;
    }
    Ok(())
}

fn rdma_line(device: &str, l: &oci_spec::runtime::LinuxRdma) -> String {
    let v = |x: Option<u32>| x.map(|n| n.to_string()).unwrap_or_else(|| "max".into());
    format!(
        "{device} hca_handle={} hca_object={}",
        v(l.hca_handles()),
        v(l.hca_objects())
    )
}

/// Writes a limit the kernel may have dropped (kernel memory on new kernels): a warning, not
/// an error, when the file is gone, refuses the value, or takes it without keeping it (6.x
/// accepts memory.kmem.limit_in_bytes and ignores it).
fn write_or_warn(dir: &Path, file: &str, value: &str, field: &str) {
    let path = dir.join(file);
    match std::fs::write(&path, value) {
        Err(e) => tracing::warn!("{field} ignored: this kernel does not take {file} ({e})"),
        Ok(()) => {
            let kept = std::fs::read_to_string(&path).is_ok_and(|s| s.trim() == value);
            if !kept {
                tracing::warn!("{field} ignored: this kernel accepts {file} but does not apply it");
            }
        }
    }
}

/// cpu burst/idle/realtime and memory kernel/kernelTCP/useHierarchy on v1.
fn apply_v1_cpu_memory_extras(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    if let Some(c) = r.cpu() {
        let dir = || need(cg, "cpu", "linux.resources.cpu");
        if let Some(v) = c.burst() {
            write(
                dir()?,
                "cpu.cfs_burst_us",
                &v.to_string(),
                "linux.resources.cpu.burst",
            )?;
        }
        if let Some(v) = c.idle() {
            write(
                dir()?,
                "cpu.idle",
                &v.to_string(),
                "linux.resources.cpu.idle",
            )?;
        }
        // the period first: a runtime above the current period is refused
        if let Some(v) = c.realtime_period() {
            write(
                dir()?,
                "cpu.rt_period_us",
                &v.to_string(),
                "linux.resources.cpu.realtimePeriod",
            )?;
        }
        if let Some(v) = c.realtime_runtime() {
            write(
                dir()?,
                "cpu.rt_runtime_us",
                &v.to_string(),
                "linux.resources.cpu.realtimeRuntime",
            )?;
        }
    }
    if let (Some(m), Some(dir)) = (r.memory(), cg.dir_of("memory")) {
        if let Some(v) = m.kernel() {
            write_or_warn(
                dir,
                "memory.kmem.limit_in_bytes",
                &v.to_string(),
                "linux.resources.memory.kernel",
            );
        }
        if let Some(v) = m.kernel_tcp() {
            write_or_warn(
                dir,
                "memory.kmem.tcp.limit_in_bytes",
                &v.to_string(),
                "linux.resources.memory.kernelTCP",
            );
        }
        if let Some(v) = m.use_hierarchy() {
            write_or_warn(
                dir,
                "memory.use_hierarchy",
                if v { "1" } else { "0" },
                "linux.resources.memory.useHierarchy",
            );
        }
    }
    Ok(())
}

/// The same on v2, where some have no equivalent any more.
fn apply_v2_cpu_memory_extras(dir: &Path, r: &LinuxResources) -> Result<()> {
    if let Some(c) = r.cpu() {
        if let Some(v) = c.burst() {
            write(
                dir,
                "cpu.max.burst",
                &v.to_string(),
                "linux.resources.cpu.burst",
            )?;
        }
        if let Some(v) = c.idle() {
            write(dir, "cpu.idle", &v.to_string(), "linux.resources.cpu.idle")?;
        }
        if c.realtime_runtime().is_some() || c.realtime_period().is_some() {
            return Err(Error::Invalid(
                "linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime group scheduling"
                    .into(),
            ));
        }
    }
    if let Some(m) = r.memory() {
        for (set, field) in [
            (m.kernel().is_some(), "kernel"),
            (m.kernel_tcp().is_some(), "kernelTCP"),
            (m.swappiness().is_some(), "swappiness"),
            (m.disable_oom_killer() == Some(true), "disableOOMKiller"),
            (m.use_hierarchy() == Some(false), "useHierarchy"),
        ] {
            if set {
                tracing::warn!(
                    "linux.resources.memory.{field} ignored: cgroup v2 has no such setting"
                );
            }
        }
    }
    Ok(())
}

/// checkBeforeUpdate: a new memory limit below what the container already uses is refused
/// before anything is written (instead of the kernel reclaiming or failing half-way).
pub(crate) fn check_memory_before_update(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    let Some(m) = r.memory() else { return Ok(()) };
    let Some(limit) = m.limit().filter(|l| *l > 0) else {
        return Ok(());
    };
    if m.check_before_update() != Some(true) {
        return Ok(());
    }
    let usage = match cg.version {
        crate::Version::V1 => cg
            .dir_of("memory")
            .and_then(|d| std::fs::read_to_string(d.join("memory.usage_in_bytes")).ok()),
        crate::Version::V2 => cg
            .dirs
            .first()
            .and_then(|(_, d)| std::fs::read_to_string(d.join("memory.current")).ok()),
    };
    let usage: i64 = usage.and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    if limit < usage {
        return Err(Error::Invalid(format!(
            "linux.resources.memory.limit: {limit} is below the container's current usage {usage} (checkBeforeUpdate)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpuset_lists() {
        assert!(check_list("0-3,5,7-8").is_ok());
        assert!(check_list("2").is_ok());
        for bad in ["", "3-1", "0-x", "1,,2", "-1"] {
            assert!(check_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rdma_lines() {
        let l: oci_spec::runtime::LinuxRdma = serde_json::from_str(r#"{"hcaHandles": 3}"#).unwrap();
        assert_eq!(
            rdma_line("mlx4_0", &l),
            "mlx4_0 hca_handle=3 hca_object=max"
        );
    }

    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    #[test]
    fn device_rules() {
        let all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(device_rule(&all), "a *:* rwm");
        let null = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rw")
            .build()
            .unwrap();
        assert_eq!(device_rule(&null), "c 1:3 rw");
    }
}
