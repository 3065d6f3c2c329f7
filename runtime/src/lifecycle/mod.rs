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
