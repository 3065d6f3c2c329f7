//! The test's unsafe code: a forked child.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

/// Runs `body` in a forked child; its return value is the exit code.
pub fn in_child(body: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only makes syscalls and leaves with _exit, never returning into the
    // test harness's threads or allocator state.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let code = body();
            // SAFETY: _exit ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).unwrap() {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child ended with {other:?}"),
        },
    }
}
