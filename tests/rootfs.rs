//! The rootfs: mounts, /dev, masked and read-only paths, readonly root, --no-pivot, and that
//! nothing is mounted outside the rootfs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use common::*;
use serde_json::json;

#[test]
fn pivot_root_hides_the_host() {
    let env = TestEnv::new("pivot");
    let out = env.run_ok(&env.sh("ls /"));
    let entries: Vec<&str> = out.lines().collect();
    assert!(
        entries.contains(&"bin") && !entries.contains(&"work") && !entries.contains(&"usr"),
        "{out}"
    );
}

#[test]
fn readonly_root_and_writable_tmpfs() {
    let env = TestEnv::new("ro");
    let mut c = env.sh("touch /rootfile 2>/dev/null && echo root-writable || echo root-ro; touch /scratch/f && echo tmpfs-rw; grep ' /scratch ' /proc/self/mountinfo | grep -c 'size=1024k'");
    c["root"]["readonly"] = json!(true);
    c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]}));
    assert_eq!(env.run_ok(&c), "root-ro\ntmpfs-rw\n1\n");
    c["root"]["readonly"] = json!(false);
    assert!(env.run_ok(&c).starts_with("root-writable"));
}

#[test]
fn bind_mounts_with_options() {
    let env = TestEnv::new("bind");
    let host_dir = env.dir.join("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("hello"), "from-host\n").unwrap();
    let host_file = env.dir.join("single");
    std::fs::write(&host_file, "one-file\n").unwrap();
    let mut c = env.sh("cat /data/hello; touch /data/x 2>/dev/null && echo rw || echo ro; cat /etc/single; mkdir -p /deep/er; echo ok");
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/data", "type": "bind", "source": host_dir, "options": ["rbind", "ro"]}));
    // a file bind-mounted onto a path that does not exist yet in the image
    mounts.push(json!({"destination": "/etc/single", "type": "none", "source": host_file, "options": ["bind"]}));
    assert_eq!(env.run_ok(&c), "from-host\nro\none-file\nok\n");
    assert!(!host_dir.join("x").exists());
}

#[test]
fn bind_mount_source_relative_to_bundle() {
    let env = TestEnv::new("relbind");
    std::fs::create_dir_all(env.bundle.join("extra")).unwrap();
    std::fs::write(env.bundle.join("extra/f"), "rel\n").unwrap();
    let mut c = env.sh("cat /mnt/extra/f");
    c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt/extra", "type": "bind", "source": "extra", "options": ["bind"]}));
    assert_eq!(env.run_ok(&c), "rel\n");
}

#[test]
fn mount_targets_cannot_escape_through_symlinks() {
    let env = TestEnv::new("escape");
    // The image has a symlink pointing at the host's /tmp; mounting "onto" it must land inside
    // the rootfs.
    let outside = env.dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, env.bundle.join("rootfs/evil")).unwrap();
    let mut c = env.sh("grep -c ' /evil/mnt ' /proc/self/mountinfo || true; ls /evil");
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/evil/mnt", "type": "tmpfs", "source": "tmpfs"}));
    let out = env.run_ok(&c);
    assert!(
        !outside.join("mnt").exists(),
        "a directory was created outside the rootfs"
    );
    assert!(env
        .bundle
        .join("rootfs")
        .join(outside.strip_prefix("/").unwrap())
        .join("mnt")
        .exists());
    assert!(out.contains("mnt"), "{out}");
    assert!(env.leaked_mounts().iter().all(|l| !l.contains("outside")));
}

#[test]
fn devices_default_and_configured() {
    let env = TestEnv::new("dev");
    let mut c = env.sh("for d in null zero full random urandom tty vrun-null; do stat -c '%n %t:%T %a' /dev/$d; done; echo x > /dev/vrun-null && echo wrote; readlink /dev/fd; readlink /dev/stdin; readlink /dev/ptmx; head -c 4 /dev/zero | wc -c");
    c["linux"]["devices"] = json!([{"path": "/dev/vrun-null", "type": "c", "major": 1, "minor": 3, "fileMode": 432, "uid": 0, "gid": 0}]);
    let out = env.run_ok(&c);
    let want = "/dev/null 1:3 666\n/dev/zero 1:5 666\n/dev/full 1:7 666\n/dev/random 1:8 666\n/dev/urandom 1:9 666\n/dev/tty 5:0 666\n/dev/vrun-null 1:3 660\nwrote\n/proc/self/fd\n/proc/self/fd/0\npts/ptmx\n4\n";
    assert_eq!(out, want);
}

