//! The container's init: runs in the cloned child, inside the new namespaces, sets everything
//! up in the order the kernel and the spec require, reports "ready", waits on the exec fifo
//! and execs the user's process. It never returns.

use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use vrun_isolation::namespaces::Namespaces;
use vrun_isolation::{attrs, user};
use vrun_rootfs::mounts::{CgroupSource, MountContext};
use vrun_rootfs::resolve::{fd_path, Root};
use vrun_rootfs::{devices, masked, mount_options, mounts, pivot};

use crate::error::{Context, Error, Result};
use crate::passed_fds::PassedFds;
use crate::process::{self, Program};
use crate::seccomp::Seccomp;
use crate::sync::{self, Channel};
use crate::{console, hooks, sys};

/// What init needs, prepared by the parent before the clone. The fds are init's own (moved
/// into it in the clone's child branch), so that it closes each once it is done with it.
pub(crate) struct InitContext<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle_dir: &'a Path,
    pub rootfs: &'a Path,
    pub ns: &'a Namespaces,
    pub ns_fds: Vec<(LinuxNamespaceType, OwnedFd)>,
    pub channel: Channel,
    /// The exec fifo, open read-write so that opening it never blocks.
    pub fifo: OwnedFd,
    pub console_socket: Option<OwnedFd>,
    pub cgroup_source: Option<CgroupSource>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// LISTEN_FDS and --preserve-fds: the fds the process gets at 3 .. 3+count.
    pub passed_fds: &'a PassedFds,
    /// False when the parent denied setgroups in the user namespace (unprivileged caller).
    pub setgroups_allowed: bool,
    pub seccomp: Option<crate::seccomp::SeccompSetup<'a>>,
    /// create's copy of the state directory's lock (see ContainerDir::lock_fd).
    pub state_lock: Option<std::os::fd::RawFd>,
    /// The virtual disk to mount as the root, when the container has one.
    pub disk: Option<&'a crate::disk::DiskState>,
    /// Bind mount sources the parent cloned (see `mounts::open_bind_sources`).
    pub mount_sources: Vec<Option<OwnedFd>>,
    /// The cgroup init joins itself, first thing (or once the disk is mounted).
    pub cgroup_join: Option<vrun_cgroup::SelfJoin>,
    /// Whether init sheds its memory before waiting for `start` (not for `run`).
    pub shed_memory: bool,
}

/// Runs init to the exec of the user's process. Never returns, and never drops `ctx` (it ends
/// in execve or _exit): the fds init closes by number before it waits (see
/// [`process::release_the_host`]) may be owned by `ctx` or by create's stack frame, which the child
/// never unwinds either, so none is closed twice.
pub(crate) fn run(mut ctx: InitContext) -> ! {
    let mut reported_ready = false;
    let err = match crate::sys::no_unwind(|| setup_and_exec(&mut ctx, &mut reported_ready)) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if reported_ready {
        // The parent has gone: stderr is the only place left to say it.
        eprintln!("vrun: container {}: {err}", ctx.id);
    } else {
        let _ = ctx.channel.send(sync::ERROR, err.to_string().as_bytes());
    }
    sys::exit_now(if reported_ready { 127 } else { 1 })
}

/// The child's side of `lifecycle::clone_joining`: moves itself into its v1 cgroup (see
/// vrun_cgroup::SelfJoin) and tells the parent how it went; a failure is the parent's to
/// mend (it moves the process as before), not an error.
pub(crate) fn join_cgroup(join: Option<&vrun_cgroup::SelfJoin>, channel: &Channel) -> Result<()> {
    if let Some(join) = join {
        let why_not = join.join().err().map(|e| e.to_string()).unwrap_or_default();
        channel.send(sync::JOINED, why_not.as_bytes())?;
    }
    Ok(())
}

