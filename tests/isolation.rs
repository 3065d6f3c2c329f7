//! Namespaces and process attributes, as the container's process sees them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use common::*;
use serde_json::json;

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_namespace_is_new() {
    let env = TestEnv::new("ns");
    let mut c = env.sh("echo pid=$$; for n in ipc uts net mnt cgroup time; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup | head -1; cat /proc/net/dev | wc -l");
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    let out = env.run_ok(&c);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1");
    for (i, kind) in ["ipc", "uts", "net", "mnt", "cgroup", "time"]
        .iter()
        .enumerate()
    {
        assert!(lines[i + 1].starts_with(kind), "{out}");
        assert_ne!(
            lines[i + 1],
            host_ns(kind),
            "{kind} namespace is the host's"
        );
    }
    // cgroup namespace: the container's cgroup is its root
    assert!(lines[7].ends_with(":/"), "{out}");
    // network namespace: only lo (2 header lines + lo)
    assert_eq!(lines[8], "3");
}

#[test]
fn without_a_mount_namespace_mounts_are_the_callers_until_delete() {
    let env = TestEnv::new("nomntns");
    // As runtime-tools' linux_ns_itype: only some namespaces (here pid and uts), the
    // default mounts. runc and crun mount into the caller's namespace and leave the mounts.
    let mut c = env.sh("readlink /proc/self/ns/mnt; ls /proc/1/ns >/dev/null && echo proc-mounted; test -c /dev/null && echo dev-made; sleep 30");
    c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "uts"}]);
    c["linux"].as_object_mut().unwrap().remove("maskedPaths");
    c["linux"].as_object_mut().unwrap().remove("readonlyPaths");
    env.write_config(&c);
    let id = env.id("c");
    let mut child = env.spawn_running(&id);
    // The container's mount namespace is the caller's, its mounts are under its rootfs.
    let rootfs = env.bundle.join("rootfs");
    let mounted = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(String::from))
            .filter(|m| m.starts_with(rootfs.to_str().unwrap()))
            .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !mounted().iter().any(|m| m.ends_with("/rootfs/proc")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no /proc mount under the rootfs: {:?}",
            mounted()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // exec: in the same namespaces, and chrooted into the container's root like init
    let out = env.vrun(&["exec", &id, "sh", "-c", "readlink /proc/self/ns/mnt; ls /"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert_eq!(text.lines().next(), Some(host_ns("mnt").as_str()), "{text}");
    assert!(
        text.lines().any(|l| l == "bin") && !text.lines().any(|l| l == "work"),
        "{text}"
    );
    assert!(env.vrun(&["kill", &id, "KILL"]).status.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(137));
    // run deleted it: nothing of it is left in the caller's mount table
    assert!(mounted().is_empty(), "mounts left: {:?}", mounted());
    let mut once = c.clone();
    once["process"]["args"] = json!(["sh", "-c", "readlink /proc/self/ns/mnt; ls /proc/1/ns >/dev/null && echo proc-mounted; test -c /dev/null && echo dev-made"]);
    let (code, out, err) = env.run(&once);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{}\nproc-mounted\ndev-made\n", host_ns("mnt")));
    assert!(mounted().is_empty(), "mounts left: {:?}", mounted());
    // what cannot be done without one is refused, naming the field
    let mut masked = c.clone();
    masked["linux"]["maskedPaths"] = json!(["/proc/kcore"]);
    assert_create_fails(
        &env,
        &masked,
        "linux.maskedPaths: masking or making paths read-only needs a mount namespace",
    );
    let mut userns = c.clone();
    userns["linux"]["namespaces"] = json!([{"type": "user"}]);
    userns["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    userns["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    assert_create_fails(&env, &userns, "needs a mount namespace of its own too");
}

#[test]
fn hostname_and_domainname() {
    let env = TestEnv::new("uts");
    let mut c = env.sh("hostname; cat /proc/sys/kernel/domainname");
    c["hostname"] = json!("box-1");
    c["domainname"] = json!("example.test");
    assert_eq!(env.run_ok(&c), "box-1\nexample.test\n");
}

#[test]
fn user_namespace_with_mappings() {
    let env = TestEnv::new("userns");
    let mut c = env.sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox");
    in_user_namespace(&mut c);
    // The rootfs belongs to the mapped root, as an image unpacked for this user namespace would.
    chown_tree(&env.bundle.join("rootfs"), 100000);
    let out = env.run_ok(&c);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], vec!["0", "100000", "65536"]);
    assert_eq!(lines[1], vec!["0", "100000", "65536"]);
    assert_eq!(lines[2], vec!["0"]);
    assert_eq!(lines[3], vec!["0"]);
}

#[test]
fn user_namespace_binds_a_source_only_the_hosts_root_can_reach() {
    let env = TestEnv::new("usernsbind");
    // The source sits under a directory only the host's root may search: the container's
    // root (host uid 100000) could not open it; vrun opens it before init switches.
    let private = env.dir.join("private");
    std::fs::create_dir_all(private.join("data")).unwrap();
    std::fs::write(private.join("data/file"), "from-the-host\n").unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut c = env.sh("cat /mnt/file; touch /mnt/new 2>&1; true");
    in_user_namespace(&mut c);
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/mnt", "type": "bind", "source": private.join("data"),
        "options": ["rbind", "ro"]
    }));
    std::fs::create_dir_all(env.bundle.join("rootfs/mnt")).unwrap();
    chown_tree(&env.bundle.join("rootfs"), 100000);
    let out = env.run_ok(&c);
    assert!(out.starts_with("from-the-host\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
}

fn chown_tree(dir: &std::path::Path, id: u32) {
    let st = std::process::Command::new("chown")
        .args(["-hR", &format!("{id}:{id}")])
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn joining_another_containers_namespaces_by_path() {
    let env = TestEnv::new("join");
    let mut a = env.default_config(&["sleep", "30"]);
    a["hostname"] = json!("shared-uts");
    let first = env.id("a");
    env.create(&first, &a);
    let pid = env.state(&first)["pid"].as_i64().unwrap();
    let mut b = env.sh("hostname; readlink /proc/self/ns/net; echo pid=$$");
    // (a hostname of its own would be set in the joined namespace: see
    // hostname_is_set_in_a_joined_uts_namespace)
    b.as_object_mut().unwrap().remove("hostname");
    let ns = b["linux"]["namespaces"].as_array_mut().unwrap();
    for n in ns.iter_mut() {
        if n["type"] == "uts" || n["type"] == "network" || n["type"] == "pid" {
            let file = match n["type"].as_str().unwrap() {
                "network" => "net",
                other => other,
            };
            n["path"] = json!(format!("/proc/{pid}/ns/{file}"));
        }
    }
    let out = env.run_ok(&b);
    let want_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "shared-uts");
    assert_eq!(lines[1], want_net.to_str().unwrap());
    // joined the first container's pid namespace, where its init is pid 1
    assert_ne!(lines[2], "pid=1");
}

#[test]
fn process_user_groups_umask_cwd_env() {
    let env = TestEnv::new("user");
    let mut c = env.sh("id -u; id -g; id -G; umask; pwd; echo $FOO; echo $HOME");
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 6], "umask": 23});
    c["process"]["cwd"] = json!("/tmp");
    c["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("FOO=bar"));
    assert_eq!(
        env.run_ok(&c),
        "1000\n1000\n1000 5 6\n0027\n/tmp\nbar\n/home/user\n"
    );
}

