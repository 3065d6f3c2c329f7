//! Shared by the real-container tests: a busybox bundle, a private state root, the `vrun`
//! binary, and a guard that deletes every container and file of the test, also on failure.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

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
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
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

/// Makes `fd` the child's fd 3: the one `--preserve-fds 1` hands to the container.
pub fn pass_as_fd3(cmd: &mut Command, fd: std::os::fd::RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: dup2 is async-signal-safe; the closure runs in the forked child before exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep the close-on-exec flag: clear it instead.
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A seccomp notify agent for the tests: the receiving end of SCMP_ACT_NOTIFY.
pub mod seccomp_agent {
    use std::io::IoSliceMut;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::net::UnixStream;

    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

    /// The payload (container process state) and the listener fd of one message.
    pub fn recv_state_and_fd(conn: &UnixStream) -> (Vec<u8>, OwnedFd) {
        let mut buf = vec![0u8; 64 * 1024];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut fd = None;
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: SCM_RIGHTS gave this process a new fd that nothing else owns.
                fd = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
            }
        }
        let n = msg.bytes;
        buf.truncate(n);
        (buf, fd.expect("no fd in the listener message"))
    }

    #[repr(C)]
    #[derive(Default)]
    struct Notif {
        id: u64,
        pid: u32,
        flags: u32,
        nr: i32,
        arch: u32,
        ip: u64,
        args: [u64; 6],
    }

    #[repr(C)]
    struct Resp {
        id: u64,
        val: i64,
        error: i32,
        flags: u32,
    }

    const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
    const NOTIF_SEND: libc::c_ulong = 0xc018_2101;

    /// Waits for one notification: (its id, the pid of the process that made the call, as
    /// this process's pid namespace numbers it, and the syscall number).
    pub fn receive(listener: &OwnedFd) -> (u64, u32, i32) {
        try_receive(listener)
            .unwrap_or_else(|| panic!("NOTIF_RECV: {}", std::io::Error::last_os_error()))
    }

    /// [`receive`], or None once the filter's processes are gone.
    pub fn try_receive(listener: &OwnedFd) -> Option<(u64, u32, i32)> {
        let mut n = Notif::default();
        // SAFETY: NOTIF_RECV fills a struct seccomp_notif, which Notif mirrors.
        let rc = unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_RECV, &mut n as *mut Notif) };
        (rc == 0).then_some((n.id, n.pid, n.nr))
    }

    /// Lets the call of notification `id` go on as if no filter had stopped it
    /// (SECCOMP_USER_NOTIF_FLAG_CONTINUE). False if its process has gone meanwhile.
    pub fn let_it_continue(listener: &OwnedFd, id: u64) -> bool {
        let resp = Resp {
            id,
            val: 0,
            error: 0,
            flags: 1,
        };
        // SAFETY: NOTIF_SEND reads a struct seccomp_notif_resp, which Resp mirrors.
        unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_SEND, &resp as *const Resp) == 0 }
    }

    /// Waits for one notification and answers it: success when `errno` is 0. Returns the
    /// syscall number.
    pub fn answer(listener: &OwnedFd, errno: i32) -> i32 {
        let mut n = Notif::default();
        // SAFETY: NOTIF_RECV fills a struct seccomp_notif, which Notif mirrors.
        let rc = unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_RECV, &mut n as *mut Notif) };
        assert_eq!(rc, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
        let resp = Resp {
            id: n.id,
            val: 0,
            error: -errno,
            flags: 0,
        };
        // SAFETY: NOTIF_SEND reads a struct seccomp_notif_resp, which Resp mirrors.
        let rc = unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_SEND, &resp as *const Resp) };
        assert_eq!(rc, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
        n.nr
    }
}

/// One fd sent with SCM_RIGHTS over `conn` (a console socket's pty master).
pub fn recv_fd(conn: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(conn),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the fd was just received and nothing else owns it.
            return unsafe {
                <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[0])
            };
        }
    }
    panic!("no fd received");
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

/// The window size of a pty (rows, columns).
pub fn pty_size(fd: std::os::fd::BorrowedFd) -> (u16, u16) {
    // SAFETY: a zeroed winsize is valid; TIOCGWINSZ fills the one the pointer names.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            libc::TIOCGWINSZ,
            &mut ws,
        )
    };
    assert_eq!(rc, 0, "TIOCGWINSZ: {}", std::io::Error::last_os_error());
    (ws.ws_row, ws.ws_col)
}
