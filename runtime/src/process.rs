//! The last steps before a container's process runs, shared by init (`create`) and `exec`:
//! the program and its environment, the terminal, the process attributes in the order the
//! kernel needs them, the fds it keeps, and the exec itself.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::Process;
use vrun_isolation::capabilities::CapSets;
use vrun_isolation::{attrs, rlimits, sched, user};

use crate::error::{Context, Error, Result};
use crate::passed_fds::PassedFds;
use crate::sys;

pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to exec, resolved inside the container (after pivot_root, or after joining its mount
/// namespace): checked before the process is reported ready, so that a missing program fails
/// `create`/`exec` rather than `start`.
pub(crate) struct Program {
    name: String,
    exe: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Program {
    /// chdir to process.cwd, then resolve args[0] and the environment.
    pub(crate) fn resolve(process: &Process) -> Result<Program> {
        nix::unistd::chdir(process.cwd())
            .context(|| format!("process.cwd: chdir to {}", process.cwd().display()))?;
        // CVE-2024-21626: a cwd reached through an fd magic link (/proc/self/fd/N) can lie
        // outside the container's root; the kernel then reports it unreachable.
        match std::env::current_dir() {
            Ok(p) if p.is_absolute() && !p.starts_with("(unreachable)") => {}
            _ => {
                return Err(Error::Invalid(format!(
                    "process.cwd: {} is outside the container's root filesystem",
                    process.cwd().display()
                )))
            }
        }
        let env = process_env(process);
        let args = process.args().as_deref().unwrap_or(&[]);
        let name = args
            .first()
            .cloned()
            .ok_or_else(|| Error::Invalid("process.args: must name the program to run".into()))?;
        Ok(Program {
            exe: find_executable(&name, &env)?,
            argv: to_cstrings(args)?,
            envp: to_cstrings(&env)?,
            name,
        })
    }

    /// Resets signal dispositions and the mask, runs `last` (seccomp goes in there), then
    /// execve; returns only the error.
    pub(crate) fn exec_after(self, last: impl FnOnce() -> Result<()>) -> Error {
        sys::reset_signals();
        if let Err(e) = last() {
            return e;
        }
        Error::Sys {
            what: format!("exec {}", self.name),
            source: sys::execve(&self.exe, &self.argv, &self.envp),
        }
    }
}

/// process.env, plus HOME from the container's /etc/passwd when the config has none.
fn process_env(process: &Process) -> Vec<String> {
    let mut env = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user::home_of(process.user().uid())));
    }
    env
}

/// The first entry of `process.env` or `process.args` holding a NUL byte, which execve cannot
/// take: (the list's name, its index, the entry).
pub(crate) fn nul_byte_in(process: &Process) -> Option<(&'static str, usize, &String)> {
    [("env", process.env()), ("args", process.args())]
        .into_iter()
        .find_map(|(field, list)| {
            let (i, e) = list
                .iter()
                .flatten()
                .enumerate()
                .find(|(_, e)| e.contains('\0'))?;
            Some((field, i, e))
        })
}

fn to_cstrings(list: &[String]) -> Result<Vec<CString>> {
    list.iter()
        .map(|s| {
            CString::new(s.as_str())
                .map_err(|_| Error::Invalid(format!("{s:?} contains a NUL byte")))
        })
        .collect()
}

/// A path as given, or the first match on the process's PATH (the default PATH when the
/// config sets none).
fn find_executable(name: &str, env: &[String]) -> Result<CString> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        return match std::fs::metadata(name) {
            Ok(_) if runnable(Path::new(name)) => CString::new(name)
                .map_err(|_| Error::Invalid("process.args[0] has a NUL byte".into())),
            Ok(_) => Err(Error::Invalid(format!(
                "exec: {name:?}: permission denied (not an executable file)"
            ))),
            Err(e) => Err(Error::Invalid(format!("exec: {name:?}: stat {name}: {e}"))),
        };
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        if runnable(&candidate) {
            return CString::new(candidate.as_os_str().as_encoded_bytes())
                .map_err(|_| Error::Invalid("PATH has a NUL byte".into()));
        }
    }
    Err(Error::Invalid(format!(
        "exec: {name:?}: executable file not found in $PATH"
    )))
}

/// Makes a pty peer the session's controlling terminal and the process's stdio.
pub(crate) fn attach_pty(peer: &OwnedFd) -> Result<()> {
    nix::unistd::setsid().context(|| "setsid".into())?;
    for fd in 0..3 {
        nix::unistd::dup2(peer.as_raw_fd(), fd)
            .context(|| "make the pty the process's stdio".into())?;
    }
    sys::set_controlling_terminal(0).context(|| "make the pty the controlling terminal".into())
}

