//! One module per lifecycle verb; each takes the state root and a container id.

pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod kill;
pub mod pause;
pub mod resume;
pub mod run;
pub mod start;
pub mod update;

pub use checkpoint::{checkpoint, restore, CheckpointOptions, CriuOptions, RestoreOptions};
pub use create::{create, ConsoleMode, CreateOptions, Created};
pub use delete::delete;
pub use events::{events, parse_duration};
pub use exec::{exec, ExecOptions};
pub use kill::kill;
pub use pause::pause;
pub use resume::resume;
pub use run::{run, RunOptions};
pub use start::start;
pub use update::{update, UpdateOptions};

/// Clones a process (init, or an exec'd one) that is to join `join`'s cgroup: into its v2
/// directory when there is one and `born_in_v2` allows it (clone3's CLONE_INTO_CGROUP, see
/// vrun_cgroup::SelfJoin). Returns the clone's result and whether the process then needs no
/// move on v2: born there, or no v2 directory. False without a `join`, or when clone3
/// refused the cgroup (an old kernel, a cgroup with children): the parent moves it then.
pub(crate) fn clone_joining(
    flags: nix::sched::CloneFlags,
    join: Option<&vrun_cgroup::SelfJoin>,
    born_in_v2: bool,
) -> (nix::Result<vrun_isolation::CloneResult>, bool) {
    use vrun_isolation::clone_process;
    match join.map(|j| j.v2_dir()) {
        None => (clone_process(flags), false),
        Some(None) => (clone_process(flags), true),
        Some(Some(_)) if !born_in_v2 => (clone_process(flags), false),
        Some(Some(dir)) => match vrun_isolation::clone_process_into(flags, dir) {
            Ok(r) => (Ok(r), true),
            Err(e) => {
                tracing::debug!("clone3 into the v2 cgroup: {e}: the process is moved there");
                (clone_process(flags), false)
            }
        },
    }
}

/// The parent's side of a [`clone_joining`]: waits for the child's `joined` report and says
/// whether the process is wholly in its cgroup (else the parent moves it, as before).
pub(crate) fn child_joined(
    channel: &crate::sync::Channel,
    born_placed: bool,
) -> crate::error::Result<bool> {
    let why_not = channel.expect(crate::sync::JOINED, "the process to join its cgroup")?;
    if !why_not.is_empty() {
        tracing::debug!(
            "the process did not join its cgroup ({}): the parent moves it",
            String::from_utf8_lossy(&why_not)
        );
    }
    Ok(why_not.is_empty() && born_placed)
}
