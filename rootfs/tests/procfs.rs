//! The verified /proc writer against a file mounted over a /proc entry (the CVE-2025-52881
//! class: a write meant for procfs redirected to another file). Runs as root, in a child
//! with its own mount and uts namespaces, so the host sees nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

#[path = "support/sys.rs"]
mod sys;
use sys::in_child;

#[test]
fn a_file_mounted_over_a_proc_entry_does_not_take_the_write() {
    let decoy = std::env::temp_dir().join(format!("vrun-procfs-decoy-{}", std::process::id()));
    std::fs::write(&decoy, "untouched\n").unwrap();
    let d = decoy.clone();
    let code = in_child(move || {
        let setup = || -> nix::Result<()> {
            unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )?;
            mount(
                Some(&d),
                "/proc/sys/kernel/domainname",
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        if setup().is_err() {
            return 10;
        }
        if vrun_rootfs::procfs::pin().is_err() {
            return 11;
        }
        // The entry with a file over it is refused; the one next to it is written.
        match vrun_rootfs::procfs::write("sys/kernel/domainname", b"evil") {
            Err(nix::errno::Errno::EXDEV) => {}
            _ => return 12,
        }
        match vrun_rootfs::procfs::write("sys/kernel/hostname", b"procfs-test") {
            Ok(()) => {}
            Err(_) => return 13,
        }
        match nix::unistd::gethostname() {
            Ok(h) if h == "procfs-test" => 0,
            _ => 14,
        }
    });
    let decoy_text = std::fs::read_to_string(&decoy).unwrap();
    std::fs::remove_file(&decoy).unwrap();
    assert_eq!(
        code, 0,
        "child step failed (10 setup, 11 pin, 12 write not refused, 13/14 plain write)"
    );
    assert_eq!(decoy_text, "untouched\n");
}
