//! linux.seccomp enforced on real containers: the errno a rule returns, a KILL action
//! killing, argument conditions matching and not, a notify listener answering a syscall,
//! unknown names, bad profiles, the early load without no_new_privs, and `exec`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use std::os::unix::net::UnixListener;

use common::*;
use serde_json::{json, Value};

/// Allows everything but mkdir, which fails with EXDEV ("cross-device link").
fn mkdir_refused_with_exdev() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV}]
    })
}

fn with_profile(env: &TestEnv, script: &str, profile: Value) -> Value {
    let mut c = env.sh(script);
    c["linux"]["seccomp"] = profile;
    c
}

#[test]
fn errno_rule_returns_the_chosen_errno() {
    let env = TestEnv::new("sc-errno");
    let c = with_profile(
        &env,
        "mkdir /tmp/d 2>&1; echo rc=$?; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV}]
        }),
    );
    let out = env.run_ok(&c);
    assert!(out.to_lowercase().contains("cross-device link"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(!env.bundle.join("rootfs/tmp/d").exists());
}

#[test]
fn kill_actions_kill_with_sigsys() {
    let env = TestEnv::new("sc-kill");
    // Each inner shell makes the denied call; the outer one reports how it ended (128 + 31).
    let c = with_profile(
        &env,
        "mkdir /tmp/r; sh -c 'mkdir /tmp/a'; echo mkdir=$?; sh -c 'rmdir /tmp/r'; echo rmdir=$?; echo survived",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]},
                {"names": ["rmdir", "unlinkat"], "action": "SCMP_ACT_KILL"}
            ]
        }),
    );
    let out = env.run_ok(&c);
    assert!(out.contains("mkdir=159"), "{out}");
    assert!(out.contains("rmdir=159"), "{out}");
    assert!(out.contains("survived"), "{out}");
}

#[test]
fn trap_trace_and_log_actions() {
    let env = TestEnv::new("sc-trap");
    // TRAP: SIGSYS (128 + 31). TRACE without a tracer: the kernel answers ENOSYS. LOG: the
    // call goes through (and is logged by the audit subsystem).
    let c = with_profile(
        &env,
        "sh -c 'ln -s a /tmp/l'; echo trap=$?; touch /tmp/a; mv /tmp/a /tmp/b 2>&1; echo trace=$?; chmod 700 /tmp/a; echo log=$?",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["symlink", "symlinkat"], "action": "SCMP_ACT_TRAP"},
                {"names": ["rename", "renameat", "renameat2"], "action": "SCMP_ACT_TRACE"},
                {"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_LOG"}
            ]
        }),
    );
    let out = env.run_ok(&c);
    assert!(out.contains("trap=159"), "{out}");
    assert!(
        out.contains("not implemented") && out.contains("trace=1"),
        "{out}"
    );
    assert!(out.contains("log=0"), "{out}");
    assert!(env.bundle.join("rootfs/tmp/a").exists());
}

#[test]
fn argument_conditions_match_and_do_not_match() {
    let env = TestEnv::new("sc-args");
    // kill(2)'s second argument is the signal: 0 -> EACCES, 28 (WINCH, masked) -> E2BIG,
    // above 60 -> ENOSYS; CONT (18) matches nothing and is delivered.
    let c = with_profile(
        &env,
        "kill -0 $$ 2>&1; echo zero=$?; kill -CONT $$; echo cont=$?; kill -WINCH $$ 2>&1; echo winch=$?; kill -64 $$ 2>&1; echo sixtyfour=$?",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES,
                 "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::E2BIG,
                 "args": [{"index": 1, "value": 31, "valueTwo": 28, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS,
                 "args": [{"index": 1, "value": 60, "op": "SCMP_CMP_GT"}, {"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]}
            ]
        }),
    );
    let out = env.run_ok(&c);
    assert!(
        out.contains("Permission denied") && out.contains("zero=1"),
        "{out}"
    );
    assert!(out.contains("cont=0"), "{out}");
    assert!(
        out.contains("Argument list too long") && out.contains("winch=1"),
        "{out}"
    );
    assert!(
        out.contains("not implemented") && out.contains("sixtyfour=1"),
        "{out}"
    );
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let env = TestEnv::new("sc-unknown");
    let c = with_profile(
        &env,
        "mkdir /tmp/u 2>&1; echo rc=$?",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["no_such_syscall", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTSUP}]
        }),
    );
    let out = env.run_ok(&c);
    assert!(
        out.contains("rc=1") && out.contains("not supported"),
        "{out}"
    );
}

