use std::path::PathBuf;

use vrun_runtime::lifecycle::{self, RestoreOptions};

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub criu: super::checkpoint::CriuArgs,
    /// The bundle directory (holding config.json).
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Unix socket to send the pty master to.
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket to send a pidfd of the restored init to.
    #[arg(long = "pidfd-socket", value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// Return once the container is restored; do not wait for it.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the restored init's pid to FILE.
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Do not become the subreaper of the restored processes.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Do not use pivot_root (CRIU restores the mount namespace itself: accepted, as runc).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// The LSM profile to restore with (refused: vrun applies none on restore).
    #[arg(long = "lsm-profile", value_name = "TYPE:LABEL")]
    pub lsm_profile: Option<String>,
    /// The SELinux mount context (refused: vrun applies none).
    #[arg(long = "lsm-mount-context", value_name = "CONTEXT")]
    pub lsm_mount_context: Option<String>,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    lifecycle::restore(&RestoreOptions {
        root: g.root.clone(),
        id: a.id,
        bundle: a.bundle,
        criu: a.criu.options(g),
        detach: a.detach,
        pid_file: a.pid_file.map(|p| std::path::absolute(&p).unwrap_or(p)),
        pidfd_socket: a.pidfd_socket,
        console_socket: a.console_socket,
        no_subreaper: a.no_subreaper,
        no_pivot: a.no_pivot,
        lsm_profile: a.lsm_profile,
        lsm_mount_context: a.lsm_mount_context,
        systemd_cgroup: g.systemd_cgroup,
    })
}
