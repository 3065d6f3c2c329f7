//! `create`: everything up to a container whose init waits on the exec fifo.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;
use vrun_cgroup::{Cgroup, Hierarchy, Placement, Registry, Version};
use vrun_isolation::namespaces::{self, Namespaces};
use vrun_isolation::{idmap, CloneResult};
use vrun_rootfs::mounts::CgroupSource;

use crate::bundle::Bundle;
use crate::error::{Context, Error, Result};
use crate::fault::stop_point;
use crate::init::{self, InitContext};
use crate::made::{self, Made, Undo};
use crate::state::{ContainerDir, Persisted, Status};
use crate::sync;
use crate::{console, hooks, procfs};

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub systemd_cgroup: bool,
    /// A rootless runtime (`--rootless`): where the caller may not make the container's
    /// cgroup, the container runs without one if it asks for no limits.
    pub rootless: bool,
    pub disk: crate::disk::DiskOptions,
    /// `--pidfd-socket`: where a pidfd of init goes once it is created.
    pub pidfd_socket: Option<PathBuf>,
    /// Socket-activation fds vrun was given (LISTEN_FDS for vrun's own pid): passed on as
    /// fds 3 .. 3+N, before the --preserve-fds ones, with LISTEN_FDS=N and LISTEN_PID=1 in
    /// the process's environment, as runc does.
    pub listen_fds: u32,
    /// `run`: `start` follows at once, so init does not shed its memory for a wait that
    /// does not come (see init::shed_memory).
    pub starts_at_once: bool,
    /// The fds of the caller the process gets, reserved before vrun opened any of its own
    /// (main() does, see passed_fds); None: reserved here, from `listen_fds + preserve_fds`.
    pub passed_fds: Option<crate::passed_fds::PassedFds>,
}

/// Where a `process.terminal` pty goes.
#[derive(Debug, Clone)]
pub enum ConsoleMode {
    /// No socket: a config asking for a terminal is refused (runc does the same).
    None,
    /// `--console-socket PATH`.
    Socket(PathBuf),
    /// `run` in the foreground: vrun receives the master itself and proxies the terminal.
    Proxy,
}

/// A created container. With [`ConsoleMode::Proxy`], `console` holds the pty master.
pub struct Created {
    pub pid: Pid,
    pub state: Persisted,
    pub console: Option<OwnedFd>,
}

/// The container's own cgroup as create made (or joined) it: on failure its processes are
/// killed (without a pid namespace of its own, init's death does not end them) and the
/// directories this create made removed.
struct OwnCgroup {
    cgroup: Cgroup,
    registry: Registry,
    own_pid_ns: bool,
}

impl Undo for OwnCgroup {
    fn undo(self) {
        if !self.own_pid_ns {
            let _ = self.cgroup.kill_all(Duration::from_secs(5));
        }
        let _ = self.cgroup.remove(&self.registry);
    }
}

/// The disk, and whether this create made its directory.
struct OwnDisk(crate::disk::DiskState, bool);

impl Undo for OwnDisk {
    fn undo(self) {
        crate::disk::remove_after_failed_create(&self.0, self.1);
    }
}

/// Without a mount namespace: the rootfs and the id of its bind in the caller's.
struct HostRootBind(PathBuf, u64);

impl Undo for HostRootBind {
    fn undo(self) {
        let _ = vrun_rootfs::host_root::detach(&self.0, self.1);
    }
}

/// Creates the container, phase by phase in the order the kernel needs them; a failure in
/// any phase undoes what the phases before it made (each resource a guard, see made.rs).
pub fn create(opts: &CreateOptions, console_mode: ConsoleMode) -> Result<Created> {
    let passed_fds = crate::passed_fds::PassedFds::given_or_reserved(
        opts.passed_fds.as_ref(),
        opts.listen_fds.saturating_add(opts.preserve_fds),
    )?;
    let mut plan = Plan::load(opts, &console_mode)?;
    let dir = Made::new(ContainerDir::create(&opts.root, &opts.id)?);
    if plan.notify_socket.is_some() {
        crate::notify::make_dir(&plan.notify_dir)?;
    }
    stop_point("state-dir");
    let mut cgroup = make_cgroup(opts, &plan)?;
    let (disk, loop_device) = make_disk(opts, &plan, &dir)?;
    let mut state = first_state(opts, &plan, &cgroup, &disk);
    dir.save(&state)?;
    let host_root = bind_host_root(&plan, &dir, &mut state)?;
    stop_point("cgroup");
    let limits = apply_limits(&plan, &mut cgroup, disk.as_ref().map(|d| &d.0))?;
    let fds = InitFds::prepare(&plan, &dir, &console_mode, &cgroup)?;
    let (init, mut fds) = clone_init(
        opts,
        &mut plan,
        &dir,
        &passed_fds,
        disk.as_ref(),
        fds,
        loop_device,
    )?;
    stop_point("cloned");
    tracing::debug!(
        "container {}: init cloned as pid {} with {:?}",
        opts.id,
        init.0,
        plan.ns.clone_flags()
    );
    place_init(
        &plan,
        &init,
        &fds,
        &limits,
        &mut cgroup,
        disk.as_ref().map(|d| &d.0),
    )?;
    state.cgroup = cgroup.as_ref().map(|c| c.cgroup.clone());
    stop_point("placed");
    let (_, start_time) = procfs::stat(init.0.as_raw())
        .ok_or_else(|| Error::Failed("the container's init exited during create".into()))?;
    state.pid = init.0.as_raw();
    state.start_time = start_time;
    run_create_hooks(&plan, &fds.parent_end, &state, init.0)?;
    stop_point("ready");
    let console = match fds.console_receiver.take() {
        Some(r) => Some(console::recv_master(r.as_fd())?),
        None => None,
    };
    persist(opts, &dir, &state, &fds.parent_end)?;
    tracing::debug!(
        "container {}: created, init pid {} waits on {}",
        opts.id,
        init.0,
        dir.fifo().display()
    );
    // Success: keep everything, last made first, as a failure would have undone them.
    let pid = init.keep().0;
    drop((host_root.map(Made::keep), disk.map(Made::keep)));
    drop((cgroup.map(Made::keep), dir.keep()));
    // init has mounted the disk: its mount holds the loop device from now on.
    drop(fds.loop_device);
    Ok(Created {
        pid,
        state,
        console,
    })
}

