//! A bundle: its directory, config.json parsed with oci-spec, and every check that can be made
//! before anything is created, so that bad input leaves nothing behind.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use vrun_isolation::namespaces::Namespaces;

use crate::error::{Error, Result};
use crate::spec_ext::{self, Extensions};

#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    /// linux.seccomp, parsed by vrun-seccomp (oci-spec's types lack names the spec has).
    pub seccomp: Option<vrun_seccomp::Profile>,
    /// root.path, made absolute against the bundle directory.
    pub rootfs: PathBuf,
    /// What the spec has that oci-spec does not read (see `spec_ext`).
    pub ext: Extensions,
}

impl Bundle {
    /// Reads `<dir>/config.json`. Parse errors name the JSON path of the bad field.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::path::absolute(dir).map_err(|e| Error::Io {
            what: format!("bundle {}", dir.display()),
            source: e,
        })?;
        let config = dir.join("config.json");
        let text = std::fs::read(&config).map_err(|e| Error::Io {
            what: format!("read {}", config.display()),
            source: e,
        })?;
        let Parsed { spec, seccomp, ext } = parse_config(&text, &config)?;
        let root = spec.root().as_ref().ok_or_else(|| {
            Error::Invalid(format!(
                "{}: root: missing (root.path names the rootfs)",
                config.display()
            ))
        })?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            dir.join(root.path())
        };
        Ok(Bundle {
            dir,
            spec,
            seccomp,
            rootfs,
            ext,
        })
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// Checks what `create` needs, naming the field and config.json on failure.
    pub fn validate(&self) -> Result<()> {
        let file = self.config_path();
        let err = |msg: String| Error::Invalid(format!("{}: {msg}", file.display()));
        self.validate_root(&err)?;
        self.validate_process(&err)?;
        let linux = self
            .spec
            .linux()
            .as_ref()
            .ok_or_else(|| err("linux: missing".into()))?;
        let ns = self.validate_namespaces(linux, &err)?;
        if let Some(r) = linux.resources() {
            vrun_cgroup::validate(r).map_err(|e| err(e.to_string()))?;
        }
        crate::process::validate_linux_attributes(linux).map_err(|e| err(e.to_string()))?;
        if linux.intel_rdt().is_some() {
            return Err(err(intel_rdt_unsupported()));
        }
        if let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) {
            crate::netdev::validate(devices, &ns).map_err(|e| err(e.to_string()))?;
        }
        if let Some(devs) = linux.devices() {
            vrun_rootfs::devices::from_spec(devs).map_err(|e| err(e.to_string()))?;
        }
        if let Some(p) = linux.rootfs_propagation() {
            if !p.is_empty() && vrun_rootfs::mount_options::propagation_flag(p).is_none() {
                return Err(err(format!(
                    "linux.rootfsPropagation: {p:?} is not a propagation mode"
                )));
            }
        }
        for (i, m) in self.spec.mounts().iter().flatten().enumerate() {
            if m.destination().as_os_str().is_empty() {
                return Err(err(format!("mounts[{i}].destination: must not be empty")));
            }
            let field = format!("mounts[{i}] ({})", m.destination().display());
            let opts =
                vrun_rootfs::mount_options::parse(m.options().as_deref().unwrap_or(&[]), &field)
                    .map_err(|e| err(e.to_string()))?;
            self.validate_mount_extensions(i, m, &opts, ns.has(LinuxNamespaceType::User))
                .map_err(|e| err(e.to_string()))?;
        }
        if let Some(profile) = &self.seccomp {
            vrun_seccomp::validate(profile).map_err(|e| err(e.to_string()))?;
        }
        self.validate_hooks(&err)?;
        Ok(())
    }
}

