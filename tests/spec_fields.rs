//! runtime-spec 1.2/1.3 fields, each applied in a real container and checked from inside (or
//! from the host), or refused with an error naming it: scheduler, ioPriority,
//! execCPUAffinity, personality, memoryPolicy, netDevices, intelRdt, idmapped mounts,
//! nosymfollow, tmpcopyup, exec's consoleSize and oomScoreAdj, and the warning for a field
//! vrun does not know.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use std::os::unix::net::UnixListener;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

#[test]
fn scheduler_io_priority_personality_and_memory_policy_reach_the_process() {
    let env = TestEnv::new("sched");
    let mut c = env.sh(
        "cut -d' ' -f19,41 /proc/self/stat; ionice -p $$; uname -m; grep -c bind:0 /proc/self/numa_maps",
    );
    c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    c["linux"]["personality"] = json!({"domain": "LINUX32"});
    c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"});
    let out = env.run_ok(&c);
    let lines: Vec<&str> = out.lines().collect();
    // nice 5, policy 3 (SCHED_BATCH)
    assert_eq!(lines[0], "5 3", "{out}");
    assert_eq!(lines[1], "best-effort: prio 6", "{out}");
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!(lines[2], "i686", "{out}");
    }
    assert_ne!(lines[3], "0", "no mapping has the bind policy: {out}");
}

#[test]
fn scheduler_flags_take_the_spec_spelling_and_reset_on_fork() {
    let env = TestEnv::new("schedflag");
    // The shell runs at nice -5; its child (cut) is reset to 0 by the flag (the kernel resets
    // a negative nice value and the real-time policies).
    // (busybox runs cut inside the shell, and a last command replaces it: a second shell,
    // not last, is the child)
    let mut c = env
        .sh("cut -d' ' -f19 /proc/$$/stat; sh -c \"cut -d' ' -f19 /proc/self/stat; true\"; true");
    c["process"]["scheduler"] =
        json!({"policy": "SCHED_OTHER", "nice": -5, "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
    assert_eq!(env.run_ok(&c), "-5\n0\n");
}

#[test]
fn a_realtime_policy_needs_runtime_in_the_cpu_cgroup_and_then_runs() {
    let env = TestEnv::new("schedrt");
    let mut c = env.sh("cut -d' ' -f40,41 /proc/self/stat");
    c["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 7});
    let group_rt = std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists();
    if group_rt {
        // Real-time runtime is given by cgroup here: a container without any cannot run FIFO,
        // and the error says where the runtime goes.
        let (code, _, err) = env.run(&c);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("process.scheduler: sched_setattr SCHED_FIFO")
                && err.contains("linux.resources.cpu.realtimeRuntime"),
            "{err}"
        );
        // A cgroup directly under the caller's, which has runtime to give.
        c["linux"]["cgroupsPath"] = json!(format!("/{}", env.id("rt")));
        c["linux"]["resources"] =
            json!({"cpu": {"realtimeRuntime": 10000, "realtimePeriod": 1000000}});
    }
    assert_eq!(env.run_ok(&c), "7 1\n");
}

#[test]
fn scheduling_fields_are_checked_before_anything_is_made() {
    let env = TestEnv::new("schedbad");
    for (field, value, needle) in [
        (
            "scheduler",
            json!({"policy": "SCHED_OTHER", "priority": 3}),
            "process.scheduler.priority: only SCHED_FIFO and SCHED_RR have a priority",
        ),
        (
            "scheduler",
            json!({"policy": "SCHED_DEADLINE", "runtime": 5, "deadline": 2}),
            "process.scheduler: SCHED_DEADLINE needs 0 < runtime <= deadline <= period",
        ),
        (
            "ioPriority",
            json!({"class": "IOPRIO_CLASS_RT", "priority": 9}),
            "process.ioPriority.priority: 9 is outside 0..7",
        ),
    ] {
        let mut c = env.default_config(&["true"]);
        c["process"][field] = value;
        assert_create_fails(&env, &c, needle);
    }
    let mut c = env.default_config(&["true"]);
    c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["SOMETHING"]});
    assert_create_fails(&env, &c, "linux.personality.flags: \"SOMETHING\"");
    let mut c = env.default_config(&["true"]);
    c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND"});
    assert_create_fails(&env, &c, "linux.memoryPolicy.nodes: MPOL_BIND needs nodes");
    let mut c = env.default_config(&["true"]);
    c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_LOCAL", "nodes": "0"});
    assert_create_fails(
        &env,
        &c,
        "linux.memoryPolicy.nodes: MPOL_LOCAL takes no nodes",
    );
    let mut c = env.default_config(&["true"]);
    c["process"]["execCPUAffinity"] = json!({"final": "3-1"});
    let (code, _, err) = env.run(&c);
    assert_eq!(code, 1);
    assert!(err.contains("execCPUAffinity"), "{err}");
}

