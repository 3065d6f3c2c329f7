//! Resource usage as runc's `events` reports it (the JSON of runc's `types.Stats`, which
//! containerd and podman read): cpu, memory, pids, blkio and hugetlb, from the v1 or v2 files.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::{Cgroup, Version};

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

fn num(dir: &Path, file: &str) -> u64 {
    read(dir, file)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// A "max" file: 0 for no limit, as runc reports it.
fn limit(dir: &Path, file: &str) -> u64 {
    read(dir, file)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// "key value" lines (memory.stat, cpu.stat, memory.events).
fn flat_keyed(dir: &Path, file: &str) -> BTreeMap<String, u64> {
    read(dir, file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// Drops the zero numbers and empty objects/arrays, as Go's `omitempty` does in runc's JSON.
fn omit_empty(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, omit_empty(v)))
                .filter(|(k, v)| {
                    // these fields have no omitempty in runc
                    matches!(k.as_str(), "kernel" | "user" | "limit" | "failcnt")
                        || !(v.as_u64() == Some(0)
                            || v.as_object().is_some_and(Map::is_empty)
                            || v.as_array().is_some_and(Vec::is_empty))
                })
                .collect(),
        ),
        other => other,
    }
}

impl Cgroup {
    /// The current usage, in runc's JSON.
    pub fn stats(&self) -> Value {
        let stats = match self.version {
            Version::V1 => self.stats_v1(),
            Version::V2 => self.stats_v2(),
        };
        omit_empty(stats)
    }

