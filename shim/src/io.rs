//! The container's stdio: containerd's fifos, given to the container itself.
//!
//! runc's shim copies between the fifos and pipes of its own, with a goroutine per stream;
//! this shim hands the fifos to the container (its writes go straight to containerd's
//! reader, with no copy and no thread), once containerd has opened its ends (as runc's shim
//! waits), and keeps what runc's shim keeps the fifos alive with: a read end of stdout and stderr (the container's writes do not fail while containerd
//! is away, as a restart), and a write end of stdin, closed by CloseIO (the container reads
//! EOF then, once containerd's writer has closed too).
//!
//! A terminal is the exception: the container's end is a pty, so its master is copied to
//! containerd's stdout fifo and from its stdin fifo, a thread each (see [`Console`]), as
//! runc's shim copies its console. So is a log URI (log_uri.rs): pipes, to a logger binary
//! or a thread that appends to the file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub struct Stdio {
    /// containerd's paths (stdin, stdout, stderr), "" for none.
    pub paths: [String; 3],
    /// The container's: stdin's read end, stdout's and stderr's write ends (or /dev/null).
    theirs: Vec<File>,
    /// The shim's: stdout's and stderr's read ends.
    kept: Vec<File>,
    stdin_writer: Option<File>,
    console: Option<Console>,
    /// A `file://` log URI's copy.
    log_copy: Option<OutputCopied>,
}

/// Whose io it is: a logger binary is told (CONTAINER_ID, CONTAINER_NAMESPACE).
pub struct Owner<'a> {
    pub id: &'a str,
    pub namespace: &'a str,
}

/// A refused URI is the caller's input: InvalidInput (InvalidArgument for containerd).
fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

