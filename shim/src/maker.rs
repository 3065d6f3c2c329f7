//! The maker: the shim's single-threaded second process, which runs every call of vrun's
//! runtime API.
//!
//! Why a process of its own: the API's `create` (and `exec`) clone the container's init from
//! the calling process and run vrun's setup code in the clone, which is only sound in a
//! single-threaded process (another thread may hold the allocator's lock at the clone); the
//! shim serves ttrpc from threads. Exec'ing `vrun` for each call, as runc's shim execs runc,
//! would be sound too, but pays a process start per call, which is what this shim saves. So
//! the shim forks the maker before its first thread (`Shim::new`) and drives it over a
//! socketpair, one call at a time.
//!
//! The maker is the parent of every init it makes (and a subreaper, for what their processes
//! leave), so it is the one that can wait for them: it reaps every child and reports each
//! exit once, on a second socketpair, which a thread of the shim reads. It dies with the shim
//! (parent-death signal); its containers then live on, as with a killed runc shim.
//!
//! A pod's maker idles most of its life, yet a create leaves it with over a megabyte of the
//! runtime's code mapped and its heap grown: once idle for a second after a call, it re-execs
//! its own binary in place (`shed`), which keeps its pid, children, fds and blocked signals,
//! and starts again with only its serving loop mapped; then drops its mappings of that too,
//! as the idle shim does (idle.rs).

use std::collections::HashSet;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Mutex;

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};
use vrun_runtime::lifecycle::checkpoint::CriuOptions;
use vrun_runtime::{ConsoleMode, CreateOptions, ErrorKind, Runtime};

/// A call of the runtime API, for container `id` of the state root `root`.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// With three fds: the container's stdin, stdout and stderr; or, for a `terminal`, none
    /// (its pty master comes back with the reply).
    Create {
        root: PathBuf,
        id: String,
        bundle: PathBuf,
        systemd_cgroup: bool,
        terminal: bool,
    },
    Start {
        root: PathBuf,
        id: String,
    },
    /// With three fds, as Create: the process `process_file` (a runtime-spec Process) run in
    /// the container (a `terminal` one: no fds, its pty master back with the reply).
    Exec {
        root: PathBuf,
        id: String,
        process_file: PathBuf,
        terminal: bool,
    },
    /// The container's cgroup limits, from `resources_file` (a runtime-spec LinuxResources).
    Update {
        root: PathBuf,
        id: String,
        resources_file: PathBuf,
    },
    /// A signal to a process the maker exec'd and has not reaped (so its pid is not reused).
    Signal {
        pid: i32,
        signal: i32,
    },
    Kill {
        root: PathBuf,
        id: String,
        signal: i32,
        all: bool,
    },
    Delete {
        root: PathBuf,
        id: String,
        force: bool,
    },
    Pause {
        root: PathBuf,
        id: String,
    },
    Resume {
        root: PathBuf,
        id: String,
    },
    State {
        root: PathBuf,
        id: String,
    },
    Pids {
        root: PathBuf,
        id: String,
    },
    /// A CRIU checkpoint of the container (left running, or gone after it).
    Checkpoint {
        root: PathBuf,
        id: String,
        criu: CriuOptions,
        leave_running: bool,
    },
    /// With three fds, as Create (no terminal): the container restored from the checkpoint
    /// in `criu.image_path`, its init the maker's child (CRIU's, which exits, hands it on to
    /// the maker, a subreaper).
    Restore {
        root: PathBuf,
        id: String,
        bundle: PathBuf,
        criu: CriuOptions,
        systemd_cgroup: bool,
    },
    /// A rootfs mount with containerd's `uidmap=`/`gidmap=` options (idmapped.rs), on
    /// `bundle`/rootfs; `options` without them.
    MountIdmapped {
        bundle: PathBuf,
        kind: String,
        source: String,
        options: Vec<String>,
        uidmap: String,
        gidmap: String,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Done {
    pub pid: i32,
    /// The status (`created`, `running`, ...), for State.
    pub status: String,
    pub pids: Vec<i32>,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    Done(Done),
    Failed { kind: ErrorKind, message: String },
}

/// A process of the maker's that ended, with its status as a shell gives it (128 + the
/// signal when killed).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Exit {
    pub pid: i32,
    pub status: i32,
}

/// A request or a reply is small; an error text of vrun's may be long (a config's field
/// named): 256 KiB, far above both.
const MESSAGE: usize = 256 * 1024;

