//! Shared by the real-container tests: a busybox bundle, a private state root, the `vrun`
//! binary, and a guard that deletes every container and file of the test, also on failure.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

mod sys;
#[allow(unused_imports)]
pub use sys::*;

pub const VRUN: &str = env!("CARGO_BIN_EXE_vrun");

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One test's world: `<dir>/bundle` (config.json + busybox rootfs) and `<dir>/state` (--root).
pub struct TestEnv {
    pub dir: PathBuf,
    pub bundle: PathBuf,
    pub root: PathBuf,
    pub name: String,
}

fn busybox() -> &'static str {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return p;
        }
    }
    panic!("busybox is not installed: apt-get install busybox-static");
}

const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "id", "hostname", "ps", "sleep", "mount", "grep", "true", "false",
    "touch", "mkdir", "readlink", "ulimit", "stat", "head", "wc", "dd", "umask", "env", "pwd",
    "uname", "test", "kill", "mknod", "rm", "ln", "tail", "cut", "tr", "awk", "unshare", "ip",
    "ionice",
];

impl TestEnv {
    pub fn new(name: &str) -> TestEnv {
        // (before anything is made: a host without busybox leaves no directory behind)
        let busybox = busybox();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{name}-{}-{n}", std::process::id());
        let dir = PathBuf::from(format!("/tmp/vrun-test-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        let bundle = dir.join("bundle");
        let rootfs = bundle.join("rootfs");
        for d in [
            "bin",
            "proc",
            "sys",
            "dev",
            "etc",
            "tmp",
            "root",
            "home/user",
        ] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
        let env = TestEnv {
            root: dir.join("state"),
            dir,
            bundle,
            name,
        };
        env.write_config(&env.default_config(&["true"]));
        env
    }

    /// `vrun spec`'s config with a process that needs no terminal.
    pub fn default_config(&self, args: &[&str]) -> Value {
        let out = Command::new(VRUN)
            .args(["spec", "--bundle"])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "vrun spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = self.dir.join("config.json");
        let mut c: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::remove_file(path).unwrap();
        c["process"]["terminal"] = json!(false);
        c["process"]["args"] = json!(args);
        // Writable unless a test asks otherwise (tests write markers into the rootfs).
        c["root"]["readonly"] = json!(false);
        c
    }

    pub fn write_config(&self, c: &Value) {
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(c).unwrap(),
        )
        .unwrap();
    }

    /// A config running `sh -c SCRIPT`.
    pub fn sh(&self, script: &str) -> Value {
        self.default_config(&["sh", "-c", script])
    }

    pub fn id(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(VRUN);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    /// `vrun --root <root> ARGS...`
    pub fn vrun(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// `vrun run --bundle <bundle> ID` with the given config; returns (exit code, stdout, stderr).
    pub fn run(&self, config: &Value) -> (i32, String, String) {
        self.write_config(config);
        let id = self.id("run");
        let out = self
            .cmd()
            .args(["run", "--bundle"])
            .arg(&self.bundle)
            .arg(&id)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            messages(&out.stderr),
        )
    }

    /// Runs and expects exit 0; returns stdout. (The third of `run`'s answers is stderr with
    /// vrun's log lines turned into their messages: see [`messages`].)
    pub fn run_ok(&self, config: &Value) -> String {
        let (code, out, err) = self.run(config);
        assert_eq!(code, 0, "vrun run failed\nstdout: {out}\nstderr: {err}");
        out
    }

    /// Runs a command that leaves a container process behind (create, run -d, exec -d): that
    /// process inherits stdout and stderr, as with runc, so they go to files rather than pipes
    /// (a pipe would stay open as long as the container runs). Returns (status, stdout, stderr).
    pub fn detached(&self, mut cmd: Command) -> (std::process::ExitStatus, String, String) {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let (o, e) = (
            self.dir.join(format!("out.{n}")),
            self.dir.join(format!("err.{n}")),
        );
        cmd.stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap());
        let status = cmd.status().unwrap();
        (
            status,
            std::fs::read_to_string(o).unwrap_or_default(),
            std::fs::read_to_string(e).unwrap_or_default(),
        )
    }

    /// `vrun create --bundle <bundle> ID` with the config already written; succeeding or not.
    pub fn try_create(&self, id: &str) -> Output {
        self.try_create_with::<&str>(id, &[])
    }

    /// `create` with extra flags (before --bundle), stdio to files.
    pub fn try_create_with<S: AsRef<std::ffi::OsStr>>(&self, id: &str, flags: &[S]) -> Output {
        let mut cmd = self.cmd();
        cmd.arg("create")
            .args(flags)
            .arg("--bundle")
            .arg(&self.bundle)
            .arg(id);
        let (status, stdout, stderr) = self.detached(cmd);
        Output {
            status,
            stdout: stdout.into_bytes(),
            stderr: stderr.into_bytes(),
        }
    }

    /// create + check success.
    pub fn create(&self, id: &str, config: &Value) {
        self.write_config(config);
        let out = self.try_create(id);
        assert!(
            out.status.success(),
            "vrun create {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Spawns `vrun run` of the written config in the foreground and waits until it runs.
    pub fn spawn_running(&self, id: &str) -> std::process::Child {
        let child = self
            .cmd()
            .args(["run", "--bundle"])
            .arg(&self.bundle)
            .arg(id)
            .spawn()
            .unwrap();
        self.wait_status(id, "running");
        child
    }

    /// Spawns `vrun ARGS... --bundle <bundle> ID` with stdio to /dev/null (for a test that
    /// kills it or waits for something it makes).
    pub fn spawn_quiet(&self, args: &[&str], id: &str) -> std::process::Child {
        self.cmd()
            .args(args)
            .arg("--bundle")
            .arg(&self.bundle)
            .arg(id)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// `vrun --root <root>` run by a shell that gives it LISTEN_FDS=`n` with LISTEN_PID set to
    /// vrun's own pid (socket activation): the caller adds the command.
    pub fn cmd_with_listen_fds(&self, n: u32) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            &format!("LISTEN_PID=$$ LISTEN_FDS={n} exec \"$@\""),
            "sh",
            VRUN,
            "--root",
        ])
        .arg(&self.root)
        .stdin(Stdio::null());
        cmd
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.vrun(&["state", id]);
        assert!(
            out.status.success(),
            "vrun state {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Waits until the container's status is `want` (up to 5 s).
    pub fn wait_status(&self, id: &str, want: &str) {
        for _ in 0..500 {
            let out = self.vrun(&["state", id]);
            if out.status.success()
                && serde_json::from_slice::<Value>(&out.stdout).unwrap()["status"] == want
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!(
            "container {id} never reached status {want}: {}",
            self.state(id)
        );
    }

    /// Mount lines that mention this test's directory.
    pub fn leaked_mounts(&self) -> Vec<String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        info.lines()
            .filter(|l| l.contains(self.dir.to_str().unwrap()))
            .map(String::from)
            .collect()
    }
}

/// The state root holds nothing: no container, no list of cgroup directories vrun made
/// (`@cgroups`, which goes away with its last entry). The one thing that stays is the cache
/// of empty disk templates (`@disk-templates`, see vrun_rootfs::disk::make_image), and it
/// holds nothing but finished templates.
pub fn assert_no_state_left(env: &TestEnv, what: &str) {
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let left: Vec<String> = names(&env.root)
        .into_iter()
        .filter(|n| n != "@disk-templates")
        .collect();
    assert!(left.is_empty(), "{what}: state left: {left:?}");
    let templates = names(&env.root.join("@disk-templates"));
    assert!(
        templates
            .iter()
            .all(|n| n.starts_with("ext4-") && n.ends_with(".img")),
        "{what}: a half-made disk template left: {templates:?}"
    );
}

/// A command that must fail cleanly: exit 1, one stderr line holding `needle`, no panic, and
/// nothing left for `id` (state dir, cgroup, mount).
/// stderr with each log line (`time="..." level=LEVEL msg="..."`, as vrun and runc write
/// them) turned back into "LEVEL: message", so that needles can be written as the user reads
/// them. Other lines (the container's own) are kept as they are.
pub fn messages(stderr: &[u8]) -> String {
    let decode = |line: &str| -> Option<String> {
        let (head, msg) = line.split_once(" msg=")?;
        let level = head.split_once(" level=")?.1;
        let msg: String = serde_json::from_str(msg).ok()?;
        Some(format!("{level}: {msg}"))
    };
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|line| decode(line).unwrap_or_else(|| line.to_string()) + "\n")
        .collect()
}

pub fn assert_clean_failure(env: &TestEnv, out: &Output, id: &str, needle: &str) {
    let raw = String::from_utf8_lossy(&out.stderr);
    assert!(raw.contains("level=error msg="), "not a log line: {raw}");
    let err = messages(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
    assert_eq!(err.lines().count(), 1, "more than one line: {err}");
    assert!(!err.contains("panicked"));
    assert!(!env.root.join(id).exists(), "state dir left for {id}");
    assert!(cgroup_dirs_named(id).is_empty(), "cgroup left for {id}");
    assert!(env.leaked_mounts().is_empty());
}

/// Writes `config`, runs `create` and checks that it fails cleanly with `needle`.
pub fn assert_create_fails(env: &TestEnv, config: &Value, needle: &str) {
    env.write_config(config);
    let id = env.id("bad");
    let out = env.try_create(&id);
    assert_clean_failure(env, &out, &id, needle);
}

/// Whether `path` appears within `secs` seconds (a marker a container's process writes).
pub fn wait_for(path: &Path, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// Kills what is left in the cgroup directories named so and removes them, deepest first,
/// when dropped: a test that names its own cgroupsPath (or parent) holds one, so that a
/// failure before its last check leaves no cgroup (TestEnv's delete --force finds only the
/// containers whose state is left).
pub struct CgroupsNamed(pub String);

impl Drop for CgroupsNamed {
    fn drop(&mut self) {
        let mut dirs = cgroup_dirs_named(&self.0);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in &dirs {
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        for d in &dirs {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while std::fs::remove_dir(d).is_err()
                && d.exists()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

/// cgroup directories whose name contains `needle`, anywhere under /sys/fs/cgroup.
pub fn cgroup_dirs_named(needle: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, needle: &str, out: &mut Vec<PathBuf>, depth: usize) {
        if depth > 8 {
            return;
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let p = e.path();
                    if p.file_name()
                        .is_some_and(|n| n.to_string_lossy().contains(needle))
                    {
                        out.push(p.clone());
                    }
                    walk(&p, needle, out, depth + 1);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), needle, &mut out, 0);
    out
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for e in entries.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.cmd().args(["delete", "--force", &id]).output();
            }
        }
        let leaked = self.leaked_mounts();
        for line in &leaked {
            if let Some(mnt) = line.split(' ').nth(4) {
                let _ = nix::mount::umount2(mnt, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if !std::thread::panicking() {
            assert!(leaked.is_empty(), "mounts left behind: {leaked:?}");
        }
    }
}

/// The namespace of kind `typ` (as linux.namespaces names it) in config `c` is joined from
/// `path` instead of made.
pub fn join_namespace(c: &mut Value, typ: &str, path: &str) {
    for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == typ {
            ns["path"] = json!(path);
        }
    }
}

/// A user namespace of the container's own, its 65536 ids from host id 100000.
pub fn in_user_namespace(c: &mut Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
}