#[test]
fn a_bad_action_name_is_a_clear_error_naming_the_entry() {
    let env = TestEnv::new("sc-badaction");
    let c = with_profile(
        &env,
        "true",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["getcwd"], "action": "SCMP_ACT_EXPLODE"}
            ]
        }),
    );
    assert_create_fails(
        &env,
        &c,
        "config.json: linux.seccomp.syscalls[1].action: unknown variant `SCMP_ACT_EXPLODE`",
    );
}

#[test]
fn an_unsupported_architecture_and_a_misplaced_errno_are_refused() {
    let env = TestEnv::new("sc-badarch");
    let arch = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_S390X"]});
    assert_create_fails(
        &env,
        &with_profile(&env, "true", arch),
        "linux.seccomp.architectures[1]: SCMP_ARCH_S390X is not supported",
    );
    let errno = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_LOG", "errnoRet": 5}]});
    assert_create_fails(
        &env,
        &with_profile(&env, "true", errno),
        "linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_LOG does not take an errno",
    );
}

#[test]
fn loads_without_no_new_privileges_for_an_unprivileged_user() {
    let env = TestEnv::new("sc-nnp");
    let mut c = with_profile(
        &env,
        "mkdir /tmp/d 2>&1; echo rc=$?; grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status; id -u",
        mkdir_refused_with_exdev(),
    );
    c["process"]["noNewPrivileges"] = json!(false);
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c["process"]["capabilities"] = json!({});
    let out = env.run_ok(&c);
    assert!(out.to_lowercase().contains("cross-device link"), "{out}");
    assert!(
        out.contains("Seccomp:\t2") && out.contains("NoNewPrivs:\t0"),
        "{out}"
    );
    assert!(
        out.contains("CapEff:\t0000000000000000") && out.contains("1000"),
        "{out}"
    );
}

#[test]
fn exec_gets_the_containers_filter() {
    let env = TestEnv::new("sc-exec");
    let c = with_profile(
        &env,
        "sleep 30",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTSUP}]
        }),
    );
    env.write_config(&c);
    let id = env.id("c");
    let mut child = env.spawn_running(&id);
    let out = env.vrun(&["exec", &id, "sh", "-c", "mkdir /tmp/e 2>&1; echo rc=$?"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("not supported") && text.contains("rc=1"),
        "{text}"
    );
    assert!(env.vrun(&["kill", &id, "KILL"]).status.success());
    let _ = child.wait();
}

#[test]
fn notify_listener_receives_the_fd_and_answers_the_syscall() {
    let env = TestEnv::new("sc-notify");
    let sock = env.dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = env.id("c");
    let c = with_profile(
        &env,
        "mkdir /tmp/n && echo made; test -d /tmp/n && echo exists || echo absent; mkdir /tmp/m 2>&1; echo second=$?",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "agent-meta",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        }),
    );
    // The agent: takes the fd, says "done" to the first mkdir without making anything and
    // fails the second with EXDEV.
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (payload, fd) = seccomp_agent::recv_state_and_fd(&conn);
        let first = seccomp_agent::answer(&fd, 0);
        let second = seccomp_agent::answer(&fd, libc::EXDEV);
        (payload, first, second)
    });
    env.write_config(&c);
    let out = env.vrun(&["run", "--bundle", env.bundle.to_str().unwrap(), &id]);
    let text = String::from_utf8_lossy(&out.stdout);
    let (payload, first_nr, second_nr) = agent.join().unwrap();
    assert!(text.contains("made") && text.contains("absent"), "{text}");
    assert!(
        text.to_lowercase().contains("cross-device link") && text.contains("second=1"),
        "{text}"
    );
    let state: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], json!("agent-meta"), "{state}");
    assert_eq!(state["state"]["id"], json!(id), "{state}");
    assert!(state["pid"].as_i64().unwrap() > 1, "{state}");
    assert_eq!(state["pid"], state["state"]["pid"], "{state}");
    assert!(state["ociVersion"].is_string());
    for nr in [first_nr, second_nr] {
        assert!(
            nr == libc::SYS_mkdir as i32 || nr == libc::SYS_mkdirat as i32,
            "{nr}"
        );
    }
}

