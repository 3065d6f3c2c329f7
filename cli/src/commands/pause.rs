use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    vrun_runtime::lifecycle::pause(&g.root, &a.id)?;
    Ok(0)
}
