//! Bad input: one clear line on stderr naming what is wrong and where, exit status 1, and
//! nothing left behind (no state dir, cgroup, mount or process). Never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use common::*;
use serde_json::json;

#[test]
fn missing_bundle_and_config() {
    let env = TestEnv::new("nobundle");
    let id = env.id("c");
    let out = env
        .cmd()
        .args(["create", "--bundle", "/nonexistent/bundle", &id])
        .output()
        .unwrap();
    assert_clean_failure(
        &env,
        &out,
        &id,
        "read /nonexistent/bundle/config.json: No such file or directory",
    );
}

#[test]
fn malformed_json_names_file_and_position() {
    let env = TestEnv::new("badjson");
    std::fs::write(
        env.bundle.join("config.json"),
        "{\"ociVersion\": \"1.0.2\", ",
    )
    .unwrap();
    let id = env.id("c");
    let out = env.try_create(&id);
    assert_clean_failure(
        &env,
        &out,
        &id,
        &format!("{}/config.json: ", env.bundle.display()),
    );
    assert!(messages(&out.stderr).contains("line 1"));
}

#[test]
fn wrong_field_type_names_the_field() {
    let env = TestEnv::new("badtype");
    let mut c = env.default_config(&["true"]);
    c["process"]["user"]["uid"] = json!("root");
    env.write_config(&c);
    let id = env.id("c");
    assert_clean_failure(
        &env,
        &env.try_create(&id),
        &id,
        "config.json: process.user.uid: invalid type: string \"root\"",
    );
    let mut c = env.default_config(&["true"]);
    c["linux"]["namespaces"] = json!([{"type": "bogus"}]);
    env.write_config(&c);
    assert_clean_failure(
        &env,
        &env.try_create(&id),
        &id,
        "linux.namespaces[0].type: unknown variant `bogus`",
    );
}

#[test]
fn missing_rootfs() {
    let env = TestEnv::new("norootfs");
    let mut c = env.default_config(&["true"]);
    c["root"]["path"] = json!("does-not-exist");
    env.write_config(&c);
    let id = env.id("c");
    assert_clean_failure(&env, &env.try_create(&id), &id, "root.path: ");
}