/// What `create` is asked for, checked before anything is made: the bundle and its config,
/// the namespaces (those joined by path opened), the disk and the cgroup placement.
struct Plan {
    bundle: Bundle,
    terminal: bool,
    ns: Namespaces,
    ns_fds: Vec<(LinuxNamespaceType, OwnedFd)>,
    disk: Option<crate::disk::DiskPlan>,
    placement: Placement,
    hierarchy: Hierarchy,
    notify_socket: Option<String>,
    notify_dir: PathBuf,
    euid: nix::unistd::Uid,
}

impl Plan {
    fn load(opts: &CreateOptions, console_mode: &ConsoleMode) -> Result<Plan> {
        crate::id::validate(&opts.id)?;
        let mut bundle = Bundle::load(&opts.bundle)?;
        bundle.validate()?;
        if opts.listen_fds > 0 {
            pass_listen_fds(&mut bundle.spec, opts.listen_fds);
        }
        let notify_socket = crate::notify::host_socket();
        let notify_dir = crate::notify::dir_of(&opts.root.join(&opts.id));
        if notify_socket.is_some() {
            crate::notify::setup_spec(&mut bundle.spec, &notify_dir)?;
        }
        let (linux, process) = crate::bundle::parts(&bundle.spec)?;
        crate::process::warn_unavailable_capabilities(process);
        crate::process::check_selinux(&[
            ("process.selinuxLabel", process.selinux_label().as_deref()),
            ("linux.mountLabel", linux.mount_label().as_deref()),
        ])?;
        let terminal = process.terminal().unwrap_or(false);
        if terminal && matches!(console_mode, ConsoleMode::None) {
            return Err(Error::Invalid(
                "process.terminal is true but no --console-socket was given: the pty master would have nowhere to go (set terminal to false, or pass --console-socket)".into(),
            ));
        }
        let ns = Namespaces::from_spec(linux.namespaces().as_deref().unwrap_or(&[]))?;
        let euid = nix::unistd::geteuid();
        if !euid.is_root() && !ns.is_new(LinuxNamespaceType::User) {
            return Err(Error::Invalid(format!(
                "linux.namespaces: vrun runs as uid {euid}, not root: the container needs a user namespace of its own ({{\"type\": \"user\"}} with uidMappings and gidMappings; `vrun spec --rootless` writes such a config)"
            )));
        }
        let disk = Self::disk(opts, &bundle, &ns)?;
        let ns_fds = ns.open_joined()?;
        check_the_joined_user_ns_maps(&ns_fds, linux)?;
        refuse_renaming_the_host(&bundle.spec, &ns_fds)?;
        let cgroups_path = linux
            .cgroups_path()
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        let placement = Placement::parse(cgroups_path.as_deref(), &opts.id, opts.systemd_cgroup)?;
        let hierarchy = Hierarchy::detect()?;
        hierarchy.container_dirs(&placement)?;
        Ok(Plan {
            bundle,
            terminal,
            ns,
            ns_fds,
            disk,
            placement,
            hierarchy,
            notify_socket,
            notify_dir,
            euid,
        })
    }

    /// The virtual disk the flags and annotations ask for, checked.
    fn disk(
        opts: &CreateOptions,
        bundle: &Bundle,
        ns: &Namespaces,
    ) -> Result<Option<crate::disk::DiskPlan>> {
        let disk = crate::disk::plan(
            &opts.disk,
            &bundle.spec.annotations().clone().unwrap_or_default(),
            &bundle.rootfs,
            ns.is_new(LinuxNamespaceType::User),
        )?;
        crate::state::check_upper_dir_unused(&opts.root, disk.as_ref())?;
        if disk.is_some() && !ns.has(LinuxNamespaceType::Mount) {
            return Err(Error::Invalid("the virtual disk (--overlay and its flags, or run.vrun.* annotations) needs a mount namespace of the container's own (linux.namespaces): its mounts are never the host's".into()));
        }
        Ok(disk)
    }

    fn spec(&self) -> &oci_spec::runtime::Spec {
        &self.bundle.spec
    }

    fn linux(&self) -> &oci_spec::runtime::Linux {
        // (Plan::load checked that the config has one)
        match self.bundle.spec.linux() {
            Some(linux) => linux,
            None => unreachable!("Plan::load refuses a config without linux"),
        }
    }

    fn annotations(&self) -> std::collections::HashMap<String, String> {
        self.spec().annotations().clone().unwrap_or_default()
    }
}

