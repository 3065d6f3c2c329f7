//! The resource layer: a container's cgroup (its virtual CPU, memory and device access), on
//! cgroup v2 and on v1 (including hybrid hosts, where the v1 controllers are used and the
//! nearly empty unified hierarchy is left alone).
//!
//! Written by hand rather than on cgroups-rs: vrun needs one directory per hierarchy created
//! under the caller's own cgroup, a record of exactly which directories it made (so a failed
//! create or a delete removes those and nothing else), and only the files a config names
//! written, which keeps `create` fast. cgroups-rs walks and writes every controller.

pub mod blkio;
pub mod convert;
pub mod devices;
mod devices_v1;
pub mod ebpf;
mod error;
pub mod hierarchy;
pub mod placement;
mod plan;
mod registry;
mod resources;
mod stats;
mod sys;
pub mod systemd;
mod undo;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use error::{Error, Result};
pub use hierarchy::{Hierarchy, Version};
pub use placement::Placement;
pub use registry::{Registry, Session};
pub use resources::{first_limit, parse_list, validate};

/// Whether this process runs in a user namespace other than the host's (whose uid map is the
/// whole identity range): root there is not the real root. Read once.
pub fn in_user_namespace() -> bool {
    static IN_USER_NS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IN_USER_NS.get_or_init(|| {
        std::fs::read_to_string("/proc/self/uid_map")
            .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
    })
}

/// A container's cgroup: one directory per hierarchy (one in all on v2). Serialised into the
/// container's state so later commands find it again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cgroup {
    pub version: Version,
    /// (hierarchy name, e.g. "memory" or "cpu,cpuacct" or "" on v2; the container's directory)
    pub dirs: Vec<(String, PathBuf)>,
    /// The directories this container may remove once they are empty, deepest first: those
    /// it made, and those on its path that another vrun container made (see [`Registry`]).
    pub created: Vec<PathBuf>,
    /// Placed by default (`<caller>/vrun/<id>`): the shared `vrun/` parent then belongs to
    /// every container in it, of any state root, and whoever is deleted last removes it. It
    /// is never listed in a [`Registry`], which is per state root: a root whose container made
    /// it would otherwise keep listing it after a container of another root removed it.
    #[serde(default)]
    pub default_placement: bool,
    /// With the systemd driver, the container's unit: systemd makes and removes the
    /// directories (see [`Cgroup::for_unit`]).
    #[serde(default)]
    pub unit: Option<systemd::Unit>,
    /// Every directory of the container's was made by [`Cgroup::create`] a moment ago, under
    /// the registry's lock: nothing can be in them yet. Not kept in the state.
    #[serde(skip)]
    pub fresh: bool,
}

impl Cgroup {
    /// Creates (or joins) the directories for `placement`, recording which it may remove.
    pub fn create(h: &Hierarchy, placement: &Placement, registry: &Registry) -> Result<Cgroup> {
        let mut cg = Cgroup {
            version: h.version(),
            dirs: Vec::new(),
            created: Vec::new(),
            default_placement: placement.is_default(),
            unit: None,
            fresh: true,
        };
        let mut session = registry.lock()?;
        for (name, dir) in h.container_dirs(placement)? {
            let base = h.mount_point_of(&dir);
            if let Err(e) = cg.make_dirs(h.version(), &name, &dir, base, &mut session) {
                let _ = cg.remove_locked(&mut session);
                let _ = session.save();
                return Err(e);
            }
            if let Some(parent) = cg.shared_parent(&dir) {
                cg.claim(parent);
            }
            cg.dirs.push((name, dir));
        }
        session.save()?;
        Ok(cg)
    }

    /// For the systemd driver: the cgroup of `unit`, whose directories systemd makes when
    /// [`Cgroup::start_unit`] starts it. Until then `dirs` are where the system manager will
    /// put them.
    pub fn for_unit(h: &Hierarchy, unit: systemd::Unit) -> Result<Cgroup> {
        Ok(Cgroup {
            version: h.version(),
            dirs: h.dirs_at(&unit.expected_path()?),
            created: Vec::new(),
            default_placement: false,
            unit: Some(unit),
            fresh: false,
        })
    }

