//! runc's flags that vrun took up for runtime-spec 1.2 and runc 1.2/1.3 clients, each with a
//! real container: --pidfd-socket (create, run, exec), exec --cgroup, --ignore-paused,
//! --apparmor and --process-label, run --no-subreaper, update --cpu-burst and --cpu-share,
//! the Intel RDT schemata, -v, and socket activation (LISTEN_FDS).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};

use common::*;

/// Receives a pidfd on `listener` and signals the process through it.
fn pidfd_from(listener: &UnixListener) -> OwnedFd {
    let (conn, _) = listener.accept().unwrap();
    recv_fd(&conn)
}

#[test]
fn pidfd_socket_hands_over_init_and_exec_processes() {
    let env = TestEnv::new("pidfd");
    let id = env.id("c");
    env.write_config(&env.default_config(&["sleep", "30"]));
    let sock = env.dir.join("pidfd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut create = env
        .cmd()
        .args(["create", "--pidfd-socket"])
        .arg(&sock)
        .arg("--bundle")
        .arg(&env.bundle)
        .arg(&id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let init = pidfd_from(&listener);
    assert!(create.wait().unwrap().success());
    env.wait_status(&id, "created");
    // an exec'd process's pidfd: killing through it ends that process only
    let mut exec = env
        .cmd()
        .args(["exec", "--pidfd-socket"])
        .arg(&sock)
        .args([&id, "sleep", "30"])
        .spawn()
        .unwrap();
    let exec_fd = pidfd_from(&listener);
    pidfd_signal(&exec_fd, libc::SIGKILL);
    let status = exec.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        None,
        "vrun exec itself was killed"
    );
    assert_eq!(
        status.code(),
        Some(137),
        "the exec'd process died of SIGKILL"
    );
    env.wait_status(&id, "created");
    // the init's pidfd stops the container
    pidfd_signal(&init, libc::SIGKILL);
    env.wait_status(&id, "stopped");
    // run -d too
    let id2 = env.id("r");
    let out = env
        .cmd()
        .args(["run", "-d", "--pidfd-socket"])
        .arg(&sock)
        .arg("--bundle")
        .arg(&env.bundle)
        .arg(&id2)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let fd = pidfd_from(&listener);
    drop(out);
    env.wait_status(&id2, "running");
    pidfd_signal(&fd, libc::SIGKILL);
    env.wait_status(&id2, "stopped");
}

#[test]
fn exec_cgroup_runs_in_a_sub_cgroup_of_the_containers() {
    let env = TestEnv::new("subcg");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    // pure v2: one hierarchy; otherwise the pids hierarchy (a hybrid host's unified one is
    // another hierarchy, which keeps the container's directory)
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let pids_dir = cgroup_dirs_named(&id)
        .into_iter()
        .find(|d| v2 || d.starts_with("/sys/fs/cgroup/pids"))
        .expect("the container's pids cgroup");
    std::fs::create_dir(pids_dir.join("sub")).unwrap();
    let arg = if v2 { "sub" } else { "pids:sub" };
    let out = env.vrun(&["exec", "--cgroup", arg, &id, "cat", "/proc/self/cgroup"]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| {
            if v2 {
                l.starts_with("0::")
            } else {
                l.contains(":pids:")
            }
        })
        .unwrap();
    assert!(line.ends_with("/sub"), "{text}");
    // another hierarchy stays in the container's own directory (its cgroup namespace's root)
    if !v2 {
        let mem = text.lines().find(|l| l.contains(":memory:")).unwrap();
        assert!(mem.ends_with(":/"), "{text}");
    }
    // a sub-cgroup that does not exist, and one above the container's
    for (arg, needle) in [
        ("nope", "the container has no sub-cgroup \"nope\""),
        ("../x", "must be a path below the container's cgroup"),
    ] {
        let out = env.vrun(&["exec", "--cgroup", arg, &id, "true"]);
        assert_eq!(out.status.code(), Some(255));
        assert!(
            messages(&out.stderr).contains(needle),
            "{}",
            messages(&out.stderr)
        );
    }
    let out = env.vrun(&[
        "exec", "--cgroup", "sub", "--cgroup", "pids:sub", &id, "true",
    ]);
    assert!(
        messages(&out.stderr)
            .contains("invalid --cgroup argument: sub (missing <controller>: prefix)"),
        "{}",
        messages(&out.stderr)
    );
    // deleted with its sub-cgroup
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    assert!(!pids_dir.exists());
}

#[test]
fn exec_into_a_paused_container_needs_ignore_paused() {
    let env = TestEnv::new("pausedexec");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    assert!(env.vrun(&["pause", &id]).status.success());
    let out = env.vrun(&["exec", &id, "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        messages(&out.stderr)
            .contains("cannot exec in a paused container (use --ignore-paused to override)"),
        "{}",
        messages(&out.stderr)
    );
    // with the flag the process starts, frozen with the rest, and finishes on resume
    let mut exec = env
        .cmd()
        .args(["exec", "--ignore-paused", &id, "sh", "-c", "echo ran"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(exec.try_wait().unwrap().is_none(), "ran while paused");
    assert!(env.vrun(&["resume", &id]).status.success());
    let out = exec.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
}

#[test]
fn exec_labels_are_refused_or_warned_like_the_configs() {
    let env = TestEnv::new("execlabel");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'));
    let out = env.vrun(&["exec", "--apparmor", "vrun-test-profile", &id, "true"]);
    if apparmor {
        // the profile does not exist: the kernel refuses the switch
        assert!(!out.status.success());
    } else {
        assert_eq!(out.status.code(), Some(255));
        assert!(
            messages(&out.stderr).contains("apparmorProfile: AppArmor is not enabled on this host"),
            "{}",
            messages(&out.stderr)
        );
    }
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        let out = env.vrun(&[
            "exec",
            "--process-label",
            "system_u:system_r:container_t:s0",
            &id,
            "true",
        ]);
        assert!(out.status.success());
        assert!(
            messages(&out.stderr).contains("selinuxLabel: \"system_u:system_r:container_t:s0\" ignored: SELinux is not enabled"),
            "{}",
            messages(&out.stderr)
        );
    }
}

#[test]
fn run_is_the_subreaper_of_orphans_unless_told_not_to() {
    let env = TestEnv::new("subreaper");
    // no pid namespace: an orphan goes to the nearest subreaper on the host
    let mut c = env.sh(
        "sh -c 'sleep 2 & echo $! > /tmp/orphan'; sleep 0.2; grep PPid /proc/$(cat /tmp/orphan)/status | cut -f2; kill $(cat /tmp/orphan)",
    );
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    env.write_config(&c);
    for (flags, expect_vrun) in [(vec![], true), (vec!["--no-subreaper"], false)] {
        let id = env.id(if expect_vrun { "a" } else { "b" });
        let child = env
            .cmd()
            .arg("run")
            .args(&flags)
            .arg("--bundle")
            .arg(&env.bundle)
            .arg(&id)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let vrun_pid = child.id().to_string();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let ppid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            ppid == vrun_pid,
            expect_vrun,
            "{flags:?}: orphan's parent {ppid}, vrun {vrun_pid}"
        );
    }
}

#[test]
fn update_cpu_burst_and_runcs_spelling_of_cpu_shares() {
    let env = TestEnv::new("burst");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    let out = env.vrun(&[
        "update",
        "--cpu-share",
        "512",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        "--cpu-burst",
        "20000",
        &id,
    ]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let state = env.state(&id);
    let pid = state["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v2 = !cg
        .lines()
        .any(|l| l.contains(":cpu,") || l.contains(":cpu:"));
    if v2 {
        let rel = cg.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
        let dir = format!("/sys/fs/cgroup{rel}");
        assert_eq!(
            std::fs::read_to_string(format!("{dir}/cpu.max.burst"))
                .unwrap()
                .trim(),
            "20000"
        );
    } else {
        let dir = cgroup_dirs_named(&id)
            .into_iter()
            .find(|d| d.join("cpu.cfs_burst_us").exists())
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("cpu.cfs_burst_us"))
                .unwrap()
                .trim(),
            "20000"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("cpu.shares"))
                .unwrap()
                .trim(),
            "512"
        );
    }
    for flag in ["--l3-cache-schema", "--mem-bw-schema"] {
        let out = env.vrun(&["update", flag, "L3:0=f", &id]);
        assert_eq!(out.status.code(), Some(1));
        assert!(messages(&out.stderr).contains(&format!("{flag}: vrun does not apply Intel RDT")));
    }
}

#[test]
fn dash_v_prints_the_version_like_runc() {
    let out = Command::new(VRUN).arg("-v").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("vrun ") && text.contains("spec: "),
        "{text}"
    );
}

