use vrun_runtime::lifecycle::{self, RunOptions};

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub create: super::create::Args,
    /// Return once the process has started; do not wait for it.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after its process exits.
    #[arg(long)]
    pub keep: bool,
    /// Do not become the subreaper of the container's orphaned processes.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    let opts = RunOptions {
        create: lifecycle::CreateOptions {
            starts_at_once: true,
            ..a.create.options(g)
        },
        console_socket: a.create.console_socket.clone(),
        detach: a.detach,
        keep: a.keep,
        no_subreaper: a.no_subreaper,
    };
    lifecycle::run(&opts)
}
