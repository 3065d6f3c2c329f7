//! Links the code vrun's commands run as one block ahead of the rest of the program
//! (cli/hot-code.ld, which integration/hot-code/run.sh makes by tracing the commands). The
//! kernel maps a program's pages in 64 KiB at a time around each page it faults in, so hot
//! code scattered over 7 MB of text cost every command 1.5 MB of RSS (issue 14; the figures
//! are in integration/hot-code/README.md). Only where it was measured: x86_64 with glibc.
//!
//! Also links src/entry.c as the program's entry point, ahead of glibc's start-up, where vrun
//! is a static x86_64 glibc program (the .cargo/config.toml build): the CVE-2019-5736
//! re-exec of create, run and exec without paying the first image's start-up (see there).
use std::env;

#[path = "../build-support/hot_code.rs"]
mod hot_code;

fn main() {
    hot_code::link_hot_code();
    println!("cargo:rerun-if-changed=src/entry.c");
    let target = env::var("TARGET").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if target == "x86_64-unknown-linux-gnu" && features.split(',').any(|f| f == "crt-static") {
        link_entry();
    }
}

/// entry.c runs before glibc has resolved its IFUNCs (memcpy and the like) or set up TLS: no
/// builtin may become a call into libc, no loop a memcpy, no stack protector read %fs.
fn link_entry() {
    let objects = cc::Build::new()
        .file("src/entry.c")
        .opt_level(2)
        .flag("-ffreestanding")
        .flag("-fno-builtin")
        .flag("-fno-tree-loop-distribute-patterns")
        .flag("-fno-stack-protector")
        .flag("-fno-asynchronous-unwind-tables")
        .warnings(true)
        .extra_warnings(true)
        .compile_intermediates();
    for object in objects {
        println!("cargo:rustc-link-arg-bins={}", object.display());
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-e,vrun_entry");
}