impl Bundle {
    /// root.path: the rootfs itself, a directory, reached without a symlink.
    fn validate_root(&self, err: &dyn Fn(String) -> Error) -> Result<()> {
        match std::fs::metadata(&self.rootfs) {
            // runc's rule and words: root.path, made absolute and clean, is the rootfs itself,
            // with no symlink on the way (one could be changed to point elsewhere between
            // this check and the mounts). A relative one is taken from the bundle directory's
            // real path, as runc takes it from its cwd there.
            Ok(_) if std::fs::canonicalize(&self.rootfs).ok() != self.rootfs_as_given() => {
                return Err(err(format!(
                    "root.path: {} is not an absolute path or is a symlink",
                    self.rootfs.display()
                )))
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(err(format!(
                    "root.path: {} is not a directory",
                    self.rootfs.display()
                )))
            }
            Err(_) => {
                return Err(err(format!(
                    "root.path: {} does not exist",
                    self.rootfs.display()
                )))
            }
        }
        Ok(())
    }

    /// process: what to run, its cwd, env, rlimits, LSM profile and scheduling.
    fn validate_process(&self, err: &dyn Fn(String) -> Error) -> Result<()> {
        let process = self
            .spec
            .process()
            .as_ref()
            .ok_or_else(|| err("process: missing (create needs the process to run)".into()))?;
        match process.args() {
            Some(a) if !a.is_empty() && !a[0].is_empty() => {}
            _ => return Err(err("process.args: must name the program to run".into())),
        }
        if !process.cwd().is_absolute() {
            return Err(err(format!(
                "process.cwd: {:?} is not an absolute path",
                process.cwd()
            )));
        }
        for (i, e) in process.env().iter().flatten().enumerate() {
            if !e.contains('=') || e.starts_with('=') {
                return Err(err(format!(
                    "process.env[{i}]: {e:?} is not of the form NAME=value"
                )));
            }
        }
        if let Some((field, i, e)) = crate::process::nul_byte_in(process) {
            return Err(err(format!(
                "process.{field}[{i}]: {e:?} contains a NUL byte"
            )));
        }
        vrun_isolation::rlimits::validate(process.rlimits().as_deref().unwrap_or(&[]))
            .map_err(|e| err(e.to_string()))?;
        crate::process::check_apparmor(process, "process.apparmorProfile")
            .map_err(|e| err(e.to_string()))?;
        crate::process::validate_scheduling(process, "process.").map_err(|e| err(e.to_string()))?;
        Ok(())
    }

