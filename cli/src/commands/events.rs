use std::io::Write;

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Print the container's resource usage once and exit.
    #[arg(long)]
    pub stats: bool,
    /// Time between stats events (a Go duration: 5s, 500ms, 1m).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    let interval = vrun_runtime::lifecycle::parse_duration(&a.interval)?;
    let stdout = std::io::stdout();
    vrun_runtime::Runtime::new(&g.root)
        .container(&a.id)?
        .events(a.stats, interval, |event| {
            let Ok(line) = serde_json::to_string(event) else {
                return false;
            };
            let mut out = stdout.lock();
            // A reader that went away (a closed pipe) ends the stream at the next event.
            writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
        })?;
    Ok(0)
}