#[test]
fn exec_gets_cpu_affinity_oom_score_adj_and_the_container_wide_settings() {
    let env = TestEnv::new("execaff");
    let id = env.id("c");
    let mut c = env.default_config(&["sleep", "30"]);
    c["linux"]["personality"] = json!({"domain": "LINUX32"});
    env.create(&id, &c);
    assert!(env.vrun(&["start", &id]).status.success());
    let last_cpu = std::thread::available_parallelism().unwrap().get() - 1;
    let process = json!({
        "args": ["sh", "-c", "grep Cpus_allowed_list /proc/self/status; cat /proc/self/oom_score_adj; uname -m"],
        "cwd": "/", "env": ["PATH=/bin"],
        "oomScoreAdj": 500,
        "execCPUAffinity": {"initial": "0", "final": last_cpu.to_string()}
    });
    let pf = env.dir.join("process.json");
    std::fs::write(&pf, process.to_string()).unwrap();
    let out = env.vrun(&["exec", "--process", pf.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().last(),
        Some(last_cpu.to_string().as_str()),
        "{text}"
    );
    assert_eq!(lines[1], "500", "{text}");
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!(lines[2], "i686", "{text}");
    }
}

#[test]
fn exec_with_a_terminal_gets_its_console_size() {
    let env = TestEnv::new("execsize");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    let sock = env.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let process = json!({
        "args": ["sleep", "5"], "cwd": "/", "terminal": true,
        "consoleSize": {"height": 33, "width": 111}
    });
    let pf = env.dir.join("process.json");
    std::fs::write(&pf, process.to_string()).unwrap();
    let mut child = env
        .cmd()
        .args(["exec", "-d", "--console-socket"])
        .arg(&sock)
        .arg("--process")
        .arg(&pf)
        .arg(&id)
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let master = recv_fd(&conn);
    assert!(child.wait().unwrap().success());
    assert_eq!(pty_size(std::os::fd::AsFd::as_fd(&master)), (33, 111));
}

/// A directory owned by host uid 1000 holding a file `f` of host root's: the source of the
/// idmapped mounts below.
fn idmap_source(env: &TestEnv) -> std::path::PathBuf {
    let src = env.dir.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    std::os::unix::fs::chown(&src, Some(1000), Some(1000)).unwrap();
    src
}

/// A mapping of its own for an idmapped mount: host 0 is container 5, host 1000 container 7.
fn own_mount_mapping() -> (serde_json::Value, serde_json::Value) {
    let map = json!([{"containerID": 0, "hostID": 100005, "size": 1}, {"containerID": 1000, "hostID": 100007, "size": 1}]);
    (map.clone(), map)
}

