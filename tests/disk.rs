//! The virtual disk: an overlay per container on a shared, never-modified image, with an
//! upper layer on a directory, a tmpfs or an ext4 image of a fixed size, and io limits.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// path -> (size, contents) of every file under `dir`: the image, byte for byte.
fn manifest(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, p: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            let rel = path.strip_prefix(base).unwrap().to_path_buf();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                walk(base, &path, out);
            } else if ft.is_symlink() {
                out.insert(
                    rel,
                    std::fs::read_link(&path)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                );
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn loop_devices_backed_by(dir: &Path) -> Vec<String> {
    let out = std::process::Command::new("losetup")
        .arg("-a")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(dir.to_str().unwrap()))
        .map(String::from)
        .collect()
}

/// Loop devices detach themselves (autoclear) once their mount is gone, which the kernel
/// finishes shortly after the container's last process.
fn assert_no_loop_device(env: &TestEnv) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !loop_devices_backed_by(&env.dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "loop devices left: {:?}",
            loop_devices_backed_by(&env.dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_with(env: &TestEnv, id: &str, flags: &[&str], config: &Value) -> (i32, String, String) {
    env.write_config(config);
    let out = env
        .cmd()
        .arg("run")
        .args(flags)
        .arg("--bundle")
        .arg(&env.bundle)
        .arg(id)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        messages(&out.stderr),
    )
}

fn run_ok_with(env: &TestEnv, id: &str, flags: &[&str], config: &Value) -> String {
    let (code, out, err) = run_with(env, id, flags, config);
    assert_eq!(code, 0, "vrun run {flags:?}: {out} {err}");
    out
}

#[test]
fn two_containers_share_one_image_and_see_only_their_own_writes() {
    let env = TestEnv::new("disk-share");
    let rootfs = env.bundle.join("rootfs");
    std::fs::write(rootfs.join("etc/shared"), "from the image\n").unwrap();
    let image = manifest(&rootfs);
    // Each container writes its own random token to the same path, waits while the other
    // does the same, and reads the path back.
    let c = env.sh(
        "cat /proc/sys/kernel/random/uuid > /tmp/same-path; cat /tmp/same-path; rm /etc/shared; \
         test -e /etc/shared || echo hidden; sleep 0.5; cat /tmp/same-path",
    );
    env.write_config(&c);
    let spawn = |id: String| {
        env.cmd()
            .args(["run", "--overlay", "--bundle"])
            .arg(&env.bundle)
            .arg(id)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(env.id("a")), spawn(env.id("b")));
    let outs: Vec<String> = [a, b]
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success());
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect();
    for out in &outs {
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(lines[1], "hidden", "{out}");
        assert_eq!(lines[0], lines[2], "a container saw another's write: {out}");
    }
    assert_ne!(outs[0].lines().next(), outs[1].lines().next());
    // The whiteout hid the file only inside each container; the image is as it was.
    assert_eq!(manifest(&rootfs), image, "the image changed");
    let out = run_ok_with(
        &env,
        &env.id("c"),
        &["--overlay"],
        &env.sh("cat /etc/shared; ls /tmp"),
    );
    assert_eq!(out, "from the image\n");
    assert_no_state_left(&env, "state or disk left");
}

#[test]
fn the_rest_of_the_config_works_on_top_of_the_disk() {
    let env = TestEnv::new("disk-ro");
    let mut c = env.sh(
        "touch /x 2>&1; stat -c %t:%T /proc/keys; grep -c ' / / .* - overlay ' /proc/self/mountinfo",
    );
    c["root"]["readonly"] = json!(true);
    let out = run_ok_with(&env, &env.id("c"), &["--overlay"], &c);
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("1:3\n"), "masked path: {out}");
    assert!(out.ends_with("1\n"), "root is not the overlay: {out}");
}

#[test]
fn a_sized_disk_takes_50m_and_refuses_20m_more() {
    let env = TestEnv::new("disk-size");
    let c = env.sh(
        "dd if=/dev/zero of=/big bs=1M count=50 2>/dev/null; echo first=$?; \
         dd if=/dev/zero of=/more bs=1M count=20 2>&1 | grep -o 'No space left on device' | head -1; \
         ls -l /big | awk '{print $5}'",
    );
    let out = run_ok_with(&env, &env.id("c"), &["--disk-size", "64M"], &c);
    assert_eq!(
        out,
        format!("first=0\nNo space left on device\n{}\n", 50 << 20),
        "{out}"
    );
    assert_no_loop_device(&env);
    assert_no_state_left(&env, "state or image left");
    // A tmpfs disk of the same size refuses the same way.
    let out = run_ok_with(&env, &env.id("t"), &["--disk-size", "64M", "--disk-tmpfs"], &env.sh(
        "dd if=/dev/zero of=/big bs=1M count=70 2>&1 | grep -o 'No space left on device' | head -1",
    ));
    assert_eq!(out, "No space left on device\n");
}

