//! The commands around the lifecycle: list, ps, spec, features, --version, --log formats,
//! the console socket and --preserve-fds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;

use common::*;
use serde_json::{json, Value};

#[test]
fn list_shows_containers_in_every_format() {
    let env = TestEnv::new("list");
    let a = env.id("a");
    env.create(&a, &env.default_config(&["sleep", "30"]));
    let out = env.vrun(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with(&a)
            && row.contains("created")
            && row.contains(env.bundle.to_str().unwrap()),
        "{row}"
    );
    let quiet = env.vrun(&["list", "-q"]);
    assert_eq!(String::from_utf8_lossy(&quiet.stdout), format!("{a}\n"));
    let j: Value = serde_json::from_slice(&env.vrun(&["list", "--format", "json"]).stdout).unwrap();
    assert_eq!(j[0]["id"], json!(a));
    assert_eq!(j[0]["status"], "created");
}

#[test]
fn ps_lists_the_container_processes() {
    let env = TestEnv::new("ps");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "31"]));
    assert!(env.vrun(&["start", &id]).status.success());
    env.wait_status(&id, "running");
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    let pids: Vec<i64> =
        serde_json::from_slice(&env.vrun(&["ps", "-f", "json", &id]).stdout).unwrap();
    assert_eq!(pids, vec![pid]);
    let table = String::from_utf8_lossy(&env.vrun(&["ps", &id]).stdout).into_owned();
    assert!(table.lines().next().unwrap().contains("PID"));
    assert!(
        table.lines().nth(1).unwrap().contains("sleep 31"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 2);
}

