//! `linux.resources.blockIO`, the virtual disk's bandwidth: blkio.* on v1, io.weight/io.max on
//! v2 (weights converted as runc does).

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::error::{Error, Result};
use crate::plan::Plan;

const FIELD: &str = "linux.resources.blockIO";

fn check_weight(field: &str, w: Option<u16>) -> Result<()> {
    match w {
        Some(w) if w != 0 && !(10..=1000).contains(&w) => Err(Error::Invalid(format!(
            "{FIELD}.{field}: {w} is outside 10..1000"
        ))),
        _ => Ok(()),
    }
}

pub fn validate(b: &LinuxBlockIo) -> Result<()> {
    check_weight("weight", b.weight())?;
    check_weight("leafWeight", b.leaf_weight())?;
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        check_weight(&format!("weightDevice[{i}].weight"), d.weight())?;
        check_weight(&format!("weightDevice[{i}].leafWeight"), d.leaf_weight())?;
        if d.major() < 0 || d.minor() < 0 {
            return Err(Error::Invalid(format!(
                "{FIELD}.weightDevice[{i}]: negative major or minor"
            )));
        }
    }
    for (name, list) in throttles(b) {
        for (i, d) in list.iter().enumerate() {
            if d.major() < 0 || d.minor() < 0 {
                return Err(Error::Invalid(format!(
                    "{FIELD}.{name}[{i}]: negative major or minor"
                )));
            }
        }
    }
    Ok(())
}

/// (config field, v1 file, v2 io.max key, devices)
fn throttles(b: &LinuxBlockIo) -> [(&'static str, &[LinuxThrottleDevice]); 4] {
    fn l(v: &Option<Vec<LinuxThrottleDevice>>) -> &[LinuxThrottleDevice] {
        v.as_deref().unwrap_or(&[])
    }
    [
        ("throttleReadBpsDevice", l(b.throttle_read_bps_device())),
        ("throttleWriteBpsDevice", l(b.throttle_write_bps_device())),
        ("throttleReadIOPSDevice", l(b.throttle_read_iops_device())),
        ("throttleWriteIOPSDevice", l(b.throttle_write_iops_device())),
    ]
}

const V1_THROTTLE: [&str; 4] = [
    "blkio.throttle.read_bps_device",
    "blkio.throttle.write_bps_device",
    "blkio.throttle.read_iops_device",
    "blkio.throttle.write_iops_device",
];
const V2_KEYS: [&str; 4] = ["rbps", "wbps", "riops", "wiops"];

/// The first of `files` this kernel has (the weight files depend on the I/O scheduler).
fn first_existing<'a>(dir: &Path, files: &[&'a str], field: &str) -> Result<&'a str> {
    files
        .iter()
        .copied()
        .find(|f| dir.join(f).exists())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{FIELD}.{field}: this kernel has none of {} (no I/O scheduler with weights)",
                files.join(", ")
            ))
        })
}

/// Whether the blockIO object sets anything (a zero weight sets nothing).
pub(crate) fn has_settings(b: &LinuxBlockIo) -> bool {
    b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|d| !d.is_empty())
        || throttles(b).iter().any(|(_, l)| !l.is_empty())
}

pub(crate) fn plan_v1(dir: &Path, b: &LinuxBlockIo, plan: &mut Plan) -> Result<()> {
    let field = |f: &str| format!("{FIELD}.{f}");
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let file = first_existing(dir, &["blkio.weight", "blkio.bfq.weight"], "weight")?;
        plan.add(dir, file, w, field("weight"));
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        let file = first_existing(dir, &["blkio.leaf_weight"], "leafWeight")?;
        plan.add(dir, file, w, field("leafWeight"));
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if let Some(w) = d.weight() {
            let file = first_existing(
                dir,
                &["blkio.weight_device", "blkio.bfq.weight_device"],
                "weightDevice",
            )?;
            plan.add(
                dir,
                file,
                format!("{}:{} {w}", d.major(), d.minor()),
                field(&format!("weightDevice[{i}]")),
            );
        }
        if let Some(w) = d.leaf_weight() {
            let file = first_existing(
                dir,
                &["blkio.leaf_weight_device"],
                "weightDevice.leafWeight",
            )?;
            plan.add(
                dir,
                file,
                format!("{}:{} {w}", d.major(), d.minor()),
                field(&format!("weightDevice[{i}].leafWeight")),
            );
        }
    }
    for ((name, list), file) in throttles(b).into_iter().zip(V1_THROTTLE) {
        for (i, d) in list.iter().enumerate() {
            plan.add(
                dir,
                file,
                format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                field(&format!("{name}[{i}]")),
            );
        }
    }
    Ok(())
}

