//! task_call: one call of containerd's task service on a shim's socket, as containerd makes
//! it, for integration/shim.sh to order calls in a way containerd does only now and then (a
//! Wait on an exec that never starts, say).
//!
//!   task_call SOCKET exec ID EXEC_ID ARG...   add an exec'd process (not started)
//!   task_call SOCKET start|wait|delete ID [EXEC_ID]
//!
//! Prints the reply's pid or exit status; exits 1 with the shim's error.

use containerd_shim::protos::api;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::shim_sync::{Client, TaskClient};
use containerd_shim::protos::ttrpc::context;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(socket), Some(method), Some(id)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: task_call SOCKET exec|start|wait|delete ID [EXEC_ID [ARG...]]");
        std::process::exit(2);
    };
    let exec_id = args.get(4).cloned().unwrap_or_default();
    match call(socket, method, id, &exec_id, &args[args.len().min(5)..]) {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("task_call {method}: {e}");
            std::process::exit(1);
        }
    }
}

fn call(
    socket: &str,
    method: &str,
    id: &str,
    exec_id: &str,
    argv: &[String],
) -> Result<String, String> {
    let address = format!("unix://{}", socket.trim_start_matches("unix://"));
    let client = Client::connect(&address).map_err(|e| format!("connect {address}: {e}"))?;
    let task = TaskClient::new(client);
    let ctx = || context::with_timeout(0);
    let e = |e: containerd_shim::protos::ttrpc::Error| e.to_string();
    match method {
        "exec" => {
            let process = serde_json::json!({
                "args": argv, "cwd": "/", "user": {"uid": 0, "gid": 0},
                "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            });
            let req = api::ExecProcessRequest {
                id: id.to_string(),
                exec_id: exec_id.to_string(),
                spec: Some(Any {
                    type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
                    value: process.to_string().into_bytes(),
                    ..Default::default()
                })
                .into(),
                ..Default::default()
            };
            task.exec(ctx(), &req).map_err(e)?;
            Ok("added".into())
        }
        "start" => {
            let req = api::StartRequest {
                id: id.to_string(),
                exec_id: exec_id.to_string(),
                ..Default::default()
            };
            Ok(format!("pid {}", task.start(ctx(), &req).map_err(e)?.pid))
        }
        "wait" => {
            let req = api::WaitRequest {
                id: id.to_string(),
                exec_id: exec_id.to_string(),
                ..Default::default()
            };
            let status = task.wait(ctx(), &req).map_err(e)?.exit_status;
            Ok(format!("exit {status}"))
        }
        "delete" => {
            let req = api::DeleteRequest {
                id: id.to_string(),
                exec_id: exec_id.to_string(),
                ..Default::default()
            };
            let status = task.delete(ctx(), &req).map_err(e)?.exit_status;
            Ok(format!("deleted, exit {status}"))
        }
        other => Err(format!("no method {other:?}")),
    }
}