fn setup_and_exec(ctx: &mut InitContext, reported_ready: &mut bool) -> Result<Infallible> {
    let spec = ctx.spec;
    let (linux, process) = crate::bundle::parts(spec)?;
    let propagation = Propagation::of(linux);
    let state_json = start_placed(ctx, propagation.setup)?;
    // (out of ctx, for the phases to borrow beside it; never dropped, as ctx is not: see run)
    let seccomp_setup = std::mem::ManuallyDrop::new(ctx.seccomp.take());
    // (it reads the host pid, which only the host's /proc tells)
    let seccomp = match &*seccomp_setup {
        Some(s) => Some(Seccomp::prepare(s, process)?),
        None => None,
    };
    let premade_proc = enter_namespaces(ctx, process)?;
    let (root, dev_readonly_later) = build_root(ctx, propagation.setup, premade_proc)?;
    let start_container_hooks = run_create_container_hooks(ctx, &state_json)?;
    finish_root(ctx, root, dev_readonly_later, propagation.root)?;
    let program = Program::resolve(process)?;
    let listener = seccomp_setup.as_ref().and_then(|s| s.listener_fd());
    let shed_late = apply_the_process(ctx, seccomp.as_ref(), listener, &state_json)?;
    ctx.channel.send(sync::READY, b"")?;
    *reported_ready = true;
    // create records init's pid only after "ready": a create that dies before it says it
    // has leaves a state no delete finds init by, in a cgroup it may share with other
    // containers. init then ends itself rather than wait on the fifo for ever.
    if !ctx.channel.read_bare_tag(sync::SAVED) {
        sys::exit_now(1);
    }
    // The last fd of the host's but the fifo (the listener socket went with the filter). By
    // number: `ctx` is never dropped (see run).
    let _ = nix::unistd::close(ctx.channel.as_raw_fd());

    if ctx.shed_memory && shed_late {
        shed_memory();
    }
    wait_for_start(&ctx.fifo)?;
    hooks::run("startContainer", &start_container_hooks, &state_json)?;
    Err(program.exec_after(|| Ok(())))
}

/// The mount propagation while the rootfs is set up, and the root's own afterwards.
#[derive(Clone, Copy)]
struct Propagation {
    setup: MsFlags,
    root: Option<MsFlags>,
}

impl Propagation {
    fn of(linux: &oci_spec::runtime::Linux) -> Propagation {
        let root = linux
            .rootfs_propagation()
            .as_deref()
            .and_then(mount_options::propagation_flag);
        // While the rootfs is set up nothing may propagate to the host, and the mounts must
        // stay bindable (the rootfs is bind-mounted onto itself): an unbindable
        // rootfsPropagation is applied to the new root only, after pivot_root.
        let setup = root
            .filter(|p| !p.contains(MsFlags::MS_UNBINDABLE))
            .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
        Propagation { setup, root }
    }
}

/// init's first steps, still in the caller's mount namespace's view: the state lock and
/// the parent-death signal, dumpability, /proc pinned, the disk image mounted, the cgroup
/// joined; then the parent's "go", with the state the hooks get.
fn start_placed(ctx: &mut InitContext, propagation: MsFlags) -> Result<String> {
    if let Some(fd) = ctx.state_lock {
        let _ = nix::unistd::close(fd);
    }
    // Die with the parent while create is under way; cleared before "ready".
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context(|| "prctl(PR_SET_PDEATHSIG)".into())?;
    // Not dumpable from now on, or, in a new user namespace, once the parent has written its
    // maps: /proc/PID/uid_map of a process that is not dumpable belongs to root, and an
    // unprivileged parent could no longer open it (runc waits the same way). Nothing of the
    // container's runs before then.
    let new_user_ns = ctx.ns.is_new(LinuxNamespaceType::User);
    if !new_user_ns {
        attrs::set_not_dumpable()?;
    }
    // Before anything of the container's can stand in for /proc.
    vrun_rootfs::procfs::pin()?;
    if let Some(d) = ctx.disk.filter(|d| d.loop_device.is_some()) {
        // Still in the caller's cgroup, whose device rules allow the loop device.
        mounts::isolate(propagation)?;
        crate::disk::mount_image(d)?;
        ctx.channel.send(sync::DISK_MOUNTED, b"")?;
    }
    join_cgroup(ctx.cgroup_join.as_ref(), &ctx.channel)?;
    // (its fds are the host's cgroup directories: a process that could see init would get
    // past the container's limits through them)
    drop(ctx.cgroup_join.take());
    let state_json = ctx
        .channel
        .expect(sync::GO, "the parent to place the container")?;
    if new_user_ns {
        attrs::set_not_dumpable()?;
    }
    Ok(String::from_utf8_lossy(&state_json).into_owned())
}

