//! `checkpoint` and `restore`: a running container written to disk by CRIU and brought back,
//! with runc's commands and flags. vrun runs the `criu` binary (`--criu PATH`) with the
//! options runc gives it through CRIU's RPC: the container's bind mounts and the /dev/null
//! binds of masked files are external mounts (dumped as keys, given their host sources again
//! on restore); the rootfs is bound onto a directory of the state for CRIU's `--root`, in a
//! mount namespace of the restore's own, so nothing of it shows on the host; the restored
//! processes start in the container's cgroup because CRIU does (it is moved there first).
//!
//! Without `--leave-running`, a checkpointed container is gone afterwards, as with runc: its
//! processes end with the dump and vrun deletes it, so that `restore` can use the id again.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;
use vrun_cgroup::{Cgroup, Hierarchy, Placement, Registry};

use vrun_rootfs::mounts::is_bind;

use crate::bundle::Bundle;
use crate::error::{Context, Error, Result};
use crate::made::{Made, Undo};
use crate::state::{status, ContainerDir, Persisted, Status};

/// What both commands share (serde's: containerd-shim-vrun-v2 passes them to its maker).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CriuOptions {
    /// The criu binary (`--criu`).
    pub criu: PathBuf,
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    /// soft, full, strict or ignore.
    pub manage_cgroups_mode: Option<String>,
    /// Namespace types CRIU creates empty rather than restoring (e.g. "network").
    pub empty_ns: Vec<String>,
    pub auto_dedup: bool,
    pub lazy_pages: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CheckpointOptions {
    pub root: PathBuf,
    pub id: String,
    pub criu: CriuOptions,
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub tcp_skip_in_flight: bool,
    pub link_remap: bool,
    pub status_fd: Option<i32>,
    /// ADDRESS:PORT of a CRIU page server.
    pub page_server: Option<String>,
    pub pre_dump: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub criu: CriuOptions,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_subreaper: bool,
    pub no_pivot: bool,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
    pub systemd_cgroup: bool,
}

const MANAGE_MODES: [&str; 4] = ["soft", "full", "strict", "ignore"];

impl CriuOptions {
    fn common_args(&self, cmd: &mut Command) -> Result<()> {
        let mode = self.manage_cgroups_mode.as_deref().unwrap_or("soft");
        if !MANAGE_MODES.contains(&mode) {
            return Err(Error::Invalid(format!(
                "--manage-cgroups-mode: {mode:?} is not one of soft, full, strict, ignore"
            )));
        }
        cmd.arg("--images-dir")
            .arg(&self.image_path)
            .arg("--work-dir")
            .arg(self.work_dir())
            .arg("-v4")
            // (an optional argument: its value must be attached)
            .arg(format!("--manage-cgroups={mode}"));
        for (on, flag) in [
            (self.tcp_established, "--tcp-established"),
            (self.ext_unix_sk, "--ext-unix-sk"),
            (self.shell_job, "--shell-job"),
            (self.file_locks, "--file-locks"),
            (self.auto_dedup, "--auto-dedup"),
            (self.lazy_pages, "--lazy-pages"),
        ] {
            if on {
                cmd.arg(flag);
            }
        }
        // CRIU locks the container's network during the dump with iptables by default; where
        // iptables-restore is missing, with nf_tables (CRIU >= 3.16), on both sides.
        if !on_path("iptables-restore") {
            cmd.arg("--network-lock=nftables");
        }
        for ns in &self.empty_ns {
            let name = match ns.as_str() {
                "network" | "net" => "net",
                other => {
                    return Err(Error::Invalid(format!(
                        "--empty-ns: {other:?}: CRIU can leave only the network namespace empty"
                    )))
                }
            };
            cmd.args(["--empty-ns", name]);
        }
        Ok(())
    }

    /// Where CRIU writes its logs: --work-path, or the images.
    fn work_dir(&self) -> &Path {
        self.work_path.as_deref().unwrap_or(&self.image_path)
    }