#[test]
fn notify_listener_gets_the_fd_at_create_before_start() {
    let env = TestEnv::new("sc-notify-create");
    let sock = env.dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = env.id("c");
    let c = with_profile(
        &env,
        "mkdir /tmp/n; echo rc=$?",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        }),
    );
    env.write_config(&c);
    let out = env.try_create(&id);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    // An agent that waits for the fd before anyone starts the container gets it now (runc
    // sends it during create); with a bound, so that a runtime that sends it only at start
    // fails here rather than hanging.
    let (conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let (payload, fd) = seccomp_agent::recv_state_and_fd(&conn);
    let state: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(state["state"]["status"], json!("creating"), "{state}");
    assert_eq!(env.state(&id)["status"], json!("created"));
    let agent = std::thread::spawn(move || seccomp_agent::answer(&fd, libc::EXDEV));
    assert!(env.vrun(&["start", &id]).status.success());
    let nr = agent.join().unwrap();
    assert!(nr == libc::SYS_mkdir as i32 || nr == libc::SYS_mkdirat as i32);
    env.wait_status(&id, "stopped");
}

#[test]
fn notify_on_write_is_refused_in_runcs_words() {
    let env = TestEnv::new("sc-notify-write");
    let c = with_profile(
        &env,
        "true",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": env.dir.join("agent.sock"),
            "syscalls": [{"names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY"}]
        }),
    );
    assert_create_fails(
        &env,
        &c,
        "linux.seccomp.syscalls[0].names: SCMP_ACT_NOTIFY cannot be used for the write syscall",
    );
    // no agent listening: runc's words too
    let c = with_profile(
        &env,
        "true",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": env.dir.join("agent.sock"),
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }),
    );
    assert_create_fails(&env, &c, "failed to connect with seccomp agent");
}

#[test]
fn start_container_hooks_run_under_the_filter_with_no_extra_fds() {
    let env = TestEnv::new("sc-hook");
    let mut c = with_profile(&env, "true", mkdir_refused_with_exdev());
    c["root"]["readonly"] = json!(false);
    // The hook runs in the container (its /tmp is the rootfs's): its mkdir is refused by
    // the container's filter, and it holds only stdio (ls's own directory fd is the 4th).
    c["hooks"] = json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
        "mkdir /tmp/made-by-hook 2>/tmp/hook-mkdir; ls /proc/self/fd | wc -l > /tmp/hook-fds"]}]});
    env.run_ok(&c);
    let rootfs = env.bundle.join("rootfs");
    assert!(!rootfs.join("tmp/made-by-hook").exists());
    let err = std::fs::read_to_string(rootfs.join("tmp/hook-mkdir")).unwrap();
    assert!(err.to_lowercase().contains("cross-device link"), "{err}");
    let fds = std::fs::read_to_string(rootfs.join("tmp/hook-fds")).unwrap();
    assert_eq!(fds.trim(), "4", "the hook inherited more than stdio");
}

