//! The parent/init channel: a SOCK_SEQPACKET socketpair, whose records arrive whole. A
//! message is one record, `tag\nLENGTH\n` and the first part of its body, followed by as many
//! records as the rest of the body needs: a record is limited by the socket's send buffer
//! (net.core.wmem_default, 208 KiB here), and the state JSON of `go` is as large as the
//! config's annotations (Kubernetes allows 256 KiB; runc takes a 100 MB config).
//!
//! parent -> init: `go` + the state JSON (after id maps and cgroup placement), `hooks-done`,
//! `saved` (after `ready`; init then closes its end, and create waits for that).
//! init -> parent: `disk-mounted`, `joined` (+ why not), `hooks` (ready for createRuntime
//! hooks), `ready`, `error` + text.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{recv, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::{Context, Error, Result};

pub const GO: &[u8] = b"go";
pub const HOOKS: &[u8] = b"hooks";
pub const HOOKS_DONE: &[u8] = b"hooks-done";
pub const READY: &[u8] = b"ready";
/// create has recorded init's pid in the state (see init's wait for it).
pub const SAVED: &[u8] = b"saved";
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

/// The body bytes a record carries: well under any socket send buffer (the kernel's
/// smallest is about 4.6 KiB, with a 2 KiB floor for a record, SOCK_MIN_SNDBUF).
const RECORD: usize = 32 * 1024;

impl Channel {
    pub fn send(&self, tag: &[u8], body: &[u8]) -> Result<()> {
        let first = body.len().min(RECORD);
        let mut msg = Vec::with_capacity(tag.len() + 24 + first);
        msg.extend_from_slice(tag);
        msg.push(b'\n');
        msg.extend_from_slice(body.len().to_string().as_bytes());
        msg.push(b'\n');
        msg.extend_from_slice(&body[..first]);
        self.write_record(&msg)?;
        for part in body[first..].chunks(RECORD) {
            self.write_record(part)?;
        }
        Ok(())
    }

    fn write_record(&self, record: &[u8]) -> Result<()> {
        // write(2) rather than send(2): init's last messages go out under a seccomp filter
        // that may have been loaded early, and allow-lists that allow anything allow write.
        // A peer that has gone gives EPIPE: vrun ignores SIGPIPE until the signal reset
        // just before exec.
        loop {
            match nix::unistd::write(&self.0, record) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => {
                    other.context(|| "send to the sync socket".into())?;
                    return Ok(());
                }
            }
        }
    }

    /// One record into `buf` (cleared first); 0 bytes when the other side has gone.
    fn read_record(&self, buf: &mut Vec<u8>) -> Result<usize> {
        buf.clear();
        buf.resize(RECORD + 64, 0);
        let n = loop {
            match recv(self.0.as_raw_fd(), buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.context(|| "read the sync socket".into())?,
            }
        };
        buf.truncate(n);
        Ok(n)
    }

    /// Whether the next message is `tag` (with an empty body), read with read(2) alone: what
    /// init reads after "ready" may be under a seccomp filter, which allows read (init reads
    /// the exec fifo with it) but perhaps not recv. False at EOF.
    pub fn read_bare_tag(&self, tag: &[u8]) -> bool {
        let mut record = [0u8; 32];
        let n = loop {
            match nix::unistd::read(self.0.as_raw_fd(), &mut record) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.unwrap_or(0),
            }
        };
        record[..n].strip_prefix(tag) == Some(b"\n0\n")
    }

    /// Waits (up to `timeout`) for the other side to close its end: EOF, or anything else
    /// read or a timeout (false).
    pub fn wait_closed(&self, timeout: std::time::Duration) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let ms = PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, ms) {
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(n) if n > 0 => break,
                _ => return false,
            }
        }
        let mut byte = [0u8; 1];
        matches!(
            recv(self.0.as_raw_fd(), &mut byte, MsgFlags::MSG_DONTWAIT),
            Ok(0)
        )
    }

    /// The next message as (tag, body); None when the other side has gone (EOF).
    pub fn recv(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let mut record = Vec::new();
        if self.read_record(&mut record)? == 0 {
            return Ok(None);
        }
        let bad = || Error::Invalid("a malformed message on the sync socket".into());
        let tag_end = record.iter().position(|b| *b == b'\n').ok_or_else(bad)?;
        let len_end = record[tag_end + 1..]
            .iter()
            .position(|b| *b == b'\n')
            .map(|p| tag_end + 1 + p)
            .ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&record[tag_end + 1..len_end])
            .ok()
            .and_then(|l| l.parse().ok())
            .ok_or_else(bad)?;
        let mut body = Vec::with_capacity(len);
        body.extend_from_slice(&record[len_end + 1..]);
        record.truncate(tag_end);
        let mut part = Vec::new();
        while body.len() < len {
            if self.read_record(&mut part)? == 0 {
                return Err(Error::Invalid(
                    "the other side of the sync socket went away in the middle of a message".into(),
                ));
            }
            body.extend_from_slice(&part);
        }
        if body.len() != len {
            return Err(bad());
        }
        Ok(Some((record, body)))
    }

    /// Waits for one expected tag; an `error` message becomes the error it carries.
    pub fn expect(&self, tag: &[u8], waiting_for: &str) -> Result<Vec<u8>> {
        match self.recv()? {
            Some((t, body)) if t == tag => Ok(body),
            Some((t, body)) if t == ERROR => {
                Err(Error::Invalid(String::from_utf8_lossy(&body).into_owned()))
            }
            Some((t, _)) => Err(Error::Failed(format!(
                "unexpected message {:?} while waiting for {waiting_for}",
                String::from_utf8_lossy(&t)
            ))),
            None => Err(Error::Invalid(format!(
                "the other side of the sync socket went away while waiting for {waiting_for}"
            ))),
        }
    }
}