    /// The criu binary runs at all (a clear error rather than an exec failure later).
    /// Makes `--image-path` and `--work-path` where they are missing, as runc does (0700);
    /// returns what it made.
    fn make_dirs(&self) -> Result<MadeDirs> {
        let mut made = MadeDirs(Vec::new());
        for (flag, dir) in [
            ("--image-path", Some(&self.image_path)),
            ("--work-path", self.work_path.as_ref()),
        ] {
            if let Some(dir) = dir.filter(|d| !d.exists()) {
                // (every missing level, deepest last, for undo)
                let mut missing: Vec<PathBuf> = dir
                    .ancestors()
                    .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
                    .map(Path::to_path_buf)
                    .collect();
                missing.reverse();
                make_private_dir(flag, dir)?;
                made.0.extend(missing);
            }
        }
        Ok(made)
    }

    fn check_binary(&self) -> Result<()> {
        match Command::new(&self.criu).arg("--version").output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(Error::Invalid(format!(
                "criu ({}) does not run here: {}",
                self.criu.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))),
            Err(e) => Err(Error::Invalid(format!(
                "checkpoint and restore need CRIU: {} cannot be run ({e}); install criu or give its path with --criu",
                self.criu.display()
            ))),
        }
    }
}

/// mkdir -p, the last level 0700 (CRIU's images hold the container's memory).
fn make_private_dir(flag: &str, dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .context(|| format!("{flag}: create {}", dir.display()))
}

/// The directories [`CriuOptions::make_dirs`] made, for a checkpoint refused after it.
struct MadeDirs(Vec<PathBuf>);

