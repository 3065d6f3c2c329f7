//! The state store: `<root>/<id>/state.json` plus the exec fifo, one lock per container, and
//! the status derived from the live process, never cached.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use vrun_cgroup::Cgroup;

use crate::error::{Context, Error, Result};

pub use crate::OCI_VERSION;
pub const FIFO: &str = "exec.fifo";
/// Made by `start` once the container's process is exec'd: its time is when it began, which
/// `kill` needs (see lifecycle::kill::hold_while_init_settles).
const STARTED: &str = "started";
const STATE_FILE: &str = "state.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What vrun keeps about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Persisted {
    pub id: String,
    pub pid: i32,
    /// Field 22 of `/proc/<pid>/stat` when the container was created.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Without a mount namespace of its own: the mount id of the rootfs's bind onto itself
    /// in the caller's namespace, which delete detaches (see vrun_rootfs::host_root). (Kept
    /// with the fields before the config's, which [`Salvaged`] reads from a damaged file.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_root_mount: Option<u64>,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup, recorded before init exists so that it is never lost.
    pub cgroup: Option<Cgroup>,
    /// The config the container was created with: hooks, namespaces, the process `exec`
    /// starts from.
    pub config: Spec,
    /// linux.seccomp of that config, applied to `exec`'d processes too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<vrun_seccomp::Profile>,
    /// The virtual disk (`--overlay` and friends), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<crate::disk::DiskState>,
    /// NOTIFY_SOCKET of the create that made it: `start` passes the container's READY there
    /// (or to its own NOTIFY_SOCKET, if it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_socket: Option<String>,
}

/// The state object of runtime.md, with runc's extra fields.
#[derive(Debug, Serialize)]
pub struct SpecState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: String,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

impl Persisted {
    /// The namespaces of the container's config (new, joined by path, or left out).
    pub fn namespaces(&self) -> Result<vrun_isolation::namespaces::Namespaces> {
        let list = self
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_deref());
        Ok(vrun_isolation::namespaces::Namespaces::from_spec(
            list.unwrap_or(&[]),
        )?)
    }

    /// Just enough of a container to signal and wait for its init (a damaged state's pid
    /// and start time: see [`Salvaged`]).
    pub(crate) fn recovered(id: &str, pid: i32, start_time: u64) -> Persisted {
        Persisted {
            id: id.into(),
            pid,
            start_time,
            bundle: PathBuf::new(),
            rootfs: PathBuf::new(),
            host_root_mount: None,
            created: String::new(),
            owner: String::new(),
            annotations: HashMap::new(),
            cgroup: None,
            config: Spec::default(),
            seccomp: None,
            disk: None,
            notify_socket: None,
        }
    }

    /// The container's cgroup, which pause, resume, update and events act on.
    pub fn own_cgroup(&self) -> Result<&vrun_cgroup::Cgroup> {
        self.cgroup
            .as_ref()
            .ok_or_else(|| Error::WrongState(format!("container \"{}\" has no cgroup", self.id)))
    }

    pub fn spec_state(&self, status: Status) -> SpecState<'_> {
        SpecState {
            oci_version: OCI_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.to_string(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: &self.annotations,
        }
    }

    pub fn spec_state_json(&self, status: Status) -> String {
        serde_json::to_string(&self.spec_state(status)).unwrap_or_default()
    }
}

/// A container's directory, locked for the lifetime of this value: commands on one id
/// serialise, and two `create` of one id never both succeed.
#[derive(Debug)]
pub struct ContainerDir {
    pub path: PathBuf,
    pub id: String,
    _lock: Flock<File>,
}

/// A directory a create made goes again if the create fails.
impl crate::made::Undo for ContainerDir {
    fn undo(self) {
        let _ = self.remove();
    }
}

