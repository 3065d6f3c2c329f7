//! What /proc says about a process: alive or not, and its start time (field 22 of stat),
//! which tells a container's pid from a recycled one.

/// (state character, start time in clock ticks) of a process, None if it does not exist.
pub fn stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether `pid` is still the process that started at `start_time` and has not exited
/// (a zombie has exited).
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    pid > 0 && matches!(stat(pid), Some((s, t)) if t == start_time && s != 'Z' && s != 'X')
}

/// The processes of a container that has no cgroup of its own (rootless, where the user may
/// not make one): every process in init's pid namespace when it has one of its own, else
/// init alone. Empty when init is gone.
pub fn container_processes(init: i32, start_time: u64) -> Vec<i32> {
    if !is_alive(init, start_time) {
        return Vec::new();
    }
    let ns_of = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let (Some(theirs), Some(ours)) = (ns_of(init), ns_of(std::process::id() as i32)) else {
        return vec![init];
    };
    if theirs == ours {
        return vec![init];
    }
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid| ns_of(*pid).as_ref() == Some(&theirs))
        .collect();
    pids.sort_unstable();
    pids
}

/// How a process would take a signal now, from `/proc/<pid>/status`: its dispositions, as far
/// as the kernel's choice to drop a signal at sending depends on them, and whether it is
/// running (in the middle of something) or waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalTarget {
    blocked: u64,
    ignored: u64,
    caught: u64,
    /// pid 1 of a pid namespace below ours (its NSpid line ends in 1 after ours).
    pid_namespace_init: bool,
    /// State R: running or runnable, not waiting on anything.
    running: bool,
}

impl SignalTarget {
    /// Whether the kernel would drop `signo` sent from here: to the init of a pid namespace,
    /// a signal it neither catches nor blocks is discarded when sent (not queued), SIGKILL
    /// and SIGSTOP excepted; one it ignores is dropped by its own choice, not counted here.
    pub fn drops(&self, signo: i32) -> bool {
        if !(1..=64).contains(&signo) || signo == libc::SIGKILL || signo == libc::SIGSTOP {
            return false;
        }
        let bit = 1u64 << (signo - 1);
        self.pid_namespace_init && (self.blocked | self.ignored | self.caught) & bit == 0
    }

    /// Whether it is running or runnable (state R), rather than waiting (asleep, stopped).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Parses a `/proc/<pid>/status` text; None without its State, SigBlk, SigIgn or SigCgt
    /// lines.
    pub fn parse(status: &str) -> Option<SignalTarget> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let mask = |name: &str| u64::from_str_radix(field(name)?, 16).ok();
        let nspids: Vec<&str> = field("NSpid").unwrap_or("").split_whitespace().collect();
        Some(SignalTarget {
            running: field("State")?.starts_with('R'),
            blocked: mask("SigBlk")?,
            ignored: mask("SigIgn")?,
            caught: mask("SigCgt")?,
            pid_namespace_init: nspids.len() > 1 && nspids.last() == Some(&"1"),
        })
    }
}

/// How `pid` would take a signal now, None if it is gone (or /proc says too little).
pub fn signal_target(pid: i32) -> Option<SignalTarget> {
    SignalTarget::parse(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_process_is_alive() {
        let me = std::process::id() as i32;
        let (_, start) = super::stat(me).unwrap();
        assert!(super::is_alive(me, start));
        assert!(!super::is_alive(me, start + 1));
    }

    const STATUS: &str = "Name:\tsh\nState:\tS (sleeping)\nNSpid:\t4242\t1\nSigQ:\t0/96363\nSigPnd:\t0000000000000000\n\
        SigBlk:\t0000000000000000\nSigIgn:\t0000000000000004\nSigCgt:\t0000000000010001\n";

    #[test]
    fn a_namespace_init_drops_what_it_neither_catches_blocks_nor_ignores() {
        let d = super::SignalTarget::parse(STATUS).unwrap();
        assert!(d.drops(libc::SIGTERM));
        assert!(d.drops(libc::SIGUSR1));
        // caught: SIGHUP (bit 0) and SIGCHLD (bit 16)
        assert!(!d.drops(libc::SIGHUP));
        assert!(!d.drops(libc::SIGCHLD));
        // ignored: SIGQUIT (bit 2)
        assert!(!d.drops(libc::SIGQUIT));
        assert!(!d.drops(libc::SIGKILL));
        assert!(!d.drops(libc::SIGSTOP));
        assert!(!d.drops(0));
        assert!(!d.is_running());
        let running = STATUS.replace("S (sleeping)", "R (running)");
        assert!(super::SignalTarget::parse(&running).unwrap().is_running());
    }

    #[test]
    fn a_process_that_is_not_a_namespace_init_drops_nothing() {
        let host = STATUS.replace("NSpid:\t4242\t1", "NSpid:\t4242");
        let d = super::SignalTarget::parse(&host).unwrap();
        assert!(!d.drops(libc::SIGTERM));
        let deeper = STATUS.replace("NSpid:\t4242\t1", "NSpid:\t4242\t17");
        assert!(!super::SignalTarget::parse(&deeper)
            .unwrap()
            .drops(libc::SIGTERM));
        assert!(super::SignalTarget::parse("Name:\tsh\n").is_none());
    }
}
