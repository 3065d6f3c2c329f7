//! 200 create/start/delete cycles, alone in this test binary so that the caller's fd count
//! means something.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use common::*;

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn mount_count() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count()
}

/// 200 create/start/delete cycles: the caller's fds, the mount table and the cgroup tree are
/// as they were.
#[test]
fn two_hundred_lifecycles_leave_nothing() {
    let env = TestEnv::new("cycles");
    env.write_config(&env.sh("true"));
    let (fds, mounts) = (fd_count(), mount_count());
    let mut init_fds = None;
    for i in 0..200 {
        let id = env.id(&format!("c{i}"));
        assert!(env.try_create(&id).status.success(), "create {i}");
        // What vrun leaves open in the created container's init: the same every time.
        let pid = env.state(&id)["pid"].as_i64().unwrap();
        let n = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count();
        match init_fds {
            None => init_fds = Some(n),
            Some(first) => assert_eq!(n, first, "init's fds at cycle {i}"),
        }
        assert!(env.vrun(&["start", &id]).status.success(), "start {i}");
        env.wait_status(&id, "stopped");
        let out = env.vrun(&["delete", &id]);
        assert!(
            out.status.success(),
            "delete {i}: {}",
            messages(&out.stderr)
        );
    }
    assert_eq!(fd_count(), fds, "fds of the caller");
    assert_eq!(mount_count(), mounts, "mount table");
    assert!(cgroup_dirs_named(&env.name).is_empty(), "cgroups left");
    assert_no_state_left(&env, "after 200 cycles");
}
