use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Signal every process in the container's cgroup, not only init.
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    /// A signal name (TERM, SIGTERM) or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    let signal = vrun_runtime::signals::parse(&a.signal)?;
    vrun_runtime::Runtime::new(&g.root)
        .container(&a.id)?
        .kill(signal, a.all)?;
    Ok(0)
}