#[test]
fn masked_and_readonly_paths() {
    let env = TestEnv::new("masked");
    let mut c = env.sh("wc -c < /proc/timer_list; cat /proc/keys | wc -c; cat /secret/file 2>/dev/null || echo hidden; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-rw || echo sys-ro");
    std::fs::create_dir_all(env.bundle.join("rootfs/secret")).unwrap();
    std::fs::write(env.bundle.join("rootfs/secret/file"), "s3cret").unwrap();
    c["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/secret"));
    assert_eq!(env.run_ok(&c), "0\n0\nhidden\nsys-ro\n");
}

/// `vrun run --no-pivot` of the config written.
fn run_no_pivot(env: &TestEnv) -> std::process::Output {
    env.cmd()
        .args(["run", "--no-pivot", "--bundle"])
        .arg(&env.bundle)
        .arg(env.id("c"))
        .output()
        .unwrap()
}

#[test]
fn no_pivot_moves_the_root() {
    let env = TestEnv::new("nopivot");
    env.write_config(&env.sh("ls / | grep -c bin"));
    let out = run_no_pivot(&env);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
}

#[test]
fn no_pivot_leaves_no_full_proc_or_sys_to_mount_another_from() {
    let env = TestEnv::new("nopivotproc");
    // A user namespace of the container's own (CAP_SETFCAP lets it map root) may mount procfs
    // or sysfs only where a full one is visible: with --no-pivot the host's /proc and /sys
    // would be, under the chroot, unless vrun detaches them first (runc's rule).
    let mut c = env.sh(
        "unshare -mrpf mount -t proc proc /tmp && echo proc-mounted; unshare -mrnf mount -t sysfs sysfs /tmp && echo sysfs-mounted; unshare -mr true && echo userns-ok; cat /proc/self/mountinfo",
    );
    for set in c["process"]["capabilities"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        set.as_array_mut().unwrap().push(json!("CAP_SETFCAP"));
    }
    c["root"]["readonly"] = json!(false);
    env.write_config(&c);
    let out = run_no_pivot(&env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = messages(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    // the check itself works: a user namespace is made
    assert!(stdout.contains("userns-ok"), "{stdout}{stderr}");
    assert!(!stdout.contains("proc-mounted"), "{stdout}");
    assert!(!stdout.contains("sysfs-mounted"), "{stdout}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(env.leaked_mounts().is_empty(), "{:?}", env.leaked_mounts());
}

#[test]
fn proc_or_sys_on_a_symlink_in_the_image_is_refused() {
    let env = TestEnv::new("procsymlink");
    let c = env.sh("true");
    let rootfs = env.bundle.join("rootfs");
    for dir in ["proc", "sys"] {
        std::fs::remove_dir(rootfs.join(dir)).unwrap();
        std::os::unix::fs::symlink("tmp", rootfs.join(dir)).unwrap();
        let typ = if dir == "proc" { "proc" } else { "sysfs" };
        assert_create_fails(
            &env,
            &c,
            &format!("(/{dir}): filesystem \"{typ}\" must be mounted on ordinary directory; /{dir} in the rootfs is a symlink"),
        );
        std::fs::remove_file(rootfs.join(dir)).unwrap();
        std::fs::create_dir(rootfs.join(dir)).unwrap();
    }
    // a file there is refused too
    std::fs::remove_dir(rootfs.join("proc")).unwrap();
    std::fs::write(rootfs.join("proc"), "").unwrap();
    assert_create_fails(&env, &c, "/proc in the rootfs is a file");
    // nothing was mounted on the symlink's target
    assert_eq!(std::fs::read_dir(rootfs.join("tmp")).unwrap().count(), 0);
}

#[test]
fn a_read_only_dev_is_filled_first_and_made_read_only_after() {
    let env = TestEnv::new("devro");
    let mut c = env.sh(
        "test -c /dev/null && test -d /dev/pts && test -L /dev/fd && echo filled; echo x > /dev/null && echo null-ok; touch /dev/new 2>&1; grep ' /dev ' /proc/self/mountinfo | cut -d' ' -f6",
    );
    for m in c["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    let out = env.run_ok(&c);
    assert!(out.contains("filled") && out.contains("null-ok"), "{out}");
    assert!(
        out.contains("touch: /dev/new: Read-only file system"),
        "{out}"
    );
    let opts = out.lines().last().unwrap();
    assert!(opts == "ro" || opts.starts_with("ro,"), "{out}");
}

#[test]
fn rootfs_propagation_is_applied_for_every_mode() {
    let env = TestEnv::new("prop");
    // The optional fields of the root's line in mountinfo (between the mount options and
    // the "-"), and of the /proc mounted under it.
    let c = env.sh("awk '$5 == \"/\" || $5 == \"/proc\" { f = \"\"; for (i = 7; $i != \"-\"; i++) f = f $i; print $5 \"=\" f }' /proc/self/mountinfo");
    for (mode, root, proc) in [
        ("shared", "shared", ""),
        ("rshared", "shared", "shared"),
        ("slave", "", ""),
        ("rslave", "", ""),
        ("private", "", ""),
        ("rprivate", "", ""),
        ("unbindable", "unbindable", ""),
        ("runbindable", "unbindable", "unbindable"),
    ] {
        let mut c = c.clone();
        c["linux"]["rootfsPropagation"] = json!(mode);
        let (code, out, err) = env.run(&c);
        assert_eq!(code, 0, "{mode}: {err}");
        let field = |mnt: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{mnt}=")))
                .unwrap_or_else(|| panic!("{mode}: no {mnt} in {out}"))
                .to_string()
        };
        // shared:N with N the peer group: only the kind matters here.
        let kind = |f: String| {
            f.trim_end_matches(|c: char| c.is_ascii_digit())
                .trim_end_matches(':')
                .to_string()
        };
        assert_eq!(kind(field("/")), root, "{mode}: {out}");
        assert_eq!(kind(field("/proc")), proc, "{mode}: {out}");
    }
}

#[test]
fn relative_mount_destinations_are_relative_to_the_root() {
    let env = TestEnv::new("reldest");
    let mut c = env.sh("grep ' /mnt/rel ' /proc/self/mountinfo | cut -d' ' -f5,9");
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "mnt/rel", "type": "tmpfs", "source": "tmpfs"}));
    let n = c["mounts"].as_array().unwrap().len() - 1;
    let (code, out, err) = env.run(&c);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "/mnt/rel tmpfs\n");
    assert!(
        err.contains("warning: ")
            && err.contains(&format!("mounts[{n}].destination"))
            && err.contains("taken as /mnt/rel"),
        "{err}"
    );
    // nothing was mounted on the host's /mnt
    assert!(!std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/mnt/rel")));
}

