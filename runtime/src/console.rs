//! Terminals: the container's pty, whose master goes to the caller over `--console-socket`
//! (SCM_RIGHTS, as runc sends it), and the foreground proxy `run`/`exec` use when there is
//! no console socket.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sys::socket::{
    connect, recvmsg, sendmsg, socket, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType, UnixAddr,
};

use crate::error::{Context, Error, Result};

/// Connects to the caller's console socket.
pub fn connect_socket(path: &Path) -> Result<OwnedFd> {
    connect_unix(path, "--console-socket", "the console socket")
}

/// Connects to the unix socket the caller named with `flag` (`what` in errors).
fn connect_unix(path: &Path, flag: &str, what: &str) -> Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context(|| "create a socket".into())?;
    let addr = UnixAddr::new(path).context(|| format!("{flag} {}", path.display()))?;
    connect(fd.as_raw_fd(), &addr).context(|| format!("connect to {what} {}", path.display()))?;
    Ok(fd)
}

/// Sends the pty master over the socket, with its name as the message, like runc.
pub fn send_master(socket: BorrowedFd, master: BorrowedFd) -> Result<()> {
    send_fd(socket, master, "/dev/ptmx")
        .context(|| "send the pty master to the console socket".into())
}

/// One fd over a unix socket (SCM_RIGHTS), with `name` as the message (runc's SendFile).
fn send_fd(socket: BorrowedFd, fd: BorrowedFd, name: &str) -> nix::Result<()> {
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(name.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(drop)
}

/// `--pidfd-socket`: a pidfd of `pid` (pidfd_open), sent to the socket at `path`, so that the
/// caller can signal and wait on the process without pid reuse races (containerd's shim).
pub fn send_pidfd(path: &Path, pid: i32) -> Result<()> {
    let socket = connect_unix(path, "--pidfd-socket", "the --pidfd-socket")?;
    let pidfd =
        crate::sys::pidfd_open(pid).context(|| format!("--pidfd-socket: pidfd_open {pid}"))?;
    send_fd(socket.as_fd(), pidfd.as_fd(), "pidfd")
        .context(|| format!("--pidfd-socket: send the pidfd to {}", path.display()))
}

/// Receives a pty master sent by [`send_master`].
pub fn recv_master(socket: BorrowedFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context(|| "receive the pty master".into())?;
    for c in msg
        .cmsgs()
        .context(|| "read the pty master message".into())?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                return Ok(crate::sys::own_received_fd(*fd));
            }
        }
    }
    Err(Error::Invalid("the container sent no pty master".into()))
}

/// Copies stdin to the pty master and the master to stdout until the master closes (the
/// container's process is gone) or `done` says so. stdin is put in raw mode when it is a
/// terminal, and restored.
pub fn proxy(master: &OwnedFd, mut done: impl FnMut() -> bool) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::termios;
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(stdin.as_fd()).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw);
        if let Ok(ws) = window_size(stdin.as_fd()) {
            let _ = set_window_size(master.as_fd(), &ws);
        }
    }
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    let result = loop {
        if done() {
            // The process has exited, but what it wrote may still sit in the pty.
            drain(master, &mut buf);
            break Ok(());
        }
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Err(nix::errno::Errno::EINTR) | Ok(0) => continue,
            Err(e) => {
                break Err(Error::Sys {
                    what: "poll the terminal".into(),
                    source: e,
                })
            }
            Ok(_) => {}
        }
        let master_ev = fds[0].revents().unwrap_or(PollFlags::empty());
        let stdin_ev = fds
            .get(1)
            .and_then(|f| f.revents())
            .unwrap_or(PollFlags::empty());
        if master_ev.intersects(PollFlags::POLLIN) {
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => break Ok(()),
                Ok(n) => write_all(std::io::stdout().as_fd(), &buf[..n]),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    break Err(Error::Sys {
                        what: "read the terminal".into(),
                        source: e,
                    })
                }
            }
        } else if master_ev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            break Ok(());
        }
        if stdin_ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => write_all(master.as_fd(), &buf[..n]),
            }
        }
    };
    if let Some(t) = saved {
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &t);
    }
    result
}