/// Into the container's namespaces (with, for a joined user namespace, the /proc made
/// before); then the uts names and sysctls.
fn enter_namespaces(
    ctx: &mut InitContext,
    process: &oci_spec::runtime::Process,
) -> Result<Option<OwnedFd>> {
    let spec = ctx.spec;
    if ctx.ns.is_new(LinuxNamespaceType::User) {
        user::become_ns_root()?;
    }
    // Before a user namespace is joined: in it, /proc/self/oom_score_adj is the host root's
    // (init is not dumpable), which the namespace's root may not write.
    if let Some(adj) = process.oom_score_adj() {
        attrs::set_oom_score_adj(adj)?;
    }
    let joins_user_ns = ctx.ns.joined_path(LinuxNamespaceType::User).is_some();
    let premade_proc = if joins_user_ns {
        mounts::premade_proc(spec.mounts().as_deref().unwrap_or(&[]))?
    } else {
        None
    };
    ctx.ns.enter(&ctx.ns_fds)?;
    // (a joined pid or network namespace of the host's, among them)
    drop(std::mem::take(&mut ctx.ns_fds));
    // In a joined user namespace too, setup is done as its root (runc's setresuid(0) after
    // setns): with the host's ids, which it does not map, nothing could be made on the
    // container's own filesystems (EOVERFLOW).
    if joins_user_ns {
        user::become_ns_root()?;
    }
    ctx.ns.enter_cgroup()?;
    // In a uts namespace of its own, or in one it joins: runc sets the name there too, and a
    // config that gives one means it (a pod's containers join the sandbox's namespace).
    if ctx.ns.has(LinuxNamespaceType::Uts) {
        if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            attrs::set_hostname(h)?;
        }
        if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
            attrs::set_domainname(d)?;
        }
    }
    if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        attrs::apply_sysctls(sysctl)?;
    }
    Ok(premade_proc)
}

/// The root and everything mounted in it, and the device nodes. Returns whether /dev is to
/// be made read-only once the rest is done.
fn build_root(
    ctx: &mut InitContext,
    propagation: MsFlags,
    premade_proc: Option<OwnedFd>,
) -> Result<(Root, bool)> {
    let spec = ctx.spec;
    // Without a mount namespace of its own the container's mounts are made in the caller's,
    // under the private bind of the rootfs that create made (vrun_rootfs::host_root), and no
    // other mount's propagation may change.
    let root = if ctx.ns.has(LinuxNamespaceType::Mount) {
        mounts::isolate(propagation)?;
        // The disk is mounted here, in the container's mount namespace, once it no longer
        // propagates to the host's: the merged tree becomes the root everything else works on.
        let rootfs = match ctx.disk {
            Some(d) => crate::disk::mount(d)?,
            None => ctx.rootfs.to_path_buf(),
        };
        mounts::bind_root(&rootfs)?
    } else {
        vrun_rootfs::resolve::Root::open(ctx.rootfs)?
    };
    let spec_mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let dev_readonly_later = mounts::mount_all(
        &MountContext {
            root: &root,
            bundle: ctx.bundle_dir,
            cgroup: ctx.cgroup_source.as_ref(),
            sources: &ctx.mount_sources,
            proc: std::cell::Cell::new(premade_proc),
        },
        spec_mounts,
    )?;
    // (clones of the host's mount trees, attached where they belong now)
    ctx.mount_sources.clear();
    let dev_is_bind = spec_mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind")
    });
    if !dev_is_bind {
        devices::create(&root, &devices::default_devices())?;
        let has_devpts = spec_mounts
            .iter()
            .any(|m| m.destination() == Path::new("/dev/pts"));
        devices::create_symlinks(&root, has_devpts)?;
    }
    let linux = spec.linux().clone().unwrap_or_default();
    devices::create(
        &root,
        &devices::from_spec(linux.devices().as_deref().unwrap_or(&[]))?,
    )?;
    Ok((root, dev_readonly_later))
}

