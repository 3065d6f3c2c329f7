use std::path::PathBuf;

use vrun_runtime::lifecycle::{self, ExecOptions};

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// A process.json to run instead of ARGS.
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Give the process a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket to send the pty master to (with --tty).
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Return once the process has started.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid to FILE.
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Set an environment variable (NAME=value); repeatable.
    #[arg(short, long, value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// `uid[:gid]` to run as.
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Additional gids; repeatable.
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Add a capability (CAP_X); repeatable.
    #[arg(short, long, value_name = "CAP")]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Pass N extra fds (3 .. 3+N-1) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Unix socket to send a pidfd of the process to.
    #[arg(long = "pidfd-socket", value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// Run in an existing sub-cgroup of the container's: [CONTROLLER[,...]:]PATH; repeatable.
    #[arg(long, value_name = "[CONTROLLER:]PATH")]
    pub cgroup: Vec<String>,
    /// Exec even if the container is paused (the process starts frozen).
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// The SELinux label of the process.
    #[arg(long = "process-label", value_name = "LABEL")]
    pub process_label: Option<String>,
    /// The AppArmor profile of the process.
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> super::Result {
    let opts = ExecOptions {
        root: g.root.clone(),
        id: a.id,
        process_file: a.process,
        args: a.args,
        tty: a.tty,
        env: a.env,
        cwd: a.cwd,
        user: a.user,
        additional_gids: a.additional_gids,
        caps: a.cap,
        no_new_privs: a.no_new_privs,
        console_socket: a.console_socket,
        detach: a.detach,
        console_to_caller: false,
        pid_file: a.pid_file.map(|p| std::path::absolute(&p).unwrap_or(p)),
        preserve_fds: a.preserve_fds,
        pidfd_socket: a.pidfd_socket,
        sub_cgroups: lifecycle::exec::parse_sub_cgroups(&a.cgroup)?,
        ignore_paused: a.ignore_paused,
        process_label: a.process_label,
        apparmor: a.apparmor,
        passed_fds: g.passed_fds.clone(),
    };
    let detach = opts.detach;
    let process = vrun_runtime::Runtime::new(&g.root)
        .container(&opts.id)?
        .exec(opts)?;
    match detach {
        true => Ok(0),
        false => process.wait(),
    }
}
