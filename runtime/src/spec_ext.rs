//! What config.json says that oci-spec 0.8 does not read, and the guarantee that nothing in
//! it is dropped without a word.
//!
//! - runtime-spec 1.2's per-mount `uidMappings`/`gidMappings` (idmapped mounts) and 1.3's
//!   `linux.intelRdt.schemata`/`enableMonitoring` are taken out of the JSON here and kept in
//!   [`Extensions`].
//! - `process.scheduler.flags` are spelled `SCHED_FLAG_RESET_ON_FORK`... in the spec; oci-spec
//!   expects `SCHED_RESET_ON_FORK` for the first, so that one is renamed before parsing.
//! - Whatever oci-spec then ignores (a field of a newer spec, a misspelt name) is listed by
//!   [`dropped_fields`] and warned about: the spec says a runtime must not fail on an
//!   unknown property, and vrun's rule is that it never ignores one silently.

use oci_spec::runtime::LinuxIdMapping;
use serde_json::Value;

/// An idmapped mount's own mappings (runtime-spec 1.2 `mounts[].uidMappings/gidMappings`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MountIdMap {
    pub uid: Vec<LinuxIdMapping>,
    pub gid: Vec<LinuxIdMapping>,
}

/// runtime-spec 1.3 Intel RDT fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RdtExtensions {
    pub schemata: Vec<String>,
    pub enable_monitoring: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Extensions {
    /// By index in `mounts`: the mappings given on that mount, if any.
    pub mount_idmaps: Vec<Option<MountIdMap>>,
    pub rdt: RdtExtensions,
}

/// Takes the extension fields out of `config` (so that the rest parses as oci-spec's Spec),
/// parsing them; errors name the field.
pub fn take(config: &mut Value) -> Result<Extensions, String> {
    let mut ext = Extensions::default();
    if let Some(mounts) = config.get_mut("mounts").and_then(Value::as_array_mut) {
        for (i, m) in mounts.iter_mut().enumerate() {
            let Some(obj) = m.as_object_mut() else {
                ext.mount_idmaps.push(None);
                continue;
            };
            let uid = obj.remove("uidMappings").filter(|v| !v.is_null());
            let gid = obj.remove("gidMappings").filter(|v| !v.is_null());
            let parse = |v: Option<Value>, name: &str| -> Result<Vec<LinuxIdMapping>, String> {
                match v {
                    None => Ok(Vec::new()),
                    Some(v) => {
                        serde_json::from_value(v).map_err(|e| format!("mounts[{i}].{name}: {e}"))
                    }
                }
            };
            let map = MountIdMap {
                uid: parse(uid, "uidMappings")?,
                gid: parse(gid, "gidMappings")?,
            };
            ext.mount_idmaps
                .push((map != MountIdMap::default()).then_some(map));
        }
    }
    if let Some(rdt) = config
        .get_mut("linux")
        .and_then(|l| l.get_mut("intelRdt"))
        .and_then(Value::as_object_mut)
    {
        if let Some(s) = rdt.remove("schemata").filter(|v| !v.is_null()) {
            ext.rdt.schemata =
                serde_json::from_value(s).map_err(|e| format!("linux.intelRdt.schemata: {e}"))?;
        }
        if let Some(m) = rdt.remove("enableMonitoring").filter(|v| !v.is_null()) {
            ext.rdt.enable_monitoring = m
                .as_bool()
                .ok_or("linux.intelRdt.enableMonitoring: not a boolean")?;
        }
    }
    Ok(ext)
}

/// The spec's `SCHED_FLAG_RESET_ON_FORK` in the spelling oci-spec 0.8 parses (it knows the
/// other six flags by the spec's names). `process` is a process object.
pub fn normalize_scheduler_flags(process: &mut Value) {
    let Some(flags) = process
        .get_mut("scheduler")
        .and_then(|s| s.get_mut("flags"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for f in flags {
        if f == "SCHED_FLAG_RESET_ON_FORK" {
            *f = Value::from("SCHED_RESET_ON_FORK");
        }
    }
}

/// The JSON paths of fields in `given` that are not in `kept` (the parsed spec serialized
/// again): what the parser did not read. Nulls count as absent. Arrays are compared element
/// by element only when their lengths agree (vrun itself drops unknown capability names,
/// with a warning of its own).
pub fn dropped_fields(given: &Value, kept: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(given, kept, "", &mut out);
    out
}

fn walk(given: &Value, kept: &Value, path: &str, out: &mut Vec<String>) {
    match (given, kept) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                if value.is_null() {
                    continue;
                }
                let p = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match b.get(key) {
                    None => out.push(p),
                    Some(k) => walk(value, k, &p, out),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mount_mappings_and_rdt_fields_are_taken_out() {
        let mut c = json!({
            "mounts": [
                {"destination": "/a", "options": ["idmap"],
                 "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
                {"destination": "/b"}
            ],
            "linux": {"intelRdt": {"closID": "x", "schemata": ["L3:0=f"], "enableMonitoring": true}}
        });
        let ext = take(&mut c).unwrap();
        assert_eq!(ext.mount_idmaps.len(), 2);
        assert_eq!(ext.mount_idmaps[0].as_ref().unwrap().uid[0].host_id(), 1000);
        assert!(ext.mount_idmaps[1].is_none());
        assert_eq!(ext.rdt.schemata, vec!["L3:0=f"]);
        assert!(ext.rdt.enable_monitoring);
        assert!(c["mounts"][0].get("uidMappings").is_none());
        assert!(c["linux"]["intelRdt"].get("schemata").is_none());
    }

    #[test]
    fn dropped_fields_are_named_by_path() {
        let given = json!({"a": 1, "b": {"c": 2, "d": null, "e": 3}, "l": [{"x": 1, "y": 2}]});
        let kept = json!({"a": 1, "b": {"c": 2}, "l": [{"x": 1}]});
        assert_eq!(dropped_fields(&given, &kept), vec!["b.e", "l[0].y"]);
    }
}