/// The prestart and createRuntime hooks (the parent's, asked for), then createContainer;
/// returns the startContainer hooks, for after `start`.
fn run_create_container_hooks(
    ctx: &InitContext,
    state_json: &str,
) -> Result<Vec<oci_spec::runtime::Hook>> {
    #[allow(deprecated)]
    let (needs_runtime_hooks, create_container_hooks, start_container_hooks) =
        match ctx.spec.hooks() {
            Some(h) => (
                h.prestart().as_ref().is_some_and(|v| !v.is_empty())
                    || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty()),
                h.create_container().clone().unwrap_or_default(),
                h.start_container().clone().unwrap_or_default(),
            ),
            None => (false, Vec::new(), Vec::new()),
        };
    if needs_runtime_hooks {
        ctx.channel.send(sync::HOOKS, b"")?;
        ctx.channel
            .expect(sync::HOOKS_DONE, "the createRuntime hooks")?;
    }
    hooks::run("createContainer", &create_container_hooks, state_json)?;
    Ok(start_container_hooks)
}

/// The console (or a session of its own), the cwd, what is masked and read-only; then the
/// root becomes `/` (pivot_root, a move, or a chroot without a mount namespace).
fn finish_root(
    ctx: &mut InitContext,
    root: Root,
    dev_readonly_later: bool,
    root_propagation: Option<MsFlags>,
) -> Result<()> {
    let spec = ctx.spec;
    let (linux, process) = crate::bundle::parts(spec)?;
    if process.terminal().unwrap_or(false) {
        let socket = ctx.console_socket.take().ok_or_else(|| {
            Error::Invalid("process.terminal is true but there is no console socket".into())
        })?;
        setup_console(&root, &socket, process)?;
    } else {
        // A session of its own, as runc's init has (its setsid in nsexec): nothing of the
        // caller's session (a SIGHUP when its terminal closes, job control) reaches the
        // container, and CRIU can checkpoint it (a session leader outside the container's
        // pid namespace cannot be dumped).
        nix::unistd::setsid().context(|| "setsid".into())?;
    }
    // A cwd the image lacks is made, as runc makes it (a Kubernetes workingDir that is not in
    // the image): root's, 0755, resolved inside the root like every path of the config, once
    // the mounts that may hold it are in place and before anything is made read-only.
    make_cwd(&root, process.cwd())?;
    if dev_readonly_later {
        mounts::make_dev_readonly(&root)?;
    }
    masked::mask(&root, linux.masked_paths().as_deref().unwrap_or(&[]))?;
    masked::make_readonly(&root, linux.readonly_paths().as_deref().unwrap_or(&[]))?;
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        pivot::make_root_readonly(&root)?;
    }
    if !ctx.ns.has(LinuxNamespaceType::Mount) {
        pivot::chroot_into(&root)?;
    } else if ctx.no_pivot {
        pivot::move_root(&root)?;
    } else {
        pivot::pivot(&root)?;
    }
    drop(root);
    if let Some(p) = root_propagation {
        pivot::set_root_propagation(p)?;
    }
    Ok(())
}

