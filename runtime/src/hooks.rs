//! OCI hooks: each runs with the container's state JSON on stdin, its own args and env, and
//! an optional timeout after which it is killed.
//!
//! The state may be larger than a pipe holds (annotations: Kubernetes allows 256 KiB), and a
//! hook need not read it: it is written as the hook takes it, beside the wait for its exit,
//! and the timeout covers both. A hook that exits stops the writing, whatever is left (a
//! process it left behind may still hold the pipe). The hook leads a process group of its
//! own, which a timeout kills whole, and dies with the vrun process that started it.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// Runs `hooks` in order; the first failure stops the rest and is returned.
pub fn run(phase: &str, hooks: &[Hook], state_json: &str) -> Result<()> {
    for (i, hook) in hooks.iter().enumerate() {
        run_one(hook, state_json).map_err(|e| {
            Error::Invalid(format!(
                "{phase} hook #{i} ({}): {e}",
                hook.path().display()
            ))
        })?;
    }
    Ok(())
}

/// Like [`run`], but every hook runs and failures are returned as warnings (poststart and
/// poststop: the spec says log and go on).
pub fn run_all(phase: &str, hooks: &[Hook], state_json: &str) -> Vec<String> {
    hooks
        .iter()
        .enumerate()
        .filter_map(|(i, hook)| {
            run_one(hook, state_json)
                .err()
                .map(|e| format!("{phase} hook #{i} ({}): {e}", hook.path().display()))
        })
        .collect()
}

fn run_one(hook: &Hook, state_json: &str) -> std::result::Result<(), String> {
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .process_group(0);
    crate::sys::die_with_parent(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| format!("start: {e}"))?;
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(0) as u64));
    match feed_and_wait(&mut child, state_json.as_bytes(), deadline) {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("failed: {status}")),
        Err(Waited::PastDeadline) => {
            kill_group(&mut child);
            // runc's words
            Err(format!(
                "hook ran past specified timeout of {:.1}s",
                hook.timeout().unwrap_or_default() as f64
            ))
        }
        Err(Waited::Failed(e)) => {
            kill_group(&mut child);
            Err(e)
        }
    }
}

enum Waited {
    PastDeadline,
    Failed(String),
}

/// Writes `state` to the hook's stdin as it reads it, until all is written or the hook
/// exits, and waits for its exit, both until `deadline`.
fn feed_and_wait(
    child: &mut Child,
    state: &[u8],
    deadline: Option<Instant>,
) -> std::result::Result<std::process::ExitStatus, Waited> {
    let failed = |what: &str, e: &dyn std::fmt::Display| Waited::Failed(format!("{what}: {e}"));
    let mut stdin = child.stdin.take();
    // startContainer hooks run under the container's seccomp filter, which may refuse what
    // this needs beyond spawning and waiting: without a non-blocking pipe the state is
    // written as before (blocking), without a pidfd or poll(2) the exit is looked for every
    // 10 ms.
    if let Some(s) = stdin.as_mut() {
        if let Err(e) = crate::sys::set_nonblocking(s.as_fd()) {
            tracing::debug!("hook stdin: O_NONBLOCK refused ({e}): the state is written blocking");
            let _ = s.write_all(state);
            stdin = None;
        }
    }
    let pidfd = crate::sys::pidfd_open(child.id() as i32).ok();
    let mut can_poll = pidfd.is_some();
    let mut left = state;
    let mut pause = Duration::from_micros(100);
    loop {
        if let Some(status) = child.try_wait().map_err(|e| failed("wait", &e))? {
            return Ok(status);
        }
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if remaining == Some(Duration::ZERO) {
            return Err(Waited::PastDeadline);
        }
        match &pidfd {
            // Until the hook exits, can take more of the state, or the deadline comes.
            Some(p) if can_poll => {
                let mut fds = vec![PollFd::new(p.as_fd(), PollFlags::POLLIN)];
                if let Some(s) = &stdin {
                    fds.push(PollFd::new(s.as_fd(), PollFlags::POLLOUT));
                }
                match poll(&mut fds, remaining.map_or(PollTimeout::NONE, timeout_of)) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => {
                        tracing::debug!("hook: poll(2) refused ({e}): looked at every 10 ms");
                        can_poll = false;
                    }
                }
            }
            _ => {
                std::thread::sleep(remaining.map_or(pause, |r| r.min(pause)));
                pause = (pause * 2).min(Duration::from_millis(10));
            }
        }
        if let Some(s) = stdin.as_mut() {
            match s.write(left) {
                Ok(n) => left = &left[n..],
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) => {}
                // EPIPE: the hook does not read its stdin, which is its right
                Err(_) => left = &[],
            }
            if left.is_empty() {
                stdin = None;
            }
        }
    }
}

fn timeout_of(d: Duration) -> PollTimeout {
    // (rounded up: a poll that returns early only loops)
    let ms = d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

/// SIGKILL to the hook's process group (it leads one, see `run_one`: the hook itself among
/// them), then its exit.
fn kill_group(child: &mut Child) {
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
}
