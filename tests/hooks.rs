//! OCI hooks: each phase runs at its point with the state on stdin, its args and env; a
//! failing hook fails the operation as the spec says; timeouts kill the hook.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use common::*;
use serde_json::{json, Value};

/// A hook that appends "<phase> <status> <pid> $HOOK_ENV arg=$1" to `log` (a path as the hook
/// sees it).
fn hook_logging_to(log: &str, phase: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("read -r state; status=$(echo \"$state\" | grep -o '\"status\":\"[a-z]*\"'); pid=$(echo \"$state\" | grep -o '\"pid\":[0-9]*'); echo \"{phase} $status $pid $HOOK_ENV arg=$0\" >> {log}"), "hook-arg"],
        "env": ["HOOK_ENV=set"]
    })
}

fn hook(env: &TestEnv, phase: &str) -> Value {
    hook_logging_to(env.dir.join("hooks.log").to_str().unwrap(), phase)
}

#[test]
fn every_phase_runs_in_order_with_the_state() {
    let env = TestEnv::new("hooks");
    let mut c = env.default_config(&["sleep", "30"]);
    c["hooks"] = json!({
        "prestart": [hook(&env, "prestart")],
        "createRuntime": [hook(&env, "createRuntime")],
        "createContainer": [hook(&env, "createContainer")],
        // startContainer runs inside the container: its /tmp is the rootfs's
        "startContainer": [hook_logging_to("/tmp/start-hook.log", "startContainer")],
        "poststart": [hook(&env, "poststart")],
        "poststop": [hook(&env, "poststop")]
    });
    let id = env.id("c");
    env.create(&id, &c);
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    assert!(env.vrun(&["start", &id]).status.success());
    env.wait_status(&id, "running");
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    let log = std::fs::read_to_string(env.dir.join("hooks.log")).unwrap();
    // Hooks of the create operation run once the environment exists: runtime-spec 1.2's
    // `created` (as crun), with the container's pid; poststop after it is gone (pid 0).
    assert_eq!(
        log,
        format!(
            "prestart \"status\":\"created\" \"pid\":{pid} set arg=hook-arg\n\
             createRuntime \"status\":\"created\" \"pid\":{pid} set arg=hook-arg\n\
             createContainer \"status\":\"created\" \"pid\":{pid} set arg=hook-arg\n\
             poststart \"status\":\"running\" \"pid\":{pid} set arg=hook-arg\n\
             poststop \"status\":\"stopped\" \"pid\":0 set arg=hook-arg\n"
        )
    );
    assert_eq!(
        std::fs::read_to_string(env.bundle.join("rootfs/tmp/start-hook.log")).unwrap(),
        format!("startContainer \"status\":\"created\" \"pid\":{pid} set arg=hook-arg\n")
    );
}

/// The runtime spec: startContainer hooks run as part of `start`, poststart ones after the
/// user's process is executed. vrun's `start` waits for that exec (runc and crun return once
/// init is released), so a slow startContainer hook has finished when `start` returns and a
/// poststart hook finds the user's program, not vrun, in the container's process.
#[test]
fn start_returns_after_the_start_container_hooks_and_the_exec() {
    let env = TestEnv::new("hookexec");
    let mut c = env.default_config(&["sleep", "30"]);
    let log = env.dir.join("comm.log");
    c["hooks"] = json!({
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 0.3; echo done > /tmp/start-hook.log"]}],
        "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", format!("read -r state; pid=$(echo \"$state\" | grep -o '\"pid\":[0-9]*' | cut -d: -f2); cat /proc/$pid/comm >> {}", log.display())]}]
    });
    let id = env.id("c");
    env.create(&id, &c);
    let started = std::time::Instant::now();
    assert!(env.vrun(&["start", &id]).status.success());
    let took = started.elapsed();
    let hook_log = std::fs::read_to_string(env.bundle.join("rootfs/tmp/start-hook.log"));
    let comm = std::fs::read_to_string(&log);
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    assert!(took >= std::time::Duration::from_millis(300), "{took:?}");
    assert_eq!(hook_log.unwrap(), "done\n");
    assert_eq!(comm.unwrap(), "sleep\n");
}

#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let env = TestEnv::new("hookfail");
    let mut c = env.default_config(&["sleep", "30"]);
    c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 7"]}]});
    env.write_config(&c);
    let id = env.id("c");
    let out = env.try_create(&id);
    assert_clean_failure(
        &env,
        &out,
        &id,
        "createRuntime hook #0 (/bin/sh): failed: exit status: 7",
    );
}

