//! `linux.resources` as a plan of cgroup file writes, v1 and v2: each write names the config
//! field it comes from, and every check (a controller the host lacks, a field with no v2
//! equivalent, a swap limit below the memory limit) is made while planning, so a config
//! vrun cannot apply fails before anything is written.
//!
//! Absent fields leave their file alone. A zero means what runc makes it mean: unset for cpu
//! shares, period and quota, realtime period and runtime, memory limits and the blkio
//! weights; a real 0 for pids.limit (runc 1.4's reading of runtime-spec: -1 is max).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

use crate::convert::{max_or, shares_to_weight};
use crate::error::{Error, Result};
use crate::Cgroup;

/// One write of a cgroup file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Write {
    pub path: PathBuf,
    pub value: String,
    /// The config field the value comes from, for errors ("linux.resources.cpu.quota").
    pub field: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// Any failure is an error.
    Required,
    /// A file the kernel may have dropped (kernel memory limits): missing, refused or not
    /// kept, it is a warning rather than an error.
    Optional,
    /// Skipped when the file does not exist: "no swap limit" on a kernel without swap
    /// accounting is already true (as runc treats it).
    IfPresent,
}

#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub writes: Vec<Write>,
}

impl Plan {
    pub fn add(&mut self, dir: &Path, file: &str, value: impl ToString, field: impl Into<String>) {
        self.add_kind(dir, file, value, field, Kind::Required);
    }

    fn add_kind(
        &mut self,
        dir: &Path,
        file: &str,
        value: impl ToString,
        field: impl Into<String>,
        kind: Kind,
    ) {
        self.writes.push(Write {
            path: dir.join(file),
            value: value.to_string(),
            field: field.into(),
            kind,
        });
    }

    /// pids.max, the same file on v1 and v2: 0 is 0, a negative limit is max.
    fn add_pids(&mut self, dir: &Path, p: &oci_spec::runtime::LinuxPids) {
        self.add(
            dir,
            "pids.max",
            max_or(p.limit()),
            format!("{F}.pids.limit"),
        );
    }

    fn add_optional(&mut self, dir: &Path, file: &str, value: impl ToString, field: &str) {
        self.add_kind(dir, file, value, field, Kind::Optional);
    }

    /// Writes the files in order; the first error stops it. Consecutive writes to one file
    /// (the device rules: one write per rule) share one open of it: cgroup files take each
    /// write on its own, whatever the offset.
    pub fn execute(&self) -> Result<()> {
        use std::io::Write as _;
        let mut open: Option<(&Path, std::fs::File)> = None;
        for w in &self.writes {
            if !must_write(w) {
                continue;
            }
            let failed = |e| Error::Io {
                what: format!(
                    "set {} (write {:?} to {})",
                    w.field,
                    w.value,
                    w.path.display()
                ),
                source: e,
            };
            let file = match open.take() {
                Some((path, file)) if path == w.path => file,
                _ => std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&w.path)
                    .map_err(failed)?,
            };
            let file = open.insert((&w.path, file));
            file.1.write_all(w.value.as_bytes()).map_err(failed)?;
        }
        Ok(())
    }
}

impl Plan {
    /// Writes the files in order, as [`Plan::execute`], after reading each: when the kernel
    /// refuses a write, those made before it are put back, last first, so that the limits
    /// are all changed or none is (`update`). Limits that may be dropped (kernel memory) are
    /// not put back.
    pub fn execute_or_restore(&self) -> Result<()> {
        let mut done: Vec<(&Write, String)> = Vec::new();
        for w in &self.writes {
            if !must_write(w) {
                continue;
            }
            let before = std::fs::read_to_string(&w.path).map_err(|e| Error::Io {
                what: format!("set {} (read {})", w.field, w.path.display()),
                source: e,
            })?;
            if let Err(e) = std::fs::write(&w.path, &w.value) {
                for (w, before) in done.iter().rev() {
                    restore(w, before);
                }
                return Err(Error::Io {
                    what: format!(
                        "set {} (write {:?} to {}; the limits written before it were put back)",
                        w.field,
                        w.value,
                        w.path.display()
                    ),
                    source: e,
                });
            }
            done.push((w, before));
        }
        Ok(())
    }
}

