//! Every input kept in fuzz/regressions (seeds, and what the fuzz targets found) goes through
//! the same checks as the fuzz targets: errors are expected, panics are bugs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no inputs in {}", dir.display());
    v
}

#[test]
fn config_inputs_parse_or_fail_cleanly() {
    for (name, data) in inputs("config") {
        if let Err(e) = vrun_runtime::bundle::check_config_bytes(&data) {
            assert!(
                e.to_string().contains("config.json"),
                "{name}: error names no file: {e}"
            );
        }
    }
}

#[test]
fn state_inputs_parse_or_fail_cleanly() {
    for (_, data) in inputs("state") {
        let _ = vrun_runtime::state::check_state_bytes(&data);
    }
}
