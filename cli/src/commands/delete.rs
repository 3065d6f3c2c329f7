use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Kill a running container first (SIGKILL); succeed if it does not exist.
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    vrun_runtime::lifecycle::delete(&g.root, &a.id, a.force)?;
    Ok(0)
}
