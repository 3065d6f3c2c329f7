//! One file per command, each with its arguments and a `run` returning the exit status.

pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod disk;
pub mod docs;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod restore;
pub mod resume;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

pub type Result = std::result::Result<i32, vrun_runtime::Error>;
