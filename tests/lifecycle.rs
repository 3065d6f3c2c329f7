//! The lifecycle of runtime.md on real containers: create, start, state, kill, delete, run,
//! exec, and every operation refused in the wrong state.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use common::*;
use serde_json::json;

#[test]
fn create_start_kill_delete() {
    let env = TestEnv::new("life");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    let s = env.state(&id);
    assert_eq!(s["status"], "created");
    assert_eq!(s["ociVersion"], "1.2.0");
    assert_eq!(s["bundle"], json!(env.bundle.to_str().unwrap()));
    let pid = s["pid"].as_i64().unwrap();
    assert!(pid > 1 && std::path::Path::new(&format!("/proc/{pid}")).exists());

    assert!(env.vrun(&["start", &id]).status.success());
    env.wait_status(&id, "running");
    // The process really is the one from config.json.
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "sleep\x0030\x00");

    assert!(env.vrun(&["kill", &id, "KILL"]).status.success());
    env.wait_status(&id, "stopped");
    assert_eq!(env.state(&id)["pid"], 0);
    assert!(env.vrun(&["delete", &id]).status.success());
    let out = env.vrun(&["state", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(messages(&out.stderr).contains(&format!("container \"{id}\" does not exist")));
    assert!(!env.root.join(&id).exists());
}

#[test]
fn wrong_state_operations_change_nothing() {
    let env = TestEnv::new("wrong");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    // create of an existing id
    let mut cmd = env.cmd();
    cmd.args(["create", "--bundle"]).arg(&env.bundle).arg(&id);
    let (status, _, err) = env.detached(cmd);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(env.state(&id)["status"], "created");

    assert!(env.vrun(&["start", &id]).status.success());
    env.wait_status(&id, "running");
    // start twice
    let out = env.vrun(&["start", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(messages(&out.stderr).contains("it is running, not created"));
    // delete without --force while running
    let out = env.vrun(&["delete", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(messages(&out.stderr).contains("it is running"));
    assert_eq!(env.state(&id)["status"], "running");
    // --force works
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    assert!(!env.root.join(&id).exists());
    // kill of a stopped/removed container
    assert_eq!(env.vrun(&["kill", &id]).status.code(), Some(1));
}

#[test]
fn delete_of_a_created_container_stops_it() {
    let env = TestEnv::new("delcreated");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    assert!(env.vrun(&["delete", &id]).status.success());
    assert!(!vrun_alive(pid));
}

/// A created container dies on the signals whose default action ends a process, as runc's
/// does (containerd stops a created container with SIGTERM and waits its whole timeout before
/// SIGKILL otherwise): init is pid 1 of its pid namespace, which the kernel spares from
/// signals it has no handler for. Once started, the process has the default dispositions.
#[test]
fn a_created_container_dies_on_sigterm_and_its_kin() {
    let env = TestEnv::new("termcreated");
    for signal in ["TERM", "INT", "HUP", "USR1"] {
        let id = env.id(&signal.to_lowercase());
        env.create(&id, &env.default_config(&["sleep", "30"]));
        let pid = env.state(&id)["pid"].as_i64().unwrap();
        let out = env.vrun(&["kill", &id, signal]);
        assert!(out.status.success(), "{signal}: {}", messages(&out.stderr));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while vrun_alive(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "SIG{signal} left the created container {}",
                env.state(&id)["status"]
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(env.state(&id)["status"], "stopped", "{signal}");
        assert!(env.vrun(&["delete", &id]).status.success());
    }
    // started, the process (not vrun's handler) meets the signal: a shell that traps TERM.
    // It says when its trap is set: a TERM before that meets pid 1's default disposition,
    // which the kernel drops, and the test would wait for a trap that never was.
    let id = env.id("started");
    env.create(
        &id,
        &env.sh(
            "trap 'echo trapped > /tmp/term; exit 0' TERM; touch /tmp/trap-set; \
             while true; do sleep 0.1; done",
        ),
    );
    assert!(env.vrun(&["start", &id]).status.success());
    assert!(
        wait_for(&env.bundle.join("rootfs/tmp/trap-set"), 5),
        "the shell did not set its trap"
    );
    assert!(env.vrun(&["kill", &id, "TERM"]).status.success());
    assert!(
        wait_for(&env.bundle.join("rootfs/tmp/term"), 5),
        "the process's trap did not run"
    );
    let _ = env.vrun(&["delete", "--force", &id]);
}

/// `start` then at once `kill TERM`: the shell's trap, set once its first command is done,
/// runs. With runc's order the TERM reaches pid 1 before its trap and the kernel drops it (a
/// namespace's init has no default action), so the container ran on; the conformance suite's
/// killsig does this, and lost its TERM in the microVM, where vrun's kill is quicker than
/// the shell's first line. vrun holds such a signal in the first half second after start
/// until init catches it and waits.
#[test]
fn a_signal_right_after_start_waits_for_the_process_to_catch_it() {
    let env = TestEnv::new("killearly");
    let id = env.id("trap");
    env.create(
        &id,
        &env.sh("sleep 0.2; trap 'echo trapped > /tmp/term; exit 0' TERM; while true; do sleep 0.1; done"),
    );
    assert!(env.vrun(&["start", &id]).status.success());
    let out = env.vrun(&["kill", &id, "TERM"]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert!(
        wait_for(&env.bundle.join("rootfs/tmp/term"), 5),
        "the TERM sent right after start was lost: the trap did not run"
    );
    let _ = env.vrun(&["delete", "--force", &id]);

    // An entrypoint's pattern: its trap set, busy a while, then `wait` on its server. A TERM
    // while it is busy runs the trap before the wait, which then waits out the server
    // (30 s): the container must stop on its TERM within a few seconds.
    let id = env.id("entrypoint");
    env.create(
        &id,
        &env.sh(
            "trap 'echo trapped > /tmp/term' TERM; i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; \
             sleep 30 & wait $!",
        ),
    );
    assert!(env.vrun(&["start", &id]).status.success());
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    assert!(env.vrun(&["kill", &id, "TERM"]).status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while vrun_alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the entrypoint did not end on the TERM sent right after start (trap ran: {})",
            env.bundle.join("rootfs/tmp/term").exists()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = env.vrun(&["delete", "--force", &id]);

    // An init that never catches TERM: kill waits no longer than the half second, and the
    // signal is then dropped as the kernel does for any pid 1 (the container runs on).
    let id = env.id("nohandler");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    let began = std::time::Instant::now();
    assert!(env.vrun(&["kill", &id, "TERM"]).status.success());
    let held = began.elapsed();
    assert!(
        held < std::time::Duration::from_secs(3),
        "kill took {held:?}"
    );
    assert_eq!(env.state(&id)["status"], "running");
    // past the half second, nothing is held
    let began = std::time::Instant::now();
    assert!(env.vrun(&["kill", &id, "TERM"]).status.success());
    assert!(
        began.elapsed() < std::time::Duration::from_millis(400),
        "{:?}",
        began.elapsed()
    );
    assert!(env.vrun(&["kill", &id, "KILL"]).status.success());
    let _ = env.vrun(&["delete", "--force", &id]);
}

fn vrun_alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s[s.rfind(')').unwrap() + 2..].starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn run_returns_the_exit_status_and_cleans_up() {
    let env = TestEnv::new("run");
    let (code, out, _) = env.run(&env.sh("echo hi; exit 3"));
    assert_eq!((code, out.as_str()), (3, "hi\n"));
    // killed by a signal: 128 + signal
    env.write_config(&env.default_config(&["sleep", "30"]));
    let id = env.id("killed");
    let mut child = env.spawn_running(&id);
    assert!(env.vrun(&["kill", &id, "KILL"]).status.success());
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert_no_state_left(&env, "run left state behind");
    assert!(
        cgroup_dirs_named(&env.id("run")).is_empty(),
        "run left a cgroup behind"
    );
}

#[test]
fn run_detach_and_keep() {
    let env = TestEnv::new("detach");
    env.write_config(&env.default_config(&["sleep", "30"]));
    let id = env.id("d");
    let mut cmd = env.cmd();
    cmd.args(["run", "-d", "--bundle"])
        .arg(&env.bundle)
        .arg(&id);
    let (status, _, err) = env.detached(cmd);
    assert!(status.success(), "{err}");
    env.wait_status(&id, "running");
    let id2 = env.id("k");
    env.write_config(&env.sh("exit 0"));
    let out = env
        .cmd()
        .args(["run", "--keep", "--bundle"])
        .arg(&env.bundle)
        .arg(&id2)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(env.state(&id2)["status"], "stopped");
}

#[test]
fn pid_file_holds_the_init_pid() {
    let env = TestEnv::new("pidfile");
    env.write_config(&env.default_config(&["sleep", "30"]));
    let id = env.id("c");
    let pid_file = env.dir.join("init.pid");
    let mut cmd = env.cmd();
    cmd.args(["create", "--pid-file"])
        .arg(&pid_file)
        .arg("--bundle")
        .arg(&env.bundle)
        .arg(&id);
    assert!(env.detached(cmd).0.success());
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(env.state(&id)["pid"].as_i64(), Some(pid));
}

#[test]
fn exec_joins_the_container() {
    let env = TestEnv::new("exec");
    let mut c = env.default_config(&["sleep", "30"]);
    c["hostname"] = json!("exec-host");
    let id = env.id("c");
    env.create(&id, &c);
    assert!(env.vrun(&["start", &id]).status.success());
    let out = env.vrun(&["exec", "--env", "GREETING=hello", "--cwd", "/tmp", "--user", "1000:1000", &id, "sh", "-c", "echo $GREETING $(hostname) $(pwd) $(id -u):$(id -g) $(cat /proc/1/cmdline | tr '\\0' ' '); exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", messages(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello exec-host /tmp 1000:1000 sleep 30\n"
    );
    // detached exec with a pid file: the process is in the container's cgroup (ps --format json)
    let pid_file = env.dir.join("exec.pid");
    let mut cmd = env.cmd();
    cmd.args(["exec", "-d", "--pid-file"])
        .arg(&pid_file)
        .args([&id, "sleep", "30"]);
    let (status, _, err) = env.detached(cmd);
    assert!(status.success(), "{err}");
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let ps: Vec<i64> =
        serde_json::from_slice(&env.vrun(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert!(ps.contains(&pid), "{pid} not in {ps:?}");
    // a missing program fails exec with the name
    let out = env.vrun(&["exec", &id, "no-such-program"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        messages(&out.stderr).contains("\"no-such-program\": executable file not found in $PATH")
    );
    // --cap adds to the effective set (CAP_NET_ADMIN is bit 12), not to the inheritable one
    let out = env.vrun(&[
        "exec",
        "--cap",
        "CAP_NET_ADMIN",
        &id,
        "grep",
        "-E",
        "^Cap(Eff|Inh)",
        "/proc/self/status",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        u64::from_str_radix(
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap()
                .split_whitespace()
                .nth(1)
                .unwrap(),
            16,
        )
        .unwrap()
    };
    assert_ne!(field("CapEff:") & (1 << 12), 0, "{text}");
    assert_eq!(field("CapInh:") & (1 << 12), 0, "{text}");
    // --process FILE
    let process = json!({"args": ["sh", "-c", "echo from-process-file"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]});
    let pf = env.dir.join("process.json");
    std::fs::write(&pf, process.to_string()).unwrap();
    let out = env
        .cmd()
        .args(["exec", "--process"])
        .arg(&pf)
        .arg(&id)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-process-file\n");
}

#[test]
fn exec_process_file_takes_what_it_leaves_out_from_the_container() {
    let env = TestEnv::new("execpf");
    let id = env.id("c");
    let mut c = env.default_config(&["sleep", "30"]);
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c["process"]["cwd"] = json!("/tmp");
    env.create(&id, &c);
    assert!(env.vrun(&["start", &id]).status.success());
    // no user, no cwd, no capabilities: the container's
    let process = json!({"args": ["sh", "-c", "id -u; id -g; pwd; grep CapEff /proc/self/status"], "env": ["PATH=/bin"]});
    let pf = env.dir.join("process.json");
    std::fs::write(&pf, process.to_string()).unwrap();
    let out = env.vrun(&["exec", "--process", pf.to_str().unwrap(), &id]);
    let err = messages(&out.stderr);
    assert!(out.status.success(), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("1000\n1000\n/tmp\n"), "{text}");
    // the file's fields win
    let process =
        json!({"args": ["sh", "-c", "id -u; pwd"], "user": {"uid": 0, "gid": 0}, "cwd": "/"});
    std::fs::write(&pf, process.to_string()).unwrap();
    let out = env.vrun(&["exec", "--process", pf.to_str().unwrap(), &id]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n/\n");
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
}

#[test]
fn kill_accepts_names_and_numbers_and_all() {
    let env = TestEnv::new("kill");
    let id = env.id("c");
    // A shell that reports SIGUSR1, then exits on SIGTERM.
    env.create(&id, &env.sh("trap 'echo got-usr1 > /tmp/usr1' USR1; trap 'exit 0' TERM; while true; do sleep 0.1; done"));
    assert!(env.vrun(&["start", &id]).status.success());
    env.wait_status(&id, "running");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(env.vrun(&["kill", &id, "SIGUSR1"]).status.success());
    let bad = env.vrun(&["kill", &id, "SIGNOPE"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(messages(&bad.stderr).contains("unknown signal \"SIGNOPE\""));
    assert!(env.vrun(&["kill", "--all", &id, "15"]).status.success());
    env.wait_status(&id, "stopped");
    let rootfs = env.bundle.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("tmp/usr1")).unwrap(),
        "got-usr1\n"
    );
}

#[test]
fn concurrent_creates_of_one_id_let_one_win() {
    let env = TestEnv::new("race");
    env.write_config(&env.default_config(&["sleep", "30"]));
    let id = env.id("c");
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut c = env.cmd();
            c.args(["create", "--bundle"])
                .arg(&env.bundle)
                .arg(&id)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            c.spawn().unwrap()
        })
        .collect();
    let ok = children
        .into_iter()
        .map(|mut c| c.wait().unwrap().success())
        .filter(|s| *s)
        .count();
    assert_eq!(ok, 1);
    assert_eq!(env.state(&id)["status"], "created");
}

#[test]
fn run_survives_a_delete_from_elsewhere() {
    let env = TestEnv::new("rundel");
    env.write_config(&env.default_config(&["sleep", "30"]));
    let id = env.id("c");
    let mut child = env.spawn_running(&id);
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    // run reports the process's end (SIGKILL) and not an error about the vanished state
    assert_eq!(child.wait().unwrap().code(), Some(137));
}

#[test]
fn exec_with_a_tty_in_the_foreground() {
    let env = TestEnv::new("exectty");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    let out = env.vrun(&[
        "exec",
        "--tty",
        &id,
        "sh",
        "-c",
        "echo tty=$(readlink /proc/self/fd/0); exit 6",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", messages(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tty=/dev/pts/0\n");
}

#[test]
fn a_create_killed_half_way_is_cleaned_by_delete_force() {
    let env = TestEnv::new("killedcreate");
    let hook_pid = env.dir.join("hook.pid");
    let mut c = env.default_config(&["sleep", "30"]);
    // create blocks in this hook long enough to be killed there, after the cgroup exists
    c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!("echo $$ > {}; exec sleep 30", hook_pid.display())]}]});
    env.write_config(&c);
    let id = env.id("c");
    let mut create = env
        .cmd()
        .args(["create", "--bundle"])
        .arg(&env.bundle)
        .arg(&id)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if hook_pid.exists() && std::fs::read_to_string(&hook_pid).is_ok_and(|s| s.ends_with('\n'))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // meanwhile `state` shows the spec's "creating" status
    assert_eq!(env.state(&id)["status"], "creating");
    create.kill().unwrap();
    create.wait().unwrap();
    let hook: i32 = std::fs::read_to_string(&hook_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hook),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(
        !cgroup_dirs_named(&id).is_empty(),
        "the cgroup should exist at this point"
    );
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    assert!(
        cgroup_dirs_named(&id).is_empty(),
        "delete --force left the cgroup of a killed create"
    );
    assert!(!env.root.join(&id).exists());
}