    fn stats_v1(&self) -> Value {
        let mut out = json!({});
        if let Some(d) = self.dir_of("cpuacct") {
            let percpu: Vec<u64> = read(d, "cpuacct.usage_percpu")
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            let st = flat_keyed(d, "cpuacct.stat");
            // cpuacct.stat is in clock ticks (USER_HZ, 100 on Linux)
            let ns = |k: &str| st.get(k).copied().unwrap_or(0) * 10_000_000;
            out["cpu"]["usage"] = json!({"total": num(d, "cpuacct.usage"), "percpu": percpu, "kernel": ns("system"), "user": ns("user")});
        }
        if let Some(d) = self.dir_of("cpu") {
            let st = flat_keyed(d, "cpu.stat");
            let g = |k: &str| st.get(k).copied().unwrap_or(0);
            out["cpu"]["throttling"] = json!({"periods": g("nr_periods"), "throttledPeriods": g("nr_throttled"), "throttledTime": g("throttled_time")});
        }
        if let Some(d) = self.dir_of("memory") {
            let entry = |prefix: &str| {
                json!({
                    "limit": limit(d, &format!("{prefix}.limit_in_bytes")),
                    "usage": num(d, &format!("{prefix}.usage_in_bytes")),
                    "max": num(d, &format!("{prefix}.max_usage_in_bytes")),
                    "failcnt": num(d, &format!("{prefix}.failcnt")),
                })
            };
            let raw = flat_keyed(d, "memory.stat");
            out["memory"] = json!({
                "cache": raw.get("total_cache").or(raw.get("cache")).copied().unwrap_or(0),
                "usage": entry("memory"),
                "swap": if d.join("memory.memsw.usage_in_bytes").exists() { entry("memory.memsw") } else { json!({}) },
                "kernel": if d.join("memory.kmem.usage_in_bytes").exists() { entry("memory.kmem") } else { json!({}) },
                "kernelTCP": if d.join("memory.kmem.tcp.usage_in_bytes").exists() { entry("memory.kmem.tcp") } else { json!({}) },
                "raw": raw,
            });
        }
        if let Some(d) = self.dir_of("pids") {
            out["pids"] = json!({"current": num(d, "pids.current"), "limit": limit(d, "pids.max")});
        }
        if let Some(d) = self.dir_of("blkio") {
            let entries = |file: &str| -> Vec<Value> {
                read(d, file)
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        let (maj, min) = f.first()?.split_once(':')?;
                        if f.len() != 3 {
                            return None; // the "Total" line
                        }
                        let (maj, min, value) = (
                            maj.parse::<u64>().ok()?,
                            min.parse::<u64>().ok()?,
                            f[2].parse::<u64>().ok()?,
                        );
                        Some(json!({"major": maj, "minor": min, "op": f[1], "value": value}))
                    })
                    .collect()
            };
            out["blkio"] = json!({
                "ioServiceBytesRecursive": entries("blkio.throttle.io_service_bytes_recursive"),
                "ioServicedRecursive": entries("blkio.throttle.io_serviced_recursive"),
            });
        }
        out["hugetlb"] = self.hugetlb(|d, size| {
            let p = format!("hugetlb.{size}");
            json!({"usage": num(d, &format!("{p}.usage_in_bytes")), "max": num(d, &format!("{p}.max_usage_in_bytes")), "failcnt": num(d, &format!("{p}.failcnt"))})
        });
        out
    }

    fn stats_v2(&self) -> Value {
        let Some((_, d)) = self.dirs.first() else {
            return json!({});
        };
        let d = d.as_path();
        let cpu = flat_keyed(d, "cpu.stat");
        let c = |k: &str| cpu.get(k).copied().unwrap_or(0);
        let raw = flat_keyed(d, "memory.stat");
        let events = flat_keyed(d, "memory.events");
        let mut io_bytes = Vec::new();
        let mut io_ops = Vec::new();
        for line in read(d, "io.stat").unwrap_or_default().lines() {
            let mut f = line.split_whitespace();
            let Some((maj, min)) = f.next().and_then(|dev| dev.split_once(':')) else {
                continue;
            };
            let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
                continue;
            };
            for kv in f {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let Ok(v) = v.parse::<u64>() else { continue };
                match k {
                    "rbytes" => {
                        io_bytes.push(json!({"major": maj, "minor": min, "op": "Read", "value": v}))
                    }
                    "wbytes" => io_bytes
                        .push(json!({"major": maj, "minor": min, "op": "Write", "value": v})),
                    "rios" => {
                        io_ops.push(json!({"major": maj, "minor": min, "op": "Read", "value": v}))
                    }
                    "wios" => {
                        io_ops.push(json!({"major": maj, "minor": min, "op": "Write", "value": v}))
                    }
                    _ => {}
                }
            }
        }
        json!({
            "cpu": {
                "usage": {"total": c("usage_usec") * 1000, "kernel": c("system_usec") * 1000, "user": c("user_usec") * 1000},
                "throttling": {"periods": c("nr_periods"), "throttledPeriods": c("nr_throttled"), "throttledTime": c("throttled_usec") * 1000},
            },
            "memory": {
                "cache": raw.get("file").copied().unwrap_or(0),
                "usage": {"limit": limit(d, "memory.max"), "usage": num(d, "memory.current"), "max": num(d, "memory.peak"), "failcnt": events.get("max").copied().unwrap_or(0)},
                "swap": {"limit": limit(d, "memory.swap.max"), "usage": num(d, "memory.swap.current"), "failcnt": 0},
                "raw": raw,
            },
            "pids": {"current": num(d, "pids.current"), "limit": limit(d, "pids.max")},
            "blkio": {"ioServiceBytesRecursive": io_bytes, "ioServicedRecursive": io_ops},
            "hugetlb": self.hugetlb(|d, size| {
                let p = format!("hugetlb.{size}");
                json!({"usage": num(d, &format!("{p}.current")), "max": num(d, &format!("{p}.max")), "failcnt": flat_keyed(d, &format!("{p}.events")).get("max").copied().unwrap_or(0)})
            }),
        })
    }

    /// One entry per huge page size the hugetlb controller shows ("2MB", "1GB").
    fn hugetlb(&self, entry: impl Fn(&Path, &str) -> Value) -> Value {
        let Some(d) = self.dir_of("hugetlb") else {
            return json!({});
        };
        let mut out = Map::new();
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(size) = name.strip_prefix("hugetlb.").and_then(|r| {
                r.strip_suffix(".limit_in_bytes")
                    .or_else(|| r.strip_suffix(".max"))
            }) {
                out.insert(size.to_string(), entry(d, size));
            }
        }
        Value::Object(out)
    }

    /// How many times the OOM killer acted in the cgroup (memory.oom_control's oom_kill on v1,
    /// memory.events on v2): `events` reports an "oom" event when it grows.
    pub fn oom_kills(&self) -> u64 {
        match self.version {
            Version::V1 => self
                .dir_of("memory")
                .map(|d| {
                    flat_keyed(d, "memory.oom_control")
                        .get("oom_kill")
                        .copied()
                        .unwrap_or(0)
                })
                .unwrap_or(0),
            Version::V2 => self
                .dirs
                .first()
                .map(|(_, d)| {
                    flat_keyed(d, "memory.events")
                        .get("oom_kill")
                        .copied()
                        .unwrap_or(0)
                })
                .unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omit_empty_is_gos_omitempty() {
        let v = omit_empty(
            json!({"cpu": {"usage": {"total": 0, "kernel": 0, "percpu": []}}, "pids": {"current": 3, "limit": 0}, "hugetlb": {}}),
        );
        assert_eq!(
            v,
            json!({"cpu": {"usage": {"kernel": 0}}, "pids": {"current": 3, "limit": 0}})
        );
    }
}
