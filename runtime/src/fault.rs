//! Fault injection for tests: with `VRUN_TEST_STOP_AT=<step>`, `create` stops itself (SIGSTOP)
//! at that step, so that a test can SIGKILL it exactly there and check that
//! `delete --force` leaves nothing behind. It only ever affects the process that was given
//! the variable.

/// The named steps of `create`, in order.
pub const CREATE_STEPS: [&str; 6] = ["state-dir", "cgroup", "cloned", "placed", "ready", "saved"];

pub(crate) fn stop_point(step: &str) {
    if std::env::var_os("VRUN_TEST_STOP_AT").is_some_and(|v| v == step) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
}