#[test]
fn io_limits_reach_the_cgroup_and_slow_direct_writes() {
    let env = TestEnv::new("disk-io");
    // 3 MiB of direct writes: at 1 MiB/s that takes about 3 s, unthrottled a fraction.
    let dd = "dd if=/dev/zero of=/f bs=64k count=48 oflag=direct 2>/dev/null; echo done";
    let started = Instant::now();
    let out = run_ok_with(&env, &env.id("free"), &["--disk-size", "64M"], &env.sh(dd));
    let free = started.elapsed();
    assert_eq!(out, "done\n");
    let limited_script = format!(
        "cat /sys/fs/cgroup/blkio/blkio.throttle.write_bps_device 2>/dev/null || cat /sys/fs/cgroup/io.max; {dd}"
    );
    let started = Instant::now();
    let out = run_ok_with(
        &env,
        &env.id("slow"),
        &["--disk-size", "64M", "--disk-io", "wbps=1m,riops=500"],
        &env.sh(&limited_script),
    );
    let limited = started.elapsed();
    // The throttle line names a loop device (major 7) with 1 MiB/s.
    assert!(
        out.lines()
            .any(|l| l.starts_with("7:") && l.ends_with(" 1048576")),
        "{out}"
    );
    assert!(out.ends_with("done\n"), "{out}");
    assert!(
        limited >= Duration::from_millis(2000),
        "limited run took {limited:?}"
    );
    assert!(
        limited > free + Duration::from_millis(1000),
        "limited {limited:?}, free {free:?}"
    );
    assert_no_loop_device(&env);
}

#[test]
fn forty_layers_mount_in_order() {
    let env = TestEnv::new("disk-layers");
    let mut flags: Vec<String> = Vec::new();
    for i in 0..40 {
        // Long names: together well over a page, which one mount option string could not hold.
        let l = env.dir.join(format!(
            "layers/{}-layer-number-{i:02}",
            "a-deliberately-long-directory-name".repeat(4)
        ));
        std::fs::create_dir_all(l.join("etc")).unwrap();
        std::fs::write(l.join(format!("etc/layer{i:02}")), format!("{i}\n")).unwrap();
        std::fs::write(l.join("etc/top"), format!("{i}\n")).unwrap();
        flags.push("--layer".into());
        flags.push(l.to_string_lossy().into_owned());
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let out = run_ok_with(
        &env,
        &env.id("c"),
        &flags,
        &env.sh("ls /etc | grep -c '^layer'; cat /etc/top"),
    );
    // All 40 present; the last --layer is the top one.
    assert_eq!(out, "40\n39\n");
}

#[test]
fn an_upper_dir_outlives_the_container_and_is_reused() {
    let env = TestEnv::new("disk-upper");
    let upper = env.dir.join("kept-upper");
    let u = upper.to_str().unwrap();
    run_ok_with(
        &env,
        &env.id("one"),
        &["--upper-dir", u],
        &env.sh("echo kept > /root/note"),
    );
    assert_eq!(
        std::fs::read_to_string(upper.join("upper/root/note")).unwrap(),
        "kept\n"
    );
    let out = run_ok_with(
        &env,
        &env.id("two"),
        &["--upper-dir", u],
        &env.sh("cat /root/note"),
    );
    assert_eq!(out, "kept\n");
    assert!(!env.bundle.join("rootfs/root/note").exists());
}

#[test]
fn a_kept_disk_outlives_its_container_and_is_listed() {
    let env = TestEnv::new("disk-keep");
    let id = env.id("c");
    run_ok_with(
        &env,
        &id,
        &["--keep-disk"],
        &env.sh("echo mine > /root/kept"),
    );
    assert!(
        !env.root.join(&id).exists(),
        "the container's state is gone"
    );
    let rows: Value =
        serde_json::from_slice(&env.vrun(&["disk", "list", "--format", "json"]).stdout).unwrap();
    assert_eq!(rows[0]["id"], json!(id), "{rows}");
    assert_eq!(rows[0]["status"], json!("kept"), "{rows}");
    let upper = PathBuf::from(rows[0]["upper"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(upper.join("root/kept")).unwrap(),
        "mine\n"
    );
}

#[test]
fn disk_list_and_annotations() {
    let env = TestEnv::new("disk-list");
    let layer = env.dir.join("layer");
    std::fs::create_dir_all(layer.join("etc")).unwrap();
    std::fs::write(layer.join("etc/from-layer"), "yes\n").unwrap();
    // What podman or containerd would pass: annotations only, no flags.
    let mut c = env.sh("cat /etc/from-layer; sleep 30");
    c["annotations"] = json!({
        "run.vrun.rootfs.overlay": "true",
        "run.vrun.rootfs.layers": layer.to_str().unwrap(),
        "run.vrun.rootfs.size": "32M"
    });
    env.write_config(&c);
    let id = env.id("c");
    let mut child = env.spawn_running(&id);
    let out = env.vrun(&["disk", "list", "--format", "json"]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &rows[0];
    assert_eq!(row["id"], json!(id), "{rows}");
    assert_eq!(row["kind"], json!("image"), "{rows}");
    assert_eq!(row["size"], json!(32 << 20), "{rows}");
    assert_eq!(row["layers"][1], json!(layer), "{rows}");
    assert!(row["used"].as_u64().unwrap() > 0, "{rows}");
    let table = String::from_utf8_lossy(&env.vrun(&["disk", "list"]).stdout).into_owned();
    assert!(
        table.starts_with("ID") && table.contains(&id) && table.contains("32.0M"),
        "{table}"
    );
    assert!(env.vrun(&["kill", &id, "KILL"]).status.success());
    let _ = child.wait();
    assert_no_loop_device(&env);
}

#[test]
fn bad_disk_input_fails_cleanly() {
    let env = TestEnv::new("disk-bad");
    let c = env.sh("true");
    env.write_config(&c);
    let file = env.dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--layer".into(),
                env.dir.join("missing").display().to_string(),
            ],
            "--layer: ",
        ),
        (
            vec!["--layer".into(), file.display().to_string()],
            "is not a directory",
        ),
        (
            vec!["--disk-size".into(), "lots".into()],
            "--disk-size: \"lots\": not a size",
        ),
        (
            vec!["--disk-size".into(), "1k".into()],
            "too small for a disk",
        ),
        (
            vec!["--disk-io".into(), "wbps=1m".into()],
            "io limits need a disk device",
        ),
        (
            vec![
                "--disk-size".into(),
                "64M".into(),
                "--disk-io".into(),
                "speed=3".into(),
            ],
            "unknown key \"speed\"",
        ),
        (
            vec!["--disk-tmpfs".into()],
            "--disk-tmpfs needs --disk-size",
        ),
    ];
    for (flags, needle) in cases {
        let id = env.id("bad");
        let out = env.try_create_with(&id, &flags);
        assert_clean_failure(&env, &out, &id, needle);
    }
    // A create that fails after the disk was made (the program does not exist) removes the
    // kept disk and the upper directory it made.
    let mut missing = env.sh("true");
    missing["process"]["args"] = json!(["/no/such/program"]);
    env.write_config(&missing);
    let upper = env.dir.join("fresh-upper");
    for flags in [
        vec![OsString::from("--keep-disk")],
        vec!["--upper-dir".into(), upper.clone().into()],
    ] {
        let id = env.id("late");
        let out = env.try_create_with(&id, &flags);
        assert_clean_failure(&env, &out, &id, "/no/such/program");
    }
    assert!(!env.root.join("@kept-disks").exists(), "kept disk left");
    assert!(!upper.exists(), "upper directory left");
    env.write_config(&c);
    // An annotation names itself.
    let mut c = env.sh("true");
    c["annotations"] = json!({"run.vrun.rootfs.size": "huge"});
    assert_create_fails(&env, &c, "annotation run.vrun.rootfs.size: \"huge\"");
}