#[test]
fn spec_writes_a_runc_like_config_and_refuses_to_overwrite() {
    let env = TestEnv::new("spec");
    let dir = env.dir.join("specdir");
    std::fs::create_dir_all(&dir).unwrap();
    let out = env
        .cmd()
        .args(["spec", "--bundle"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let c: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["process"]["args"], json!(["sh"]));
    assert_eq!(c["process"]["terminal"], json!(true));
    assert_eq!(c["root"]["path"], "rootfs");
    let again = env
        .cmd()
        .args(["spec", "--bundle"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let rootless = env.dir.join("rootless");
    std::fs::create_dir_all(&rootless).unwrap();
    assert!(env
        .cmd()
        .args(["spec", "--rootless", "--bundle"])
        .arg(&rootless)
        .output()
        .unwrap()
        .status
        .success());
    let c: Value =
        serde_json::from_slice(&std::fs::read(rootless.join("config.json")).unwrap()).unwrap();
    assert!(c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "user"));
}

#[test]
fn features_and_version() {
    let env = TestEnv::new("features");
    let f: Value = serde_json::from_slice(&env.vrun(&["features"]).stdout).unwrap();
    assert_eq!(f["ociVersionMax"], "1.2.0");
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .contains(&json!("time")));
    // vrun applies rdma limits (where the host has the controller)
    assert_eq!(f["linux"]["cgroup"]["rdma"], json!(true));
    // the virtual disk's annotations choose the root filesystem
    assert_eq!(
        f["potentiallyUnsafeConfigAnnotations"],
        json!(["run.vrun."])
    );
    let sc = &f["linux"]["seccomp"];
    assert_eq!(sc["enabled"], json!(true));
    for action in [
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_NOTIFY",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_LOG",
    ] {
        assert!(
            sc["actions"].as_array().unwrap().contains(&json!(action)),
            "{sc}"
        );
    }
    assert!(
        sc["archs"]
            .as_array()
            .unwrap()
            .contains(&json!("SCMP_ARCH_X32")),
        "{sc}"
    );
    assert!(
        sc["supportedFlags"]
            .as_array()
            .unwrap()
            .contains(&json!("SECCOMP_FILTER_FLAG_LOG")),
        "{sc}"
    );
    let v = String::from_utf8_lossy(&env.vrun(&["--version"]).stdout).into_owned();
    assert!(v.starts_with("vrun ") && v.contains("spec: 1.2.0"), "{v}");
}

#[test]
fn json_log_lines_carry_the_error() {
    let env = TestEnv::new("log");
    let log = env.dir.join("log.json");
    let out = env
        .cmd()
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "start", "no-such-container"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let line: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert_eq!(
        line["msg"],
        "container \"no-such-container\" does not exist"
    );
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    // text format, logrus style
    let tlog = env.dir.join("log.txt");
    env.cmd()
        .arg("--log")
        .arg(&tlog)
        .args(["start", "nope"])
        .output()
        .unwrap();
    let t = std::fs::read_to_string(&tlog).unwrap();
    assert!(
        t.contains("level=error msg=\"container \\\"nope\\\" does not exist\""),
        "{t}"
    );
}

#[test]
fn errors_on_stderr_are_log_lines_and_debug_speaks_for_every_command() {
    let env = TestEnv::new("stderrshape");
    // without --log: one logrus line on stderr, as runc writes it
    let out = env.vrun(&["state", "nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("time=\""), "{err}");
    assert!(
        err.contains(" level=error msg=\"container \\\"nope\\\" does not exist\""),
        "{err}"
    );
    // with --log: the line goes there, the bare message to stderr
    let log = env.dir.join("log.txt");
    let out = env
        .cmd()
        .arg("--log")
        .arg(&log)
        .args(["state", "nope"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "container \"nope\" does not exist\n"
    );
    // --debug: level=debug lines for any command, exec included, to stderr or --log
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    for args in [
        &["exec", &id, "true"][..],
        &["state", &id],
        &["list"],
        &["kill", &id, "0"],
    ] {
        let out = env.cmd().arg("--debug").args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.lines()
                .filter(|l| l.contains(" level=debug msg="))
                .count()
                >= 2,
            "{args:?}: {err}"
        );
    }
    let dlog = env.dir.join("debug.log");
    let out = env
        .cmd()
        .args(["--debug", "--log-format", "json", "--log"])
        .arg(&dlog)
        .args(["exec", &id, "true"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&dlog).unwrap();
    let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(line["level"], "debug", "{text}");
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
}

#[test]
fn terminal_master_goes_to_the_console_socket() {
    let env = TestEnv::new("tty");
    let sock = env.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut c =
        env.sh("echo tty=$(readlink /proc/self/fd/0); stat -c %t:%T /dev/console; sleep 30");
    c["process"]["terminal"] = json!(true);
    c["process"]["consoleSize"] = json!({"height": 40, "width": 100});
    env.write_config(&c);
    let id = env.id("c");
    let mut child = env
        .cmd()
        .args(["create", "--console-socket"])
        .arg(&sock)
        .arg("--bundle")
        .arg(&env.bundle)
        .arg(&id)
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let master = recv_fd(&conn);
    assert!(child.wait().unwrap().success());
    assert!(env.vrun(&["start", &id]).status.success());
    let mut f = std::fs::File::from(master);
    let mut got = String::new();
    let mut buf = [0u8; 256];
    while !got.contains('\n') || got.lines().count() < 2 {
        let n = f.read(&mut buf).unwrap();
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // byte for byte what the program wrote: no ONLCR (runc 1.2 clears it too)
    assert!(got.starts_with("tty=/dev/pts/0\n"), "{got:?}");
    assert!(
        !got.contains('\r'),
        "the pty turned \\n into \\r\\n: {got:?}"
    );
    // /dev/console is the same pty (major 136 = 0x88)
    assert!(got.lines().nth(1).unwrap().starts_with("88:0"), "{got:?}");
    assert_eq!(pty_size(std::os::fd::AsFd::as_fd(&f)), (40, 100));
}

#[test]
fn terminal_without_console_socket_is_refused_on_create() {
    let env = TestEnv::new("notty");
    let mut c = env.default_config(&["sh"]);
    c["process"]["terminal"] = json!(true);
    env.write_config(&c);
    let id = env.id("c");
    let out = env.try_create(&id);
    assert_eq!(out.status.code(), Some(1));
    assert!(messages(&out.stderr).contains("--console-socket"));
    assert!(!env.root.join(&id).exists());
}

#[test]
fn preserve_fds_passes_extra_fds() {
    let env = TestEnv::new("fds");
    let (r, w) = nix::unistd::pipe().unwrap();
    env.write_config(&env.sh("echo through-fd-3 >&3; ls /proc/self/fd | wc -l"));
    let id = env.id("c");
    let mut cmd = env.cmd();
    cmd.args(["run", "--preserve-fds", "1", "--bundle"])
        .arg(&env.bundle)
        .arg(&id);
    pass_as_fd3(&mut cmd, w.as_raw_fd());
    let out = cmd.output().unwrap();
    drop(w);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let mut got = String::new();
    std::fs::File::from(r).read_to_string(&mut got).unwrap();
    assert_eq!(got, "through-fd-3\n");
    // 0, 1, 2, 3 and the fd ls opens for the directory: nothing of vrun's leaks in.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");
}

#[test]
fn run_with_a_terminal_and_no_console_socket_proxies_it() {
    let env = TestEnv::new("proxy");
    let mut c = env.sh("echo tty=$(readlink /proc/self/fd/0); exit 4");
    c["process"]["terminal"] = json!(true);
    let (code, out, err) = env.run(&c);
    assert_eq!(code, 4, "{err}");
    // byte for byte what the program wrote: the pty does not turn \n into \r\n (ONLCR is
    // cleared, as runc 1.2 clears it)
    assert_eq!(out, "tty=/dev/pts/0\n");
}

#[test]
fn the_pty_belongs_to_the_processs_user_for_run_and_exec() {
    let env = TestEnv::new("ptyowner");
    let owner = "stat -c %u:%g $(readlink /proc/self/fd/0)";
    let mut c = env.sh(owner);
    c["process"]["terminal"] = json!(true);
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let (code, out, err) = env.run(&c);
    assert_eq!(code, 0, "{err}");
    // the group stays devpts's (gid=5 in the config's mount), as with runc
    assert_eq!(out, "1000:5\n");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    let out = env.vrun(&["exec", "-t", "--user", "1000:1000", &id, "sh", "-c", owner]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1000:5\n");
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
}

#[test]
fn a_failed_exec_exits_255_and_kill_0_asks_whether_init_is_alive() {
    let env = TestEnv::new("exec255");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    assert!(env.vrun(&["kill", &id, "0"]).status.success());
    assert!(env.vrun(&["pause", &id]).status.success());
    let out = env.vrun(&["exec", &id, "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(messages(&out.stderr).contains("paused"));
    assert!(env.vrun(&["resume", &id]).status.success());
    // the pid file cannot be written: 255, and the process is not left running
    let out = env.vrun(&[
        "exec",
        "--pid-file",
        "/proc/no-such-dir/pid",
        &id,
        "sleep",
        "31",
    ]);
    assert_eq!(out.status.code(), Some(255));
    let ps = env.vrun(&["ps", &id]);
    let listing = String::from_utf8_lossy(&ps.stdout);
    assert!(!listing.contains("sleep 31"), "{listing}");
    assert!(env.vrun(&["kill", &id, "KILL"]).status.success());
    env.wait_status(&id, "stopped");
    let out = env.vrun(&["kill", &id, "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(messages(&out.stderr).contains("container not running"));
    assert!(env.vrun(&["delete", &id]).status.success());
}

/// The texts containerd's runc shim, Docker and podman match on in runc's errors: each must be
/// in vrun's, with runc's exit status.
#[test]
fn errors_carry_the_words_clients_match_on() {
    let env = TestEnv::new("words");
    let stderr = |out: &std::process::Output| messages(&out.stderr);
    // A container that does not exist: the shim's delete and podman's state check read
    // "does not exist" as "already gone".
    for args in [
        &["kill", "gone", "KILL"][..],
        &["kill", "--all", "gone", "KILL"],
        &["delete", "gone"],
        &["state", "gone"],
        &["start", "gone"],
        &["pause", "gone"],
        &["exec", "gone", "true"],
    ] {
        let out = env.vrun(args);
        // a failed exec exits 255, as runc's
        let code = if args[0] == "exec" { 255 } else { 1 };
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert!(
            stderr(&out).contains("does not exist"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // A stopped container: `kill ID SIG` says "container not running" (the shim's "process
    // already finished"), `kill --all ID SIG` succeeds (how the shim stops a container).
    let id = env.id("stopped");
    env.create(&id, &env.default_config(&["true"]));
    assert!(env.vrun(&["start", &id]).status.success());
    env.wait_status(&id, "stopped");
    let out = env.vrun(&["kill", &id, "KILL"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("container not running"),
        "{}",
        stderr(&out)
    );
    for sig in ["KILL", "TERM", "9"] {
        let out = env.vrun(&["kill", "--all", &id, sig]);
        assert!(out.status.success(), "kill --all {sig}: {}", stderr(&out));
    }
    assert!(env.vrun(&["delete", &id]).status.success());
    // Docker and podman turn these into exit statuses 127 and 126: runc's words, naming the
    // command.
    let (code, _, err) = env.run(&env.default_config(&["no-such-command"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("exec: \"no-such-command\": executable file not found in $PATH"),
        "{err}"
    );
    let (code, _, err) = env.run(&env.default_config(&["/etc/passwd"]));
    assert_eq!(code, 1);
    assert!(err.contains("\"/etc/passwd\": permission denied"), "{err}");
    // Docker: "not a directory" (any case) is a file bind-mounted onto a directory, exit 127
    let mut c = env.default_config(&["true"]);
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/tmp", "type": "bind", "source": "/etc/hostname", "options": ["bind"]
    }));
    let (code, _, err) = env.run(&c);
    assert_eq!(code, 1);
    assert!(err.to_lowercase().contains("not a directory"), "{err}");
    assert_no_state_left(&env, "after the failed runs");
}

/// `kill --all ID KILL` of a paused container stops it, as runc's (which thaws the cgroup for
/// the signal to take effect).
#[test]
fn kill_all_reaches_a_paused_container() {
    let env = TestEnv::new("killpaused");
    let id = env.id("c");
    env.create(&id, &env.sh("sleep 100 & sleep 100"));
    assert!(env.vrun(&["start", &id]).status.success());
    env.wait_status(&id, "running");
    assert!(env.vrun(&["pause", &id]).status.success());
    env.wait_status(&id, "paused");
    // a signal other than KILL leaves it paused
    assert!(env.vrun(&["kill", "--all", &id, "CONT"]).status.success());
    assert_eq!(env.state(&id)["status"], "paused");
    assert!(env.vrun(&["kill", "--all", &id, "KILL"]).status.success());
    env.wait_status(&id, "stopped");
    assert!(env.vrun(&["delete", &id]).status.success());
    assert_no_state_left(&env, "after delete");
}

/// `vrun list | head -1`, `vrun state ID | grep -q running`: a reader that leaves early closes
/// the pipe. runc dies of SIGPIPE there; vrun (which ignores SIGPIPE for its own pipes) exits
/// 141 as quietly, where println! used to panic ("failed printing to stdout").
#[test]
fn a_closed_stdout_pipe_ends_vrun_quietly() {
    let env = TestEnv::new("epipe");
    let id = env.id("c");
    env.create(&id, &env.sh("sleep 30"));
    for args in [
        vec!["list"],
        vec!["state", id.as_str()],
        vec!["ps", id.as_str()],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env
            .cmd()
            .args(&args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "vrun {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "vrun {args:?}: {stderr}");
    }
}
