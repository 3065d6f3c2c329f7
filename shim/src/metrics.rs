//! A container's cgroup usage as containerd's cgroup v1 Metrics, for the Stats call (what
//! `crictl stats` and `ctr tasks metrics` show).
//!
//! vrun's cgroup crate gives the usage in runc's JSON (`vrun events --stats`); this maps its
//! fields onto containerd's messages: cgroup v1's Metrics (containerd-shim-protos' type), and
//! cgroup v2's (`io.containerd.cgroups.v2.Metrics`, containerd's cgroups/cgroup2/stats), which
//! containerd-shim-protos 0.10 lacks: encoded here, field by field (proto.rs).

use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryStat, Metrics, PidsStat, Throttle,
};
use containerd_shim::protos::protobuf::MessageField;
use serde_json::Value;

use crate::proto::Message;

pub const TYPE_URL_V1: &str = "io.containerd.cgroups.v1.Metrics";
pub const TYPE_URL_V2: &str = "io.containerd.cgroups.v2.Metrics";

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

/// cgroup v2's memory.stat keys, in the order of MemoryStat's fields 1 to 31.
const MEMORY_STAT_V2: [&str; 31] = [
    "anon",
    "file",
    "kernel_stack",
    "slab",
    "sock",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "anon_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "pgfault",
    "pgmajfault",
    "workingset_refault",
    "workingset_activate",
    "workingset_nodereclaim",
    "pgrefill",
    "pgscan",
    "pgsteal",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
];

/// runc's stats JSON (cgroup v2) as containerd's cgroup v2 Metrics, encoded: pids = 1,
/// cpu = 2, memory = 4, io = 6, hugetlb = 7 (cgroup2/stats/metrics.proto).
pub fn v2_from_stats(s: &Value) -> Vec<u8> {
    let mut pids = Message::default();
    pids.u64(1, u(s, &["pids", "current"]))
        .u64(2, u(s, &["pids", "limit"]));
    let ns_to_us = |path: &[&str]| u(s, path) / 1000;
    let mut cpu = Message::default();
    cpu.u64(1, ns_to_us(&["cpu", "usage", "total"]))
        .u64(2, ns_to_us(&["cpu", "usage", "user"]))
        .u64(3, ns_to_us(&["cpu", "usage", "kernel"]))
        .u64(4, u(s, &["cpu", "throttling", "periods"]))
        .u64(5, u(s, &["cpu", "throttling", "throttledPeriods"]))
        .u64(6, ns_to_us(&["cpu", "throttling", "throttledTime"]));
    let mut memory = Message::default();
    for (n, key) in MEMORY_STAT_V2.iter().enumerate() {
        memory.u64(n as u64 + 1, u(s, &["memory", "raw", key]));
    }
    memory
        .u64(32, u(s, &["memory", "usage", "usage"]))
        .u64(33, u(s, &["memory", "usage", "limit"]))
        .u64(34, u(s, &["memory", "swap", "usage"]))
        .u64(35, u(s, &["memory", "swap", "limit"]))
        .u64(36, u(s, &["memory", "usage", "max"]));
    let mut m = Message::default();
    m.message(1, pids).message(2, cpu).message(4, memory);
    m.message(6, io_v2(s));
    for (size, h) in s
        .get("hugetlb")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut e = Message::default();
        e.u64(1, u(h, &["usage"]))
            .u64(2, u(h, &["max"]))
            .bytes(3, size.as_bytes())
            .u64(4, u(h, &["failcnt"]));
        m.message(7, e);
    }
    m.0
}

/// IOStat: an IOEntry (major = 1, minor = 2, rbytes = 3, wbytes = 4, rios = 5, wios = 6) per
/// device of runc's blkio lists.
fn io_v2(s: &Value) -> Message {
    let mut devices: std::collections::BTreeMap<(u64, u64), [u64; 4]> = Default::default();
    for (list, base) in [("ioServiceBytesRecursive", 0), ("ioServicedRecursive", 2)] {
        for e in s
            .pointer(&format!("/blkio/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let slot = match e.get("op").and_then(Value::as_str) {
                Some("Read") => base,
                Some("Write") => base + 1,
                _ => continue,
            };
            let key = (u(e, &["major"]), u(e, &["minor"]));
            devices.entry(key).or_default()[slot] += u(e, &["value"]);
        }
    }
    let mut io = Message::default();
    for ((major, minor), [rbytes, wbytes, rios, wios]) in devices {
        let mut e = Message::default();
        e.u64(1, major)
            .u64(2, minor)
            .u64(3, rbytes)
            .u64(4, wbytes)
            .u64(5, rios)
            .u64(6, wios);
        io.message(1, e);
    }
    io
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

    /// Decoded back with the protobuf crate's reader, as containerd would read it.
    #[test]
    fn v2_stats_encode_as_containerd_reads_them() {
        use containerd_shim::protos::protobuf::CodedInputStream;
        let s = serde_json::json!({
            "cpu": {"usage": {"total": 7_000_000, "user": 5_000_000, "kernel": 2_000_000},
                    "throttling": {"periods": 3, "throttledPeriods": 1, "throttledTime": 9000}},
            "memory": {"usage": {"usage": 4096, "limit": 67108864, "max": 5000},
                       "swap": {"usage": 0, "limit": 0}, "raw": {"anon": 300, "inactive_file": 1024}},
            "pids": {"current": 2, "limit": 50},
            "blkio": {"ioServiceBytesRecursive": [{"major": 7, "minor": 0, "op": "Read", "value": 512}],
                      "ioServicedRecursive": [{"major": 7, "minor": 0, "op": "Read", "value": 1}]},
        });
        let bytes = super::v2_from_stats(&s);
        // top-level fields -> their bytes; then each sub-message's varints
        let fields = |b: &[u8]| {
            let mut input = CodedInputStream::from_bytes(b);
            let mut out = Vec::new();
            while let Ok(Some(tag)) = input.read_raw_tag_or_eof() {
                let v = match tag & 7 {
                    0 => input.read_uint64().map(|v| (v, Vec::new())),
                    _ => input.read_bytes().map(|b| (0, b)),
                };
                let Ok(v) = v else { break };
                out.push((tag >> 3, v));
            }
            out
        };
        let top = fields(&bytes);
        let sub = |n: u32| {
            top.iter()
                .find(|(f, _)| *f == n)
                .map(|(_, (_, b))| fields(b))
                .unwrap_or_default()
        };
        let val = |m: &[(u32, (u64, Vec<u8>))], n: u32| {
            m.iter().find(|(f, _)| *f == n).map(|(_, (v, _))| *v)
        };
        assert_eq!(val(&sub(1), 1), Some(2)); // pids.current
        assert_eq!(val(&sub(1), 2), Some(50)); // pids.limit
        assert_eq!(val(&sub(2), 1), Some(7000)); // cpu.usage_usec
        assert_eq!(val(&sub(2), 6), Some(9)); // cpu.throttled_usec
        assert_eq!(val(&sub(4), 1), Some(300)); // memory.anon
        assert_eq!(val(&sub(4), 13), Some(1024)); // memory.inactive_file
        assert_eq!(val(&sub(4), 32), Some(4096)); // memory.usage
        assert_eq!(val(&sub(4), 33), Some(67108864)); // memory.usage_limit
        let io = sub(6);
        let entry = io.first().map(|(_, (_, b))| fields(b)).unwrap_or_default();
        assert_eq!(
            (val(&entry, 1), val(&entry, 3), val(&entry, 5)),
            (Some(7), Some(512), Some(1))
        );
    }
}
