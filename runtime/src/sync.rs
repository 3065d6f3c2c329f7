//! The parent/init channel: a SOCK_SEQPACKET socketpair, so every message arrives whole.
//!
//! parent -> init: `go` + the state JSON (after id maps and cgroup placement), `hooks-done`.
//! init -> parent: `disk-mounted`, `joined` (+ why not), `hooks` (ready for createRuntime
//! hooks), `ready`, `error` + text.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{recv, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::{Context, Error, Result};

pub const GO: &[u8] = b"go";
pub const HOOKS: &[u8] = b"hooks";
pub const HOOKS_DONE: &[u8] = b"hooks-done";
pub const READY: &[u8] = b"ready";
pub const ERROR: &[u8] = b"error";
/// init has mounted the disk image (it must do so before it joins the container's cgroup,
/// whose device rules do not allow the loop device).
pub const DISK_MOUNTED: &[u8] = b"disk-mounted";
/// init (or an exec'd process) has tried to join its cgroup itself (see
/// `vrun_cgroup::SelfJoin`): an empty body if it did, else why not (the parent then places it).
pub const JOINED: &[u8] = b"joined";

pub struct Channel(OwnedFd);

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context(|| "create the sync socketpair".into())?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    pub fn send(&self, tag: &[u8], body: &[u8]) -> Result<()> {
        let mut msg = Vec::with_capacity(tag.len() + 1 + body.len());
        msg.extend_from_slice(tag);
        msg.push(b'\n');
        msg.extend_from_slice(body);
        // write(2) rather than send(2): init's last messages go out under a seccomp filter
        // that may have been loaded early, and allow-lists that allow anything allow write.
        // A peer that has gone gives EPIPE: vrun ignores SIGPIPE until the signal reset
        // just before exec.
        nix::unistd::write(&self.0, &msg).context(|| "send to the sync socket".into())?;
        Ok(())
    }

    /// The next message as (tag, body); None when the other side has gone (EOF).
    pub fn recv(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let mut buf = vec![0u8; 256 * 1024];
        let n = loop {
            match recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.context(|| "read the sync socket".into())?,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        let split = buf.iter().position(|b| *b == b'\n').unwrap_or(buf.len());
        let body = buf.get(split + 1..).map(<[u8]>::to_vec).unwrap_or_default();
        buf.truncate(split);
        Ok(Some((buf, body)))
    }

    /// Waits for one expected tag; an `error` message becomes the error it carries.
    pub fn expect(&self, tag: &[u8], waiting_for: &str) -> Result<Vec<u8>> {
        match self.recv()? {
            Some((t, body)) if t == tag => Ok(body),
            Some((t, body)) if t == ERROR => {
                Err(Error::Invalid(String::from_utf8_lossy(&body).into_owned()))
            }
            Some((t, _)) => Err(Error::Invalid(format!(
                "unexpected message {:?} while waiting for {waiting_for}",
                String::from_utf8_lossy(&t)
            ))),
            None => Err(Error::Invalid(format!(
                "the other side of the sync socket went away while waiting for {waiting_for}"
            ))),
        }
    }
}
