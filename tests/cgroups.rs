//! The first part of the resource layer: each container gets its cgroup (under the caller's
//! own), memory/cpu/pids limits are written, and delete removes it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

/// The caller's own cgroup in a v1 hierarchy.
fn own_cgroup(controller: &str) -> PathBuf {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|x| x == controller))
        })
        .unwrap();
    let rel = line.splitn(3, ':').nth(2).unwrap().trim_start_matches('/');
    PathBuf::from(format!("/sys/fs/cgroup/{controller}")).join(rel)
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The blkio weight file of `dir`: blkio.weight (CFQ) or blkio.bfq.weight (BFQ). A kernel
/// whose disks have neither scheduler (mq-deadline, none) has none: vrun then refuses a
/// weight, naming the field, as runc fails to write one.
fn blkio_weight_file(dir: &Path) -> Option<PathBuf> {
    ["blkio.weight", "blkio.bfq.weight"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
}

/// `vrun update --resources FILE [FLAGS...] ID`, FILE holding `json`.
fn update_resources(env: &TestEnv, id: &str, json: &str, flags: &[&str]) -> std::process::Output {
    let file = env.dir.join("resources.json");
    std::fs::write(&file, json).unwrap();
    env.cmd()
        .arg("update")
        .arg("--resources")
        .arg(&file)
        .args(flags)
        .arg(id)
        .output()
        .unwrap()
}

#[test]
fn limits_are_written_and_the_cgroup_removed_on_delete() {
    let env = TestEnv::new("cglimits");
    let mut c = env.default_config(&["sleep", "30"]);
    c["linux"]["resources"] = json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 33554432},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "pids": {"limit": 42}
    });
    let id = env.id("c");
    env.create(&id, &c);
    let mem = own_cgroup("memory").join("vrun").join(&id);
    let cpu = own_cgroup("cpu").join("vrun").join(&id);
    let pids = own_cgroup("pids").join("vrun").join(&id);
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "33554432");
    assert_eq!(read(cpu.join("cpu.shares")), "512");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(pids.join("pids.max")), "42");
    let pid = env.state(&id)["pid"].as_i64().unwrap().to_string();
    assert!(read(mem.join("cgroup.procs")).lines().any(|l| l == pid));
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    assert!(
        !mem.exists() && !cpu.exists() && !pids.exists(),
        "cgroup left after delete"
    );
    assert!(cgroup_dirs_named(&id).is_empty());
}

/// The "0::" line of /proc/PID/cgroup: the process's cgroup in the v2 hierarchy (the only
/// one on a v2 host, systemd's "unified" one on a hybrid host).
fn v2_cgroup_of(pid: &str) -> String {
    let text = read(PathBuf::from(format!("/proc/{pid}/cgroup")));
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_default()
        .to_string()
}

/// Each line of /proc/PID/cgroup (every v1 hierarchy, and the unified one) that does not end
/// in `want`.
fn hierarchies_elsewhere(pid: &str, want: &str) -> Vec<String> {
    read(PathBuf::from(format!("/proc/{pid}/cgroup")))
        .lines()
        .filter(|l| !l.ends_with(want))
        .map(String::from)
        .collect()
}

