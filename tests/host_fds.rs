//! Nothing of the host reaches a container through what vrun holds or hands over: the fds of a
//! created container's init (which may wait for `start` for hours), the fd numbers of
//! `--preserve-fds` and LISTEN_FDS, a joined mount namespace that is vrun's own, and the
//! state files (which hold the config's secrets). Each test is the attack as a hostile
//! container, or a curious user on the host, would make it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::*;
use serde_json::{json, Value};

/// Run inside the container: every fd of every process it can see, as `FD pid fd kind link`
/// lines, and through every directory among them, an attempt to read the host's file
/// `$1` by way of host pid `$2`'s root (a procfs of the host), directly (a host directory)
/// and by climbing out of it. A read that works prints `LEAK path content`.
const SCAN: &str = r#"
secret=$1; hostpid=$2
for f in /proc/[0-9]*/fd/*; do
  l=$(readlink "$f") || continue
  p=${f#/proc/}; p=${p%%/*}; n=${f##*/}
  kind=other; [ -d "$f" ] && kind=dir
  echo "FD $p $n $kind $l"
  if [ "$kind" = dir ]; then
    for t in "$f/$hostpid/root$secret" "$f$secret" "$f/../../../../../../../..$secret"; do
      if c=$(cat "$t" 2>/dev/null); then echo "LEAK $t $c"; fi
    done
  fi
done
echo DONE
"#;

/// The capabilities of the default spec, and CAP_SYS_PTRACE, which lets a process read the
/// fds of a non-dumpable one (a created init) through /proc/PID/fd.
fn with_ptrace(c: &mut Value) {
    for set in ["bounding", "effective", "permitted"] {
        c["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_PTRACE"));
    }
}

/// A host file the container must never read, and the test's own (host) pid.
fn host_secret(env: &TestEnv) -> (String, String) {
    let secret = env.dir.join("host-secret");
    std::fs::write(&secret, "the-host-secret\n").unwrap();
    (
        secret.to_str().unwrap().to_string(),
        std::process::id().to_string(),
    )
}

/// What the scan found: every fd of the created container's init (pid 1 in its pid
/// namespace) other than stdio must be its exec fifo, no process may hold a directory, and
/// nothing of the host may be read.
fn assert_scan_found_nothing(out: &str) {
    assert!(out.contains("DONE"), "the scan did not finish: {out}");
    let leaks: Vec<&str> = out.lines().filter(|l| l.starts_with("LEAK")).collect();
    assert!(leaks.is_empty(), "the host was read: {leaks:#?}\n{out}");
    let fds: Vec<Vec<&str>> = out
        .lines()
        .filter(|l| l.starts_with("FD "))
        .map(|l| l.splitn(5, ' ').collect())
        .collect();
    let init: Vec<&Vec<&str>> = fds.iter().filter(|f| f[1] == "1").collect();
    assert!(!init.is_empty(), "init's fds were not readable: {out}");
    let extra: Vec<&&Vec<&str>> = init
        .iter()
        .filter(|f| !["0", "1", "2"].contains(&f[2]) && !f[4].ends_with("/exec.fifo"))
        .collect();
    assert!(
        extra.is_empty(),
        "the created init holds more than stdio and its exec fifo: {extra:?}\n{out}"
    );
    let dirs: Vec<&Vec<&str>> = fds.iter().filter(|f| f[3] == "dir").collect();
    assert!(dirs.is_empty(), "directory fds seen: {dirs:?}\n{out}");
}

/// A pod with `shareProcessNamespace`: a second container joins the pid namespace of a
/// created one (its init waiting for `start`, as containerd leaves it between create and
/// start) and, with CAP_SYS_PTRACE, reads init's fds through /proc/1/fd.
#[test]
fn a_peer_in_the_pid_namespace_finds_nothing_of_the_host_in_a_created_init() {
    let env = TestEnv::new("fds-peer");
    let (secret, hostpid) = host_secret(&env);
    let waiting = env.id("waiting");
    env.create(&waiting, &env.sh("sleep 30"));
    let pid = env.state(&waiting)["pid"].as_i64().unwrap();
    let mut c = env.default_config(&["sh", "-c", SCAN, "scan", &secret, &hostpid]);
    with_ptrace(&mut c);
    join_namespace(&mut c, "pid", &format!("/proc/{pid}/ns/pid"));
    let out = env.run_ok(&c);
    assert_scan_found_nothing(&out);
}

