//! Links the code the shim and its maker run at a pod's start and while it idles as one block
//! ahead of the rest (shim/hot-code.ld, made by integration/hot-code/run.sh from a trace of
//! the shim under containerd's CRI), as cli/build.rs does for vrun's commands: the kernel maps
//! a program's pages 64 KiB at a time around each page it faults in, so code scattered over
//! the binary's text is RSS of every shim and maker, which is what issue 24 counts per pod.
//! Only where it was measured: x86_64 with glibc.
#[path = "../build-support/hot_code.rs"]
mod hot_code;

fn main() {
    hot_code::link_hot_code();
}