fn apparmor_profile(process: &Process) -> Option<&str> {
    process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
}

/// process.apparmorProfile needs AppArmor on the host: a profile that cannot be applied is
/// an error before anything is made (runc and crun fail too), never a process silently left
/// unconfined.
pub(crate) fn check_apparmor(process: &Process, field: &str) -> Result<()> {
    match apparmor_profile(process) {
        Some(profile) if !attrs::apparmor_enabled() => Err(Error::Invalid(format!(
            "{field}: AppArmor is not enabled on this host, so the profile {profile:?} cannot be applied"
        ))),
        _ => Ok(()),
    }
}

/// SELinux labels (process.selinuxLabel, linux.mountLabel): vrun does not set them. On a
/// host without SELinux they could do nothing anyway, and are warned about and ignored (as
/// crun does); where SELinux is on, running unlabelled would be a silent downgrade, so it is
/// an error.
pub(crate) fn check_selinux(labels: &[(&str, Option<&str>)]) -> Result<()> {
    let enabled = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    for (field, label) in labels {
        let Some(label) = label.filter(|l| !l.is_empty()) else {
            continue;
        };
        if enabled {
            return Err(Error::Invalid(format!(
                "{field}: vrun does not apply SELinux labels, and SELinux is enabled on this host (label {label:?})"
            )));
        }
        tracing::warn!("{field}: {label:?} ignored: SELinux is not enabled on this host");
    }
    Ok(())
}

/// Logs the capabilities of `process` that this kernel (or the caller's bounding set) cannot
/// grant; the process starts without them, as with runc and crun (runtime-spec 1.2: warn,
/// do not fail). Called in the parent, where the log goes.
pub(crate) fn warn_unavailable_capabilities(process: &Process) {
    let caps = CapSets::from_spec(process.capabilities().as_ref());
    for name in &caps.unknown {
        tracing::warn!("process.capabilities: {name} cannot be granted here (this kernel or the caller's bounding set lacks it): ignored");
    }
}

/// The attributes of `process`, in the order the kernel needs: the AppArmor profile and
/// rlimits while still privileged, the bounding set (needs CAP_SETPCAP), the user switch with
/// capabilities kept across it, the umask (`default_umask` when the config has none; None
/// keeps the inherited one), the other capability sets, and no_new_privs last.
///
/// `early_filter` loads a seccomp filter that cannot wait until just before exec (no
/// no_new_privs, and CAP_SYS_ADMIN not kept: see `seccomp::needs_early_load`). It runs after
/// everything above but with CAP_SYS_ADMIN still held, so that the filter, whatever it
/// allows, sees only one capset(2) of vrun's here (runc makes its whole identity change
/// under the filter; fd hygiene must already be done: see [`pass_preserved_fds`]).
pub(crate) fn apply_attributes(
    process: &Process,
    setgroups_allowed: bool,
    default_umask: Option<u32>,
    early_filter: Option<&dyn Fn() -> Result<()>>,
) -> Result<()> {
    if let Some(profile) = apparmor_profile(process) {
        attrs::set_apparmor_exec_profile(profile)?;
    }
    rlimits::apply(process.rlimits().as_deref().unwrap_or(&[]))?;
    // While the process may still raise its priority (CAP_SYS_NICE, CAP_SYS_ADMIN).
    if let Some(s) = process.scheduler() {
        sched::apply_scheduler(s, "process.scheduler")?;
    }
    if let Some(p) = process.io_priority() {
        sched::apply_io_priority(p, "process.ioPriority")?;
    }
    let caps = CapSets::from_spec(process.capabilities().as_ref());
    caps.apply_bounding()?;
    let u = process.user();
    user::switch(&user::UserSpec {
        uid: u.uid(),
        gid: u.gid(),
        additional_gids: u.additional_gids().clone().unwrap_or_default(),
        set_groups: setgroups_allowed,
    })?;
    if let Some(mask) = u.umask().or(default_umask) {
        user::set_umask(mask);
    }
    match early_filter {
        Some(load) => {
            caps.apply_process_sets(Some(caps::Capability::CAP_SYS_ADMIN))?;
            load()?;
            caps.set_final()?;
        }
        None => caps.apply_process_sets(None)?,
    }
    if process.no_new_privileges().unwrap_or(false) {
        attrs::set_no_new_privs()?;
    }
    Ok(())
}

