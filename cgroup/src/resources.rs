//! The checks of `linux.resources` made before anything exists, what a new cgroup directory
//! needs before a task can join it, and the device rule syntax of v1 (the writes themselves
//! are planned in `plan.rs`).

use std::path::Path;

use oci_spec::runtime::LinuxResources;

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
/// create may still be empty) and fills every empty level on the way down. A level whose
/// file cannot be read is above the hierarchy's root: the walk ends there. `just_made`: `dir`
/// was made a moment ago and is known empty.
pub(crate) fn v1_inherit_cpuset(dir: &Path, just_made: bool) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut empty = Vec::new();
        let mut at = Some(dir);
        if just_made {
            empty.push(dir);
            at = dir.parent();
        }
        let mut value = String::new();
        while let Some(d) = at {
            match std::fs::read_to_string(d.join(file)) {
                Ok(v) if !v.trim().is_empty() => {
                    value = v.trim().to_string();
                    break;
                }
                Ok(_) => empty.push(d),
                Err(_) => break,
            }
            at = d.parent();
        }
        for d in empty.iter().rev() {
            write(d, file, &value, file)?;
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

/// The first field of `linux.resources` that asks for a limit ("memory.limit",
/// "pids.limit", ...), for a container that would run without a cgroup of its own. Zeros,
/// negatives (unlimited), empty values and false are not limits (Docker's zeros, "pids": {});
/// device rules are left to the caller.
pub fn first_limit(r: &LinuxResources) -> Option<String> {
    fn walk(v: &serde_json::Value, path: &str) -> Option<String> {
        use serde_json::Value;
        match v {
            Value::Object(map) => map.iter().find_map(|(k, v)| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(v, &p)
            }),
            Value::Array(items) if !items.is_empty() => Some(path.to_string()),
            Value::Number(n) if n.as_f64().is_some_and(|f| f > 0.0) => Some(path.to_string()),
            Value::String(s) if !s.is_empty() => Some(path.to_string()),
            Value::Bool(true) => Some(path.to_string()),
            _ => None,
        }
    }
    let mut v = serde_json::to_value(r).ok()?;
    v.as_object_mut()?.remove("devices");
    walk(&v, "")
}

/// Checks `linux.resources` before anything is written: a clear error naming the field.
pub fn validate(r: &LinuxResources) -> Result<()> {
    crate::ebpf::validate(r.devices().as_deref().unwrap_or(&[]))?;
    if let Some(b) = r.block_io() {
        crate::blkio::validate(b)?;
    }
    if let Some(c) = r.cpu() {
        for (field, list) in [("cpus", c.cpus()), ("mems", c.mems())] {
            // An empty list leaves the file as it is.
            if let Some(list) = list.as_ref().filter(|l| !l.trim().is_empty()) {
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
    parse_list(list).map(drop)
}

/// The (first, last) ranges of a cpuset list ("0-3,5" is (0, 3), (5, 5)).
pub fn parse_list(list: &str) -> std::result::Result<Vec<(u32, u32)>, &'static str> {
    if list.trim().is_empty() {
        return Err("is empty");
    }
    list.trim()
        .split(',')
        .map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                (Ok(a), Ok(b)) if a <= b => Ok((a, b)),
                _ => Err("is not a list of numbers and ranges (e.g. 0-3,5)"),
            }
        })
        .collect()
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
    use super::*;

    #[test]
    fn cpuset_lists() {
        assert!(check_list("0-3,5,7-8").is_ok());
        assert!(check_list("2").is_ok());
        for bad in ["3-1", "0-x", "1,,2", "-1"] {
            assert!(check_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn first_limit_names_the_field_and_skips_what_is_not_one() {
        let r = |text: &str| serde_json::from_str::<LinuxResources>(text).unwrap();
        assert_eq!(
            first_limit(&r(r#"{"pids": {"limit": 10}}"#)).as_deref(),
            Some("pids.limit")
        );
        assert_eq!(
            first_limit(&r(
                r#"{"cpu": {"shares": 0, "quota": 0}, "memory": {"limit": 33554432}}"#
            ))
            .as_deref(),
            Some("memory.limit")
        );
        for none in [
            r#"{}"#,
            r#"{"pids": {"limit": -1}}"#,
            r#"{"cpu": {"shares": 0, "period": 0}, "pids": {}}"#,
            r#"{"devices": [{"allow": false, "access": "rwm"}]}"#,
        ] {
            assert_eq!(first_limit(&r(none)), None, "{none}");
        }
    }
}
