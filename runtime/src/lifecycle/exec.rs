//! `exec`: a new process inside a running container, in all of its namespaces and its cgroup,
//! with the process attributes of `--process` (or of the container's own process, changed by
//! the command-line flags, as runc does).

use std::convert::Infallible;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::signal::SigmaskHow;
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, LinuxNamespaceType, Process};
use vrun_isolation::namespaces::{self, Namespaces};
use vrun_isolation::{attrs, clone_process, CloneResult};

use crate::error::{Context, Error, Result};
use crate::lifecycle::create::write_pid_file;
use crate::lifecycle::run::{forwarded_signals, wait_foreground};
use crate::made::{self, Made};
use crate::process::{self, Program};
use crate::seccomp::Seccomp;
use crate::state::{status, ContainerDir, Persisted, Status};
use crate::sync::{self, Channel};
use crate::{console, sys};

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub root: PathBuf,
    pub id: String,
    /// `--process FILE`; otherwise the container's process with the changes below.
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub tty: bool,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// `uid[:gid]`
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    /// A terminal's pty master is given back in [`Spawned::console`] even when detached (a
    /// shim that copies the terminal itself), in place of `--console-socket`.
    pub console_to_caller: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// `--pidfd-socket`: where a pidfd of the process goes once it runs.
    pub pidfd_socket: Option<PathBuf>,
    /// `--cgroup`: sub-cgroups to run in, by controller ("" for all; see
    /// `Cgroup::add_process_to_sub`).
    pub sub_cgroups: std::collections::HashMap<String, String>,
    /// `--ignore-paused`: exec into a paused container (the process starts frozen).
    pub ignore_paused: bool,
    /// `--process-label`: the SELinux label (process.selinuxLabel).
    pub process_label: Option<String>,
    /// `--apparmor`: the AppArmor profile (process.apparmorProfile).
    pub apparmor: Option<String>,
    /// The caller's fds the process gets (see passed_fds); None: reserved here, from
    /// `preserve_fds`.
    pub passed_fds: Option<crate::passed_fds::PassedFds>,
}

/// runc's `exec --cgroup` arguments: `[<controller>[,<controller>...]:]<path>`; a path
/// without a controller is for every hierarchy and must be the only argument.
pub fn parse_sub_cgroups(args: &[String]) -> Result<std::collections::HashMap<String, String>> {
    let mut paths = std::collections::HashMap::new();
    for arg in args {
        let bad = |why: &str| Error::Invalid(format!("invalid --cgroup argument: {arg}{why}"));
        let parts: Vec<&str> = arg.splitn(3, ':').collect();
        match parts.as_slice() {
            [path] => {
                if args.len() != 1 {
                    return Err(bad(" (missing <controller>: prefix)"));
                }
                paths.insert(String::new(), path.to_string());
            }
            [controllers, path] => {
                for c in controllers.split(',') {
                    if c.is_empty() {
                        return Err(bad(" (empty <controller> prefix)"));
                    }
                    if paths.insert(c.to_string(), path.to_string()).is_some() {
                        return Err(Error::Invalid(format!(
                            "invalid --cgroup argument(s): controller {c} specified multiple times"
                        )));
                    }
                }
            }
            _ => return Err(bad("")),
        }
    }
    Ok(paths)
}

/// Fields a --process file may leave out and the exec'd process then takes from the
/// container's own process, as runc's exec does for most of them (it takes the capabilities,
/// rlimits, AppArmor and SELinux labels and no_new_privs from the container when the file
/// has none). vrun takes the user and cwd too, where runc would run as uid 0 (Go's zero
/// value) or refuse: a process.json written for a container usually means its user. The
/// environment is never merged: the file's env is the whole env, as with runc.
const INHERITED_FIELDS: [&str; 7] = [
    "user",
    "cwd",
    "capabilities",
    "rlimits",
    "apparmorProfile",
    "selinuxLabel",
    "noNewPrivileges",
];

fn inherit_missing_fields(value: &mut serde_json::Value, base: Option<&Process>) -> Result<()> {
    let (Some(obj), Some(base)) = (value.as_object_mut(), base) else {
        return Ok(());
    };
    let base = serde_json::to_value(base).map_err(|e| Error::Invalid(e.to_string()))?;
    for key in INHERITED_FIELDS {
        if let (false, Some(v)) = (obj.contains_key(key), base.get(key)) {
            obj.insert(key.to_string(), v.clone());
        }
    }
    // with no cwd anywhere, "/" (the spec's default)
    obj.entry("cwd").or_insert_with(|| "/".into());
    Ok(())
}

