//! `vrun disk list`: each container's virtual disk.

use crate::Global;

#[derive(clap::Subcommand)]
pub enum Command {
    /// List the disks: layers, upper layer, size, space used on the host.
    List(ListArgs),
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

pub fn run(g: &Global, c: Command) -> super::Result {
    match c {
        Command::List(a) => list(g, a),
    }
}

fn human(bytes: Option<u64>) -> String {
    match bytes {
        None => "-".into(),
        Some(b) if b >= 1 << 30 => format!("{:.1}G", b as f64 / (1u64 << 30) as f64),
        Some(b) if b >= 1 << 20 => format!("{:.1}M", b as f64 / (1u64 << 20) as f64),
        Some(b) if b >= 1 << 10 => format!("{:.1}K", b as f64 / 1024.0),
        Some(b) => format!("{b}B"),
    }
}

fn list(g: &Global, a: ListArgs) -> super::Result {
    let rows = vrun_runtime::state::disks(&g.root)?;
    if a.format == "json" {
        outln!(
            "{}",
            serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into())
        );
        return Ok(0);
    }
    let mut table = vec![["ID", "STATUS", "KIND", "SIZE", "USED", "UPPER", "LAYERS"]
        .map(String::from)
        .to_vec()];
    for r in &rows {
        let layers: Vec<String> = r.layers.iter().map(|l| l.display().to_string()).collect();
        table.push(vec![
            r.id.clone(),
            r.status.clone(),
            r.kind.clone(),
            human(r.size),
            human(r.used),
            r.upper.display().to_string(),
            layers.join(":"),
        ]);
    }
    out!("{}", super::list::columns(&table));
    Ok(0)
}