fn restore(w: &Write, before: &str) {
    let file = w.path.file_name().unwrap_or_default().to_string_lossy();
    let result = match crate::undo::restore_value(&file, before, &w.value) {
        Some(value) => std::fs::write(&w.path, &value).map_err(|e| e.to_string()),
        None => Err(format!("cannot tell what to write back from {before:?}")),
    };
    if let Err(e) = result {
        tracing::warn!("{}: could not put {} back: {e}", w.field, w.path.display());
    }
}

/// Whether `w` is a write whose failure is an error: a limit the kernel may have dropped is
/// written here instead (see [`write_or_warn`]), and an absent `IfPresent` file is skipped.
fn must_write(w: &Write) -> bool {
    match w.kind {
        Kind::Required => true,
        Kind::IfPresent => w.path.exists(),
        Kind::Optional => {
            write_or_warn(w);
            false
        }
    }
}

/// A limit the kernel may have dropped (kernel memory on new kernels): a warning when the
/// file is gone, refuses the value, or takes it without keeping it (6.x accepts
/// memory.kmem.limit_in_bytes and ignores it).
fn write_or_warn(w: &Write) {
    let file = w.path.file_name().unwrap_or_default().to_string_lossy();
    match std::fs::write(&w.path, &w.value) {
        Err(e) => tracing::warn!(
            "{} ignored: this kernel does not take {file} ({e})",
            w.field
        ),
        Ok(()) => {
            let kept = std::fs::read_to_string(&w.path).is_ok_and(|s| s.trim() == w.value);
            if !kept {
                tracing::warn!(
                    "{} ignored: this kernel accepts {file} but does not apply it",
                    w.field
                );
            }
        }
    }
}

const F: &str = "linux.resources";

/// A number of linux.resources that 0 leaves unset (runc's reading).
fn set<T: PartialEq + Default + Copy>(v: Option<T>) -> Option<T> {
    v.filter(|x| *x != T::default())
}

/// cpus/mems: an empty list leaves the file as it is (Docker sends "" for "unchanged").
fn list(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The directory of a v1 controller a field needs, or a clear error.
fn need<'a>(cg: &'a Cgroup, controller: &str, field: &str) -> Result<&'a Path> {
    cg.dir_of(controller).ok_or_else(|| {
        Error::Invalid(format!(
            "{field}: this host has no {controller} cgroup hierarchy to apply it to"
        ))
    })
}

/// The first field of a group that is set, to name in an error about the whole group.
fn first_set(fields: &[(&str, bool)]) -> Option<String> {
    fields
        .iter()
        .find(|(_, is_set)| *is_set)
        .map(|(name, _)| format!("{F}.{name}"))
}

/// The plan for a v1 (or hybrid) host. Device rules are not part of it (see
/// `devices_v1.rs`).
pub(crate) fn plan_v1(cg: &Cgroup, r: &LinuxResources) -> Result<Plan> {
    let mut plan = Plan::default();
    if let Some(key) = r.unified().as_ref().and_then(|u| u.keys().next()) {
        // "invalid configuration": runc's words, which tools look for
        return Err(Error::Invalid(format!(
            "{F}.unified.{key}: invalid configuration: cgroup v2 keys cannot be set on this host, whose cgroups are v1"
        )));
    }
    if let Some(m) = r.memory() {
        memory_v1(cg, m, &mut plan)?;
    }
    if let Some(c) = r.cpu() {
        cpu_v1(cg, c, &mut plan)?;
    }
    if let Some(p) = r.pids() {
        plan.add_pids(need(cg, "pids", &format!("{F}.pids.limit"))?, p);
    }
    if let Some(b) = r.block_io() {
        if crate::blkio::has_settings(b) {
            let dir = need(cg, "blkio", &format!("{F}.blockIO"))?;
            crate::blkio::plan_v1(dir, b, &mut plan)?;
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let field = format!("{F}.hugepageLimits[{i}]");
        let dir = need(cg, "hugetlb", &field)?;
        plan.add(
            dir,
            &format!("hugetlb.{}.limit_in_bytes", h.page_size()),
            h.limit(),
            field,
        );
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            let field = format!("{F}.network.classID");
            plan.add(need(cg, "net_cls", &field)?, "net_cls.classid", id, field);
        }
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            let field = format!("{F}.network.priorities[{i}]");
            let dir = need(cg, "net_prio", &field)?;
            plan.add(
                dir,
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
                field,
            );
        }
    }
    for (device, limits) in r.rdma().iter().flatten() {
        let field = format!("{F}.rdma.{device}");
        let dir = need(cg, "rdma", &field)?;
        plan.add(dir, "rdma.max", rdma_line(device, limits), field);
    }
    Ok(plan)
}