/// The container's cgroup: made (or joined) at its placement, or, for a rootless caller who
/// may not, none (see [`without_cgroup`]).
fn make_cgroup(opts: &CreateOptions, plan: &Plan) -> Result<Option<Made<OwnCgroup>>> {
    let registry = Registry::for_container(&opts.root, &opts.id);
    let created = match &plan.placement {
        Placement::Systemd {
            slice,
            prefix,
            name,
        } => vrun_cgroup::systemd::Unit::new(slice, prefix, name, opts.rootless)
            .and_then(|unit| Cgroup::for_unit(&plan.hierarchy, unit)),
        _ => Cgroup::create(&plan.hierarchy, &plan.placement, &registry),
    };
    let cgroup = match created {
        Ok(cg) => cg,
        Err(e) if opts.rootless && e.is_permission_denied() => {
            without_cgroup(&plan.linux().resources().clone().unwrap_or_default(), &e)?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let made = Made::new(OwnCgroup {
        cgroup,
        registry,
        own_pid_ns: plan.ns.is_new(LinuxNamespaceType::Pid),
    });
    // (a unit is made whole by systemd at placement, with init in it)
    if made.cgroup.unit.is_none() {
        check_cgroup_unused(&made.cgroup)?;
    }
    Ok(Some(made))
}

/// The virtual disk, made in the state directory (or where its flags say); and the loop
/// device of its image, held until init has mounted it.
fn make_disk(
    opts: &CreateOptions,
    plan: &Plan,
    dir: &ContainerDir,
) -> Result<(Option<Made<OwnDisk>>, Option<vrun_rootfs::disk::LoopDevice>)> {
    let Some(disk) = &plan.disk else {
        return Ok((None, None));
    };
    let made = crate::disk::make(disk, &opts.root, &dir.path, &opts.id)?;
    Ok((
        Some(Made::new(OwnDisk(made.state, made.new_dir))),
        made.loop_device,
    ))
}

/// A first state (pid 0: "creating") as soon as there is something to clean up, so that a
/// create killed half-way leaves a state `delete --force` can remove with its cgroup.
fn first_state(
    opts: &CreateOptions,
    plan: &Plan,
    cgroup: &Option<Made<OwnCgroup>>,
    disk: &Option<Made<OwnDisk>>,
) -> Persisted {
    let spec = plan.spec();
    Persisted {
        id: opts.id.clone(),
        pid: 0,
        start_time: 0,
        bundle: plan.bundle.dir.clone(),
        rootfs: plan.bundle.rootfs.clone(),
        created: crate::time::now_rfc3339(),
        owner: String::new(),
        annotations: plan.annotations(),
        cgroup: cgroup.as_ref().map(|c| c.cgroup.clone()),
        config: spec.clone(),
        seccomp: plan.bundle.seccomp.clone(),
        disk: disk.as_ref().map(|d| d.0.clone()),
        host_root_mount: None,
        notify_socket: plan.notify_socket.clone(),
    }
}

/// Without a mount namespace, the rootfs is bound in the caller's: made (and recorded)
/// before init exists, so nothing can lose it.
fn bind_host_root(
    plan: &Plan,
    dir: &ContainerDir,
    state: &mut Persisted,
) -> Result<Option<Made<HostRootBind>>> {
    if plan.ns.has(LinuxNamespaceType::Mount) {
        return Ok(None);
    }
    let id = vrun_rootfs::host_root::bind(&plan.bundle.rootfs)?;
    let made = Made::new(HostRootBind(plan.bundle.rootfs.clone(), id));
    state.host_root_mount = Some(id);
    dir.save(state)?;
    Ok(Some(made))
}

/// The limits (with the disk's io throttles) written to the cgroup before init is in it;
/// a unit's are written once systemd has made it, at placement.
fn apply_limits(
    plan: &Plan,
    cgroup: &mut Option<Made<OwnCgroup>>,
    disk: Option<&crate::disk::DiskState>,
) -> Result<Limits> {
    let mut resources = plan.linux().resources().clone().unwrap_or_default();
    if let Some(d) = disk {
        crate::disk::add_throttles(&mut resources, d)?;
    }
    let limits = Limits {
        resources,
        annotations: plan.annotations(),
    };
    if let Some(own) = cgroup.as_mut().filter(|c| c.cgroup.unit.is_none()) {
        limits.apply(own)?;
    }
    Ok(limits)
}

/// What the parent prepares for init before the clone: the exec fifo, the console, the
/// seccomp filter, the sync channel, the cgroup init joins itself, the cgroup a `cgroup`
/// mount shows, and the mount sources that must be opened with the caller's credentials.
struct InitFds {
    fifo: OwnedFd,
    console_socket: Option<OwnedFd>,
    console_receiver: Option<OwnedFd>,
    parent_end: sync::Channel,
    init_end: sync::Channel,
    self_join: Option<vrun_cgroup::SelfJoin>,
    cgroup_source: Option<CgroupSource>,
    setgroups_allowed: bool,
    mount_sources: Vec<Option<OwnedFd>>,
}

impl InitFds {
    fn prepare(
        plan: &Plan,
        dir: &ContainerDir,
        console_mode: &ConsoleMode,
        cgroup: &Option<Made<OwnCgroup>>,
    ) -> Result<InitFds> {
        let fifo_path = dir.fifo();
        // (only its owner starts the container: the fifo is no one else's to write)
        nix::unistd::mkfifo(&fifo_path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .context(|| format!("create {}", fifo_path.display()))?;
        let fifo = open_fifo(&fifo_path)?;
        let (console_socket, console_receiver) = match (console_mode, plan.terminal) {
            (ConsoleMode::Socket(p), true) => (Some(console::connect_socket(p)?), None),
            (ConsoleMode::Proxy, true) => {
                let (a, b) = sync_stream_pair()?;
                (Some(b), Some(a))
            }
            _ => (None, None),
        };
        let (parent_end, init_end) = sync::pair()?;
        let cgroup = cgroup.as_ref().map(|c| &c.cgroup);
        let cgroup_source = match cgroup {
            Some(cg) => cgroup_source(cg, plan.ns.is_new(LinuxNamespaceType::Cgroup)),
            None => {
                callers_cgroup_source(&plan.hierarchy, plan.ns.is_new(LinuxNamespaceType::Cgroup))?
            }
        };
        let linux = plan.linux();
        Ok(InitFds {
            fifo,
            console_socket,
            console_receiver,
            parent_end,
            init_end,
            self_join: self_join(plan, cgroup),
            cgroup_source,
            // setgroups(2) stays allowed in the user namespace unless an unprivileged caller
            // writes the gid map itself (see idmap::write_maps).
            setgroups_allowed: plan.euid.is_root()
                || idmap::needs_helper(
                    linux.gid_mappings().as_deref().unwrap_or(&[]),
                    nix::unistd::getegid().as_raw(),
                ),
            mount_sources: mount_sources(plan)?,
        })
    }
}

/// init joins its cgroup itself, born in the v2 directory and moving itself on v1: far
/// cheaper than the parent moving it (see vrun_cgroup::SelfJoin). A cgroup that cannot be
/// opened so is placed by the parent, as before.
fn self_join(plan: &Plan, cgroup: Option<&Cgroup>) -> Option<vrun_cgroup::SelfJoin> {
    let cg = cgroup.filter(|_| plan.euid.is_root())?;
    cg.self_join(&Default::default()).unwrap_or_else(|e| {
        tracing::debug!("init cannot join its cgroup itself ({e}): placed by the parent");
        None
    })
}

/// Bind sources cloned here, with the caller's credentials, which init loses to the user
/// namespace's (new, or joined by path) before it mounts; and the idmapped ones.
fn mount_sources(plan: &Plan) -> Result<Vec<Option<OwnedFd>>> {
    let spec = plan.spec();
    let mut sources: Vec<Option<OwnedFd>> = match plan.ns.has(LinuxNamespaceType::User) {
        true => vrun_rootfs::mounts::open_bind_sources(
            spec.mounts().as_deref().unwrap_or(&[]),
            &plan.bundle.dir,
        ),
        false => Vec::new(),
    };
    let joined_user_ns = plan
        .ns_fds
        .iter()
        .find(|(t, _)| *t == LinuxNamespaceType::User)
        .map(|(_, fd)| fd.as_fd());
    prepare_idmapped_sources(&mut sources, &plan.bundle, plan.linux(), joined_user_ns)?;
    Ok(sources)
}

/// What the parent keeps of the fds once init is cloned.
struct ParentFds {
    parent_end: sync::Channel,
    console_receiver: Option<OwnedFd>,
    self_join: Option<bool>,
    /// linux.netDevices go into the namespace the container joins, or the one init made.
    devices_netns: Option<OwnedFd>,
    /// Held until init has mounted the disk image.
    loop_device: Option<vrun_rootfs::disk::LoopDevice>,
}

/// Clones init into its namespaces (the pid and time ones entered around the clone) and,
/// when it can, straight into its v2 cgroup; init runs [`init::run`] and never returns.
fn clone_init(
    opts: &CreateOptions,
    plan: &mut Plan,
    dir: &ContainerDir,
    passed_fds: &crate::passed_fds::PassedFds,
    disk: Option<&Made<OwnDisk>>,
    fds: InitFds,
    loop_device: Option<vrun_rootfs::disk::LoopDevice>,
) -> Result<(Made<made::Child>, ParentFds)> {
    let InitFds {
        fifo,
        console_socket,
        console_receiver,
        parent_end,
        init_end,
        self_join,
        cgroup_source,
        setgroups_allowed,
        mount_sources,
    } = fds;
    // (init's to close: moved into it)
    let ns_fds = std::mem::take(&mut plan.ns_fds);
    let plan = &*plan;
    let seccomp = crate::seccomp::SeccompSetup::new(plan.bundle.seccomp.as_ref())?;
    let linux = plan.linux();
    let restore = ChildNamespaces::enter(&plan.ns, &ns_fds, linux, &plan.bundle.config_path())?;
    // init is born in its v2 cgroup, unless it must mount a disk image first (the cgroup's
    // device rules do not allow the loop device).
    let disk_state = disk.map(|d| &d.0);
    let disk_first = disk_state.is_some_and(|d| d.loop_device.is_some());
    let (cloned, born_placed) =
        super::clone_joining(plan.ns.clone_flags(), self_join.as_ref(), !disk_first);
    let pid = match cloned.context(|| "clone the container's init".into())? {
        CloneResult::Child => {
            // What init does not need of the parent's; what it needs is moved into it.
            drop((parent_end, restore, console_receiver, loop_device));
            init::run(InitContext {
                id: &opts.id,
                spec: plan.spec(),
                bundle_dir: &plan.bundle.dir,
                rootfs: &plan.bundle.rootfs,
                ns: &plan.ns,
                ns_fds,
                channel: init_end,
                fifo,
                console_socket,
                cgroup_source,
                no_pivot: opts.no_pivot,
                no_new_keyring: opts.no_new_keyring,
                passed_fds,
                setgroups_allowed,
                seccomp,
                state_lock: Some(dir.lock_fd()),
                disk: disk_state,
                mount_sources,
                cgroup_join: self_join,
                shed_memory: !opts.starts_at_once,
            })
        }
        CloneResult::Parent(pid) => pid,
    };
    let init = Made::new(made::Child(pid));
    restore.undo()?;
    let devices_netns = devices_netns(plan, &ns_fds, pid)?;
    drop((init_end, fifo, console_socket, ns_fds, seccomp));
    let joined = self_join.map(|_| born_placed);
    Ok((
        init,
        ParentFds {
            parent_end,
            console_receiver,
            self_join: joined,
            devices_netns,
            loop_device,
        },
    ))
}

fn devices_netns(
    plan: &Plan,
    ns_fds: &[(LinuxNamespaceType, OwnedFd)],
    pid: Pid,
) -> Result<Option<OwnedFd>> {
    if plan
        .linux()
        .net_devices()
        .as_ref()
        .is_none_or(|d| d.is_empty())
    {
        return Ok(None);
    }
    Ok(Some(
        match ns_fds
            .iter()
            .find(|(t, _)| *t == LinuxNamespaceType::Network)
        {
            Some((_, fd)) => fd
                .try_clone()
                .context(|| "linux.netDevices: the network namespace".into())?,
            None => namespaces::open_of_process(pid.as_raw(), LinuxNamespaceType::Network)?,
        },
    ))
}

/// What makes init the container's from outside: its id maps, its disk image mounted, its
/// cgroup (unless it joined it itself), its network devices.
fn place_init(
    plan: &Plan,
    init: &made::Child,
    fds: &ParentFds,
    limits: &Limits,
    cgroup: &mut Option<Made<OwnCgroup>>,
    disk: Option<&crate::disk::DiskState>,
) -> Result<()> {
    let linux = plan.linux();
    if plan.ns.is_new(LinuxNamespaceType::User) {
        idmap::write_maps(
            init.0.as_raw(),
            linux.uid_mappings().as_deref().unwrap_or(&[]),
            linux.gid_mappings().as_deref().unwrap_or(&[]),
        )?;
    }
    if disk.is_some_and(|d| d.loop_device.is_some()) {
        fds.parent_end
            .expect(sync::DISK_MOUNTED, "init to mount the disk image")?;
    }
    let joined = match fds.self_join {
        Some(born_placed) => super::child_joined(&fds.parent_end, born_placed)?,
        None => false,
    };
    if let Some(own) = cgroup.as_mut().filter(|_| !joined) {
        limits.place(&plan.hierarchy, own, init.0.as_raw())?;
    }
    if let (Some(devices), Some(netns)) = (linux.net_devices(), &fds.devices_netns) {
        crate::netdev::move_into(devices, netns.as_fd())?;
    }
    Ok(())
}

/// Sends init the state and runs the create-time hooks when it asks, until it is ready.
/// runtime-spec 1.2's lifecycle runs them after the environment is created (steps 3 to 5,
/// "after step 2"), which its state section calls `created`; crun passes the same (runc
/// passes `creating`).
fn run_create_hooks(
    plan: &Plan,
    channel: &sync::Channel,
    state: &Persisted,
    pid: Pid,
) -> Result<()> {
    let hook_state = state.spec_state_json(Status::Created);
    channel.send(sync::GO, hook_state.as_bytes())?;
    loop {
        match channel.recv()? {
            Some((tag, _)) if tag == sync::HOOKS => {
                #[allow(deprecated)]
                if let Some(h) = plan.spec().hooks() {
                    hooks::run(
                        "prestart",
                        h.prestart().as_deref().unwrap_or(&[]),
                        &hook_state,
                    )?;
                    hooks::run(
                        "createRuntime",
                        h.create_runtime().as_deref().unwrap_or(&[]),
                        &hook_state,
                    )?;
                }
                channel.send(sync::HOOKS_DONE, b"")?;
            }
            Some((tag, _)) if tag == sync::READY => return Ok(()),
            Some((tag, body)) if tag == sync::ERROR => {
                return Err(Error::Invalid(String::from_utf8_lossy(&body).into_owned()))
            }
            Some((tag, _)) => {
                return Err(Error::Failed(format!(
                    "unexpected message {:?} from the container's init",
                    String::from_utf8_lossy(&tag)
                )))
            }
            None => return Err(init_died(pid, &plan.bundle)),
        }
    }
}

/// The whole state, saved; init is told (it ends itself if create dies before: see
/// init's wait for it); then the pid file and the pidfd the caller asked for.
fn persist(
    opts: &CreateOptions,
    dir: &ContainerDir,
    state: &Persisted,
    channel: &sync::Channel,
) -> Result<()> {
    dir.save(state)?;
    channel.send(sync::SAVED, b"")?;
    stop_point("saved");
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, state.pid)?;
    }
    if let Some(socket) = &opts.pidfd_socket {
        console::send_pidfd(socket, state.pid)?;
    }
    // create returns with init as it waits for start, holding only what it keeps: it closes
    // its end of this channel once it has read "saved" (a reader of init's fds right after
    // create saw it there now and then). Bounded: a stopped init does not hold create.
    if !channel.wait_closed(INIT_CLOSES_CHANNEL) {
        tracing::debug!(
            "init (pid {}) did not close the sync channel in time",
            state.pid
        );
    }
    Ok(())
}

/// How long create waits for init to close its end of the sync channel after "saved".
const INIT_CLOSES_CHANNEL: std::time::Duration = std::time::Duration::from_secs(2);

/// init went before it reported ready without saying why (it reports its errors): how it
/// ended, from its wait status. A seccomp filter that kills what vrun's last steps call (a
/// profile whose default action kills) is the one such end a config causes: named.
fn init_died(pid: Pid, bundle: &Bundle) -> Error {
    use nix::sys::wait::WaitStatus;
    let how = match waitpid(pid, None) {
        Ok(WaitStatus::Signaled(_, Signal::SIGSYS, _)) if bundle.seccomp.is_some() => {
            return Error::Invalid(format!(
                "{}: linux.seccomp: the container's init was killed by its seccomp filter (SIGSYS) before it could exec: the profile must allow what a process does to exec its program (write, read, close, execve, and what the program needs), as its defaultAction does not",
                bundle.config_path().display()
            ))
        }
        Ok(WaitStatus::Signaled(_, signal, _)) => format!(" (killed by {signal})"),
        Ok(WaitStatus::Exited(_, code)) => format!(" (exit status {code})"),
        _ => String::new(),
    };
    Error::Failed(format!(
        "the container's init exited before it was ready{how}"
    ))
}

/// A rootless container whose cgroup the caller may not make (a v1 host, or v2 without a
/// subtree delegated to the user) runs in the caller's own cgroup, with a warning, as runc
/// runs it; one that asks for a limit is refused, naming the field, rather than run
/// without it (runc ignores the limit).
fn without_cgroup(
    resources: &oci_spec::runtime::LinuxResources,
    e: &vrun_cgroup::Error,
) -> Result<()> {
    if let Some(field) = vrun_cgroup::first_limit(resources) {
        return Err(Error::Invalid(format!(
            "linux.resources.{field}: a rootless container gets limits only in a cgroup its user may make, and this one may not ({e}): drop the limit, or run where systemd delegates a cgroup to the user (cgroup v2)"
        )));
    }
    tracing::warn!(
        "rootless: no cgroup of its own for the container ({e}): it runs in the caller's, without limits"
    );
    let rules = resources.devices().as_deref().unwrap_or(&[]);
    let deny_all = |r: &oci_spec::runtime::LinuxDeviceCgroup| {
        !r.allow()
            && matches!(r.typ(), None | Some(oci_spec::runtime::LinuxDeviceType::A))
            && r.major().is_none()
            && r.minor().is_none()
    };
    if !matches!(rules, [] | [_]) || rules.first().is_some_and(|r| !deny_all(r)) {
        tracing::warn!(
            "linux.resources.devices: not enforced without a cgroup; the container has only the device nodes it is given, with the host's permissions"
        );
    }
    Ok(())
}

/// A cgroup someone else made may already be in use. Frozen, it would hold init forever
/// before it reports ready: refused at once, in runc's words. With processes in it, the
/// container shares its limits and `kill --all` reaches them too: a warning, as runc gives.
fn check_cgroup_unused(cgroup: &Cgroup) -> Result<()> {
    let shown = || {
        cgroup
            .dir_of("freezer")
            .or_else(|| cgroup.dir_of("pids"))
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    };
    if cgroup.is_frozen() {
        return Err(Error::Invalid(format!(
            "container's cgroup unexpectedly frozen: {} (thaw it, or choose another linux.cgroupsPath)",
            shown()
        )));
    }
    // (directories this create made a moment ago hold nothing)
    let pids = match cgroup.fresh {
        true => Vec::new(),
        false => cgroup.pids()?,
    };
    if !pids.is_empty() {
        tracing::warn!(
            "container's cgroup is not empty: {} process(es) found in {}",
            pids.len(),
            shown()
        );
    }
    Ok(())
}

/// The container's limits, and how to make its cgroup again when a container sharing it
/// removed it in between: that one saw the directory empty (this one had no process in it
/// yet), which is its right. The directory is made again, the limits applied again, and the
/// step retried.
struct Limits {
    resources: oci_spec::runtime::LinuxResources,
    /// For the systemd driver's `org.systemd.property.*`.
    annotations: std::collections::HashMap<String, String>,
}

impl Limits {
    const ATTEMPTS: u32 = 20;

    fn apply(&self, own: &mut OwnCgroup) -> Result<()> {
        self.retry(own, None)
    }

    /// Moves init into the cgroup: from then on the directory is in use and stays. With the
    /// systemd driver, starts the unit with init in it, then writes the limits' files.
    ///
    /// The limits are written again first, under the same lock as the move. The parent moves
    /// init only when init could not join by itself, mostly because the directory it was
    /// given went (a container sharing it saw it empty and removed it). What stands at that
    /// path now may be another create's, made a moment ago and not yet limited: its device
    /// rules are still the parent's "allow all". Moved in as it is, init would run there
    /// while that create writes "deny all" before its allow rules, and an open of /dev/null
    /// in that moment fails with EPERM. Written first, the rules are in place before init
    /// is in the directory, and the other create's write changes nothing (only differences
    /// are written, see devices_v1).
    fn place(&self, h: &Hierarchy, own: &mut OwnCgroup, pid: i32) -> Result<()> {
        let cg = &mut own.cgroup;
        if cg.unit.is_some() {
            cg.start_unit(h, pid, &self.resources, &self.annotations)?;
            return Ok(cg.apply(&self.resources)?);
        }
        self.retry(own, Some(pid))
    }

    /// Writes the limits, then moves `pid` in if given. Each attempt runs under the registry's
    /// lock, so that no container of this state root makes or removes the directories
    /// meanwhile; one of another root still can, and the directories are then made again
    /// and the attempt repeated.
    ///
    /// A default placement this create has just made (`<caller>/vrun/<id>`: the id makes it
    /// this container's) is first written without the lock, which every create and delete of
    /// the state root contends for; only if the directory turns out gone is it the shared
    /// case.
    fn retry(&self, own: &mut OwnCgroup, pid: Option<i32>) -> Result<()> {
        let OwnCgroup {
            cgroup: cg,
            registry,
            ..
        } = own;
        let step = |cg: &Cgroup| {
            cg.apply(&self.resources)
                .and_then(|()| pid.map_or(Ok(()), |p| cg.add_process(p)))
        };
        if cg.fresh && cg.default_placement {
            match step(cg) {
                Err(e) if e.is_shared_race() => {}
                other => return Ok(other?),
            }
        }
        let mut attempt = 0;
        loop {
            let result = {
                let _lock = registry.lock()?;
                step(cg)
            };
            match result {
                Err(e) if attempt < Self::ATTEMPTS && e.is_shared_race() => {
                    tracing::debug!("the shared cgroup changed under this create ({e}): again");
                    attempt += 1;
                    cg.recreate(registry)?;
                }
                other => return Ok(other?),
            }
        }
    }
}

/// `hostname` or `domainname` with a uts namespace joined by path are set there, as runc sets
/// them; but not in the one vrun runs in, where they would rename the host: refused by name.
fn refuse_renaming_the_host(
    spec: &oci_spec::runtime::Spec,
    ns_fds: &[(LinuxNamespaceType, OwnedFd)],
) -> Result<()> {
    let named = [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ]
    .into_iter()
    .find(|(_, v)| v.as_deref().is_some_and(|v| !v.is_empty()));
    let joined = ns_fds.iter().find(|(t, _)| *t == LinuxNamespaceType::Uts);
    match (named, joined) {
        (Some((field, _)), Some((_, fd))) if namespaces::is_own(fd, LinuxNamespaceType::Uts) => {
            Err(Error::Invalid(format!(
                "{field}: the uts namespace the container joins (linux.namespaces) is the one vrun runs in: setting the container's {field} there would change the host's (leave out {field}, or the path)"
            )))
        }
        _ => Ok(()),
    }
}

/// LISTEN_FDS=N and LISTEN_PID=1 (runc's values: the process is pid 1 of its namespace) in
/// the process's environment, replacing any it had.
fn pass_listen_fds(spec: &mut oci_spec::runtime::Spec, n: u32) {
    let Some(mut process) = spec.process().clone() else {
        return;
    };
    let mut env = process.env().clone().unwrap_or_default();
    env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
    env.push(format!("LISTEN_FDS={n}"));
    env.push("LISTEN_PID=1".into());
    process.set_env(Some(env));
    spec.set_process(Some(process));
}

/// The sources of idmapped bind mounts, into the list of cloned sources init attaches: each
/// gets the mapping of a user namespace made with the mount's own mappings or, without them,
/// the container's (one namespace per distinct mapping), or the user namespace the container
/// joins by path itself.
fn prepare_idmapped_sources(
    sources: &mut Vec<Option<OwnedFd>>,
    bundle: &Bundle,
    linux: &oci_spec::runtime::Linux,
    joined_user_ns: Option<std::os::fd::BorrowedFd>,
) -> Result<()> {
    let mounts = bundle.spec.mounts().as_deref().unwrap_or(&[]);
    let mut user_namespaces: Vec<(String, OwnedFd)> = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        let field = format!("mounts[{i}] ({})", m.destination().display());
        let opts =
            vrun_rootfs::mount_options::parse(m.options().as_deref().unwrap_or(&[]), &field)?;
        let Some(source) = m.source().as_deref().filter(|_| opts.idmap.is_some()) else {
            continue;
        };
        let own = bundle.ext.mount_idmaps.get(i).and_then(Option::as_ref);
        let userns = match (own, joined_user_ns) {
            (None, Some(joined)) => joined,
            _ => {
                let (uid, gid) = match own {
                    Some(map) => (map.uid.clone(), map.gid.clone()),
                    None => (
                        linux.uid_mappings().clone().unwrap_or_default(),
                        linux.gid_mappings().clone().unwrap_or_default(),
                    ),
                };
                let key = format!("{uid:?}/{gid:?}");
                let index = match user_namespaces.iter().position(|(k, _)| *k == key) {
                    Some(n) => n,
                    None => {
                        let fd = idmap::user_namespace_with(&uid, &gid, &field)?;
                        user_namespaces.push((key, fd));
                        user_namespaces.len() - 1
                    }
                };
                user_namespaces[index].1.as_fd()
            }
        };
        let tree = vrun_rootfs::mounts::open_idmapped_source(
            &bundle.dir.join(source),
            &opts,
            userns,
            &field,
        )?;
        if sources.len() < mounts.len() {
            sources.resize_with(mounts.len(), || None);
        }
        sources[i] = Some(tree);
    }
    Ok(())
}