#[test]
fn hook_timeout_kills_it() {
    let env = TestEnv::new("hooktimeout");
    let mut c = env.default_config(&["true"]);
    c["hooks"] =
        json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    let started = std::time::Instant::now();
    let (code, _, err) = env.run(&c);
    assert_eq!(code, 1);
    assert!(
        err.contains("hook ran past specified timeout of 1.0s"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn failing_poststop_hook_only_warns() {
    let env = TestEnv::new("poststop");
    let mut c = env.sh("exit 0");
    c["hooks"] = json!({"poststop": [{"path": "/bin/false"}]});
    let (code, _, err) = env.run(&c);
    assert_eq!(code, 0);
    assert!(
        err.contains("warning: ") && err.contains("poststop hook #0"),
        "{err}"
    );
}

/// 100 KB of annotations: the state a hook reads on stdin is larger than a pipe holds.
fn with_large_annotations(c: &mut Value) {
    c["annotations"] = json!({"example.com/large": "x".repeat(100 * 1024)});
}

/// Runs `vrun create` for `id`, killing it after `limit` if it has not finished: returns
/// (status or None if it had to be killed, stderr as messages, time taken).
fn create_within(
    env: &TestEnv,
    id: &str,
    limit: std::time::Duration,
) -> (
    Option<std::process::ExitStatus>,
    String,
    std::time::Duration,
) {
    let err_file = env.dir.join(format!("{id}.err"));
    let mut child = env
        .cmd()
        .args(["create", "--bundle"])
        .arg(&env.bundle)
        .arg(id)
        .stdout(std::fs::File::create(env.dir.join(format!("{id}.out"))).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let err = messages(&std::fs::read(&err_file).unwrap_or_default());
    (status, err, started.elapsed())
}

fn pid_in(file: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

/// A hook that does not read its stdin, with a state larger than a pipe: the timeout still
/// holds (the state is written within it), the hook and what it started in its process group
/// are killed, and the error names the hook with runc's words.
#[test]
fn a_hook_that_does_not_read_a_large_state_still_times_out() {
    let env = TestEnv::new("hook-bigstate");
    let mut c = env.default_config(&["true"]);
    with_large_annotations(&mut c);
    let (hook_pid, child_pid) = (env.dir.join("hook.pid"), env.dir.join("child.pid"));
    c["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("echo $$ > {}; sleep 60 & echo $! > {}; wait", hook_pid.display(), child_pid.display())],
        "timeout": 1
    }]});
    env.write_config(&c);
    let id = env.id("c");
    let (status, err, took) = create_within(&env, &id, std::time::Duration::from_secs(20));
    assert!(
        status.is_some(),
        "create hung on the hook ({took:?}): {err}"
    );
    assert_eq!(status.unwrap().code(), Some(1), "{err}");
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    assert!(
        err.contains("createRuntime hook #0 (/bin/sh)")
            && err.contains("hook ran past specified timeout of 1.0s"),
        "{err}"
    );
    for file in [&hook_pid, &child_pid] {
        let pid = pid_in(file).expect("the hook did not start");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while alive(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "{} {pid} outlived the timeout",
                file.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    assert!(!env.root.join(&id).exists(), "state left");
    assert!(cgroup_dirs_named(&id).is_empty(), "cgroup left");
}

/// A hook without a timeout that exits at once but leaves a process holding its stdin (a
/// daemon it started): create goes on when the hook exits, whatever is left of the state
/// unwritten, in every phase that runs hooks.
#[test]
fn a_hook_that_exits_without_reading_a_large_state_does_not_hold_up_the_container() {
    let env = TestEnv::new("hook-bigstate-exit");
    let mut c = env.default_config(&["true"]);
    with_large_annotations(&mut c);
    // (fd 3: a background command's stdin would be /dev/null, its other fds stay)
    let leave_a_child =
        json!({"path": "/bin/sh", "args": ["sh", "-c", "exec 3<&0; sleep 20 & exit 0"]});
    c["hooks"] = json!({
        "createRuntime": [leave_a_child],
        "createContainer": [leave_a_child],
        "startContainer": [leave_a_child],
    });
    env.write_config(&c);
    let id = env.id("c");
    let (status, err, took) = create_within(&env, &id, std::time::Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "create: {status:?} after {took:?}: {err}"
    );
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    let started = std::time::Instant::now();
    assert!(env.vrun(&["start", &id]).status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
}

/// A `create` killed while its hook runs takes the hook with it.
#[test]
fn a_hook_dies_with_a_create_killed_while_it_runs() {
    let env = TestEnv::new("hook-orphan");
    let mut c = env.default_config(&["true"]);
    let hook_pid = env.dir.join("hook.pid");
    c["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("echo $$ > {}; exec sleep 60", hook_pid.display())]
    }]});
    env.write_config(&c);
    let id = env.id("c");
    let mut child = env.spawn_quiet(&["create"], &id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let pid = loop {
        if let Some(p) = pid_in(&hook_pid) {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "the hook never ran");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    child.kill().unwrap();
    let _ = child.wait();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while alive(pid) {
        if std::time::Instant::now() > deadline {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("the hook {pid} outlived the create that ran it");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = env.vrun(&["delete", "--force", &id]);
}
