//! Protobuf messages containerd-shim-protos 0.10 lacks (cgroup v2's Metrics, RuntimeInfo),
//! written field by field: the wire format of their fields is two kinds, varints and
//! length-delimited bytes.

/// A protobuf message written by hand: varint (uint64) and length-delimited fields, zero
/// values left out as proto3 leaves them.
#[derive(Default)]
pub struct Message(pub Vec<u8>);

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    pub fn u64(&mut self, field: u64, v: u64) -> &mut Self {
        if v != 0 {
            self.varint(field << 3);
            self.varint(v);
        }
        self
    }

    pub fn bytes(&mut self, field: u64, v: &[u8]) -> &mut Self {
        self.varint((field << 3) | 2);
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }

    pub fn message(&mut self, field: u64, m: Message) -> &mut Self {
        self.bytes(field, &m.0)
    }
}