impl ContainerDir {
    /// Makes the directory for a new container; an existing one is an error.
    pub fn create(root: &Path, id: &str) -> Result<ContainerDir> {
        crate::id::validate(id)?;
        ensure_root(root)?;
        let path = root.join(id);
        // The state holds the whole config, process.env's secrets among them: the directory
        // is searchable by others (as runc's, 0711: a container root of a user namespace
        // reaches an upper layer in it by path) but not listable, and its files are the
        // owner's alone, whatever the state root's own mode.
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.into()))
            }
            Err(e) => {
                return Err(Error::Io {
                    what: format!("create {}", path.display()),
                    source: e,
                })
            }
        }
        Self::lock(path, id)
    }

    /// Opens and locks an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<ContainerDir> {
        crate::id::validate(id)?;
        Self::lock(root.join(id), id)
    }

    /// Takes the exclusive lock on a container's directory (waiting for whoever holds it).
    fn lock(path: PathBuf, id: &str) -> Result<ContainerDir> {
        let dir = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(id.into()),
            _ => Error::Io {
                what: format!("open {}", path.display()),
                source: e,
            },
        })?;
        let lock = Flock::lock(dir, FlockArg::LockExclusive).map_err(|(_, e)| Error::Sys {
            what: format!("lock {}", path.display()),
            source: e,
        })?;
        Ok(ContainerDir {
            path,
            id: id.into(),
            _lock: lock,
        })
    }

    /// The fd holding the lock: init, a clone of `create`, closes its copy first thing, or
    /// a `create` killed before it unlocked would leave init holding the lock (and a
    /// directory fd of the host).
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&*self._lock)
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join(FIFO)
    }

    /// Records that the container's process was exec'd now (the file's modification time).
    pub fn mark_started(&self) -> Result<()> {
        let path = self.path.join(STARTED);
        File::create(&path).map(drop).map_err(|e| Error::Io {
            what: format!("create {}", path.display()),
            source: e,
        })
    }

    /// When the container's process was exec'd, if `start` recorded it.
    pub fn started_at(&self) -> Option<std::time::SystemTime> {
        std::fs::metadata(self.path.join(STARTED))
            .ok()?
            .modified()
            .ok()
    }

    pub fn load(&self) -> Result<Persisted> {
        load_state(&self.path, &self.id)
    }

    /// Writes state.json through a temporary file and a rename, so readers never see half.
    pub fn save(&self, state: &Persisted) -> Result<()> {
        let tmp = self.path.join(".state.json.tmp");
        let text = serde_json::to_vec(state)
            .map_err(|e| Error::Invalid(format!("encode the state: {e}")))?;
        write_private(&tmp, &text).context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, self.path.join(STATE_FILE))
            .context(|| format!("write {}/{STATE_FILE}", self.path.display()))
    }

    /// Removes the directory and everything in it. Most hold only state.json (and start's
    /// mark) by then: those and the directory go in three calls, and only a directory
    /// holding more is walked.
    pub fn remove(self) -> Result<()> {
        let _ = std::fs::remove_file(self.path.join(STATE_FILE));
        let _ = std::fs::remove_file(self.path.join(STARTED));
        match std::fs::remove_dir(&self.path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(_) => {}
        }
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io {
                what: format!("remove {}", self.path.display()),
                source: e,
            }),
        }
    }
}

/// Writes a file only its owner may read (0600, whatever the umask), replacing any.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // (a file an older vrun left, or someone else made, keeps its mode through open)
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(data)
}

fn ensure_root(root: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
    {
        Ok(()) => Ok(()),
        Err(e) => Err(Error::Io {
            what: format!("create the state root {}", root.display()),
            source: e,
        }),
    }
}

/// state.json's bytes, never through a symlink (the state is vrun's own file: a link there
/// would make vrun act on whatever it names).
fn read_state_file(dir: &Path, id: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = dir.join(STATE_FILE);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&file)
        .map_err(|e| match (e.kind(), e.raw_os_error()) {
            (std::io::ErrorKind::NotFound, _) => Error::NotFound(id.into()),
            (_, Some(libc::ELOOP)) => Error::Invalid(format!(
                "{}: a symlink, not vrun's state file",
                file.display()
            )),
            _ => Error::Io {
                what: format!("read {}", file.display()),
                source: e,
            },
        })?;
    let mut text = Vec::new();
    f.read_to_end(&mut text)
        .context(|| format!("read {}", file.display()))?;
    Ok(text)
}

/// Reads a container's state.json without locking (for `list` and `state`).
pub fn load_state(dir: &Path, id: &str) -> Result<Persisted> {
    let text = read_state_file(dir, id)?;
    if text.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: empty",
            dir.join(STATE_FILE).display()
        )));
    }
    let state: Persisted = serde_json::from_slice(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", dir.join(STATE_FILE).display())))?;
    // (a negative pid would name a process group to kill(2), one above the kernel's
    // PID_MAX_LIMIT no process)
    if !(0..=4_194_304).contains(&state.pid) {
        return Err(Error::Invalid(format!(
            "{}: pid {} is out of range",
            dir.join(STATE_FILE).display(),
            state.pid
        )));
    }
    Ok(state)
}

