//! vrun run by an ordinary user: a user the test makes (with subordinate uid and gid ranges,
//! removed at the end), its state in $XDG_RUNTIME_DIR/vrun, a user namespace with the
//! user's own id and its subordinate ranges (newuidmap/newgidmap), and no cgroup where the
//! user may not make one (this host's v1 hierarchies).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};

/// A user made for one test, with 65536 subordinate uids and gids; removed (with its
/// /etc/subuid and /etc/subgid lines) when dropped.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    sub_start: u32,
    /// Its $XDG_RUNTIME_DIR, which it owns.
    runtime_dir: PathBuf,
}

impl TestUser {
    fn new(env: &TestEnv, tag: &str) -> TestUser {
        let name = format!("vrl{tag}{}", std::process::id() % 100000);
        // A range per test process, far from the ones distributions hand out (100000+).
        let sub_start =
            1_000_000 + (std::process::id() % 1000) * 131_072 + tag.len() as u32 * 65_536;
        let range = format!("{sub_start}-{}", sub_start + 65_535);
        let st = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", &name])
            .status()
            .unwrap();
        assert!(st.success(), "useradd {name}");
        let mut user = TestUser {
            uid: 0,
            gid: 0,
            sub_start,
            runtime_dir: env.dir.join(format!("xdg-{name}")),
            name,
        };
        let st = Command::new("usermod")
            .args(["--add-subuids", &range, "--add-subgids", &range, &user.name])
            .status()
            .unwrap();
        assert!(st.success(), "usermod --add-subuids {range}");
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, &user.name])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        user.uid = id("-u");
        user.gid = id("-g");
        std::fs::create_dir_all(&user.runtime_dir).unwrap();
        chown(&user.runtime_dir, user.uid, user.gid);
        user
    }

    /// `vrun ARGS` as the user, in its session's environment (no --root: the default).
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid",
            &self.uid.to_string(),
            "--regid",
            &self.gid.to_string(),
            "--init-groups",
            "--reset-env",
            "env",
        ])
        .arg(format!("XDG_RUNTIME_DIR={}", self.runtime_dir.display()))
        .arg(VRUN)
        .args(args)
        .stdin(std::process::Stdio::null());
        cmd
    }

    fn vrun(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The maps a multi-range config gives it: root is the user, 1..65536 its subordinate
    /// ids.
    fn maps(&self) -> (Value, Value) {
        let map = |own: u32| {
            json!([
                {"containerID": 0, "hostID": own, "size": 1},
                {"containerID": 1, "hostID": self.sub_start, "size": 65536}
            ])
        };
        (map(self.uid), map(self.gid))
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // containers first (a user with processes cannot be removed)
        if let Ok(entries) = std::fs::read_dir(self.runtime_dir.join("vrun")) {
            for e in entries.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !id.starts_with('@') {
                    let _ = self.vrun(&["delete", "--force", &id]);
                }
            }
        }
        let _ = Command::new("userdel").arg(&self.name).status();
        for file in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(text) = std::fs::read_to_string(file) {
                let kept: String = text
                    .lines()
                    .filter(|l| !l.starts_with(&format!("{}:", self.name)))
                    .map(|l| format!("{l}\n"))
                    .collect();
                if kept != text {
                    let _ = std::fs::write(file, kept);
                }
            }
        }
    }
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