/// The exec fifo, opened read-write: init's read then blocks until `start` writes, and an
/// open by `start` never blocks on a dead init (it gets ENXIO instead).
fn open_fifo(path: &Path) -> Result<OwnedFd> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(OwnedFd::from)
        .context(|| format!("open {}", path.display()))
}

fn sync_stream_pair() -> Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context(|| "create the console socketpair".into())
}

/// Without a cgroup of its own, a `cgroup` mount inside the container shows the caller's.
fn callers_cgroup_source(h: &Hierarchy, new_namespace: bool) -> Result<Option<CgroupSource>> {
    let dirs = h.container_dirs(&Placement::Relative(String::new()))?;
    Ok(Some(match h.version() {
        Version::V2 => CgroupSource::V2 {
            host_dir: dirs.into_iter().next().map(|(_, d)| d).unwrap_or_default(),
            new_namespace,
        },
        Version::V1 => CgroupSource::V1(dirs),
    }))
}

/// What a `cgroup` mount inside the container shows: the container's own cgroup.
fn cgroup_source(cg: &Cgroup, new_namespace: bool) -> Option<CgroupSource> {
    Some(match cg.version {
        Version::V2 => CgroupSource::V2 {
            host_dir: cg.dirs.first()?.1.clone(),
            new_namespace,
        },
        Version::V1 => CgroupSource::V1(cg.dirs.clone()),
    })
}

