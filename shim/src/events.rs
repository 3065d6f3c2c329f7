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

use std::sync::Mutex;

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
use shim::protos::EventsClient;

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
    client: Mutex<Option<EventsClient>>,
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
        let first = match client.as_ref() {
            Some(c) => forward(c, &request),
            None => Err("not connected".to_string()),
        };
        let Err(e) = first else {
            return;
        };
        match connect(address) {
            Ok(new) => {
                if let Err(e) = forward(&new, &request) {
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

fn connect(address: &str) -> Result<EventsClient, String> {
    let fd = shim::util::connect(address).map_err(|e| e.to_string())?;
    let client = ttrpc::Client::new(fd).map_err(|e| e.to_string())?;
    Ok(EventsClient::new(client))
}

fn forward(client: &EventsClient, request: &ForwardRequest) -> Result<(), String> {
    client
        .forward(ttrpc::context::Context::default(), request)
        .map(|_| ())
        .map_err(|e| e.to_string())
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