/// An upper directory on overlayfs, and one a live container uses, are refused, and nothing
/// is left.
#[test]
fn an_upper_dir_that_cannot_or_may_not_be_used_fails_cleanly() {
    let env = TestEnv::new("disk-bad-upper");
    let (lower, ovl_upper, work, merged) = (
        env.dir.join("l"),
        env.dir.join("u"),
        env.dir.join("w"),
        env.dir.join("m"),
    );
    for d in [&lower, &ovl_upper, &work, &merged] {
        std::fs::create_dir_all(d).unwrap();
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        ovl_upper.display(),
        work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(opts.as_str()),
    )
    .unwrap();
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let guard = Unmount(merged.clone());
    env.write_config(&env.sh("true"));
    let id = env.id("ovl");
    let out = env.try_create_with(
        &id,
        &[OsString::from("--upper-dir"), merged.join("up").into()],
    );
    drop(guard);
    assert_clean_failure(&env, &out, &id, "cannot hold an overlay upper layer");

    let upper = env.dir.join("busy-upper");
    let upper_flag = [OsString::from("--upper-dir"), upper.into()];
    env.write_config(&env.sh("sleep 30"));
    let busy = env.id("busy");
    assert!(env.try_create_with(&busy, &upper_flag).status.success());
    let id = env.id("second");
    let out = env.try_create_with(&id, &upper_flag);
    assert_clean_failure(&env, &out, &id, "is using it");
    assert!(env.vrun(&["delete", "--force", &busy]).status.success());
    assert_no_loop_device(&env);
}

#[test]
fn a_create_killed_midway_leaves_nothing_delete_force_cannot_clean() {
    let env = TestEnv::new("disk-fault");
    env.write_config(&env.sh("sleep 30"));
    for step in ["cgroup", "placed", "ready"] {
        let id = env.id(step);
        let mut child = env
            .cmd()
            .env("VRUN_TEST_STOP_AT", step)
            .args(["create", "--disk-size", "16M", "--bundle"])
            .arg(&env.bundle)
            .arg(&id)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let stat =
                std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
            if stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('T'))
            {
                break;
            }
            assert!(Instant::now() < deadline, "create never reached {step}");
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        let _ = child.wait();
        let _ = env.vrun(&["delete", "--force", &id]);
        assert!(!env.root.join(&id).exists(), "{step}: state left");
        assert!(env.leaked_mounts().is_empty(), "{step}: mounts left");
        assert_no_loop_device(&env);
    }
}