/// With both the cfs period and quota changing, the kernel checks the ratio after each write
/// against the parent's limit: the order whose in-between ratio (old quota over new period,
/// or new quota over old period) is lower goes, so that any change valid at its end is
/// valid on the way (runc gets there by retrying the period after the quota on EINVAL).
fn quota_goes_first(dir: &Path, period: u64, quota: i64) -> bool {
    let current = |file: &str| -> Option<i64> {
        std::fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|v| v.trim().parse().ok())
    };
    let (Some(old_period), Some(old_quota)) =
        (current("cpu.cfs_period_us"), current("cpu.cfs_quota_us"))
    else {
        return false;
    };
    // a negative quota is unlimited, which the parent never refuses
    let ratio = |q: i64, p: i64| {
        if q < 0 || p <= 0 {
            0.0
        } else {
            q as f64 / p as f64
        }
    };
    ratio(quota, old_period) < ratio(old_quota, period as i64)
}

fn memory_v1(cg: &Cgroup, m: &LinuxMemory, plan: &mut Plan) -> Result<()> {
    let (limit, reservation, swap) = (set(m.limit()), set(m.reservation()), set(m.swap()));
    let (kernel, kernel_tcp) = (set(m.kernel()), set(m.kernel_tcp()));
    let Some(field) = first_set(&[
        ("memory.limit", limit.is_some()),
        ("memory.reservation", reservation.is_some()),
        ("memory.swap", swap.is_some()),
        ("memory.swappiness", m.swappiness().is_some()),
        (
            "memory.disableOOMKiller",
            m.disable_oom_killer() == Some(true),
        ),
        ("memory.kernel", kernel.is_some()),
        ("memory.kernelTCP", kernel_tcp.is_some()),
        ("memory.useHierarchy", m.use_hierarchy().is_some()),
    ]) else {
        return Ok(());
    };
    let dir = need(cg, "memory", &field)?;
    limit_and_swap_v1(dir, limit, swap, plan);
    if let Some(v) = reservation {
        plan.add(
            dir,
            "memory.soft_limit_in_bytes",
            v,
            format!("{F}.memory.reservation"),
        );
    }
    if let Some(v) = m.swappiness() {
        plan.add(
            dir,
            "memory.swappiness",
            v,
            format!("{F}.memory.swappiness"),
        );
    }
    if m.disable_oom_killer() == Some(true) {
        plan.add(
            dir,
            "memory.oom_control",
            1,
            format!("{F}.memory.disableOOMKiller"),
        );
    }
    if let Some(v) = kernel {
        plan.add_optional(
            dir,
            "memory.kmem.limit_in_bytes",
            v,
            "linux.resources.memory.kernel",
        );
    }
    if let Some(v) = kernel_tcp {
        plan.add_optional(
            dir,
            "memory.kmem.tcp.limit_in_bytes",
            v,
            "linux.resources.memory.kernelTCP",
        );
    }
    if let Some(v) = m.use_hierarchy() {
        plan.add_optional(
            dir,
            "memory.use_hierarchy",
            u8::from(v),
            "linux.resources.memory.useHierarchy",
        );
    }
    Ok(())
}

/// memory.limit and memory.swap, in the order the kernel accepts them.
fn limit_and_swap_v1(dir: &Path, limit: Option<i64>, swap: Option<i64>, plan: &mut Plan) {
    let limit_write = |plan: &mut Plan, v: i64| {
        plan.add(dir, "memory.limit_in_bytes", v, format!("{F}.memory.limit"))
    };
    let swap_write = |plan: &mut Plan, v: i64| {
        plan.add(
            dir,
            "memory.memsw.limit_in_bytes",
            v,
            format!("{F}.memory.swap"),
        )
    };
    match (limit, swap) {
        // memory+swap may never be below memory: when the new memsw is above the current
        // limit, it goes first (as runc orders them).
        (Some(l), Some(s)) => {
            let current: i64 = std::fs::read_to_string(dir.join("memory.limit_in_bytes"))
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(i64::MAX);
            if s == -1 || current < s {
                swap_write(plan, s);
                limit_write(plan, l);
            } else {
                limit_write(plan, l);
                swap_write(plan, s);
            }
        }
        // Unlimited memory with no swap given: memory+swap goes unlimited first, or the
        // kernel refuses a limit above it (runc's rule).
        (Some(-1), None) if dir.join("memory.memsw.limit_in_bytes").exists() => {
            swap_write(plan, -1);
            limit_write(plan, -1);
        }
        (Some(l), None) => limit_write(plan, l),
        (None, Some(s)) => swap_write(plan, s),
        (None, None) => {}
    }
}