/// Init and exec'd processes join their cgroup themselves (clone3 into the v2 directory, `0`
/// into each v1 `tasks` file): both must be in the container's directory of every hierarchy,
/// the v2 one of a hybrid host too.
#[test]
fn init_and_exec_are_placed_in_every_hierarchy() {
    let env = TestEnv::new("cgunified");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    let pid = env.state(&id)["pid"].as_i64().unwrap().to_string();
    let want = format!("/vrun/{id}");
    assert!(
        v2_cgroup_of(&pid).ends_with(&want),
        "{}",
        v2_cgroup_of(&pid)
    );
    assert_eq!(hierarchies_elsewhere(&pid, &want), Vec::<String>::new());
    assert!(env.vrun(&["start", &id]).status.success());
    let pid_file = env.dir.join("exec.pid");
    // stdio not captured: the detached sleep would hold the pipes open
    let status = env
        .cmd()
        .args(["exec", "-d", "--pid-file"])
        .arg(&pid_file)
        .args([id.as_str(), "sleep", "30"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let exec_pid = read(pid_file);
    assert!(
        v2_cgroup_of(&exec_pid).ends_with(&want),
        "{}",
        v2_cgroup_of(&exec_pid)
    );
    assert_eq!(
        hierarchies_elsewhere(&exec_pid, &want),
        Vec::<String>::new()
    );
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    assert!(cgroup_dirs_named(&id).is_empty());
}

#[test]
fn pids_limit_refuses_forks() {
    let env = TestEnv::new("pidsmax");
    // A child shell forks 8 sleeps; with pids.max 4 a fork fails and that shell gives up.
    let mut c = env.sh("sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait'; echo status=$?");
    c["linux"]["resources"]["pids"] = json!({"limit": 4});
    let (_, out, err) = env.run(&c);
    assert_eq!(out, "status=2\n");
    assert!(
        err.contains("can't fork: Resource temporarily unavailable"),
        "{err}"
    );
    // The same without the limit succeeds: it is the limit that refused.
    c["linux"]["resources"]["pids"] = json!({"limit": -1});
    let (code, out, err) = env.run(&c);
    assert_eq!(out, "status=0\n", "exit {code}, stderr: {err}");
}

#[test]
fn relative_and_absolute_cgroups_paths() {
    let env = TestEnv::new("cgpath");
    let rel = format!("vrun-test-rel-{}/inner", env.name);
    let mut c = env.default_config(&["sleep", "30"]);
    c["linux"]["cgroupsPath"] = json!(rel);
    let id = env.id("r");
    env.create(&id, &c);
    let dir = own_cgroup("memory").join(&rel);
    assert!(
        dir.join("cgroup.procs").exists(),
        "{} missing",
        dir.display()
    );
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    assert!(!dir.exists());
    assert!(
        !dir.parent().unwrap().exists(),
        "the parent vrun created stays behind"
    );

    let abs = format!("/vrun-test-abs-{}", env.name);
    c["linux"]["cgroupsPath"] = json!(abs);
    let id = env.id("a");
    env.create(&id, &c);
    assert!(PathBuf::from(format!("/sys/fs/cgroup/pids{abs}"))
        .join("cgroup.procs")
        .exists());
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    assert!(!PathBuf::from(format!("/sys/fs/cgroup/pids{abs}")).exists());
}

/// This host has no systemd (the driver itself is checked in the systemd VM,
/// integration/vm/systemd.sh): the container is refused cleanly, saying why.
#[test]
fn systemd_cgroup_without_systemd_fails_clearly() {
    let env = TestEnv::new("systemd");
    let mut c = env.default_config(&["true"]);
    c["linux"]["cgroupsPath"] = json!("system.slice:vrun:x");
    env.write_config(&c);
    let id = env.id("s");
    let out = env
        .cmd()
        .args(["--systemd-cgroup", "create", "--bundle"])
        .arg(&env.bundle)
        .arg(&id)
        .output()
        .unwrap();
    assert_clean_failure(
        &env,
        &out,
        &id,
        "--systemd-cgroup: cannot reach systemd on the system bus",
    );
}

#[test]
fn concurrent_runs_share_the_default_parent_safely() {
    // Every container of the default placement lives under <caller>/vrun/ and the last one out
    // removes it: creates and deletes racing on that parent must all succeed.
    let env = TestEnv::new("cgrace");
    env.write_config(&env.default_config(&["true"]));
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let root = env.root.clone();
            let bundle = env.bundle.clone();
            let name = env.name.clone();
            std::thread::spawn(move || {
                for i in 0..6 {
                    let out = std::process::Command::new(VRUN)
                        .arg("--root")
                        .arg(&root)
                        .args(["run", "--bundle"])
                        .arg(&bundle)
                        .arg(format!("{name}-{t}-{i}"))
                        .stdin(std::process::Stdio::null())
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "run {t}-{i}: {}",
                        messages(&out.stderr)
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(cgroup_dirs_named(&env.name).is_empty());
}

#[test]
fn two_state_roots_share_the_default_parent_and_each_is_left_empty() {
    // Root one's container makes <caller>/vrun/ (unless another test's container holds it
    // already); root two's container joins it. Root one is deleted first and cannot remove
    // the parent, root two removes it: neither may keep a list naming it.
    let one = TestEnv::new("cgroot1");
    let two = TestEnv::new("cgroot2");
    let (a, b) = (one.id("a"), two.id("b"));
    one.create(&a, &one.default_config(&["true"]));
    two.create(&b, &two.default_config(&["true"]));
    assert!(one.vrun(&["delete", &a]).status.success());
    assert_no_state_left(&one, "root one, its container deleted first");
    assert!(two.vrun(&["delete", &b]).status.success());
    assert_no_state_left(&two, "root two, its container deleted last");
    assert!(cgroup_dirs_named(&one.name).is_empty());
    assert!(cgroup_dirs_named(&two.name).is_empty());
}

/// The container's counter (written by rename, so never read half-written); 0 before the first.
fn counter(env: &TestEnv) -> u64 {
    std::fs::read_to_string(env.bundle.join("rootfs/tmp/count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits (up to 10 s, for a loaded CI machine) until the counter passes `than`.
fn counter_passes(env: &TestEnv, than: u64) -> bool {
    (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        counter(env) > than
    })
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let env = TestEnv::new("pause");
    let id = env.id("c");
    env.create(
        &id,
        &env.sh("i=0; while true; do i=$((i+1)); echo $i > /tmp/c; mv /tmp/c /tmp/count; sleep 0.05; done"),
    );
    // pausing a container that is not running is refused
    let out = env.vrun(&["pause", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(messages(&out.stderr).contains("it is created, not running"));
    assert!(env.vrun(&["start", &id]).status.success());
    assert!(counter_passes(&env, 0), "the counter never ran");

    let out = env.vrun(&["pause", &id]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert_eq!(env.state(&id)["status"], "paused");
    let list: serde_json::Value =
        serde_json::from_slice(&env.vrun(&["list", "--format", "json"]).stdout).unwrap();
    assert_eq!(list[0]["status"], "paused");
    let frozen_at = counter(&env);
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(counter(&env), frozen_at, "the counter moved while paused");
    assert_eq!(
        env.vrun(&["pause", &id]).status.code(),
        Some(1),
        "pausing twice must fail"
    );

    assert!(env.vrun(&["resume", &id]).status.success());
    assert_eq!(env.state(&id)["status"], "running");
    assert!(
        counter_passes(&env, frozen_at),
        "the counter did not move after resume"
    );
    assert_eq!(
        env.vrun(&["resume", &id]).status.code(),
        Some(1),
        "resuming a running container must fail"
    );

    // a paused container is deleted with --force (thawed so that SIGKILL lands)
    assert!(env.vrun(&["pause", &id]).status.success());
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
    assert!(cgroup_dirs_named(&id).is_empty());
}

#[test]
fn update_changes_limits_of_a_running_container() {
    let env = TestEnv::new("update");
    let id = env.id("c");
    let mut c = env.default_config(&["sleep", "30"]);
    c["linux"]["resources"]["memory"] = json!({"limit": 33554432});
    c["linux"]["resources"]["pids"] = json!({"limit": 20});
    env.create(&id, &c);
    assert!(env.vrun(&["start", &id]).status.success());
    let mem = own_cgroup("memory").join("vrun").join(&id);
    let cpu = own_cgroup("cpu").join("vrun").join(&id);
    let pids = own_cgroup("pids").join("vrun").join(&id);
    let out = env.vrun(&[
        "update",
        "--memory",
        "64m",
        "--pids-limit",
        "30",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        &id,
    ]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert_eq!(
        read(mem.join("memory.limit_in_bytes")),
        (64 << 20).to_string()
    );
    assert_eq!(read(pids.join("pids.max")), "30");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "20000");
    // --resources FILE, with a flag on top
    let out = update_resources(
        &env,
        &id,
        r#"{"memory": {"limit": 50331648}, "pids": {"limit": 7}}"#,
        &["--pids-limit", "9"],
    );
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "50331648");
    assert_eq!(read(pids.join("pids.max")), "9");
    // the rest of runc's flags
    let out = env.vrun(&[
        "update",
        "--cpu-idle",
        "1",
        "--kernel-memory-tcp",
        "8m",
        &id,
    ]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert_eq!(read(cpu.join("cpu.idle")), "1");
    assert_eq!(
        read(mem.join("memory.kmem.tcp.limit_in_bytes")),
        (8 << 20).to_string()
    );
    let blkio = own_cgroup("blkio").join("vrun").join(&id);
    let out = env.vrun(&["update", "--blkio-weight", "300", &id]);
    match blkio_weight_file(&blkio) {
        Some(weight) => {
            assert!(out.status.success(), "{}", messages(&out.stderr));
            assert!(read(weight.clone()).ends_with("300"), "{}", read(weight));
        }
        None => {
            assert!(
                !out.status.success(),
                "a weight this kernel cannot apply was taken"
            );
            let said = messages(&out.stderr);
            assert!(said.contains("blockIO.weight"), "{said}");
        }
    }
    // a bad size changes nothing
    let out = env.vrun(&["update", "--memory", "lots", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(messages(&out.stderr).contains("--memory \"lots\""));
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "50331648");
}

fn stats(env: &TestEnv, id: &str) -> serde_json::Value {
    let out = env.vrun(&["events", "--stats", id]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn events_stats_report_usage_that_moves() {
    let env = TestEnv::new("stats");
    let id = env.id("c");
    let mut c = env.sh("while true; do :; done");
    c["linux"]["resources"]["memory"] = json!({"limit": 33554432});
    c["linux"]["resources"]["pids"] = json!({"limit": 40});
    env.create(&id, &c);
    assert!(env.vrun(&["start", &id]).status.success());
    let first = stats(&env, &id);
    assert_eq!(first["type"], "stats");
    assert_eq!(first["id"], json!(id));
    let d = &first["data"];
    assert_eq!(d["memory"]["usage"]["limit"], 33554432);
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    assert_eq!(d["pids"]["current"], 1);
    assert_eq!(d["pids"]["limit"], 40);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = stats(&env, &id);
    let total = |s: &serde_json::Value| s["data"]["cpu"]["usage"]["total"].as_u64().unwrap_or(0);
    // a busy loop for 300 ms: at least 100 ms more cpu time
    assert!(
        total(&second) >= total(&first) + 100_000_000,
        "{} -> {}",
        total(&first),
        total(&second)
    );
    let bad = env.vrun(&["events", "--interval", "soon", &id]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(messages(&bad.stderr).contains("--interval \"soon\""));
}

#[test]
fn events_stream_reports_an_oom_kill() {
    let env = TestEnv::new("oom");
    let id = env.id("c");
    let mut c = env.default_config(&["sleep", "60"]);
    c["linux"]["resources"]["memory"] = json!({"limit": 16777216});
    env.create(&id, &c);
    assert!(env.vrun(&["start", &id]).status.success());
    let log = env.dir.join("events.log");
    let mut stream = env
        .cmd()
        .args(["events", "--interval", "30s", &id])
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // tmpfs pages cannot be reclaimed without swap: filling /dev/shm past the limit OOM-kills dd
    let _ = env.vrun(&[
        "exec",
        &id,
        "dd",
        "if=/dev/zero",
        "of=/dev/shm/fill",
        "bs=1M",
        "count=48",
    ]);
    let mut seen = String::new();
    for _ in 0..100 {
        seen = std::fs::read_to_string(&log).unwrap_or_default();
        if seen.contains("\"type\":\"oom\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = stream.kill();
    let _ = stream.wait();
    // runc's lines, key order included
    let stats_start = format!("{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":{{");
    assert!(
        seen.lines()
            .next()
            .unwrap_or_default()
            .starts_with(&stats_start),
        "{seen}"
    );
    let oom_line = format!("{{\"type\":\"oom\",\"id\":\"{id}\"}}");
    assert!(
        seen.lines().any(|l| l == oom_line),
        "no {oom_line} in {seen}"
    );
}

#[test]
fn events_come_at_the_interval_asked_for() {
    let env = TestEnv::new("interval");
    let id = env.id("c");
    env.create(&id, &env.default_config(&["sleep", "30"]));
    assert!(env.vrun(&["start", &id]).status.success());
    let count = |interval: Option<&str>, run_for_ms: u64| {
        let log = env.dir.join("events.log");
        let mut cmd = env.cmd();
        cmd.arg("events");
        if let Some(i) = interval {
            cmd.args(["--interval", i]);
        }
        let mut stream = cmd
            .arg(&id)
            .stdout(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(run_for_ms));
        let _ = stream.kill();
        let _ = stream.wait();
        std::fs::read_to_string(&log).unwrap().lines().count()
    };
    // one at once, then one per interval
    let fast = count(Some("100ms"), 1050);
    // (wide: a loaded machine delays the reader, not the count per interval)
    assert!((5..=14).contains(&fast), "{fast} events in 1.05 s at 100ms");
    let slow = count(Some("1s"), 1500);
    assert_eq!(slow, 2, "events in 1.5 s at 1s");
    // the default is 5s: one at once, no second in 1.5 s
    assert_eq!(count(None, 1500), 1);
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
}

#[test]
fn unified_keys_are_refused_on_v1() {
    let env = TestEnv::new("unified");
    let mut c = env.default_config(&["true"]);
    c["linux"]["resources"]["unified"] = json!({"memory.high": "1000000"});
    env.write_config(&c);
    let id = env.id("c");
    let out = env.try_create(&id);
    assert_clean_failure(
        &env,
        &out,
        &id,
        "linux.resources.unified.memory.high: invalid configuration: cgroup v2 keys cannot be set",
    );
}

/// major:minor of a whole disk of this machine (throttles name disks, not partitions).
fn a_disk() -> (i64, i64) {
    let entry = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .find(|e| !e.file_name().to_string_lossy().starts_with("loop"))
        .unwrap();
    let dev = std::fs::read_to_string(entry.path().join("dev")).unwrap();
    let (maj, min) = dev.trim().split_once(':').unwrap();
    (maj.parse().unwrap(), min.parse().unwrap())
}

#[test]
fn block_io_weight_and_throttles() {
    let env = TestEnv::new("blkio");
    let (maj, min) = a_disk();
    let mut c = env.default_config(&["sleep", "30"]);
    c["linux"]["resources"]["blockIO"] = json!({
        "weight": 500,
        "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
        "throttleWriteBpsDevice": [{"major": maj, "minor": min, "rate": 2097152}],
        "throttleReadIOPSDevice": [{"major": maj, "minor": min, "rate": 300}],
        "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 100}]
    });
    let id = env.id("c");
    let has_weights = blkio_weight_file(&own_cgroup("blkio")).is_some();
    if !has_weights {
        assert_create_fails(&env, &c, "linux.resources.blockIO.weight");
        c["linux"]["resources"]["blockIO"]
            .as_object_mut()
            .unwrap()
            .remove("weight");
    }
    env.create(&id, &c);
    let dir = own_cgroup("blkio").join("vrun").join(&id);
    let dev = format!("{maj}:{min}");
    assert_eq!(
        read(dir.join("blkio.throttle.read_bps_device")),
        format!("{dev} 1048576")
    );
    assert_eq!(
        read(dir.join("blkio.throttle.write_bps_device")),
        format!("{dev} 2097152")
    );
    assert_eq!(
        read(dir.join("blkio.throttle.read_iops_device")),
        format!("{dev} 300")
    );
    assert_eq!(
        read(dir.join("blkio.throttle.write_iops_device")),
        format!("{dev} 100")
    );
    if has_weights {
        let weight = blkio_weight_file(&dir).unwrap();
        assert!(read(weight.clone()).ends_with("500"), "{}", read(weight));
    }
}

#[test]
fn hugepages_and_network_classes_apply_or_fail_clearly() {
    // v1 hierarchies this host may or may not have: applied where they exist, a clear error
    // naming the field where they do not (never silently dropped).
    let env = TestEnv::new("hugetlb");
    let cases = [
        (
            "hugetlb",
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
            "hugetlb.2MB.limit_in_bytes",
            "4194304",
            "linux.resources.hugepageLimits[0]",
        ),
        (
            "net_cls",
            json!({"network": {"classID": 1048577}}),
            "net_cls.classid",
            "1048577",
            "linux.resources.network.classID",
        ),
    ];
    for (controller, resources, file, value, field) in cases {
        let mut c = env.default_config(&["sleep", "30"]);
        for (k, v) in resources.as_object().unwrap() {
            c["linux"]["resources"][k] = v.clone();
        }
        env.write_config(&c);
        let id = env.id(controller);
        let out = env.try_create(&id);
        if std::path::Path::new(&format!("/sys/fs/cgroup/{controller}")).is_dir() {
            assert!(out.status.success(), "{}", messages(&out.stderr));
            assert_eq!(
                read(own_cgroup(controller).join("vrun").join(&id).join(file)),
                value
            );
        } else {
            let needle = format!("{field}: this host has no {controller} cgroup hierarchy");
            assert_clean_failure(&env, &out, &id, &needle);
        }
    }
}

#[test]
fn cpu_burst_idle_and_kernel_memory() {
    let env = TestEnv::new("cpuextra");
    let mut c = env.default_config(&["sleep", "30"]);
    c["linux"]["resources"]["cpu"] =
        json!({"quota": 50000, "period": 100000, "burst": 20000, "idle": 1});
    c["linux"]["resources"]["memory"] =
        json!({"limit": 67108864, "kernelTCP": 16777216, "kernel": 33554432});
    env.write_config(&c);
    let id = env.id("c");
    let out = env.try_create(&id);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let cpu = own_cgroup("cpu").join("vrun").join(&id);
    let mem = own_cgroup("memory").join("vrun").join(&id);
    assert_eq!(read(cpu.join("cpu.cfs_burst_us")), "20000");
    assert_eq!(read(cpu.join("cpu.idle")), "1");
    assert_eq!(read(mem.join("memory.kmem.tcp.limit_in_bytes")), "16777216");
    // kernel memory limits are gone from new kernels: applied, or a warning, never silence
    let err = messages(&out.stderr);
    let applied = std::fs::read_to_string(mem.join("memory.kmem.limit_in_bytes"))
        .is_ok_and(|s| s.trim() == "33554432");
    assert!(
        applied || err.contains("linux.resources.memory.kernel ignored"),
        "{err}"
    );
}

#[test]
fn update_orders_cpu_and_memory_writes_so_every_valid_change_goes_through() {
    // A parent limited to half a CPU, made by the test: the container's quota over its
    // period may never exceed it, also between the two writes of one update.
    let parent_name = format!("vrun-cpuparent-{}", std::process::id());
    let parent = OwnCgroupDir(own_cgroup("cpu").join(&parent_name));
    std::fs::create_dir(&parent.0).unwrap();
    std::fs::write(parent.0.join("cpu.cfs_quota_us"), "50000").unwrap();
    let env = TestEnv::new("cpuorder");
    let id = env.id("c");
    let mut c = env.default_config(&["sleep", "30"]);
    c["linux"]["cgroupsPath"] = json!(format!("{parent_name}/{id}"));
    c["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000});
    c["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 67108864});
    env.create(&id, &c);
    let cpu = parent.0.join(&id);
    let mem = own_cgroup("memory").join(&parent_name).join(&id);
    let both = |period: &str, quota: &str| {
        let out = env.vrun(&["update", "--cpu-period", period, "--cpu-quota", quota, &id]);
        assert!(
            out.status.success(),
            "{period}/{quota}: {}",
            messages(&out.stderr)
        );
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), period);
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), quota);
    };
    // down: the period first would make 50000/10000, five CPUs
    both("10000", "5000");
    // up: the quota first would make 50000/10000
    both("100000", "50000");
    both("1000000", "500000");
    both("100000", "-1");
    // unlimited memory with no swap given: memory+swap goes unlimited too, first
    let out = env.vrun(&["update", "--memory", "-1", &id]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let unlimited = read(mem.join("memory.limit_in_bytes"));
    assert!(unlimited.parse::<u64>().unwrap() > 1 << 60, "{unlimited}");
    let swap = mem.join("memory.memsw.limit_in_bytes");
    if swap.exists() {
        assert_eq!(read(swap), unlimited);
    }
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
}

/// A cgroup directory the test made itself, removed when the test ends (after the
/// containers in it: declare it before the TestEnv).
struct OwnCgroupDir(PathBuf);

impl Drop for OwnCgroupDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_frozen_cgroup_is_refused_and_a_busy_one_warned_about() {
    let name = format!("vrun-precg-{}", std::process::id());
    let freezer = OwnCgroupDir(own_cgroup("freezer").join(&name));
    let pids = OwnCgroupDir(own_cgroup("pids").join(&name));
    std::fs::create_dir(&freezer.0).unwrap();
    std::fs::create_dir(&pids.0).unwrap();
    let env = TestEnv::new("precg");
    let mut c = env.default_config(&["true"]);
    c["linux"]["cgroupsPath"] = json!(name);
    // frozen by someone else: refused at once (init would wait there forever)
    std::fs::write(freezer.0.join("freezer.state"), "FROZEN").unwrap();
    assert_create_fails(&env, &c, "container's cgroup unexpectedly frozen");
    std::fs::write(freezer.0.join("freezer.state"), "THAWED").unwrap();
    // a process already in it: the container is made, with a warning
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    std::fs::write(pids.0.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    let id = env.id("busy");
    let out = env.try_create(&id);
    let err = messages(&out.stderr);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("container's cgroup is not empty: 1 process(es) found"),
        "{err}"
    );
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
}

#[test]
fn update_takes_dockers_json_and_is_all_or_nothing() {
    let env = TestEnv::new("atomicupd");
    let id = env.id("c");
    let mut c = env.default_config(&["sleep", "30"]);
    c["linux"]["resources"]["memory"] = json!({"limit": 33554432});
    c["linux"]["resources"]["pids"] = json!({"limit": 20});
    c["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000});
    env.create(&id, &c);
    assert!(env.vrun(&["start", &id]).status.success());
    let mem = own_cgroup("memory").join("vrun").join(&id);
    let cpu = own_cgroup("cpu").join("vrun").join(&id);
    let pids = own_cgroup("pids").join("vrun").join(&id);
    let swap = mem.join("memory.memsw.limit_in_bytes");
    // What `docker update --memory 128m --memory-swap 256m --pids-limit 60` sends through
    // containerd's shim: zeros for the cpu values it does not change.
    let docker = r#"{"memory":{"limit":134217728,"swap":268435456},"cpu":{"quota":0,"period":0},"pids":{"limit":60}}"#;
    let out = update_resources(&env, &id, docker, &[]);
    assert!(out.status.success(), "{}", messages(&out.stderr));
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "134217728");
    if swap.exists() {
        assert_eq!(read(swap.clone()), "268435456");
    }
    assert_eq!(read(pids.join("pids.max")), "60");
    assert_eq!(
        read(cpu.join("cpu.cfs_quota_us")),
        "50000",
        "a zero quota changed it"
    );
    assert_eq!(
        read(cpu.join("cpu.cfs_period_us")),
        "100000",
        "a zero period changed it"
    );
    // The kernel refuses the realtime runtime (vrun/'s own is 0), after the memory limits were
    // written and before pids: the memory limits are put back, pids never written.
    let refused = r#"{"memory":{"limit":100663296,"swap":201326592},"cpu":{"realtimeRuntime":1000,"realtimePeriod":1000000},"pids":{"limit":70}}"#;
    let out = update_resources(&env, &id, refused, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = messages(&out.stderr);
    assert!(err.contains("linux.resources.cpu.realtime"), "{err}");
    assert_eq!(
        read(mem.join("memory.limit_in_bytes")),
        "134217728",
        "{err}"
    );
    if swap.exists() {
        assert_eq!(read(swap), "268435456", "{err}");
    }
    assert_eq!(read(pids.join("pids.max")), "60");
    assert_eq!(read(cpu.join("cpu.rt_runtime_us")), "0");
    // and the recorded config still holds the limits in force
    let state = std::fs::read_to_string(env.root.join(&id).join("state.json")).unwrap();
    assert!(
        state.contains("134217728") && !state.contains("100663296"),
        "{state}"
    );
    assert!(env.vrun(&["delete", "--force", &id]).status.success());
}

#[test]
fn update_checks_memory_before_it_changes_it() {
    let env = TestEnv::new("checkupd");
    let id = env.id("c");
    let mut c = env.default_config(&[
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/shm/x bs=1M count=8 2>/dev/null; sleep 30",
    ]);
    c["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    env.create(&id, &c);
    assert!(env.vrun(&["start", &id]).status.success());
    let mem = own_cgroup("memory").join("vrun").join(&id);
    for _ in 0..100 {
        if read(mem.join("memory.usage_in_bytes"))
            .parse::<u64>()
            .unwrap()
            > 8 << 20
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = update_resources(
        &env,
        &id,
        r#"{"memory": {"limit": 4194304, "checkBeforeUpdate": true}}"#,
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = messages(&out.stderr);
    assert!(
        err.contains(
            "linux.resources.memory.limit: 4194304 is below the container's current usage"
        ),
        "{err}"
    );
    assert_eq!(
        read(mem.join("memory.limit_in_bytes")),
        "67108864",
        "the limit changed"
    );
}

#[test]
fn delete_kills_what_init_left_in_the_cgroup() {
    // Without a pid namespace, init's children outlive it; the container is stopped but its
    // cgroup still holds them: delete kills them and removes the cgroup.
    let env = TestEnv::new("leftover");
    let mut c = env.sh("sleep 100 & echo $! > /tmp/child; exit 0");
    c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]);
    let id = env.id("c");
    env.create(&id, &c);
    assert!(env.vrun(&["start", &id]).status.success());
    env.wait_status(&id, "stopped");
    let child_file = env.bundle.join("rootfs/tmp/child");
    for _ in 0..100 {
        if std::fs::read_to_string(&child_file).is_ok_and(|s| s.ends_with('\n')) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let child: i32 = std::fs::read_to_string(&child_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pids: Vec<i64> =
        serde_json::from_slice(&env.vrun(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert_eq!(
        pids,
        vec![child as i64],
        "the orphan should still be in the cgroup"
    );
    assert!(env.vrun(&["delete", &id]).status.success());
    assert!(cgroup_dirs_named(&id).is_empty());
    let alive = std::fs::read_to_string(format!("/proc/{child}/stat"))
        .is_ok_and(|s| !s[s.rfind(')').unwrap() + 2..].starts_with('Z'));
    assert!(!alive, "the orphan survived delete");
}

/// An init whose main thread ends first, its other thread running on (and then exiting).
const MAIN_THREAD_EXITS_FIRST_C: &str = r#"
#include <pthread.h>
#include <unistd.h>
static void *worker(void *arg) { sleep(30); _exit(0); return arg; }
int main(void) {
    pthread_t t;
    pthread_create(&t, 0, worker, 0);
    pthread_exit(0);
}
"#;

#[test]
fn delete_ends_a_stopped_init_whose_other_threads_run_on() {
    // An init whose main thread has ended is a zombie to /proc, so the container reads as
    // stopped (as runc reads it), while its other threads run on in the cgroup. A Go init
    // that exits is one for a moment (the conformance suite's runtimetest, deleted at once,
    // left its cgroup now and then on a loaded machine). delete ends the threads and removes
    // the cgroup; it left both, "for the last container out".
    let env = TestEnv::new("mtexit");
    let src = env.bundle.join("mtexit.c");
    std::fs::write(&src, MAIN_THREAD_EXITS_FIRST_C).unwrap();
    let bin = env.bundle.join("rootfs/mtexit");
    let cc = std::process::Command::new("cc")
        .args(["-static", "-pthread", "-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("cc is needed (apt-get install gcc libc6-dev)");
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let id = env.id("c");
    let _cgroups = CgroupsNamed(id.clone()); // (removed with what is in them, also on failure)
    env.create(&id, &env.default_config(&["/mtexit"]));
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    assert!(env.vrun(&["start", &id]).status.success());
    env.wait_status(&id, "stopped");
    let live_threads = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.flatten()
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("stat"))
                            .is_ok_and(|s| !s[s.rfind(')').unwrap() + 2..].starts_with('Z'))
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(live_threads(), 1, "the worker thread should run on");
    let out = env.vrun(&["delete", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        cgroup_dirs_named(&id),
        Vec::<std::path::PathBuf>::new(),
        "cgroup left"
    );
    assert_eq!(live_threads(), 0, "the container's thread outlived delete");
}

#[test]
fn a_created_device_is_usable_only_if_the_device_rules_allow_it() {
    let env = TestEnv::new("cgkmsg");
    // /dev/kmsg made in the container, with the rules denying everything beyond runc's
    // defaults: the node exists, and opening it is refused (runc: EPERM from the cgroup).
    let mut c = env.sh(
        "test -c /dev/kmsg && echo node-made; echo x > /dev/kmsg && echo kmsg-writable; echo y > /dev/null && echo null-writable",
    );
    c["linux"]["devices"] =
        json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438}]);
    c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    let (code, out, err) = env.run(&c);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("node-made"), "{out}{err}");
    assert!(out.contains("null-writable"), "{out}{err}");
    assert!(
        !out.contains("kmsg-writable"),
        "/dev/kmsg was writable: {out}"
    );
    assert!(err.contains("Operation not permitted"), "{err}");
    // and with a rule that allows it, it is usable; an access letter runc ignores ("a") is
    // ignored with a warning, not refused
    c["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "wa"}
    ]);
    let (code, out, err) = env.run(&c);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("kmsg-writable"), "{out}{err}");
    assert!(
        err.contains("linux.resources.devices[1].access: 'a' is not one of r, w, m: ignored"),
        "{err}"
    );
}

#[test]
fn fifo_device_rules_are_accepted_and_left_out_with_a_warning() {
    let env = TestEnv::new("cgfifo");
    // As runtime-tools' generator writes them: the node in linux.devices and a "p" rule for
    // it among linux.resources.devices, after a deny-all.
    let mut c = env.sh("test -p /dev/myfifo && echo fifo-made");
    c["linux"]["devices"] = json!([{"path": "/dev/myfifo", "type": "p", "major": 0, "minor": 0}]);
    c["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "p", "major": 0, "minor": 0, "access": "rwm"}
    ]);
    let (code, out, err) = env.run(&c);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("fifo-made"), "{out}");
    assert!(
        err.contains("linux.resources.devices[1]") && err.contains("fifo"),
        "no warning naming the rule: {err}"
    );
    // What the cgroup enforces: runc's default character devices only, nothing turned into
    // an allow-all by the fifo rule.
    c["process"]["args"] = json!(["sleep", "30"]);
    let id = env.id("c");
    env.create(&id, &c);
    let list = read(
        own_cgroup("devices")
            .join("vrun")
            .join(&id)
            .join("devices.list"),
    );
    assert!(
        !list.lines().any(|l| l.starts_with("a ")),
        "allow-all in the device cgroup: {list}"
    );
    assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
}

#[test]
fn absent_and_zero_fields_never_break_the_container() {
    let env = TestEnv::new("cgzero");
    // No limit given for pids, zeros for the cpu fields runc reads as "unset": the
    // container forks as usual and its files keep their defaults.
    let mut c = env.default_config(&[
        "sh",
        "-c",
        "sh -c 'sleep 0 & wait' && echo forked; sleep 30",
    ]);
    c["linux"]["resources"] = json!({
        "pids": {},
        "cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": "", "realtimeRuntime": 0},
        "memory": {"limit": 0, "reservation": 0}
    });
    let id = env.id("c");
    env.create(&id, &c);
    let pids = own_cgroup("pids").join("vrun").join(&id);
    let cpu = own_cgroup("cpu").join("vrun").join(&id);
    assert_eq!(read(pids.join("pids.max")), "max");
    assert_eq!(read(cpu.join("cpu.shares")), "1024");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "-1");
    let mut run = c.clone();
    run["process"]["args"] = json!(["sh", "-c", "sh -c 'sleep 0 & wait' && echo forked"]);
    assert_eq!(env.run_ok(&run), "forked\n");
    // pids.limit 0 is a real 0 (runc 1.4's reading): nothing can fork
    let mut zero = run.clone();
    zero["linux"]["resources"] = json!({"pids": {"limit": 0}});
    let (_, out, _) = env.run(&zero);
    assert_eq!(out, "", "forked under pids.max 0");
    // update as Docker sends it: zeros for what it does not change
    assert!(env.vrun(&["start", &id]).status.success());
    let out = update_resources(
        &env,
        &id,
        r#"{"cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": "", "mems": ""},
            "memory": {"limit": 134217728, "swap": 268435456, "reservation": 0},
            "blockIO": {"weight": 0}, "pids": {"limit": 60}}"#,
        &[],
    );
    assert!(out.status.success(), "{}", messages(&out.stderr));
    let mem = own_cgroup("memory").join("vrun").join(&id);
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "134217728");
    assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "268435456");
    assert_eq!(read(pids.join("pids.max")), "60");
    assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
}

/// `vrun run` of ID in the background, its stdout and stderr to files in the test's dir.
fn spawn_run(env: &TestEnv, id: &str) -> std::process::Child {
    let out = std::fs::File::create(env.dir.join(format!("{id}.out"))).unwrap();
    let err = std::fs::File::create(env.dir.join(format!("{id}.err"))).unwrap();
    env.cmd()
        .args(["run", "--bundle"])
        .arg(&env.bundle)
        .arg(id)
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap()
}

/// A run of `spawn_run` succeeded and printed "ok".
fn assert_ran_ok(env: &TestEnv, id: &str, status: std::process::ExitStatus) {
    let err = std::fs::read_to_string(env.dir.join(format!("{id}.err"))).unwrap();
    assert!(status.success(), "{id}: {status}: {err}");
    let out = std::fs::read_to_string(env.dir.join(format!("{id}.out"))).unwrap();
    assert_eq!(out, "ok\n", "{id}");
}

/// Nothing of the containers sharing `cgroup` is left: no state, no entry of a cgroup
/// vrun made, no cgroup directory.
fn assert_shared_cgroup_gone(env: &TestEnv, cgroup: &str) {
    assert_no_state_left(env, "shared cgroup");
    assert!(cgroup_dirs_named(cgroup).is_empty(), "cgroup left");
}

#[test]
fn a_hundred_concurrent_runs_share_one_cgroups_path() {
    let env = TestEnv::new("cgshared");
    let shared = format!("{}-shared", env.name);
    let mut c = env.sh("echo ok");
    c["linux"]["cgroupsPath"] = json!(shared);
    env.write_config(&c);
    // Every container joins what exists, makes what is missing, and removes the cgroup only
    // when it is the last one in it: none may break another.
    let ids: Vec<String> = (0..100).map(|i| env.id(&format!("r{i}"))).collect();
    let children: Vec<_> = ids.iter().map(|id| spawn_run(&env, id)).collect();
    for (id, mut child) in ids.iter().zip(children) {
        assert_ran_ok(&env, id, child.wait().unwrap());
    }
    assert_shared_cgroup_gone(&env, &shared);

    // Again, with every fifth container force-deleted while the others start, run and exit.
    c["process"]["args"] = json!(["sh", "-c", "sleep 0.3; echo ok"]);
    env.write_config(&c);
    let ids: Vec<String> = (0..100).map(|i| env.id(&format!("d{i}"))).collect();
    let children: Vec<_> = ids.iter().map(|id| spawn_run(&env, id)).collect();
    std::thread::sleep(std::time::Duration::from_millis(150));
    let deleters: Vec<_> = ids
        .iter()
        .step_by(5)
        .map(|id| {
            env.cmd()
                .args(["delete", "--force", id])
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut d in deleters {
        d.wait().unwrap();
    }
    for (i, (id, mut child)) in ids.iter().zip(children).enumerate() {
        let status = child.wait().unwrap();
        if i % 5 != 0 {
            assert_ran_ok(&env, id, status);
        }
    }
    assert_shared_cgroup_gone(&env, &shared);
}

#[test]
fn a_field_whose_v1_controller_is_missing_is_an_error_before_anything_is_made() {
    let env = TestEnv::new("cgmissing");
    // vrun in a mount namespace of its own where the pids and devices hierarchies are not
    // mounted: to it, this host lacks those controllers.
    let create = |config: &serde_json::Value, id: &str| {
        env.write_config(config);
        let script = format!(
            "umount /sys/fs/cgroup/pids && umount /sys/fs/cgroup/devices && exec {VRUN} --root {} create --bundle {} {id}",
            env.root.display(),
            env.bundle.display()
        );
        let mut cmd = std::process::Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(std::process::Stdio::null());
        // (to files: a created container's init keeps stdout and stderr open)
        let (status, stdout, stderr) = env.detached(cmd);
        std::process::Output {
            status,
            stdout: stdout.into_bytes(),
            stderr: stderr.into_bytes(),
        }
    };
    let mut c = env.default_config(&["sleep", "30"]);
    c["linux"]["resources"] = json!({"pids": {"limit": 10}});
    let id = env.id("pids");
    let out = create(&c, &id);
    assert_clean_failure(
        &env,
        &out,
        &id,
        "linux.resources.pids.limit: this host has no pids cgroup hierarchy to apply it to",
    );
    c["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
    let id = env.id("dev");
    let out = create(&c, &id);
    assert_clean_failure(
        &env,
        &out,
        &id,
        "linux.resources.devices: this host has no devices cgroup hierarchy to apply them to",
    );
    // without such fields the container is made
    c["linux"]["resources"] = json!({"memory": {"limit": 33554432}});
    let id = env.id("ok");
    let out = create(&c, &id);
    assert!(out.status.success(), "{}", messages(&out.stderr));
}