/// What `vrun spec --rootless` writes (the same for any user but for its maps), with the
/// user's own id and its subordinate ranges mapped and `args` to run; the test's bundle made
/// readable by everyone.
fn rootless_config(env: &TestEnv, user: &TestUser, args: &[&str]) -> Value {
    let dir = env.dir.join("spec");
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(dir.join("config.json"));
    let out = Command::new(VRUN)
        .args(["spec", "--rootless", "--bundle"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let mut c: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(args);
    let (uid, gid) = user.maps();
    c["linux"]["uidMappings"] = uid;
    c["linux"]["gidMappings"] = gid;
    for p in [&env.dir, &env.bundle] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    c
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_ordinary_user_runs_containers_with_its_subordinate_ids() {
    let env = TestEnv::new("rootless");
    let user = TestUser::new(&env, "a");
    let rootfs = env.bundle.join("rootfs");
    // the user's own file is root's inside; one of its subordinate ids is that id minus the
    // range's start, plus one
    std::fs::write(rootfs.join("etc/own"), "").unwrap();
    chown(&rootfs.join("etc/own"), user.uid, user.gid);
    std::fs::write(rootfs.join("etc/sub"), "").unwrap();
    chown(
        &rootfs.join("etc/sub"),
        user.sub_start + 999,
        user.sub_start + 999,
    );
    let c = rootless_config(
        &env,
        &user,
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u:%g /etc/own /etc/sub",
        ],
    );
    env.write_config(&c);
    let bundle = env.bundle.to_str().unwrap();
    let out = user.vrun(&["run", "--bundle", bundle, "r1"]);
    let err = messages(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines: Vec<Vec<String>> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    let row = |a: u32, b: u32, c: u32| vec![a.to_string(), b.to_string(), c.to_string()];
    assert_eq!(lines[0], row(0, user.uid, 1));
    assert_eq!(lines[1], row(1, user.sub_start, 65536));
    assert_eq!(lines[2], row(0, user.gid, 1));
    assert_eq!(lines[3], row(1, user.sub_start, 65536));
    assert_eq!(lines[4], vec!["0"]);
    assert_eq!(lines[5], vec!["0:0"]);
    assert_eq!(lines[6], vec!["1000:1000"]);
    // no cgroup the user may make here: said, and the container ran anyway
    assert!(err.contains("rootless: no cgroup of its own"), "{err}");
    // `vrun spec --rootless`, by the user in a directory of its own: its own ids mapped
    let own_dir = user.runtime_dir.join("bundle");
    std::fs::create_dir(&own_dir).unwrap();
    chown(&own_dir, user.uid, user.gid);
    let out = user.vrun(&["spec", "--rootless", "--bundle", own_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let spec: Value =
        serde_json::from_slice(&std::fs::read(own_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        spec["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": user.uid, "size": 1}])
    );
    std::fs::remove_dir_all(&own_dir).unwrap();

    // create, start, exec, ps, list, kill, delete, in the user's $XDG_RUNTIME_DIR/vrun
    let c = rootless_config(&env, &user, &["sleep", "30"]);
    env.write_config(&c);
    // (stdio not captured: init would hold the pipes open)
    let out = user
        .command(&["create", "--bundle", bundle, "r2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    let state_dir = user.runtime_dir.join("vrun/r2");
    assert!(state_dir.is_dir());
    assert_eq!(std::fs::metadata(&state_dir).unwrap().uid(), user.uid);
    assert!(user.vrun(&["start", "r2"]).status.success());
    let exec = user.vrun(&["exec", "r2", "id", "-u"]);
    assert!(exec.status.success(), "{}", messages(&exec.stderr));
    assert!(stdout(&exec).starts_with("0\n"), "{}", stdout(&exec));
    let ps = user.vrun(&["ps", "--format", "json", "r2"]);
    let pids: Vec<i64> = serde_json::from_slice(&ps.stdout).unwrap();
    let state: Value = serde_json::from_slice(&user.vrun(&["state", "r2"]).stdout).unwrap();
    assert_eq!(state["status"], "running");
    assert!(pids.contains(&state["pid"].as_i64().unwrap()), "{pids:?}");
    let list = stdout(&user.vrun(&["list", "-q"]));
    assert_eq!(list, "r2\n");
    assert!(user.vrun(&["kill", "r2", "KILL"]).status.success());
    for _ in 0..100 {
        let state: Value = serde_json::from_slice(&user.vrun(&["state", "r2"]).stdout).unwrap();
        if state["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(user.vrun(&["delete", "r2"]).status.success());
    let left: Vec<_> = std::fs::read_dir(user.runtime_dir.join("vrun"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left in the user's runtime dir: {left:?}");
}

#[test]
fn an_ordinary_user_is_told_what_it_cannot_have() {
    let env = TestEnv::new("rootlessno");
    let user = TestUser::new(&env, "bb");
    let bundle = env.bundle.to_str().unwrap().to_string();
    // no user namespace
    let mut c = rootless_config(&env, &user, &["true"]);
    c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "pid"}, {"type": "uts"}]);
    c["linux"].as_object_mut().unwrap().remove("uidMappings");
    c["linux"].as_object_mut().unwrap().remove("gidMappings");
    env.write_config(&c);
    let out = user.vrun(&["run", "--bundle", &bundle, "n1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        messages(&out.stderr).contains("linux.namespaces: vrun runs as uid")
            && messages(&out.stderr).contains("needs a user namespace of its own"),
        "{}",
        messages(&out.stderr)
    );
    // a limit, where the user may make no cgroup: refused, naming the field
    let mut c = rootless_config(&env, &user, &["true"]);
    c["linux"]["resources"] = json!({"pids": {"limit": 20}});
    env.write_config(&c);
    let out = user.vrun(&["run", "--bundle", &bundle, "n2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        messages(&out.stderr).contains("linux.resources.pids.limit: a rootless container gets limits only in a cgroup its user may make"),
        "{}",
        messages(&out.stderr)
    );
    // ids outside the user's ranges: newuidmap's refusal, named
    let mut c = rootless_config(&env, &user, &["true"]);
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
    env.write_config(&c);
    let out = user.vrun(&["run", "--bundle", &bundle, "n3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        messages(&out.stderr).contains("linux.uidMappings: newuidmap refused the mappings"),
        "{}",
        messages(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(user.runtime_dir.join("vrun"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the user's runtime dir: {left:?}");
    assert!(cgroup_dirs_named("n1").is_empty() && cgroup_dirs_named("n2").is_empty());
}
