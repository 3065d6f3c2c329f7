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
use shim::protos::protobuf::{Message, MessageDyn, MessageField};
use shim::protos::topics;
use shim::protos::ttrpc::{self, Code};
use shim::synchronous::publisher::RemotePublisher;
use shim::{ExitSignal, TtrpcContext, TtrpcResult};

use crate::io::Stdio;
use crate::maker::{Done, Exit, Maker, Reply, Request};
use vrun_runtime::ErrorKind as Kind;

/// A container of this shim's.
struct Entry {
    bundle: PathBuf,
    pid: i32,
    stdio: Stdio,
    /// Its rootfs was mounted from containerd's list (undone at delete).
    mounted_rootfs: bool,
    exit: Option<(u32, Timestamp)>,
    execs: HashMap<String, ExecEntry>,
}

/// A process exec'd into a container: added by Exec, run by Start.
struct ExecEntry {
    /// The runtime-spec Process containerd gave (JSON), until Start runs it.
    spec: Vec<u8>,
    paths: [String; 3],
    /// 0 until started.
    pid: i32,
    stdio: Option<Stdio>,
    exit: Option<(u32, Timestamp)>,
}

pub struct Shared {
    maker: Maker,
    publisher: RemotePublisher,
    namespace: String,
    /// vrun's state root: /run/containerd/vrun/<namespace>, or runc's `Root` option.
    root: PathBuf,
    containers: Mutex<HashMap<String, Entry>>,
    /// Exits of pids no container has yet (an exit read before its create's reply).
    early: Mutex<HashMap<i32, (u32, Timestamp)>>,
    exited: Condvar,
    pub exit: Arc<ExitSignal>,
}

#[derive(Clone)]
pub struct Service(pub Arc<Shared>);

/// The state root of a namespace, as runc's shim keeps runc's under /run/containerd/runc.
pub fn default_root(namespace: &str) -> PathBuf {
    Path::new("/run/containerd/vrun").join(namespace)
}

impl Service {
    pub fn new(
        maker: Maker,
        publisher: RemotePublisher,
        namespace: &str,
        exit: Arc<ExitSignal>,
    ) -> Service {
        let service = Service(Arc::new(Shared {
            maker,
            publisher,
            namespace: namespace.to_string(),
            root: default_root(namespace),
            containers: Mutex::new(HashMap::new()),
            early: Mutex::new(HashMap::new()),
            exited: Condvar::new(),
            exit,
        }));
        let reader = service.clone();
        std::thread::spawn(move || reader.read_exits());
        service
    }

    fn containers(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.0.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The maker's exits, each given to its container (or kept until its create's reply).
    fn read_exits(&self) {
        while let Some(Exit { pid, status }) = self.0.maker.next_exit() {
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
            if container_id == id && self.oom_killed(&id) {
                // before the exit: CRI gives the exit its reason (OOMKilled) from this event
                self.publish(
                    topics::TASK_OOM_EVENT_TOPIC,
                    Box::new(TaskOOM {
                        container_id: id.clone(),
                        ..Default::default()
                    }),
                );
            }
            self.publish(
                topics::TASK_EXIT_EVENT_TOPIC,
                Box::new(TaskExit {
                    container_id,
                    id,
                    pid: pid as u32,
                    exit_status: status as u32,
                    exited_at: MessageField::some(at),
                    ..Default::default()
                }),
            );
        }
        tracing::error!("the maker is gone: no exit is reported from now on");
    }

    /// Whether the OOM killer acted in the container's cgroup (read in this process: a file
    /// read, no fork).
    fn oom_killed(&self, id: &str) -> bool {
        vrun_runtime::Runtime::new(&self.0.root)
            .container(id)
            .and_then(|c| c.state())
            .ok()
            .and_then(|(state, _)| state.cgroup)
            .is_some_and(|cg| cg.oom_kills() > 0)
    }

