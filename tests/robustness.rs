//! vrun killed at every step of create, and many lifecycles in a row: nothing may be left.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn proc_state(pid: u32) -> Option<char> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 2..].chars().next()
}

fn cgroup_pids(id: &str) -> Vec<i32> {
    cgroup_dirs_named(id)
        .iter()
        .flat_map(|d| {
            std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// `create` stopped at each named step (VRUN_TEST_STOP_AT) and SIGKILLed there; then
/// `delete --force` must leave no cgroup, mount, state directory or process.
#[test]
fn create_killed_at_every_step_is_cleaned_by_delete_force() {
    let env = TestEnv::new("fault");
    env.write_config(&env.sh("sleep 30"));
    kill_create_at_every_step(&env);
}

/// The same for a container without a mount namespace, whose mounts are the caller's: the
/// bind of its rootfs is recorded before init exists, so delete --force finds it.
#[test]
fn create_without_a_mount_namespace_killed_at_every_step_leaves_no_mount() {
    let env = TestEnv::new("fault-nomnt");
    let mut c = env.sh("sleep 30");
    c["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "uts"}]);
    c["linux"].as_object_mut().unwrap().remove("maskedPaths");
    c["linux"].as_object_mut().unwrap().remove("readonlyPaths");
    env.write_config(&c);
    kill_create_at_every_step(&env);
}

fn kill_create_at_every_step(env: &TestEnv) {
    for step in vrun_runtime::fault::CREATE_STEPS {
        let id = env.id(step);
        let mut cmd = env.cmd();
        cmd.env("VRUN_TEST_STOP_AT", step)
            .args(["create", "--bundle"])
            .arg(&env.bundle)
            .arg(&id)
            .stdout(std::fs::File::create(env.dir.join("fault.out")).unwrap())
            .stderr(std::fs::File::create(env.dir.join("fault.err")).unwrap());
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while proc_state(child.id()) != Some('T') {
            assert!(
                Instant::now() < deadline,
                "create never reached step {step}: {}",
                std::fs::read_to_string(env.dir.join("fault.err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        let _ = child.wait();
        let pids = cgroup_pids(&id);
        let out = env.vrun(&["delete", "--force", &id]);
        assert!(
            out.status.success() || !env.root.join(&id).exists(),
            "step {step}: delete --force: {}",
            messages(&out.stderr)
        );
        assert!(!env.root.join(&id).exists(), "step {step}: state dir left");
        assert!(
            cgroup_dirs_named(&id).is_empty(),
            "step {step}: cgroup left"
        );
        assert!(env.leaked_mounts().is_empty(), "step {step}: mounts left");
        for pid in pids {
            let deadline = Instant::now() + Duration::from_secs(5);
            while proc_state(pid as u32).is_some_and(|s| s != 'Z') {
                assert!(
                    Instant::now() < deadline,
                    "step {step}: process {pid} survived"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Configs as large as users make them: 300 KB of annotations (Kubernetes allows 256 KiB of
/// them) and a 10 MB config. Every step that carries the state carries all of it: create
/// (init gets the state over the sync socket), the hooks' stdin (in the runtime and in the
/// container), `state`, `exec`, `start` and `delete`.
#[test]
fn configs_of_300_kb_and_10_mb_work_in_every_step() {
    for (name, size) in [("300k", 300 * 1000), ("10m", 10 * 1000 * 1000)] {
        let env = TestEnv::new(&format!("big-{name}"));
        let mut c = env.sh("sleep 30");
        let value = "x".repeat(size);
        c["annotations"] = serde_json::json!({"example.com/big": value});
        let seen = |f: &str| env.dir.join(f).to_str().unwrap().to_string();
        c["hooks"] = serde_json::json!({
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!("wc -c > {}", seen("create-runtime"))]}],
            // (in the container's mount namespace, before pivot_root: the host's paths)
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", format!("wc -c > {}", seen("create-container"))]}],
            "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", format!("wc -c > {}", seen("poststart"))]}],
        });
        let id = env.id("c");
        env.create(&id, &c);
        let state = env.state(&id);
        assert_eq!(
            state["annotations"]["example.com/big"]
                .as_str()
                .map(str::len),
            Some(size),
            "{name}: vrun state"
        );
        let out = env.vrun(&["exec", &id, "echo", "exec-ok"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "exec-ok\n",
            "{name}: exec: {}",
            messages(&out.stderr)
        );
        let out = env.vrun(&["start", &id]);
        assert!(
            out.status.success(),
            "{name}: start: {}",
            messages(&out.stderr)
        );
        let bytes = |p: std::path::PathBuf| -> usize {
            std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("{name}: {}: {e}", p.display()))
                .trim()
                .parse()
                .unwrap()
        };
        for file in [
            env.dir.join("create-runtime"),
            env.dir.join("create-container"),
            env.dir.join("poststart"),
        ] {
            let n = bytes(file.clone());
            assert!(
                n > size,
                "{name}: {} read {n} bytes of the state",
                file.display()
            );
        }
        let out = env.vrun(&["delete", "--force", &id]);
        assert!(
            out.status.success(),
            "{name}: delete: {}",
            messages(&out.stderr)
        );
        assert_no_state_left(&env, name);
    }
}