#[test]
fn socket_activation_fds_are_passed_on_with_listen_fds() {
    let env = TestEnv::new("listen");
    env.write_config(&env.sh(
        "echo \"$LISTEN_FDS $LISTEN_PID\"; echo through-listen-fd >&3; ls /proc/self/fd | wc -l",
    ));
    let (r, w) = nix::unistd::pipe().unwrap();
    let id = env.id("c");
    // LISTEN_PID must be vrun's own pid: the shell execs vrun with its own.
    let mut cmd = env.cmd_with_listen_fds(1);
    cmd.args(["run", "--bundle"])
        .arg(&env.bundle)
        .arg(&id)
        .stdout(Stdio::piped());
    pass_as_fd3(&mut cmd, w.as_raw_fd());
    let child = cmd.spawn().unwrap();
    drop(w);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "1 1", "{text}");
    // stdio, fd 3, and the fd ls reads
    assert_eq!(lines[1].trim(), "5", "{text}");
    let mut got = String::new();
    std::fs::File::from(r).read_to_string(&mut got).unwrap();
    assert_eq!(got, "through-listen-fd\n");
}

/// A rootfs that can run the host's python3 (for a client of NOTIFY_SOCKET): /usr bound
/// read-only, /lib and /lib64 as the host's merged-/usr links.
fn with_host_python(env: &TestEnv, c: &mut serde_json::Value) {
    let rootfs = env.bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("usr")).unwrap();
    for l in ["lib", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{l}"), rootfs.join(l)).unwrap();
    }
    c["mounts"].as_array_mut().unwrap().push(
        serde_json::json!({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}),
    );
}

