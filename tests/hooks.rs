//! OCI hooks: each phase runs at its point with the state on stdin, its args and env; a
//! failing hook fails the operation as the spec says; timeouts kill the hook.

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
    assert!(err.contains("timed out after 1s"), "{err}");
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
