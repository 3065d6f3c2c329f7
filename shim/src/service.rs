//! containerd's task service, on vrun's runtime API (run by the maker, see maker.rs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use containerd_shim as shim;
use shim::api;
use shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use shim::protos::protobuf::{Message, MessageField};
use shim::protos::ttrpc::{self, Code};
use shim::{ExitSignal, TtrpcContext, TtrpcResult};

use crate::events::Publisher;
use crate::io::Stdio;
use crate::maker::{Done, Exit, Maker, Reply, Request};
use vrun_runtime::lifecycle::checkpoint::CriuOptions;
use vrun_runtime::ErrorKind as Kind;

/// A container of this shim's.
struct Entry {
    bundle: PathBuf,
    /// vrun's state root: /run/containerd/vrun/<namespace>, or runc's `Root` option's
    /// <Root>/<namespace>, as runc's shim takes it.
    root: PathBuf,
    pid: i32,
    stdio: Stdio,
    /// Its rootfs was mounted from containerd's list (undone at delete).
    mounted_rootfs: bool,
    exit: Option<(u32, Timestamp)>,
    execs: HashMap<String, ExecEntry>,
    /// Created from a checkpoint: restored by Start (pid 0 until then), as runc's shim does.
    restore: Option<Restore>,
}

/// A container containerd created from a checkpoint, to be restored at Start.
struct Restore {
    criu: CriuOptions,
    systemd_cgroup: bool,
    /// The work directory is the shim's own (bundle/criu-work), removed after.
    own_work: bool,
}

/// A process exec'd into a container: added by Exec, run by Start.
struct ExecEntry {
    /// The runtime-spec Process containerd gave (JSON), until Start runs it.
    spec: Vec<u8>,
    terminal: bool,
    paths: [String; 3],
    /// 0 until started.
    pid: i32,
    stdio: Option<Stdio>,
    exit: Option<(u32, Timestamp)>,
}

pub struct Shared {
    maker: Maker,
    events: Publisher,
    namespace: String,
    /// The default state root, /run/containerd/vrun/<namespace>.
    root: PathBuf,
    containers: Mutex<HashMap<String, Entry>>,
    /// Exits of pids no container has yet (an exit read before its create's reply).
    early: Mutex<HashMap<i32, (u32, Timestamp)>>,
    exited: Condvar,
    pub exit: Arc<ExitSignal>,
}

#[derive(Clone)]
pub struct Service(pub Arc<Shared>);

/// How long an exit waits for its terminal's output to be copied: a process left in the
/// background may hold the pty open for ever.
const TERMINAL_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// The file in a bundle that names the state root of its container.
pub const ROOT_FILE: &str = ".vrun-shim-root";

/// The state root of a namespace, as runc's shim keeps runc's under /run/containerd/runc.
pub fn default_root(namespace: &str) -> PathBuf {
    Path::new("/run/containerd/vrun").join(namespace)
}

impl Service {
    pub fn new(maker: Maker, namespace: &str, exit: Arc<ExitSignal>) -> Service {
        let service = Service(Arc::new(Shared {
            maker,
            // (set by containerd for its shims; containerd-shim's run read it too)
            events: Publisher::new(std::env::var("TTRPC_ADDRESS").ok(), namespace),
            namespace: namespace.to_string(),
            root: default_root(namespace),
            containers: Mutex::new(HashMap::new()),
            early: Mutex::new(HashMap::new()),
            exited: Condvar::new(),
            exit,
        }));
        let reader = service.clone();
        std::thread::spawn(move || reader.read_exits());
        crate::idle::watch_shim();
        service
    }

    fn containers(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.0.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The maker's exits, each given to its container (or kept until its create's reply).
    fn read_exits(&self) {
        while let Some(Exit { pid, status }) = self.0.maker.next_exit() {
            // A terminal's output is all in containerd's fifo before the exit is told: a
            // client stops reading at the exit (ctr run -t, crictl exec -t).
            if let Some(copied) = self.output_of(pid) {
                copied.wait(TERMINAL_DRAIN);
            }
            let at = Timestamp::now();
            let exit = (status as u32, at.clone());
            let mut containers = self.containers();
            let mut event = None;
            for (id, entry) in containers.iter_mut() {
                if entry.pid == pid && entry.exit.is_none() {
                    entry.exit = Some(exit.clone());
                    event = Some((id.clone(), id.clone()));
                    break;
                }
                if let Some((exec_id, e)) = entry
                    .execs
                    .iter_mut()
                    .find(|(_, e)| e.pid == pid && e.exit.is_none())
                {
                    e.exit = Some(exit.clone());
                    // its ends of containerd's fifos: EOF for containerd once it is gone
                    e.stdio = None;
                    event = Some((id.clone(), exec_id.clone()));
                    break;
                }
            }
            let Some((container_id, id)) = event else {
                // (under the containers' lock: a create or exec start takes its early exit
                // under it too, once it has recorded the pid, so none is lost between)
                let mut early = self.0.early.lock().unwrap_or_else(|e| e.into_inner());
                early.insert(pid, exit);
                continue;
            };
            drop(containers);
            self.0.exited.notify_all();
            self.publish_exit(container_id, id, pid, status as u32, at);
        }
        tracing::error!("the maker is gone: no exit is reported from now on");
    }

    /// The terminal output copy of the running process `pid`, if it has a terminal.
    fn output_of(&self, pid: i32) -> Option<crate::io::OutputCopied> {
        let containers = self.containers();
        containers.values().find_map(|entry| {
            let stdio = if entry.pid == pid && entry.exit.is_none() {
                Some(&entry.stdio)
            } else {
                let x = entry
                    .execs
                    .values()
                    .find(|x| x.pid == pid && x.exit.is_none())?;
                x.stdio.as_ref()
            };
            stdio?.output_copied()
        })
    }

