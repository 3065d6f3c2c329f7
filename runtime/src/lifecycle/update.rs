//! `update`: new resource limits for a created, running or paused container, from a
//! `linux.resources` JSON (`--resources FILE` or `-` for stdin) and runc's flags on top.

use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::error::{Context, Error, Result};
use crate::size::parse_size;
use crate::state::{status, ContainerDir, Status};

/// runc's update flags; each set one overrides the same field of `--resources`.
#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    pub resources: Option<PathBuf>,
    pub memory: Option<String>,
    pub memory_reservation: Option<String>,
    pub memory_swap: Option<String>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpu_idle: Option<i64>,
    pub cpu_burst: Option<u64>,
    pub kernel_memory: Option<String>,
    pub kernel_memory_tcp: Option<String>,
    /// Intel RDT schemata (runc's --l3-cache-schema, --mem-bw-schema): refused, as the
    /// config's linux.intelRdt is.
    pub l3_cache_schema: Option<String>,
    pub mem_bw_schema: Option<String>,
}

pub fn update(root: &Path, id: &str, opts: &UpdateOptions) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let mut state = dir.load()?;
    if status(&dir.path, &state) == Status::Stopped {
        return Err(Error::WrongState(format!(
            "cannot update container \"{id}\": it is stopped"
        )));
    }
    for (flag, value) in [
        ("--l3-cache-schema", &opts.l3_cache_schema),
        ("--mem-bw-schema", &opts.mem_bw_schema),
    ] {
        if value.is_some() {
            return Err(Error::Invalid(format!(
                "{flag}: vrun does not apply Intel RDT settings (linux.intelRdt is refused at create too)"
            )));
        }
    }
    let r = resources(opts)?;
    vrun_cgroup::validate(&r)?;
    state.own_cgroup()?.update(&r)?;
    // Keep the recorded config in step, as runc does, so `state` consumers see the new limits.
    if let Some(linux) = state.config.linux_mut() {
        let mut current = linux.resources().clone().unwrap_or_default();
        merge(&mut current, &r);
        linux.set_resources(Some(current));
    }
    dir.save(&state)
}

/// The resources to write: the JSON first, then each flag given.
pub fn resources(opts: &UpdateOptions) -> Result<LinuxResources> {
    let mut r: LinuxResources = match &opts.resources {
        Some(p) => resources_file(p)?,
        None => literal("{}")?,
    };
    memory_flags(&mut r, opts)?;
    cpu_flags(&mut r, opts)?;
    if let Some(w) = opts.blkio_weight {
        let mut b = match r.block_io() {
            Some(b) => b.clone(),
            None => literal("{}")?,
        };
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    if let Some(v) = opts.pids_limit {
        let mut p = match r.pids() {
            Some(p) => *p,
            None => literal(r#"{"limit": -1}"#)?,
        };
        p.set_limit(v);
        r.set_pids(Some(p));
    }
    Ok(r)
}

/// A value of oci-spec's from JSON text, with only the fields the text sets (its
/// `Default`s may set more).
fn literal<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Invalid(format!("{text}: {e}")))
}

/// `--resources FILE` (or `-`, stdin): linux.resources as JSON.
fn resources_file(p: &Path) -> Result<LinuxResources> {
    {
        {
            let text = if p.as_os_str() == "-" {
                let mut s = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut s)
                    .context(|| "read resources from stdin".into())?;
                s
            } else {
                std::fs::read(p).context(|| format!("read --resources {}", p.display()))?
            };
            let mut value: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| Error::Invalid(format!("--resources {}: {e}", p.display())))?;
            crate::bundle::drop_pids_without_limit(&mut value);
            serde_path_to_error::deserialize(value).map_err(|e| {
                Error::Invalid(format!(
                    "--resources {}: {}: {}",
                    p.display(),
                    e.path(),
                    e.inner()
                ))
            })
        }
    }
}

