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
