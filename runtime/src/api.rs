//! The runtime as a library: a [`Runtime`] (a state root) holds [`Container`]s, each
//! created, started, signalled, exec'd into and deleted by its methods, which return a typed
//! [`Error`](crate::Error) (see [`Error::kind`](crate::Error::kind)) and never print or
//! exit. The CLI's commands are thin calls on it; a shim keeps the values in its memory.
//!
//! ```no_run
//! use vrun_runtime::{ConsoleMode, CreateOptions, Runtime};
//!
//! # fn main() -> vrun_runtime::Result<()> {
//! let runtime = Runtime::new("/run/vrun");
//! // a bundle: config.json and its rootfs (`vrun spec` writes a config)
//! let container = runtime.create(
//!     "demo",
//!     "/var/lib/bundles/demo",
//!     CreateOptions::default(),
//!     ConsoleMode::None,
//! )?;
//! println!("init is pid {}", container.pid()?);
//! container.start()?;
//! let (state, status) = container.state()?;
//! println!("{} is {status}", state.id);
//! container.kill(Some(nix::sys::signal::Signal::SIGKILL), false)?;
//! container.delete(true)?;
//! # Ok(())
//! # }
//! ```
//!
//! What a shim needs that the CLI did not, and this API does not give yet:
//! - the exit status of init to a waiter: init is not the caller's child after `create`
//!   returns (vrun exits; a shim would be its subreaper and reap it itself), so
//!   [`Container::state`] tells only that it stopped;
//! - io given as fds: the process gets the caller's stdio (and a pty through a console
//!   socket, or its master back with [`ConsoleMode::Proxy`] and
//!   [`ExecOptions::console_to_caller`]), not fds a shim names per container;
//! - events as a stream of values to a channel rather than a callback on the caller's
//!   thread; and cgroup v2 stats in the shape containerd's metrics want.
//!
//! [`Container::exec`] gives the pid of an exec'd process before it exits ([`Process`]).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;

use crate::error::Result;
use crate::lifecycle::{self, ConsoleMode, CreateOptions, ExecOptions, UpdateOptions};
use crate::state::{Persisted, Status};

/// A state root (`--root`): where containers' states live.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates container `id` from the bundle at `bundle`: its init waits for
    /// [`Container::start`]. `opts.root`, `opts.id` and `opts.bundle` are set from these.
    pub fn create(
        &self,
        id: &str,
        bundle: impl Into<PathBuf>,
        mut opts: CreateOptions,
        console: ConsoleMode,
    ) -> Result<Container> {
        opts.root = self.root.clone();
        opts.id = id.to_string();
        opts.bundle = bundle.into();
        let created = lifecycle::create(&opts, console)?;
        Ok(Container {
            root: self.root.clone(),
            id: id.to_string(),
            pid: Some(created.pid.as_raw()),
            console: created.console,
        })
    }

    /// A handle on container `id` (its id checked, nothing read): each method reports
    /// [`Error::NotFound`](crate::Error) itself when there is no such container, as the
    /// state may go between two calls anyway.
    pub fn container(&self, id: &str) -> Result<Container> {
        crate::id::validate(id)?;
        Ok(Container {
            root: self.root.clone(),
            id: id.to_string(),
            pid: None,
            console: None,
        })
    }

    /// Every container of the root, in id order, with its status.
    pub fn list(&self) -> Result<Vec<(Persisted, Status)>> {
        crate::state::list(&self.root)
    }
}

/// One container of a [`Runtime`].
#[derive(Debug)]
pub struct Container {
    root: PathBuf,
    id: String,
    /// Known from a create; else read from the state.
    pid: Option<i32>,
    console: Option<OwnedFd>,
}

impl Container {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// init's pid, as the host sees it (0 while a create is under way).
    pub fn pid(&self) -> Result<i32> {
        match self.pid {
            Some(pid) => Ok(pid),
            None => Ok(self.state()?.0.pid),
        }
    }

