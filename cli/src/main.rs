//! `vrun`: an OCI container runtime, called exactly as runc is (containerd's shim, podman's
//! conmon, or a person). Parses arguments, sets up logging, calls `vrun_runtime`, and turns
//! errors into one line and exit status 1.

/// println! to stdout that ends vrun quietly when stdout is a closed pipe (`vrun list | head
/// -1`): runc is killed by SIGPIPE there, which vrun ignores for its own pipes, so it exits
/// 141, the status a shell gives that death, instead of panicking in println!.
macro_rules! outln {
    ($($t:tt)*) => { $crate::write_stdout(format_args!("{}\n", format_args!($($t)*))) };
}
/// print! to stdout, as [`outln`].
macro_rules! out {
    ($($t:tt)*) => { $crate::write_stdout(format_args!($($t)*)) };
}

mod commands;
mod logging;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0");

#[derive(Parser)]
#[command(name = "vrun", version = VERSION, about = "vrun: an OCI container runtime (runc-compatible)", propagate_version = true, disable_version_flag = true)]
pub(crate) struct Cli {
    /// Print the version (runc's -v).
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: (),
    /// Directory for container state [default: /run/vrun, or $XDG_RUNTIME_DIR/vrun for an
    /// unprivileged caller]
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Run as a rootless runtime: cgroups are used only where the caller may make them
    /// (auto: when not run by root). Before the command, as with runc (`spec --rootless` is
    /// another flag).
    #[arg(long, default_value = "auto", value_parser = ["auto", "true", "false"], value_name = "auto|true|false")]
    rootless: String,
    /// Write log lines to FILE (default: stderr).
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Log line format.
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Log debug messages too.
    #[arg(long, global = true)]
    debug: bool,
    /// Place cgroups through systemd: cgroupsPath is slice:prefix:name, the cgroup a transient
    /// scope unit.
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// The CRIU binary checkpoint and restore run.
    #[arg(long, global = true, default_value = "criu", value_name = "PATH")]
    criu: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a container: everything up to the user's process, which waits for `start`.
    Create(Deferred<commands::create::Args>),
    /// Start the user's process of a created container.
    Start(Deferred<commands::start::Args>),
    /// Print a container's state as JSON.
    State(Deferred<commands::state::Args>),
    /// Send a signal to a container's init (or, with --all, to all its processes).
    Kill(Deferred<commands::kill::Args>),
    /// Delete a container and everything it holds.
    Delete(Deferred<commands::delete::Args>),
    /// Create and start a container; wait for it and delete it unless --detach.
    Run(Deferred<commands::run::Args>),
    /// Run a new process inside a container.
    Exec(Deferred<commands::exec::Args>),
    /// List the processes running in a container.
    Ps(Deferred<commands::ps::Args>),
    /// List containers.
    List(Deferred<commands::list::Args>),
    /// Write a default config.json.
    Spec(Deferred<commands::spec::Args>),
    /// Print the features this runtime supports, as JSON.
    Features,
    /// Stream a container's resource usage and OOM events as JSON lines (--stats: once).
    Events(Deferred<commands::events::Args>),
    /// Freeze every process of a running container.
    Pause(Deferred<commands::pause::Args>),
    /// Thaw a paused container.
    Resume(Deferred<commands::resume::Args>),
    /// Change the resource limits of a container.
    Update(Deferred<commands::update::Args>),
    /// Write a running container to disk with CRIU (it ends, unless --leave-running).
    Checkpoint(Deferred<commands::checkpoint::Args>),
    /// Bring a checkpointed container back from its images.
    Restore(Deferred<commands::restore::Args>),
    /// The containers' virtual disks (--overlay).
    #[command(subcommand)]
    Disk(commands::disk::Command),
    /// Print a shell completion script (bash, zsh or fish).
    Completion(Deferred<commands::docs::CompletionArgs>),
    /// Print a man page (roff): vrun's, or a command's.
    Man(Deferred<commands::docs::ManArgs>),
}

/// A command's own flags, defined only once clap enters that command (`Command::defer`).
/// clap's derive defines every command's flags on every invocation: for `vrun list` that
/// was 200 KB of definitions run for the other commands, and 120 KB of heap, in the peak RSS
/// of each command a container engine calls (issue 14). Help, completions and man pages
/// build the whole tree as before (`Command::build` runs what was deferred).
pub(crate) struct Deferred<T>(T);

impl<T: clap::Args> clap::Args for Deferred<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args_for_update)
    }
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }
    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Deferred)
    }
    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
    fn update_from_arg_matches_mut(
        &mut self,
        matches: &mut clap::ArgMatches,
    ) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

/// The global flags every command sees.
pub struct Global {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    /// `--criu`: the CRIU binary.
    pub criu: PathBuf,
    /// `--rootless`: Some when given as true or false, None for auto (see [`Global::rootless`]).
    rootless: Option<bool>,
    /// create, run, exec: the fds of the caller the process gets, reserved first thing.
    pub passed_fds: Option<vrun_runtime::passed_fds::PassedFds>,
}

impl Global {
    /// Cgroups only where the caller may make them (see `CreateOptions::rootless`); runc's
    /// "auto" is: not the real root. Worked out only by the commands that use it.
    pub fn rootless(&self) -> bool {
        self.rootless.unwrap_or_else(|| {
            !nix::unistd::geteuid().is_root() || vrun_cgroup::in_user_namespace()
        })
    }
}

