//! The systemd cgroup driver (`--systemd-cgroup`, cgroupsPath `slice:prefix:name`), as runc
//! drives it: the container's cgroup is a transient scope unit, `prefix-name.scope` in the
//! slice, started through systemd's D-Bus API (StartTransientUnit, with Delegate=yes and
//! init's pid), its main limits given as unit properties (so that `systemctl show` and
//! systemd's own accounting agree with the files), the rest written to the scope's files by
//! the cgroupfs code. `delete` stops the unit; systemd removes the cgroup.
//!
//! D-Bus through zbus's blocking API: a well-kept implementation of the protocol, where
//! runc links go-systemd and godbus. Every call has a bound (systemd's own method timeout,
//! and `wait_active`'s).

use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use zbus::blocking::Connection;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use crate::convert::shares_to_weight;
use crate::error::{Error, Result};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const UNIT: &str = "org.freedesktop.systemd1.Unit";

/// A container's unit: its name, its slice, and which systemd runs it (the system's, or the
/// user's own manager for a rootless caller).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Unit {
    pub name: String,
    pub slice: String,
    #[serde(default)]
    pub user: bool,
}

impl Unit {
    /// From cgroupsPath's parts: `prefix-name.scope` (or `name.scope` without a prefix) in
    /// `slice`, or the slice `name` itself when it ends in ".slice" (runc's rule); an empty
    /// slice is system.slice, or user.slice under the user's manager.
    pub fn new(slice: &str, prefix: &str, name: &str, user: bool) -> Result<Unit> {
        let slice = match slice {
            "" if user => "user.slice",
            "" => "system.slice",
            s => s,
        };
        expand_slice(slice)?;
        if name.is_empty() || name.contains('/') {
            return Err(Error::Invalid(format!(
                "linux.cgroupsPath: {name:?} is not a unit name (slice:prefix:name)"
            )));
        }
        let name = if name.ends_with(".slice") {
            name.to_string()
        } else if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        Ok(Unit {
            name,
            slice: slice.to_string(),
            user,
        })
    }

    /// Where the system manager puts it, relative to the hierarchy's root:
    /// `/system.slice/vrun-c1.scope`. (The user's manager nests it under its own cgroup,
    /// which only it knows: see [`Unit::control_group`].)
    pub fn expected_path(&self) -> Result<String> {
        let slice = expand_slice(&self.slice)?;
        Ok(format!("{}/{}", slice.trim_end_matches('/'), self.name))
    }

    fn connect(&self) -> Result<Connection> {
        let conn = if self.user {
            Connection::session()
        } else {
            Connection::system()
        };
        conn.map_err(|e| {
            let bus = if self.user { "the user's session bus" } else { "the system bus" };
            Error::Invalid(format!(
                "--systemd-cgroup: cannot reach systemd on {bus}: {e} (is systemd running, and D-Bus?)"
            ))
        })
    }

    /// StartTransientUnit with `pid` in it and `properties`, then waits until it is active.
    pub fn start(&self, pid: i32, properties: Vec<(String, OwnedValue)>) -> Result<()> {
        let conn = self.connect()?;
        let mut props: Vec<(String, Value)> = vec![
            (
                "Description".into(),
                Value::from(format!("vrun container {}", self.name)),
            ),
            ("Delegate".into(), Value::from(true)),
            ("PIDs".into(), Value::from(vec![pid as u32])),
            ("DefaultDependencies".into(), Value::from(false)),
            ("MemoryAccounting".into(), Value::from(true)),
            ("CPUAccounting".into(), Value::from(true)),
            ("IOAccounting".into(), Value::from(true)),
            ("TasksAccounting".into(), Value::from(true)),
        ];
        if !self.name.ends_with(".slice") {
            props.push(("Slice".into(), Value::from(self.slice.clone())));
        }
        props.extend(properties.into_iter().map(|(k, v)| (k, Value::from(v))));
        let aux: Vec<(String, Vec<(String, Value)>)> = Vec::new();
        call(
            &conn,
            MANAGER,
            PATH,
            "StartTransientUnit",
            &(self.name.as_str(), "replace", props, aux),
        )
        .map_err(|e| self.failed("start", e))?;
        self.wait_active(&conn)
    }