fn cpu_v1(cg: &Cgroup, c: &LinuxCpu, plan: &mut Plan) -> Result<()> {
    let (shares, period, quota) = (set(c.shares()), set(c.period()), set(c.quota()));
    let (rt_period, rt_runtime) = (set(c.realtime_period()), set(c.realtime_runtime()));
    if let Some(field) = first_set(&[
        ("cpu.shares", shares.is_some()),
        ("cpu.period", period.is_some()),
        ("cpu.quota", quota.is_some()),
        ("cpu.burst", c.burst().is_some()),
        ("cpu.idle", c.idle().is_some()),
        ("cpu.realtimePeriod", rt_period.is_some()),
        ("cpu.realtimeRuntime", rt_runtime.is_some()),
    ]) {
        let dir = need(cg, "cpu", &field)?;
        if let Some(v) = shares {
            plan.add(dir, "cpu.shares", v, format!("{F}.cpu.shares"));
        }
        let period_write =
            |plan: &mut Plan, v| plan.add(dir, "cpu.cfs_period_us", v, format!("{F}.cpu.period"));
        let quota_write =
            |plan: &mut Plan, v| plan.add(dir, "cpu.cfs_quota_us", v, format!("{F}.cpu.quota"));
        match (period, quota) {
            (Some(p), Some(q)) if quota_goes_first(dir, p, q) => {
                quota_write(plan, q);
                period_write(plan, p);
            }
            _ => {
                if let Some(v) = period {
                    period_write(plan, v);
                }
                if let Some(v) = quota {
                    quota_write(plan, v);
                }
            }
        }
        if let Some(v) = c.burst() {
            plan.add(dir, "cpu.cfs_burst_us", v, format!("{F}.cpu.burst"));
        }
        if let Some(v) = c.idle() {
            plan.add(dir, "cpu.idle", v, format!("{F}.cpu.idle"));
        }
        // the period first: a runtime above the current period is refused
        if let Some(v) = rt_period {
            plan.add(
                dir,
                "cpu.rt_period_us",
                v,
                format!("{F}.cpu.realtimePeriod"),
            );
        }
        if let Some(v) = rt_runtime {
            plan.add(
                dir,
                "cpu.rt_runtime_us",
                v,
                format!("{F}.cpu.realtimeRuntime"),
            );
        }
    }
    let (cpus, mems) = (list(c.cpus()), list(c.mems()));
    if let Some(field) = first_set(&[("cpu.cpus", cpus.is_some()), ("cpu.mems", mems.is_some())]) {
        let dir = need(cg, "cpuset", &field)?;
        if let Some(v) = cpus {
            plan.add(dir, "cpuset.cpus", v, format!("{F}.cpu.cpus"));
        }
        if let Some(v) = mems {
            plan.add(dir, "cpuset.mems", v, format!("{F}.cpu.mems"));
        }
    }
    Ok(())
}

/// The plan for a cgroup v2 directory.
pub(crate) fn plan_v2(dir: &Path, r: &LinuxResources) -> Result<Plan> {
    let mut plan = Plan::default();
    if let Some(m) = r.memory() {
        memory_v2(dir, m, &mut plan)?;
    }
    if let Some(c) = r.cpu() {
        cpu_v2(dir, c, &mut plan)?;
    }
    if let Some(p) = r.pids() {
        plan.add_pids(dir, p);
    }
    if let Some(b) = r.block_io() {
        crate::blkio::plan_v2(dir, b, &mut plan)?;
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        plan.add(
            dir,
            &format!("hugetlb.{}.max", h.page_size()),
            h.limit(),
            format!("{F}.hugepageLimits[{i}]"),
        );
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(Error::Invalid(format!(
                "{F}.network: net_cls/net_prio do not exist on cgroup v2"
            )));
        }
    }
    for (device, limits) in r.rdma().iter().flatten() {
        plan.add(
            dir,
            "rdma.max",
            rdma_line(device, limits),
            format!("{F}.rdma.{device}"),
        );
    }
    for (key, value) in r.unified().iter().flatten() {
        if key.contains('/') || key.starts_with('.') || key.is_empty() {
            return Err(Error::Invalid(format!(
                "{F}.unified: {key:?} is not a cgroup file name"
            )));
        }
        plan.add(dir, key, value, format!("{F}.unified.{key}"));
    }
    Ok(plan)
}