/// An allow-list with only what busybox's shell and its applets need here (from strace of
/// `sh -c` running echo, grep, cat, id and sleep), plus capset: the one call vrun itself makes
/// after a filter loaded early (to drop the CAP_SYS_ADMIN the load needed). No close_range,
/// no prctl, no setresuid/setgroups: a runtime that does its fd hygiene or identity change
/// under the filter fails with this profile.
fn shell_only_profile() -> Value {
    let names = [
        "read",
        "write",
        "close",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "rt_sigaction",
        "rt_sigreturn",
        "rt_sigprocmask",
        "dup2",
        "fcntl",
        "ioctl",
        "getpid",
        "getppid",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "getgroups",
        "sendfile",
        "clone",
        "fork",
        "vfork",
        "execve",
        "wait4",
        "uname",
        "readlink",
        "arch_prctl",
        "set_tid_address",
        "set_robust_list",
        "rseq",
        "prlimit64",
        "getrandom",
        "openat",
        "open",
        "newfstatat",
        "fstat",
        "stat",
        "lseek",
        "getcwd",
        "pipe2",
        "nanosleep",
        "clock_nanosleep",
        "exit",
        "exit_group",
        "capset",
    ];
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": &names[..], "action": "SCMP_ACT_ALLOW"}]
    })
}

/// What the shell prints under that profile: it runs, the filter is on, and a call outside
/// the list (mkdir) is refused with the default errno.
const UNDER_SHELL_PROFILE: &str =
    "echo started; mkdir /tmp/m 2>&1; echo mkdir=$?; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status";

fn assert_shell_profile_output(out: &str, nnp: bool) {
    assert!(out.contains("started"), "{out}");
    assert!(
        out.contains("Operation not permitted") && out.contains("mkdir=1"),
        "{out}"
    );
    assert!(out.contains("Seccomp:\t2"), "{out}");
    let want = format!("NoNewPrivs:\t{}", u8::from(nnp));
    assert!(out.contains(&want), "{want} not in {out}");
}

#[test]
fn a_shell_only_allow_list_runs_with_and_without_no_new_privileges() {
    let env = TestEnv::new("sc-minimal");
    for nnp in [false, true] {
        for uid in [0, 1000] {
            let mut c = with_profile(&env, UNDER_SHELL_PROFILE, shell_only_profile());
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["process"]["user"] = json!({"uid": uid, "gid": uid});
            let (code, out, err) = env.run(&c);
            assert_eq!(code, 0, "nnp={nnp} uid={uid}: {out}\n{err}");
            assert_shell_profile_output(&out, nnp);
        }
    }
    // With --preserve-fds, the kept fd is still handed over (its flag cleared before the
    // filter, like the close-on-exec marking of the others).
    let mut c = with_profile(&env, "cat <&3; echo done", shell_only_profile());
    c["process"]["noNewPrivileges"] = json!(false);
    env.write_config(&c);
    let id = env.id("fds");
    let marker = env.dir.join("kept-fd");
    std::fs::write(&marker, "kept-fd-content\n").unwrap();
    let file = std::fs::File::open(&marker).unwrap();
    let mut cmd = env.cmd();
    cmd.args(["run", "--preserve-fds", "1", "--bundle"])
        .arg(&env.bundle)
        .arg(&id);
    pass_as_fd3(&mut cmd, std::os::fd::AsRawFd::as_raw_fd(&file));
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", messages(&out.stderr));
    assert_eq!(text, "kept-fd-content\ndone\n");
}

#[test]
fn exec_under_a_shell_only_allow_list() {
    let env = TestEnv::new("sc-minimal-exec");
    let mut c = with_profile(&env, "sleep 30", shell_only_profile());
    c["process"]["noNewPrivileges"] = json!(false);
    env.write_config(&c);
    let id = env.id("c");
    let mut child = env.spawn_running(&id);
    for (flags, nnp) in [(&[][..], false), (&["--no-new-privs"][..], true)] {
        for user in ["0:0", "1000:1000"] {
            let mut args = vec!["exec", "--user", user];
            args.extend_from_slice(flags);
            args.extend_from_slice(&[&id, "sh", "-c", UNDER_SHELL_PROFILE]);
            let out = env.vrun(&args);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "exec {args:?}: {text}{}",
                messages(&out.stderr)
            );
            assert_shell_profile_output(&text, nnp);
        }
    }
    assert!(env.vrun(&["kill", &id, "KILL"]).status.success());
    let _ = child.wait();
}