/// What can still be read of a state.json that does not parse (truncated, damaged): the
/// fields vrun writes before the config's, each taken where it first appears and only if it
/// parses on its own. A key inside a string cannot match: its quotes would be escaped.
#[derive(Debug, Default)]
pub struct Salvaged {
    pub pid: Option<i32>,
    pub start_time: Option<u64>,
    pub rootfs: Option<PathBuf>,
    pub host_root_mount: Option<u64>,
}

impl Salvaged {
    pub fn read(dir: &Path, id: &str) -> Salvaged {
        let Ok(mut text) = read_state_file(dir, id) else {
            return Salvaged::default();
        };
        // (the fields wanted all come before `created`, and the config's after it)
        let created = b"\"created\":";
        if let Some(end) = text.windows(created.len()).position(|w| w == created) {
            text.truncate(end);
        }
        fn field<T: serde::de::DeserializeOwned>(text: &[u8], key: &str) -> Option<T> {
            let needle = format!("\"{key}\":");
            let at = text
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())?;
            let rest = &text[at + needle.len()..];
            serde_json::Deserializer::from_slice(rest)
                .into_iter::<T>()
                .next()?
                .ok()
        }
        Salvaged {
            pid: field::<i32>(&text, "pid").filter(|p| *p > 0),
            start_time: field(&text, "start_time"),
            rootfs: field(&text, "rootfs"),
            host_root_mount: field(&text, "host_root_mount"),
        }
    }
}

/// state.json bytes through parsing and back to the state `vrun state` prints. For the fuzz
/// target (fuzz/) and its regression inputs: an error is fine, a panic is the bug.
pub fn check_state_bytes(data: &[u8]) -> Option<String> {
    let state: Persisted = serde_json::from_slice(data).ok()?;
    Some(state.spec_state_json(Status::Running))
}

/// The status of a container, from its process, its fifo and its freezer.
pub fn status(dir: &Path, state: &Persisted) -> Status {
    // pid 0: create has not cloned init yet (or was killed before it could).
    if state.pid == 0 {
        return Status::Creating;
    }
    if !crate::procfs::is_alive(state.pid, state.start_time) {
        return Status::Stopped;
    }
    if dir.join(FIFO).exists() {
        return Status::Created;
    }
    if state.cgroup.as_ref().is_some_and(|c| c.is_frozen()) {
        return Status::Paused;
    }
    Status::Running
}

/// Every container under the root, in name order, with its status. Directories without a
/// readable state.json (a create in progress, or one that died half-way) are left out.
pub fn list(root: &Path) -> Result<Vec<(Persisted, Status)>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Io {
                what: format!("read {}", root.display()),
                source: e,
            })
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let id = entry.file_name().to_string_lossy().into_owned();
        if let Ok(state) = load_state(&dir, &id) {
            let s = status(&dir, &state);
            out.push((state, s));
        }
    }
    out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    Ok(out)
}

/// Every disk under `root` (`vrun disk list`): the containers' and the kept ones.
pub fn disks(root: &Path) -> Result<Vec<crate::disk::DiskRow>> {
    let containers = list(root)?
        .into_iter()
        .filter_map(|(state, status)| Some((state.id, status.to_string(), state.disk?)))
        .collect();
    crate::disk::list(root, containers)
}

/// A directory given as the upper layer (`--upper-dir`) is one container's at a time.
pub fn check_upper_dir_unused(root: &Path, plan: Option<&crate::disk::DiskPlan>) -> Result<()> {
    let Some(d) = plan.and_then(|p| p.upper_dir.as_ref()) else {
        return Ok(());
    };
    for (state, status) in list(root)? {
        let live = !matches!(status, Status::Stopped);
        if live
            && state
                .disk
                .as_ref()
                .is_some_and(|s| s.given_upper && &s.dir == d)
        {
            return Err(Error::Invalid(format!(
                "--upper-dir {}: container {:?} is using it",
                d.display(),
                state.id
            )));
        }
    }
    Ok(())
}