impl MadeDirs {
    fn undo(self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// An I/O error as Go prints its errno (runc's messages): "no such file or directory".
fn go_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

/// Masked paths that are files are /dev/null bound over them: external mounts to CRIU.
fn masked_files(state: &Persisted) -> Vec<String> {
    let masked = state
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default();
    masked
        .into_iter()
        .filter(|p| {
            std::fs::symlink_metadata(format!("/proc/{}/root{p}", state.pid))
                .is_ok_and(|m| !m.is_dir())
        })
        .collect()
}

/// Where checkpoint leaves the keys of init's stdio for restore (runc's file name).
const DESCRIPTORS: &str = "descriptors.json";

/// CRIU's keys for init's fds 0, 1 and 2 that lie outside the container: a file on a mount
/// the container does not have (`file[MNT_ID:INODE]`, hex, as CRIU names it) or a pipe
/// (`pipe:[INODE]`); None for what CRIU dumps itself.
fn external_stdio(pid: i32) -> Vec<Option<String>> {
    let container_mounts: Vec<u64> = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    (0..3)
        .map(|fd| {
            let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
            let link = link.to_string_lossy().into_owned();
            if link.starts_with("pipe:") {
                return Some(link);
            }
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
            let mnt_id: u64 = info
                .lines()
                .find_map(|l| l.strip_prefix("mnt_id:"))?
                .trim()
                .parse()
                .ok()?;
            if container_mounts.contains(&mnt_id) {
                return None;
            }
            use std::os::unix::fs::MetadataExt;
            let ino = std::fs::metadata(format!("/proc/{pid}/fd/{fd}"))
                .ok()?
                .ino();
            Some(format!("file[{mnt_id:x}:{ino:x}]"))
        })
        .collect()
}

/// The last error lines of a CRIU log, for the message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Error") || l.contains("error"))
        .collect();
    let lines = if errors.is_empty() {
        text.lines().rev().take(3).collect::<Vec<_>>()
    } else {
        errors.into_iter().rev().take(3).collect()
    };
    lines.into_iter().rev().collect::<Vec<_>>().join("; ")
}

fn run_criu(mut cmd: Command, what: &str, log: &Path) -> Result<()> {
    tracing::debug!("{what}: {cmd:?}");
    let out = cmd
        .output()
        .context(|| format!("{what}: run {:?}", cmd.get_program()))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = match log_tail(log) {
        t if t.is_empty() => stderr.trim().lines().last().unwrap_or("").to_string(),
        t => t,
    };
    // (CRIU may fail before it opens its log: an image directory it cannot open, say)
    let log = match log.exists() {
        true => format!("its log: {}", log.display()),
        false => "it wrote no log".to_string(),
    };
    Err(Error::Invalid(format!(
        "{what} failed ({}; {log}): {said}",
        out.status
    )))
}

pub fn checkpoint(opts: &CheckpointOptions) -> Result<()> {
    let dir = ContainerDir::open(&opts.root, &opts.id)?;
    let state = dir.load()?;
    let paused = match status(&dir.path, &state) {
        Status::Running => false,
        Status::Paused => true,
        s => {
            return Err(Error::WrongState(format!(
                "cannot checkpoint container \"{}\": it is {s}, not running",
                opts.id
            )))
        }
    };
    let ns = state.namespaces()?;
    if !ns.is_new(LinuxNamespaceType::Mount) {
        return Err(Error::Invalid(
            "checkpoint: the container needs a mount namespace of its own".into(),
        ));
    }
    if opts.parent_path.as_deref().is_some_and(Path::is_absolute) {
        // runc's words
        return Err(Error::Invalid("--parent-path must be relative".into()));
    }
    opts.criu.check_binary()?;
    let made = opts.criu.make_dirs()?;
    if let Some(parent) = &opts.parent_path {
        let real = opts.criu.image_path.join(parent);
        let problem = match std::fs::metadata(&real) {
            Ok(m) if m.is_dir() => None,
            Ok(_) => Some(format!("{}: not a directory", real.display())),
            Err(e) => Some(format!("stat {}: {}", real.display(), go_error_text(&e))),
        };
        if let Some(problem) = problem {
            made.undo();
            return Err(Error::Invalid(format!("invalid --parent-path: {problem}")));
        }
    }
    let mut cmd = dump_command(opts, &state)?;
    // A paused container's processes are frozen by its cgroup (containerd pauses a task
    // before it checkpoints it: `ctr containers checkpoint --task`). CRIU is told that
    // freezer, as runc tells it: CRIU then takes the tree as the cgroup holds it, without
    // seizing a frozen task on its own, and leaves the cgroup frozen with --leave-running.
    // (The microVM's check passes with and without it, on criu 3.17; this is runc's way.)
    if paused {
        let freezer = state.own_cgroup()?.freezer_dir().ok_or_else(|| {
            Error::Invalid("checkpoint of a paused container: no freezer cgroup".into())
        })?;
        cmd.arg("--freeze-cgroup").arg(freezer);
    }
    // init's stdio opened outside the container (vrun's caller's /dev/null, files, pipes):
    // external to CRIU, and given again on restore (descriptors.json, as runc keeps it)
    let keys = external_stdio(state.pid);
    for key in keys.iter().flatten().filter(|k| k.starts_with("file[")) {
        cmd.arg("--external").arg(key);
    }
    let descriptors = opts.criu.image_path.join(DESCRIPTORS);
    std::fs::write(
        &descriptors,
        serde_json::to_vec(&keys).map_err(|e| Error::Invalid(e.to_string()))?,
    )
    .context(|| format!("write {}", descriptors.display()))?;
    let log = opts.criu.work_dir().join("dump.log");
    run_criu(
        cmd,
        if opts.pre_dump {
            "criu pre-dump"
        } else {
            "criu dump"
        },
        &log,
    )?;
    if opts.leave_running || opts.pre_dump {
        return Ok(());
    }
    // The processes ended with the dump: the container goes, as with runc.
    crate::lifecycle::delete::destroy(&opts.root, dir, &state)
}

/// CRIU's dump (or pre-dump) of the container's tree, with the options asked for and the
/// container's host bind mounts and masked files as externals.
fn dump_command(opts: &CheckpointOptions, state: &Persisted) -> Result<Command> {
    let mut cmd = Command::new(&opts.criu.criu);
    cmd.arg(if opts.pre_dump { "pre-dump" } else { "dump" })
        .args(["--tree", &state.pid.to_string()])
        .arg("--root")
        .arg(&state.rootfs)
        .args(["--log-file", "dump.log"]);
    opts.criu.common_args(&mut cmd)?;
    if let Some(parent) = &opts.parent_path {
        cmd.arg("--prev-images-dir").arg(parent);
    }
    if opts.pre_dump || opts.parent_path.is_some() {
        cmd.arg("--track-mem");
    }
    for (on, flag) in [
        (opts.leave_running, "--leave-running"),
        (opts.tcp_skip_in_flight, "--skip-in-flight"),
        (opts.link_remap, "--link-remap"),
    ] {
        if on {
            cmd.arg(flag);
        }
    }
    if let Some(fd) = opts.status_fd {
        cmd.args(["--status-fd", &fd.to_string()]);
    }
    if let Some(server) = &opts.page_server {
        let (addr, port) = server.rsplit_once(':').ok_or_else(|| {
            Error::Invalid(format!("--page-server: {server:?} is not ADDRESS:PORT"))
        })?;
        cmd.args(["--page-server", "--address", addr, "--port", port]);
    }
    // Bind mounts from the host, and /dev/null over masked files: CRIU records them by key.
    for m in state
        .config
        .mounts()
        .iter()
        .flatten()
        .filter(|m| is_bind(m))
    {
        let dest = m.destination().display().to_string();
        cmd.arg("--external").arg(format!("mnt[{dest}]:{dest}"));
    }
    for p in masked_files(state) {
        cmd.arg("--external").arg(format!("mnt[{p}]:/dev/null"));
    }
    Ok(cmd)
}

/// Restores a checkpointed container from the bundle's config, under `opts.id`; returns the
/// exit status to leave with (0 when detached).
pub fn restore(opts: &RestoreOptions) -> Result<i32> {
    crate::id::validate(&opts.id)?;
    refuse_lsm_labels(opts)?;
    let bundle = Bundle::load(&opts.bundle)?;
    bundle.validate()?;
    let spec = &bundle.spec;
    let (linux, process) = crate::bundle::parts(spec)?;
    refuse_what_restore_cannot_give(opts, process)?;
    opts.criu.check_binary()?;
    if let Some(work) = opts.criu.work_path.as_ref().filter(|w| !w.exists()) {
        make_private_dir("--work-path", work)?;
    }
    let ns = vrun_isolation::namespaces::Namespaces::from_spec(
        linux.namespaces().as_deref().unwrap_or(&[]),
    )?;
    if !ns.is_new(LinuxNamespaceType::Mount) {
        return Err(Error::Invalid(
            "restore: the container needs a mount namespace of its own".into(),
        ));
    }
    let cgroups_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    let placement = Placement::parse(cgroups_path.as_deref(), &opts.id, opts.systemd_cgroup)?;
    if matches!(placement, Placement::Systemd { .. }) {
        return Err(Error::Invalid(
            "restore with --systemd-cgroup is not supported by vrun yet".into(),
        ));
    }
    let hierarchy = Hierarchy::detect()?;
    let dir = Made::new(ContainerDir::create(&opts.root, &opts.id)?);
    let registry = Registry::for_container(&opts.root, &opts.id);
    let cgroup = Cgroup::create(&hierarchy, &placement, &registry)?;
    let own_cgroup = Made::new(RestoredCgroup(cgroup.clone(), registry));
    cgroup.apply(&linux.resources().clone().unwrap_or_default())?;
    let state_dir = dir.path.clone();
    let criu_root = state_dir.join("criu-root");
    std::fs::create_dir(&criu_root).context(|| format!("create {}", criu_root.display()))?;
    let pidfile = state_dir.join("criu.pid");

    let root = vrun_rootfs::resolve::Root::open(&bundle.rootfs)?;
    vrun_rootfs::mounts::make_restore_mountpoints(
        &root,
        spec.mounts().as_deref().unwrap_or(&[]),
        &bundle.dir,
    )?;
    drop(root);
    let (cmd, inherited) = restore_command(opts, &bundle, &criu_root, &pidfile, &cgroup)?;
    if !opts.no_subreaper && !opts.detach {
        // The restored init is CRIU's child, which exits: it comes to vrun, which waits for it.
        nix::sys::prctl::set_child_subreaper(true)
            .context(|| "prctl(PR_SET_CHILD_SUBREAPER)".into())?;
    }
    let log = opts.criu.work_dir().join("restore.log");
    run_criu(cmd, "criu restore", &log)?;
    drop(inherited);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "criu restore wrote no pid to {}",
                pidfile.display()
            ))
        })?;
    let restored = Made::new(Restored(pid));
    let (_, start_time) = crate::procfs::stat(pid)
        .ok_or_else(|| Error::Failed("the restored process exited at once".into()))?;
    let state = restored_state(opts, &bundle, pid, start_time, cgroup);
    dir.save(&state)?;
    if let Some(f) = &opts.pid_file {
        crate::lifecycle::create::write_pid_file(f, pid)?;
    }
    if let Some(socket) = &opts.pidfd_socket {
        crate::console::send_pidfd(socket, pid)?;
    }
    // restored: nothing to undo any more, last made first (the state directory's lock goes
    // with it)
    restored.keep();
    own_cgroup.keep();
    drop(dir.keep());
    if opts.detach {
        return Ok(0);
    }
    let code = crate::lifecycle::run::wait_foreground(Pid::from_raw(pid), None)?;
    if let Ok(dir) = ContainerDir::open(&opts.root, &opts.id) {
        if let Ok(state) = dir.load() {
            crate::lifecycle::delete::destroy(&opts.root, dir, &state)?;
        }
    }
    Ok(code)
}