/// The shim's side: calls, one at a time, and the exits.
pub struct Maker {
    calls: Mutex<OwnedFd>,
    pub exits: OwnedFd,
}

/// Forks the maker; in the child this never returns.
pub fn fork() -> std::io::Result<Maker> {
    let pair = || {
        socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(std::io::Error::from)
    };
    let (calls, calls_theirs) = pair()?;
    let (exits, exits_theirs) = pair()?;
    match crate::sys::fork_before_threads()? {
        nix::unistd::ForkResult::Child => {
            drop(calls);
            drop(exits);
            // (None if it cannot be opened: the maker then never sheds, see `shed`)
            let exe = std::fs::File::open("/proc/self/exe")
                .ok()
                .map(OwnedFd::from);
            serve(calls_theirs, exits_theirs, exe, HashSet::new(), false)
        }
        nix::unistd::ForkResult::Parent { .. } => Ok(Maker {
            calls: Mutex::new(calls),
            exits,
        }),
    }
}

impl Maker {
    /// One call, and the fds its reply brought (a terminal's pty master); Err only when the
    /// maker is gone.
    pub fn call(&self, request: &Request, fds: &[RawFd]) -> std::io::Result<(Reply, Vec<OwnedFd>)> {
        let body = serde_json::to_vec(request)?;
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        send(calls.as_fd().as_raw_fd(), &body, fds)?;
        let (reply, fds) = recv(calls.as_raw_fd())?;
        let reply = serde_json::from_slice(&reply).map_err(std::io::Error::from)?;
        Ok((reply, fds))
    }

    /// The next exit; None once the maker is gone.
    pub fn next_exit(&self) -> Option<Exit> {
        let (msg, _) = recv(self.exits.as_raw_fd()).ok()?;
        serde_json::from_slice(&msg).ok()
    }
}

fn send(fd: RawFd, body: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    let iov = [IoSlice::new(body)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    sendmsg::<()>(fd, &iov, cmsgs, MsgFlags::empty(), None)?;
    Ok(())
}

/// A message and the fds that came with it; an empty message (EOF) is an error. The buffer is
/// the message's size, found by a peek first: one of MESSAGE bytes, zeroed for each call, was
/// 256 KiB of RSS in the shim's exit reader, which waits in here for the pod's whole life.
fn recv(fd: RawFd) -> std::io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let peek = MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC;
    let size = loop {
        // (a seqpacket's whole length, with MSG_TRUNC, whatever the buffer's)
        match nix::sys::socket::recv(fd, &mut [], peek) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other?,
        }
    };
    if size > MESSAGE {
        return Err(std::io::Error::other(format!(
            "a message of {size} bytes from the maker's peer: over {MESSAGE}"
        )));
    }
    let mut buf = vec![0u8; size.max(1)];
    let mut space = nix::cmsg_space!([RawFd; 3]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = loop {
        match recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other?,
        }
    };
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            // (each fd is new to this process, and owned by nothing else)
            fds.extend(raw.into_iter().map(owned));
        }
    }
    let n = msg.bytes;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buf.truncate(n);
    Ok((buf, fds))
}

fn owned(fd: RawFd) -> OwnedFd {
    crate::sys::own(fd)
}

/// The argument after the shim's own that makes a re-exec'd maker of the program (`shed`):
/// `RESUME CALLS,EXITS,EXE PID,...` (its fds, and the pids it exec'd and has not reaped).
const RESUME: &str = "--vrun-maker-resume";

/// How long the maker waits, idle after a call, before it sheds what the calls left.
const SHED_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The maker's life once re-exec'd by `shed`, if `args` say it is one.
pub fn resume_if_asked(args: &[std::ffi::OsString]) {
    let Some(at) = args.iter().position(|a| a == RESUME) else {
        return;
    };
    let field = |i: usize| args.get(at + i).and_then(|a| a.to_str()).unwrap_or("");
    let fds: Vec<RawFd> = field(1).split(',').filter_map(|f| f.parse().ok()).collect();
    let execd = field(2).split(',').filter_map(|p| p.parse().ok()).collect();
    let [calls, exits, exe] = fds[..] else {
        eprintln!(
            "containerd-shim-vrun-v2: {RESUME}: no fds in {:?}",
            field(1)
        );
        std::process::exit(1)
    };
    // Close-on-exec again: no process the maker starts may inherit them (a container's init
    // closes the host's fds anyway, before it runs the container's program). Which also
    // checks that each is open before it is owned.
    for fd in [calls, exits, exe] {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag};
        if fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).is_err() {
            eprintln!("containerd-shim-vrun-v2: {RESUME}: fd {fd} is not open");
            std::process::exit(1);
        }
    }
    // (the fds this program's `shed` left open across its exec, named by its argv)
    let [calls, exits, exe] = [calls, exits, exe].map(crate::sys::own);
    serve(calls, exits, Some(exe), execd, true)
}