#[test]
fn bad_ids() {
    let env = TestEnv::new("badid");
    for id in ["..", "a/b", "bad id"] {
        let out = env.try_create(id);
        let err = messages(&out.stderr);
        assert_eq!(out.status.code(), Some(1));
        assert!(err.contains("invalid container id"), "{err}");
    }
    let out = env
        .cmd()
        .args(["create", "--bundle"])
        .arg(&env.bundle)
        .arg("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(messages(&out.stderr).contains("container id is empty"));
    assert_no_state_left(&env, "an empty id");
}

#[test]
fn unknown_container_for_every_command() {
    let env = TestEnv::new("unknown");
    for args in [
        vec!["start", "ghost"],
        vec!["state", "ghost"],
        vec!["kill", "ghost"],
        vec!["delete", "ghost"],
        vec!["ps", "ghost"],
        vec!["exec", "ghost", "true"],
    ] {
        let out = env.vrun(&args);
        // a failed exec exits 255, as runc's
        let code = if args[0] == "exec" { 255 } else { 1 };
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert!(
            messages(&out.stderr).contains("container \"ghost\" does not exist"),
            "{args:?}"
        );
    }
    // delete --force of something that is not there is fine (runc does the same)
    assert!(env.vrun(&["delete", "--force", "ghost"]).status.success());
}

#[test]
fn missing_program_fails_create() {
    let env = TestEnv::new("noprog");
    env.write_config(&env.default_config(&["no-such-program"]));
    let id = env.id("c");
    assert_clean_failure(
        &env,
        &env.try_create(&id),
        &id,
        "exec: \"no-such-program\": executable file not found in $PATH",
    );
}

#[test]
fn failures_inside_init_leave_nothing() {
    let env = TestEnv::new("initfail");
    // An unknown filesystem type: the mount fails inside init, after the cgroup and the state
    // dir exist.
    let mut c = env.default_config(&["true"]);
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/x", "type": "nosuchfs", "source": "none"}));
    env.write_config(&c);
    let id = env.id("c");
    assert_clean_failure(
        &env,
        &env.try_create(&id),
        &id,
        "mounts[7] (/x): mount nosuchfs none: ENODEV",
    );
}

#[test]
fn semantic_errors_name_the_field() {
    let env = TestEnv::new("semantic");
    let id = env.id("c");
    type Change = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|c| c["process"]["cwd"] = json!("relative")),
            "process.cwd: \"relative\" is not an absolute path",
        ),
        (
            Box::new(|c| c["process"]["args"] = json!([])),
            "process.args: must name the program to run",
        ),
        (
            Box::new(|c| {
                c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}])
            }),
            "process.rlimits: RLIMIT_NOFILE has soft limit 10 above its hard limit 5",
        ),
        (
            Box::new(|c| c["linux"]["sysctl"] = json!({"kernel.panic": "1"})),
            "linux.sysctl: kernel.panic is not namespaced",
        ),
        (
            Box::new(|c| {
                c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}])
            }),
            "linux.uidMappings: mappings are given but no new user namespace",
        ),
        (
            Box::new(|c| c["mounts"][0]["destination"] = json!("")),
            "mounts[0].destination: must not be empty",
        ),
        (
            Box::new(|c| c["linux"]["rootfsPropagation"] = json!("sideways")),
            "linux.rootfsPropagation: \"sideways\" is not a propagation mode",
        ),
        (
            Box::new(|c| c["linux"]["cgroupsPath"] = json!("../escape")),
            "linux.cgroupsPath: \"../escape\" contains \"..\"",
        ),
        (
            Box::new(|c| {
                c["linux"]["devices"] =
                    json!([{"path": "/etc/evil", "type": "c", "major": 1, "minor": 3}])
            }),
            "linux.devices[0]: path \"/etc/evil\" is not under /dev",
        ),
        (
            Box::new(|c| c["hooks"] = json!({"poststart": [{"path": "relative/hook"}]})),
            "hooks.poststart[0].path: \"relative/hook\" is not absolute",
        ),
        (
            Box::new(|c| c["linux"]["resources"]["blockIO"] = json!({"weight": 5})),
            "linux.resources.blockIO.weight: 5 is outside 10..1000",
        ),
        (
            Box::new(|c| c["linux"]["resources"]["cpu"] = json!({"cpus": "0-x"})),
            "linux.resources.cpu.cpus: \"0-x\" is not a list of numbers and ranges",
        ),
    ];
    for (change, needle) in cases {
        let mut c = env.default_config(&["true"]);
        change(&mut c);
        env.write_config(&c);
        assert_clean_failure(&env, &env.try_create(&id), &id, needle);
    }
}

#[test]
fn an_apparmor_profile_without_apparmor_is_refused() {
    let env = TestEnv::new("apparmor");
    let mut c = env.sh("cat /proc/self/attr/current");
    c["process"]["apparmorProfile"] = json!("unconfined");
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'));
    if apparmor {
        // The profile is applied at exec.
        assert_eq!(env.run_ok(&c).trim(), "unconfined");
    } else {
        // Never a container silently left unconfined.
        assert_create_fails(
            &env,
            &c,
            "process.apparmorProfile: AppArmor is not enabled on this host, so the profile \"unconfined\" cannot be applied",
        );
    }
}

#[test]
fn selinux_labels_warn_without_selinux_and_fail_with_it() {
    let env = TestEnv::new("selinux");
    let mut c = env.sh("echo ran");
    c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c1,c2");
    c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c1,c2");
    if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        assert_create_fails(&env, &c, "vrun does not apply SELinux labels");
    } else {
        let (code, out, err) = env.run(&c);
        assert_eq!((code, out.as_str()), (0, "ran\n"), "{err}");
        for field in ["process.selinuxLabel", "linux.mountLabel"] {
            assert!(
                err.contains(&format!("{field}: ")) && err.contains("SELinux is not enabled"),
                "no warning for {field}: {err}"
            );
        }
    }
}