/// Before a process of the container's waits or execs, it gives back everything of the host it
/// holds: the pinned host /proc, and every fd but `keep` (what it still needs). A created
/// container's init (which may wait for `start` for hours) and an `exec`'d process held the
/// host's namespaces, cgroup directories, mount trees and sockets, and a process that can see
/// them (a peer container sharing the pid namespace, a process `exec`'d into it) with
/// CAP_SYS_PTRACE reaches those through /proc/<pid>/fd/N, a directory fd even past its
/// mount's root (`..` from the host's cgroup directory climbs to the host's /). close-on-exec
/// would only close them at the exec. Call it before any seccomp filter, which may refuse
/// close_range(2).
pub(crate) fn release_the_host(keep: &[std::os::fd::RawFd]) -> Result<()> {
    vrun_rootfs::procfs::release();
    sys::close_fds_except(keep).context(|| "close the fds of the host".into())
}

/// The fds handed to the process (LISTEN_FDS, --preserve-fds) stay open across exec at their
/// numbers; every other fd from 3 up is marked close-on-exec, the placeholders in the range
/// among them (see passed_fds). Done before any seccomp filter: close_range(2) is newer than
/// many allow-lists (runtime-tools' default, older Docker and Kubernetes profiles).
pub(crate) fn pass_preserved_fds(passed: &PassedFds) -> Result<()> {
    sys::cloexec_from(3).context(|| "mark vrun's fds close-on-exec".into())?;
    for &fd in &passed.open {
        nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .map_err(|e| Error::Sys {
            what: format!("--preserve-fds: keep fd {fd} open"),
            source: e,
        })?;
    }
    Ok(())
}

/// A CPU or NUMA node list ("0-3,5") as ranges; the error names the field.
pub(crate) fn parse_list(list: &str, field: &str) -> Result<Vec<(u32, u32)>> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    vrun_cgroup::parse_list(list).map_err(|e| Error::Invalid(format!("{field}: {list:?} {e}")))
}

/// process.scheduler, ioPriority and execCPUAffinity, checked before anything is made;
/// `prefix` is "process." for config.json and "" for an exec --process file.
pub(crate) fn validate_scheduling(process: &Process, prefix: &str) -> Result<()> {
    if let Some(s) = process.scheduler() {
        sched::validate_scheduler(s, &format!("{prefix}scheduler"))?;
    }
    if let Some(p) = process.io_priority() {
        sched::validate_io_priority(p, &format!("{prefix}ioPriority"))?;
    }
    if let Some(a) = process.exec_cpu_affinity() {
        for (name, list) in [("initial", a.initial()), ("final", a.cpu_affinity_final())] {
            if let Some(list) = list {
                parse_list(list, &format!("{prefix}execCPUAffinity.{name}"))?;
            }
        }
    }
    Ok(())
}

fn memory_nodes(m: &oci_spec::runtime::LinuxMemoryPolicy) -> Result<Vec<(u32, u32)>> {
    parse_list(
        m.nodes().as_deref().unwrap_or(""),
        "linux.memoryPolicy.nodes",
    )
}

/// linux.personality and linux.memoryPolicy, checked before anything is made.
pub(crate) fn validate_linux_attributes(linux: &oci_spec::runtime::Linux) -> Result<()> {
    if let Some(p) = linux.personality() {
        sched::validate_personality(p, "linux.personality")?;
    }
    if let Some(m) = linux.memory_policy() {
        sched::validate_memory_policy(m, &memory_nodes(m)?, "linux.memoryPolicy")?;
    }
    Ok(())
}

/// linux.personality and linux.memoryPolicy for the calling process: container-wide
/// settings that init and every exec'd process get (as with runc).
pub(crate) fn apply_linux_attributes(linux: &oci_spec::runtime::Linux) -> Result<()> {
    if let Some(p) = linux.personality() {
        sched::apply_personality(p, "linux.personality")?;
    }
    if let Some(m) = linux.memory_policy() {
        sched::apply_memory_policy(m, &memory_nodes(m)?, "linux.memoryPolicy")?;
    }
    Ok(())
}

/// process.execCPUAffinity for an exec'd process: `initial` for the runtime process before
/// it joins the container's cgroup, `final` for the process after (runtime-spec 1.2; an
/// absent list leaves the affinity to the kernel).
pub(crate) fn apply_cpu_affinity(process: &Process, stage: AffinityStage) -> Result<()> {
    let Some(a) = process.exec_cpu_affinity() else {
        return Ok(());
    };
    let (name, list) = match stage {
        AffinityStage::Initial => ("initial", a.initial()),
        AffinityStage::Final => ("final", a.cpu_affinity_final()),
    };
    let field = format!("execCPUAffinity.{name}");
    match list.as_deref().map(|l| parse_list(l, &field)).transpose()? {
        Some(ranges) if !ranges.is_empty() => Ok(sched::set_cpu_affinity(&ranges, &field)?),
        _ => Ok(()),
    }
}

#[derive(Clone, Copy)]
pub(crate) enum AffinityStage {
    Initial,
    Final,
}