#[test]
fn notify_socket_passes_the_containers_ready_on_with_its_pid() {
    let env = TestEnv::new("notify");
    let host = env.dir.join("host-notify.sock");
    let listener = std::os::unix::net::UnixDatagram::bind(&host).unwrap();
    listener
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut c = env.default_config(&[
        "/usr/bin/python3",
        "-c",
        "import os, socket, time; time.sleep(0.3); \
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); \
         s.sendto(b'STATUS=starting', os.environ['NOTIFY_SOCKET']); \
         s.sendto(b'READY=1\\nSTATUS=up', os.environ['NOTIFY_SOCKET']); time.sleep(30)",
    ]);
    with_host_python(&env, &mut c);
    env.write_config(&c);
    // run -d: returns once the container is ready
    let id = env.id("r");
    let t0 = std::time::Instant::now();
    let mut cmd = env.cmd();
    cmd.env("NOTIFY_SOCKET", &host)
        .args(["run", "-d", "--bundle"])
        .arg(&env.bundle)
        .arg(&id);
    let (status, _, err) = env.detached(cmd);
    assert!(status.success(), "{err}");
    assert!(
        t0.elapsed() >= std::time::Duration::from_millis(300),
        "did not wait for READY"
    );
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    let mut buf = [0u8; 512];
    let n = listener.recv(&mut buf).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        format!("READY=1\nMAINPID={pid}\n")
    );
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    // create with NOTIFY_SOCKET, start without: the socket create was given
    let id = env.id("c");
    let out = env
        .cmd()
        .env("NOTIFY_SOCKET", &host)
        .args(["create", "--bundle"])
        .arg(&env.bundle)
        .arg(&id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    assert!(env.vrun(&["start", &id]).status.success());
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    let n = listener.recv(&mut buf).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        format!("READY=1\nMAINPID={pid}\n")
    );
}

/// The flags of `PROG [CMD] --help` (every `--name` it lists).
fn help_flags(prog: &str, cmd: Option<&str>) -> Option<Vec<String>> {
    let mut c = Command::new(prog);
    if let Some(cmd) = cmd {
        c.arg(cmd);
    }
    let out = c.arg("--help").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // option lines only ("  -b, --bundle <DIR>  ...", "   --format value, -f value  ..."),
    // up to where the description starts
    let mut flags: Vec<String> = text
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .map(|l| l.split("  ").next().unwrap_or(""))
        .flat_map(|spec| spec.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '-')))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(String::from)
        .collect();
    flags.sort();
    flags.dedup();
    Some(flags)
}

fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

