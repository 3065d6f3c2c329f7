//! linux.seccomp in the container's init and in `exec`'d processes: compiled before anything
//! is set up; loaded in init during create (before "ready", so that the startContainer hooks
//! run under it and a listener has its fd before `start`, as with runc) and in an exec'd
//! process just before execve; early, before the capabilities drop, where loading needs
//! them. For SCMP_ACT_NOTIFY, the listener fd is handed to `listenerPath` over a socket the
//! parent connected (with the host's credentials and filesystem, which the process no
//! longer has by then).

use std::cell::RefCell;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use oci_spec::runtime::{Capability, Process};
use serde_json::Value;
use vrun_seccomp::{Filter, Profile};

use crate::error::{Error, Result};
use crate::OCI_VERSION;

/// The parent's part, done once before the clone: the profile compiled, and the connection
/// to the listener when a rule notifies.
pub(crate) struct SeccompSetup<'a> {
    profile: &'a Profile,
    filter: Filter,
    /// Taken (and closed) by the load that sends the listener over it.
    listener_socket: RefCell<Option<OwnedFd>>,
}

impl<'a> SeccompSetup<'a> {
    pub fn new(profile: Option<&'a Profile>) -> Result<Option<SeccompSetup<'a>>> {
        let Some(profile) = profile else {
            return Ok(None);
        };
        let filter = vrun_seccomp::compile(profile, vrun_seccomp::arch::native())?;
        let listener_socket = match (&profile.listener_path, filter.notify) {
            (Some(path), true) => Some(vrun_seccomp::notify::connect_listener(path)?),
            _ => None,
        };
        Ok(Some(SeccompSetup {
            profile,
            filter,
            listener_socket: RefCell::new(listener_socket),
        }))
    }

    /// The socket to the listener, while it is still open.
    pub fn listener_fd(&self) -> Option<RawFd> {
        self.listener_socket
            .borrow()
            .as_ref()
            .map(|s| s.as_raw_fd())
    }
}

/// The child's part: where and how to load, and what to tell the listener.
pub(crate) struct Seccomp<'a> {
    setup: &'a SeccompSetup<'a>,
    /// The process's pid as the host sees it, for the listener's message.
    host_pid: i32,
    /// Loaded before the process drops its privileges rather than after.
    pub early: bool,
}

impl<'a> Seccomp<'a> {
    pub fn prepare(setup: &'a SeccompSetup<'a>, process: &Process) -> Result<Seccomp<'a>> {
        // Read now: later the process may see only the container's /proc.
        let host_pid = if setup.filter.notify { host_pid()? } else { 0 };
        Ok(Seccomp {
            setup,
            host_pid,
            early: needs_early_load(process),
        })
    }

    /// Whether the filter lets these system calls through in any case (see
    /// vrun_seccomp::Profile::allows_plainly).
    pub fn allows_plainly(&self, syscalls: &[&str]) -> bool {
        syscalls
            .iter()
            .all(|s| self.setup.profile.allows_plainly(s))
    }

    /// Loads the filter; with a listener, sends it with the container process state
    /// (`state` is the container's state, `status` what it is at this moment), and closes
    /// the socket it went over.
    pub fn load(&self, state_json: &str, status: &str) -> Result<()> {
        let listener = vrun_seccomp::load(&self.setup.filter)?;
        let socket = self.setup.listener_socket.borrow_mut().take();
        if let (Some(listener), Some(socket)) = (listener, &socket) {
            let mut state: Value = serde_json::from_str(state_json).unwrap_or(Value::Null);
            state["status"] = Value::String(status.to_owned());
            let payload = vrun_seccomp::notify::process_state(
                OCI_VERSION,
                self.host_pid,
                self.setup.profile.listener_metadata.as_deref(),
                state,
            );
            vrun_seccomp::notify::send_listener(socket, &listener, payload.to_string().as_bytes())?;
        }
        Ok(())
    }
}

/// Without no_new_privs the kernel wants CAP_SYS_ADMIN (in the process's user namespace) to
/// load a filter: when the process will not keep it, the filter goes in before the
/// capabilities and ids change, as runc does; the syscalls of the last steps are then
/// filtered too.
fn needs_early_load(process: &Process) -> bool {
    let keeps_sys_admin = process
        .capabilities()
        .as_ref()
        .and_then(|c| c.effective().as_ref())
        .is_some_and(|e| e.contains(&Capability::SysAdmin));
    !process.no_new_privileges().unwrap_or(false) && !keeps_sys_admin
}

/// This process's pid in the host's pid namespace, read from a /proc of the host (before
/// pivot_root or before joining the container's mount namespace).
fn host_pid() -> Result<i32> {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| Error::Invalid("read /proc/self for the host pid".into()))
}