/// The memory flags, over the JSON's memory.
fn memory_flags(r: &mut LinuxResources, opts: &UpdateOptions) -> Result<()> {
    let size = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| parse_size(s).map_err(|e| Error::Invalid(format!("--{flag} {s:?}: {e}"))))
            .transpose()
    };
    let limit = size("memory", &opts.memory)?;
    let reservation = size("memory-reservation", &opts.memory_reservation)?;
    let swap = size("memory-swap", &opts.memory_swap)?;
    let kernel = size("kernel-memory", &opts.kernel_memory)?;
    let kernel_tcp = size("kernel-memory-tcp", &opts.kernel_memory_tcp)?;
    if limit.is_some()
        || reservation.is_some()
        || swap.is_some()
        || kernel.is_some()
        || kernel_tcp.is_some()
    {
        let mut m = match r.memory() {
            Some(m) => *m,
            None => literal("{}")?,
        };
        if let Some(v) = limit {
            m.set_limit(Some(v));
        }
        if let Some(v) = reservation {
            m.set_reservation(Some(v));
        }
        if let Some(v) = swap {
            m.set_swap(Some(v));
        }
        if let Some(v) = kernel {
            m.set_kernel(Some(v));
        }
        if let Some(v) = kernel_tcp {
            m.set_kernel_tcp(Some(v));
        }
        r.set_memory(Some(m));
    }
    Ok(())
}

/// The cpu flags, over the JSON's cpu.
fn cpu_flags(r: &mut LinuxResources, opts: &UpdateOptions) -> Result<()> {
    if opts.cpu_shares.is_some()
        || opts.cpu_quota.is_some()
        || opts.cpu_period.is_some()
        || opts.cpuset_cpus.is_some()
        || opts.cpuset_mems.is_some()
        || opts.cpu_rt_period.is_some()
        || opts.cpu_rt_runtime.is_some()
        || opts.cpu_idle.is_some()
        || opts.cpu_burst.is_some()
    {
        let mut c = match r.cpu() {
            Some(c) => c.clone(),
            None => literal("{}")?,
        };
        if let Some(v) = opts.cpu_shares {
            c.set_shares(Some(v));
        }
        if let Some(v) = opts.cpu_quota {
            c.set_quota(Some(v));
        }
        if let Some(v) = opts.cpu_period {
            c.set_period(Some(v));
        }
        if let Some(v) = &opts.cpuset_cpus {
            c.set_cpus(Some(v.clone()));
        }
        if let Some(v) = &opts.cpuset_mems {
            c.set_mems(Some(v.clone()));
        }
        if let Some(v) = opts.cpu_rt_period {
            c.set_realtime_period(Some(v));
        }
        if let Some(v) = opts.cpu_rt_runtime {
            c.set_realtime_runtime(Some(v));
        }
        if let Some(v) = opts.cpu_idle {
            c.set_idle(Some(v));
        }
        if let Some(v) = opts.cpu_burst {
            c.set_burst(Some(v));
        }
        r.set_cpu(Some(c));
    }
    Ok(())
}

/// The fields set in `new` replace those of `current`.
fn merge(current: &mut LinuxResources, new: &LinuxResources) {
    if new.block_io().is_some() {
        current.set_block_io(new.block_io().clone());
    }
    if let Some(m) = new.memory() {
        let mut c = (*current.memory()).unwrap_or_default();
        if m.limit().is_some() {
            c.set_limit(m.limit());
        }
        if m.reservation().is_some() {
            c.set_reservation(m.reservation());
        }
        if m.swap().is_some() {
            c.set_swap(m.swap());
        }
        current.set_memory(Some(c));
    }
    if let Some(n) = new.cpu() {
        let mut c = current.cpu().clone().unwrap_or_default();
        if n.shares().is_some() {
            c.set_shares(n.shares());
        }
        if n.quota().is_some() {
            c.set_quota(n.quota());
        }
        if n.period().is_some() {
            c.set_period(n.period());
        }
        if n.cpus().is_some() {
            c.set_cpus(n.cpus().clone());
        }
        if n.mems().is_some() {
            c.set_mems(n.mems().clone());
        }
        if n.idle().is_some() {
            c.set_idle(n.idle());
        }
        if n.realtime_period().is_some() {
            c.set_realtime_period(n.realtime_period());
        }
        if n.realtime_runtime().is_some() {
            c.set_realtime_runtime(n.realtime_runtime());
        }
        current.set_cpu(Some(c));
    }
    if let Some(p) = new.pids() {
        current.set_pids(Some(*p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_json() {
        let dir = std::env::temp_dir().join(format!("vrun-update-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("r.json");
        std::fs::write(
            &file,
            r#"{"memory": {"limit": 1000, "reservation": 500}, "pids": {"limit": 10}}"#,
        )
        .unwrap();
        let r = resources(&UpdateOptions {
            resources: Some(file),
            memory: Some("2k".into()),
            cpu_quota: Some(5000),
            ..Default::default()
        })
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(2048));
        assert_eq!(r.memory().as_ref().unwrap().reservation(), Some(500));
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(5000));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 10);
    }
}
