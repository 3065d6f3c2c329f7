//! vrun killed at every step of create, and many lifecycles in a row: nothing may be left.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

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

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The processes in the cgroups named so, each once (on v1 each is in every hierarchy).
fn distinct_cgroup_pids(name: &str) -> Vec<i32> {
    let mut pids = cgroup_pids(name);
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// `delete --force` of a container whose create is half-way (init cloned and placed, its pid
/// not yet recorded) in a cgroupsPath that another container shares ends that create's
/// init, not the other container: the cgroup's other processes are not its own. (The whole
/// cgroup was killed, and a neighbour's init with it, when a force delete met a create.)
#[test]
fn delete_force_of_a_half_made_container_spares_its_cgroup_neighbours() {
    let env = TestEnv::new("fault-shared");
    let shared = format!("{}-shared", env.name);
    let _cgroups = CgroupsNamed(shared.clone());
    let mut c = env.sh("sleep 30");
    c["linux"]["cgroupsPath"] = serde_json::json!(shared);
    let neighbour = env.id("neighbour");
    env.create(&neighbour, &c);
    let neighbour_pid = env.state(&neighbour)["pid"].as_i64().unwrap() as u32;

    let half = env.id("half");
    let mut create = env.cmd();
    create
        .env("VRUN_TEST_STOP_AT", "placed")
        .args(["create", "--bundle"])
        .arg(&env.bundle)
        .arg(&half)
        .stderr(std::fs::File::create(env.dir.join("half.err")).unwrap());
    // (killed if the test fails first: stopped, it holds the container's lock, which the
    // test env's cleanup would wait for)
    let mut child = KillOnDrop(create.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while proc_state(child.0.id()) != Some('T') {
        assert!(
            Instant::now() < deadline,
            "create never reached step placed: {}",
            std::fs::read_to_string(env.dir.join("half.err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let in_cgroup = distinct_cgroup_pids(&shared);
    assert_eq!(
        in_cgroup.len(),
        2,
        "the cgroup holds both inits: {in_cgroup:?}"
    );
    // (the create holds the container's lock: killed, as a create that died half-way)
    child.0.kill().unwrap();
    let _ = child.0.wait();
    let out = env.vrun(&["delete", "--force", &half]);
    assert!(
        out.status.success(),
        "delete --force: {}",
        messages(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        proc_state(neighbour_pid).is_some_and(|s| s != 'Z'),
        "the neighbour's init was killed by another container's delete"
    );
    assert_eq!(env.state(&neighbour)["status"], "created");
    // the half-made one's init ended with its create (its sync socket closed)
    let deadline = Instant::now() + Duration::from_secs(5);
    while distinct_cgroup_pids(&shared) != [neighbour_pid as i32] {
        assert!(
            Instant::now() < deadline,
            "the half-made container's init outlived its create: {:?}",
            distinct_cgroup_pids(&shared)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(env
        .vrun(&["delete", "--force", &neighbour])
        .status
        .success());
    assert!(cgroup_dirs_named(&shared).is_empty(), "cgroup left");
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

/// A pseudo-random number below `n` (xorshift, seeded by the test's pid): no crate needed,
/// and a failing sequence can be read from the test's output.
fn next_below(state: &mut u64, n: u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state % n
}

/// `create` (and `run`) SIGKILLed at random moments of their first milliseconds, a few
/// hundred times, each followed by `delete --force`: no state directory, cgroup directory
/// (the container's own or the parent it shares), registry mark or process may be left. The
/// container's cgroup nests in a parent of this test's, made by the first create and removed
/// by whoever is last out.
#[test]
fn create_killed_at_random_moments_leaves_nothing_delete_force_cannot_remove() {
    let env = TestEnv::new("randkill");
    let parent = format!("vrun-randkill-{}", std::process::id());
    let _cgroups = CgroupsNamed(parent.clone());
    let mut seed = u64::from(std::process::id()) | 1;
    // How long a whole create takes here: the kills fall within it.
    let mut c = env.sh("sleep 30");
    c["linux"]["cgroupsPath"] = serde_json::json!(format!("{parent}/probe"));
    env.write_config(&c);
    let started = Instant::now();
    assert!(env.try_create("probe").status.success());
    let span = started.elapsed().as_micros().max(2000) as u64;
    assert!(env.vrun(&["delete", "--force", "probe"]).status.success());
    let rounds = 300;
    let mut killed_early = 0;
    for i in 0..rounds {
        let id = format!("{}-k{i}", env.name);
        c["linux"]["cgroupsPath"] = serde_json::json!(format!("{parent}/{id}"));
        env.write_config(&c);
        let verb = if i % 3 == 0 { "run" } else { "create" };
        let mut child = env.spawn_quiet(&[verb], &id);
        let delay = next_below(&mut seed, span + span / 2);
        std::thread::sleep(Duration::from_micros(delay));
        if child.try_wait().unwrap().is_none() {
            killed_early += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let out = env.vrun(&["delete", "--force", &id]);
        assert!(
            out.status.success(),
            "round {i} ({verb} killed after {delay} us): delete --force: {}",
            messages(&out.stderr)
        );
        assert!(
            !env.root.join(&id).exists(),
            "round {i} ({verb} killed after {delay} us): state dir left"
        );
        let left = cgroup_dirs_named(&id);
        assert!(
            left.is_empty(),
            "round {i} ({verb} killed after {delay} us): cgroup left: {left:?}"
        );
    }
    assert!(
        killed_early > rounds / 3,
        "only {killed_early} kills fell inside create"
    );
    let left = cgroup_dirs_named(&parent);
    assert!(left.is_empty(), "the shared parent cgroup left: {left:?}");
    assert_no_state_left(&env, "after the kills");
}

/// Damages a state file (its path, its text).
type Damage<'a> = dyn Fn(&std::path::Path, &str) + 'a;

fn is_running(pid: i64) -> bool {
    proc_state(pid as u32).is_some_and(|s| s != 'Z')
}

/// A state.json damaged in each way an operator meets it (truncated by a full disk,
/// overwritten, emptied, replaced by a directory or a symlink, a pid out of range): `delete
/// --force` still removes the container, its cgroup and its live init, says what it could
/// not read, and exits 0. A symlink to another container's state never makes it act on that
/// one.
#[test]
fn delete_force_removes_a_container_whose_state_is_damaged() {
    let env = TestEnv::new("badstate");
    let other = env.id("other");
    env.create(&other, &env.sh("sleep 30"));
    let damages: [(&str, &Damage<'_>); 6] = [
        ("truncated", &|f, text| {
            std::fs::write(f, &text[..text.len() * 2 / 3]).unwrap()
        }),
        ("garbage", &|f, _| {
            std::fs::write(f, "}{ not json \u{1}\u{2}").unwrap()
        }),
        ("empty", &|f, _| std::fs::write(f, "").unwrap()),
        ("a directory", &|f, _| {
            std::fs::remove_file(f).unwrap();
            std::fs::create_dir(f).unwrap();
        }),
        ("a symlink", &|f, _| {
            std::fs::remove_file(f).unwrap();
            let theirs = f
                .parent()
                .unwrap()
                .with_file_name(&other)
                .join("state.json");
            std::os::unix::fs::symlink(theirs, f).unwrap();
        }),
        ("a pid out of range", &|f, text| {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            let pid = v["pid"].as_i64().unwrap();
            std::fs::write(
                f,
                text.replacen(&format!("\"pid\":{pid}"), "\"pid\":99999999999", 1),
            )
            .unwrap()
        }),
    ];
    for (i, (how, damage)) in damages.iter().enumerate() {
        let id = env.id(&format!("d{i}"));
        env.create(&id, &env.sh("sleep 30"));
        let pid = env.state(&id)["pid"].as_i64().unwrap();
        assert!(
            !cgroup_dirs_named(&id).is_empty(),
            "{how}: no cgroup to begin with"
        );
        let file = env.root.join(&id).join("state.json");
        let text = std::fs::read_to_string(&file).unwrap();
        damage(&file, &text);
        let out = env.vrun(&["delete", "--force", &id]);
        let err = messages(&out.stderr);
        assert!(out.status.success(), "{how}: delete --force: {err}");
        assert!(
            err.contains("state.json"),
            "{how}: the damage is not named: {err}"
        );
        assert!(!env.root.join(&id).exists(), "{how}: state dir left");
        assert!(cgroup_dirs_named(&id).is_empty(), "{how}: cgroup left");
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_running(pid) {
            assert!(Instant::now() < deadline, "{how}: init {pid} survived");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            env.state(&other)["status"],
            "created",
            "{how}: the other container was touched"
        );
    }
    assert!(env.vrun(&["delete", "--force", &other]).status.success());
    assert_no_state_left(&env, "after the damaged states");
}
