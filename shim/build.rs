//! Links the code the shim and its maker run at a pod's start and while it idles as one block
//! ahead of the rest (shim/hot-code.ld, made by integration/hot-code/run.sh from a trace of
//! the shim under containerd's CRI), as cli/build.rs does for vrun's commands: the kernel maps
//! a program's pages 64 KiB at a time around each page it faults in, so code scattered over
//! the binary's text is RSS of every shim and maker, which is what issue 24 counts per pod.
//! Only where it was measured: x86_64 with glibc.
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
