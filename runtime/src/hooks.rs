//! OCI hooks: each runs with the container's state JSON on stdin, its own args and env, and
//! an optional timeout after which it is killed.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| format!("start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine (EPIPE).
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let mut pause = Duration::from_micros(100);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("failed: {status}")),
            Ok(None) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or_default()
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}