/// The process to run: from `--process`, or derived from the container's own.
pub fn build_process(opts: &ExecOptions, base: Option<&Process>) -> Result<Process> {
    if let Some(file) = &opts.process_file {
        let text = std::fs::read(file).context(|| format!("read --process {}", file.display()))?;
        let mut value: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", file.display())))?;
        crate::bundle::prepare_process(&mut value, "", file);
        inherit_missing_fields(&mut value, base)?;
        let p: Process = serde_path_to_error::deserialize(&value).map_err(|e| {
            Error::Invalid(format!("{}: {}: {}", file.display(), e.path(), e.inner()))
        })?;
        crate::bundle::warn_dropped_fields(&value, &p, file);
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::Invalid(format!(
                "{}: args: must name the program to run",
                file.display()
            )));
        }
        if let Some((field, i, e)) = crate::process::nul_byte_in(&p) {
            return Err(Error::Invalid(format!(
                "{}: {field}[{i}]: {e:?} contains a NUL byte",
                file.display()
            )));
        }
        return Ok(p);
    }
    if opts.args.is_empty() {
        return Err(Error::Invalid(
            "exec: no command given (pass ARGS... or --process FILE)".into(),
        ));
    }
    let mut p = base.cloned().ok_or_else(|| {
        Error::Invalid("the container's config has no process to start from".into())
    })?;
    p.set_args(Some(opts.args.clone()));
    p.set_terminal(Some(opts.tty));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    if !opts.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for kv in &opts.env {
            let key = kv.split('=').next().unwrap_or_default();
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(u) = &opts.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, ""));
        let parse = |s: &str, what: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::Invalid(format!("--user {u:?}: {what} is not a number")))
        };
        let mut user = p.user().clone();
        user.set_uid(parse(uid, "uid")?);
        if !gid.is_empty() {
            user.set_gid(parse(gid, "gid")?);
        }
        p.set_user(user);
    }
    if !opts.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(opts.additional_gids.clone()));
        p.set_user(user);
    }
    if !opts.caps.is_empty() {
        // Not `unwrap_or_default()`: oci-spec's default is a non-empty set of capabilities.
        let empty = || serde_json::from_str("{}").map_err(|e| Error::Invalid(e.to_string()));
        let mut caps = match p.capabilities().clone() {
            Some(c) => c,
            None => empty()?,
        };
        for name in &opts.caps {
            // As runc: a name it does not know is a warning, not an error.
            let Ok(cap) = name.trim_start_matches("CAP_").parse::<Capability>() else {
                tracing::warn!("--cap {name:?} is not a capability vrun knows: ignored");
                continue;
            };
            // As runc since CVE-2022-29162: every set but the inheritable one.
            let with = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(with(caps.bounding()));
            caps.set_effective(with(caps.effective()));
            caps.set_permitted(with(caps.permitted()));
            caps.set_ambient(with(caps.ambient()));
        }
        p.set_capabilities(Some(caps));
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

/// An exec'd process, running in the container: its pid, and with a terminal proxied by
/// vrun (`--tty` without `--console-socket`), the pty master.
pub struct Spawned {
    pub pid: Pid,
    pub console: Option<OwnedFd>,
}

impl Spawned {
    /// Waits for the process, forwarding signals to it (blocked by [`spawn`] unless
    /// detached) and proxying its terminal; its exit status, 128+N when killed by signal N.
    pub fn wait(self) -> Result<i32> {
        wait_foreground(self.pid, self.console.as_ref())
    }
}

/// Runs the process; returns its exit status (0 when detached).
pub fn exec(opts: &ExecOptions) -> Result<i32> {
    let spawned = spawn(opts)?;
    if opts.detach {
        return Ok(0);
    }
    spawned.wait()
}

/// Starts the process in the container and returns once it has exec'd (its pid file
/// written, its pidfd sent). Unless `opts.detach`, the signals vrun forwards stay blocked
/// for [`Spawned::wait`].
pub fn spawn(opts: &ExecOptions) -> Result<Spawned> {
    let passed_fds = crate::passed_fds::PassedFds::given_or_reserved(
        opts.passed_fds.as_ref(),
        opts.preserve_fds,
    )?;
    let target = Target::load(opts)?;
    let (console_socket, console_receiver) = console_pair(opts, &target.process)?;
    let seccomp = crate::seccomp::SeccompSetup::new(target.state.seccomp.as_ref())?;
    let container_state = target.state.spec_state_json(Status::Running);
    let (parent_end, child_end) = sync::pair()?;
    if !opts.detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded_signals()), None)
            .context(|| "block signals".into())?;
    }
    let mut fds = target.fds;
    let entered = EnteredNamespaces::enter(&mut fds)?;
    // Inherited by the process, until it is in the container's cgroup.
    process::apply_cpu_affinity(&target.process, process::AffinityStage::Initial)?;
    let self_join = self_join(opts, &target.state);
    let (cloned, born_placed) =
        super::clone_joining(nix::sched::CloneFlags::empty(), self_join.as_ref(), true);
    let pid = match cloned.context(|| "fork the exec process".into())? {
        CloneResult::Child => {
            // (the host's pid and time namespaces among them: the parent's to go back to)
            drop((parent_end, entered, console_receiver));
            let err = match sys::no_unwind(|| {
                exec_child(
                    &child_end,
                    &fds,
                    target.root.as_ref(),
                    ExecTarget {
                        process: &target.process,
                        linux: &target.linux,
                        cgroup_join: self_join.as_ref(),
                    },
                    console_socket.as_ref(),
                    FdsAndGroups {
                        passed_fds: &passed_fds,
                        setgroups_allowed: target.setgroups_allowed,
                    },
                    ExecSeccomp {
                        setup: seccomp.as_ref(),
                        container_state,
                    },
                )
            }) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = child_end.send(sync::ERROR, err.to_string().as_bytes());
            sys::exit_now(1)
        }
        CloneResult::Parent(pid) => pid,
    };
    let process = Made::new(made::Child(pid));
    entered.leave(&fds)?;
    drop((child_end, console_socket, fds, seccomp, target.root));
    let joined = self_join.map(|_| born_placed);
    let console = finish_parent(
        opts,
        &target.state,
        pid,
        &parent_end,
        console_receiver,
        joined,
    )?;
    Ok(Spawned {
        pid: process.keep().0,
        console,
    })
}

