//! `vrun completion SHELL` and `vrun man [COMMAND]`: shell completions and man pages made
//! from the clap definitions themselves (clap_complete, clap_mangen), so they cannot drift
//! from the flags. The Debian package (integration/package/build-deb.sh) installs them.

use std::io::Write;

use clap::CommandFactory;

#[derive(clap::Args)]
pub struct CompletionArgs {
    /// The shell to write the completion script for.
    #[arg(value_parser = ["bash", "zsh", "fish"])]
    pub shell: String,
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// The command whose page to write (vrun's own page when none).
    pub command: Option<String>,
}

pub fn completion(a: CompletionArgs) -> super::Result {
    use clap_complete::Shell;
    let shell = match a.shell.as_str() {
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        _ => Shell::Bash,
    };
    let mut cmd = crate::Cli::command();
    clap_complete::generate(shell, &mut cmd, "vrun", &mut std::io::stdout());
    Ok(0)
}

pub fn man(a: ManArgs) -> super::Result {
    let mut cmd = crate::Cli::command();
    cmd.build();
    let page = match &a.command {
        None => cmd,
        Some(name) => {
            let sub = cmd.find_subcommand(name).cloned().ok_or_else(|| {
                vrun_runtime::Error::Invalid(format!("man: vrun has no command {name:?}"))
            })?;
            // vrun-create(8), as runc's pages are named
            sub.name(format!("vrun-{name}"))
        }
    };
    let mut out = Vec::new();
    // (the version without the spec line `--version` adds)
    clap_mangen::Man::new(page.version(env!("CARGO_PKG_VERSION")))
        .section("8")
        .render(&mut out)
        .map_err(|e| vrun_runtime::Error::Invalid(format!("man: {e}")))?;
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| vrun_runtime::Error::Invalid(format!("man: {e}")))?;
    Ok(0)
}