/// runc's rule: an unprivileged caller keeps its state in its own runtime directory,
/// $XDG_RUNTIME_DIR/vrun (where it may write, and which goes with its session), and so does
/// root inside a user namespace when $USER is not root (rootless podman runs the runtime
/// there); the real root, and a caller without one, in /run/vrun.
fn default_root() -> PathBuf {
    // (the user namespace is looked at only where it decides)
    let unprivileged = || {
        !nix::unistd::geteuid().is_root()
            || (std::env::var("USER").map_or(true, |u| u != "root")
                && vrun_cgroup::in_user_namespace())
    };
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) if unprivileged() => PathBuf::from(dir).join("vrun"),
        _ => PathBuf::from("/run/vrun"),
    }
}

/// The numbers LISTEN_FDS and `--preserve-fds` hand to the process, held for it (see
/// vrun_runtime::passed_fds) by the commands that start one.
fn reserve_passed_fds(
    command: &Command,
) -> vrun_runtime::Result<Option<vrun_runtime::passed_fds::PassedFds>> {
    use vrun_runtime::passed_fds::PassedFds;
    let count = match command {
        Command::Create(Deferred(a)) => a
            .preserve_fds
            .saturating_add(commands::create::listen_fds()),
        Command::Run(Deferred(a)) => a
            .create
            .preserve_fds
            .saturating_add(commands::create::listen_fds()),
        Command::Exec(Deferred(a)) => a.preserve_fds,
        _ => return Ok(None),
    };
    PassedFds::reserve(count, "--preserve-fds").map(Some)
}

fn main() -> ExitCode {
    // CVE-2019-5736 (see below): the re-exec comes first, before the arguments are parsed,
    // when they name a command that may need it, so that the first image does no more than
    // it must (parsing them twice cost create, run and exec about 1 ms). A wrong guess (an
    // argument that happens to be "run") costs a re-exec, nothing else; an error is left to
    // the check below, which reports it once logging is set up. On the static x86_64 build
    // cli/src/entry.c has usually done it already, before glibc started: this is the way
    // for whatever it leaves (other builds, paths it does not take, the memfd fallback).
    if std::env::args_os()
        .skip(1)
        .any(|a| a == "create" || a == "run" || a == "exec")
    {
        let _ = vrun_runtime::selfclone::ensure_protected_exe();
    }
    let cli = Cli::parse();
    // Before vrun opens an fd of its own, the --log file first (see passed_fds).
    let passed_fds = match reserve_passed_fds(&cli.command) {
        Ok(p) => p,
        Err(e) => {
            logging::error(&e.to_string());
            return ExitCode::from(1);
        }
    };
    let format = if cli.log_format == "json" {
        logging::Format::Json
    } else {
        logging::Format::Text
    };
    if let Err(e) = logging::init(cli.log.as_deref(), format, cli.debug) {
        logging::error(&e);
        return ExitCode::from(1);
    }
    // CVE-2019-5736: these commands put a vrun process into the container. (A no-op when
    // the re-exec above happened: the binary is then one no one can write.)
    if matches!(
        cli.command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    ) {
        if let Err(e) = vrun_runtime::selfclone::ensure_protected_exe() {
            logging::error(&e.to_string());
            return ExitCode::from(1);
        }
    }
    // With --debug, every command says what it was asked and how it ended (runc's --debug
    // is read the same way: level=debug lines on stderr or in --log). After the
    // re-exec above, so that it is said once.
    tracing::debug!(
        "vrun {}: {}",
        env!("CARGO_PKG_VERSION"),
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    let global = Global {
        root: cli.root.unwrap_or_else(default_root),
        systemd_cgroup: cli.systemd_cgroup,
        criu: cli.criu,
        rootless: match cli.rootless.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        passed_fds,
    };
    // A failed exec exits 255, as runc's does: clients tell it from the process's own status.
    let failure = match cli.command {
        Command::Exec(_) => 255,
        _ => 1,
    };
    let result = match cli.command {
        Command::Create(Deferred(a)) => commands::create::run(&global, a),
        Command::Start(Deferred(a)) => commands::start::run(&global, a),
        Command::State(Deferred(a)) => commands::state::run(&global, a),
        Command::Kill(Deferred(a)) => commands::kill::run(&global, a),
        Command::Delete(Deferred(a)) => commands::delete::run(&global, a),
        Command::Run(Deferred(a)) => commands::run::run(&global, a),
        Command::Exec(Deferred(a)) => commands::exec::run(&global, a),
        Command::Ps(Deferred(a)) => commands::ps::run(&global, a),
        Command::List(Deferred(a)) => commands::list::run(&global, a),
        Command::Spec(Deferred(a)) => commands::spec::run(a),
        Command::Features => commands::features::run(),
        Command::Events(Deferred(a)) => commands::events::run(&global, a),
        Command::Pause(Deferred(a)) => commands::pause::run(&global, a),
        Command::Resume(Deferred(a)) => commands::resume::run(&global, a),
        Command::Update(Deferred(a)) => commands::update::run(&global, a),
        Command::Checkpoint(Deferred(a)) => commands::checkpoint::run(&global, a),
        Command::Restore(Deferred(a)) => commands::restore::run(&global, a),
        Command::Disk(c) => commands::disk::run(&global, c),
        Command::Completion(Deferred(a)) => commands::docs::completion(a),
        Command::Man(Deferred(a)) => commands::docs::man(a),
    };
    match result {
        Ok(code) => {
            tracing::debug!("done: exit status {code}");
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        Err(e) => {
            logging::error(&e.to_string());
            ExitCode::from(failure)
        }
    }
}

/// See [`outln`].
pub fn write_stdout(text: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("vrun: write to stdout: {e}");
        std::process::exit(1);
    }
}
