//! The container-escape classes that hit runc or crun, each attempted against vrun. SECURITY.md
//! maps every protection to its test here.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn all_caps() -> Value {
    let list: Vec<String> = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_KILL",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_SYS_ADMIN",
        "CAP_SYS_PTRACE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    json!({"bounding": list, "effective": list, "permitted": list})
}

/// CVE-2019-5736: a container with CAP_SYS_PTRACE holds /proc/1/exe open while init is still
/// vrun, then writes through it once every vrun process has gone. vrun runs from a detached
/// read-only overlay of its binary (or a sealed memfd), so the binary on disk (a copy here)
/// stays as it was.
#[test]
fn the_runtime_binary_cannot_be_overwritten_through_proc_exe() {
    attack_proc_exe("bin", None);
}

/// The same through the fallback: a directory overlayfs cannot take as a layer (':' in its
/// name) makes vrun use a sealed memfd copy.
#[test]
fn the_runtime_binary_is_protected_by_the_memfd_fallback_too() {
    attack_proc_exe("bin:fallback", Some("memfd:"));
}

/// And through selfclone.rs's own overlay: the entry point (cli/src/entry.c) leaves a binary
/// under /run, its second layer, to main(), which takes the temp dir as the second layer.
#[test]
fn the_runtime_binary_is_protected_when_it_lives_under_run() {
    let dir = new_dir_under("/run", "vrun-test-cve");
    let _gone = RemoveOnDrop(dir.clone());
    attack_proc_exe(dir.join("bin").to_str().unwrap(), None);
}