    /// The namespaces, and what needs one: time offsets, masks, id maps, names, sysctls.
    fn validate_namespaces(
        &self,
        linux: &oci_spec::runtime::Linux,
        err: &dyn Fn(String) -> Error,
    ) -> Result<Namespaces> {
        if let Some(offsets) = linux.time_offsets() {
            validate_time_offsets(offsets).map_err(err)?;
        }
        let ns = Namespaces::from_spec(linux.namespaces().as_deref().unwrap_or(&[]))
            .map_err(|e| err(e.to_string()))?;
        if !ns.has(LinuxNamespaceType::Mount) {
            // Its mounts are then the caller's (see vrun_rootfs::host_root).
            if ns.is_new(LinuxNamespaceType::User) {
                return Err(err("linux.namespaces: a container with a user namespace of its own needs a mount namespace of its own too (it could not mount anything in the caller's)".into()));
            }
            for (field, list) in [
                ("maskedPaths", linux.masked_paths()),
                ("readonlyPaths", linux.readonly_paths()),
            ] {
                if list.as_ref().is_some_and(|l| !l.is_empty()) {
                    return Err(err(format!("linux.{field}: masking or making paths read-only needs a mount namespace of the container's own (linux.namespaces), as with runc")));
                }
            }
        }
        let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        let new_user_ns = ns.is_new(LinuxNamespaceType::User);
        if new_user_ns {
            if linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty())
                || linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty())
            {
                return Err(err(
                    "linux.uidMappings/gidMappings: a new user namespace needs both".into(),
                ));
            }
        } else if has_maps && !ns.has(LinuxNamespaceType::User) {
            // (beside a user namespace joined by path, create checks they are its own)
            return Err(err("linux.uidMappings: mappings are given but no new user namespace is (linux.namespaces)".into()));
        }
        if self.spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
            && !ns.has(LinuxNamespaceType::Uts)
        {
            return Err(err(
                "hostname: setting it needs a uts namespace (linux.namespaces)".into(),
            ));
        }
        if self
            .spec
            .domainname()
            .as_ref()
            .is_some_and(|h| !h.is_empty())
            && !ns.has(LinuxNamespaceType::Uts)
        {
            return Err(err(
                "domainname: setting it needs a uts namespace (linux.namespaces)".into(),
            ));
        }
        for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
            let needs = vrun_isolation::attrs::sysctl_namespace(key);
            let ok = match needs {
                Some("network") => ns.has(LinuxNamespaceType::Network),
                Some("ipc") => ns.has(LinuxNamespaceType::Ipc),
                Some("uts") => ns.has(LinuxNamespaceType::Uts),
                _ => false,
            };
            if !ok {
                return Err(err(format!(
                    "linux.sysctl: {key} is {} so setting it would change the host",
                    match needs {
                        Some(n) => format!(
                            "in the {n} namespace, which the container does not have of its own,"
                        ),
                        None => "not namespaced".into(),
                    }
                )));
            }
        }
        Ok(ns)
    }

    /// Every hook's path absolute and its timeout above zero.
    fn validate_hooks(&self, err: &dyn Fn(String) -> Error) -> Result<()> {
        if let Some(hooks) = self.spec.hooks() {
            #[allow(deprecated)]
            let all = [
                hooks.prestart(),
                hooks.create_runtime(),
                hooks.create_container(),
                hooks.start_container(),
                hooks.poststart(),
                hooks.poststop(),
            ];
            for (phase, list) in [
                "prestart",
                "createRuntime",
                "createContainer",
                "startContainer",
                "poststart",
                "poststop",
            ]
            .iter()
            .zip(all)
            {
                for (i, h) in list.iter().flatten().enumerate() {
                    if !h.path().is_absolute() {
                        return Err(err(format!(
                            "hooks.{phase}[{i}].path: {:?} is not absolute",
                            h.path()
                        )));
                    }
                    if h.timeout().is_some_and(|t| t <= 0) {
                        return Err(err(format!(
                            "hooks.{phase}[{i}].timeout: must be above zero"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Bundle {
    /// The rootfs as root.path names it, clean: what its real path must be (see validate).
    fn rootfs_as_given(&self) -> Option<PathBuf> {
        let given = self.spec.root().as_ref()?.path();
        Some(match given.is_absolute() {
            true => lexically_clean(given),
            false => lexically_clean(&std::fs::canonicalize(&self.dir).ok()?.join(given)),
        })
    }

    /// An idmapped mount (runtime-spec 1.2) and `tmpcopyup`: what vrun can apply, or an error
    /// naming the mount.
    fn validate_mount_extensions(
        &self,
        i: usize,
        m: &oci_spec::runtime::Mount,
        opts: &vrun_rootfs::mount_options::MountOptions,
        has_user_ns: bool,
    ) -> Result<()> {
        let field = format!("mounts[{i}] ({})", m.destination().display());
        let typ = m.typ().as_deref().unwrap_or("");
        let maps = self.ext.mount_idmaps.get(i).and_then(Option::as_ref);
        if let Some(map) = maps {
            if map.uid.is_empty() || map.gid.is_empty() {
                return Err(Error::Invalid(format!(
                    "{field}: an idmapped mount needs both uidMappings and gidMappings"
                )));
            }
            vrun_isolation::idmap::map_text(&format!("{field}.uidMappings"), &map.uid)?;
            vrun_isolation::idmap::map_text(&format!("{field}.gidMappings"), &map.gid)?;
        }
        if opts.idmap.is_some() {
            if !opts.is_bind() && typ != "bind" {
                return Err(Error::Invalid(format!(
                    "{field}: idmap and ridmap are supported on bind mounts only (type {typ:?})"
                )));
            }
            if maps.is_none() && !has_user_ns {
                return Err(Error::Invalid(format!(
                    "{field}: an idmapped mount without uidMappings and gidMappings of its own takes the container's user namespace's, and the container has no user namespace (new or joined)"
                )));
            }
        }
        if opts.tmpcopyup && typ != "tmpfs" {
            return Err(Error::Invalid(format!(
                "{field}: tmpcopyup applies to tmpfs mounts only (type {typ:?})"
            )));
        }
        Ok(())
    }
}

/// linux.timeOffsets: the clocks a time namespace has, and nanoseconds below a second (the
/// kernel's rules, which its refusal would not name).
fn validate_time_offsets(
    offsets: &std::collections::HashMap<String, oci_spec::runtime::LinuxTimeOffset>,
) -> std::result::Result<(), String> {
    for (clock, o) in offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(format!(
                "linux.timeOffsets: {clock:?} is not a clock of a time namespace (monotonic, boottime)"
            ));
        }
        if let Some(n) = o.nanosecs().filter(|n| *n >= 1_000_000_000) {
            return Err(format!(
                "linux.timeOffsets: {clock}.nanosecs: {n} is not below 1000000000"
            ));
        }
    }
    Ok(())
}

/// `path` made clean as Go's filepath.Clean makes it: no `.`, no `..` (taken lexically),
/// no repeated or trailing slash.
fn lexically_clean(path: &Path) -> PathBuf {
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                clean.pop();
            }
            std::path::Component::CurDir => {}
            other => clean.push(other),
        }
    }
    clean
}

/// linux.intelRdt needs the resctrl filesystem (Intel RDT or AMD PQoS); vrun refuses the
/// field rather than run the container without the cache and bandwidth limits it asks for.
/// On a host with resctrl it still refuses, saying so: applying it is not written yet.
fn intel_rdt_unsupported() -> String {
    if crate::features::resctrl_mounted() {
        "linux.intelRdt: vrun does not apply Intel RDT settings yet (resctrl is mounted on this host, but vrun does not create resctrl groups)".into()
    } else {
        "linux.intelRdt: Intel RDT is not available on this host (no resctrl filesystem at /sys/fs/resctrl: the CPU lacks RDT, or resctrl is not mounted)".into()
    }
}

/// config.json bytes through everything `create` does before it makes anything: parse, then
/// validate (with "/" standing in for the rootfs, so that validation goes past it). For the
/// fuzz target (fuzz/) and its regression inputs: an error is fine, a panic is the bug.
pub fn check_config_bytes(data: &[u8]) -> Result<()> {
    let Parsed {
        mut spec,
        seccomp,
        ext,
    } = parse_config(data, Path::new("/fuzz/config.json"))?;
    let annotations = spec.annotations().clone().unwrap_or_default();
    // (root.path as the rootfs standing in for it names it)
    if let Some(mut root) = spec.root().clone() {
        root.set_path(PathBuf::from("/"));
        spec.set_root(Some(root));
    }
    Bundle {
        dir: PathBuf::from("/fuzz"),
        spec,
        seccomp,
        rootfs: PathBuf::from("/"),
        ext,
    }
    .validate()?;
    // The virtual disk's annotations (sizes, io limits, layers), as create reads them.
    crate::disk::plan(
        &crate::disk::DiskOptions::default(),
        &annotations,
        Path::new("/"),
        false,
    )
    .map(drop)
    .map_err(|e| Error::Invalid(format!("/fuzz/config.json: annotations: {e}")))
}

/// The `linux` and `process` objects every container needs (present once
/// [`Bundle::validate`] passed).
pub fn parts(spec: &Spec) -> Result<(&oci_spec::runtime::Linux, &oci_spec::runtime::Process)> {
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Invalid("linux: missing".into()))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Invalid("process: missing".into()))?;
    Ok((linux, process))
}

/// config.json, parsed.
pub struct Parsed {
    pub spec: Spec,
    /// linux.seccomp, taken out of the spec and parsed by vrun-seccomp.
    pub seccomp: Option<vrun_seccomp::Profile>,
    pub ext: Extensions,
}

/// Parses config.json text into the spec, its linux.seccomp profile and the fields oci-spec
/// does not read; on error the message names the file, the JSON path of the field and what
/// is wrong with it. Fields nothing reads are warned about, by name.
pub fn parse_config(text: &[u8], file: &Path) -> Result<Parsed> {
    let mut value: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", file.display())))?;
    if let Some(process) = value.get_mut("process") {
        prepare_process(process, "process.", file);
    }
    if let Some(r) = value.get_mut("linux").and_then(|l| l.get_mut("resources")) {
        drop_pids_without_limit(r);
    }
    let ext = spec_ext::take(&mut value)
        .map_err(|e| Error::Invalid(format!("{}: {e}", file.display())))?;
    idmap_where_mappings_are_given(&mut value, &ext);
    let seccomp = value
        .get_mut("linux")
        .and_then(|l| l.as_object_mut())
        .and_then(|l| l.remove("seccomp"))
        .filter(|s| !s.is_null());
    let mut spec: Spec =
        serde_path_to_error::deserialize(&value).map_err(|e| named(file, "", e))?;
    warn_dropped_fields(&value, &spec, file);
    root_relative_mount_destinations(&mut spec, file);
    let seccomp = match seccomp {
        Some(s) => {
            Some(serde_path_to_error::deserialize(s).map_err(|e| named(file, "linux.seccomp", e))?)
        }
        None => None,
    };
    Ok(Parsed { spec, seccomp, ext })
}

/// A process object (config.json's, or an exec --process file) made ready for oci-spec:
/// capability names vrun does not know taken out with a warning, and the spec's spelling of
/// the scheduler flags made oci-spec's. `prefix` is the object's path ("process." or "").
pub(crate) fn prepare_process(process: &mut serde_json::Value, prefix: &str, file: &Path) {
    for warning in drop_unknown_capabilities(process, &format!("{prefix}capabilities")) {
        tracing::warn!("{}: {warning}", file.display());
    }
    spec_ext::normalize_scheduler_flags(process);
}

/// Warns about every field of `given` that `parsed` does not hold (see
/// `spec_ext::dropped_fields`).
pub(crate) fn warn_dropped_fields<T: serde::Serialize>(
    given: &serde_json::Value,
    parsed: &T,
    file: &Path,
) {
    let Ok(kept) = serde_json::to_value(parsed) else {
        return;
    };
    for field in spec_ext::dropped_fields(given, &kept) {
        tracing::warn!(
            "{}: {field}: not a field vrun knows: ignored",
            file.display()
        );
    }
}

/// config.md: a mount with uidMappings/gidMappings SHOULD name `idmap` or `ridmap`. One that
/// names neither is an idmapped mount (not recursive), as runc 1.2 takes it: `idmap` is added
/// to its options.
fn idmap_where_mappings_are_given(config: &mut serde_json::Value, ext: &Extensions) {
    let Some(mounts) = config.get_mut("mounts").and_then(|m| m.as_array_mut()) else {
        return;
    };
    for (m, map) in mounts.iter_mut().zip(&ext.mount_idmaps) {
        if map.is_none() {
            continue;
        }
        let Some(obj) = m.as_object_mut() else {
            continue;
        };
        let options = obj
            .entry("options")
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let Some(list) = options.as_array_mut() {
            if !list.iter().any(|o| o == "idmap" || o == "ridmap") {
                list.push("idmap".into());
            }
        }
    }
}

/// `"pids": {}` (or a null limit) sets nothing: oci-spec would read it as a limit of 0, which
/// leaves the container unable to fork. Only a limit that is there is applied.
pub(crate) fn drop_pids_without_limit(resources: &mut serde_json::Value) {
    let no_limit = resources
        .get("pids")
        .is_some_and(|p| p.is_null() || p.get("limit").is_none_or(|l| l.is_null()));
    if no_limit {
        if let Some(r) = resources.as_object_mut() {
            r.remove("pids");
        }
    }
}

/// runtime-spec 1.2: a relative mount destination is relative to "/" (deprecated, so it is
/// warned about, as runc does).
fn root_relative_mount_destinations(spec: &mut Spec, file: &Path) {
    let Some(mounts) = spec.mounts().as_ref() else {
        return;
    };
    let relative = |m: &oci_spec::runtime::Mount| {
        !m.destination().is_absolute() && !m.destination().as_os_str().is_empty()
    };
    if !mounts.iter().any(relative) {
        return;
    }
    let mut mounts = mounts.clone();
    for (i, m) in mounts.iter_mut().enumerate() {
        if relative(m) {
            let dest = Path::new("/").join(m.destination());
            tracing::warn!(
                "{}: mounts[{i}].destination: {:?} is relative: taken as {} (relative destinations are deprecated)",
                file.display(),
                m.destination(),
                dest.display()
            );
            m.set_destination(dest);
        }
    }
    spec.set_mounts(Some(mounts));
}

/// Takes the capability names vrun does not know out of a `process` object, returning a
/// warning for each: runtime-spec 1.2 says a capability that cannot be granted is logged and
/// SHOULD NOT fail the container (runc and crun warn and go on). Names must still be
/// strings; anything else stays for the parser to refuse with its JSON path.
fn drop_unknown_capabilities(process: &mut serde_json::Value, field: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(caps) = process
        .get_mut("capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return warnings;
    };
    for (set, names) in caps.iter_mut() {
        let Some(list) = names.as_array_mut() else {
            continue;
        };
        list.retain(|name| {
            let Some(text) = name.as_str() else {
                return true;
            };
            let known =
                serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
            if !known {
                warnings.push(format!(
                    "{field}.{set}: {text:?} is not a capability vrun knows: ignored"
                ));
            }
            known
        });
    }
    warnings
}

fn named(file: &Path, prefix: &str, e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    let inner = integers_as_integers(&e.into_inner().to_string());
    let path = match (prefix, path.as_str()) {
        ("", "." | "") => return Error::Invalid(format!("{}: {inner}", file.display())),
        (p, "." | "") => p.to_string(),
        ("", p) => p.to_string(),
        (pre, p) => format!("{pre}.{p}"),
    };
    Error::Invalid(format!("{}: {path}: {inner}", file.display()))
}

/// serde_json reads an integer above u64's range as a float, and its error then shows it as
/// one ("floating point `1.8446744073709552e19`"): shown as the integer it is, out of range.
fn integers_as_integers(message: &str) -> String {
    let Some(rest) = message.strip_prefix("invalid type: floating point `") else {
        return message.to_string();
    };
    let Some((number, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    match number.parse::<f64>() {
        Ok(f) if f.fract() == 0.0 && f.abs() >= 9_007_199_254_740_992.0 => {
            let expected = expected.trim_start_matches(", ");
            format!("{f:.0} is out of range ({expected})")
        }
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_beyond_u64_read_as_floats_show_as_integers() {
        assert_eq!(
            integers_as_integers(
                "invalid type: floating point `1.8446744073709552e19`, expected i64 at line 1"
            ),
            "18446744073709551616 is out of range (expected i64 at line 1)"
        );
        assert_eq!(
            integers_as_integers("invalid type: floating point `1.5`, expected i64"),
            "invalid type: floating point `1.5`, expected i64"
        );
    }

    #[test]
    fn parse_errors_name_the_field() {
        let Err(err) = parse_config(
            br#"{"ociVersion":"1.0.2","process":{"args":5,"cwd":"/","user":{"uid":0,"gid":0}}}"#,
            Path::new("/b/config.json"),
        ) else {
            panic!("parsed")
        };
        let msg = err.to_string();
        assert!(
            msg.starts_with("/b/config.json: process.args: invalid type"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_json_names_the_file() {
        let Err(err) = parse_config(b"{ nope", Path::new("/b/config.json")) else {
            panic!("parsed")
        };
        let msg = err.to_string();
        assert!(
            msg.starts_with("/b/config.json: ") && msg.contains("line 1"),
            "{msg}"
        );
    }
}