/// The container the process joins, checked, and the process itself, built from the
/// options and the container's own.
struct Target {
    state: Persisted,
    process: Process,
    linux: oci_spec::runtime::Linux,
    fds: Vec<(LinuxNamespaceType, OwnedFd)>,
    root: Option<OwnedFd>,
    setgroups_allowed: bool,
}

impl Target {
    fn load(opts: &ExecOptions) -> Result<Target> {
        let dir = ContainerDir::open(&opts.root, &opts.id)?;
        let state = dir.load()?;
        match status(&dir.path, &state) {
            Status::Running | Status::Created => {}
            Status::Paused if opts.ignore_paused => {}
            Status::Paused => {
                return Err(Error::WrongState(
                    "cannot exec in a paused container (use --ignore-paused to override)".into(),
                ))
            }
            s => {
                return Err(Error::WrongState(format!(
                    "cannot exec in container \"{}\": it is {s}",
                    opts.id
                )))
            }
        }
        let process = checked_process(opts, &state)?;
        let linux = state.config.linux().clone().unwrap_or_default();
        if process.terminal().unwrap_or(false)
            && opts.detach
            && opts.console_socket.is_none()
            && !opts.console_to_caller
        {
            return Err(Error::Invalid(
                "--tty with --detach needs --console-socket".into(),
            ));
        }
        let fds = container_namespaces(&state)?;
        let root = shared_mount_ns_root(&state)?;
        if let Some(unit) = state.cgroup.as_ref().and_then(|c| c.unit.as_ref()) {
            join_unit_if_unprivileged(unit)?;
        }
        let setgroups_allowed = std::fs::read_to_string(format!("/proc/{}/setgroups", state.pid))
            .map_or(true, |s| s.trim() != "deny");
        // The lock is not needed while the process runs.
        drop(dir);
        Ok(Target {
            state,
            process,
            linux,
            fds,
            root,
            setgroups_allowed,
        })
    }
}