    /// With [`ConsoleMode::Proxy`], the pty master of the container's terminal, once.
    pub fn take_console(&mut self) -> Option<OwnedFd> {
        self.console.take()
    }

    /// The state as saved, and the status read now.
    pub fn state(&self) -> Result<(Persisted, Status)> {
        let dir = self.root.join(&self.id);
        let state = crate::state::load_state(&dir, &self.id)?;
        let status = crate::state::status(&dir, &state);
        Ok((state, status))
    }

    /// Runs the container's process. With NOTIFY_SOCKET set, returns the proxy that relays
    /// the container's readiness to it (see [`crate::notify::Proxy`]).
    pub fn start(&self) -> Result<Option<crate::notify::Proxy>> {
        lifecycle::start(&self.root, &self.id)
    }

    /// Sends `signal` (SIGTERM when None) to init, or with `all` to every process of the
    /// container's cgroup.
    pub fn kill(&self, signal: Option<Signal>, all: bool) -> Result<()> {
        lifecycle::kill(&self.root, &self.id, signal, all)
    }

    /// Removes a stopped container (with `force`, stops it first with SIGKILL).
    pub fn delete(self, force: bool) -> Result<()> {
        lifecycle::delete(&self.root, &self.id, force)
    }

    /// Starts a process in the container and returns once it has exec'd. `opts.root` and
    /// `opts.id` are set from the container; `opts.detach` decides whether the signals vrun
    /// forwards are blocked for [`Process::wait`].
    pub fn exec(&self, mut opts: ExecOptions) -> Result<Process> {
        opts.root = self.root.clone();
        opts.id = self.id.clone();
        let spawned = lifecycle::exec::spawn(&opts)?;
        Ok(Process(spawned))
    }

    pub fn pause(&self) -> Result<()> {
        lifecycle::pause(&self.root, &self.id)
    }

    pub fn resume(&self) -> Result<()> {
        lifecycle::resume(&self.root, &self.id)
    }

    /// Changes the cgroup limits of a running container.
    pub fn update(&self, opts: &UpdateOptions) -> Result<()> {
        lifecycle::update(&self.root, &self.id, opts)
    }

    /// Streams the container's events (`stats_once`: one stats event) to `emit`, every
    /// `interval`, until `emit` returns false or the container stops.
    pub fn events(
        &self,
        stats_once: bool,
        interval: std::time::Duration,
        emit: impl FnMut(&lifecycle::events::Event) -> bool,
    ) -> Result<()> {
        lifecycle::events(&self.root, &self.id, stats_once, interval, emit)
    }

    /// Checkpoints the container with CRIU. `opts.root` and `opts.id` are set from it.
    pub fn checkpoint(&self, mut opts: lifecycle::CheckpointOptions) -> Result<()> {
        opts.root = self.root.clone();
        opts.id = self.id.clone();
        lifecycle::checkpoint(&opts)
    }
}

impl Runtime {
    /// Restores container `opts.id` from a checkpoint (`opts.root` is set from the runtime);
    /// returns the exit status to leave with (0 when detached).
    pub fn restore(&self, mut opts: lifecycle::RestoreOptions) -> Result<i32> {
        opts.root = self.root.clone();
        lifecycle::restore(&opts)
    }
}

/// A process exec'd into a container.
pub struct Process(lifecycle::exec::Spawned);

impl Process {
    /// Its pid, as the host sees it.
    pub fn pid(&self) -> i32 {
        self.0.pid.as_raw()
    }

    /// Its terminal's pty master (with [`ExecOptions::console_to_caller`], or when not
    /// detached and without a console socket), once.
    pub fn take_console(&mut self) -> Option<OwnedFd> {
        self.0.console.take()
    }

    /// Waits for it (forwarding signals, proxying its terminal); its exit status.
    pub fn wait(self) -> Result<i32> {
        self.0.wait()
    }
}
