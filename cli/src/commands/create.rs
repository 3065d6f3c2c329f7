use std::path::PathBuf;

use vrun_runtime::lifecycle::{self, ConsoleMode, CreateOptions};

use crate::Global;

#[derive(clap::Args)]
#[group(skip)]
pub struct Args {
    /// The bundle directory (holding config.json).
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Unix socket to send the pty master to, when process.terminal is true.
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Write the container's init pid to FILE.
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root (for a rootfs on a ramdisk).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3 .. 3+N-1) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// The container id.
    pub id: String,
}

impl Args {
    pub fn options(&self, g: &Global) -> CreateOptions {
        CreateOptions {
            root: g.root.clone(),
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self
                .pid_file
                .clone()
                .map(|p| std::path::absolute(&p).unwrap_or(p)),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            systemd_cgroup: g.systemd_cgroup,
        }
    }
}

pub fn run(g: &Global, a: Args) -> super::Result {
    let console = match &a.console_socket {
        Some(p) => ConsoleMode::Socket(p.clone()),
        None => ConsoleMode::None,
    };
    lifecycle::create(&a.options(g), console)?;
    Ok(0)
}