fn new_dir_under(base: &str, prefix: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(base).join(format!("{prefix}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `dir`: relative to the test's directory, or absolute.
fn attack_proc_exe(dir: &str, link_must_contain: Option<&str>) {
    let env = TestEnv::new("cve-5736");
    let copy = env.dir.join(dir).join("vrun-copy");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_vrun"), &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let vrun = |args: &[&str]| {
        let mut c = Command::new(&copy);
        c.arg("--root").arg(&env.root).args(args);
        c.stdin(std::process::Stdio::null());
        c
    };
    let mut c = env.sh("sleep 30");
    c["process"]["capabilities"] = all_caps();
    env.write_config(&c);
    let id = env.id("c");
    let mut create = vrun(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert!(env.detached(create.arg_if_none()).0.success());
    // From inside, while init (pid 1) is vrun waiting for start.
    let attack = "exec 3</proc/1/exe; readlink /proc/1/exe > /tmp/exe-link; \
        (until [ \"$(cat /proc/1/comm)\" = sleep ]; do sleep 0.05; done; sleep 0.5; \
         echo pwned >> /proc/self/fd/3 2>/tmp/write-err; echo $? > /tmp/write-rc) &";
    let (st, _, err) = env.detached(vrun(&["exec", "-d", &id, "sh", "-c", attack]));
    assert!(st.success(), "{err}");
    assert!(vrun(&["start", &id]).status().unwrap().success());
    let rootfs = env.bundle.join("rootfs");
    assert!(
        wait_for(&rootfs.join("tmp/write-rc"), 10),
        "the attack did not finish"
    );
    assert!(
        std::fs::read(&copy).unwrap() == before,
        "the vrun binary was changed"
    );
    assert_ne!(
        std::fs::read_to_string(rootfs.join("tmp/write-rc"))
            .unwrap()
            .trim(),
        "0"
    );
    let link = std::fs::read_to_string(rootfs.join("tmp/exe-link")).unwrap();
    // A read-only overlay mounted nowhere (or a sealed memfd), never the file itself.
    assert_ne!(
        link.trim(),
        copy.to_str().unwrap(),
        "/proc/1/exe of init is the binary itself"
    );
    if let Some(want) = link_must_contain {
        assert!(link.contains(want), "/proc/1/exe of init was {link}");
    }
    let _ = vrun(&["delete", "--force", &id]).status();
}

trait ArgIfNone {
    fn arg_if_none(&mut self) -> Command;
}

impl ArgIfNone for Command {
    /// A fresh Command with the same program and arguments (Command is not Clone).
    fn arg_if_none(&mut self) -> Command {
        let mut c = Command::new(self.get_program());
        c.args(self.get_args());
        c.stdin(std::process::Stdio::null());
        c
    }
}

/// CVE-2024-21626: no fd of vrun's reaches the container, and a cwd through a leaked fd
/// (/proc/self/fd/N) is refused rather than left pointing outside the rootfs.
#[test]
fn no_fd_leaks_and_the_cwd_cannot_escape() {
    let env = TestEnv::new("cve-21626");
    env.write_config(&env.sh("sleep 30"));
    let id = env.id("c");
    let mut child = env.spawn_running(&id);
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    let fds = |pid: i64| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(fds(pid), ["0", "1", "2"], "init's fds");
    let (st, _, err) = env.detached({
        let mut c = env.cmd();
        c.args(["exec", "-d", "--pid-file"])
            .arg(env.dir.join("exec.pid"))
            .args([&id, "sleep", "30"]);
        c
    });
    assert!(st.success(), "{err}");
    let exec_pid: i64 = std::fs::read_to_string(env.dir.join("exec.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(fds(exec_pid), ["0", "1", "2"], "the exec'd process's fds");
    assert!(env.vrun(&["kill", &id, "KILL"]).status.success());
    let _ = child.wait();
    let _ = env.vrun(&["delete", "--force", &id]);

    let mut refused = 0;
    for n in 3..16 {
        let mut c = env.sh("readlink /proc/self/cwd");
        c["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        let (code, out, err) = env.run(&c);
        if code == 0 {
            assert!(
                out.starts_with('/') && !out.contains("unreachable"),
                "fd {n}: cwd {out}"
            );
        } else if err.contains("outside the container's root") {
            refused += 1;
        } else {
            assert!(err.contains("process.cwd"), "fd {n}: {err}");
        }
        assert!(env.leaked_mounts().is_empty());
    }
    // vrun holds the host's /proc open while it sets up: that fd is the one refused.
    assert!(refused >= 1, "no cwd was refused as outside the root");
}

/// CVE-2021-30465 and the symlink-exchange class: mount destinations are resolved inside the
/// rootfs, also when they are symlinks pointing out of it or are swapped while vrun works.
#[test]
fn mount_destinations_never_leave_the_rootfs() {
    let env = TestEnv::new("cve-30465");
    let outside = env.dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let rootfs = env.bundle.join("rootfs");
    std::os::unix::fs::symlink(&outside, rootfs.join("escape")).unwrap();
    std::os::unix::fs::symlink(
        format!("../../../../../../../../{}", outside.display()),
        rootfs.join("up"),
    )
    .unwrap();
    let mut c = env.sh(&format!(
        "grep -c -E ' {o}/(x|y) ' /proc/self/mountinfo",
        o = outside.display()
    ));
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/escape/x", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(json!({"destination": "/up/y", "type": "bind", "source": env.dir.join("bundle"), "options": ["bind"]}));
    let out = env.run_ok(&c);
    // Both mounts are in the container, at the symlinks' targets taken inside the rootfs ...
    assert_eq!(out.trim(), "2", "{out}");
    // ... and nothing was made on the host side.
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none());

    // A directory and a symlink to the host swapped back and forth while containers mount
    // onto that directory.
    std::fs::create_dir(rootfs.join("dir")).unwrap();
    std::os::unix::fs::symlink(&outside, rootfs.join("link")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (stop, a, b) = (stop.clone(), rootfs.join("dir"), rootfs.join("link"));
        std::thread::spawn(move || {
            let (a, b) = (
                std::ffi::CString::new(a.to_str().unwrap()).unwrap(),
                std::ffi::CString::new(b.to_str().unwrap()).unwrap(),
            );
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = nix::fcntl::renameat2(
                    None,
                    a.as_c_str(),
                    None,
                    b.as_c_str(),
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                );
            }
        })
    };
    let mut c = env.sh("true");
    c["mounts"].as_array_mut().unwrap().push(json!(
        {"destination": "/dir/sub", "type": "tmpfs", "source": "tmpfs"}));
    for _ in 0..25 {
        let (code, _, err) = env.run(&c);
        assert!(code == 0 || err.contains("mounts["), "{err}");
        assert!(env.leaked_mounts().is_empty());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flipper.join().unwrap();
    assert!(
        !outside.join("sub").exists(),
        "a mount target was made outside the rootfs"
    );
}

/// CVE-2019-16884 / CVE-2023-27561: an image whose /proc is a symlink to a fake procfs, so
/// that the runtime's writes to /proc (oomScoreAdj, sysctls, LSM labels) land in the image's
/// files. Refused before anything is mounted or written, as runc refuses it.
#[test]
fn a_fake_proc_in_the_image_is_refused() {
    let env = TestEnv::new("cve-16884");
    let rootfs = env.bundle.join("rootfs");
    std::fs::remove_dir(rootfs.join("proc")).unwrap();
    std::fs::create_dir_all(rootfs.join("fakeproc/self")).unwrap();
    std::fs::write(rootfs.join("fakeproc/self/oom_score_adj"), "fake\n").unwrap();
    std::os::unix::fs::symlink("/fakeproc", rootfs.join("proc")).unwrap();
    let mut c = env.sh("cat /proc/self/oom_score_adj");
    c["process"]["oomScoreAdj"] = json!(321);
    c["linux"]["sysctl"] = json!({"kernel.domainname": "real.test"});
    assert_create_fails(
        &env,
        &c,
        "filesystem \"proc\" must be mounted on ordinary directory",
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("fakeproc/self/oom_score_adj")).unwrap(),
        "fake\n"
    );
}

/// CVE-2025-31133 / CVE-2025-52565: the image's /dev/null and /dev/console are symlinks to
/// /proc/sys/kernel/core_pattern and the image's own /dev is used. Masking uses the host's
/// verified /dev/null, /dev/console is replaced by a fresh file, and core_pattern stays as
/// read-only and unchanged as before.
#[test]
fn dev_null_and_console_symlinks_cannot_redirect_mounts() {
    let env = TestEnv::new("cve-31133");
    let rootfs = env.bundle.join("rootfs");
    for name in ["null", "console"] {
        std::os::unix::fs::symlink(
            "/proc/sys/kernel/core_pattern",
            rootfs.join("dev").join(name),
        )
        .unwrap();
    }
    let host_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let mut c = env.sh(
        "stat -c %t:%T /dev/null /dev/console /proc/keys; (echo '|/bin/evil' > /proc/sys/kernel/core_pattern) 2>/dev/null; echo write=$?; cat /proc/sys/kernel/core_pattern",
    );
    // The image's /dev instead of a tmpfs.
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    c["process"]["terminal"] = json!(true);
    let out = env.run_ok(&c).replace('\r', "");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1:3", "{out}");
    assert!(
        lines[1].starts_with("88:"),
        "/dev/console is not the pty: {out}"
    );
    assert_eq!(lines[2], "1:3", "/proc/keys is not masked: {out}");
    assert_eq!(lines[3], "write=1", "{out}");
    assert_eq!(lines[4], host_pattern.trim_end(), "{out}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        host_pattern
    );
}

/// CVE-2022-29162: the inheritable set is what the config says (none here), also for
/// `exec --cap`.
#[test]
fn inheritable_capabilities_are_not_widened() {
    let env = TestEnv::new("cve-29162");
    env.write_config(&env.sh("grep CapInh /proc/self/status; sleep 30"));
    let id = env.id("c");
    let out_file = env.dir.join("init.out");
    let mut child = env
        .cmd()
        .args(["run", "--bundle"])
        .arg(&env.bundle)
        .arg(&id)
        .stdout(std::fs::File::create(&out_file).unwrap())
        .spawn()
        .unwrap();
    env.wait_status(&id, "running");
    let out = env.vrun(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "grep",
        "-E",
        "Cap(Inh|Bnd)",
        "/proc/self/status",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CapInh:\t0000000000000000"), "{text}");
    let bnd = text.lines().find(|l| l.starts_with("CapBnd")).unwrap();
    let bits = u64::from_str_radix(bnd.split('\t').nth(1).unwrap(), 16).unwrap();
    assert_ne!(
        bits & (1 << 21),
        0,
        "CAP_SYS_ADMIN (21) not bounding: {text}"
    );
    assert!(env.vrun(&["kill", &id, "KILL"]).status.success());
    let _ = child.wait();
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "CapInh:\t0000000000000000\n"
    );
}

/// Init stays non-dumpable until it execs: a process of the same user in the container
/// cannot read its memory or environment while it is vrun; after the exec it can (which
/// shows the check is real).
#[test]
fn init_is_not_dumpable_until_exec() {
    let env = TestEnv::new("dumpable");
    let mut c = env.sh("exec sleep 30");
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c["process"]["env"] = json!(["PATH=/bin", "SECRET=s3cret"]);
    env.write_config(&c);
    let id = env.id("c");
    assert!(env.try_create(&id).status.success());
    let read = || {
        let out = env.vrun(&["exec", "--user", "1000:1000", &id, "cat", "/proc/1/environ"]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = read();
    assert!(
        !ok && !text.contains("s3cret"),
        "read init's environ before exec: {text}"
    );
    assert!(env.vrun(&["start", &id]).status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (ok, text) = read();
        if ok && text.contains("SECRET=s3cret") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never readable after exec: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = env.vrun(&["delete", "--force", &id]);
}
