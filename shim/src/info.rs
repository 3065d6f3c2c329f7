//! The `-info` action: containerd 2 asks a shim what its runtime can do (`containerd-shim-...
//! -info`, the runtime options on stdin) and reads a RuntimeInfo protobuf from its stdout. From
//! its features CRI learns whether the handler takes user namespaces and recursive read-only
//! mounts; without them it refuses such pods for the handler. runc's shim answers with `runc
//! features`; this shim with vrun's own features, the same JSON `vrun features` prints.
//!
//! containerd-shim 0.10 parses the flag but does not act on it (0.12 does, but it also answers
//! `start` in the bootstrap protocol containerd 1.6 cannot read), so the message is written
//! here (proto.rs): containerd-shim-protos 0.10 has no RuntimeInfo.

use std::io::{Read, Write};

use crate::proto::Message;

/// The runtime options containerd sends are a few hundred bytes; anything past this is not.
const MAX_OPTIONS: u64 = 1 << 20;

/// How containerd's typeurl names runtime-spec's Features (JSON, not a protobuf message).
const FEATURES_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/features/Features";

/// Whether containerd asked for the info: `-info` among the arguments (Go's flag package takes
/// `--info` too).
pub fn asked(args: &[std::ffi::OsString]) -> bool {
    args.iter().skip(1).any(|a| a == "-info" || a == "--info")
}

/// Writes the RuntimeInfo to stdout.
pub fn answer(runtime_id: &str) -> Result<(), String> {
    let mut options = Vec::new();
    std::io::stdin()
        .take(MAX_OPTIONS + 1)
        .read_to_end(&mut options)
        .map_err(|e| format!("read the runtime options on stdin: {e}"))?;
    if options.len() as u64 > MAX_OPTIONS {
        return Err(format!(
            "the runtime options on stdin are over {MAX_OPTIONS} bytes"
        ));
    }
    let info = runtime_info(runtime_id, &options);
    let mut out = std::io::stdout().lock();
    out.write_all(&info)
        .and_then(|()| out.flush())
        .map_err(|e| format!("write the runtime info: {e}"))
}

/// containerd's `RuntimeInfo` (api/types/introspection.proto): name = 1, version = 2
/// (RuntimeVersion: version = 1, revision = 2), options = 3 (the Any containerd sent, as
/// runc's shim echoes it), features = 4 (an Any: type_url = 1, value = 2).
fn runtime_info(runtime_id: &str, options: &[u8]) -> Vec<u8> {
    let mut version = Message::default();
    version.bytes(1, env!("CARGO_PKG_VERSION").as_bytes());
    let mut features = Message::default();
    features
        .bytes(1, FEATURES_TYPE.as_bytes())
        .bytes(2, vrun_runtime::features::features().to_string().as_bytes());
    let mut info = Message::default();
    info.bytes(1, runtime_id.as_bytes()).message(2, version);
    if !options.is_empty() {
        info.bytes(3, options);
    }
    info.message(4, features);
    info.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::protobuf::well_known_types::any::Any;
    use containerd_shim::protos::protobuf::Message as _;

    /// What containerd reads back: the features as vrun prints them, under typeurl's name.
    #[test]
    fn the_info_carries_vrun_features_and_the_options_sent() -> Result<(), String> {
        let options = Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: vec![1, 2, 3],
            ..Default::default()
        }
        .write_to_bytes()
        .map_err(|e| e.to_string())?;
        let bytes = runtime_info("io.containerd.vrun.v2", &options);
        let mut input = containerd_shim::protos::protobuf::CodedInputStream::from_bytes(&bytes);
        let mut fields = std::collections::BTreeMap::new();
        while let Some(tag) = input.read_raw_tag_or_eof().map_err(|e| e.to_string())? {
            fields.insert(tag >> 3, input.read_bytes().map_err(|e| e.to_string())?);
        }
        assert_eq!(
            fields.get(&1).map(Vec::as_slice),
            Some(&b"io.containerd.vrun.v2"[..])
        );
        assert_eq!(fields.get(&3), Some(&options));
        let features = Any::parse_from_bytes(fields.get(&4).ok_or("no features")?)
            .map_err(|e| e.to_string())?;
        assert_eq!(features.type_url, FEATURES_TYPE);
        let json: serde_json::Value =
            serde_json::from_slice(&features.value).map_err(|e| e.to_string())?;
        // what CRI reads from them: user namespaces with idmapped mounts, and rro
        assert_eq!(json["linux"]["mountExtensions"]["idmap"]["enabled"], true);
        let has = |list: &serde_json::Value, v: &str| {
            list.as_array().is_some_and(|a| a.iter().any(|x| x == v))
        };
        assert!(has(&json["linux"]["namespaces"], "user"));
        assert!(has(&json["mountOptions"], "rro"));
        Ok(())
    }
}