    fn stats_of(&self, id: &str) -> TtrpcResult<api::StatsResponse> {
        self.with_entry(id, |_| ())?;
        let (state, _) = vrun_runtime::Runtime::new(&self.0.root)
            .container(id)
            .and_then(|c| c.state())
            .map_err(|e| status(e.kind(), e.to_string()))?;
        let Some(cg) = state.cgroup else {
            return Err(unimplemented(
                "stats of a container without a cgroup of its own",
            ));
        };
        if cg.version != vrun_cgroup::Version::V1 {
            return Err(unimplemented(
                "stats on cgroup v2 (containerd-shim-protos 0.10 has no v2 Metrics message)",
            ));
        }
        let metrics = crate::metrics::from_stats(&cg.stats());
        let value = metrics
            .write_to_bytes()
            .map_err(|e| status(Kind::System, format!("encode the metrics: {e}")))?;
        Ok(api::StatsResponse {
            stats: MessageField::some(shim::protos::protobuf::well_known_types::any::Any {
                type_url: crate::metrics::TYPE_URL_V1.to_string(),
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
                root: self.0.root.clone(),
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
        self.with_entry(id, |_| ())?;
        let (root, id) = (self.0.root.clone(), id.to_string());
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
            self.publish(topics::TASK_PAUSED_EVENT_TOPIC, Box::new(event));
        } else {
            let event = TaskResumed {
                container_id: id,
                ..Default::default()
            };
            self.publish(topics::TASK_RESUMED_EVENT_TOPIC, Box::new(event));
        }
        Ok(())
    }

    fn early_exit(&self, pid: i32) -> Option<(u32, Timestamp)> {
        let mut early = self.0.early.lock().unwrap_or_else(|e| e.into_inner());
        early.remove(&pid)
    }

    fn publish(&self, topic: &str, event: Box<dyn MessageDyn>) {
        if let Err(e) =
            self.0
                .publisher
                .publish(shim::Context::default(), topic, &self.0.namespace, event)
        {
            tracing::warn!("publish {topic}: {e}");
        }
    }

    fn call(&self, request: &Request, fds: &[std::os::fd::RawFd]) -> TtrpcResult<Done> {
        match self.0.maker.call(request, fds) {
            Ok(Reply::Done(done)) => Ok(done),
            Ok(Reply::Failed { kind, message }) => Err(status(kind, message)),
            Err(e) => Err(status(
                Kind::System,
                format!("the shim's maker is gone: {e}"),
            )),
        }
    }

    fn with_entry<T>(&self, id: &str, f: impl FnOnce(&mut Entry) -> T) -> TtrpcResult<T> {
        let mut containers = self.containers();
        match containers.get_mut(id) {
            Some(e) => Ok(f(e)),
            None => Err(not_found(id)),
        }
    }

    fn create_task(&self, req: api::CreateTaskRequest) -> TtrpcResult<api::CreateTaskResponse> {
        if req.terminal {
            return Err(unimplemented("a terminal (process.terminal)"));
        }
        if !req.checkpoint.is_empty() {
            return Err(unimplemented("create from a checkpoint"));
        }
        let systemd_cgroup = runc_options(&req)?.is_some_and(|o| o.systemd_cgroup);
        let bundle = PathBuf::from(&req.bundle);
        let mounted_rootfs = mount_rootfs(&bundle, &req.rootfs)?;
        let undo_mount = |e| {
            if mounted_rootfs {
                unmount_rootfs(&bundle);
            }
            e
        };
        let stdio = Stdio::open(&req.stdin, &req.stdout, &req.stderr)
            .map_err(|e| status(Kind::System, format!("open the container's io: {e}")))
            .map_err(undo_mount)?;
        let request = Request::Create {
            root: self.0.root.clone(),
            id: req.id.clone(),
            bundle: bundle.clone(),
            systemd_cgroup,
        };
        let done = self
            .call(&request, &stdio.for_container())
            .map_err(undo_mount)?;
        let stdio = stdio.keep();
        let mut containers = self.containers();
        let exit = self.early_exit(done.pid);
        containers.insert(
            req.id.clone(),
            Entry {
                bundle,
                pid: done.pid,
                stdio,
                mounted_rootfs,
                exit,
                execs: HashMap::new(),
            },
        );
        drop(containers);
        self.publish(
            topics::TASK_CREATE_EVENT_TOPIC,
            Box::new(TaskCreate {
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
            }),
        );
        Ok(api::CreateTaskResponse {
            pid: done.pid as u32,
            ..Default::default()
        })
    }

    fn delete_task(&self, id: &str) -> TtrpcResult<api::DeleteResponse> {
        let pid = self.with_entry(id, |e| e.pid)?;
        self.call(
            &Request::Delete {
                root: self.0.root.clone(),
                id: id.to_string(),
                force: false,
            },
            &[],
        )?;
        // A created container's init is killed by the delete: its exit comes from the maker.
        let (status, at) = self.wait_exit(id, "", Some(std::time::Duration::from_secs(5)))?;
        let entry = self.containers().remove(id);
        if let Some(entry) = entry {
            if entry.mounted_rootfs {
                unmount_rootfs(&entry.bundle);
            }
        }
        self.publish(
            topics::TASK_DELETE_EVENT_TOPIC,
            Box::new(TaskDelete {
                container_id: id.to_string(),
                id: id.to_string(),
                pid: pid as u32,
                exit_status: status,
                exited_at: MessageField::some(at.clone()),
                ..Default::default()
            }),
        );
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
        if req.terminal {
            return Err(unimplemented("an exec with a terminal"));
        }
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
        self.publish(
            topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            Box::new(TaskExecAdded {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            }),
        );
        Ok(())
    }

    fn start_exec(&self, id: &str, exec_id: &str) -> TtrpcResult<i32> {
        let (bundle, spec, paths) = self
            .with_entry(id, |e| {
                let x = e.execs.get_mut(exec_id)?;
                (x.pid == 0).then(|| {
                    (
                        e.bundle.clone(),
                        std::mem::take(&mut x.spec),
                        x.paths.clone(),
                    )
                })
            })?
            .ok_or_else(|| exec_not_found(exec_id))?;
        let stdio = Stdio::open(&paths[0], &paths[1], &paths[2])
            .map_err(|e| status(Kind::System, format!("open the exec's io: {e}")))?;
        // vrun reads the process from a file, as `runc exec --process` does.
        let file = bundle.join(format!(".vrun-exec-{exec_id}.json"));
        std::fs::write(&file, &spec)
            .map_err(|e| status(Kind::System, format!("write {}: {e}", file.display())))?;
        let result = self.call(
            &Request::Exec {
                root: self.0.root.clone(),
                id: id.to_string(),
                process_file: file.clone(),
            },
            &stdio.for_container(),
        );
        let _ = std::fs::remove_file(&file);
        let done = result?;
        self.with_entry(id, |e| {
            if let Some(x) = e.execs.get_mut(exec_id) {
                x.pid = done.pid;
                // (under the containers' lock, as read_exits keeps an exit it could not place)
                x.exit = self.early_exit(done.pid);
                x.stdio = if x.exit.is_none() {
                    Some(stdio.keep())
                } else {
                    None
                };
            }
        })?;
        self.publish(
            topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            Box::new(TaskExecStarted {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
                pid: done.pid as u32,
                ..Default::default()
            }),
        );
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

/// Mounts containerd's rootfs mounts (a snapshot: usually one overlay) on bundle/rootfs.
fn mount_rootfs(bundle: &Path, mounts: &[shim::protos::types::mount::Mount]) -> TtrpcResult<bool> {
    if mounts.is_empty() {
        return Ok(false);
    }
    let target = bundle.join("rootfs");
    std::fs::create_dir_all(&target)
        .map_err(|e| status(Kind::System, format!("mkdir {}: {e}", target.display())))?;
    for (n, m) in mounts.iter().enumerate() {
        if let Err(e) =
            shim::mount::mount_rootfs(Some(&m.type_), Some(&m.source), &m.options, &target)
        {
            if n > 0 {
                unmount_rootfs(bundle);
            }
            return Err(status(
                Kind::System,
                format!("mount the rootfs ({} {}): {e}", m.type_, m.source),
            ));
        }
    }
    Ok(true)
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
        self.with_entry(&req.id, |_| ())?;
        let done = self.call(
            &Request::Start {
                root: self.0.root.clone(),
                id: req.id.clone(),
            },
            &[],
        )?;
        self.publish(
            topics::TASK_START_EVENT_TOPIC,
            Box::new(TaskStart {
                container_id: req.id.clone(),
                pid: done.pid as u32,
                ..Default::default()
            }),
        );
        Ok(api::StartResponse {
            pid: done.pid as u32,
            ..Default::default()
        })
    }

    fn state(&self, _: &TtrpcContext, req: api::StateRequest) -> TtrpcResult<api::StateResponse> {
        if !req.exec_id.is_empty() {
            return self.exec_state(&req);
        }
        let (bundle, pid, exit, paths) = self.with_entry(&req.id, |e| {
            (
                e.bundle.clone(),
                e.pid,
                e.exit.clone(),
                e.stdio.paths.clone(),
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
            None => {
                let done = self.call(
                    &Request::State {
                        root: self.0.root.clone(),
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
                root: self.0.root.clone(),
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
        self.with_entry(&req.id, |_| ())?;
        let done = self.call(
            &Request::Pids {
                root: self.0.root.clone(),
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
        }
        Ok(api::Empty::new())
    }
}