#[test]
fn idmapped_bind_mounts_show_host_files_as_the_containers_own() {
    let env = TestEnv::new("idmap");
    let src = idmap_source(&env);
    // Layers of an overlay the container mounts itself, in its user namespace, on an
    // idmapped mount of them (how a user-namespaced pod's image is mounted).
    let layers = env.dir.join("layers");
    for d in ["lower", "upper", "work"] {
        std::fs::create_dir_all(layers.join(d)).unwrap();
    }
    std::fs::write(layers.join("lower/from-lower"), "l").unwrap();
    for d in ["a", "b", "c", "layers", "o"] {
        std::fs::create_dir(env.bundle.join("rootfs").join(d)).unwrap();
    }
    let mut c = env.sh("stat -c '%n %u %g' /a /a/f /b /b/f /c/f /o/from-lower; touch /o/new");
    in_user_namespace(&mut c);
    let mounts = c["mounts"].as_array_mut().unwrap();
    // the container's mapping: host root's file is the container root's
    mounts.push(
        json!({"destination": "/a", "type": "bind", "source": src, "options": ["bind", "idmap"]}),
    );
    let (uids, gids) = own_mount_mapping();
    mounts.push(
        json!({"destination": "/b", "type": "bind", "source": src, "options": ["rbind", "ridmap"],
        "uidMappings": uids, "gidMappings": gids}),
    );
    // without idmap: host root is nobody
    mounts.push(json!({"destination": "/c", "type": "bind", "source": src, "options": ["bind"]}));
    // the layers, idmapped, then the overlay on them (mounted before pivot_root: host paths)
    mounts.push(json!({"destination": "/layers", "type": "bind", "source": layers, "options": ["rbind", "ridmap"]}));
    let on = env.bundle.join("rootfs/layers");
    mounts.push(
        json!({"destination": "/o", "type": "overlay", "source": "overlay", "options": [
        format!("lowerdir={0}/lower,upperdir={0}/upper,workdir={0}/work", on.display())]}),
    );
    let out = env.run_ok(&c);
    assert_eq!(
        out,
        "/a 1000 1000\n/a/f 0 0\n/b 7 7\n/b/f 5 5\n/c/f 65534 65534\n/o/from-lower 0 0\n"
    );
    // written by the container's root through the overlay: host root on disk
    let st = std::fs::metadata(layers.join("upper/new")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&st), 0);
}

/// config.md: a mount's options SHOULD name idmap or ridmap when it has mappings; runc 1.2
/// takes the mappings alone as an idmapped mount, and so does vrun.
#[test]
fn mount_mappings_without_the_idmap_option_make_an_idmapped_mount() {
    let env = TestEnv::new("idmap-noopt");
    let src = idmap_source(&env);
    std::fs::create_dir(env.bundle.join("rootfs/b")).unwrap();
    let mut c = env.sh("stat -c '%n %u %g' /b /b/f");
    in_user_namespace(&mut c);
    let (uids, gids) = own_mount_mapping();
    c["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/b", "type": "bind", "source": src, "options": ["bind"],
        "uidMappings": uids, "gidMappings": gids}),
    );
    assert_eq!(env.run_ok(&c), "/b 7 7\n/b/f 5 5\n");
}

/// An `idmap` mount without mappings of its own takes the container's user namespace's, also
/// when the container joins that namespace by path (a pod's containers join the sandbox's).
#[test]
fn an_idmap_mount_in_a_joined_user_namespace_takes_its_mappings() {
    let env = TestEnv::new("idmap-joined");
    let src = idmap_source(&env);
    std::fs::create_dir(env.bundle.join("rootfs/a")).unwrap();
    let mut sandbox = env.sh("sleep 30");
    in_user_namespace(&mut sandbox);
    let id = env.id("sandbox");
    env.create(&id, &sandbox);
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    let mut c = env.sh("stat -c '%n %u %g' /a /a/f");
    // (a pod's with a shared pid namespace: the sandbox's network and pid namespaces)
    join_namespace(&mut c, "network", &format!("/proc/{pid}/ns/net"));
    join_namespace(&mut c, "pid", &format!("/proc/{pid}/ns/pid"));
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
    c["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/a", "type": "bind", "source": src, "options": ["bind", "idmap"]}),
    );
    assert_eq!(env.run_ok(&c), "/a 1000 1000\n/a/f 0 0\n");
}

