use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    vrun_runtime::Runtime::new(&g.root)
        .container(&a.id)?
        .pause()?;
    Ok(0)
}
