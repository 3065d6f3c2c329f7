//! Conversions between the v1 values in config.json and cgroup v2 files, as runc and crun do.

/// cpu.shares (2..262144) to cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262144) - 2) * 9999) / 262142
}

/// memory.swap (memory+swap in v1) to memory.swap.max (swap alone in v2).
pub fn swap_v2(limit: Option<i64>, swap: i64) -> Option<String> {
    match (limit, swap) {
        (_, -1) => Some("max".into()),
        (Some(l), s) if l > 0 && s >= l => Some((s - l).to_string()),
        (None, s) | (Some(-1), s) if s >= 0 => Some(s.to_string()),
        _ => None,
    }
}

/// A limit where -1 means unlimited ("max" on v2).
pub fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_onto_weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(shares_to_weight(0), 0);
    }

    #[test]
    fn swap_is_converted() {
        assert_eq!(swap_v2(Some(100), 300).as_deref(), Some("200"));
        assert_eq!(swap_v2(Some(100), -1).as_deref(), Some("max"));
        assert_eq!(max_or(-1), "max");
    }
}
