pub fn run() -> super::Result {
    outln!(
        "{}",
        serde_json::to_string_pretty(&vrun_runtime::features::features()).unwrap_or_default()
    );
    Ok(0)
}