fn status_field(out: &str, field: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} not in {out}"))
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn capabilities_all_five_sets() {
    let env = TestEnv::new("caps");
    let mut c = env.sh("grep -E '^Cap|^NoNewPrivs' /proc/self/status");
    let set = json!(["CAP_NET_ADMIN", "CAP_KILL", "CAP_CHOWN"]);
    c["process"]["capabilities"] = json!({
        "bounding": ["CAP_NET_ADMIN", "CAP_KILL", "CAP_CHOWN", "CAP_SYS_TIME"],
        "effective": set, "permitted": set, "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
    });
    let out = env.run_ok(&c);
    // CHOWN=0, KILL=5, NET_ADMIN=12, SYS_TIME=25
    let bits = |caps: &[u32]| format!("{:016x}", caps.iter().fold(0u64, |a, c| a | 1 << c));
    assert_eq!(status_field(&out, "CapEff:"), bits(&[0, 5, 12]));
    assert_eq!(status_field(&out, "CapPrm:"), bits(&[0, 5, 12]));
    assert_eq!(status_field(&out, "CapBnd:"), bits(&[0, 5, 12, 25]));
    assert_eq!(status_field(&out, "CapInh:"), bits(&[5]));
    assert_eq!(status_field(&out, "CapAmb:"), bits(&[5]));
    // runc's spec sets noNewPrivileges
    assert_eq!(status_field(&out, "NoNewPrivs:"), "1");
}