/// The process's attributes (keyring, linux settings, fds, ids, capabilities), the host's
/// fds closed and the seccomp filter loaded. Returns whether memory is shed after "ready".
fn apply_the_process(
    ctx: &InitContext,
    seccomp: Option<&Seccomp>,
    listener: Option<RawFd>,
    state_json: &str,
) -> Result<bool> {
    let (linux, process) = crate::bundle::parts(ctx.spec)?;
    if !ctx.no_new_keyring {
        attrs::join_new_session_keyring(ctx.id)?;
    }
    process::apply_linux_attributes(linux)?;
    process::pass_preserved_fds(ctx.passed_fds)?;
    // The user switch would clear it anyway; cleared now, before any seccomp filter.
    nix::sys::prctl::set_pdeathsig(None).context(|| "clear PR_SET_PDEATHSIG".into())?;
    // As late as possible, just before the wait; before the filter if the filter might
    // refuse what shedding calls (see shed_memory).
    let shed_late = seccomp.is_none_or(|s| s.allows_plainly(SHED_SYSCALLS));
    if ctx.shed_memory && !shed_late {
        shed_memory();
    }
    // What init keeps while it waits: stdio, the fds handed to the process, the exec fifo,
    // and until "ready" the channel (and until the filter is loaded, its listener socket).
    let mut keep: Vec<RawFd> = vec![0, 1, 2, ctx.fifo.as_raw_fd()];
    keep.extend(&ctx.passed_fds.open);
    let until_ready = [ctx.channel.as_raw_fd()];
    // The filter goes in during create, as runc loads it, so that a listener has its fd
    // before `start` and the startContainer hooks run under it. Early (see
    // process::apply_attributes) when loading it needs privileges the process drops, else
    // right after. Either way only the handshake's write and read, closing fds, the hooks,
    // the signal reset and execve follow it (and shed_memory's calls where the profile
    // surely allows them). Everything of the host goes just before it, while no filter can
    // refuse close_range(2).
    let load_filter = || -> Result<()> {
        process::release_the_host(&[&keep[..], &until_ready, listener.as_slice()].concat())?;
        match seccomp {
            Some(s) => s.load(state_json, "creating"),
            None => Ok(()),
        }
    };
    // Before the filter, which may not allow rt_sigaction; from now on a signal that would
    // end a process ends init (see sys::die_on_terminating_signals). Only pid 1 of a pid
    // namespace needs it: elsewhere the default actions hold.
    if ctx.ns.is_new(LinuxNamespaceType::Pid) {
        sys::die_on_terminating_signals();
    }
    let early = seccomp.is_some_and(|s| s.early);
    process::apply_attributes(
        process,
        ctx.setgroups_allowed,
        Some(0o022),
        early.then_some(&load_filter as &dyn Fn() -> Result<()>),
    )?;
    if !early {
        load_filter()?;
    }
    Ok(shed_late)
}

/// See [`setup_and_exec`]: `process.cwd`, made inside the root if it is missing.
fn make_cwd(root: &Root, cwd: &Path) -> Result<()> {
    let rel = vrun_rootfs::resolve::relative(cwd)?;
    match root.open_path(&rel) {
        Err(nix::errno::Errno::ENOENT) => {
            root.mkdir_all(cwd, 0o755)
                .map_err(|e| Error::Invalid(format!("process.cwd: {e}")))?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The pty for `process.terminal`: opened from the container's own devpts, its master sent to
/// the console socket, its peer bind-mounted on /dev/console and made the controlling
/// terminal and stdio of init.
fn setup_console(root: &Root, socket: &OwnedFd, process: &Process) -> Result<()> {
    let ptmx = root
        .open_with("dev/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0)
        .context(|| {
            "process.terminal: open /dev/ptmx in the container (is devpts mounted at /dev/pts?)"
                .into()
        })?;
    let (master, peer) = console::open_pty(ptmx, process.user().uid())?;
    if let Some(size) = process.console_size() {
        console::set_window_size(master.as_fd(), &console::winsize_of(&size))
            .context(|| "process.consoleSize: set the window size".into())?;
    }
    let target = root.replace_with_file(Path::new("/dev/console"), 0o600)?;
    mount(
        Some(fd_path(peer.as_fd()).as_str()),
        fd_path(target.as_fd()).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .context(|| "bind-mount the pty on /dev/console".into())?;
    console::send_master(socket.as_fd(), master.as_fd())?;
    drop(master);
    process::attach_pty(&peer)
}

/// What [`shed_memory`] calls: madvise, and brk for malloc_trim.
const SHED_SYSCALLS: &[&str] = &["madvise", "brk"];

/// A created container's init waits for `start` as long as its user likes, one per container
/// (hundreds on a busy node): it keeps only what it needs for the few steps left. The pages
/// of vrun's code it touched during setup are clean and in the page cache; it drops its
/// mappings of them, and `start` refaults the few the exec path needs (measured in
/// integration/bench: its PSS goes from 2.9 MB to under 1 MB, start's time does not move).
/// Done just before the wait when the container's seccomp filter surely allows it; else before
/// the filter goes in, which leaves the pages of the last steps mapped (1.7 MB).
fn shed_memory() {
    crate::sys::shed_clean_pages();
}

/// Blocks until `start` writes to the exec fifo.
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(fifo.as_raw_fd(), &mut byte) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(Error::Sys {
                    what: "wait on the exec fifo".into(),
                    source: e,
                })
            }
        }
    }
}