/// A pod with `hostUsers: false` under containerd 2: each container joins the sandbox's user
/// namespace by path, the mappings given beside it, and has a pid namespace of its own. That
/// pid namespace must belong to the joined user namespace, or the container's root could not
/// mount its /proc; mappings that are not the joined namespace's are refused, as runc does.
#[test]
fn a_container_joining_a_user_namespace_by_path_gets_its_own_pid_namespace_and_proc() {
    let env = TestEnv::new("userns-join");
    let mut sandbox = env.sh("sleep 30");
    in_user_namespace(&mut sandbox);
    let id = env.id("sandbox");
    env.create(&id, &sandbox);
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    // (raised, never lowered: lowering needs CAP_SYS_RESOURCE)
    let own: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let adj = (own + 1).min(1000);
    let sealed = env.dir.join("sealed");
    std::fs::create_dir_all(sealed.join("src")).unwrap();
    std::fs::write(sealed.join("src/f"), "sealed\n").unwrap();
    std::fs::set_permissions(&sealed, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let joining = |uid_host: u32| {
        let mut c = env.sh(
            "echo $$; cat /proc/self/uid_map; id -u; ls /proc/1/ns/pid; cat /proc/self/oom_score_adj; cat /tmp/f",
        );
        // (a bind source under a directory only the host's root may search, as containerd's
        // sandbox /dev/shm is: opened before the user namespace is joined)
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/tmp", "type": "bind", "source": sealed.join("src"), "options": ["bind"]}));
        // (set before the user namespace is joined: in it, init's /proc files are the host
        // root's)
        c["process"]["oomScoreAdj"] = json!(adj);
        join_namespace(&mut c, "network", &format!("/proc/{pid}/ns/net"));
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": uid_host, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c
    };
    let out = env.run_ok(&joining(100000));
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words,
        [
            "1",
            "0",
            "100000",
            "65536",
            "0",
            "/proc/1/ns/pid",
            &adj.to_string(),
            "sealed"
        ],
        "{out}"
    );
    // A pod's sandbox made that way, and a container that joins its user and pid namespaces
    // (that pid namespace too belongs to the host's user namespace)
    let sandbox2 = env.id("sandbox2");
    let mut c = joining(100000);
    c["process"]["args"] = json!(["sleep", "30"]);
    env.create(&sandbox2, &c);
    let pid2 = env.state(&sandbox2)["pid"].as_i64().unwrap();
    let mut c = joining(100000);
    join_namespace(&mut c, "pid", &format!("/proc/{pid2}/ns/pid"));
    let out = env.run_ok(&c);
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.get(1..3), Some(&["0", "100000"][..]), "{out}");
    assert_ne!(words[0], "1", "{out}");
    assert_create_fails(
        &env,
        &joining(200000),
        "linux.uidMappings: the mappings given are not those of the user namespace joined by path (linux.namespaces), which maps 0 100000 65536",
    );
}

#[test]
fn idmapped_mounts_are_checked_before_anything_is_made() {
    let env = TestEnv::new("idmapbad");
    let with_mount = |m: Value, user: bool| {
        let mut c = env.default_config(&["true"]);
        if user {
            in_user_namespace(&mut c);
        }
        c["mounts"].as_array_mut().unwrap().push(m);
        c
    };
    let maps = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    assert_create_fails(
        &env,
        &with_mount(
            json!({"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}),
            true,
        ),
        "idmap and ridmap are supported on bind mounts only",
    );
    assert_create_fails(
        &env,
        &with_mount(
            json!({"destination": "/x", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]}),
            false,
        ),
        "the container has no user namespace (new or joined)",
    );
    assert_create_fails(
        &env,
        &with_mount(
            json!({"destination": "/x", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"], "uidMappings": maps}),
            true,
        ),
        "needs both uidMappings and gidMappings",
    );
}

#[test]
fn nosymfollow_stops_symlinks_on_the_mount() {
    let env = TestEnv::new("nosym");
    let src = env.dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("f"), "target\n").unwrap();
    std::os::unix::fs::symlink("f", src.join("link")).unwrap();
    std::os::unix::fs::symlink("../f", src.join("sub/link")).unwrap();
    let mut c = env.sh(
        "cat /plain/link; cat /n/link || echo refused; cat /n/f; grep -c nosymfollow /proc/self/mountinfo",
    );
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts
        .push(json!({"destination": "/plain", "type": "bind", "source": src, "options": ["bind"]}));
    mounts.push(json!({"destination": "/n", "type": "bind", "source": src, "options": ["bind", "nosymfollow"]}));
    mounts.push(json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["nosymfollow"]}));
    mounts.push(json!({"destination": "/r", "type": "bind", "source": src, "options": ["rbind", "rnosymfollow"]}));
    let out = env.run_ok(&c);
    assert_eq!(out, "target\nrefused\ntarget\n3\n");
}