    /// Starts the unit with `pid` in it, the limits of `r` and the `org.systemd.property.*`
    /// annotations as its properties; `dirs` become the unit's actual cgroup. The limits'
    /// files are written after, by [`Cgroup::apply`].
    pub fn start_unit(
        &mut self,
        h: &Hierarchy,
        pid: i32,
        r: &LinuxResources,
        annotations: &std::collections::HashMap<String, String>,
    ) -> Result<()> {
        let Some(unit) = &self.unit else {
            return Ok(());
        };
        let mut props = systemd::properties(r)?;
        props.extend(systemd::annotation_properties(annotations.iter())?);
        unit.start(pid, props)?;
        self.dirs = h.dirs_at(&unit.control_group()?);
        Ok(())
    }

    /// The `vrun/` parent of a hierarchy's directory, for the default placement.
    fn shared_parent<'d>(&self, dir: &'d Path) -> Option<&'d Path> {
        dir.parent().filter(|_| self.default_placement)
    }

    fn claim(&mut self, dir: &Path) {
        if !self.created.iter().any(|c| c == dir) {
            self.created.push(dir.to_path_buf());
            // deepest first, whatever the hierarchy
            self.created
                .sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        }
    }

    /// mkdir -p of one hierarchy's directory under the registry's lock: each level it makes
    /// is marked (before it is made: see [`Registry`]) and claimed, and each existing level
    /// another vrun container made is claimed. A parent can still vanish between the walk and
    /// the mkdir (a container of another state root removing it when it was empty): the walk
    /// is then retried. The walk up stops at `base`, the hierarchy's mount point, when it is
    /// known.
    fn make_dirs(
        &mut self,
        version: Version,
        name: &str,
        dir: &Path,
        base: Option<&Path>,
        session: &mut Session,
    ) -> Result<()> {
        let mut attempts = 0;
        'walk: loop {
            // mkdir -p from the leaf up: where containers run, only the leaf is missing, and
            // one mkdir finds that out (a stat of every level did, issue 14). Each level tried
            // is marked first, and the mark taken back if the level turns out to exist.
            let mut missing = Vec::new(); // leaf first, with whether this walk marked it
            let mut p = dir;
            let made_p = loop {
                let marked = self.mark_before_making(dir, p, session)?;
                match std::fs::create_dir(p) {
                    Ok(()) => break Some(marked),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        if marked {
                            session.unmark(p)?;
                        }
                        break None;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && p.parent().is_some() => {
                        missing.push((p.to_path_buf(), marked));
                        p = p.parent().unwrap_or(p);
                    }
                    Err(e) => {
                        if marked {
                            session.unmark(p)?;
                        }
                        unmark_all(&missing, session)?;
                        return Err(Error::Io {
                            what: format!("create cgroup {}", p.display()),
                            source: e,
                        });
                    }
                }
            };
            if p == dir && made_p.is_none() {
                self.fresh = false;
            }
            // existing levels vrun made: this container may remove them too
            let mut existing = if made_p.is_some() {
                p.parent()
            } else {
                Some(p)
            };
            while let Some(e) = existing {
                if Some(e) == base {
                    break;
                }
                if session.is_marked(e)? {
                    self.claim(e);
                }
                existing = e.parent();
            }
            if let Some(marked) = made_p {
                self.made(version, name, dir, p, marked, session)?;
            }
            for (i, (m, marked)) in missing.iter().enumerate().rev() {
                match std::fs::create_dir(m) {
                    Ok(()) => self.made(version, name, dir, m, *marked, session)?,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        if *marked {
                            session.unmark(m)?;
                        }
                        if m == dir {
                            self.fresh = false;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 10 => {
                        attempts += 1;
                        unmark_all(&missing[..=i], session)?;
                        continue 'walk;
                    }
                    Err(e) => {
                        unmark_all(&missing[..=i], session)?;
                        return Err(Error::Io {
                            what: format!("create cgroup {}", m.display()),
                            source: e,
                        });
                    }
                }
            }
            return Ok(());
        }
    }

    /// Marks `m`, a level of `dir` about to be made, unless it is the shared `vrun/` parent
    /// (never marked) or marked already. Returns whether it marked it.
    fn mark_before_making(&self, dir: &Path, m: &Path, session: &mut Session) -> Result<bool> {
        if self.shared_parent(dir) == Some(m) {
            return Ok(false);
        }
        session.mark_new(m)
    }

    /// A level `m` of `dir` that [`Cgroup::make_dirs`] just made: claimed, its mark this
    /// container's (`marked`: marked by this walk; else the mark was left by one that is
    /// gone), and given what a task needs to join it.
    fn made(
        &mut self,
        version: Version,
        name: &str,
        dir: &Path,
        m: &Path,
        marked: bool,
        session: &mut Session,
    ) -> Result<()> {
        if !marked && self.shared_parent(dir) != Some(m) {
            session.take_over(m)?;
        }
        self.claim(m);
        match version {
            Version::V1 if name.split(',').any(|c| c == "cpuset") => {
                resources::v1_inherit_cpuset(m, true)
            }
            Version::V2 => resources::v2_enable_controllers(m),
            _ => Ok(()),
        }
    }

    /// Makes again the directories that vanished since [`Cgroup::create`] (a container
    /// sharing them saw them empty, before this one had a process in them, and removed
    /// them). The limits must then be applied again.
    pub fn recreate(&mut self, registry: &Registry) -> Result<()> {
        let mut session = registry.lock()?;
        for (name, dir) in self.dirs.clone() {
            if !dir.exists() {
                self.make_dirs(self.version, &name, &dir, None, &mut session)?;
            } else if self.version == Version::V1 && name.split(',').any(|c| c == "cpuset") {
                // made again by a container of another state root, its cpuset still empty
                resources::v1_inherit_cpuset(&dir, false)?;
            }
        }
        session.save()
    }

    /// Writes the limits of `linux.resources`, with the device rules every container gets
    /// (see [`devices::with_defaults`]) after the config's own. Everything is checked before
    /// the first write ([`validate`] first).
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        let config_rules = r.devices().as_deref().unwrap_or(&[]);
        // (checked by `validate` when the config was read)
        let rules = devices::with_defaults(config_rules);
        match self.version {
            Version::V1 => {
                let mut plan = plan::plan_v1(self, r)?;
                match self.dir_of("devices") {
                    Some(dir) => plan.writes.extend(devices_v1::writes(dir, &rules).writes),
                    // Nothing to enforce the config's rules with: refuse rather than run
                    // the container with every device open.
                    None if !config_rules.is_empty() => {
                        return Err(Error::Invalid(
                            "linux.resources.devices: this host has no devices cgroup hierarchy to apply them to".into(),
                        ))
                    }
                    None => {}
                }
                plan.execute()
            }
            Version::V2 => {
                let dir = self.dirs[0].1.as_path();
                plan::plan_v2(dir, r)?.execute()?;
                // v2 has no devices files: the rules become an eBPF program on the cgroup.
                match ebpf::attach(dir, &rules) {
                    // An unprivileged caller may not load one (see ebpf::attach); its user
                    // namespace cannot make device nodes either, only bind the host's, so the
                    // rules add nothing to the host's permissions. runc's rootless mode skips
                    // them; vrun says so when the config has rules of its own.
                    Err(e) if e.is_permission_denied() => {
                        match config_rules.is_empty() {
                            true => tracing::debug!("device rules not enforced: {e}"),
                            false => tracing::warn!("linux.resources.devices: not enforced: {e}: a rootless container has only the device nodes it is given"),
                        }
                        Ok(())
                    }
                    other => other,
                }
            }
        }
    }

    /// Moves a process into the container's cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        self.add_process_to_sub(pid, &std::collections::HashMap::new())
    }

    /// `exec --cgroup`: adds `pid` to existing sub-cgroups of the container's, given as runc
    /// parses them: "" (every hierarchy) or a controller name to a path relative to the
    /// container's cgroup. A hierarchy without an entry (every one, for an empty map) gets the
    /// container's own directory.
    pub fn add_process_to_sub(
        &self,
        pid: i32,
        subs: &std::collections::HashMap<String, String>,
    ) -> Result<()> {
        for target in self.targets(subs)? {
            let file = target.join("cgroup.procs");
            std::fs::write(&file, pid.to_string()).map_err(|e| Error::Io {
                what: format!("add pid {pid} to {}", file.display()),
                source: e,
            })?;
        }
        Ok(())
    }

    /// The container's cgroup (or its sub-cgroups, as for [`Cgroup::add_process_to_sub`]),
    /// opened for a process to be born in or to move itself into: see [`SelfJoin`]. None
    /// under the systemd driver, whose unit places the process.
    pub fn self_join(
        &self,
        subs: &std::collections::HashMap<String, String>,
    ) -> Result<Option<SelfJoin>> {
        if self.unit.is_some() {
            return Ok(None);
        }
        let mut join = SelfJoin {
            tasks: Vec::new(),
            v2_dir: None,
        };
        for ((name, _), target) in self.dirs.iter().zip(self.targets(subs)?) {
            let open = |path: &Path, opts: &mut std::fs::OpenOptions| {
                opts.open(path).map_err(|e| Error::Io {
                    what: format!("open {}", path.display()),
                    source: e,
                })
            };
            // A hybrid host's unified hierarchy is v2 too (see Hierarchy::from_text).
            if self.version == Version::V2 || name == "unified" {
                use std::os::unix::fs::OpenOptionsExt;
                let mut opts = std::fs::OpenOptions::new();
                opts.read(true).custom_flags(libc::O_DIRECTORY);
                join.v2_dir = Some(open(&target, &mut opts)?);
            } else {
                let file = target.join("tasks");
                let fd = open(&file, std::fs::OpenOptions::new().write(true))?;
                join.tasks.push((file, fd));
            }
        }
        Ok(Some(join))
    }

    /// The directory a process goes to in each hierarchy (see add_process_to_sub).
    fn targets(&self, subs: &std::collections::HashMap<String, String>) -> Result<Vec<PathBuf>> {
        if self.version == Version::V2 && subs.keys().any(|k| !k.is_empty()) {
            return Err(Error::Invalid(
                "--cgroup: cgroup v2 has one hierarchy: give a path without a <controller>: prefix"
                    .into(),
            ));
        }
        let mut targets = Vec::with_capacity(self.dirs.len());
        for (name, dir) in &self.dirs {
            let sub = subs
                .get("")
                .or_else(|| name.split(',').find_map(|c| subs.get(c)));
            let target = match sub {
                None => dir.clone(),
                Some(sub) => {
                    // Relative to the container's cgroup, and never above it.
                    let rel = Path::new(sub);
                    if rel.components().any(|c| {
                        !matches!(
                            c,
                            std::path::Component::Normal(_) | std::path::Component::RootDir
                        )
                    }) {
                        return Err(Error::Invalid(format!(
                            "--cgroup: {sub:?} must be a path below the container's cgroup"
                        )));
                    }
                    let target = dir.join(rel.strip_prefix("/").unwrap_or(rel));
                    if !target.is_dir() {
                        return Err(Error::Invalid(format!(
                            "--cgroup: the container has no sub-cgroup {sub:?} ({} does not exist)",
                            target.display()
                        )));
                    }
                    target
                }
            };
            targets.push(target);
        }
        Ok(targets)
    }

    /// The directory of one hierarchy (by controller name), or the v2 directory.
    pub fn dir_of(&self, controller: &str) -> Option<&Path> {
        match self.version {
            Version::V2 => self.dirs.first().map(|(_, d)| d.as_path()),
            Version::V1 => self
                .dirs
                .iter()
                .find(|(n, _)| n.split(',').any(|c| c == controller))
                .map(|(_, d)| d.as_path()),
        }
    }

    /// Every pid in the container's cgroup and below it.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = match self.version {
            Version::V2 => self.dirs.first().map(|(_, d)| d.clone()),
            Version::V1 => self
                .dir_of("pids")
                .or_else(|| self.dir_of("memory"))
                .map(Path::to_path_buf)
                .or_else(|| self.dirs.first().map(|(_, d)| d.clone())),
        };
        let mut pids = Vec::new();
        if let Some(dir) = dir {
            collect_pids(&dir, &mut pids)?;
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// The directory whose freezer `set_frozen` writes: the v2 directory, or v1's freezer.
    pub fn freezer_dir(&self) -> Option<&Path> {
        match self.version {
            Version::V2 => self.dirs.first().map(|(_, d)| d.as_path()),
            Version::V1 => self.dir_of("freezer"),
        }
    }

    /// Whether the cgroup is frozen (the `paused` status).
    pub fn is_frozen(&self) -> bool {
        match self.version {
            Version::V2 => self
                .dirs
                .first()
                .and_then(|(_, d)| std::fs::read_to_string(d.join("cgroup.freeze")).ok())
                .is_some_and(|s| s.trim() == "1"),
            Version::V1 => self
                .dir_of("freezer")
                .and_then(|d| std::fs::read_to_string(d.join("freezer.state")).ok())
                .is_some_and(|s| s.trim() != "THAWED"),
        }
    }

    /// Freezes (`pause`) or thaws (`resume`) every process of the cgroup and waits until the
    /// kernel reports the new state: freezer.state on v1, cgroup.freeze/cgroup.events on v2.
    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        // (directory, file to write, value, file that reports the state, its line when done)
        let (dir, file, value, report, want) = match self.version {
            Version::V2 => {
                let dir = self
                    .dirs
                    .first()
                    .map(|(_, d)| d.as_path())
                    .ok_or_else(|| Error::Invalid("no cgroup directory".into()))?;
                let (value, want) = if frozen {
                    ("1", "frozen 1")
                } else {
                    ("0", "frozen 0")
                };
                (dir, "cgroup.freeze", value, "cgroup.events", want)
            }
            Version::V1 => {
                let dir = self.dir_of("freezer").ok_or_else(|| {
                    Error::Invalid("this host has no freezer cgroup hierarchy".into())
                })?;
                let value = if frozen { "FROZEN" } else { "THAWED" };
                (dir, "freezer.state", value, "freezer.state", value)
            }
        };
        let done = || {
            std::fs::read_to_string(dir.join(report))
                .is_ok_and(|s| s.lines().any(|l| l.trim() == want))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut pause = Duration::from_micros(100);
        loop {
            // v1 may stay in FREEZING while a task is busy in the kernel; writing again retries.
            std::fs::write(dir.join(file), value).map_err(|e| Error::Io {
                what: format!("write {value} to {}", dir.join(file).display()),
                source: e,
            })?;
            if done() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Invalid(format!(
                    "the cgroup {} did not become {value} within 10 s",
                    dir.display()
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// `update`: new limits on a running container. Device rules are not touched (runc's
    /// update does not change them either).
    pub fn update(&self, r: &LinuxResources) -> Result<()> {
        resources::check_memory_before_update(self, r)?;
        if let Some(unit) = &self.unit {
            unit.set_properties(systemd::properties(r)?)?;
        }
        let plan = match self.version {
            Version::V1 => plan::plan_v1(self, r)?,
            Version::V2 => plan::plan_v2(self.dirs[0].1.as_path(), r)?,
        };
        plan.execute_or_restore()
    }

    /// Sends `signal` to every process of the cgroup.
    pub fn signal_all(&self, signal: nix::sys::signal::Signal) -> Result<()> {
        for pid in self.pids()? {
            match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => {
                    return Err(Error::Sys {
                        what: format!("signal pid {pid}"),
                        source: e,
                    })
                }
            }
        }
        Ok(())
    }

    /// Kills every process of the cgroup (SIGKILL), waiting up to `timeout` for it to
    /// empty. For a container without a pid namespace of its own (whose processes cannot be
    /// told apart from others in its cgroup, as with runc); with one, init's death has ended
    /// all of them.
    pub fn kill_all(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(200);
        loop {
            let pids = self.pids().unwrap_or_default();
            if pids.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Invalid(format!(
                    "processes {pids:?} are still in the container's cgroup after SIGKILL"
                )));
            }
            self.signal_all(nix::sys::signal::Signal::SIGKILL)?;
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Removes the directories this container may remove, if nothing uses them any more:
    /// a directory that still holds processes (another container sharing it) is left, with
    /// its parents, for the last container out.
    pub fn remove(&self, registry: &Registry) -> Result<()> {
        // systemd's: stopping the unit removes the cgroup (and ends what is left in it)
        if let Some(unit) = &self.unit {
            return unit.stop();
        }
        let mut session = registry.lock()?;
        self.remove_locked(&mut session)?;
        session.save()
    }

    fn remove_locked(&self, session: &mut Session) -> Result<()> {
        // (vrun places every process of a container in all of its hierarchies: one tells.
        // Not pids.current: an exited process not yet reaped still counts there.)
        let pids = self.pids()?;
        if !pids.is_empty() {
            tracing::debug!(
                "cgroup {:?} still holds {pids:?}: left for the last container out",
                self.dirs.first()
            );
            return Ok(());
        }
        let leaves: Vec<&PathBuf> = self.dirs.iter().map(|(_, d)| d).collect();
        for dir in &self.created {
            if remove_tree(dir, leaves.contains(&dir))? {
                session.unmark(dir)?;
            } else {
                // (in use by others, who remove it when they go)
                session.disown(dir)?;
            }
        }
        Ok(())
    }
}

/// `delete --force` of a container whose state does not say its cgroup (a create killed
/// before it saved one, a state.json that cannot be read): the directories the registry's
/// marks say were made for container `id` are emptied (SIGKILL to what is in them, thawed
/// first if frozen, for up to `timeout`) and removed, deepest first, with the `vrun/` parent
/// of the default placement once it is empty. Only the default placement's directories,
/// which the id names, are emptied so: a `cgroupsPath` the container made may be shared by
/// containers that joined it since, whose processes are not its own; such a directory is
/// removed if empty, else left to the last container out. Returns the directories left
/// (still in use) of the default placement.
pub fn remove_marked_for(registry: &Registry, id: &str, timeout: Duration) -> Result<Vec<PathBuf>> {
    let marked = registry.lock()?.marked_for(id)?;
    if marked.is_empty() {
        return Ok(marked);
    }
    let (dirs, named): (Vec<PathBuf>, Vec<PathBuf>) = marked
        .into_iter()
        .partition(|d| is_default_placement_of(d, id));
    // Emptied without the registry's lock, which every create and delete needs.
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(200);
    loop {
        let mut pids = Vec::new();
        {
            let mut session = registry.lock()?;
            for dir in &dirs {
                collect_unshared_pids(dir, &mut session, &mut pids)?;
            }
        }
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        // (on v1 each process is in every hierarchy's directory)
        pids.sort_unstable();
        pids.dedup();
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        for dir in &dirs {
            // (frozen tasks act on SIGKILL only once thawed; absent files are not frozen)
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    let mut session = registry.lock()?;
    let mut left = Vec::new();
    for dir in &dirs {
        // (child cgroups go with it, but those of other vrun containers)
        let others_inside = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.file_type().is_ok_and(|t| t.is_dir())
                    && session.is_marked(&e.path()).unwrap_or(true)
            });
        if !remove_tree(dir, !others_inside)? {
            left.push(dir.clone());
            continue;
        }
        session.unmark(dir)?;
        // the default placement's shared parent, `<caller>/vrun/<id>`
        if let Some(parent) = dir
            .parent()
            .filter(|p| p.file_name().is_some_and(|n| n == "vrun"))
            .filter(|_| dir.file_name().is_some_and(|n| n == id))
        {
            let _ = std::fs::remove_dir(parent);
        }
    }
    drop(session);
    // (a half-made init there ends by itself, soon: its create's sync socket closed)
    let deadline = Instant::now() + HALF_MADE_INIT_ENDS;
    for dir in &named {
        while !registry.lock()?.remove_marked_dir(dir)? && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let mut session = registry.lock()?;
    session.remove_marks_dir_if_empty();
    for dir in named.iter().filter(|d| d.exists()) {
        session.disown(dir)?;
    }
    session.save()?;
    Ok(left)
}

/// How long a force delete waits for the init of a create that died half-way to end by
/// itself, in a cgroup that may hold other containers' processes.
pub const HALF_MADE_INIT_ENDS: Duration = Duration::from_secs(2);

impl Session<'_> {
    /// Removes a marked directory with its mark if it is empty; false if it is in use.
    fn remove_marked_dir(&mut self, dir: &Path) -> Result<bool> {
        let gone = remove_tree(dir, false)?;
        if gone {
            self.unmark(dir)?;
        }
        Ok(gone)
    }
}

/// `<caller>/vrun/<id>`, or a directory below it: the default placement's, named by the id.
fn is_default_placement_of(dir: &Path, id: &str) -> bool {
    dir.ancestors().any(|d| {
        d.file_name().is_some_and(|n| n == id)
            && d.parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == "vrun")
    })
}

/// Takes back the marks a walk of [`Cgroup::make_dirs`] made for levels it did not make.
fn unmark_all(levels: &[(PathBuf, bool)], session: &mut Session) -> Result<()> {
    for (level, marked) in levels {
        if *marked {
            session.unmark(level)?;
        }
    }
    Ok(())
}

/// Removes a cgroup directory and, for a container's own directory, the empty child cgroups
/// made inside it (deepest first). Returns whether it is gone; a directory still in use
/// (EBUSY, ENOTEMPTY) is left.
fn remove_tree(dir: &Path, is_leaf: bool) -> Result<bool> {
    // A container's own directory, checked free of processes, can fail with EBUSY for a
    // moment after its last task exited, or because it has child cgroups (removed then,
    // once; most have none, so the listing is not made up front); a parent that is busy
    // has other children.
    let mut tries = 0;
    let mut children_removed = false;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::ENOTEMPTY))
                    && is_leaf
                    && !children_removed =>
            {
                children_removed = true;
                if let Ok(entries) = std::fs::read_dir(dir) {
                    for e in entries.flatten() {
                        if e.file_type().is_ok_and(|t| t.is_dir()) {
                            remove_tree(&e.path(), true)?;
                        }
                    }
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && is_leaf && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::ENOTEMPTY)) => {
                return Ok(false)
            }
            Err(e) => {
                return Err(Error::Io {
                    what: format!("remove cgroup {}", dir.display()),
                    source: e,
                })
            }
        }
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    collect_pids_below(dir, out, &mut |_| Ok(true))
}

