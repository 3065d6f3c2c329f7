use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    let (state, s) = vrun_runtime::Runtime::new(&g.root)
        .container(&a.id)?
        .state()?;
    let text = serde_json::to_string_pretty(&state.spec_state(s))
        .map_err(|e| vrun_runtime::Error::Invalid(e.to_string()))?;
    outln!("{text}");
    Ok(0)
}