#[test]
fn tmpcopyup_starts_the_tmpfs_with_the_image_contents() {
    let env = TestEnv::new("copyup");
    let dir = env.bundle.join("rootfs/etc/conf");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a"), "from-image\n").unwrap();
    std::fs::write(dir.join("sub/b"), "nested\n").unwrap();
    std::os::unix::fs::symlink("a", dir.join("link")).unwrap();
    std::os::unix::fs::chown(dir.join("sub/b"), Some(1000), Some(1000)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("sub"), std::fs::Permissions::from_mode(0o750)).unwrap();
    let mut c = env.sh(
        "cat /etc/conf/link /etc/conf/sub/b; stat -c '%a %u' /etc/conf/sub /etc/conf/sub/b; \
         echo changed > /etc/conf/a; grep ' /etc/conf ' /proc/self/mountinfo | cut -d' ' -f9; \
         touch /etc/ro/x 2>/dev/null || echo read-only; cat /etc/ro/a",
    );
    std::fs::create_dir_all(env.bundle.join("rootfs/etc/ro")).unwrap();
    std::fs::write(env.bundle.join("rootfs/etc/ro/a"), "ro-copy\n").unwrap();
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/etc/conf", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}));
    mounts.push(json!({"destination": "/etc/ro", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "ro"]}));
    let out = env.run_ok(&c);
    assert_eq!(
        out,
        "from-image\nnested\n750 0\n644 1000\ntmpfs\nread-only\nro-copy\n"
    );
    // the image is untouched
    assert_eq!(
        std::fs::read_to_string(dir.join("a")).unwrap(),
        "from-image\n"
    );
    // tmpcopyup is for tmpfs
    let mut c = env.default_config(&["true"]);
    c["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/x", "type": "bind", "source": "/tmp", "options": ["bind", "tmpcopyup"]}),
    );
    assert_create_fails(&env, &c, "tmpcopyup applies to tmpfs mounts only");
}

/// A veth pair the test makes; deleted when dropped if it still exists.
struct Veth(String, String);

impl Veth {
    fn new(tag: &str) -> Veth {
        let a = format!("vr{tag}{}a", std::process::id() % 100000);
        let b = format!("vr{tag}{}b", std::process::id() % 100000);
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().unwrap();
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        ip(&[
            "link",
            "set",
            &a,
            "mtu",
            "1789",
            "address",
            "02:11:22:33:44:55",
        ]);
        ip(&["address", "add", "169.254.169.77/32", "dev", &a]);
        ip(&["address", "add", "127.0.0.33/8", "dev", &a]);
        Veth(a, b)
    }

    fn exists(name: &str) -> bool {
        Command::new("ip")
            .args(["link", "show", name])
            .output()
            .unwrap()
            .status
            .success()
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for n in [&self.0, &self.1] {
            if Veth::exists(n) {
                let _ = Command::new("ip").args(["link", "del", n]).output();
            }
        }
    }
}

#[test]
fn net_devices_move_into_the_container_renamed_with_their_address() {
    let env = TestEnv::new("netdev");
    let veth = Veth::new("n");
    let mut c = env.sh("ip -o link show ctr0; ip -o addr show ctr0");
    c["linux"]["netDevices"] = json!({ veth.0.clone(): {"name": "ctr0"} });
    let out = env.run_ok(&c);
    assert!(out.contains("mtu 1789"), "{out}");
    assert!(out.contains("02:11:22:33:44:55"), "{out}");
    assert!(
        out.contains("169.254.169.77/32"),
        "a global address is carried: {out}"
    );
    assert!(
        !out.contains("127.0.0.33"),
        "a host-scope address is not: {out}"
    );
    assert!(!Veth::exists(&veth.0), "still on the host");
    // The container's namespace went with the container, and the virtual pair with it.
    let gone = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        !Veth::exists(&veth.1)
    });
    assert!(gone, "the pair outlived the container's network namespace");
}