impl Stdio {
    pub fn open(stdin: &str, stdout: &str, stderr: &str, owner: &Owner) -> std::io::Result<Stdio> {
        let paths = [stdin.to_string(), stdout.to_string(), stderr.to_string()];
        let (log, stdout) = crate::log_uri::parse(stdout).map_err(invalid)?;
        let (stderr_log, stderr) = crate::log_uri::parse(stderr).map_err(invalid)?;
        if stderr_log.is_some() && log.is_none() {
            return Err(invalid(
                "stderr: a log URI is taken with the same for stdout only".into(),
            ));
        }
        if stdin.contains("://") {
            return Err(invalid(format!(
                "stdin {stdin:?}: a fifo's path, not a URI"
            )));
        }
        let mut io = Stdio {
            paths,
            theirs: Vec::new(),
            kept: Vec::new(),
            stdin_writer: None,
            console: None,
            log_copy: None,
        };
        if stdin.is_empty() {
            io.theirs.push(File::open("/dev/null")?);
        } else {
            let reader = open_fifo(stdin, false)?;
            io.stdin_writer = Some(open_fifo(stdin, true)?);
            set_blocking(&reader)?;
            io.theirs.push(reader);
        }
        if let Some(log) = log {
            io.open_log(log, owner)?;
            return Ok(io);
        }
        for path in [&stdout, &stderr] {
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

    /// stdout and stderr as pipes whose read ends go to the log's file or binary.
    fn open_log(&mut self, log: crate::log_uri::LogUri, owner: &Owner) -> std::io::Result<()> {
        let pipe = || -> std::io::Result<(File, File)> {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            Ok((File::from(r), File::from(w)))
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        self.theirs.push(out_w);
        self.theirs.push(err_w);
        match log {
            crate::log_uri::LogUri::File(path) => {
                self.log_copy = Some(copy_to_file(&path, [out_r, err_r])?);
            }
            crate::log_uri::LogUri::Binary { path, args } => {
                start_logger(&path, &args, owner, [out_r, err_r])?;
            }
        }
        Ok(())
    }

    /// What the exit of the process waits for: its terminal's or its log file's copy.
    pub fn output_copied(&self) -> Option<OutputCopied> {
        match &self.console {
            Some(c) => Some(c.output_copied()),
            None => self.log_copy.clone(),
        }
    }

    /// The fds the container's init gets as 0, 1 and 2.
    pub fn for_container(&self) -> Vec<RawFd> {
        self.theirs.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// After the create: the container holds its ends, the shim only what keeps them alive.
    pub fn keep(mut self) -> Stdio {
        self.drop_theirs();
        self
    }

    /// The shim's copies of the container's ends closed (its init holds them now).
    pub fn drop_theirs(&mut self) {
        self.theirs.clear();
    }

    /// The container's ends, for a restore that runs after the create (Start).
    pub fn take_theirs(&mut self) -> Vec<File> {
        std::mem::take(&mut self.theirs)
    }

    pub fn close_stdin(&mut self) {
        self.stdin_writer = None;
    }

    /// A terminal's: its pty master, copied to the stdout fifo and from the stdin fifo
    /// opened for the container (which gets neither: its stdio is the pty).
    pub fn attach_console(&mut self, master: OwnedFd) -> std::io::Result<()> {
        let mut theirs = std::mem::take(&mut self.theirs).into_iter();
        let (Some(stdin), Some(stdout)) = (theirs.next(), theirs.next()) else {
            return Err(std::io::Error::other("a terminal without stdin and stdout"));
        };
        self.console = Some(Console::start(master, stdin, stdout)?);
        Ok(())
    }

    pub fn console(&self) -> Option<&Console> {
        self.console.as_ref()
    }
}

/// A terminal's pty master and the two threads that copy it. Dropped, it ends the stdin
/// copier (a pipe it polls beside the fifo hangs up); the output copier ends when the last
/// holder of the pty's other end (the container's processes) has closed it.
pub struct Console {
    master: Arc<File>,
    output_done: Arc<(Mutex<bool>, Condvar)>,
    _stop: OwnedFd,
}

impl Console {
    fn start(master: OwnedFd, stdin: File, stdout: File) -> std::io::Result<Console> {
        let master = Arc::new(File::from(master));
        let (stop_reader, stop) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let output_done = Arc::new((Mutex::new(false), Condvar::new()));
        let (from, done) = (master.clone(), output_done.clone());
        std::thread::Builder::new()
            .name("tty-out".into())
            .spawn(move || {
                copy_output(&from, stdout);
                let (flag, cv) = &*done;
                *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
                cv.notify_all();
            })?;
        let to = master.clone();
        std::thread::Builder::new()
            .name("tty-in".into())
            .spawn(move || copy_input(stdin, &to, stop_reader))?;
        Ok(Console {
            master,
            output_done,
            _stop: stop,
        })
    }

    /// ResizePty.
    pub fn resize(&self, width: u32, height: u32) -> nix::Result<()> {
        let size = libc::winsize {
            ws_row: height.min(u16::MAX as u32) as u16,
            ws_col: width.min(u16::MAX as u32) as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        vrun_runtime::console::set_window_size(self.master.as_fd(), &size)
    }

    /// A handle to wait, once the process has exited, until its output is all copied.
    pub fn output_copied(&self) -> OutputCopied {
        OutputCopied(self.output_done.clone())
    }
}

/// See [`Console::output_copied`].
#[derive(Clone)]
pub struct OutputCopied(Arc<(Mutex<bool>, Condvar)>);

impl OutputCopied {
    fn new() -> OutputCopied {
        OutputCopied(Arc::new((Mutex::new(false), Condvar::new())))
    }

    fn set(&self) {
        let (flag, cv) = &*self.0;
        *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }
}

impl OutputCopied {
    /// Waits at most `timeout` (a process left in the background may hold the pty open).
    pub fn wait(&self, timeout: Duration) {
        let (flag, cv) = &*self.0;
        let done = flag.lock().unwrap_or_else(|e| e.into_inner());
        let _ = cv.wait_timeout_while(done, timeout, |done| !*done);
    }
}

/// How long a logger binary has to say it is ready (close fd 5).
const LOGGER_READY: Duration = Duration::from_secs(10);

/// A `file://` log: both streams appended to `path` by a thread, until every writer of both
/// pipes is gone.
fn copy_to_file(path: &std::path::Path, pipes: [File; 2]) -> std::io::Result<OutputCopied> {
    let at = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(at)?;
    }
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(at)?;
    let copied = OutputCopied::new();
    let done = copied.clone();
    std::thread::Builder::new()
        .name("log-file".into())
        .spawn(move || {
            copy_streams(pipes, file);
            done.set();
        })?;
    Ok(copied)
}

/// Reads both pipes as they have data, into `to`, until both reach EOF (or `to` fails).
fn copy_streams(pipes: [File; 2], mut to: File) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut open = [Some(&pipes[0]), Some(&pipes[1])];
    let mut buf = vec![0u8; 32 * 1024];
    while open.iter().any(Option::is_some) {
        let mut fds: Vec<PollFd> = open
            .iter()
            .flatten()
            .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
            .collect();
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(true)).collect();
        let mut ready = ready.into_iter();
        for slot in open.iter_mut().filter(|s| s.is_some()) {
            if !ready.next().unwrap_or(false) {
                continue;
            }
            let Some(mut f) = *slot else { continue };
            match f.read(&mut buf) {
                Ok(0) => *slot = None,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => *slot = None,
            }
        }
    }
}

/// A `binary://` log: the logger, with the read ends on its fds 3 and 4 and fd 5 to close
/// when ready, started and waited for (at most LOGGER_READY).
fn start_logger(
    path: &std::path::Path,
    args: &[String],
    owner: &Owner,
    pipes: [File; 2],
) -> std::io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut cmd = std::process::Command::new(path);
    cmd.args(args)
        .env_clear()
        .env("CONTAINER_ID", owner.id)
        .env("CONTAINER_NAMESPACE", owner.namespace)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    crate::sys::give_fds_from_3(
        &mut cmd,
        [
            pipes[0].as_raw_fd(),
            pipes[1].as_raw_fd(),
            ready_w.as_raw_fd(),
        ],
    );
    let mut child = cmd.spawn().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("start the logger {}: {e}", path.display()),
        )
    })?;
    drop((pipes, ready_w));
    let deadline = std::time::Instant::now() + LOGGER_READY;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut fds = [PollFd::new(ready_r.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
        ) {
            // (it closed fd 5, or wrote to it: ready either way; containerd-shim reaps it)
            Ok(n) if n > 0 => return Ok(()),
            // (a signal, SIGCHLD of another child, say)
            Err(nix::errno::Errno::EINTR) if !left.is_zero() => continue,
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(std::io::Error::other(format!(
        "the logger {} did not close fd 5 (ready) within {LOGGER_READY:?}",
        path.display()
    )))
}

/// The pty's output to containerd's stdout fifo, until the pty's other end is closed by
/// all (EIO) or the fifo fails.
fn copy_output(master: &File, mut stdout: File) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match (&*master).read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if stdout.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// containerd's stdin fifo to the pty, until EOF (every writer closed: CloseIO and
/// containerd's) or `stop` hangs up.
fn copy_input(mut stdin: File, master: &File, stop: OwnedFd) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = [
            PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
        if fds[1].any().unwrap_or(true) {
            return;
        }
        if !fds[0].any().unwrap_or(false) {
            continue;
        }
        match stdin.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if (&*master).write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
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