/// blkio weight (10..1000) to io.weight (1..10000).
pub fn weight_to_v2(w: u16) -> u64 {
    1 + (w as u64 - 10) * 9999 / 990
}

/// io.max lines, one per device: "maj:min rbps=N wbps=N riops=N wiops=N" with the keys set.
pub fn io_max_lines(b: &LinuxBlockIo) -> Vec<String> {
    let mut per_device: BTreeMap<(i64, i64), Vec<String>> = BTreeMap::new();
    for ((_, list), key) in throttles(b).into_iter().zip(V2_KEYS) {
        for d in list {
            per_device
                .entry((d.major(), d.minor()))
                .or_default()
                .push(format!("{key}={}", d.rate()));
        }
    }
    per_device
        .into_iter()
        .map(|((maj, min), keys)| format!("{maj}:{min} {}", keys.join(" ")))
        .collect()
}

pub(crate) fn plan_v2(dir: &Path, b: &LinuxBlockIo, plan: &mut Plan) -> Result<()> {
    if b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some())
    {
        return Err(Error::Invalid(format!(
            "{FIELD}.leafWeight: cgroup v2 has no leaf weights"
        )));
    }
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            plan.add(dir, "io.bfq.weight", w, format!("{FIELD}.weight"));
        } else {
            plan.add(
                dir,
                first_existing(dir, &["io.weight"], "weight")?,
                format!("default {}", weight_to_v2(w)),
                format!("{FIELD}.weight"),
            );
        }
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if let Some(w) = d.weight() {
            let (file, value) = if bfq {
                ("io.bfq.weight", w as u64)
            } else {
                ("io.weight", weight_to_v2(w))
            };
            plan.add(
                dir,
                file,
                format!("{}:{} {value}", d.major(), d.minor()),
                format!("{FIELD}.weightDevice[{i}]"),
            );
        }
    }
    for line in io_max_lines(b) {
        plan.add(dir, "io.max", line, format!("{FIELD} throttles"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blkio(json: &str) -> LinuxBlockIo {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn weights_convert_to_v2() {
        assert_eq!(weight_to_v2(10), 1);
        assert_eq!(weight_to_v2(500), 4950);
        assert_eq!(weight_to_v2(1000), 10000);
    }

    #[test]
    fn throttles_become_one_io_max_line_per_device() {
        let b = blkio(
            r#"{"throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}], "throttleWriteIOPSDevice": [{"major": 7, "minor": 0, "rate": 100}, {"major": 8, "minor": 16, "rate": 5}]}"#,
        );
        assert_eq!(
            io_max_lines(&b),
            vec!["7:0 rbps=1048576 wiops=100", "8:16 wiops=5"]
        );
    }

    #[test]
    fn out_of_range_weights_name_the_field() {
        assert_eq!(
            validate(&blkio(r#"{"weight": 5}"#))
                .unwrap_err()
                .to_string(),
            "linux.resources.blockIO.weight: 5 is outside 10..1000"
        );
        let err = validate(&blkio(
            r#"{"weightDevice": [{"major": 8, "minor": 0, "weight": 2000}]}"#,
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.resources.blockIO.weightDevice[0].weight: 2000 is outside 10..1000"
        );
        assert!(validate(&blkio(r#"{"weight": 500}"#)).is_ok());
    }
}