#[test]
fn net_devices_are_checked_before_anything_is_made() {
    let env = TestEnv::new("netdevbad");
    let mut c = env.default_config(&["true"]);
    c["linux"]["netDevices"] = json!({"vrun-no-such0": {}});
    assert_create_fails(
        &env,
        &c,
        "linux.netDevices.vrun-no-such0: the host has no interface of that name",
    );
    let mut c = env.default_config(&["true"]);
    c["linux"]["netDevices"] = json!({"lo": {"name": "a/b"}});
    assert_create_fails(&env, &c, "\"a/b\" is not a valid interface name");
    let mut c = env.default_config(&["true"]);
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "network");
    c["linux"]["netDevices"] = json!({"lo": {}});
    assert_create_fails(&env, &c, "a network namespace that is not the host's");
}

#[test]
fn intel_rdt_is_refused_where_the_host_has_no_resctrl() {
    if std::path::Path::new("/sys/fs/resctrl/schemata").exists() {
        // (vrun refuses it there too, with other words; this host is not one)
        return;
    }
    let env = TestEnv::new("rdt");
    let mut c = env.default_config(&["true"]);
    c["linux"]["intelRdt"] =
        json!({"closID": "g1", "schemata": ["L3:0=f"], "enableMonitoring": true});
    assert_create_fails(
        &env,
        &c,
        "linux.intelRdt: Intel RDT is not available on this host",
    );
}

#[test]
fn a_field_vrun_does_not_know_is_named_in_a_warning() {
    let env = TestEnv::new("unknown");
    let mut c = env.default_config(&["true"]);
    c["process"]["schedulr"] = json!({"policy": "SCHED_BATCH"});
    c["linux"]["somethingNew"] = json!(1);
    let (code, _, err) = env.run(&c);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: ")
            && err.contains("process.schedulr: not a field vrun knows: ignored"),
        "{err}"
    );
    assert!(
        err.contains("linux.somethingNew: not a field vrun knows"),
        "{err}"
    );
    // vrun's own default config has none
    let (code, _, err) = env.run(&env.default_config(&["true"]));
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn features_list_the_new_fields_truthfully() {
    let out = Command::new(VRUN).arg("features").output().unwrap();
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    let options = f["mountOptions"].as_array().unwrap();
    for o in [
        "idmap",
        "ridmap",
        "nosymfollow",
        "rnosymfollow",
        "tmpcopyup",
        "rrelatime",
    ] {
        assert!(options.contains(&json!(o)), "{o}");
    }
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    assert_eq!(f["linux"]["netDevices"]["enabled"], true);
    // refused on every host (see intel_rdt_is_refused_where_the_host_has_no_resctrl)
    assert_eq!(f["linux"]["intelRdt"]["enabled"], false);
    assert!(f["linux"]["memoryPolicy"]["modes"]
        .as_array()
        .unwrap()
        .contains(&json!("MPOL_BIND")));
    assert!(f["potentiallyUnsafeConfigAnnotations"].as_array().is_some());
}

#[test]
fn an_exec_process_file_is_read_as_config_json_s_process() {
    // the spec's spelling of the scheduler flags, and a warning naming an unknown field
    let env = TestEnv::new("execfile");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    let process = json!({
        "args": ["sh", "-c", "cut -d' ' -f19 /proc/$$/stat; sh -c \"cut -d' ' -f19 /proc/self/stat; true\"; true"],
        "cwd": "/", "env": ["PATH=/bin"],
        "scheduler": {"policy": "SCHED_OTHER", "nice": -3, "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
        "schedulr": {}
    });
    let pf = env.dir.join("process.json");
    std::fs::write(&pf, process.to_string()).unwrap();
    let out = env.vrun(&["exec", "--process", pf.to_str().unwrap(), &id]);
    let err = messages(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "-3\n0\n");
    assert!(
        err.contains("schedulr: not a field vrun knows: ignored"),
        "{err}"
    );
}
