//! Links the code vrun's commands run as one block ahead of the rest of the program
//! (cli/hot-code.ld, which integration/hot-code/run.sh makes by tracing the commands). The
//! kernel maps a program's pages in 64 KiB at a time around each page it faults in, so hot
//! code scattered over 7 MB of text cost every command 1.5 MB of RSS (issue 14; the figures
//! are in integration/hot-code/README.md). Only where it was measured: x86_64 with glibc.
use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=hot-code.ld");
    println!("cargo:rerun-if-env-changed=VRUN_NO_HOT_CODE");
    let dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let script = Path::new(&dir).join("hot-code.ld");
    let target = env::var("TARGET").unwrap_or_default();
    if target == "x86_64-unknown-linux-gnu"
        && script.is_file()
        && env::var_os("VRUN_NO_HOT_CODE").is_none()
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