/// Writes the pid file through a temporary file and a rename (containerd and conmon read it).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string())
        .context(|| format!("write the pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, path).context(|| format!("write the pid file {}", path.display()))
}

/// A user namespace joined by path (a pod's, as containerd gives it for `hostUsers: false`):
/// mappings the config gives beside it must be its own (containerd gives both; runc checks
/// them too).
fn check_the_joined_user_ns_maps(
    fds: &[(LinuxNamespaceType, OwnedFd)],
    linux: &oci_spec::runtime::Linux,
) -> Result<()> {
    let Some((_, userns)) = fds.iter().find(|(t, _)| *t == LinuxNamespaceType::User) else {
        return Ok(());
    };
    let uid = linux.uid_mappings().as_deref().unwrap_or(&[]);
    let gid = linux.gid_mappings().as_deref().unwrap_or(&[]);
    if uid.is_empty() && gid.is_empty() {
        return Ok(());
    }
    let (uid_map, gid_map) = namespaces::maps_of_user_ns(userns.as_fd())?;
    for (field, maps, text) in [
        ("linux.uidMappings", uid, &uid_map),
        ("linux.gidMappings", gid, &gid_map),
    ] {
        let want: Vec<(u32, u32, u32)> = maps
            .iter()
            .map(|m| (m.container_id(), m.host_id(), m.size()))
            .collect();
        if !maps.is_empty() && !namespaces::map_is(text, &want) {
            return Err(Error::Invalid(format!(
                "{field}: the mappings given are not those of the user namespace joined by path (linux.namespaces), which maps {}",
                text.split_whitespace().collect::<Vec<_>>().chunks(3).map(|c| c.join(" ")).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(())
}

/// The pid and time namespaces act on children only: the parent enters them (or creates the
/// time one) just for the clone, then returns to its own.
struct ChildNamespaces {
    pid: Option<OwnedFd>,
    time: Option<OwnedFd>,
}

impl ChildNamespaces {
    fn enter(
        ns: &Namespaces,
        fds: &[(LinuxNamespaceType, OwnedFd)],
        linux: &oci_spec::runtime::Linux,
        config: &Path,
    ) -> Result<ChildNamespaces> {
        let mut saved = ChildNamespaces {
            pid: None,
            time: None,
        };
        for (typ, fd) in fds {
            if matches!(typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                let own = namespaces::open_of_process(std::process::id() as i32, *typ)?;
                namespaces::join(*typ, fd)?;
                if *typ == LinuxNamespaceType::Pid {
                    saved.pid = Some(own);
                } else {
                    saved.time = Some(own);
                }
            }
        }
        if ns.is_new(LinuxNamespaceType::Time) {
            saved.time = Some(namespaces::open_of_process(
                std::process::id() as i32,
                LinuxNamespaceType::Time,
            )?);
            let offsets: Vec<(String, i64, u32)> = linux
                .time_offsets()
                .iter()
                .flatten()
                .map(|(clock, o)| {
                    (
                        clock.clone(),
                        o.secs().unwrap_or(0),
                        o.nanosecs().unwrap_or(0),
                    )
                })
                .collect();
            namespaces::unshare_time_for_children(&offsets).map_err(|e| {
                Error::Invalid(format!(
                    "{}: linux.timeOffsets: the kernel refused the offsets ({e})",
                    config.display()
                ))
            })?;
        } else if linux.time_offsets().as_ref().is_some_and(|o| !o.is_empty()) {
            return Err(Error::Invalid(
                "linux.timeOffsets: needs a new time namespace (linux.namespaces)".into(),
            ));
        }
        Ok(saved)
    }

    fn undo(self) -> Result<()> {
        if let Some(fd) = self.pid {
            namespaces::join(LinuxNamespaceType::Pid, &fd)?;
        }
        if let Some(fd) = self.time {
            namespaces::join(LinuxNamespaceType::Time, &fd)?;
        }
        Ok(())
    }
}
