use std::path::PathBuf;

use vrun_runtime::Error;

#[derive(clap::Args)]
pub struct Args {
    /// A config for an unprivileged user (user namespace, no network namespace).
    #[arg(long)]
    pub rootless: bool,
    /// Where to write config.json.
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
}

pub fn run(a: Args) -> super::Result {
    let path = a.bundle.join("config.json");
    if path.exists() {
        return Err(Error::Invalid(format!(
            "{} already exists; remove it first",
            path.display()
        )));
    }
    let spec = vrun_runtime::spec_default::default_spec(
        a.rootless,
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    let text = serde_json::to_string_pretty(&spec).map_err(|e| Error::Invalid(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::Io {
        what: format!("write {}", path.display()),
        source: e,
    })?;
    Ok(0)
}
