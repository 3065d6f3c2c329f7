//! containerd-shim-vrun-v2: containerd's shim v2 (`runtime_type = "io.containerd.vrun.v2"`)
//! on vrun's runtime API, run in the shim's own single-threaded maker process (maker.rs)
//! rather than by exec'ing a runtime binary per call, as containerd's runc shim does.
//!
//! On containerd-shim (containerd's rust-extensions): its bootstrap (flags, the `start`,
//! `delete` and serve actions, the ttrpc server, the event publisher) is what this shim
//! would otherwise write, and containerd-shim-protos gives the task service's types.

mod events;
mod idle;
mod idmapped;
mod info;
mod io;
mod log_uri;
mod maker;
mod metrics;
mod proto;
mod service;
mod sys;

use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use containerd_shim as shim;
use shim::synchronous::publisher::RemotePublisher;
use shim::{Config, DeleteResponse, ExitSignal, Flags, StartOpts};

struct Shim {
    namespace: String,
    id: String,
    /// The socket it serves on (`-socket unix://...`), removed when it ends.
    socket: String,
    /// Forked in serve mode only (the `start` and `delete` actions make no container).
    maker: std::sync::Mutex<Option<maker::Maker>>,
    exit: Arc<ExitSignal>,
}

/// The annotation CRI gives every container of a pod: one shim serves the whole pod, as
/// runc's shim does.
const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";

/// How long the ttrpc server may take to stop once the last container is gone.
const SERVING_STOP: std::time::Duration = std::time::Duration::from_secs(3);

impl shim::Shim for Shim {
    type T = service::Service;

    fn new(_runtime_id: &str, flags: &Flags, _config: &mut Config) -> Self {
        let serving = flags.action.is_empty() && !flags.socket.is_empty();
        let maker = match serving.then(maker::fork) {
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => {
                eprintln!("containerd-shim-vrun-v2: fork the maker: {e}");
                std::process::exit(1)
            }
            None => None,
        };
        Shim {
            namespace: flags.namespace.clone(),
            id: flags.id.clone(),
            socket: flags.socket.clone(),
            maker: std::sync::Mutex::new(maker),
            exit: Arc::new(ExitSignal::default()),
        }
    }

    fn start_shim(&mut self, opts: StartOpts) -> Result<String, shim::Error> {
        let grouping = sandbox_of(Path::new("config.json")).unwrap_or_else(|| opts.id.clone());
        // A container of a pod whose shim runs: its address, as runc's shim answers. (Else
        // containerd-shim's spawn starts a whole shim, which finds the socket taken and ends:
        // a process and a maker made for nothing, and this `start`, their subreaper, left
        // spinning in its SIGCHLD handler now and then, with a pod's start waiting on it.)
        let address = shim::socket_address(&opts.address, &opts.namespace, &grouping);
        let path = address.trim_start_matches("unix://");
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            shim::util::write_address(&address)?;
            return Ok(address);
        }
        let (_pid, address) = shim::spawn(opts, &grouping, Vec::new())?;
        // in the bundle: the shim removes its socket by it when it ends, and `delete` when
        // containerd cleans up after a shim that died
        shim::util::write_address(&address)?;
        Ok(address)
    }

    /// containerd's clean-up of a shim that died: the container goes (killed if it is still
    /// running) with its rootfs mount; run with the bundle as the working directory.
    fn delete_shim(&mut self) -> Result<DeleteResponse, shim::Error> {
        // the root its create used, written in the bundle (the cwd here)
        let root = std::fs::read(service::ROOT_FILE)
            .ok()
            .map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)))
            .unwrap_or_else(|| service::default_root(&self.namespace));
        let runtime = vrun_runtime::Runtime::new(root);
        match runtime.container(&self.id).and_then(|c| c.delete(true)) {
            Ok(()) => {}
            Err(e) if e.kind() == vrun_runtime::ErrorKind::NotFound => {}
            Err(e) => return Err(shim::Error::Other(format!("delete {}: {e}", self.id))),
        }
        let _ = nix::mount::umount2("rootfs", nix::mount::MntFlags::MNT_DETACH);
        remove_dead_socket();
        Ok(DeleteResponse {
            exit_status: 128 + 9,
            exited_at: shim::protos::protobuf::MessageField::some(
                shim::protos::protobuf::well_known_types::timestamp::Timestamp::now(),
            ),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
        // containerd-shim stops serving after this by joining every connection's threads: one
        // still in a call (a bug of this shim, a maker that no longer answers) would keep the
        // shim, and its maker, for ever, where runc's shim (Go) exits whatever its goroutines
        // do. Its containers are all deleted by now: what is left of a stop is cut short.
        std::thread::spawn(|| {
            std::thread::sleep(SERVING_STOP);
            tracing::warn!("the ttrpc server did not stop in {SERVING_STOP:?}: exiting");
            std::process::exit(0);
        });
        // Here rather than by containerd-shim after it, which finds the socket by the
        // address file of the bundle: containerd may have removed a pod's bundle by then.
        let path = self.socket.trim_start_matches("unix://");
        if !path.is_empty() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// (containerd-shim's publisher is dropped: events.rs says why the shim has its own)
    fn create_task_service(&self, _publisher: RemotePublisher) -> Self::T {
        let Some(maker) = self.maker.lock().ok().and_then(|mut m| m.take()) else {
            eprintln!("containerd-shim-vrun-v2: serving without a maker");
            std::process::exit(1)
        };
        service::Service::new(maker, &self.namespace, self.exit.clone())
    }
}

/// The socket of a shim that died (its address in the bundle), unless a shim still serves
/// it: the pod's other containers may still have theirs.
fn remove_dead_socket() {
    let Ok(address) = shim::util::read_address() else {
        return;
    };
    let path = address.trim_start_matches("unix://");
    if std::os::unix::net::UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
}

/// The pod of the container whose config.json this is, from CRI's annotation.
fn sandbox_of(config: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config).ok()?;
    let spec: serde_json::Value = serde_json::from_str(&text).ok()?;
    spec.get("annotations")?
        .get(SANDBOX_ID)?
        .as_str()
        .map(str::to_string)
}

/// The runtime_type containerd's config names this shim by.
const RUNTIME_ID: &str = "io.containerd.vrun.v2";

fn main() {
    let args: Vec<_> = std::env::args_os().collect();
    maker::resume_if_asked(&args);
    if info::asked(&args) {
        if let Err(e) = info::answer(RUNTIME_ID) {
            eprintln!("containerd-shim-vrun-v2 -info: {e}");
            std::process::exit(1);
        }
        return;
    }
    sys::one_malloc_arena();
    shim::run::<Shim>(RUNTIME_ID, None)
}