/// Re-execs the maker's own binary (the file the shim was started from, held open since the
/// fork: a package upgrade replaces the path, not the file) in place, with its fds and the
/// pids it exec'd: what its calls mapped of the binary (the runtime's code a create runs, over
/// a megabyte) and what they left in its heap is gone, for as long as the pod idles, which is
/// most of a maker's life. It stays the parent and subreaper of its children (an exec keeps
/// the pid and both), its SIGCHLD stays blocked and pending (the signal mask and pending
/// signals are kept too), and its command line still begins with the shim's, so it is found
/// by the pod's id as before. Returns only if the exec failed: the maker goes on as it was.
fn shed(fds: [&OwnedFd; 3], execd: &HashSet<i32>) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    for fd in fds {
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty()))?;
    }
    let raw: Vec<String> = fds.iter().map(|fd| fd.as_raw_fd().to_string()).collect();
    let pids: Vec<String> = execd.iter().map(i32::to_string).collect();
    let c = |b: &[u8]| CString::new(b).map_err(std::io::Error::other);
    let mut argv = Vec::new();
    for a in std::env::args_os().take_while(|a| a != RESUME) {
        argv.push(c(a.as_bytes())?);
    }
    argv.push(c(RESUME.as_bytes())?);
    argv.push(c(raw.join(",").as_bytes())?);
    argv.push(c(pids.join(",").as_bytes())?);
    let mut env = Vec::new();
    for (k, v) in std::env::vars_os() {
        env.push(c(&[k.as_bytes(), b"=", v.as_bytes()].concat())?);
    }
    let Err(e) = nix::unistd::fexecve(fds[2].as_raw_fd(), &argv, &env);
    for fd in fds {
        let _ = fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
    Err(e.into())
}

/// The maker's life: calls and exits, until the shim goes. `exe`: the program, for `shed`;
/// `resumed`: this image is a `shed`'s.
fn serve(
    calls: OwnedFd,
    exits: OwnedFd,
    exe: Option<OwnedFd>,
    mut execd: HashSet<i32>,
    resumed: bool,
) -> ! {
    crate::sys::default_signal_handlers();
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let mut chld = nix::sys::signal::SigSet::empty();
    chld.add(nix::sys::signal::Signal::SIGCHLD);
    let _ = chld.thread_block();
    let Ok(sfd) = nix::sys::signalfd::SignalFd::with_flags(
        &chld,
        nix::sys::signalfd::SfdFlags::SFD_CLOEXEC | nix::sys::signalfd::SfdFlags::SFD_NONBLOCK,
    ) else {
        std::process::exit(1)
    };
    let mut keep = vec![calls.as_raw_fd(), exits.as_raw_fd(), sfd.as_raw_fd()];
    keep.extend(exe.as_ref().map(|e| e.as_raw_fd()));
    close_all_but(&keep);
    // The shim's stdout is the pipe its `start` reads to its end (containerd-shim closes the
    // shim's copy once serving): the maker's copy would hold `start`, and containerd, for ever.
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // (a child may have ended while this image was being exec'd: its SIGCHLD is pending)
    reap(&exits, &mut execd);
    let shed_after = PollTimeout::try_from(SHED_AFTER).unwrap_or(PollTimeout::NONE);
    // a call answered since the maker was last exec'd
    let mut called = false;
    // A re-exec'd maker, idle: what its start mapped of the binary goes too (idle.rs). (A
    // forked one has none of it mapped: a fork copies no page-table entry of a mapping with
    // no page of its own.)
    let mut drop_code = resumed;
    loop {
        if drop_code && !called {
            if let Err(e) = crate::idle::drop_clean_file_mappings() {
                tracing::warn!("drop the idle maker's code mappings: {e}");
            }
            drop_code = false;
        }
        let mut fds = [
            PollFd::new(calls.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        let timeout = if called {
            shed_after
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) => {
                if let Some(exe) = &exe {
                    if let Err(e) = shed([&calls, &exits, exe], &execd) {
                        tracing::warn!("the maker's re-exec: {e}");
                    }
                }
                called = false;
                continue;
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => std::process::exit(1),
        }
        while let Ok(Some(_)) = sfd.read_signal() {}
        let call = fds[0].any().unwrap_or(false);
        if call {
            match recv(calls.as_raw_fd()) {
                Ok((msg, fds)) => {
                    let (reply, console) = answer(&msg, fds, &mut execd);
                    let body = serde_json::to_vec(&reply).unwrap_or_default();
                    let passed: Vec<RawFd> = console.iter().map(|c| c.as_raw_fd()).collect();
                    // (the maker's copy of a pty master goes with `console` once sent)
                    if send(calls.as_raw_fd(), &body, &passed).is_err() {
                        std::process::exit(0);
                    }
                    called = true;
                }
                // the shim is gone
                Err(_) => std::process::exit(0),
            }
        }
        reap(&exits, &mut execd);
    }
}

/// Every child that ended, reported.
fn reap(exits: &OwnedFd, execd: &mut HashSet<i32>) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        let exit = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => Exit {
                pid: pid.as_raw(),
                status: code,
            },
            Ok(WaitStatus::Signaled(pid, sig, _)) => Exit {
                pid: pid.as_raw(),
                status: 128 + sig as i32,
            },
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => continue,
        };
        execd.remove(&exit.pid);
        let body = serde_json::to_vec(&exit).unwrap_or_default();
        if send(exits.as_raw_fd(), &body, &[]).is_err() {
            std::process::exit(0);
        }
    }
}

