//! Putting a cgroup file back as it was before a write, for `update`'s all-or-nothing: what a
//! file reads is not always what it takes. Most read back as one value that can be written
//! again; the files with one line per device (or interface) take one line at a time, so the
//! line of the key that was written is put back, or that key's reset value when it had none;
//! memory.oom_control reads as a list of which only oom_kill_disable was written.

/// The value to write to `file` (its name) to undo writing `written`, given what it read
/// before. None when it cannot be told (the caller warns).
pub(crate) fn restore_value(file: &str, before: &str, written: &str) -> Option<String> {
    // (io.weight and io.bfq.weight also take a bare default weight: not a keyed write)
    if let Some(reset) = keyed_reset(file).filter(|_| written.trim().contains(' ')) {
        let key = written.split_whitespace().next()?;
        let line = before
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key));
        return Some(match line {
            Some(l) => l.trim().to_string(),
            None => format!("{key} {reset}"),
        });
    }
    if file == "memory.oom_control" {
        return before
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill_disable "))
            .map(|v| v.trim().to_string());
    }
    let before = before.trim();
    // blkio.bfq.weight and io.bfq.weight read "default N" (then any per-device lines)
    if let Some(weight) = before
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("default "))
    {
        if !written.contains(' ') {
            return Some(weight.trim().to_string());
        }
    }
    match before.lines().count() {
        0 | 1 => Some(before.to_string()),
        _ => None,
    }
}

/// For a file of one line per key: what a key without a line of its own is reset with.
fn keyed_reset(file: &str) -> Option<&'static str> {
    Some(match file {
        "blkio.throttle.read_bps_device"
        | "blkio.throttle.write_bps_device"
        | "blkio.throttle.read_iops_device"
        | "blkio.throttle.write_iops_device"
        | "blkio.weight_device"
        | "blkio.leaf_weight_device"
        | "net_prio.ifpriomap" => "0",
        "blkio.bfq.weight_device" | "io.weight" | "io.bfq.weight" => "default",
        "io.max" => "rbps=max wbps=max riops=max wiops=max",
        "rdma.max" => "hca_handle=max hca_object=max",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::restore_value;

    #[test]
    fn single_values_are_written_back_as_read() {
        assert_eq!(
            restore_value(
                "memory.limit_in_bytes",
                "9223372036854771712\n",
                "134217728"
            )
            .as_deref(),
            Some("9223372036854771712")
        );
        assert_eq!(
            restore_value("cpu.max", "max 100000\n", "50000 100000").as_deref(),
            Some("max 100000")
        );
        assert_eq!(
            restore_value("pids.max", "max\n", "60").as_deref(),
            Some("max")
        );
        assert_eq!(
            restore_value("cpuset.cpus", "0-1\n", "0").as_deref(),
            Some("0-1")
        );
    }

    #[test]
    fn keyed_files_get_their_line_or_a_reset() {
        let io_max = "8:0 rbps=1048576 wbps=max riops=max wiops=max\n";
        assert_eq!(
            restore_value("io.max", io_max, "8:0 rbps=2097152").as_deref(),
            Some("8:0 rbps=1048576 wbps=max riops=max wiops=max")
        );
        assert_eq!(
            restore_value("io.max", io_max, "8:16 wbps=1").as_deref(),
            Some("8:16 rbps=max wbps=max riops=max wiops=max")
        );
        assert_eq!(
            restore_value("blkio.throttle.read_bps_device", "", "7:0 1048576").as_deref(),
            Some("7:0 0")
        );
        assert_eq!(
            restore_value("net_prio.ifpriomap", "lo 0\neth0 5\n", "eth0 9").as_deref(),
            Some("eth0 5")
        );
        assert_eq!(
            restore_value("io.weight", "default 100\n", "8:0 200").as_deref(),
            Some("8:0 default")
        );
    }

    #[test]
    fn lists_and_defaults() {
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n";
        assert_eq!(
            restore_value("memory.oom_control", oom, "1").as_deref(),
            Some("0")
        );
        assert_eq!(
            restore_value("blkio.bfq.weight", "default 100\n", "300").as_deref(),
            Some("100")
        );
        assert_eq!(
            restore_value("io.bfq.weight", "default 100\n", "300").as_deref(),
            Some("100")
        );
        // an unknown file of several lines cannot be put back by one write
        assert_eq!(restore_value("memory.stat", "a 1\nb 2\n", "x"), None);
    }
}