    /// The exit event of init (`id` the container's) or of an exec'd process (`id` its
    /// exec id), after an OOM event when the OOM killer ended the container.
    fn publish_exit(&self, container_id: String, id: String, pid: i32, status: u32, at: Timestamp) {
        if container_id == id && self.oom_killed(&id) {
            // before the exit: CRI gives the exit its reason (OOMKilled) from this event
            self.0.events.publish(TaskOOM {
                container_id: id.clone(),
                ..Default::default()
            });
        }
        self.0.events.publish(TaskExit {
            container_id,
            id,
            pid: pid as u32,
            exit_status: status,
            exited_at: MessageField::some(at),
            ..Default::default()
        });
    }

    /// Whether the OOM killer acted in the container's cgroup (read in this process: a file
    /// read, no fork).
    fn oom_killed(&self, id: &str) -> bool {
        let Ok(root) = self.root_of(id) else {
            return false;
        };
        vrun_runtime::Runtime::new(root)
            .container(id)
            .and_then(|c| c.state())
            .ok()
            .and_then(|(state, _)| state.cgroup)
            .is_some_and(|cg| cg.oom_kills() > 0)
    }

    fn stats_of(&self, id: &str) -> TtrpcResult<api::StatsResponse> {
        let (state, _) = vrun_runtime::Runtime::new(self.root_of(id)?)
            .container(id)
            .and_then(|c| c.state())
            .map_err(|e| status(e.kind(), e.to_string()))?;
        let Some(cg) = state.cgroup else {
            return Err(unimplemented(
                "stats of a container without a cgroup of its own",
            ));
        };
        let stats = cg.stats();
        let (type_url, value) = match cg.version {
            vrun_cgroup::Version::V1 => (
                crate::metrics::TYPE_URL_V1,
                crate::metrics::from_stats(&stats)
                    .write_to_bytes()
                    .map_err(|e| status(Kind::System, format!("encode the metrics: {e}")))?,
            ),
            vrun_cgroup::Version::V2 => (
                crate::metrics::TYPE_URL_V2,
                crate::metrics::v2_from_stats(&stats),
            ),
        };
        Ok(api::StatsResponse {
            stats: MessageField::some(shim::protos::protobuf::well_known_types::any::Any {
                type_url: type_url.to_string(),
                value,
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn update_resources(&self, req: &api::UpdateTaskRequest) -> TtrpcResult<()> {
        let bundle = self.with_entry(&req.id, |e| e.bundle.clone())?;
        let Some(resources) = req.resources.as_ref() else {
            return Ok(());
        };
        // vrun reads them from a file, as `runc update --resources` does.
        let file = bundle.join(".vrun-update.json");
        std::fs::write(&file, &resources.value)
            .map_err(|e| status(Kind::System, format!("write {}: {e}", file.display())))?;
        let result = self.call(
            &Request::Update {
                root: self.root_of(&req.id)?,
                id: req.id.clone(),
                resources_file: file.clone(),
            },
            &[],
        );
        let _ = std::fs::remove_file(&file);
        result.map(drop)
    }

    /// Pause (`frozen`) or resume, and its event.
    fn freeze(&self, id: &str, frozen: bool) -> TtrpcResult<()> {
        let (root, id) = (self.root_of(id)?, id.to_string());
        let request = match frozen {
            true => Request::Pause {
                root,
                id: id.clone(),
            },
            false => Request::Resume {
                root,
                id: id.clone(),
            },
        };
        self.call(&request, &[])?;
        if frozen {
            let event = TaskPaused {
                container_id: id,
                ..Default::default()
            };
            self.0.events.publish(event);
        } else {
            let event = TaskResumed {
                container_id: id,
                ..Default::default()
            };
            self.0.events.publish(event);
        }
        Ok(())
    }

    fn early_exit(&self, pid: i32) -> Option<(u32, Timestamp)> {
        let mut early = self.0.early.lock().unwrap_or_else(|e| e.into_inner());
        early.remove(&pid)
    }

    fn call(&self, request: &Request, fds: &[std::os::fd::RawFd]) -> TtrpcResult<Done> {
        self.call_for_fd(request, fds).map(|(done, _)| done)
    }

    /// A call, and the fd its reply brought (a terminal's pty master).
    fn call_for_fd(
        &self,
        request: &Request,
        fds: &[std::os::fd::RawFd],
    ) -> TtrpcResult<(Done, Option<std::os::fd::OwnedFd>)> {
        match self.0.maker.call(request, fds) {
            Ok((Reply::Done(done), fds)) => Ok((done, fds.into_iter().next())),
            Ok((Reply::Failed { kind, message }, _)) => Err(status(kind, message)),
            Err(e) => Err(status(
                Kind::System,
                format!("the shim's maker is gone: {e}"),
            )),
        }
    }

    /// Mounts containerd's rootfs mounts (a snapshot: usually one overlay) on bundle/rootfs;
    /// an idmapped one (a pod with its own user namespace) by the maker.
    fn mount_rootfs(
        &self,
        bundle: &Path,
        mounts: &[shim::protos::types::mount::Mount],
    ) -> TtrpcResult<bool> {
        if mounts.is_empty() {
            return Ok(false);
        }
        let target = bundle.join("rootfs");
        std::fs::create_dir_all(&target)
            .map_err(|e| status(Kind::System, format!("mkdir {}: {e}", target.display())))?;
        for (n, m) in mounts.iter().enumerate() {
            let mounted = match crate::idmapped::split(&m.options) {
                Err(e) => Err(status(Kind::InvalidConfig, e)),
                Ok(Some((options, uidmap, gidmap))) => {
                    let request = Request::MountIdmapped {
                        bundle: bundle.to_path_buf(),
                        kind: m.type_.clone(),
                        source: m.source.clone(),
                        options,
                        uidmap,
                        gidmap,
                    };
                    self.call(&request, &[]).map(drop)
                }
                Ok(None) => {
                    shim::mount::mount_rootfs(Some(&m.type_), Some(&m.source), &m.options, &target)
                        .map_err(|e| {
                            status(
                                Kind::System,
                                format!("mount the rootfs ({} {}): {e}", m.type_, m.source),
                            )
                        })
                }
            };
            if let Err(e) = mounted {
                if n > 0 {
                    unmount_rootfs(bundle);
                }
                return Err(e);
            }
        }
        Ok(true)
    }

    /// The state root container `id` was created in.
    fn root_of(&self, id: &str) -> TtrpcResult<PathBuf> {
        self.with_entry(id, |e| e.root.clone())
    }

    fn with_entry<T>(&self, id: &str, f: impl FnOnce(&mut Entry) -> T) -> TtrpcResult<T> {
        let mut containers = self.containers();
        match containers.get_mut(id) {
            Some(e) => Ok(f(e)),
            None => Err(not_found(id)),
        }
    }

    /// The state root and cgroup driver of a new container: runc's options' `Root` (as
    /// <Root>/<namespace>) and `SystemdCgroup` when containerd gives runc's options (ctr, or
    /// a CRI handler of runc's type), else the default root; and the systemd driver too
    /// for a cgroupsPath of systemd's form (`SLICE:PREFIX:NAME`) on a host booted with
    /// systemd: containerd's CRI writes one when the pod's parent is a slice (the kubelet's
    /// systemd driver), and gives a shim of another type than runc's no runc options to say
    /// so. (Without systemd, vrun takes such a path as a directory's name, as runc does.)
    fn root_and_driver(
        &self,
        options: Option<&api::Options>,
        bundle: &Path,
    ) -> TtrpcResult<(PathBuf, bool)> {
        let root = match options.filter(|o| !o.root.is_empty()) {
            Some(o) => Path::new(&o.root).join(&self.0.namespace),
            None => self.0.root.clone(),
        };
        // for `delete` after the shim died, which knows only the bundle
        let file = bundle.join(ROOT_FILE);
        std::fs::write(&file, root.as_os_str().as_encoded_bytes())
            .map_err(|e| status(Kind::System, format!("write {}: {e}", file.display())))?;
        let systemd = options.is_some_and(|o| o.systemd_cgroup)
            || (Path::new("/run/systemd/system").is_dir()
                && systemd_cgroups_path(&bundle.join("config.json")));
        Ok((root, systemd))
    }

    fn create_task(&self, req: api::CreateTaskRequest) -> TtrpcResult<api::CreateTaskResponse> {
        let bundle = PathBuf::from(&req.bundle);
        let options = runc_options(&req)?;
        let (root, systemd_cgroup) = self.root_and_driver(options.as_ref(), &bundle)?;
        let restore = restore_of(&req, options.as_ref(), &bundle, systemd_cgroup)?;
        let mounted_rootfs = self.mount_rootfs(&bundle, &req.rootfs)?;
        let undo_mount = |e| {
            if mounted_rootfs {
                unmount_rootfs(&bundle);
            }
            e
        };
        let owner = crate::io::Owner {
            id: &req.id,
            namespace: &self.0.namespace,
        };
        let mut stdio = Stdio::open(&req.stdin, &req.stdout, &req.stderr, &owner)
            .map_err(|e| io_status("open the container's io", e))
            .map_err(undo_mount)?;
        let (done, master) = match &restore {
            // (its stdio kept for the restore, which Start runs)
            Some(_) => (Done::default(), None),
            None => {
                let request = Request::Create {
                    root: root.clone(),
                    id: req.id.clone(),
                    bundle: bundle.clone(),
                    systemd_cgroup,
                    terminal: req.terminal,
                };
                let fds = if req.terminal {
                    Vec::new()
                } else {
                    stdio.for_container()
                };
                self.call_for_fd(&request, &fds).map_err(undo_mount)?
            }
        };
        if let Some(master) = master {
            if let Err(e) = stdio.attach_console(master) {
                let _ = self.call(
                    &Request::Delete {
                        root: root.clone(),
                        id: req.id.clone(),
                        force: true,
                    },
                    &[],
                );
                let e = status(Kind::System, format!("copy the container's terminal: {e}"));
                return Err(undo_mount(e));
            }
        }
        if restore.is_none() {
            stdio.drop_theirs();
        }
        let mut containers = self.containers();
        let exit = self.early_exit(done.pid);
        let early = exit.clone();
        containers.insert(
            req.id.clone(),
            Entry {
                bundle,
                root,
                pid: done.pid,
                stdio,
                mounted_rootfs,
                exit,
                execs: HashMap::new(),
                restore,
            },
        );
        drop(containers);
        self.0.events.publish(TaskCreate {
            container_id: req.id.clone(),
            bundle: req.bundle.clone(),
            rootfs: req.rootfs.clone(),
            io: MessageField::some(TaskIO {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                ..Default::default()
            }),
            pid: done.pid as u32,
            ..Default::default()
        });
        if let Some((status, at)) = early {
            // (init died before the create's reply was placed: killed meanwhile)
            self.publish_exit(req.id.clone(), req.id.clone(), done.pid, status, at);
        }
        Ok(api::CreateTaskResponse {
            pid: done.pid as u32,
            ..Default::default()
        })
    }

    /// CRIU's checkpoint of a container, left running unless the options say `exit`.
    fn checkpoint_task(&self, req: &api::CheckpointTaskRequest) -> TtrpcResult<()> {
        let (root, bundle) = self.with_entry(&req.id, |e| (e.root.clone(), e.bundle.clone()))?;
        let opts = checkpoint_options(req)?;
        let image_path = match req.path.is_empty() {
            true => opts.image_path.clone(),
            false => req.path.clone(),
        };
        if image_path.is_empty() {
            return Err(status(
                Kind::InvalidConfig,
                "checkpoint: no image directory (the request's path, or the options' image_path)"
                    .into(),
            ));
        }
        let own_work = opts.work_path.is_empty();
        let work = match own_work {
            true => bundle.join(CRIU_WORK),
            false => PathBuf::from(&opts.work_path),
        };
        let request = Request::Checkpoint {
            root,
            id: req.id.clone(),
            criu: CriuOptions {
                criu: PathBuf::from(CRIU),
                image_path: PathBuf::from(image_path),
                work_path: Some(work.clone()),
                tcp_established: opts.open_tcp,
                ext_unix_sk: opts.external_unix_sockets,
                shell_job: opts.terminal,
                file_locks: opts.file_locks,
                empty_ns: opts.empty_namespaces.clone(),
                manage_cgroups_mode: Some(opts.cgroups_mode.clone()).filter(|m| !m.is_empty()),
                ..CriuOptions::default()
            },
            leave_running: !opts.exit,
        };
        let result = self.call(&request, &[]);
        criu_finished(result, &bundle, &work, "dump.log", own_work).map(drop)
    }

    /// Start of a container created from a checkpoint: the maker restores it with the
    /// stdio its create opened. Returns its init, and its exit if it ended before the
    /// reply was placed.
    fn restore_task(
        &self,
        id: &str,
        restore: Restore,
    ) -> TtrpcResult<(Done, Option<(u32, Timestamp)>)> {
        let (root, bundle, theirs) = self.with_entry(id, |e| {
            (e.root.clone(), e.bundle.clone(), e.stdio.take_theirs())
        })?;
        let fds: Vec<std::os::fd::RawFd> =
            theirs.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
        let work = restore.criu.work_path.clone().unwrap_or_default();
        let request = Request::Restore {
            root,
            id: id.to_string(),
            bundle: bundle.clone(),
            criu: restore.criu,
            systemd_cgroup: restore.systemd_cgroup,
        };
        let result = self.call(&request, &fds);
        drop(theirs);
        let done = criu_finished(result, &bundle, &work, "restore.log", restore.own_work)?;
        let early = self.with_entry(id, |e| {
            e.pid = done.pid;
            // (under the containers' lock, as read_exits keeps an exit it could not place)
            e.exit = self.early_exit(done.pid);
            e.exit.clone()
        })?;
        Ok((done, early))
    }

    fn delete_task(&self, id: &str) -> TtrpcResult<api::DeleteResponse> {
        let (pid, exited) = self.with_entry(id, |e| (e.pid, e.exit.is_some()))?;
        let deleted = self.call(
            &Request::Delete {
                root: self.root_of(id)?,
                id: id.to_string(),
                force: false,
            },
            &[],
        );
        match deleted {
            Ok(_) => {}
            // A checkpoint that ended the container deleted it from vrun's state, and a
            // create from a checkpoint whose restore never ran made none: containerd's
            // delete still ends the task (runc's shim ignores runc's "does not exist" too).
            Err(ttrpc::Error::RpcStatus(s))
                if s.code() == Code::NOT_FOUND && (exited || pid == 0) => {}
            Err(e) => return Err(e),
        }
        // A created container's init is killed by the delete: its exit comes from the maker.
        let (status, at) = match pid {
            0 => (0, Timestamp::now()),
            _ => self.wait_exit(id, "", Some(std::time::Duration::from_secs(5)))?,
        };
        let entry = self.containers().remove(id);
        // a Wait on it or on one of its execs ends now, with not-found
        self.0.exited.notify_all();
        if let Some(entry) = entry {
            if entry.mounted_rootfs {
                unmount_rootfs(&entry.bundle);
            }
        }
        self.0.events.publish(TaskDelete {
            container_id: id.to_string(),
            id: id.to_string(),
            pid: pid as u32,
            exit_status: status,
            exited_at: MessageField::some(at.clone()),
            ..Default::default()
        });
        Ok(api::DeleteResponse {
            pid: pid as u32,
            exit_status: status,
            exited_at: MessageField::some(at),
            ..Default::default()
        })
    }

    /// The exit status and time of init (`exec_id` empty) or an exec'd process, once it has
    /// exited (or `timeout` is over: 137, now).
    fn wait_exit(
        &self,
        id: &str,
        exec_id: &str,
        timeout: Option<std::time::Duration>,
    ) -> TtrpcResult<(u32, Timestamp)> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut containers = self.containers();
        loop {
            let entry = containers.get(id).ok_or_else(|| not_found(id))?;
            let exit = if exec_id.is_empty() {
                &entry.exit
            } else {
                &entry
                    .execs
                    .get(exec_id)
                    .ok_or_else(|| exec_not_found(exec_id))?
                    .exit
            };
            if let Some((s, at)) = exit {
                return Ok((*s, at.clone()));
            }
            containers = match deadline {
                None => self
                    .0
                    .exited
                    .wait(containers)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok((128 + 9, Timestamp::now()));
                    }
                    self.0
                        .exited
                        .wait_timeout(containers, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    fn add_exec(&self, req: api::ExecProcessRequest) -> TtrpcResult<()> {
        if req.exec_id.is_empty()
            || req.exec_id.contains('/')
            || req.exec_id.starts_with('.')
            || req.exec_id.len() > 128
        {
            return Err(status(
                Kind::InvalidConfig,
                format!("exec id {:?}: not a valid id", req.exec_id),
            ));
        }
        let spec = req
            .spec
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        let exec = ExecEntry {
            spec,
            terminal: req.terminal,
            paths: [req.stdin.clone(), req.stdout.clone(), req.stderr.clone()],
            pid: 0,
            stdio: None,
            exit: None,
        };
        let mut containers = self.containers();
        let entry = containers
            .get_mut(&req.id)
            .ok_or_else(|| not_found(&req.id))?;
        if entry.exit.is_some() {
            return Err(status(
                Kind::WrongState,
                format!("container {}: not running", req.id),
            ));
        }
        if entry.execs.contains_key(&req.exec_id) {
            return Err(status(
                Kind::AlreadyExists,
                format!("exec {}: exists already", req.exec_id),
            ));
        }
        entry.execs.insert(req.exec_id.clone(), exec);
        drop(containers);
        self.0.events.publish(TaskExecAdded {
            container_id: req.id.clone(),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        });
        Ok(())
    }

    fn start_exec(&self, id: &str, exec_id: &str) -> TtrpcResult<i32> {
        let (bundle, spec, paths, terminal) = self
            .with_entry(id, |e| {
                let x = e.execs.get_mut(exec_id)?;
                (x.pid == 0).then(|| {
                    (
                        e.bundle.clone(),
                        std::mem::take(&mut x.spec),
                        x.paths.clone(),
                        x.terminal,
                    )
                })
            })?
            .ok_or_else(|| exec_not_found(exec_id))?;
        let owner = crate::io::Owner {
            id,
            namespace: &self.0.namespace,
        };
        let mut stdio = Stdio::open(&paths[0], &paths[1], &paths[2], &owner)
            .map_err(|e| io_status("open the exec's io", e))?;
        // vrun reads the process from a file, as `runc exec --process` does.
        let file = bundle.join(format!(".vrun-exec-{exec_id}.json"));
        std::fs::write(&file, &spec)
            .map_err(|e| status(Kind::System, format!("write {}: {e}", file.display())))?;
        let fds = if terminal {
            Vec::new()
        } else {
            stdio.for_container()
        };
        let result = self.call_for_fd(
            &Request::Exec {
                root: self.root_of(id)?,
                id: id.to_string(),
                process_file: file.clone(),
                terminal,
            },
            &fds,
        );
        let _ = std::fs::remove_file(&file);
        let (done, master) = result?;
        if let Some(master) = master {
            // (should the copy not start, the process runs on with its output lost, as a
            // client that went away would find it; its exit is still reported)
            if let Err(e) = stdio.attach_console(master) {
                tracing::warn!("exec {exec_id}: copy its terminal: {e}");
            }
        }
        let copied = stdio.output_copied();
        let early = self.with_entry(id, |e| {
            let x = e.execs.get_mut(exec_id)?;
            x.pid = done.pid;
            // (under the containers' lock, as read_exits keeps an exit it could not place)
            let early = self.early_exit(done.pid);
            if early.is_none() {
                x.stdio = Some(stdio.keep());
            }
            early
        })?;
        self.0.events.publish(TaskExecStarted {
            container_id: id.to_string(),
            exec_id: exec_id.to_string(),
            pid: done.pid as u32,
            ..Default::default()
        });
        if let Some((status, at)) = early {
            // It ended before this call could place it: its exit is told here, after its
            // terminal's output (read_exits waits for that in the other case).
            if let Some(copied) = copied {
                copied.wait(TERMINAL_DRAIN);
            }
            self.with_entry(id, |e| {
                if let Some(x) = e.execs.get_mut(exec_id) {
                    x.exit = Some((status, at.clone()));
                }
            })?;
            self.0.exited.notify_all();
            self.publish_exit(id.to_string(), exec_id.to_string(), done.pid, status, at);
        }
        Ok(done.pid)
    }

    fn delete_exec(&self, id: &str, exec_id: &str) -> TtrpcResult<api::DeleteResponse> {
        let mut containers = self.containers();
        let entry = containers.get_mut(id).ok_or_else(|| not_found(id))?;
        let x = entry
            .execs
            .get(exec_id)
            .ok_or_else(|| exec_not_found(exec_id))?;
        if x.pid != 0 && x.exit.is_none() {
            return Err(status(
                Kind::WrongState,
                format!("exec {exec_id}: still running"),
            ));
        }
        let pid = x.pid;
        let (status, at) = x.exit.clone().unwrap_or((0, Timestamp::now()));
        entry.execs.remove(exec_id);
        // A Wait on it ends now, with not-found: containerd waits on an exec before its start,
        // and one that never started (its container exited between) has no exit to wake it.
        // (A Wait left in a ttrpc handler would also keep the shim from ending: containerd-shim
        // joins every handler thread when it stops serving.)
        self.0.exited.notify_all();
        Ok(api::DeleteResponse {
            pid: pid as u32,
            exit_status: status,
            exited_at: MessageField::some(at),
            ..Default::default()
        })
    }

    fn exec_state(&self, req: &api::StateRequest) -> TtrpcResult<api::StateResponse> {
        self.with_entry(&req.id, |e| {
            let x = e
                .execs
                .get(&req.exec_id)
                .ok_or_else(|| exec_not_found(&req.exec_id))?;
            let mut resp = api::StateResponse {
                id: req.exec_id.clone(),
                exec_id: req.exec_id.clone(),
                bundle: e.bundle.display().to_string(),
                pid: x.pid as u32,
                stdin: x.paths[0].clone(),
                stdout: x.paths[1].clone(),
                stderr: x.paths[2].clone(),
                ..Default::default()
            };
            resp.status = match (&x.exit, x.pid) {
                (Some((s, at)), _) => {
                    resp.exit_status = *s;
                    resp.exited_at = MessageField::some(at.clone());
                    api::Status::STOPPED
                }
                (None, 0) => api::Status::CREATED,
                (None, _) => api::Status::RUNNING,
            }
            .into();
            Ok(resp)
        })?
    }

    fn kill_exec(&self, req: &api::KillRequest) -> TtrpcResult<()> {
        let pid = self.with_entry(&req.id, |e| {
            let x = e
                .execs
                .get(&req.exec_id)
                .ok_or_else(|| exec_not_found(&req.exec_id))?;
            match (&x.exit, x.pid) {
                (None, pid) if pid > 0 => Ok(pid),
                (None, _) => Err(status(
                    Kind::WrongState,
                    format!("exec {}: not started", req.exec_id),
                )),
                (Some(_), _) => Err(status(Kind::NotFound, "process already finished".into())),
            }
        })??;
        match self.call(
            &Request::Signal {
                pid,
                signal: req.signal as i32,
            },
            &[],
        ) {
            Ok(_) => Ok(()),
            Err(ttrpc::Error::RpcStatus(s)) if s.code() == Code::FAILED_PRECONDITION => {
                Err(status(Kind::NotFound, "process already finished".into()))
            }
            Err(e) => Err(e),
        }
    }
}

fn exec_not_found(exec_id: &str) -> ttrpc::Error {
    status(Kind::NotFound, format!("exec {exec_id}: not found"))
}

/// A create from a checkpoint (`req.checkpoint`, its images' directory), to be restored at
/// Start; the work directory runc's options name, else the shim's own in the bundle. A
/// terminal is refused by name: vrun does not restore one yet.
fn restore_of(
    req: &api::CreateTaskRequest,
    options: Option<&api::Options>,
    bundle: &Path,
    systemd_cgroup: bool,
) -> TtrpcResult<Option<Restore>> {
    if req.checkpoint.is_empty() {
        return Ok(None);
    }
    if req.terminal {
        return Err(status(
            Kind::InvalidConfig,
            "a create from a checkpoint with a terminal: vrun does not restore a container's terminal yet".into(),
        ));
    }
    let work = options
        .map(|o| o.criu_work_path.clone())
        .filter(|w| !w.is_empty());
    Ok(Some(Restore {
        own_work: work.is_none(),
        criu: CriuOptions {
            criu: PathBuf::from(CRIU),
            image_path: PathBuf::from(&req.checkpoint),
            work_path: Some(work.map_or_else(|| bundle.join(CRIU_WORK), PathBuf::from)),
            ..CriuOptions::default()
        },
        systemd_cgroup,
    }))
}

/// The shim's CRIU work directory in a bundle, as runc's shim has one in its work directory.
const CRIU_WORK: &str = "criu-work";

/// The criu binary: PATH's, as runc finds it (containerd's runc options no longer name one).
const CRIU: &str = "criu";

/// containerd's checkpoint options: runc's (`containerd.runc.v1.CheckpointOptions`), or the
/// same message by its older name (`containerd.linux.runc.CheckpointOptions`), which
/// containerd's client gives a runtime whose name is not runc's.
fn checkpoint_options(
    req: &api::CheckpointTaskRequest,
) -> TtrpcResult<shim::protos::shim::oci::CheckpointOptions> {
    let Some(any) = req.options.as_ref() else {
        return Ok(Default::default());
    };
    if !any
        .type_url
        .ends_with("containerd.runc.v1.CheckpointOptions")
        && !any
            .type_url
            .ends_with("containerd.linux.runc.CheckpointOptions")
    {
        return Err(status(
            Kind::InvalidConfig,
            format!(
                "checkpoint options of type {}: the shim takes containerd.runc.v1.CheckpointOptions",
                any.type_url
            ),
        ));
    }
    shim::protos::shim::oci::CheckpointOptions::parse_from_bytes(&any.value)
        .map_err(|e| status(Kind::InvalidConfig, format!("the checkpoint options: {e}")))
}

/// A checkpoint's or a restore's result. CRIU's `log` is copied from `work` into the bundle
/// when it failed (criu-dump.log, criu-restore.log: runc's shim keeps criu-dump.log so), and
/// the message names the copy; the shim's own work directory goes either way.
fn criu_finished<T>(
    result: TtrpcResult<T>,
    bundle: &Path,
    work: &Path,
    log: &str,
    own_work: bool,
) -> TtrpcResult<T> {
    let result = match result {
        Err(ttrpc::Error::RpcStatus(mut s)) => {
            let from = work.join(log);
            let kept = bundle.join(format!("criu-{log}"));
            if std::fs::copy(&from, &kept).is_ok() {
                s.message = s
                    .message
                    .replace(&from.display().to_string(), &kept.display().to_string());
            }
            Err(ttrpc::Error::RpcStatus(s))
        }
        other => other,
    };
    if own_work {
        let _ = std::fs::remove_dir_all(work);
    }
    result
}

fn runc_options(req: &api::CreateTaskRequest) -> TtrpcResult<Option<api::Options>> {
    let Some(any) = req.options.as_ref() else {
        return Ok(None);
    };
    if !any.type_url.ends_with("containerd.runc.v1.Options") {
        tracing::warn!("options of type {} are not runc's: not read", any.type_url);
        return Ok(None);
    }
    api::Options::parse_from_bytes(&any.value)
        .map(Some)
        .map_err(|e| status(Kind::InvalidConfig, format!("the runc options: {e}")))
}

/// Whether the config's linux.cgroupsPath has systemd's form, `SLICE:PREFIX:NAME` with SLICE
/// a slice (or empty).
fn systemd_cgroups_path(config: &Path) -> bool {
    let Ok(text) = std::fs::read(config) else {
        return false;
    };
    let Ok(spec) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    let Some(path) = spec.pointer("/linux/cgroupsPath").and_then(|p| p.as_str()) else {
        return false;
    };
    let parts: Vec<&str> = path.split(':').collect();
    parts.len() == 3
        && (parts[0].is_empty() || parts[0].ends_with(".slice"))
        && !parts[2].is_empty()
}

fn unmount_rootfs(bundle: &Path) {
    let target = bundle.join("rootfs");
    loop {
        match nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
            Err(e) => {
                tracing::warn!("unmount {}: {e}", target.display());
                break;
            }
        }
    }
}

/// An io error of Stdio::open: a URI it refuses is the caller's (InvalidArgument).
fn io_status(what: &str, e: std::io::Error) -> ttrpc::Error {
    let kind = match e.kind() {
        std::io::ErrorKind::InvalidInput => Kind::InvalidConfig,
        _ => Kind::System,
    };
    status(kind, format!("{what}: {e}"))
}

/// vrun's error as containerd takes it: the gRPC code its errdefs read, and vrun's message.
fn status(kind: Kind, message: String) -> ttrpc::Error {
    let code = match kind {
        Kind::NotFound => Code::NOT_FOUND,
        Kind::AlreadyExists => Code::ALREADY_EXISTS,
        Kind::WrongState => Code::FAILED_PRECONDITION,
        Kind::InvalidConfig => Code::INVALID_ARGUMENT,
        Kind::PermissionDenied => Code::PERMISSION_DENIED,
        Kind::System => Code::UNKNOWN,
    };
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, message))
}

fn not_found(id: &str) -> ttrpc::Error {
    status(Kind::NotFound, format!("container {id}: not found"))
}

fn unimplemented(what: &str) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(
        Code::UNIMPLEMENTED,
        format!("containerd-shim-vrun-v2 does not support {what} yet"),
    ))
}

fn task_status(status: &str) -> api::Status {
    match status {
        "created" => api::Status::CREATED,
        "running" => api::Status::RUNNING,
        "paused" => api::Status::PAUSED,
        "stopped" => api::Status::STOPPED,
        _ => api::Status::UNKNOWN,
    }
}

impl shim::Task for Service {
    fn connect(
        &self,
        _: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> TtrpcResult<api::ConnectResponse> {
        let task_pid = self.with_entry(&req.id, |e| e.pid).unwrap_or(0);
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid: task_pid as u32,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    fn create(
        &self,
        _: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtrpcResult<api::CreateTaskResponse> {
        self.create_task(req)
    }

    fn exec(&self, _: &TtrpcContext, req: api::ExecProcessRequest) -> TtrpcResult<api::Empty> {
        self.add_exec(req)?;
        Ok(api::Empty::new())
    }

    fn start(&self, _: &TtrpcContext, req: api::StartRequest) -> TtrpcResult<api::StartResponse> {
        if !req.exec_id.is_empty() {
            let pid = self.start_exec(&req.id, &req.exec_id)?;
            return Ok(api::StartResponse {
                pid: pid as u32,
                ..Default::default()
            });
        }
        let (done, early) = match self.with_entry(&req.id, |e| e.restore.take())? {
            Some(restore) => self.restore_task(&req.id, restore)?,
            None => {
                let request = Request::Start {
                    root: self.root_of(&req.id)?,
                    id: req.id.clone(),
                };
                (self.call(&request, &[])?, None)
            }
        };
        self.0.events.publish(TaskStart {
            container_id: req.id.clone(),
            pid: done.pid as u32,
            ..Default::default()
        });
        if let Some((status, at)) = early {
            self.publish_exit(req.id.clone(), req.id.clone(), done.pid, status, at);
        }
        Ok(api::StartResponse {
            pid: done.pid as u32,
            ..Default::default()
        })
    }

    fn state(&self, _: &TtrpcContext, req: api::StateRequest) -> TtrpcResult<api::StateResponse> {
        if !req.exec_id.is_empty() {
            return self.exec_state(&req);
        }
        let (bundle, pid, exit, paths, to_restore) = self.with_entry(&req.id, |e| {
            (
                e.bundle.clone(),
                e.pid,
                e.exit.clone(),
                e.stdio.paths.clone(),
                e.restore.is_some(),
            )
        })?;
        let mut resp = api::StateResponse {
            id: req.id.clone(),
            bundle: bundle.display().to_string(),
            pid: pid as u32,
            stdin: paths[0].clone(),
            stdout: paths[1].clone(),
            stderr: paths[2].clone(),
            ..Default::default()
        };
        match exit {
            Some((status, at)) => {
                resp.status = api::Status::STOPPED.into();
                resp.exit_status = status;
                resp.exited_at = MessageField::some(at);
            }
            // (created from a checkpoint: vrun has no container until Start restores it)
            None if to_restore => resp.status = api::Status::CREATED.into(),
            None => {
                let done = self.call(
                    &Request::State {
                        root: self.root_of(&req.id)?,
                        id: req.id.clone(),
                    },
                    &[],
                )?;
                resp.status = task_status(&done.status).into();
            }
        }
        Ok(resp)
    }

    fn kill(&self, _: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        if !req.exec_id.is_empty() {
            self.kill_exec(&req)?;
            return Ok(api::Empty::new());
        }
        let exited = self.with_entry(&req.id, |e| e.exit.is_some())?;
        if exited && !req.all {
            return Err(status(Kind::NotFound, "process already finished".into()));
        }
        let result = self.call(
            &Request::Kill {
                root: self.root_of(&req.id)?,
                id: req.id.clone(),
                signal: req.signal as i32,
                all: req.all,
            },
            &[],
        );
        match result {
            Ok(_) => Ok(api::Empty::new()),
            // vrun's "container not running": containerd's "already finished" is NotFound
            Err(ttrpc::Error::RpcStatus(s)) if s.code() == Code::FAILED_PRECONDITION => {
                Err(status(
                    Kind::NotFound,
                    format!("process already finished: {}", s.message),
                ))
            }
            Err(e) => Err(e),
        }
    }

    fn wait(&self, _: &TtrpcContext, req: api::WaitRequest) -> TtrpcResult<api::WaitResponse> {
        let (status, at) = self.wait_exit(&req.id, &req.exec_id, None)?;
        Ok(api::WaitResponse {
            exit_status: status,
            exited_at: MessageField::some(at),
            ..Default::default()
        })
    }

    fn delete(
        &self,
        _: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> TtrpcResult<api::DeleteResponse> {
        if !req.exec_id.is_empty() {
            return self.delete_exec(&req.id, &req.exec_id);
        }
        self.delete_task(&req.id)
    }

    fn pids(&self, _: &TtrpcContext, req: api::PidsRequest) -> TtrpcResult<api::PidsResponse> {
        let done = self.call(
            &Request::Pids {
                root: self.root_of(&req.id)?,
                id: req.id.clone(),
            },
            &[],
        )?;
        Ok(api::PidsResponse {
            processes: done
                .pids
                .into_iter()
                .map(|pid| shim::protos::types::task::ProcessInfo {
                    pid: pid as u32,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    fn pause(&self, _: &TtrpcContext, req: api::PauseRequest) -> TtrpcResult<api::Empty> {
        self.freeze(&req.id, true)?;
        Ok(api::Empty::new())
    }

    fn resume(&self, _: &TtrpcContext, req: api::ResumeRequest) -> TtrpcResult<api::Empty> {
        self.freeze(&req.id, false)?;
        Ok(api::Empty::new())
    }

    fn close_io(&self, _: &TtrpcContext, req: api::CloseIORequest) -> TtrpcResult<api::Empty> {
        self.with_entry(&req.id, |e| {
            if req.exec_id.is_empty() {
                e.stdio.close_stdin();
            } else if let Some(s) = e.execs.get_mut(&req.exec_id).and_then(|x| x.stdio.as_mut()) {
                s.close_stdin();
            }
        })?;
        Ok(api::Empty::new())
    }

    fn resize_pty(&self, _: &TtrpcContext, req: api::ResizePtyRequest) -> TtrpcResult<api::Empty> {
        let resized = self.with_entry(&req.id, |e| {
            let stdio = if req.exec_id.is_empty() {
                Some(&e.stdio)
            } else {
                e.execs
                    .get(&req.exec_id)
                    .ok_or_else(|| exec_not_found(&req.exec_id))?
                    .stdio
                    .as_ref()
            };
            let console = stdio.and_then(|s| s.console()).ok_or_else(|| {
                status(
                    Kind::WrongState,
                    format!("{}: no terminal to resize", req.id),
                )
            })?;
            console
                .resize(req.width, req.height)
                .map_err(|e| status(Kind::System, format!("resize the terminal: {e}")))
        })?;
        resized.map(|()| api::Empty::new())
    }

    fn checkpoint(
        &self,
        _: &TtrpcContext,
        req: api::CheckpointTaskRequest,
    ) -> TtrpcResult<api::Empty> {
        self.checkpoint_task(&req)?;
        Ok(api::Empty::new())
    }

    fn stats(&self, _: &TtrpcContext, req: api::StatsRequest) -> TtrpcResult<api::StatsResponse> {
        self.stats_of(&req.id)
    }

    fn update(&self, _: &TtrpcContext, req: api::UpdateTaskRequest) -> TtrpcResult<api::Empty> {
        self.update_resources(&req)?;
        Ok(api::Empty::new())
    }

    fn shutdown(&self, _: &TtrpcContext, _req: api::ShutdownRequest) -> TtrpcResult<api::Empty> {
        if self.containers().is_empty() {
            self.0.exit.signal();
            // (any Wait still in a handler finds nothing now, and ends)
            self.0.exited.notify_all();
        }
        Ok(api::Empty::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shim::protos::protobuf::well_known_types::any::Any;

    fn request(
        type_url: &str,
        opts: &shim::protos::shim::oci::CheckpointOptions,
    ) -> api::CheckpointTaskRequest {
        api::CheckpointTaskRequest {
            id: "c".into(),
            options: MessageField::some(Any {
                type_url: type_url.into(),
                value: opts.write_to_bytes().unwrap_or_default(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn checkpoint_options_are_read_by_either_name_of_runcs_message() {
        let opts = shim::protos::shim::oci::CheckpointOptions {
            exit: true,
            work_path: "/w".into(),
            empty_namespaces: vec!["network".into()],
            ..Default::default()
        };
        for url in [
            "containerd.runc.v1.CheckpointOptions",
            "containerd.linux.runc.CheckpointOptions",
        ] {
            let read = checkpoint_options(&request(url, &opts)).expect(url);
            assert_eq!(read, opts, "{url}");
        }
        let none = api::CheckpointTaskRequest::default();
        assert!(!checkpoint_options(&none).expect("no options").exit);
    }

    #[test]
    fn checkpoint_options_of_another_type_are_refused_by_name() {
        let opts = shim::protos::shim::oci::CheckpointOptions::default();
        let Err(ttrpc::Error::RpcStatus(s)) =
            checkpoint_options(&request("example.com/Other", &opts))
        else {
            panic!("options of another type were taken");
        };
        assert_eq!(s.code(), Code::INVALID_ARGUMENT);
        assert!(s.message.contains("example.com/Other"), "{}", s.message);
    }
}
