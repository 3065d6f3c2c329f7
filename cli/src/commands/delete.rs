use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Kill a running container first (SIGKILL); succeed if it does not exist.
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    vrun_runtime::Runtime::new(&g.root)
        .container(&a.id)?
        .delete(a.force)?;
    Ok(0)
}
