use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Print only the ids.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    let all = vrun_runtime::Runtime::new(&g.root).list()?;
    if a.quiet {
        for (s, _) in &all {
            outln!("{}", s.id);
        }
        return Ok(0);
    }
    if a.format == "json" {
        let states: Vec<_> = all.iter().map(|(s, st)| s.spec_state(*st)).collect();
        outln!(
            "{}",
            serde_json::to_string(&states).unwrap_or_else(|_| "[]".into())
        );
        return Ok(0);
    }
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        .map(String::from)
        .to_vec()];
    for (s, st) in &all {
        let pid = if *st == vrun_runtime::state::Status::Stopped {
            0
        } else {
            s.pid
        };
        rows.push(vec![
            s.id.clone(),
            pid.to_string(),
            st.to_string(),
            s.bundle.display().to_string(),
            s.created.clone(),
            s.owner.clone(),
        ]);
    }
    out!("{}", columns(&rows));
    Ok(0)
}

/// Left-aligned columns, each at least 12 wide with 3 spaces of padding (runc's tabwriter).
pub(crate) fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, String::len))
                .max()
                .unwrap_or(0)
                .saturating_add(3)
                .max(12)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}