/// The processes of `dir` and of its children but those another vrun container made (marked
/// ones: a parent this container made may hold other containers' cgroups since; its own
/// deeper levels are walked on their own). Unmarked children are the container's own making.
fn collect_unshared_pids(dir: &Path, session: &mut Session, out: &mut Vec<i32>) -> Result<()> {
    collect_pids_below(dir, out, &mut |child| Ok(!session.is_marked(child)?))
}

/// The pids in `dir`'s cgroup.procs, and in those of the child cgroups `walk_into` accepts,
/// recursively.
fn collect_pids_below(
    dir: &Path,
    out: &mut Vec<i32>,
    walk_into: &mut dyn FnMut(&Path) -> Result<bool>,
) -> Result<()> {
    let procs = match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::Io {
                what: format!("read {}/cgroup.procs", dir.display()),
                source: e,
            })
        }
    };
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) && walk_into(&e.path())? {
                collect_pids_below(&e.path(), out, walk_into)?;
            }
        }
    }
    Ok(())
}

/// A cgroup a process joins without anyone moving it: on v2 it is born there (clone3's
/// CLONE_INTO_CGROUP with [`SelfJoin::v2_dir`]); on v1 it writes "0" into each hierarchy's
/// `tasks` file, which the caller opened for it (the kernel checks the opener's credentials,
/// so this works from a new user namespace too).
///
/// Why not the caller writing the pid into `cgroup.procs`: moving a whole thread group takes
/// the global cgroup_threadgroup_rwsem for writing, and its first writer after a quiet spell
/// waits out a full RCU grace period (16 ms on this 2-CPU VM, measured: see
/// integration/bench/README.md). A thread moving itself alone (pid 0 into `tasks`) needs no
/// such lock (cgroup_procs_write_start takes it only for a thread group or another task's
/// pid): 0.08 ms; nor does a fork, which takes it for reading. The joining process is
/// single-threaded, so the thread is the process.
pub struct SelfJoin {
    tasks: Vec<(PathBuf, std::fs::File)>,
    v2_dir: Option<std::fs::File>,
}

impl SelfJoin {
    /// The v2 directory the process is to be cloned into, if there is one.
    pub fn v2_dir(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.v2_dir.as_ref().map(|f| f.as_fd())
    }

    /// Called by the joining process: its single thread goes into every v1 hierarchy.
    pub fn join(&self) -> Result<()> {
        use std::io::Write;
        for (file, fd) in &self.tasks {
            let mut fd: &std::fs::File = fd;
            fd.write_all(b"0").map_err(|e| Error::Io {
                what: format!("join {}", file.display()),
                source: e,
            })?;
        }
        Ok(())
    }
}
