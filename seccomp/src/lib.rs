//! OCI `linux.seccomp` to a BPF filter of vrun's own making ([`compile()`]), loaded with
//! seccomp(2) ([`load`]), and the SCMP_ACT_NOTIFY listener hand-over ([`notify`]).

pub mod arch;
mod bpf;
pub mod compile;
mod error;
pub mod notify;
pub mod profile;
mod sys;
mod tables;

use std::os::fd::OwnedFd;

pub use compile::{compile, Filter};
pub use error::Error;
pub use profile::{Action, Arch, Arg, Flag, Op, Profile, SyscallRule};

/// Checks a profile the way `create` will compile it, naming the field on error.
pub fn validate(profile: &Profile) -> Result<(), Error> {
    compile(profile, arch::native()).map(|_| ())
}

/// Loads the filter into the calling thread; returns the listener fd when a rule notifies.
pub fn load(filter: &Filter) -> Result<Option<OwnedFd>, Error> {
    sys::set_mode_filter(&filter.program, filter.flags).map_err(|errno| Error::Load {
        message: match errno {
            nix::errno::Errno::EACCES => "load the seccomp filter: permission denied (the process needs noNewPrivileges or CAP_SYS_ADMIN)".to_string(),
            nix::errno::Errno::EINVAL => format!(
                "load the seccomp filter: the kernel refused it or its flags ({}): {errno}",
                flag_names(filter.flags).join(", ")
            ),
            e => format!("load the seccomp filter: {e}"),
        },
        errno,
    })
}

fn flag_names(bits: u32) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Flag::ALL
        .iter()
        .filter(|f| bits & f.bits() != 0)
        .map(|f| f.name())
        .collect();
    if bits & sys::FLAG_NEW_LISTENER != 0 {
        names.push("SECCOMP_FILTER_FLAG_NEW_LISTENER");
    }
    if bits & sys::FLAG_TSYNC_ESRCH != 0 {
        names.push("SECCOMP_FILTER_FLAG_TSYNC_ESRCH");
    }
    names
}

/// The `linux.seccomp` object of `vrun features`: what vrun compiles and what this kernel
/// supports.
pub fn features() -> serde_json::Value {
    let actions: Vec<&str> = Action::ALL
        .iter()
        .filter(|a| sys::action_available(a.ret(None) & 0xffff_0000))
        .map(|a| a.name())
        .collect();
    let supported_flags: Vec<&str> = Flag::ALL
        .iter()
        .filter(|f| {
            let bits = match f {
                Flag::WaitKillableRecv => f.bits() | sys::FLAG_NEW_LISTENER,
                _ => f.bits(),
            };
            sys::flags_supported(bits)
        })
        .map(|f| f.name())
        .collect();
    serde_json::json!({
        "enabled": true,
        "actions": actions,
        "operators": Op::NAMES,
        "archs": arch::SUPPORTED.map(|a| a.name()),
        "knownFlags": Flag::ALL.map(|f| f.name()),
        "supportedFlags": supported_flags,
    })
}