#[test]
fn unknown_capability_names_warn_and_the_rest_applies() {
    let env = TestEnv::new("capunknown");
    let mut c = env.sh("grep -E '^Cap(Bnd|Eff)' /proc/self/status; sleep 30");
    c["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_TEST"], "effective": ["CAP_KILL", "CAP_BOGUS"],
        "permitted": ["CAP_KILL"]
    });
    env.write_config(&c);
    let id = env.id("c");
    let out = env.try_create(&id);
    let err = messages(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("level=warning"));
    for warned in [
        r#"process.capabilities.bounding: "CAP_TEST""#,
        r#"process.capabilities.effective: "CAP_BOGUS""#,
    ] {
        assert!(err.contains(warned), "no warning {warned:?}: {err}");
    }
    // exec: in --process and in --cap too
    let process = env.dir.join("process.json");
    let mut p = c["process"].clone();
    p["args"] = json!(["grep", "CapBnd", "/proc/self/status"]);
    std::fs::write(&process, p.to_string()).unwrap();
    assert!(env.vrun(&["start", &id]).status.success());
    let out = env.vrun(&["exec", "--process", process.to_str().unwrap(), &id]);
    let err = messages(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(r#"capabilities.bounding: "CAP_TEST""#),
        "{err}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "CapBnd:\t0000000000000020\n"
    );
    let out = env.vrun(&["exec", "--cap", "CAP_TEST", &id, "true"]);
    let err = messages(&out.stderr);
    assert!(
        out.status.success() && err.contains(r#"--cap "CAP_TEST""#),
        "{err}"
    );
}

#[test]
fn capabilities_the_caller_cannot_grant_are_warned_about_not_fatal() {
    let env = TestEnv::new("capall");
    // Every capability in every set, as runtime-tools' privileged config asks: what the
    // caller's bounding set lacks (CAP_SYS_RESOURCE on this machine) cannot be granted.
    let all: Vec<String> = (0..=40).filter_map(caps_name).map(String::from).collect();
    let mut c = env.sh("grep -E '^Cap(Bnd|Eff)' /proc/self/status");
    c["process"]["capabilities"] = json!({
        "bounding": all, "effective": all, "permitted": all, "inheritable": all, "ambient": all
    });
    let (code, out, err) = env.run(&c);
    assert_eq!(code, 0, "{err}");
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let own_bnd = status_field(&own, "CapBnd:");
    assert_eq!(status_field(&out, "CapBnd:"), own_bnd, "{out}");
    assert_eq!(status_field(&out, "CapEff:"), own_bnd, "{out}");
    let bnd = u64::from_str_radix(&own_bnd, 16).unwrap();
    if bnd & (1 << 24) == 0 {
        assert!(
            err.contains("CAP_SYS_RESOURCE cannot be granted here") && err.contains("warning: "),
            "{err}"
        );
    }
}

/// runtime-spec names of capabilities 0..=40.
fn caps_name(i: u32) -> Option<&'static str> {
    const NAMES: [&str; 41] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    NAMES.get(i as usize).copied()
}

#[test]
fn no_new_privileges_off_and_oom_score_adj() {
    let env = TestEnv::new("nnp");
    let mut c = env.sh("grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj");
    c["process"]["noNewPrivileges"] = json!(false);
    c["process"]["oomScoreAdj"] = json!(500);
    let out = env.run_ok(&c);
    assert_eq!(status_field(&out, "NoNewPrivs:"), "0");
    assert_eq!(out.lines().nth(1).unwrap(), "500");
}

