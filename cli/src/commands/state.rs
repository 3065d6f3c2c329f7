use vrun_runtime::state::{load_state, status};

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    vrun_runtime::id::validate(&a.id)?;
    let dir = g.root.join(&a.id);
    let state = load_state(&dir, &a.id)?;
    let s = status(&dir, &state);
    let text = serde_json::to_string_pretty(&state.spec_state(s))
        .map_err(|e| vrun_runtime::Error::Invalid(e.to_string()))?;
    outln!("{text}");
    Ok(0)
}
