//! SCMP_ACT_NOTIFY: the listener fd goes to `listenerPath` in one message, the container
//! process state (runtime-spec config-linux.md, "seccomp") as its JSON payload and the fd
//! as SCM_RIGHTS, as runc and crun send it.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use serde_json::{json, Value};

use crate::Error;

/// Connects to the listener's socket. Called while the host's filesystem is still
/// reachable (before pivot_root, or before joining the container's mount namespace).
pub fn connect_listener(path: &Path) -> Result<OwnedFd, Error> {
    // "failed to connect with seccomp agent": runc's words, which its users' tests look for.
    let what = || {
        format!(
            "linux.seccomp.listenerPath: failed to connect with seccomp agent at {}",
            path.display()
        )
    };
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|errno| Error::Listener {
        message: format!("{}: socket: {errno}", what()),
        errno,
    })?;
    let failed = |errno| Error::Listener {
        message: format!("{}: {errno}", what()),
        errno,
    };
    let addr = UnixAddr::new(path).map_err(failed)?;
    connect(fd.as_raw_fd(), &addr).map_err(failed)?;
    Ok(fd)
}

/// The container process state: `state` is the container's state (id, status, pid, bundle,
/// annotations).
pub fn process_state(oci_version: &str, pid: i32, metadata: Option<&str>, state: Value) -> Value {
    let mut v = json!({
        "ociVersion": oci_version,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = metadata.filter(|m| !m.is_empty()) {
        v["metadata"] = Value::String(m.to_owned());
    }
    v
}

/// Sends the payload and the listener fd over the connected socket. The payload holds the
/// container's annotations and may be larger than one send takes: the rest follows the fd.
pub fn send_listener(socket: &OwnedFd, listener: &OwnedFd, payload: &[u8]) -> Result<(), Error> {
    let failed = |errno: nix::errno::Errno| Error::Listener {
        message: format!("linux.seccomp.listenerPath: send the seccomp listener fd: {errno}"),
        errno,
    };
    let fds = [listener.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(payload)];
    let mut sent = loop {
        match sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(failed)?,
        }
    };
    while sent < payload.len() {
        match nix::unistd::write(socket, &payload[sent..]) {
            Ok(n) => sent += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(())
}