/// The same from a process `vrun exec` put into the created container.
#[test]
fn an_exec_into_a_created_container_finds_nothing_of_the_host_in_its_init() {
    let env = TestEnv::new("fds-exec");
    let (secret, hostpid) = host_secret(&env);
    let id = env.id("c");
    env.create(&id, &env.sh("sleep 30"));
    let out = env.vrun(&[
        "exec",
        "--cap",
        "CAP_SYS_PTRACE",
        &id,
        "sh",
        "-c",
        SCAN,
        "scan",
        &secret,
        &hostpid,
    ]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert_scan_found_nothing(&String::from_utf8_lossy(&out.stdout));
}

/// The container's fds, as `ls` in it lists them (less the one ls reads the list with).
fn container_fds(listing: &str) -> Vec<String> {
    let mut fds: Vec<String> = listing
        .split_whitespace()
        .filter(|f| f.parse::<u32>().is_ok())
        .map(String::from)
        .collect();
    fds.sort_by_key(|f| f.parse::<u32>().unwrap());
    fds
}

/// `--preserve-fds 3` from a caller that holds only stdio: fds 3, 4 and 5 must stay closed in
/// the container. vrun's own fds (the host's procfs, the exec fifo, the sync socket) never
/// sit at those numbers, in `run`, in `create` + `start`, or in `exec`.
#[test]
fn preserve_fds_numbers_the_caller_did_not_pass_stay_closed() {
    let env = TestEnv::new("fds-gap");
    // (ls opens the directory it lists: that fd is the last, above stdio)
    let script = "for n in 3 4 5; do readlink /proc/self/fd/$n && echo \"LEAK $n\"; done; ls /proc/self/fd | tr '\\n' ' '";
    let id = env.id("run");
    env.write_config(&env.sh(script));
    let mut cmd = env.cmd();
    cmd.args(["run", "--preserve-fds", "3", "--bundle"])
        .arg(&env.bundle)
        .arg(&id);
    with_only_fds(&mut cmd, vec![]);
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert!(!text.contains("LEAK"), "run: {text}");
    assert_eq!(container_fds(&text), ["0", "1", "2", "3"], "run: {text}");

    let id = env.id("created");
    env.write_config(&env.sh(&format!("{script} > /tmp/fds")));
    let mut cmd = env.cmd();
    cmd.args(["create", "--preserve-fds", "3", "--bundle"])
        .arg(&env.bundle)
        .arg(&id);
    with_only_fds(&mut cmd, vec![]);
    let (status, _, err) = env.detached(cmd);
    assert!(status.success(), "{}", messages(err.as_bytes()));
    assert!(env.vrun(&["start", &id]).status.success());
    let fds_file = env.bundle.join("rootfs/tmp/fds");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(&fds_file).is_ok_and(|t| t.ends_with(' ')) {
        assert!(
            std::time::Instant::now() < deadline,
            "the process never wrote its fds"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&fds_file).unwrap();
    assert!(!text.contains("LEAK"), "create + start: {text}");
    assert_eq!(container_fds(&text), ["0", "1", "2", "3"], "create: {text}");
    let _ = env.vrun(&["delete", "--force", &id]);

    let id = env.id("exec");
    env.create(&id, &env.sh("sleep 30"));
    let mut cmd = env.cmd();
    cmd.args(["exec", "--preserve-fds", "3", &id, "sh", "-c", script]);
    with_only_fds(&mut cmd, vec![]);
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert!(!text.contains("LEAK"), "exec: {text}");
    assert_eq!(container_fds(&text), ["0", "1", "2", "3"], "exec: {text}");
}

/// Of the range, exactly the fds the caller passed arrive, at their numbers: here fd 4 but
/// not 3 (`--preserve-fds 2`), and with LISTEN_FDS=2 for vrun's pid and only fd 3 given,
/// fd 3 but not 4.
#[test]
fn only_the_fds_the_caller_passed_arrive_in_the_range() {
    let env = TestEnv::new("fds-some");
    let script = "echo through-4 >&4; for n in 3 4 5; do readlink /proc/self/fd/$n >/dev/null && echo has-$n; done; true";
    env.write_config(&env.sh(script));
    let (r, w) = nix::unistd::pipe().unwrap();
    let mut cmd = env.cmd();
    cmd.args(["run", "--preserve-fds", "2", "--bundle"])
        .arg(&env.bundle)
        .arg(env.id("four"))
        .stdout(Stdio::piped());
    with_only_fds(&mut cmd, vec![(w.as_raw_fd(), 4)]);
    let child = cmd.spawn().unwrap();
    drop(w);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, "has-4\n", "--preserve-fds 2 with fd 4 only");
    let mut got = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut got).unwrap();
    assert_eq!(got, "through-4\n");

    env.write_config(&env.sh(
        "echo \"$LISTEN_FDS\"; for n in 3 4 5; do readlink /proc/self/fd/$n >/dev/null && echo has-$n; done; true",
    ));
    let (_r, w) = nix::unistd::pipe().unwrap();
    let mut cmd = env.cmd_with_listen_fds(2);
    cmd.args(["run", "--bundle"])
        .arg(&env.bundle)
        .arg(env.id("listen"))
        .stdout(Stdio::piped());
    with_only_fds(&mut cmd, vec![(w.as_raw_fd(), 3)]);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2\nhas-3\n",
        "LISTEN_FDS=2 with fd 3 only"
    );
}

