use std::path::PathBuf;

use vrun_runtime::lifecycle::{self, CheckpointOptions, CriuOptions};

use crate::Global;

/// The flags checkpoint and restore share (runc's).
#[derive(clap::Args)]
pub struct CriuArgs {
    /// Directory for the images (default: ./checkpoint).
    #[arg(long = "image-path", value_name = "DIR")]
    pub image_path: Option<PathBuf>,
    /// Directory for CRIU's logs and work files (default: the image path).
    #[arg(long = "work-path", value_name = "DIR")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow a shell job (a process attached to a terminal outside).
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// How CRIU handles cgroups: soft, full, strict or ignore.
    #[arg(long = "manage-cgroups-mode", value_name = "MODE")]
    pub manage_cgroups_mode: Option<String>,
    /// Create a namespace of this type empty rather than restoring it (network); repeatable.
    #[arg(long = "empty-ns", value_name = "TYPE")]
    pub empty_ns: Vec<String>,
    /// Deduplicate the images as they are written.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
    /// Restore memory lazily (userfaultfd).
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
}

impl CriuArgs {
    pub fn options(&self, g: &Global) -> CriuOptions {
        let image_path = self
            .image_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("checkpoint"));
        CriuOptions {
            criu: g.criu.clone(),
            image_path: std::path::absolute(&image_path).unwrap_or(image_path),
            work_path: self
                .work_path
                .clone()
                .map(|p| std::path::absolute(&p).unwrap_or(p)),
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            manage_cgroups_mode: self.manage_cgroups_mode.clone(),
            empty_ns: self.empty_ns.clone(),
            auto_dedup: self.auto_dedup,
            lazy_pages: self.lazy_pages,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// The images of an earlier pre-dump, relative to the image path.
    #[arg(long = "parent-path", value_name = "DIR")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Skip TCP connections still being set up.
    #[arg(long = "tcp-skip-in-flight")]
    pub tcp_skip_in_flight: bool,
    /// Allow files that were unlinked but are still open (linked again for the dump).
    #[arg(long = "link-remap")]
    pub link_remap: bool,
    /// CRIU writes \0 to this fd when the dump is done.
    #[arg(long = "status-fd", value_name = "FD")]
    pub status_fd: Option<i32>,
    /// Send the pages to a CRIU page server at ADDRESS:PORT.
    #[arg(long = "page-server", value_name = "ADDRESS:PORT")]
    pub page_server: Option<String>,
    /// Dump memory only, leaving the container running (a later dump names it --parent-path).
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    lifecycle::checkpoint(&CheckpointOptions {
        root: g.root.clone(),
        id: a.id,
        criu: a.criu.options(g),
        parent_path: a.parent_path,
        leave_running: a.leave_running,
        tcp_skip_in_flight: a.tcp_skip_in_flight,
        link_remap: a.link_remap,
        status_fd: a.status_fd,
        page_server: a.page_server,
        pre_dump: a.pre_dump,
    })?;
    Ok(0)
}