fn close_all_but(keep: &[RawFd]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2 && !keep.contains(fd))
        .collect();
    for fd in fds {
        let _ = nix::unistd::close(fd);
    }
}

/// The reply to a call, and the pty master it hands over (a terminal's create or exec).
// (never inlined: integration/hot-code/run.sh finds where the maker takes a call by its name)
#[inline(never)]
fn answer(msg: &[u8], fds: Vec<OwnedFd>, execd: &mut HashSet<i32>) -> (Reply, Option<OwnedFd>) {
    let request: Request = match serde_json::from_slice(msg) {
        Ok(r) => r,
        Err(e) => {
            let reply = Reply::Failed {
                kind: ErrorKind::System,
                message: format!("a malformed call to the maker: {e}"),
            };
            return (reply, None);
        }
    };
    match run(request, fds, execd) {
        Ok((done, console)) => (Reply::Done(done), console),
        Err(e) => {
            let reply = Reply::Failed {
                kind: e.kind(),
                message: e.to_string(),
            };
            (reply, None)
        }
    }
}

fn run(
    request: Request,
    fds: Vec<OwnedFd>,
    execd: &mut HashSet<i32>,
) -> vrun_runtime::Result<(Done, Option<OwnedFd>)> {
    match request {
        Request::Create {
            root,
            id,
            bundle,
            systemd_cgroup,
            terminal,
        } => {
            let opts = CreateOptions {
                systemd_cgroup,
                ..CreateOptions::default()
            };
            let console = match terminal {
                true => ConsoleMode::Proxy,
                false => ConsoleMode::None,
            };
            let mut created = with_stdio(&fds, || {
                Runtime::new(root).create(&id, bundle, opts, console)
            })?;
            let master = created.take_console();
            Ok((done(created.pid()?), master))
        }
        Request::Exec {
            root,
            id,
            process_file,
            terminal,
        } => {
            let opts = vrun_runtime::ExecOptions {
                process_file: Some(process_file),
                detach: true,
                console_to_caller: terminal,
                ..vrun_runtime::ExecOptions::default()
            };
            let container = Runtime::new(root).container(&id)?;
            let mut process = with_stdio(&fds, || container.exec(opts))?;
            execd.insert(process.pid());
            let master = process.take_console();
            Ok((done(process.pid()), master))
        }
        Request::Restore {
            root,
            id,
            bundle,
            criu,
            systemd_cgroup,
        } => {
            let opts = vrun_runtime::lifecycle::checkpoint::RestoreOptions {
                id: id.clone(),
                bundle,
                criu,
                detach: true,
                systemd_cgroup,
                ..Default::default()
            };
            let runtime = Runtime::new(root);
            // (init's stdio, as CRIU gives it again: the restore's own 0, 1 and 2)
            with_stdio(&fds, || runtime.restore(opts))?;
            Ok((done(runtime.container(&id)?.pid()?), None))
        }
        other => run_plain(other, execd).map(|d| (d, None)),
    }
}