/// The process of the options and the container's, with its labels, checked.
fn checked_process(opts: &ExecOptions, state: &Persisted) -> Result<Process> {
    let mut process = build_process(opts, state.config.process().as_ref())?;
    if let Some(label) = &opts.process_label {
        process.set_selinux_label(Some(label.clone()));
    }
    if let Some(profile) = &opts.apparmor {
        process.set_apparmor_profile(Some(profile.clone()));
    }
    crate::process::warn_unavailable_capabilities(&process);
    crate::process::check_apparmor(&process, "apparmorProfile")?;
    crate::process::check_selinux(&[("selinuxLabel", process.selinux_label().as_deref())])?;
    crate::process::validate_scheduling(&process, "")?;
    Ok(process)
}

/// The process's terminal: to `--console-socket`, or proxied by vrun (the receiving end).
fn console_pair(
    opts: &ExecOptions,
    process: &Process,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    Ok(
        match (&opts.console_socket, process.terminal().unwrap_or(false)) {
            (Some(p), true) => (Some(console::connect_socket(p)?), None),
            (None, true) => {
                use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
                let (a, b) = socketpair(
                    AddressFamily::Unix,
                    SockType::Stream,
                    None,
                    SockFlag::SOCK_CLOEXEC,
                )
                .context(|| "socketpair".into())?;
                (Some(b), Some(a))
            }
            _ => (None, None),
        },
    )
}

/// The process joins the cgroup itself (see vrun_cgroup::SelfJoin); one that cannot be
/// opened so (a bad --cgroup among them) is left to finish_parent, which says why.
fn self_join(opts: &ExecOptions, state: &Persisted) -> Option<vrun_cgroup::SelfJoin> {
    match &state.cgroup {
        Some(cg) if nix::unistd::geteuid().is_root() => {
            cg.self_join(&opts.sub_cgroups).unwrap_or_else(|e| {
                tracing::debug!("exec: no self-join of the cgroup ({e})");
                None
            })
        }
        _ => None,
    }
}

/// The namespaces the parent enters around the fork: the container's user namespace for an
/// unprivileged caller (for good), its pid and time namespaces (which act on children).
struct EnteredNamespaces {
    joined_user_ns: bool,
    own_pid_ns: OwnedFd,
    own_time_ns: Option<OwnedFd>,
}

impl EnteredNamespaces {
    /// An unprivileged caller has no CAP_SYS_ADMIN of its own: it may join the container's
    /// pid namespace only from inside the container's user namespace. It joins that first,
    /// and stays (it forks nothing after the process; the process inherits it).
    fn enter(fds: &mut Vec<(LinuxNamespaceType, OwnedFd)>) -> Result<EnteredNamespaces> {
        let joined_user_ns = !nix::unistd::geteuid().is_root()
            && match fds.iter().position(|(t, _)| *t == LinuxNamespaceType::User) {
                Some(i) => {
                    let (typ, fd) = fds.remove(i);
                    namespaces::join(typ, &fd)?;
                    true
                }
                None => false,
            };
        let me = std::process::id() as i32;
        let own_pid_ns = namespaces::open_of_process(me, LinuxNamespaceType::Pid)?;
        let own_time_ns = namespaces::open_of_process(me, LinuxNamespaceType::Time).ok();
        for (typ, fd) in fds.iter() {
            if matches!(typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                namespaces::join(*typ, fd)?;
            }
        }
        Ok(EnteredNamespaces {
            joined_user_ns,
            own_pid_ns,
            own_time_ns,
        })
    }

    /// Back to our own namespaces for children (the parent only: the child is in the
    /// container's pid namespace and may not leave it). A caller without CAP_SYS_ADMIN over
    /// them (from inside the container's user namespace, or run by rootless podman in its
    /// own) cannot, and need not: the parent forks nothing more.
    fn leave(self, fds: &[(LinuxNamespaceType, OwnedFd)]) -> Result<()> {
        if self.joined_user_ns {
            return Ok(());
        }
        let back = |typ, fd| match namespaces::join(typ, fd) {
            Err(e) if e.is_permission_denied() => {
                tracing::debug!("exec: stays in the container's namespace for children: {e}");
                Ok(())
            }
            other => other,
        };
        back(LinuxNamespaceType::Pid, &self.own_pid_ns)?;
        if let (Some(fd), true) = (
            &self.own_time_ns,
            fds.iter().any(|(t, _)| *t == LinuxNamespaceType::Time),
        ) {
            back(LinuxNamespaceType::Time, fd)?;
        }
        Ok(())
    }
}