    /// Until the unit is active (a scope is once systemd has moved the pids in), at most 30 s.
    fn wait_active(&self, conn: &Connection) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut pause = Duration::from_micros(200);
        loop {
            let state = self
                .property_string(conn, "ActiveState")
                .unwrap_or_default();
            match state.as_str() {
                "active" => return Ok(()),
                "failed" => {
                    return Err(Error::Invalid(format!(
                        "systemd unit {}: failed to start (see `journalctl -u {}`)",
                        self.name, self.name
                    )))
                }
                _ if Instant::now() > deadline => {
                    return Err(Error::Invalid(format!(
                        "systemd unit {}: not active after 30 s (state {state:?})",
                        self.name
                    )))
                }
                _ => std::thread::sleep(pause),
            }
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// The unit's cgroup, relative to the hierarchy's root (the ControlGroup property of
    /// its Scope or Slice interface).
    pub fn control_group(&self) -> Result<String> {
        let conn = self.connect()?;
        let iface = if self.name.ends_with(".slice") {
            "org.freedesktop.systemd1.Slice"
        } else {
            "org.freedesktop.systemd1.Scope"
        };
        self.property_of(&conn, iface, "ControlGroup")
    }

    fn property_string(&self, conn: &Connection, name: &str) -> Result<String> {
        self.property_of(conn, UNIT, name)
    }

    fn property_of(&self, conn: &Connection, iface: &str, name: &str) -> Result<String> {
        let path: OwnedObjectPath = call(conn, MANAGER, PATH, "GetUnit", &(self.name.as_str(),))
            .and_then(|m| m.body().deserialize())
            .map_err(|e| self.failed("find", e))?;
        let value: OwnedValue = call(
            conn,
            "org.freedesktop.DBus.Properties",
            path.as_str(),
            "Get",
            &(iface, name),
        )
        .and_then(|m| m.body().deserialize())
        .map_err(|e| self.failed(&format!("read {name} of"), e))?;
        String::try_from(value)
            .map_err(|e| Error::Invalid(format!("systemd unit {}: {name}: {e}", self.name)))
    }

    /// AttachProcessesToUnit: `pid` (a process of the caller's) into the unit's cgroup, where
    /// the caller itself may not write (`exec` of a rootless container).
    pub fn attach(&self, pid: i32) -> Result<()> {
        let conn = self.connect()?;
        call(
            &conn,
            MANAGER,
            PATH,
            "AttachProcessesToUnit",
            &(self.name.as_str(), "", vec![pid as u32]),
        )
        .map(drop)
        .map_err(|e| self.failed(&format!("add pid {pid} to"), e))
    }

    /// SetUnitProperties (runtime): `update`.
    pub fn set_properties(&self, properties: Vec<(String, OwnedValue)>) -> Result<()> {
        if properties.is_empty() {
            return Ok(());
        }
        let conn = self.connect()?;
        let props: Vec<(String, Value)> = properties
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect();
        call(
            &conn,
            MANAGER,
            PATH,
            "SetUnitProperties",
            &(self.name.as_str(), true, props),
        )
        .map(drop)
        .map_err(|e| self.failed("set the properties of", e))
    }

    /// StopUnit, and waits until it is gone (systemd removes the cgroup); a unit that is
    /// already gone is no error.
    pub fn stop(&self) -> Result<()> {
        let conn = self.connect()?;
        match call(
            &conn,
            MANAGER,
            PATH,
            "StopUnit",
            &(self.name.as_str(), "replace"),
        ) {
            Ok(_) => {}
            Err(e) if is_no_such_unit(&e) => return Ok(()),
            Err(e) => return Err(self.failed("stop", e)),
        }
        let _ = call(
            &conn,
            MANAGER,
            PATH,
            "ResetFailedUnit",
            &(self.name.as_str(),),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.property_string(&conn, "ActiveState") {
                Ok(s) if s == "active" || s == "deactivating" => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => return Ok(()),
            }
        }
        Err(Error::Invalid(format!(
            "systemd unit {}: still there 30 s after StopUnit",
            self.name
        )))
    }

    fn failed(&self, what: &str, e: zbus::Error) -> Error {
        Error::Invalid(format!("systemd: {what} unit {}: {e}", self.name))
    }
}

fn call<B>(
    conn: &Connection,
    iface: &str,
    path: &str,
    method: &str,
    body: &B,
) -> zbus::Result<zbus::Message>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    conn.call_method(Some(DEST), path, Some(iface), method, body)
}

fn is_no_such_unit(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::MethodError(name, _, _)
        if name.as_str() == "org.freedesktop.systemd1.NoSuchUnit")
}

