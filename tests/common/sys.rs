//! The tests' raw system calls (fd passing, a seccomp agent, a pty's size): the only unsafe
//! code of the tests, as `sys.rs` modules are of the crates.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

use std::os::fd::AsRawFd as _;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `fd` the child's fd 3: the one `--preserve-fds 1` hands to the container.
pub fn pass_as_fd3(cmd: &mut Command, fd: std::os::fd::RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: dup2 is async-signal-safe; the closure runs in the forked child before exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep the close-on-exec flag: clear it instead.
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A seccomp notify agent for the tests: the receiving end of SCMP_ACT_NOTIFY.
pub mod seccomp_agent {
    use std::io::IoSliceMut;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::net::UnixStream;

    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

    /// The payload (container process state) and the listener fd of one message.
    pub fn recv_state_and_fd(conn: &UnixStream) -> (Vec<u8>, OwnedFd) {
        let mut buf = vec![0u8; 64 * 1024];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut fd = None;
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: SCM_RIGHTS gave this process a new fd that nothing else owns.
                fd = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
            }
        }
        let n = msg.bytes;
        buf.truncate(n);
        (buf, fd.expect("no fd in the listener message"))
    }

    #[repr(C)]
    #[derive(Default)]
    struct Notif {
        id: u64,
        pid: u32,
        flags: u32,
        nr: i32,
        arch: u32,
        ip: u64,
        args: [u64; 6],
    }

    #[repr(C)]
    struct Resp {
        id: u64,
        val: i64,
        error: i32,
        flags: u32,
    }

    const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
    const NOTIF_SEND: libc::c_ulong = 0xc018_2101;

    /// Waits for one notification: (its id, the pid of the process that made the call, as
    /// this process's pid namespace numbers it, and the syscall number).
    pub fn receive(listener: &OwnedFd) -> (u64, u32, i32) {
        try_receive(listener)
            .unwrap_or_else(|| panic!("NOTIF_RECV: {}", std::io::Error::last_os_error()))
    }

    /// [`receive`], or None once the filter's processes are gone.
    pub fn try_receive(listener: &OwnedFd) -> Option<(u64, u32, i32)> {
        let mut n = Notif::default();
        // SAFETY: NOTIF_RECV fills a struct seccomp_notif, which Notif mirrors.
        let rc = unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_RECV, &mut n as *mut Notif) };
        (rc == 0).then_some((n.id, n.pid, n.nr))
    }

    /// Lets the call of notification `id` go on as if no filter had stopped it
    /// (SECCOMP_USER_NOTIF_FLAG_CONTINUE). False if its process has gone meanwhile.
    pub fn let_it_continue(listener: &OwnedFd, id: u64) -> bool {
        let resp = Resp {
            id,
            val: 0,
            error: 0,
            flags: 1,
        };
        // SAFETY: NOTIF_SEND reads a struct seccomp_notif_resp, which Resp mirrors.
        unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_SEND, &resp as *const Resp) == 0 }
    }

    /// Waits for one notification and answers it: success when `errno` is 0. Returns the
    /// syscall number.
    pub fn answer(listener: &OwnedFd, errno: i32) -> i32 {
        let mut n = Notif::default();
        // SAFETY: NOTIF_RECV fills a struct seccomp_notif, which Notif mirrors.
        let rc = unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_RECV, &mut n as *mut Notif) };
        assert_eq!(rc, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
        let resp = Resp {
            id: n.id,
            val: 0,
            error: -errno,
            flags: 0,
        };
        // SAFETY: NOTIF_SEND reads a struct seccomp_notif_resp, which Resp mirrors.
        let rc = unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_SEND, &resp as *const Resp) };
        assert_eq!(rc, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
        n.nr
    }
}

/// One fd sent with SCM_RIGHTS over `conn` (a console socket's pty master).
pub fn recv_fd(conn: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(conn),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the fd was just received and nothing else owns it.
            return unsafe {
                <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[0])
            };
        }
    }
    panic!("no fd received");
}

/// The window size of a pty (rows, columns).
pub fn pty_size(fd: std::os::fd::BorrowedFd) -> (u16, u16) {
    // SAFETY: a zeroed winsize is valid; TIOCGWINSZ fills the one the pointer names.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: `ws` outlives the call, which writes only it.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            libc::TIOCGWINSZ,
            &mut ws,
        )
    };
    assert_eq!(rc, 0, "TIOCGWINSZ: {}", std::io::Error::last_os_error());
    (ws.ws_row, ws.ws_col)
}

/// The child gets exactly these fds beyond stdio: `(fd of ours, number in the child)`. Every
/// other fd up to 1023 is closed in it, so that nothing the test process inherited (from
/// cargo, a CI runner) is taken for one of vrun's.
pub fn with_only_fds(cmd: &mut Command, fds: Vec<(i32, i32)>) {
    // SAFETY: only dup/dup2/close, which are async-signal-safe, run in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut moved = Vec::new();
            for (from, to) in &fds {
                let high = libc::fcntl(*from, libc::F_DUPFD, 1024);
                if high < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                moved.push((high, *to));
            }
            for (high, to) in &moved {
                if libc::dup2(*high, *to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(*high);
            }
            for fd in 3..1024 {
                if !moved.iter().any(|(_, to)| *to == fd) {
                    libc::close(fd);
                }
            }
            Ok(())
        });
    }
}

/// pidfd_send_signal(2).
pub fn pidfd_signal(fd: &std::os::fd::OwnedFd, sig: i32) {
    // SAFETY: integer arguments and an open pidfd.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "pidfd_send_signal: {}",
        std::io::Error::last_os_error()
    );
}