fn finish_parent(
    opts: &ExecOptions,
    state: &Persisted,
    pid: Pid,
    channel: &Channel,
    console_receiver: Option<OwnedFd>,
    // Some(whether the process was born in its v2 cgroup) when it joins the cgroup itself
    self_joined: Option<bool>,
) -> Result<Option<OwnedFd>> {
    let joined = match self_joined {
        Some(born_placed) => super::child_joined(channel, born_placed)?,
        None => false,
    };
    if state.cgroup.is_none() && !opts.sub_cgroups.is_empty() {
        return Err(Error::WrongState(
            "--cgroup: the container has no cgroup of its own (a rootless container without one)"
                .into(),
        ));
    }
    if let Some(cg) = state.cgroup.as_ref().filter(|_| !joined) {
        cg.add_process_to_sub(pid.as_raw(), &opts.sub_cgroups)?;
    }
    channel.send(sync::GO, b"")?;
    // The channel is close-on-exec: EOF means the exec happened, a message means it failed.
    match channel.recv()? {
        None => {}
        Some((tag, body)) if tag == sync::ERROR => {
            return Err(Error::Invalid(String::from_utf8_lossy(&body).into_owned()))
        }
        Some((tag, _)) => {
            return Err(Error::Failed(format!(
                "unexpected message {:?} from the exec process",
                String::from_utf8_lossy(&tag)
            )))
        }
    }
    let master = match console_receiver {
        Some(r) => Some(console::recv_master(r.as_fd())?),
        None => None,
    };
    // (a process its client cannot find is not left running, as runc kills it too: a
    // failure here drops the process's Made, which kills it)
    if let Some(f) = &opts.pid_file {
        write_pid_file(f, pid.as_raw())?;
    }
    if let Some(socket) = &opts.pidfd_socket {
        console::send_pidfd(socket, pid.as_raw())?;
    }
    Ok(master)
}

/// A rootless caller may not move a process into the container's scope (it may write only
/// within its delegated subtree, on both sides of a move), and once it has joined the
/// container's user namespace it can no longer authenticate to its systemd. So, first, its
/// systemd moves this process into the scope (AttachProcessesToUnit), and the process execs
/// from there. The D-Bus call is made by a short-lived child: zbus starts a thread, and a
/// process with threads may not join a user namespace.
fn join_unit_if_unprivileged(unit: &vrun_cgroup::systemd::Unit) -> Result<()> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let me = std::process::id() as i32;
    match clone_process(nix::sched::CloneFlags::empty())
        .context(|| "fork the systemd helper".into())?
    {
        CloneResult::Child => {
            let code = match unit.attach(me) {
                Ok(()) => 0,
                Err(e) => {
                    tracing::error!("{e}");
                    1
                }
            };
            sys::exit_now(code)
        }
        CloneResult::Parent(helper) => match nix::sys::wait::waitpid(helper, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            other => Err(Error::Invalid(format!(
                "exec: systemd could not move the process into unit {} ({other:?})",
                unit.name
            ))),
        },
    }
}

/// /proc/<init>/ns/* for each namespace the container has (new or joined); the process
/// enters exactly those.
fn container_namespaces(state: &Persisted) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
    let list = state.namespaces()?;
    let mut fds = Vec::new();
    for typ in namespaces::ALL {
        if list.has(typ) {
            let own = format!("/proc/self/ns/{}", namespaces::proc_name(typ));
            let theirs = format!("/proc/{}/ns/{}", state.pid, namespaces::proc_name(typ));
            // Joining a namespace we are already in is an error for user namespaces.
            if namespaces::same_namespace(Path::new(&own), Path::new(&theirs)) {
                continue;
            }
            fds.push((typ, namespaces::open_of_process(state.pid, typ)?));
        }
    }
    Ok(fds)
}

/// For a container without a mount namespace of its own, its root (init's, a directory of
/// the caller's namespace): joining its namespaces leaves the mount namespace as it is, so
/// the process is put into that root with chroot, as init was.
fn shared_mount_ns_root(state: &Persisted) -> Result<Option<OwnedFd>> {
    if state.namespaces()?.has(LinuxNamespaceType::Mount) {
        return Ok(None);
    }
    use std::os::unix::fs::OpenOptionsExt;
    let path = format!("/proc/{}/root", state.pid);
    let fd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(&path)
        .context(|| format!("open the container's root ({path})"))?;
    Ok(Some(fd.into()))
}

