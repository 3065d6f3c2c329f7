//! A container's cgroup usage as containerd's cgroup v1 Metrics, for the Stats call (what
//! `crictl stats` and `ctr tasks metrics` show).
//!
//! vrun's cgroup crate gives the usage in runc's JSON (`vrun events --stats`); this maps its
//! fields onto containerd's message. containerd-shim-protos 0.10 has no cgroup v2 Metrics
//! message: on a v2 host Stats is refused by name (see service.rs).

use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryStat, Metrics, PidsStat, Throttle,
};
use containerd_shim::protos::protobuf::MessageField;
use serde_json::Value;

pub const TYPE_URL_V1: &str = "io.containerd.cgroups.v1.Metrics";

fn u(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn entry(v: &Value, key: &str) -> MessageField<MemoryEntry> {
    match v.get("memory").and_then(|m| m.get(key)) {
        Some(e) if e.as_object().is_some_and(|o| !o.is_empty()) => {
            MessageField::some(MemoryEntry {
                limit: u(e, &["limit"]),
                usage: u(e, &["usage"]),
                max: u(e, &["max"]),
                failcnt: u(e, &["failcnt"]),
                ..Default::default()
            })
        }
        _ => MessageField::none(),
    }
}

/// runc's stats JSON (cgroup v1) as containerd's Metrics.
pub fn from_stats(s: &Value) -> Metrics {
    let raw = |k: &str| u(s, &["memory", "raw", k]);
    let percpu = s
        .pointer("/cpu/usage/percpu")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    Metrics {
        cpu: MessageField::some(CPUStat {
            usage: MessageField::some(CPUUsage {
                total: u(s, &["cpu", "usage", "total"]),
                kernel: u(s, &["cpu", "usage", "kernel"]),
                user: u(s, &["cpu", "usage", "user"]),
                per_cpu: percpu,
                ..Default::default()
            }),
            throttling: MessageField::some(Throttle {
                periods: u(s, &["cpu", "throttling", "periods"]),
                throttled_periods: u(s, &["cpu", "throttling", "throttledPeriods"]),
                throttled_time: u(s, &["cpu", "throttling", "throttledTime"]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        memory: MessageField::some(MemoryStat {
            cache: raw("cache"),
            rss: raw("rss"),
            mapped_file: raw("mapped_file"),
            inactive_file: raw("inactive_file"),
            active_file: raw("active_file"),
            total_cache: raw("total_cache"),
            total_rss: raw("total_rss"),
            total_inactive_file: raw("total_inactive_file"),
            total_active_file: raw("total_active_file"),
            total_inactive_anon: raw("total_inactive_anon"),
            total_active_anon: raw("total_active_anon"),
            total_pg_fault: raw("total_pgfault"),
            total_pg_maj_fault: raw("total_pgmajfault"),
            hierarchical_memory_limit: raw("hierarchical_memory_limit"),
            usage: entry(s, "usage"),
            swap: entry(s, "swap"),
            kernel: entry(s, "kernel"),
            kernel_tcp: entry(s, "kernelTCP"),
            ..Default::default()
        }),
        pids: MessageField::some(PidsStat {
            current: u(s, &["pids", "current"]),
            limit: u(s, &["pids", "limit"]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn runc_json_maps_onto_containerd_metrics() {
        let s = serde_json::json!({
            "cpu": {"usage": {"total": 5, "percpu": [2, 3], "kernel": 1, "user": 4}},
            "memory": {"usage": {"usage": 4096, "limit": 8192, "max": 5000, "failcnt": 0},
                       "swap": {}, "raw": {"total_inactive_file": 1024, "total_rss": 2048}},
            "pids": {"current": 2, "limit": 0}
        });
        let m = super::from_stats(&s);
        assert_eq!(m.cpu.usage.total, 5);
        assert_eq!(m.cpu.usage.per_cpu, vec![2, 3]);
        assert_eq!(m.memory.usage.usage, 4096);
        assert_eq!(m.memory.usage.limit, 8192);
        assert!(m.memory.swap.is_none());
        assert_eq!(m.memory.total_inactive_file, 1024);
        assert_eq!(m.pids.current, 2);
    }
}