#[test]
fn recursive_atime_options_change_the_atime_mode() {
    let env = TestEnv::new("ratime");
    let src = env.dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    // The per-mount options of the bind (field 6 of mountinfo).
    let c = env.sh("awk '$5 == \"/data\" { print $6 }' /proc/self/mountinfo");
    let atime = |opts: &str| {
        let o: Vec<&str> = opts.trim().split(',').collect();
        if o.contains(&"noatime") {
            "noatime"
        } else if o.contains(&"relatime") {
            "relatime"
        } else {
            "strictatime"
        }
    };
    // Each from a first mode the option must change (the remount of a bind applies
    // `noatime`/`strictatime`, then the recursive option), so a no-op fails.
    for (opts, want) in [
        (["rbind", "strictatime", "rnoatime"], "noatime"),
        (["rbind", "noatime", "rstrictatime"], "strictatime"),
        (["rbind", "noatime", "rnorelatime"], "strictatime"),
        (["rbind", "noatime", "rrelatime"], "relatime"),
        (["rbind", "noatime", "ratime"], "relatime"),
        (["rbind", "strictatime", "rnostrictatime"], "relatime"),
    ] {
        let mut c = c.clone();
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/data", "type": "bind", "source": src, "options": opts}));
        let (code, out, err) = env.run(&c);
        assert_eq!(code, 0, "{opts:?}: {err}");
        assert_eq!(atime(&out), want, "{opts:?}: {out}");
    }
}