/// Copies whatever the master still holds to stdout, without waiting for more.
fn drain(master: &OwnedFd, buf: &mut [u8]) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(n)
                if n > 0
                    && fds[0]
                        .revents()
                        .is_some_and(|r| r.contains(PollFlags::POLLIN)) => {}
            _ => return,
        }
        match nix::unistd::read(master.as_raw_fd(), buf) {
            Ok(n) if n > 0 => write_all(std::io::stdout().as_fd(), &buf[..n]),
            _ => return,
        }
    }
}

fn write_all(fd: BorrowedFd, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

fn window_size(fd: BorrowedFd) -> nix::Result<libc::winsize> {
    crate::sys::window_size(fd)
}

/// `process.consoleSize` as the kernel's winsize (columns are the width, rows the height).
pub fn winsize_of(size: &oci_spec::runtime::Box) -> libc::winsize {
    libc::winsize {
        ws_row: size.height().min(u16::MAX as u64) as u16,
        ws_col: size.width().min(u16::MAX as u64) as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// Sets a pty's window size (`process.consoleSize`, or the caller's terminal's).
pub fn set_window_size(fd: BorrowedFd, ws: &libc::winsize) -> nix::Result<()> {
    crate::sys::set_window_size(fd, ws)
}

/// Opens a new pty pair from the container's /dev/ptmx (already resolved inside its rootfs):
/// the master, unlocked, and the peer opened from it with TIOCGPTPEER, so no path of the
/// container is trusted for the slave.
pub fn open_pty(ptmx: OwnedFd, owner: u32) -> Result<(OwnedFd, OwnedFd)> {
    crate::sys::unlock_pty(ptmx.as_fd()).context(|| "unlock the pty".into())?;
    let peer = crate::sys::open_pty_peer(ptmx.as_fd()).context(|| "open the pty peer".into())?;
    clear_onlcr(&peer)?;
    give_pty_to(&peer, owner)?;
    Ok((ptmx, peer))
}

/// The pty passes the program's output byte for byte: without ONLCR, which would turn each
/// "\n" into "\r\n" on the way to the caller (runc 1.2 clears it on the consoles it makes;
/// the caller's own terminal, which the output goes on to, does its own translation).
fn clear_onlcr(peer: &OwnedFd) -> Result<()> {
    use nix::sys::termios::{tcgetattr, tcsetattr, OutputFlags, SetArg};
    let mut t = tcgetattr(peer.as_fd()).context(|| "read the pty's settings".into())?;
    t.output_flags.remove(OutputFlags::ONLCR);
    tcsetattr(peer.as_fd(), SetArg::TCSANOW, &t).context(|| "clear ONLCR on the pty".into())
}

/// The pty belongs to the process's user (process.user.uid), so that it can use its own
/// terminal (chmod, `mesg`, programs that check the tty's owner); its group stays devpts's
/// (tty), as runc leaves it. runc does this to whatever stdio the process has, the caller's
/// terminal included; vrun only to the pty it made. An id the user namespace does not map
/// or a devpts that refuses is left as it is, as runc leaves it.
fn give_pty_to(peer: &OwnedFd, uid: u32) -> Result<()> {
    let st = nix::sys::stat::fstat(peer.as_raw_fd()).context(|| "stat the pty".into())?;
    if st.st_uid == uid {
        return Ok(());
    }
    match nix::unistd::fchown(
        peer.as_raw_fd(),
        Some(nix::unistd::Uid::from_raw(uid)),
        None,
    ) {
        Ok(())
        | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::EPERM | nix::errno::Errno::EROFS) => {
            Ok(())
        }
        Err(e) => Err(e).context(|| format!("give the pty to uid {uid} (process.user.uid)")),
    }
}