fn done(pid: i32) -> Done {
    Done {
        pid,
        ..Done::default()
    }
}

/// The calls that take and give no fds.
fn run_plain(request: Request, execd: &mut HashSet<i32>) -> vrun_runtime::Result<Done> {
    use nix::sys::signal::Signal;
    match request {
        Request::Create { .. } | Request::Exec { .. } | Request::Restore { .. } => Err(
            vrun_runtime::Error::Failed("create, exec and restore are not plain calls".into()),
        ),
        Request::Start { root, id } => {
            let c = Runtime::new(root).container(&id)?;
            c.start()?;
            Ok(done(c.pid()?))
        }
        Request::Update {
            root,
            id,
            resources_file,
        } => {
            let opts = vrun_runtime::UpdateOptions {
                resources: Some(resources_file),
                ..vrun_runtime::UpdateOptions::default()
            };
            Runtime::new(root).container(&id)?.update(&opts)?;
            Ok(done(0))
        }
        Request::Signal { pid, signal } => {
            if !execd.contains(&pid) {
                return Err(vrun_runtime::Error::WrongState(format!(
                    "process {pid}: not running"
                )));
            }
            let signal = Signal::try_from(signal)
                .map_err(|_| vrun_runtime::Error::Invalid(format!("kill: no signal {signal}")))?;
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).map_err(|e| {
                vrun_runtime::Error::Sys {
                    what: format!("signal process {pid}"),
                    source: e,
                }
            })?;
            Ok(done(pid))
        }
        Request::Kill {
            root,
            id,
            signal,
            all,
        } => {
            let signal = Signal::try_from(signal)
                .map_err(|_| vrun_runtime::Error::Invalid(format!("kill: no signal {signal}")))?;
            Runtime::new(root).container(&id)?.kill(Some(signal), all)?;
            Ok(done(0))
        }
        Request::Checkpoint {
            root,
            id,
            criu,
            leave_running,
        } => checkpoint(root, &id, criu, leave_running),
        Request::Delete { root, id, force } => {
            Runtime::new(root).container(&id)?.delete(force)?;
            Ok(done(0))
        }
        Request::Pause { root, id } => {
            Runtime::new(root).container(&id)?.pause()?;
            Ok(done(0))
        }
        Request::Resume { root, id } => {
            Runtime::new(root).container(&id)?.resume()?;
            Ok(done(0))
        }
        Request::MountIdmapped {
            bundle,
            kind,
            source,
            options,
            uidmap,
            gidmap,
        } => {
            crate::idmapped::mount(&bundle, &kind, &source, &options, &uidmap, &gidmap)?;
            Ok(done(0))
        }
        Request::State { root, id } => {
            let (state, status) = Runtime::new(root).container(&id)?.state()?;
            Ok(Done {
                pid: state.pid,
                status: status.to_string(),
                pids: Vec::new(),
            })
        }
        Request::Pids { root, id } => {
            let (state, _) = Runtime::new(root).container(&id)?.state()?;
            let pids = match &state.cgroup {
                Some(cg) => cg.pids()?,
                None => vrun_runtime::procfs::container_processes(state.pid, state.start_time),
            };
            Ok(Done {
                pid: state.pid,
                status: String::new(),
                pids,
            })
        }
    }
}

fn checkpoint(
    root: PathBuf,
    id: &str,
    criu: CriuOptions,
    leave_running: bool,
) -> vrun_runtime::Result<Done> {
    let opts = vrun_runtime::lifecycle::checkpoint::CheckpointOptions {
        criu,
        leave_running,
        ..Default::default()
    };
    Runtime::new(root).container(id)?.checkpoint(opts)?;
    Ok(done(0))
}

/// Runs `f` with `fds` as the maker's stdin, stdout and stderr (what a create's init
/// inherits), and the maker's own back after.
fn with_stdio<T>(fds: &[OwnedFd], f: impl FnOnce() -> T) -> T {
    if fds.len() != 3 {
        return f();
    }
    let saved: Vec<Option<OwnedFd>> = (0..3)
        .map(|fd| nix::unistd::dup(fd).ok().map(owned))
        .collect();
    for (target, fd) in fds.iter().enumerate() {
        let _ = nix::unistd::dup2(fd.as_raw_fd(), target as RawFd);
    }
    let result = f();
    for (target, fd) in saved.iter().enumerate() {
        if let Some(fd) = fd {
            let _ = nix::unistd::dup2(fd.as_raw_fd(), target as RawFd);
        }
    }
    result
}
