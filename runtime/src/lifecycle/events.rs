//! `events`: runc's event stream for a container: a "stats" event every interval, an "oom"
//! event whenever the OOM killer acts in its cgroup, until the container stops; with
//! `--stats`, one stats event and done.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::procfs;
use crate::state::{status, ContainerDir, Status};

/// One event, serialized with runc's key order (type, id, data): tools compare the lines.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// Streams events to `emit`; stops when `emit` returns false (its reader has gone) or the
/// container stops.
pub fn events(
    root: &Path,
    id: &str,
    stats_once: bool,
    interval: Duration,
    mut emit: impl FnMut(&Event) -> bool,
) -> Result<()> {
    // Read the state and let go of the lock: the stream may run for as long as the container.
    let state = {
        let dir = ContainerDir::open(root, id)?;
        let state = dir.load()?;
        if status(&dir.path, &state) == Status::Stopped {
            return Err(Error::WrongState(format!(
                "container \"{id}\" is not running"
            )));
        }
        state
    };
    let cg = state.own_cgroup()?;
    let stats = || Event {
        kind: "stats",
        id,
        data: Some(cg.stats()),
    };
    if stats_once {
        emit(&stats());
        return Ok(());
    }
    let mut ooms = cg.oom_kills();
    let mut next = Instant::now();
    while procfs::is_alive(state.pid, state.start_time) {
        let now_ooms = cg.oom_kills();
        if now_ooms > ooms {
            ooms = now_ooms;
            let oom = Event {
                kind: "oom",
                id,
                data: None,
            };
            if !emit(&oom) {
                return Ok(());
            }
        }
        if Instant::now() >= next {
            if !emit(&stats()) {
                return Ok(());
            }
            next += interval;
        }
        std::thread::sleep(Duration::from_millis(100).min(interval));
    }
    Ok(())
}

/// A Go duration as runc's `--interval` takes it: "5s", "100ms", "1m30s", "1.5s".
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        Error::Invalid(format!(
            "--interval {text:?}: not a duration (e.g. 5s, 500ms, 1m)"
        ))
    };
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..split].parse().map_err(|_| bad())?;
        rest = &rest[split..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * seconds;
        rest = &rest[unit_len..];
    }
    if total <= 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "5", "s", "5x", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