#[test]
fn cgroup_mount_shows_the_containers_own_cgroup() {
    let env = TestEnv::new("cgmount");
    let mut c = env.sh("cat /sys/fs/cgroup/memory/memory.limit_in_bytes; touch /sys/fs/cgroup/memory/x 2>/dev/null && echo rw || echo ro");
    c["linux"]["resources"]["memory"] = json!({"limit": 50331648});
    assert_eq!(env.run_ok(&c), "50331648\nro\n");
}

/// Images whose /etc/resolv.conf or /etc/hosts is a symlink to a file they do not have
/// (systemd-resolved's `../run/systemd/resolve/stub-resolv.conf`, an absolute link): every
/// Docker, podman and Kubernetes container bind-mounts those two. The link is resolved inside
/// the rootfs and what is missing of its target made there, as runc does; nothing outside.
#[test]
fn a_mount_onto_a_dangling_symlink_lands_on_its_target_inside_the_rootfs() {
    let env = TestEnv::new("dangling");
    let rootfs = env.bundle.join("rootfs");
    std::os::unix::fs::symlink(
        "../run/systemd/resolve/stub-resolv.conf",
        rootfs.join("etc/resolv.conf"),
    )
    .unwrap();
    let absolute_target = format!("/vrun-test-nowhere-{}/hosts", std::process::id());
    std::os::unix::fs::symlink(&absolute_target, rootfs.join("etc/hosts")).unwrap();
    std::os::unix::fs::symlink("../var/lib/missing-dir", rootfs.join("etc/data")).unwrap();
    let (resolv, hosts) = (env.dir.join("resolv.conf"), env.dir.join("hosts"));
    std::fs::write(&resolv, "nameserver 192.0.2.53\n").unwrap();
    std::fs::write(&hosts, "192.0.2.1 db\n").unwrap();
    let mut c = env.sh("cat /etc/resolv.conf /etc/hosts; test -d /etc/data && echo data-dir");
    let mounts = c["mounts"].as_array_mut().unwrap();
    for (dest, src) in [("/etc/resolv.conf", &resolv), ("/etc/hosts", &hosts)] {
        mounts.push(
            json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "ro"]}),
        );
    }
    mounts.push(json!({"destination": "/etc/data", "type": "tmpfs", "source": "tmpfs"}));
    let out = env.run_ok(&c);
    assert_eq!(out, "nameserver 192.0.2.53\n192.0.2.1 db\ndata-dir\n");
    assert!(rootfs
        .join("run/systemd/resolve/stub-resolv.conf")
        .is_file());
    assert!(rootfs
        .join(absolute_target.trim_start_matches('/'))
        .is_file());
    assert!(rootfs.join("var/lib/missing-dir").is_dir());
    assert!(
        !std::path::Path::new(&absolute_target)
            .parent()
            .unwrap()
            .exists(),
        "made outside the rootfs"
    );
}

/// A `process.cwd` the image does not have is made, inside the rootfs, as runc makes it (a
/// Kubernetes `workingDir` not in the image relies on it): also through a symlink, which
/// resolves inside the rootfs; for a process of another user, the directory is root's with
/// mode 0755, as runc leaves it. (`exec --cwd` makes nothing, as with runc.)
#[test]
fn a_missing_cwd_is_made_inside_the_rootfs() {
    let env = TestEnv::new("mkcwd");
    let rootfs = env.bundle.join("rootfs");
    std::os::unix::fs::symlink("/", rootfs.join("up")).unwrap();
    let mut c = env.sh("pwd; stat -c '%u %a' .");
    c["process"]["cwd"] = json!("/work/app/sub");
    assert_eq!(env.run_ok(&c), "/work/app/sub\n0 755\n");
    assert!(rootfs.join("work/app/sub").is_dir());
    c["process"]["cwd"] = json!("/up/up/escape-cwd");
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    assert_eq!(env.run_ok(&c), "/escape-cwd\n0 755\n");
    assert!(rootfs.join("escape-cwd").is_dir());
    assert!(
        !std::path::Path::new("/escape-cwd").exists(),
        "made outside the rootfs"
    );
}
