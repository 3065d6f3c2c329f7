use std::path::PathBuf;

use vrun_runtime::lifecycle::UpdateOptions;

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// A linux.resources JSON file, or - for stdin; the flags below override its fields.
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for none).
    #[arg(short, long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPU shares (relative weight); runc spells it --cpu-share.
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPU time per period, in microseconds (-1 for none).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU period, in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU burst: time a period may borrow from unused quota, in microseconds.
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    /// CPUs to run on (e.g. 0-3,5).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to allocate from (e.g. 0-1).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 for none).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block I/O weight (10..1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Realtime period, in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime, in microseconds.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// 1: SCHED_IDLE for the cgroup.
    #[arg(long = "cpu-idle")]
    pub cpu_idle: Option<i64>,
    /// Kernel memory limit (warned about where the kernel dropped it).
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP buffer memory limit.
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Intel RDT L3 cache schema (refused: vrun does not apply Intel RDT).
    #[arg(long = "l3-cache-schema", value_name = "SCHEMA")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (refused: vrun does not apply Intel RDT).
    #[arg(long = "mem-bw-schema", value_name = "SCHEMA")]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    let opts = UpdateOptions {
        resources: a.resources,
        memory: a.memory,
        memory_reservation: a.memory_reservation,
        memory_swap: a.memory_swap,
        cpu_shares: a.cpu_shares,
        cpu_quota: a.cpu_quota,
        cpu_period: a.cpu_period,
        cpuset_cpus: a.cpuset_cpus,
        cpuset_mems: a.cpuset_mems,
        pids_limit: a.pids_limit,
        blkio_weight: a.blkio_weight,
        cpu_rt_period: a.cpu_rt_period,
        cpu_rt_runtime: a.cpu_rt_runtime,
        cpu_idle: a.cpu_idle,
        cpu_burst: a.cpu_burst,
        l3_cache_schema: a.l3_cache_schema,
        mem_bw_schema: a.mem_bw_schema,
        kernel_memory: a.kernel_memory,
        kernel_memory_tcp: a.kernel_memory_tcp,
    };
    vrun_runtime::Runtime::new(&g.root)
        .container(&a.id)?
        .update(&opts)?;
    Ok(0)
}
