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

#[cfg(test)]
mod tests {
    #[test]
    fn own_process_is_alive() {
        let me = std::process::id() as i32;
        let (_, start) = super::stat(me).unwrap();
        assert!(super::is_alive(me, start));
        assert!(!super::is_alive(me, start + 1));
    }
}
