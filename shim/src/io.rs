//! The container's stdio: containerd's fifos, given to the container itself.
//!
//! runc's shim copies between the fifos and pipes of its own, with a goroutine per stream;
//! this shim hands the fifos to the container (its writes go straight to containerd's
//! reader, with no copy and no thread), once containerd has opened its ends (as runc's shim
//! waits), and keeps what runc's shim keeps the fifos alive with: a read end of stdout and stderr (the container's writes do not fail while containerd
//! is away, as a restart), and a write end of stdin, closed by CloseIO (the container reads
//! EOF then, once containerd's writer has closed too).

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

pub struct Stdio {
    /// containerd's paths (stdin, stdout, stderr), "" for none.
    pub paths: [String; 3],
    /// The container's: stdin's read end, stdout's and stderr's write ends (or /dev/null).
    theirs: Vec<File>,
    /// The shim's: stdout's and stderr's read ends.
    kept: Vec<File>,
    stdin_writer: Option<File>,
}

impl Stdio {
    pub fn open(stdin: &str, stdout: &str, stderr: &str) -> std::io::Result<Stdio> {
        for path in [stdin, stdout, stderr] {
            if path.contains("://") {
                return Err(std::io::Error::other(format!(
                    "{path}: io as a URI (a log file or binary) is not supported yet"
                )));
            }
        }
        let mut io = Stdio {
            paths: [stdin.into(), stdout.into(), stderr.into()],
            theirs: Vec::new(),
            kept: Vec::new(),
            stdin_writer: None,
        };
        if stdin.is_empty() {
            io.theirs.push(File::open("/dev/null")?);
        } else {
            let reader = open_fifo(stdin, false)?;
            io.stdin_writer = Some(open_fifo(stdin, true)?);
            set_blocking(&reader)?;
            io.theirs.push(reader);
        }
        for path in [stdout, stderr] {
            if path.is_empty() {
                io.theirs
                    .push(OpenOptions::new().write(true).open("/dev/null")?);
            } else {
                // containerd's reader first, as runc's shim waits for it: data the container
                // writes before containerd has opened its end would be lost to a client that
                // gives up opening once the task is gone (ctr run --rm).
                io.theirs.push(open_writer_once_read(path)?);
                io.kept.push(open_fifo(path, false)?);
            }
        }
        Ok(io)
    }

    /// The fds the container's init gets as 0, 1 and 2.
    pub fn for_container(&self) -> Vec<RawFd> {
        self.theirs.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// After the create: the container holds its ends, the shim only what keeps them alive.
    pub fn keep(mut self) -> Stdio {
        self.theirs.clear();
        self
    }

    pub fn close_stdin(&mut self) {
        self.stdin_writer = None;
    }
}

/// A fifo's end, opened without blocking: a read end needs no writer with O_NONBLOCK, and a
/// write end is opened once a read end exists.
fn open_fifo(path: &str, write: bool) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("open {path}: {e}")))?;
    if write {
        set_blocking(&f)?;
    }
    Ok(f)
}

/// How long Create waits for containerd to open a fifo's read end.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The write end of a fifo, once a reader has it open (ENXIO until then).
fn open_writer_once_read(path: &str) -> std::io::Result<File> {
    let deadline = std::time::Instant::now() + READER_WAIT;
    loop {
        let opened = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path);
        match opened {
            Ok(f) => {
                set_blocking(&f)?;
                return Ok(f);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                if std::time::Instant::now() > deadline {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("{path}: containerd did not open it in {READER_WAIT:?}"),
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => return Err(std::io::Error::new(e.kind(), format!("open {path}: {e}"))),
        }
    }
}

fn set_blocking(f: &File) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(f.as_raw_fd(), FcntlArg::F_GETFL)?;
    let flags = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
    fcntl(f.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
    Ok(())
}
