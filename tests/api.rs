//! The runtime as a library (vrun_runtime's Runtime, Container and Process), used the way
//! a shim uses it: in its own process, with typed errors to act on. A test of its own with
//! no harness: create clones init from the caller, which must then be single-threaded, as
//! vrun itself and a shim's container-making process are (the harness runs tests on
//! threads).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the test failing

mod common;

use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use vrun_runtime::state::Status;
use vrun_runtime::{ConsoleMode, CreateOptions, ErrorKind, ExecOptions, Runtime};

fn main() {
    let env = TestEnv::new("api");
    let runtime = Runtime::new(&env.root);
    let id = env.id("c");
    env.write_config(&env.default_config(&["sleep", "30"]));
    let container = runtime
        .create(
            &id,
            &env.bundle,
            CreateOptions::default(),
            ConsoleMode::None,
        )
        .expect("create");
    let pid = container.pid().expect("pid");
    assert!(pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(container.state().expect("state").1, Status::Created);
    let again = runtime.create(
        &id,
        &env.bundle,
        CreateOptions::default(),
        ConsoleMode::None,
    );
    assert_eq!(
        again.map(drop).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );

    // an exec'd process's pid is known before it exits, and its exit status after
    let exec = |args: &[&str]| ExecOptions {
        args: args.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let process = container
        .exec(exec(&["sh", "-c", "read line; exit 7"]))
        .expect("exec");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", process.pid())).expect("stat");
    assert!(stat.contains("(sh)"), "the exec'd process runs: {stat}");
    // (its stdin is the test's, which is /dev/null under cargo or empty: `read` ends)
    assert_eq!(process.wait().expect("wait"), 7);

    container.start().expect("start");
    assert_eq!(container.state().expect("state").1, Status::Running);
    assert_eq!(
        container.start().map(drop).unwrap_err().kind(),
        ErrorKind::WrongState
    );
    container.pause().expect("pause");
    let paused = container.exec(exec(&["true"]));
    assert_eq!(paused.map(drop).unwrap_err().kind(), ErrorKind::WrongState);
    container.resume().expect("resume");
    container.kill(Some(Signal::SIGKILL), false).expect("kill");
    let deadline = Instant::now() + Duration::from_secs(5);
    while container.state().expect("state").1 != Status::Stopped {
        assert!(
            Instant::now() < deadline,
            "SIGKILL left the container running"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    container.delete(false).expect("delete");
    assert!(!env.root.join(&id).exists(), "state left");

    let gone = runtime.container(&id).expect("handle");
    assert_eq!(
        gone.state().map(drop).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(gone.delete(false).unwrap_err().kind(), ErrorKind::NotFound);
    let bad_id = runtime.container("../escape");
    assert_eq!(
        bad_id.map(drop).unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );

    // a config vrun refuses: invalid-config, with its message, and nothing made
    let mut c = env.default_config(&["true"]);
    c["process"]["terminal"] = serde_json::json!(true);
    env.write_config(&c);
    let refused = runtime
        .create(
            &id,
            &env.bundle,
            CreateOptions::default(),
            ConsoleMode::None,
        )
        .map(drop)
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidConfig);
    assert!(refused
        .to_string()
        .starts_with("process.terminal is true but no --console-socket"));
    assert!(
        !env.root.join(&id).exists(),
        "a refused create left its state"
    );
    println!("api: create, exec, start, pause, resume, kill, delete and error kinds: ok");
}