#[test]
fn readme_table_of_runcs_flags_is_true() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("### runc's commands and flags, side by side")
        .nth(1)
        .expect("the README's table of runc's flags");
    let rows: Vec<Vec<&str>> = section
        .lines()
        .take_while(|l| !l.starts_with("###"))
        .filter(|l| l.starts_with("| `") || l.starts_with("| (global)"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert!(rows.len() >= 18, "{} rows", rows.len());
    let runc = Command::new("runc").arg("--version").output().is_ok();
    for row in rows {
        let cmd = match row[0] {
            "(global)" => None,
            c => Some(c.trim_matches('`')),
        };
        let runc_flags = backticked(row[1]);
        let verdict = row[2];
        let vrun = help_flags(VRUN, cmd);
        if verdict.starts_with("none") {
            assert!(
                vrun.is_none(),
                "{cmd:?}: the table says vrun lacks it, vrun has it"
            );
            continue;
        }
        let vrun = vrun.unwrap_or_else(|| panic!("{cmd:?}: vrun lacks the command"));
        let missing = if verdict.starts_with("all but") {
            backticked(verdict)
        } else {
            assert_eq!(verdict, "all", "{cmd:?}");
            Vec::new()
        };
        for flag in &runc_flags {
            assert_eq!(
                vrun.contains(flag),
                !missing.contains(flag),
                "{cmd:?} {flag}: the table is wrong about vrun"
            );
        }
        // the table covers the runc installed here (an older runc has fewer flags)
        if runc {
            if let Some(theirs) = help_flags("runc", cmd) {
                for flag in theirs
                    .into_iter()
                    .filter(|f| cmd.is_none() || f != "--help")
                {
                    assert!(
                        runc_flags.contains(&flag),
                        "{cmd:?}: runc has {flag}, the table does not list it"
                    );
                }
            }
        }
    }
}

#[test]
fn checkpoint_and_restore_say_clearly_what_keeps_them_from_working() {
    let env = TestEnv::new("criu");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    let images = env.dir.join("images");
    let images = images.to_str().unwrap();
    // no criu at all
    let out = env.vrun(&[
        "--criu",
        "/nonexistent/criu",
        "checkpoint",
        "--image-path",
        images,
        &id,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        messages(&out.stderr)
            .contains("checkpoint and restore need CRIU: /nonexistent/criu cannot be run"),
        "{}",
        messages(&out.stderr)
    );
    env.wait_status(&id, "running");
    // Debian's criu, where installed: on this machine's kernel it cannot start (its vDSO
    // check); vrun passes on what it said, and the container runs on. Where criu works, the
    // checkpoint succeeds and the container is gone, as with runc.
    if Command::new("criu").arg("--version").output().is_ok() {
        let out = env.vrun(&["checkpoint", "--image-path", images, &id]);
        if out.status.success() {
            assert!(!env.vrun(&["state", &id]).status.success());
        } else {
            let err = messages(&out.stderr);
            assert!(
                err.contains("criu dump failed") && err.contains("dump.log"),
                "{err}"
            );
            env.wait_status(&id, "running");
        }
    }
    // restore: what vrun does not restore is refused by name, leaving nothing
    let restored = env.id("restored");
    let out = env.vrun(&[
        "--criu",
        "/bin/true",
        "restore",
        "--lsm-profile",
        "apparmor:x",
        "--image-path",
        images,
        "--bundle",
        env.bundle.to_str().unwrap(),
        &restored,
    ]);
    assert_clean_failure(
        &env,
        &out,
        &restored,
        "--lsm-profile \"apparmor:x\": vrun applies no LSM label",
    );
    let out = env.vrun(&["checkpoint", "--manage-cgroups-mode", "sometimes", &id]);
    assert!(
        messages(&out.stderr).contains(
            "--manage-cgroups-mode: \"sometimes\" is not one of soft, full, strict, ignore"
        ) || messages(&out.stderr).contains("need CRIU"),
        "{}",
        messages(&out.stderr)
    );
}

/// runc's rules for checkpoint's paths, checked before CRIU runs: `--parent-path` is relative
/// to the images and must exist (runc's words); a missing `--image-path` or `--work-path` is
/// made. A stand-in CRIU that answers --version and fails the dump shows what vrun made.
#[test]
fn checkpoint_checks_the_parent_path_and_makes_the_image_and_work_paths() {
    let env = TestEnv::new("criu-paths");
    let criu = env.dir.join("fake-criu");
    std::fs::write(
        &criu,
        "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'Version: 3.17'; exit 0; }\necho \"fake criu: $1\" >&2; exit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&criu, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    let images = env.dir.join("new/images");
    let work = env.dir.join("new/work");
    let checkpoint = |extra: &[&str]| {
        let mut c = env.cmd();
        c.arg("--criu")
            .arg(&criu)
            .arg("checkpoint")
            .arg("--image-path")
            .arg(&images);
        c.args(extra).arg(&id);
        let out = c.output().unwrap();
        (out.status.code(), messages(&out.stderr))
    };
    let (code, err) = checkpoint(&["--parent-path", "/abs/parent"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--parent-path must be relative"), "{err}");
    let (code, err) = checkpoint(&["--parent-path", "../missing"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "invalid --parent-path: stat {}/../missing: no such file or directory",
            images.display()
        )),
        "{err}"
    );
    assert!(
        !env.dir.join("new").exists(),
        "the refused checkpoint left {}",
        images.display()
    );
    let (code, err) = checkpoint(&["--work-path", work.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("criu dump failed"), "{err}");
    assert!(
        images.is_dir() && work.is_dir(),
        "image and work paths not made: {err}"
    );
    env.wait_status(&id, "running");
}
