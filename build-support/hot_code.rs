//! The hot-code link of a binary (cli/build.rs and shim/build.rs include this file): its crate's
//! `hot-code.ld`, made by integration/hot-code/run.sh, handed to the link of its binaries, on
//! x86_64 with glibc (where it was measured), unless VRUN_NO_HOT_CODE is set (to measure what
//! it gives).

/// Links the crate's hot-code.ld, if it has one, into its binaries.
pub fn link_hot_code() {
    println!("cargo:rerun-if-changed=hot-code.ld");
    println!("cargo:rerun-if-env-changed=VRUN_NO_HOT_CODE");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let script = std::path::Path::new(&dir).join("hot-code.ld");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target == "x86_64-unknown-linux-gnu"
        && script.is_file()
        && std::env::var_os("VRUN_NO_HOT_CODE").is_none()
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
