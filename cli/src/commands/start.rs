use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    // With NOTIFY_SOCKET, until the container says it is ready (or ends), as with runc.
    if let Some(proxy) = vrun_runtime::Runtime::new(&g.root)
        .container(&a.id)?
        .start()?
    {
        proxy.wait()?;
    }
    Ok(0)
}
