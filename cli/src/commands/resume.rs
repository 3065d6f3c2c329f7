use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    vrun_runtime::lifecycle::resume(&g.root, &a.id)?;
    Ok(0)
}