/// vrun applies no LSM label on restore: asking for one is refused by name.
fn refuse_lsm_labels(opts: &RestoreOptions) -> Result<()> {
    if let Some(profile) = &opts.lsm_profile {
        return Err(Error::Invalid(format!(
            "--lsm-profile {profile:?}: vrun applies no LSM label on restore (neither AppArmor nor SELinux profiles are restored by it)"
        )));
    }
    if opts.lsm_mount_context.is_some() {
        return Err(Error::Invalid(
            "--lsm-mount-context: vrun does not apply SELinux mount contexts".into(),
        ));
    }
    Ok(())
}

/// A terminal, which restore does not give back yet, refused by name.
fn refuse_what_restore_cannot_give(
    opts: &RestoreOptions,
    process: &oci_spec::runtime::Process,
) -> Result<()> {
    if process.terminal().unwrap_or(false) && opts.console_socket.is_none() {
        return Err(Error::Invalid(
            "process.terminal is true: restore needs --console-socket (or --shell-job with a checkpoint of a terminal)".into(),
        ));
    }
    if opts.console_socket.is_some() {
        return Err(Error::Invalid(
            "--console-socket: vrun does not restore a container's terminal yet".into(),
        ));
    }
    Ok(())
}

/// CRIU's restore into the container's cgroup, in a mount namespace of its own where the
/// rootfs is bound at `criu_root`, with the bind mounts and init's outside stdio given again;
/// with the copies of vrun's stdio that CRIU inherits, to be kept open until it has run.
fn restore_command(
    opts: &RestoreOptions,
    bundle: &Bundle,
    criu_root: &Path,
    pidfile: &Path,
    cgroup: &Cgroup,
) -> Result<(Command, Vec<OwnedFd>)> {
    let spec = &bundle.spec;
    let (linux, _) = crate::bundle::parts(spec)?;
    let mut cmd = Command::new(&opts.criu.criu);
    cmd.arg("restore")
        .arg("--root")
        .arg(criu_root)
        .args(["--restore-detached", "--log-file", "restore.log"])
        .arg("--pidfile")
        .arg(pidfile);
    opts.criu.common_args(&mut cmd)?;
    for m in spec.mounts().iter().flatten().filter(|m| is_bind(m)) {
        let Some(source) = m.source() else { continue };
        let source = bundle.dir.join(source);
        cmd.arg("--external").arg(format!(
            "mnt[{}]:{}",
            m.destination().display(),
            source.display()
        ));
    }
    if linux.masked_paths().as_ref().is_some_and(|m| !m.is_empty()) {
        cmd.args(["--external", "mnt[/dev/null]:/dev/null"]);
    }
    // init's stdio from outside the container: this restore's own fds 0, 1, 2 stand in. CRIU
    // gets copies of them at other numbers: its own 0, 1 and 2 are /dev/null and the pipes its
    // output is read from (run_criu), and a pipe of init's given as /dev/null fails the
    // restore ("Can't restore pipe size").
    let descriptors = opts.criu.image_path.join(DESCRIPTORS);
    let mut inherited = Vec::new();
    if let Ok(text) = std::fs::read(&descriptors) {
        let keys: Vec<Option<String>> = serde_json::from_slice(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", descriptors.display())))?;
        for (fd, key) in keys.iter().enumerate() {
            if let Some(key) = key {
                let copy = crate::sys::dup_inheritable(fd as i32).context(|| {
                    format!("restore: init's fd {fd} ({key}): this restore's fd {fd}")
                })?;
                cmd.arg("--inherit-fd")
                    .arg(format!("fd[{}]:{key}", copy.as_raw_fd()));
                inherited.push(copy);
            }
        }
    }
    // The restored processes are born where CRIU runs: in the container's cgroup, in a mount
    // namespace where the rootfs is bound at criu-root (and nowhere on the host).
    let criu_cgroup = cgroup.clone();
    let rootfs = bundle.rootfs.clone();
    let root_target = criu_root.to_path_buf();
    crate::sys::pre_exec(&mut cmd, move || {
        criu_cgroup
            .add_process(std::process::id() as i32)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::MS_SLAVE | nix::mount::MsFlags::MS_REC,
            None::<&str>,
        )?;
        nix::mount::mount(
            Some(&rootfs),
            &root_target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
            None::<&str>,
        )?;
        Ok(())
    });
    Ok((cmd, inherited))
}

/// The state of a restored container.
fn restored_state(
    opts: &RestoreOptions,
    bundle: &Bundle,
    pid: i32,
    start_time: u64,
    cgroup: Cgroup,
) -> Persisted {
    let spec = &bundle.spec;
    Persisted {
        id: opts.id.clone(),
        pid,
        start_time,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::time::now_rfc3339(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup: Some(cgroup),
        config: spec.clone(),
        seccomp: bundle.seccomp.clone(),
        disk: None,
        host_root_mount: None,
        notify_socket: None,
    }
}

/// A failed restore's cgroup: what is in it killed, the directories removed.
struct RestoredCgroup(Cgroup, Registry);

impl Undo for RestoredCgroup {
    fn undo(self) {
        let _ = self.0.kill_all(std::time::Duration::from_secs(5));
        let _ = self.0.remove(&self.1);
    }
}

/// A failed restore's process (CRIU's child, not ours to reap): killed.
struct Restored(i32);

impl Undo for Restored {
    fn undo(self) {
        let _ = nix::sys::signal::kill(Pid::from_raw(self.0), nix::sys::signal::Signal::SIGKILL);
    }
}