/// `{"type": "mount", "path": P}` where P is the mount namespace vrun itself runs in: pivoting
/// it would give every process in it (the host's init, on a real machine) the container's
/// rootfs as its root. runc does it; vrun refuses before it makes anything, whatever path
/// names that namespace. vrun runs in a throwaway mount namespace here, so that a vrun that
/// did pivot could not harm the machine the test runs on.
#[test]
fn joining_the_mount_namespace_vrun_runs_in_is_refused() {
    let env = TestEnv::new("own-mntns");
    let link = env.dir.join("my-mnt-ns");
    std::os::unix::fs::symlink("/proc/self/ns/mnt", &link).unwrap();
    for path in [
        "/proc/self/ns/mnt".to_string(),
        "/proc/thread-self/ns/mnt".to_string(),
        link.to_str().unwrap().to_string(),
    ] {
        let mut c = env.sh("true");
        join_namespace(&mut c, "mount", &path);
        env.write_config(&c);
        let id = env.id("bad");
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", VRUN, "--root"])
            .arg(&env.root)
            .args(["create", "--bundle"])
            .arg(&env.bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = messages(&out.stderr);
        if out.status.success() {
            let _ = env.vrun(&["delete", "--force", &id]);
        }
        assert_eq!(out.status.code(), Some(1), "{path}: {err}");
        assert!(
            err.contains("linux.namespaces[")
                && err.contains("the mount namespace of linux.namespaces[")
                && err.contains("is the one vrun runs in"),
            "{path}: {err}"
        );
        assert!(!env.root.join(&id).exists(), "{path}: state left");
        assert!(cgroup_dirs_named(&id).is_empty(), "{path}: cgroup left");
    }
}

/// state.json holds the whole config, process.env's secrets among them: the container's
/// directory and its state file are the owner's alone, also in a state root someone made
/// with `mkdir -p` (0755); an ordinary user on the host cannot read them.
#[test]
fn state_files_are_private_whatever_the_roots_mode() {
    let env = TestEnv::new("state-mode");
    std::fs::create_dir_all(&env.root).unwrap();
    std::fs::set_permissions(&env.root, std::fs::Permissions::from_mode(0o755)).unwrap();
    // (the test's directory must be searchable for the user below)
    std::fs::set_permissions(&env.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = env.sh("sleep 30");
    c["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("API_TOKEN=s3cr3t-t0ken"));
    let id = env.id("c");
    env.create(&id, &c);
    let dir = env.root.join(&id);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert!(
        [0o700, 0o711].contains(&mode(&dir)),
        "container dir mode {:o}",
        mode(&dir)
    );
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = entry.path();
        let t = entry.file_type().unwrap();
        if t.is_file() {
            assert_eq!(mode(&p), 0o600, "{} mode {:o}", p.display(), mode(&p));
        }
    }
    let out = Command::new("cat")
        .arg(dir.join("state.json"))
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(
        !out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("s3cr3t"),
        "an ordinary user read state.json"
    );
    // every command still reads it, and `list` shows it
    let list = env.vrun(&["list", "-q"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains(&id));
}

/// Every fd of process `pid` but stdio, as (number, link), read on the host.
fn fds_beyond_stdio(pid: u32) -> Vec<(String, String)> {
    let mut fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let link = std::fs::read_link(e.path())
                        .map(|l| l.display().to_string())
                        .unwrap_or_default();
                    (e.file_name().to_string_lossy().into_owned(), link)
                })
                .filter(|(n, _)| !["0", "1", "2"].contains(&n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    fds.sort();
    fds
}

/// A process `vrun exec` puts into a running container is in the container's pid namespace
/// before its exec: a process of the container with CAP_SYS_PTRACE could read its fds then.
/// A seccomp listener (notify on execve, answered with CONTINUE) holds it at its execve, the
/// last moment before the exec: it holds nothing but stdio and the socket to its parent. (It
/// held the host's /proc and its cgroup and namespace fds until the exec closed them.)
#[test]
fn an_exec_d_process_holds_nothing_of_the_host_at_its_exec() {
    use std::os::unix::net::UnixListener;
    let env = TestEnv::new("fds-execwin");
    let sock = env.dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut c = env.sh("sleep 30");
    c["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "syscalls": [{"names": ["execve", "execveat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    // The agent: init's listener (its exec let through, then anything else), and the exec'd
    // process's, whose fds are read while its execve waits for the answer.
    let agent = std::thread::spawn(move || {
        let (init_conn, _) = listener.accept().unwrap();
        let (_, init_listener) = seccomp_agent::recv_state_and_fd(&init_conn);
        std::thread::spawn(move || {
            while let Some((id, _, _)) = seccomp_agent::try_receive(&init_listener) {
                seccomp_agent::let_it_continue(&init_listener, id);
            }
        });
        let (exec_conn, _) = listener.accept().unwrap();
        let (_, exec_listener) = seccomp_agent::recv_state_and_fd(&exec_conn);
        let (id, pid, _) = seccomp_agent::receive(&exec_listener);
        let held = fds_beyond_stdio(pid);
        seccomp_agent::let_it_continue(&exec_listener, id);
        std::thread::spawn(move || {
            while let Some((id, _, _)) = seccomp_agent::try_receive(&exec_listener) {
                seccomp_agent::let_it_continue(&exec_listener, id);
            }
        });
        held
    });
    let id = env.id("c");
    env.create(&id, &c);
    assert!(env.vrun(&["start", &id]).status.success());
    let out = env.vrun(&["exec", &id, "true"]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let held = agent.join().unwrap();
    let (sockets, others): (Vec<_>, Vec<_>) = held
        .iter()
        .partition(|(_, link)| link.starts_with("socket:"));
    assert!(
        others.is_empty() && sockets.len() <= 1,
        "at its execve the exec'd process holds {held:?}"
    );
    let _ = env.vrun(&["delete", "--force", &id]);
}