/// A slice's cgroup path, as systemd nests them: "a-b-c.slice" is
/// "/a.slice/a-b.slice/a-b-c.slice", "-.slice" the root.
pub fn expand_slice(slice: &str) -> Result<String> {
    let bad = || {
        Error::Invalid(format!(
            "linux.cgroupsPath: {slice:?} is not a slice name (NAME.slice)"
        ))
    };
    let base = slice
        .strip_suffix(".slice")
        .filter(|b| !b.is_empty())
        .ok_or_else(bad)?;
    if slice.contains('/') {
        return Err(bad());
    }
    if base == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in base.split('-') {
        if part.is_empty() {
            return Err(bad());
        }
        path.push_str(&format!("/{prefix}{part}.slice"));
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(path)
}

/// The unit properties for `linux.resources` (the files get the exact values after):
/// MemoryMax, MemoryLow, MemorySwapMax, CPUWeight, CPUQuotaPerSecUSec and
/// CPUQuotaPeriodUSec, AllowedCPUs, AllowedMemoryNodes, TasksMax, IOWeight.
pub fn properties(r: &LinuxResources) -> Result<Vec<(String, OwnedValue)>> {
    let mut props: Vec<(String, OwnedValue)> = Vec::new();
    let mut put = |k: &str, v: Value| -> Result<()> {
        let v = OwnedValue::try_from(v)
            .map_err(|e| Error::Invalid(format!("systemd property {k}: {e}")))?;
        props.push((k.to_string(), v));
        Ok(())
    };
    let limit = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit().filter(|l| *l != 0) {
            put("MemoryMax", Value::U64(limit(l)))?;
        }
        if let Some(l) = m.reservation().filter(|l| *l != 0) {
            put("MemoryLow", Value::U64(limit(l)))?;
        }
        if let Some(s) = m.swap().filter(|s| *s != 0) {
            // memory+swap in the config, swap alone for systemd (as on v2's files)
            let swap = match (s, m.limit()) {
                (s, _) if s < 0 => u64::MAX,
                (s, Some(l)) if l > 0 => (s - l).max(0) as u64,
                (s, _) => s as u64,
            };
            put("MemorySwapMax", Value::U64(swap))?;
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            put("CPUWeight", Value::U64(shares_to_weight(s)))?;
        }
        let period = c.period().filter(|p| *p != 0);
        if let Some(p) = period {
            put("CPUQuotaPeriodUSec", Value::U64(p))?;
        }
        if let Some(q) = c.quota().filter(|q| *q != 0) {
            let per_sec = if q < 0 {
                u64::MAX
            } else {
                // systemd keeps a whole percentage of a CPU: round up to 10 ms per second, so
                // that the exact quota written to the file after fits under it (runc's rule)
                let p = period.unwrap_or(100_000);
                let v = (q as u64 * 1_000_000).div_ceil(p);
                v.div_ceil(10_000) * 10_000
            };
            put("CPUQuotaPerSecUSec", Value::U64(per_sec))?;
        }
        if let Some(list) = c.cpus().as_deref().filter(|l| !l.is_empty()) {
            put("AllowedCPUs", Value::from(bitmask(list, "cpu.cpus")?))?;
        }
        if let Some(list) = c.mems().as_deref().filter(|l| !l.is_empty()) {
            put(
                "AllowedMemoryNodes",
                Value::from(bitmask(list, "cpu.mems")?),
            )?;
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            put("TasksMax", Value::U64(limit(p.limit())))?;
        }
    }
    if let Some(w) = r
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|w| *w != 0)
    {
        // blkio.weight 10..1000 to io.weight 1..10000, as on v2
        put(
            "IOWeight",
            Value::U64(1 + (w.clamp(10, 1000) as u64 - 10) * 9999 / 990),
        )?;
    }
    Ok(props)
}

/// A cpuset list ("0-3,5") as systemd's byte array: bit N of byte N/8 for each listed N.
fn bitmask(list: &str, field: &str) -> Result<Vec<u8>> {
    let bad = || {
        Error::Invalid(format!(
            "linux.resources.{field}: {list:?} is not a list of numbers and ranges"
        ))
    };
    let mut bytes = Vec::new();
    for (a, b) in crate::resources::parse_list(list).map_err(|_| bad())? {
        if b > 8191 {
            return Err(bad());
        }
        for n in a as usize..=b as usize {
            if bytes.len() <= n / 8 {
                bytes.resize(n / 8 + 1, 0);
            }
            bytes[n / 8] |= 1 << (n % 8);
        }
    }
    Ok(bytes)
}

