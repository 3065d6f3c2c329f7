//! The task events the shim publishes to containerd (create, start, exit, OOM, ...), on a
//! ttrpc connection of its own to containerd's events service.
//!
//! Why not containerd-shim's `RemotePublisher`: it names each event's type in the envelope by
//! the message's protobuf descriptor (`descriptor_dyn().full_name()`), and the first call
//! builds the descriptors of events/task.proto and of what it imports: 335 KiB of heap in every
//! shim for as long as it lives, for names known when the shim is built. Here each event type
//! carries its name (`Event::TYPE`, checked against the descriptor by a test) and its topic.
//! It also dials once: a containerd that restarted serves its events on a new socket at the
//! same address, so a failed publish here dials again and retries once.
//!
//! Why not ttrpc's client (`ttrpc::Client`, under containerd-shim-protos' `EventsClient`):
//! its connection keeps two threads, one of which polls the socket with a 10 ms timeout for
//! as long as the connection is open: an idle shim woke 100 times a second, for ever (about
//! 15 ms of CPU a second, measured), and the idle shim could never be seen idle (idle.rs).
//! A Forward is one request and its response, so the shim makes that exchange itself, in the
//! publishing thread, on a blocking socket: ttrpc's frame (its `MessageHeader`), its
//! `Request` and `Response` messages, containerd-shim-protos' `ForwardRequest`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;

use containerd_shim as shim;
use shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use shim::protos::protobuf::well_known_types::any::Any;
use shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use shim::protos::protobuf::{Message, MessageField};
use shim::protos::shim::events::{Envelope, ForwardRequest};
use shim::protos::topics;
use shim::protos::ttrpc;

/// A task event: its protobuf type's full name (the envelope's type URL, as containerd's own
/// shims write it) and the topic it is published on.
pub trait Event: Message {
    const TYPE: &'static str;
    const TOPIC: &'static str;
}

macro_rules! events {
    ($($t:ident => $topic:ident),* $(,)?) => {$(
        impl Event for $t {
            const TYPE: &'static str = concat!("containerd.events.", stringify!($t));
            const TOPIC: &'static str = topics::$topic;
        }
    )*};
}

events! {
    TaskCreate => TASK_CREATE_EVENT_TOPIC,
    TaskStart => TASK_START_EVENT_TOPIC,
    TaskDelete => TASK_DELETE_EVENT_TOPIC,
    TaskExit => TASK_EXIT_EVENT_TOPIC,
    TaskOOM => TASK_OOM_EVENT_TOPIC,
    TaskExecAdded => TASK_EXEC_ADDED_EVENT_TOPIC,
    TaskExecStarted => TASK_EXEC_STARTED_EVENT_TOPIC,
    TaskPaused => TASK_PAUSED_EVENT_TOPIC,
    TaskResumed => TASK_RESUMED_EVENT_TOPIC,
}

pub struct Publisher {
    /// containerd's ttrpc address (`TTRPC_ADDRESS`, which containerd sets for its shims); none:
    /// events are not published (a shim run by hand).
    address: Option<String>,
    namespace: String,
    client: Mutex<Option<Connection>>,
}

/// How long a Forward may wait for containerd's answer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
const EVENTS_SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";

/// A ttrpc connection to containerd's events service, for unary calls one at a time.
struct Connection {
    socket: UnixStream,
    /// The next request's stream id (a client's are odd, from 1, each new one above the last).
    next_stream: u32,
}

