//! Durable encoding of the scheduler state as opaque, term-fenced store records.
//!
//! Keys (u64) carry the record kind in their top four bits:
//! - `0x0…` + unit id: the unit, a prost-encoded `hypasis.v1.WorkUnit` (its current state);
//! - `0x1…` + unit id: the unit's latest lease, a prost-encoded `hypasis.v1.Lease` (kept after
//!   the lease ends so the current fencing token is known and completion stays idempotent);
//! - `0x2…` + unit id: empty marker, the unit was created by a re-verify request;
//! - `u64::MAX`: the scheduler's meta record ([`MetaRecord`]: id and token counters, anchor,
//!   pause flags; no tip: the tip comes from the peers' claims and is never persisted).

use prost::Message;

/// Largest unit id (ids live in the low 60 bits of a key).
pub const MAX_UNIT_ID: u64 = (1 << 60) - 1;
const KIND_SHIFT: u32 = 60;
const KIND_UNIT: u64 = 0;
const KIND_LEASE: u64 = 1;
const KIND_REVERIFY: u64 = 2;
/// Key of the meta record.
pub const META_KEY: u64 = u64::MAX;

/// What a record key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKey {
    /// A unit (`WorkUnit`).
    Unit(u64),
    /// A unit's latest lease (`Lease`).
    Lease(u64),
    /// A re-verify marker.
    Reverify(u64),
    /// The meta record.
    Meta,
}

impl RecordKey {
    /// The raw key.
    pub fn raw(self) -> u64 {
        match self {
            RecordKey::Unit(id) => (KIND_UNIT << KIND_SHIFT) | id,
            RecordKey::Lease(id) => (KIND_LEASE << KIND_SHIFT) | id,
            RecordKey::Reverify(id) => (KIND_REVERIFY << KIND_SHIFT) | id,
            RecordKey::Meta => META_KEY,
        }
    }

    /// Parses a raw key.
    pub fn parse(raw: u64) -> Option<Self> {
        if raw == META_KEY {
            return Some(RecordKey::Meta);
        }
        let id = raw & MAX_UNIT_ID;
        match raw >> KIND_SHIFT {
            KIND_UNIT => Some(RecordKey::Unit(id)),
            KIND_LEASE => Some(RecordKey::Lease(id)),
            KIND_REVERIFY => Some(RecordKey::Reverify(id)),
            _ => None,
        }
    }
}

/// The scheduler-wide durable values.
#[derive(Clone, PartialEq, Message)]
pub struct MetaRecord {
    /// Next unit id to assign.
    #[prost(uint64, tag = "1")]
    pub next_unit_id: u64,
    /// Next fencing token to hand out.
    #[prost(uint64, tag = "2")]
    pub next_token: u64,
    /// Lowest block synced.
    #[prost(uint64, tag = "3")]
    pub genesis: u64,
    /// The tip, as written by versions that persisted the peers' claimed head. No longer
    /// written (a claim of one peer must not outlive it) and ignored when read: after a
    /// restart the span reaches the stored units and the tip is learned again from the peers.
    #[prost(uint64, optional, tag = "4")]
    pub tip: Option<u64>,
    /// Anchor block number (forward above it, backward at and below it).
    #[prost(uint64, optional, tag = "5")]
    pub anchor: Option<u64>,
    /// Anchor block hash, when known.
    #[prost(bytes = "vec", optional, tag = "6")]
    pub anchor_hash: Option<Vec<u8>>,
    /// Forward direction paused.
    #[prost(bool, tag = "7")]
    pub paused_forward: bool,
    /// Backward direction paused.
    #[prost(bool, tag = "8")]
    pub paused_backward: bool,
    /// Format version (1).
    #[prost(uint32, tag = "9")]
    pub version: u32,
}

/// Encodes a prost message.
pub(crate) fn encode<M: Message>(m: &M) -> Vec<u8> {
    m.encode_to_vec()
}

/// A stored record that does not decode as its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {key:#x}: {source}")]
pub(crate) struct RecordDecodeError {
    /// The record's key.
    pub key: u64,
    /// Why prost refused the bytes.
    pub source: prost::DecodeError,
}

/// Decodes a prost message, naming the key on failure.
pub(crate) fn decode<M: Message + Default>(key: u64, bytes: &[u8]) -> Result<M, RecordDecodeError> {
    M::decode(bytes).map_err(|source| RecordDecodeError { key, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for k in [
            RecordKey::Unit(1),
            RecordKey::Unit(MAX_UNIT_ID),
            RecordKey::Lease(7),
            RecordKey::Reverify(9),
            RecordKey::Meta,
        ] {
            assert_eq!(RecordKey::parse(k.raw()), Some(k));
        }
        assert_eq!(RecordKey::parse(3 << 60), None);
    }
}