/// `org.systemd.property.NAME=VALUE` annotations, as runc takes them: VALUE is a GVariant
/// text of a few forms: `true`/`false`, a number (uint64; `int64 N` style prefixes name
/// another type), `'text'` or `"text"`; anything else is refused, naming the annotation.
pub fn annotation_properties<'a>(
    annotations: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<Vec<(String, OwnedValue)>> {
    let mut props = Vec::new();
    for (key, text) in annotations {
        let Some(name) = key.strip_prefix("org.systemd.property.") else {
            continue;
        };
        let bad = |why: &str| Error::Invalid(format!("annotations.{key}: {text:?}: {why}"));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad("not a systemd property name"));
        }
        let t = text.trim();
        let value = if t == "true" || t == "false" {
            Value::Bool(t == "true")
        } else if let Some(s) = t
            .strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .or_else(|| t.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
        {
            Value::from(s.to_string())
        } else {
            let (kind, num) = t.split_once(' ').unwrap_or(("uint64", t));
            let num = num.trim();
            let parse_err = |_| bad("not a number of that type");
            match kind {
                "uint64" | "t" => Value::U64(num.parse().map_err(parse_err)?),
                "int64" | "x" => Value::I64(num.parse().map_err(parse_err)?),
                "uint32" | "u" => Value::U32(num.parse().map_err(parse_err)?),
                "int32" | "i" => Value::I32(num.parse().map_err(parse_err)?),
                _ => {
                    return Err(bad(
                        "not a value vrun reads (true, false, a number, 'text')",
                    ))
                }
            }
        };
        let v = OwnedValue::try_from(value).map_err(|e| bad(&e.to_string()))?;
        props.push((name.to_string(), v));
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_expand_as_systemd_nests_them() {
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            "/a.slice/a-b.slice/a-b-c.slice"
        );
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        for bad in ["", ".slice", "a--b.slice", "a/b.slice", "system"] {
            assert!(expand_slice(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unit_names_as_runc_makes_them() {
        let u = Unit::new("", "vrun", "c1", false).unwrap();
        assert_eq!(
            (u.name.as_str(), u.slice.as_str()),
            ("vrun-c1.scope", "system.slice")
        );
        assert_eq!(u.expected_path().unwrap(), "/system.slice/vrun-c1.scope");
        assert_eq!(Unit::new("", "", "c1", true).unwrap().slice, "user.slice");
        assert_eq!(Unit::new("", "", "c1", false).unwrap().name, "c1.scope");
        let u = Unit::new("machine.slice", "x", "my.slice", false).unwrap();
        assert_eq!(u.name, "my.slice");
        assert!(Unit::new("nope", "x", "c", false).is_err());
    }

    #[test]
    fn resources_become_unit_properties() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"memory": {"limit": 67108864, "swap": 100663296}, "cpu": {"shares": 1024, "quota": 12345, "period": 100000, "cpus": "0-1,9"}, "pids": {"limit": 50}}"#,
        )
        .unwrap();
        let props = properties(&r).unwrap();
        let get = |k: &str| {
            props
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| Value::from(v.try_clone().unwrap()))
                .unwrap_or_else(|| panic!("no {k}"))
        };
        assert_eq!(get("MemoryMax"), Value::U64(67108864));
        assert_eq!(get("MemorySwapMax"), Value::U64(33554432));
        assert_eq!(get("CPUWeight"), Value::U64(39));
        // 12345/100000 of a CPU is 123450 us per s, rounded up to 130 ms
        assert_eq!(get("CPUQuotaPerSecUSec"), Value::U64(130000));
        assert_eq!(get("CPUQuotaPeriodUSec"), Value::U64(100000));
        assert_eq!(get("TasksMax"), Value::U64(50));
        assert_eq!(get("AllowedCPUs"), Value::from(vec![0b11u8, 0b10]));
    }

    #[test]
    fn annotations_become_properties() {
        let a: std::collections::HashMap<String, String> = [
            ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
            ("org.systemd.property.TimeoutStopUSec", "uint64 123456789"),
            ("org.systemd.property.SendSIGKILL", "false"),
            ("other", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut props = annotation_properties(a.iter()).unwrap();
        props.sort_by(|x, y| x.0.cmp(&y.0));
        let names: Vec<&str> = props.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["CollectMode", "SendSIGKILL", "TimeoutStopUSec"]);
        let bad: std::collections::HashMap<String, String> =
            [("org.systemd.property.X".to_string(), "[1, 2]".to_string())].into();
        assert!(annotation_properties(bad.iter())
            .unwrap_err()
            .to_string()
            .contains("annotations.org.systemd.property.X"));
    }
}
