use vrun_runtime::state::load_state;
use vrun_runtime::Error;

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// table (ps's own output, filtered to the container) or json (the pids).
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    pub id: String,
    /// Options for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    vrun_runtime::id::validate(&a.id)?;
    let state = load_state(&g.root.join(&a.id), &a.id)?;
    let pids = match &state.cgroup {
        Some(cg) => cg.pids()?,
        // rootless, without a cgroup of its own
        None => vrun_runtime::procfs::container_processes(state.pid, state.start_time),
    };
    if a.format == "json" {
        outln!(
            "{}",
            serde_json::to_string(&pids).unwrap_or_else(|_| "[]".into())
        );
        return Ok(0);
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::Io {
            what: "run ps".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Invalid("ps printed no PID column".into()))?;
    outln!("{header}");
    for line in lines {
        if let Some(pid) = line
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&pid) {
                outln!("{line}");
            }
        }
    }
    Ok(0)
}
