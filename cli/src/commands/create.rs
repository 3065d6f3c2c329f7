use std::path::PathBuf;

use vrun_runtime::lifecycle::{ConsoleMode, CreateOptions};

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
    /// Unix socket to send a pidfd of the container's init to.
    #[arg(long = "pidfd-socket", value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// Do not use pivot_root (for a rootfs on a ramdisk).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3 .. 3+N-1) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Virtual disk: the root is an overlay with root.path as its lowest, never-modified
    /// layer and a writable upper layer of the container's own.
    #[arg(long)]
    pub overlay: bool,
    /// Another read-only layer above root.path (repeatable, lowest first; implies --overlay).
    #[arg(long = "layer", value_name = "DIR")]
    pub layers: Vec<PathBuf>,
    /// Keep the upper layer in DIR, which outlives the container (implies --overlay).
    #[arg(long = "upper-dir", value_name = "DIR")]
    pub upper_dir: Option<PathBuf>,
    /// The upper layer lives on a disk of exactly SIZE (e.g. 64M): an ext4 image on a loop
    /// device (implies --overlay).
    #[arg(long = "disk-size", value_name = "SIZE")]
    pub disk_size: Option<String>,
    /// With --disk-size: a size-limited tmpfs instead of an image (fast, volatile).
    #[arg(long = "disk-tmpfs")]
    pub disk_tmpfs: bool,
    /// io limits on the disk: rbps=N,wbps=N,riops=N,wiops=N (needs --disk-size).
    #[arg(long = "disk-io", value_name = "LIMITS")]
    pub disk_io: Option<String>,
    /// Keep the disk when the container is deleted (implies --overlay).
    #[arg(long = "keep-disk")]
    pub keep_disk: bool,
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
            rootless: g.rootless(),
            disk: vrun_runtime::disk::DiskOptions {
                overlay: self.overlay,
                layers: self.layers.clone(),
                upper_dir: self.upper_dir.clone(),
                size: self.disk_size.clone(),
                tmpfs: self.disk_tmpfs,
                io: self.disk_io.clone(),
                keep: self.keep_disk,
            },
            pidfd_socket: self.pidfd_socket.clone(),
            listen_fds: listen_fds(),
            starts_at_once: false,
            passed_fds: g.passed_fds.clone(),
        }
    }
}

pub fn run(g: &Global, a: Args) -> super::Result {
    let console = match &a.console_socket {
        Some(p) => ConsoleMode::Socket(p.clone()),
        None => ConsoleMode::None,
    };
    let opts = a.options(g);
    vrun_runtime::Runtime::new(&g.root).create(&opts.id, &opts.bundle, opts.clone(), console)?;
    Ok(0)
}

/// Socket activation: the fds systemd (or another activator) gave vrun, by LISTEN_FDS, when
/// LISTEN_PID names this process (sd_listen_fds' rule, which runc follows).
pub(crate) fn listen_fds() -> u32 {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    match std::env::var("LISTEN_FDS") {
        Ok(n) if for_us => n.parse().unwrap_or(0),
        _ => 0,
    }
}