/// `--preserve-fds`, and whether setgroups(2) is allowed in the container's user namespace
/// (not where an unprivileged caller wrote the gid map: see idmap::write_maps).
struct FdsAndGroups<'a> {
    passed_fds: &'a crate::passed_fds::PassedFds,
    setgroups_allowed: bool,
}

/// The container's seccomp profile, which `exec`'d processes get too (as with runc).
struct ExecSeccomp<'a> {
    setup: Option<&'a crate::seccomp::SeccompSetup<'a>>,
    /// The container's state JSON, for a seccomp listener.
    container_state: String,
}

/// The process to run, and the container's `linux` settings every process of it gets
/// (personality, memory policy).
struct ExecTarget<'a> {
    process: &'a Process,
    linux: &'a oci_spec::runtime::Linux,
    /// The cgroup the process moves itself into (see vrun_cgroup::SelfJoin).
    cgroup_join: Option<&'a vrun_cgroup::SelfJoin>,
}

fn exec_child(
    channel: &Channel,
    fds: &[(LinuxNamespaceType, OwnedFd)],
    root: Option<&OwnedFd>,
    target: ExecTarget,
    console_socket: Option<&OwnedFd>,
    fg: FdsAndGroups<'_>,
    sc: ExecSeccomp,
) -> Result<Infallible> {
    let ExecTarget {
        process,
        linux,
        cgroup_join,
    } = target;
    attrs::set_not_dumpable()?;
    // Before joining the container's mount namespace, whose /proc the container controls.
    vrun_rootfs::procfs::pin()?;
    crate::init::join_cgroup(cgroup_join, channel)?;
    channel.expect(sync::GO, "the parent to place the process in the cgroup")?;
    // In the cgroup now, whose cpuset reset the affinity.
    process::apply_cpu_affinity(process, process::AffinityStage::Final)?;
    let seccomp = match sc.setup {
        Some(s) => Some(Seccomp::prepare(s, process)?),
        None => None,
    };
    Namespaces::default().enter(fds)?;
    if let Some(root) = root {
        nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(root))
            .context(|| "chdir to the container's root".into())?;
        nix::unistd::chroot(".").context(|| "chroot into the container's root".into())?;
    }
    let program = Program::resolve(process)?;
    if process.terminal().unwrap_or(false) {
        let socket =
            console_socket.ok_or_else(|| Error::Invalid("terminal: no console socket".into()))?;
        let root = vrun_rootfs::resolve::Root::open(Path::new("/"))?;
        let ptmx = root
            .open_with("dev/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0)
            .context(|| "open /dev/ptmx in the container".into())?;
        let (master, peer) = console::open_pty(ptmx, process.user().uid())?;
        if let Some(size) = process.console_size() {
            console::set_window_size(master.as_fd(), &console::winsize_of(&size))
                .context(|| "consoleSize: set the window size".into())?;
        }
        console::send_master(socket.as_fd(), master.as_fd())?;
        drop(master);
        process::attach_pty(&peer)?;
    } else {
        // its own session, as init's (see init.rs)
        nix::unistd::setsid().context(|| "setsid".into())?;
    }
    if let Some(adj) = process.oom_score_adj() {
        attrs::set_oom_score_adj(adj)?;
    }
    process::apply_linux_attributes(linux)?;
    process::pass_preserved_fds(fg.passed_fds)?;
    // What the process keeps to its exec: stdio, the fds handed to it and the channel (whose
    // close at exec tells the parent it went well). The rest of the host's (its /proc, the
    // container's namespaces and cgroup as the host opened them) goes before the filter, as
    // in init (see process::release_the_host).
    let mut keep = vec![0, 1, 2, std::os::fd::AsRawFd::as_raw_fd(channel)];
    keep.extend(&fg.passed_fds.open);
    keep.extend(sc.setup.and_then(|s| s.listener_fd()));
    let load_filter = || -> Result<()> {
        process::release_the_host(&keep)?;
        match &seccomp {
            Some(s) => s.load(&sc.container_state, "running"),
            None => Ok(()),
        }
    };
    let early = seccomp.as_ref().is_some_and(|s| s.early);
    process::apply_attributes(
        process,
        fg.setgroups_allowed,
        None,
        early.then_some(&load_filter as &dyn Fn() -> Result<()>),
    )?;
    Err(program.exec_after(|| match early {
        true => Ok(()),
        false => load_filter(),
    }))
}