fn memory_v2(dir: &Path, m: &LinuxMemory, plan: &mut Plan) -> Result<()> {
    let limit = set(m.limit());
    if let Some(v) = limit {
        plan.add(dir, "memory.max", max_or(v), format!("{F}.memory.limit"));
    }
    if let Some(v) = set(m.reservation()) {
        plan.add(
            dir,
            "memory.low",
            max_or(v),
            format!("{F}.memory.reservation"),
        );
    }
    if let Some(v) = swap_v2(limit, set(m.swap()))? {
        let kind = if v == "max" {
            Kind::IfPresent
        } else {
            Kind::Required
        };
        plan.add_kind(dir, "memory.swap.max", v, format!("{F}.memory.swap"), kind);
    }
    for (set, field) in [
        (set(m.kernel()).is_some(), "kernel"),
        (set(m.kernel_tcp()).is_some(), "kernelTCP"),
        (m.swappiness().is_some(), "swappiness"),
        (m.disable_oom_killer() == Some(true), "disableOOMKiller"),
        (m.use_hierarchy() == Some(false), "useHierarchy"),
    ] {
        if set {
            tracing::warn!("{F}.memory.{field} ignored: cgroup v2 has no such setting");
        }
    }
    Ok(())
}

/// memory.swap (memory+swap, as on v1) to memory.swap.max (swap alone), as runc converts it:
/// -1 is unlimited; with an unlimited memory and no swap given, swap is unlimited too.
fn swap_v2(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>> {
    let field = format!("{F}.memory.swap");
    Ok(match (limit, swap) {
        (Some(-1), None) => Some("max".into()),
        (_, None) => None,
        (_, Some(s)) if s < 0 => Some("max".into()),
        (None | Some(-1), Some(_)) => {
            return Err(Error::Invalid(format!(
                "{field}: cgroup v2 needs a memory limit (memory.limit) to set memory+swap"
            )))
        }
        (Some(l), Some(s)) if s < l => {
            return Err(Error::Invalid(format!(
                "{field}: {s} is below memory.limit {l} (swap is memory+swap)"
            )))
        }
        (Some(l), Some(s)) => Some((s - l).to_string()),
    })
}

fn cpu_v2(dir: &Path, c: &LinuxCpu, plan: &mut Plan) -> Result<()> {
    if let Some(v) = set(c.shares()) {
        plan.add(
            dir,
            "cpu.weight",
            shares_to_weight(v),
            format!("{F}.cpu.shares"),
        );
    }
    let (quota, period) = (set(c.quota()), set(c.period()));
    if quota.is_some() || period.is_some() {
        // cpu.max holds both: the one not given keeps its current value.
        let current = std::fs::read_to_string(dir.join("cpu.max")).unwrap_or_default();
        let mut parts = current.split_whitespace();
        let (cur_quota, cur_period) = (parts.next().unwrap_or("max"), parts.next());
        let quota = quota.map(max_or).unwrap_or_else(|| cur_quota.to_string());
        let period = period
            .map(|p| p.to_string())
            .or_else(|| cur_period.map(String::from))
            .unwrap_or_else(|| "100000".into());
        let field = if c.quota().is_some() {
            "cpu.quota"
        } else {
            "cpu.period"
        };
        plan.add(
            dir,
            "cpu.max",
            format!("{quota} {period}"),
            format!("{F}.{field}"),
        );
    }
    if let Some(v) = c.burst() {
        plan.add(dir, "cpu.max.burst", v, format!("{F}.cpu.burst"));
    }
    if let Some(v) = c.idle() {
        plan.add(dir, "cpu.idle", v, format!("{F}.cpu.idle"));
    }
    if set(c.realtime_runtime()).is_some() || set(c.realtime_period()).is_some() {
        return Err(Error::Invalid(format!(
            "{F}.cpu.realtimeRuntime: cgroup v2 has no realtime group scheduling"
        )));
    }
    if let Some(v) = list(c.cpus()) {
        plan.add(dir, "cpuset.cpus", v, format!("{F}.cpu.cpus"));
    }
    if let Some(v) = list(c.mems()) {
        plan.add(dir, "cpuset.mems", v, format!("{F}.cpu.mems"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Version;

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    /// (file name, value, field) of each write.
    fn writes(p: &Plan) -> Vec<(String, String, String)> {
        p.writes
            .iter()
            .map(|w| {
                (
                    w.path.file_name().unwrap().to_string_lossy().into_owned(),
                    w.value.clone(),
                    w.field.clone(),
                )
            })
            .collect()
    }

    fn files(p: &Plan) -> Vec<String> {
        writes(p)
            .into_iter()
            .map(|(f, v, _)| format!("{f}={v}"))
            .collect()
    }

    /// A temporary directory, removed when dropped (also when a test fails).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let d = std::env::temp_dir().join(format!("vrun-plan-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            Scratch(d)
        }
    }

    impl std::ops::Deref for Scratch {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A v1 cgroup with the named controllers, each in its own temporary directory.
    fn v1(controllers: &[&str]) -> (Cgroup, Scratch) {
        let base = Scratch::new();
        let dirs = controllers
            .iter()
            .map(|c| {
                let d = base.join(c);
                std::fs::create_dir_all(&d).unwrap();
                (c.to_string(), d)
            })
            .collect();
        (
            Cgroup {
                version: Version::V1,
                dirs,
                created: Vec::new(),
                default_placement: false,
                unit: None,
                fresh: false,
            },
            base,
        )
    }

    fn v2_dir(cpu_max: Option<&str>) -> Scratch {
        let d = Scratch::new();
        if let Some(v) = cpu_max {
            std::fs::write(d.join("cpu.max"), v).unwrap();
        }
        d
    }

    #[test]
    fn absent_and_zero_values_leave_files_alone() {
        let r = resources(
            r#"{"cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": "", "realtimeRuntime": 0},
                "memory": {"limit": 0, "reservation": 0, "swap": 0, "kernel": 0},
                "blockIO": {"weight": 0}}"#,
        );
        let (cg, _base) = v1(&["cpu", "cpuset", "memory", "blkio", "pids"]);
        assert_eq!(files(&plan_v1(&cg, &r).unwrap()), Vec::<String>::new());
        let dir = v2_dir(None);
        assert_eq!(files(&plan_v2(&dir, &r).unwrap()), Vec::<String>::new());
        // and without any controller: nothing set, so nothing is needed
        let (none, _base2) = v1(&[]);
        assert!(plan_v1(&none, &r).is_ok());
    }

    #[test]
    fn pids_zero_is_zero_and_negative_is_max() {
        let (cg, _base) = v1(&["pids"]);
        let dir = v2_dir(None);
        for (limit, want) in [(0, "pids.max=0"), (-1, "pids.max=max"), (42, "pids.max=42")] {
            let r = resources(&format!(r#"{{"pids": {{"limit": {limit}}}}}"#));
            assert_eq!(files(&plan_v1(&cg, &r).unwrap()), vec![want]);
            assert_eq!(files(&plan_v2(&dir, &r).unwrap()), vec![want]);
        }
    }

    #[test]
    fn a_missing_v1_controller_is_an_error_naming_the_field() {
        let (cg, _base) = v1(&["memory"]);
        for (json, field) in [
            (r#"{"cpu": {"shares": 512}}"#, "linux.resources.cpu.shares"),
            (r#"{"cpu": {"cpus": "0"}}"#, "linux.resources.cpu.cpus"),
            (r#"{"pids": {"limit": 10}}"#, "linux.resources.pids.limit"),
            (r#"{"blockIO": {"weight": 100}}"#, "linux.resources.blockIO"),
        ] {
            let err = plan_v1(&cg, &resources(json)).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{field}: this host has no ")),
                "{json}: {err}"
            );
        }
        let (none, _base2) = v1(&[]);
        let err = plan_v1(&none, &resources(r#"{"memory": {"swappiness": 10}}"#))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("linux.resources.memory.swappiness: this host has no memory"));
    }

    #[test]
    fn v1_memory_and_swap_are_ordered_around_the_current_limit() {
        let (cg, base) = v1(&["memory"]);
        let dir = base.join("memory");
        let r = resources(r#"{"memory": {"limit": 1000, "swap": 3000}}"#);
        // current limit 2000 below the new memsw 3000: memsw first
        std::fs::write(dir.join("memory.limit_in_bytes"), "2000").unwrap();
        assert_eq!(
            files(&plan_v1(&cg, &r).unwrap()),
            vec![
                "memory.memsw.limit_in_bytes=3000",
                "memory.limit_in_bytes=1000"
            ]
        );
        std::fs::write(dir.join("memory.limit_in_bytes"), "5000").unwrap();
        assert_eq!(
            files(&plan_v1(&cg, &r).unwrap()),
            vec![
                "memory.limit_in_bytes=1000",
                "memory.memsw.limit_in_bytes=3000"
            ]
        );
    }

    #[test]
    fn v2_cpu_max_keeps_the_half_not_given() {
        let dir = v2_dir(Some("50000 200000\n"));
        let plan = |json: &str| files(&plan_v2(&dir, &resources(json)).unwrap());
        assert_eq!(
            plan(r#"{"cpu": {"period": 100000}}"#),
            vec!["cpu.max=50000 100000"]
        );
        assert_eq!(
            plan(r#"{"cpu": {"quota": 10000}}"#),
            vec!["cpu.max=10000 200000"]
        );
        assert_eq!(
            plan(r#"{"cpu": {"quota": -1}}"#),
            vec!["cpu.max=max 200000"]
        );
        assert_eq!(
            plan(r#"{"cpu": {"shares": 1024, "quota": 0, "period": 0}}"#),
            vec!["cpu.weight=39"]
        );
    }

    #[test]
    fn v2_swap_is_converted_or_refused() {
        let dir = v2_dir(None);
        let plan = |json: &str| plan_v2(&dir, &resources(json)).map(|p| files(&p));
        assert_eq!(
            plan(r#"{"memory": {"limit": 100, "swap": 300}}"#).unwrap(),
            vec!["memory.max=100", "memory.swap.max=200"]
        );
        assert_eq!(
            plan(r#"{"memory": {"limit": -1}}"#).unwrap(),
            vec!["memory.max=max", "memory.swap.max=max"]
        );
        assert_eq!(
            plan(r#"{"memory": {"limit": 100, "swap": -1}}"#).unwrap(),
            vec!["memory.max=100", "memory.swap.max=max"]
        );
        let err = plan(r#"{"memory": {"limit": 300, "swap": 100}}"#).unwrap_err();
        assert!(err.to_string().contains("below memory.limit"), "{err}");
        let err = plan(r#"{"memory": {"swap": 100}}"#).unwrap_err();
        assert!(err.to_string().contains("needs a memory limit"), "{err}");
    }

    #[test]
    fn every_write_names_its_field() {
        let dir = v2_dir(None);
        let r = resources(
            r#"{"memory": {"limit": 100, "reservation": 50}, "cpu": {"shares": 2, "cpus": "0"},
                "pids": {"limit": 5}, "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
                "unified": {"memory.high": "90"}}"#,
        );
        let got = writes(&plan_v2(&dir, &r).unwrap());
        let expect = [
            ("memory.max", "100", "linux.resources.memory.limit"),
            ("memory.low", "50", "linux.resources.memory.reservation"),
            ("cpu.weight", "1", "linux.resources.cpu.shares"),
            ("cpuset.cpus", "0", "linux.resources.cpu.cpus"),
            ("pids.max", "5", "linux.resources.pids.limit"),
            ("hugetlb.2MB.max", "0", "linux.resources.hugepageLimits[0]"),
            ("memory.high", "90", "linux.resources.unified.memory.high"),
        ];
        assert_eq!(
            got,
            expect
                .iter()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn rdma_lines() {
        let l: oci_spec::runtime::LinuxRdma = serde_json::from_str(r#"{"hcaHandles": 3}"#).unwrap();
        assert_eq!(
            rdma_line("mlx4_0", &l),
            "mlx4_0 hca_handle=3 hca_object=max"
        );
    }
}