impl Publisher {
    pub fn new(address: Option<String>, namespace: &str) -> Publisher {
        let client = address.as_deref().and_then(|a| match connect(a) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("connect to containerd's events at {a}: {e}");
                None
            }
        });
        Publisher {
            address,
            namespace: namespace.to_string(),
            client: Mutex::new(client),
        }
    }

    /// Publishes `event`; on a failure, once more on a new connection. A failure is logged:
    /// the call that made the event has been done, whether containerd heard of it or not.
    pub fn publish<E: Event>(&self, event: E) {
        let Some(address) = &self.address else {
            return;
        };
        let request = match self.request(&event) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("publish {}: encode: {e}", E::TOPIC);
                return;
            }
        };
        let mut client = self.client.lock().unwrap_or_else(|e| e.into_inner());
        let first = match client.as_mut() {
            Some(c) => c.forward(&request),
            None => Err("not connected".to_string()),
        };
        let Err(e) = first else {
            return;
        };
        match connect(address) {
            Ok(mut new) => {
                if let Err(e) = new.forward(&request) {
                    tracing::warn!("publish {}: {e}", E::TOPIC);
                }
                *client = Some(new);
            }
            Err(e2) => tracing::warn!("publish {}: {e}; reconnecting to {address}: {e2}", E::TOPIC),
        }
    }

    fn request<E: Event>(&self, event: &E) -> Result<ForwardRequest, String> {
        let value = event.write_to_bytes().map_err(|e| e.to_string())?;
        Ok(ForwardRequest {
            envelope: MessageField::some(Envelope {
                timestamp: MessageField::some(Timestamp::now()),
                namespace: self.namespace.clone(),
                topic: E::TOPIC.to_string(),
                event: MessageField::some(Any {
                    type_url: E::TYPE.to_string(),
                    value,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
    }
}

fn connect(address: &str) -> Result<Connection, String> {
    let path = address.strip_prefix("unix://").unwrap_or(address);
    let socket = UnixStream::connect(path).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(FORWARD_TIMEOUT))
        .and_then(|()| socket.set_write_timeout(Some(FORWARD_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    Ok(Connection {
        socket,
        next_stream: 1,
    })
}

impl Connection {
    /// containerd's Events.Forward: the request, then its response, on this connection.
    fn forward(&mut self, request: &ForwardRequest) -> Result<(), String> {
        let stream = self.next_stream;
        self.next_stream = stream.wrapping_add(2);
        let call = ttrpc::Request {
            service: EVENTS_SERVICE.to_string(),
            method: "Forward".to_string(),
            payload: request.write_to_bytes().map_err(|e| e.to_string())?,
            timeout_nano: FORWARD_TIMEOUT.as_nanos() as i64,
            ..Default::default()
        };
        let body = call.write_to_bytes().map_err(|e| e.to_string())?;
        let header = ttrpc::MessageHeader::new_request(stream, body.len() as u32);
        let mut frame: Vec<u8> = header.into();
        frame.extend_from_slice(&body);
        self.socket
            .write_all(&frame)
            .map_err(|e| format!("send: {e}"))?;
        // the answer: the frames of this stream (a response), none of another
        let (header, body) = loop {
            let mut raw = [0; ttrpc::proto::MESSAGE_HEADER_LENGTH];
            self.socket
                .read_exact(&mut raw)
                .map_err(|e| format!("receive: {e}"))?;
            let header = ttrpc::MessageHeader::from(raw);
            if header.length as usize > ttrpc::proto::MESSAGE_LENGTH_MAX {
                return Err(format!("a response of {} bytes", header.length));
            }
            let mut body = vec![0; header.length as usize];
            self.socket
                .read_exact(&mut body)
                .map_err(|e| format!("receive: {e}"))?;
            if header.stream_id == stream {
                break (header, body);
            }
        };
        if header.type_ != ttrpc::proto::MESSAGE_TYPE_RESPONSE {
            return Err(format!("a message of type {} for a request", header.type_));
        }
        let response = ttrpc::Response::parse_from_bytes(&body).map_err(|e| e.to_string())?;
        match response.status.as_ref() {
            Some(status) if status.code() != ttrpc::Code::OK => Err(format!(
                "containerd: {:?}: {}",
                status.code(),
                status.message
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shim::protos::protobuf::MessageFull;

    fn named_as_its_descriptor<E: Event + MessageFull>() {
        assert_eq!(E::TYPE, E::descriptor().full_name());
    }

    #[test]
    fn each_event_type_is_named_as_its_protobuf_descriptor_names_it() {
        named_as_its_descriptor::<TaskCreate>();
        named_as_its_descriptor::<TaskStart>();
        named_as_its_descriptor::<TaskDelete>();
        named_as_its_descriptor::<TaskExit>();
        named_as_its_descriptor::<TaskOOM>();
        named_as_its_descriptor::<TaskExecAdded>();
        named_as_its_descriptor::<TaskExecStarted>();
        named_as_its_descriptor::<TaskPaused>();
        named_as_its_descriptor::<TaskResumed>();
    }

    #[test]
    fn the_envelope_carries_the_type_topic_and_namespace() {
        let publisher = Publisher::new(None, "k8s.io");
        let event = TaskStart {
            container_id: "c1".into(),
            pid: 42,
            ..Default::default()
        };
        let request = publisher.request(&event).expect("encode");
        let envelope = request.envelope.into_option().expect("envelope");
        assert_eq!(envelope.topic, "/tasks/start");
        assert_eq!(envelope.namespace, "k8s.io");
        let any = envelope.event.into_option().expect("event");
        assert_eq!(any.type_url, "containerd.events.TaskStart");
        assert_eq!(
            TaskStart::parse_from_bytes(&any.value).expect("decode"),
            event
        );
    }
}