/// The last errors that named neither the field nor the file, each now naming both, with
/// the usual clean failure: a rootfs that is a symlink (refused, as runc refuses it), a
/// device path that climbs out of /dev, an env entry or an argument with a NUL byte, time
/// offsets the kernel refuses, a seccomp profile whose default action kills init before it
/// can exec, and a number above 2^53 (printed as the integer it is, not as 1.8e19).
#[test]
fn the_last_unnamed_errors_name_the_field_and_the_file() {
    let env = TestEnv::new("unnamed");
    let file = format!("{}/config.json", env.bundle.display());
    let named = |field: &str, what: &str| format!("{file}: {field}: {what}");

    std::os::unix::fs::symlink("rootfs", env.bundle.join("rootfs-link")).unwrap();
    let mut c = env.default_config(&["true"]);
    c["root"]["path"] = json!("rootfs-link");
    assert_create_fails(
        &env,
        &c,
        &named(
            "root.path",
            &format!(
                "{}/rootfs-link is not an absolute path or is a symlink",
                env.bundle.display()
            ),
        ),
    );

    let mut c = env.default_config(&["true"]);
    c["linux"]["devices"] = json!([{"path": "/dev/../../x", "type": "c", "major": 1, "minor": 3}]);
    assert_create_fails(
        &env,
        &c,
        &named("linux.devices[0].path", "\"/dev/../../x\" leaves /dev"),
    );
    assert!(
        !env.bundle.join("rootfs/x").exists(),
        "the device was made outside /dev"
    );

    let mut c = env.default_config(&["true"]);
    c["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("BAD=a\u{0}b"));
    assert_create_fails(
        &env,
        &c,
        &named("process.env[2]", "\"BAD=a\\0b\" contains a NUL byte"),
    );
    let mut c = env.default_config(&["true", "a\u{0}b"]);
    c["process"]["env"] = json!(["PATH=/bin"]);
    assert_create_fails(
        &env,
        &c,
        &named("process.args[1]", "\"a\\0b\" contains a NUL byte"),
    );
}

/// The rest of them: time offsets the kernel refuses, a seccomp profile that kills init
/// before it can exec, a number above 2^53.
#[test]
fn refused_offsets_filters_and_numbers_name_the_field_and_the_file() {
    let env = TestEnv::new("unnamed2");
    let file = format!("{}/config.json", env.bundle.display());
    let named = |field: &str, what: &str| format!("{file}: {field}: {what}");

    for (offsets, what) in [
        (
            json!({"nosuchclock": {"secs": 1}}),
            "\"nosuchclock\" is not a clock of a time namespace (monotonic, boottime)",
        ),
        (
            json!({"monotonic": {"secs": 1, "nanosecs": 2_000_000_000u64}}),
            "monotonic.nanosecs: 2000000000 is not below 1000000000",
        ),
        (
            json!({"boottime": {"secs": -99_999_999_999_999i64}}),
            "the kernel refused the offsets",
        ),
    ] {
        let mut c = env.default_config(&["true"]);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = offsets;
        assert_create_fails(&env, &c, &format!("linux.timeOffsets: {what}"));
    }

    let mut c = env.default_config(&["true"]);
    c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_KILL"});
    assert_create_fails(
        &env,
        &c,
        &named(
            "linux.seccomp",
            "the container's init was killed by its seccomp filter (SIGSYS) before it could exec",
        ),
    );

    let mut c = env.default_config(&["true"]);
    let text = serde_json::to_string(&c).unwrap();
    c = serde_json::from_str(&text).unwrap();
    c["linux"]["resources"] = json!({"memory": {"limit": 1}});
    let text = serde_json::to_string_pretty(&c)
        .unwrap()
        .replace("\"limit\": 1", "\"limit\": 18446744073709551616");
    std::fs::write(env.bundle.join("config.json"), text).unwrap();
    let id = env.id("big");
    let out = env.try_create(&id);
    assert_clean_failure(
        &env,
        &out,
        &id,
        &named(
            "linux.resources.memory.limit",
            "18446744073709551616 is out of range",
        ),
    );
    assert!(
        !messages(&out.stderr).contains("e+19"),
        "{}",
        messages(&out.stderr)
    );
}
