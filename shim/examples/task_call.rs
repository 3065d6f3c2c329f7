//! task_call: one call of containerd's task service on a shim's socket, as containerd makes
//! it: for integration/shim.sh to order calls in a way containerd does only now and then (a
//! Wait on an exec that never starts, say), and for integration/vm/guest-criu.sh to drive the
//! shim where no containerd runs (CRIU works only in the microVM, where a containerd would not
//! start in CI's time under emulation), with `events`, which stands in for containerd's events
//! service.
//!
//!   task_call events SOCKET LOG                serve containerd's events service on SOCKET
//!                                              (the shim's TTRPC_ADDRESS): a line in LOG for
//!                                              each event, its topic (and an exit's id and
//!                                              status)
//!   task_call SOCKET create ID BUNDLE [CHECKPOINT_DIR]
//!   task_call SOCKET exec ID EXEC_ID ARG...    add an exec'd process (not started)
//!   task_call SOCKET start|wait|delete ID [EXEC_ID]
//!   task_call SOCKET state ID                  prints STATUS PID EXIT_STATUS
//!   task_call SOCKET kill ID SIGNAL
//!   task_call SOCKET checkpoint ID DIR [exit]  with runc's CheckpointOptions, as ctr gives
//!   task_call SOCKET shutdown ID
//!
//! Prints the reply's pid or exit status; exits 1 with the shim's error (its gRPC code and
//! message).

use std::io::Write;
use std::sync::{Arc, Mutex};

use containerd_shim::protos::api;
use containerd_shim::protos::events::task::TaskExit;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::shim::oci::CheckpointOptions;
use containerd_shim::protos::shim_sync::{create_events, Client, Events, TaskClient};
use containerd_shim::protos::ttrpc::{self, context, TtrpcContext};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("events") && args.len() == 4 {
        let e = serve_events(&args[2], &args[3]);
        eprintln!("task_call events: {e}");
        std::process::exit(1);
    }
    let (Some(socket), Some(method), Some(id)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: task_call SOCKET METHOD ID [ARG...], or task_call events SOCKET LOG");
        std::process::exit(2);
    };
    match call(socket, method, id, &args[4..]) {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("task_call {method}: {e}");
            std::process::exit(1);
        }
    }
}

/// containerd's events service, as far as a shim uses it (Forward); returns only on an error.
fn serve_events(socket: &str, log: &str) -> String {
    let log = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        Ok(f) => f,
        Err(e) => return format!("{log}: {e}"),
    };
    let service = create_events(Arc::new(EventLog(Mutex::new(log))));
    let server = ttrpc::Server::new().bind(&format!("unix://{socket}"));
    let mut server = match server {
        Ok(s) => s.register_service(service),
        Err(e) => return format!("bind {socket}: {e}"),
    };
    if let Err(e) = server.start() {
        return format!("serve {socket}: {e}");
    }
    loop {
        std::thread::park();
    }
}

struct EventLog(Mutex<std::fs::File>);

impl Events for EventLog {
    fn forward(&self, _: &TtrpcContext, req: ForwardRequest) -> ttrpc::Result<api::Empty> {
        let envelope = req.envelope.unwrap_or_default();
        let mut line = envelope.topic.clone();
        if envelope.topic == "/tasks/exit" {
            if let Ok(exit) = TaskExit::parse_from_bytes(&envelope.event.value) {
                line += &format!(" {} {}", exit.id, exit.exit_status);
            }
        }
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(log, "{line}");
        Ok(api::Empty::new())
    }
}

fn call(socket: &str, method: &str, id: &str, rest: &[String]) -> Result<String, String> {
    let address = format!("unix://{}", socket.trim_start_matches("unix://"));
    let client = Client::connect(&address).map_err(|e| format!("connect {address}: {e}"))?;
    let task = TaskClient::new(client);
    let ctx = || context::with_timeout(0);
    let e = |e: ttrpc::Error| match e {
        ttrpc::Error::RpcStatus(s) => format!("{:?}: {}", s.code(), s.message),
        e => e.to_string(),
    };
    let arg = |i: usize| rest.get(i).cloned().unwrap_or_default();
    let id = id.to_string();
    match method {
        "create" => {
            let req = api::CreateTaskRequest {
                id,
                bundle: arg(0),
                checkpoint: arg(1),
                ..Default::default()
            };
            Ok(format!("pid {}", task.create(ctx(), &req).map_err(e)?.pid))
        }
        "exec" => {
            task.exec(ctx(), &exec_request(id, rest)).map_err(e)?;
            Ok("added".into())
        }
        "start" => {
            let req = api::StartRequest {
                id,
                exec_id: arg(0),
                ..Default::default()
            };
            Ok(format!("pid {}", task.start(ctx(), &req).map_err(e)?.pid))
        }
        "wait" => {
            let req = api::WaitRequest {
                id,
                exec_id: arg(0),
                ..Default::default()
            };
            let status = task.wait(ctx(), &req).map_err(e)?.exit_status;
            Ok(format!("exit {status}"))
        }
        "state" => {
            let req = api::StateRequest {
                id,
                ..Default::default()
            };
            let resp = task.state(ctx(), &req).map_err(e)?;
            let status = format!("{:?}", resp.status.enum_value_or_default()).to_lowercase();
            Ok(format!("{status} {} {}", resp.pid, resp.exit_status))
        }
        "kill" => {
            let req = api::KillRequest {
                id,
                signal: arg(0).parse().map_err(|_| format!("signal {:?}", arg(0)))?,
                ..Default::default()
            };
            task.kill(ctx(), &req).map_err(e)?;
            Ok("killed".into())
        }
        "checkpoint" => {
            let req = checkpoint_request(id, &arg(0), arg(1) == "exit")?;
            task.checkpoint(ctx(), &req).map_err(e)?;
            Ok("checkpointed".into())
        }
        "delete" => {
            let req = api::DeleteRequest {
                id,
                exec_id: arg(0),
                ..Default::default()
            };
            let status = task.delete(ctx(), &req).map_err(e)?.exit_status;
            Ok(format!("deleted, exit {status}"))
        }
        "shutdown" => {
            let req = api::ShutdownRequest {
                id,
                ..Default::default()
            };
            task.shutdown(ctx(), &req).map_err(e)?;
            Ok("shut down".into())
        }
        other => Err(format!("no method {other:?}")),
    }
}

/// An exec'd process `rest[1..]` as containerd adds it, with exec id `rest[0]`.
fn exec_request(id: String, rest: &[String]) -> api::ExecProcessRequest {
    let process = serde_json::json!({
        "args": rest.get(1..).unwrap_or_default(), "cwd": "/",
        "user": {"uid": 0, "gid": 0},
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
    });
    api::ExecProcessRequest {
        id,
        exec_id: rest.first().cloned().unwrap_or_default(),
        spec: Some(Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
            value: process.to_string().into_bytes(),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    }
}

/// A checkpoint into `dir`, with runc's CheckpointOptions as ctr gives them.
fn checkpoint_request(
    id: String,
    dir: &str,
    exit: bool,
) -> Result<api::CheckpointTaskRequest, String> {
    let opts = CheckpointOptions {
        exit,
        ..Default::default()
    };
    Ok(api::CheckpointTaskRequest {
        id,
        path: dir.to_string(),
        options: MessageField::some(Any {
            type_url: "containerd.runc.v1.CheckpointOptions".into(),
            value: opts.write_to_bytes().map_err(|e| e.to_string())?,
            ..Default::default()
        }),
        ..Default::default()
    })
}