#[test]
fn rlimits() {
    let env = TestEnv::new("rlimits");
    let mut c = env.sh("ulimit -n; ulimit -Hn; ulimit -c");
    c["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 768},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
    ]);
    assert_eq!(env.run_ok(&c), "512\n768\n0\n");
}

#[test]
fn sysctl_in_the_network_namespace() {
    let env = TestEnv::new("sysctl");
    let mut c = env.sh("cat /proc/sys/net/ipv4/ip_forward");
    c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    c["linux"]["readonlyPaths"] = json!([]);
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(env.run_ok(&c), "1\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_before
    );
}

#[test]
fn time_namespace_offsets() {
    let env = TestEnv::new("timens");
    let mut c = env.sh("cut -d. -f1 /proc/uptime");
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    c["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1000000, "nanosecs": 0}, "boottime": {"secs": 2000000, "nanosecs": 0}});
    let uptime: u64 = env.run_ok(&c).trim().parse().unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        uptime >= 2_000_000 + host as u64 - 5,
        "uptime {uptime} does not carry the boottime offset"
    );
}

#[test]
fn session_keyring_is_new_unless_no_new_keyring() {
    let env = TestEnv::new("keyring");
    let mut c = env.sh("grep -c \"_ses.$ID:\" /proc/keys || true");
    c["linux"]["maskedPaths"] = json!([]);
    let id = env.id("with");
    c["process"]["env"] = json!(["PATH=/bin", format!("ID={id}")]);
    env.write_config(&c);
    let out = env
        .cmd()
        .args(["run", "--bundle"])
        .arg(&env.bundle)
        .arg(&id)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1",
        "no session keyring named after the container"
    );
    let id = env.id("without");
    c["process"]["env"] = json!(["PATH=/bin", format!("ID={id}")]);
    env.write_config(&c);
    let out = env
        .cmd()
        .args(["run", "--no-new-keyring", "--bundle"])
        .arg(&env.bundle)
        .arg(&id)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

#[test]
fn init_and_exec_processes_lead_sessions_of_their_own() {
    // runc's init calls setsid (and so does its exec): nothing of the caller's session (a
    // SIGHUP when its terminal closes) reaches the container, and CRIU can dump it.
    let env = TestEnv::new("setsid");
    let id = env.id("c");
    env.create(&id, &env.sh("cut -d' ' -f1,6 /proc/$$/stat; sleep 30"));
    assert!(env.vrun(&["start", &id]).status.success());
    let out = env.vrun(&["exec", &id, "sh", "-c", "cut -d' ' -f1,6 /proc/$$/stat"]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(fields.len(), 2, "{text}");
    assert_eq!(
        fields[0], fields[1],
        "the exec'd process is not a session leader: {text}"
    );
    // init: pid 1 of its namespace, leader of session 1
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(')').unwrap().1;
    let session: i64 = after.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert_eq!(session, pid, "init is not a session leader: {stat}");
}

/// `hostname` (and `domainname`) with a uts namespace joined by path: set in that namespace,
/// as runc sets it, never dropped without a word.
#[test]
fn hostname_is_set_in_a_joined_uts_namespace() {
    let env = TestEnv::new("uts-joined");
    let owner = env.id("owner");
    let mut c = env.sh("sleep 30");
    c["hostname"] = json!("first-name");
    env.create(&owner, &c);
    let pid = env.state(&owner)["pid"].as_i64().unwrap();
    let mut c = env.sh("hostname; cat /proc/sys/kernel/domainname");
    c["hostname"] = json!("joined-name");
    c["domainname"] = json!("joined.example");
    join_namespace(&mut c, "uts", &format!("/proc/{pid}/ns/uts"));
    assert_eq!(env.run_ok(&c), "joined-name\njoined.example\n");
    let out = env.vrun(&["exec", &owner, "hostname"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "joined-name\n");
    // the uts namespace vrun runs in (the host's, here): refused, the host keeps its name
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    join_namespace(&mut c, "uts", "/proc/self/ns/uts");
    assert_create_fails(
        &env,
        &c,
        "hostname: the uts namespace the container joins (linux.namespaces) is the one vrun runs in",
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name,
        "the host's name changed"
    );
}
