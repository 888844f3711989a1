//! Conversions between wire messages and domain types, with typed errors for malformed input.

use crate::v1;
use hypasis_gaps::Range;
use hypasis_primitives::{
    Address, B256, Bytes, Checkpoint, CheckpointSource, Fault, FaultClass, RawBlock,
    VerificationLevel,
};

/// A wire message that cannot become a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A required field is missing.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A fixed-size byte field has the wrong length.
    #[error("field `{field}` must be {expected} bytes, got {found}")]
    Length {
        /// Field name.
        field: &'static str,
        /// Expected length.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// A range with start > end.
    #[error("field `{field}`: invalid range {start}..={end} (start > end)")]
    Range {
        /// Field name.
        field: &'static str,
        /// Start.
        start: u64,
        /// End.
        end: u64,
    },
    /// An enum value that is unspecified or unknown.
    #[error("field `{field}`: unknown or unspecified value {value}")]
    Enum {
        /// Field name.
        field: &'static str,
        /// Raw value.
        value: i32,
    },
}

impl Fault for ConvertError {
    /// A message that does not convert was sent that way: the sender's fault.
    fn fault(&self) -> FaultClass {
        match self {
            Self::Missing(_) | Self::Length { .. } | Self::Range { .. } | Self::Enum { .. } => {
                FaultClass::Peer
            }
        }
    }
}

/// What a `ListCheckpointsRequest` asks for, checked (both services that answer it, the store
/// and the checkpoint service, read it the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointQuery {
    /// Only the newest checkpoint.
    Latest,
    /// Ids `from..=to`, ascending, at most `limit`.
    Range {
        /// First id.
        from: u64,
        /// Last id.
        to: u64,
        /// Most checkpoints returned.
        limit: usize,
    },
}

impl CheckpointQuery {
    /// The page size when the request names none.
    pub const DEFAULT_LIMIT: usize = 1000;
    /// The largest page.
    pub const MAX_LIMIT: usize = 10_000;

    /// The query of `req`; `from_id > to_id` is refused.
    pub fn of(req: &v1::ListCheckpointsRequest) -> Result<Self, ConvertError> {
        if req.latest_only {
            return Ok(Self::Latest);
        }
        let from = req.from_id.unwrap_or(0);
        let to = req.to_id.unwrap_or(u64::MAX);
        if from > to {
            return Err(ConvertError::Range {
                field: "from_id..to_id",
                start: from,
                end: to,
            });
        }
        let limit = match req.limit {
            0 => Self::DEFAULT_LIMIT,
            n => usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(Self::MAX_LIMIT),
        };
        Ok(Self::Range { from, to, limit })
    }
}

impl From<ConvertError> for tonic::Status {
    fn from(e: ConvertError) -> Self {
        with_fault(tonic::Status::invalid_argument(e.to_string()), e.fault(), 0)
    }
}

impl From<FaultClass> for v1::FaultClass {
    fn from(c: FaultClass) -> Self {
        match c {
            FaultClass::Peer => v1::FaultClass::Peer,
            FaultClass::Local => v1::FaultClass::Local,
            FaultClass::Fatal => v1::FaultClass::Fatal,
        }
    }
}

/// The fault class of a wire value; `None` for UNSPECIFIED (an old sender) or unknown values.
pub fn fault_class(v: i32) -> Option<FaultClass> {
    match v1::FaultClass::try_from(v).ok()? {
        v1::FaultClass::Peer => Some(FaultClass::Peer),
        v1::FaultClass::Local => Some(FaultClass::Local),
        v1::FaultClass::Fatal => Some(FaultClass::Fatal),
        v1::FaultClass::Unspecified => None,
    }
}

/// The gRPC code an error of class `class` is answered with when nothing more specific is
/// known: peer → INVALID_ARGUMENT, local → UNAVAILABLE, fatal → INTERNAL.
pub fn fault_code(class: FaultClass) -> tonic::Code {
    match class {
        FaultClass::Peer => tonic::Code::InvalidArgument,
        FaultClass::Local => tonic::Code::Unavailable,
        FaultClass::Fatal => tonic::Code::Internal,
    }
}

/// Binary metadata key of the [`v1::FaultDetail`] attached to an error status.
pub const FAULT_DETAIL_KEY: &str = "hypasis-fault-bin";

/// Attaches `class` (and a validation rule code, 0 for none) to `status` as a
/// [`v1::FaultDetail`] under [`FAULT_DETAIL_KEY`]; the code and message stay as they are.
pub fn with_fault(mut status: tonic::Status, class: FaultClass, rule: i32) -> tonic::Status {
    use prost::Message;
    let detail = v1::FaultDetail {
        fault_class: v1::FaultClass::from(class) as i32,
        rule,
    };
    status.metadata_mut().insert_bin(
        FAULT_DETAIL_KEY,
        tonic::metadata::MetadataValue::from_bytes(&detail.encode_to_vec()),
    );
    status
}

/// The [`v1::FaultDetail`] a server attached to `status`, if any (and it decodes).
pub fn fault_detail(status: &tonic::Status) -> Option<v1::FaultDetail> {
    use prost::Message;
    let bytes = status
        .metadata()
        .get_bin(FAULT_DETAIL_KEY)?
        .to_bytes()
        .ok()?;
    v1::FaultDetail::decode(bytes).ok()
}

/// The class of a failed call: the attached [`v1::FaultDetail`] when the server sent one,
/// else read from the code (a refusal of what was sent is the sender's fault: peer;
/// transport trouble is local; the rest is fatal).
pub fn status_fault(status: &tonic::Status) -> FaultClass {
    if let Some(c) = fault_detail(status).and_then(|d| fault_class(d.fault_class)) {
        return c;
    }
    use tonic::Code;
    match status.code() {
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::NotFound
        | Code::AlreadyExists => FaultClass::Peer,
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::Cancelled => FaultClass::Local,
        _ => FaultClass::Fatal,
    }
}

/// Parses a 32-byte hash field.
pub fn b256(field: &'static str, bytes: &[u8]) -> Result<B256, ConvertError> {
    if bytes.len() != 32 {
        return Err(ConvertError::Length {
            field,
            expected: 32,
            found: bytes.len(),
        });
    }
    Ok(B256::from_slice(bytes))
}

/// Parses a 20-byte address field.
pub fn address(field: &'static str, bytes: &[u8]) -> Result<Address, ConvertError> {
    if bytes.len() != 20 {
        return Err(ConvertError::Length {
            field,
            expected: 20,
            found: bytes.len(),
        });
    }
    Ok(Address::from_slice(bytes))
}

/// Wire range to domain range, refusing start > end.
pub fn range(field: &'static str, r: Option<&v1::BlockRange>) -> Result<Range, ConvertError> {
    let r = r.ok_or(ConvertError::Missing(field))?;
    Range::new(r.start, r.end).map_err(|_| ConvertError::Range {
        field,
        start: r.start,
        end: r.end,
    })
}

impl From<Range> for v1::BlockRange {
    fn from(r: Range) -> Self {
        Self {
            start: r.start,
            end: r.end,
        }
    }
}

impl From<&RawBlock> for v1::Block {
    fn from(b: &RawBlock) -> Self {
        Self {
            number: b.number,
            hash: b.hash.to_vec(),
            header: b.header.to_vec(),
            body: b.body.to_vec(),
            receipts: b.receipts.to_vec(),
        }
    }
}

impl From<RawBlock> for v1::Block {
    fn from(b: RawBlock) -> Self {
        (&b).into()
    }
}

impl TryFrom<v1::Block> for RawBlock {
    type Error = ConvertError;
    fn try_from(b: v1::Block) -> Result<Self, ConvertError> {
        Ok(RawBlock {
            number: b.number,
            hash: b256("block.hash", &b.hash)?,
            header: Bytes::from(b.header),
            body: Bytes::from(b.body),
            receipts: Bytes::from(b.receipts),
        })
    }
}

impl From<VerificationLevel> for v1::VerificationLevel {
    fn from(l: VerificationLevel) -> Self {
        match l {
            VerificationLevel::Linked => Self::Linked,
            VerificationLevel::CheckpointRoot => Self::CheckpointRoot,
            VerificationLevel::Accumulator => Self::Accumulator,
        }
    }
}

/// Wire verification level to domain, refusing unspecified/unknown values.
pub fn verification_level(
    field: &'static str,
    value: i32,
) -> Result<VerificationLevel, ConvertError> {
    match v1::VerificationLevel::try_from(value) {
        Ok(v1::VerificationLevel::Linked) => Ok(VerificationLevel::Linked),
        Ok(v1::VerificationLevel::CheckpointRoot) => Ok(VerificationLevel::CheckpointRoot),
        Ok(v1::VerificationLevel::Accumulator) => Ok(VerificationLevel::Accumulator),
        _ => Err(ConvertError::Enum { field, value }),
    }
}

impl From<CheckpointSource> for v1::CheckpointSource {
    fn from(s: CheckpointSource) -> Self {
        match s {
            CheckpointSource::L1RootChain => Self::L1RootChain,
            CheckpointSource::Heimdall => Self::Heimdall,
            CheckpointSource::Beacon => Self::Beacon,
            CheckpointSource::Static => Self::Static,
        }
    }
}

/// Wire checkpoint source to domain.
pub fn checkpoint_source(
    field: &'static str,
    value: i32,
) -> Result<CheckpointSource, ConvertError> {
    match v1::CheckpointSource::try_from(value) {
        Ok(v1::CheckpointSource::L1RootChain) => Ok(CheckpointSource::L1RootChain),
        Ok(v1::CheckpointSource::Heimdall) => Ok(CheckpointSource::Heimdall),
        Ok(v1::CheckpointSource::Beacon) => Ok(CheckpointSource::Beacon),
        Ok(v1::CheckpointSource::Static) => Ok(CheckpointSource::Static),
        _ => Err(ConvertError::Enum { field, value }),
    }
}

impl From<&Checkpoint> for v1::Checkpoint {
    fn from(c: &Checkpoint) -> Self {
        Self {
            source: v1::CheckpointSource::from(c.source) as i32,
            id: c.id,
            range: Some(c.range.into()),
            root_hash: if c.root.is_zero() {
                Vec::new()
            } else {
                c.root.to_vec()
            },
            end_block_hash: c.end_block_hash.map(|h| h.to_vec()),
            l1_tx_hash: c.l1_tx_hash.map(|h| h.to_vec()),
            l1_block: c.l1_block,
            proposer: c.proposer.map(|a| a.to_vec()),
            created_at: c.created_at.map(|s| prost_types::Timestamp {
                seconds: i64::try_from(s).unwrap_or(i64::MAX),
                nanos: 0,
            }),
            verified_by: c
                .verified_by
                .iter()
                .map(|s| v1::CheckpointSource::from(*s) as i32)
                .collect(),
        }
    }
}

impl TryFrom<v1::Checkpoint> for Checkpoint {
    type Error = ConvertError;
    fn try_from(c: v1::Checkpoint) -> Result<Self, ConvertError> {
        Ok(Checkpoint {
            source: checkpoint_source("checkpoint.source", c.source)?,
            id: c.id,
            range: range("checkpoint.range", c.range.as_ref())?,
            root: if c.root_hash.is_empty() {
                B256::ZERO
            } else {
                b256("checkpoint.root_hash", &c.root_hash)?
            },
            end_block_hash: c
                .end_block_hash
                .map(|h| b256("checkpoint.end_block_hash", &h))
                .transpose()?,
            l1_tx_hash: c
                .l1_tx_hash
                .map(|h| b256("checkpoint.l1_tx_hash", &h))
                .transpose()?,
            l1_block: c.l1_block,
            proposer: c
                .proposer
                .map(|a| address("checkpoint.proposer", &a))
                .transpose()?,
            created_at: c.created_at.map(|t| u64::try_from(t.seconds).unwrap_or(0)),
            verified_by: c
                .verified_by
                .into_iter()
                .map(|s| checkpoint_source("checkpoint.verified_by", s))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_queries_default_cap_and_refuse_inverted_ranges() {
        let q = |from_id, to_id, limit, latest_only| {
            CheckpointQuery::of(&v1::ListCheckpointsRequest {
                from_id,
                to_id,
                limit,
                latest_only,
            })
        };
        assert_eq!(q(None, None, 0, true).unwrap(), CheckpointQuery::Latest);
        assert_eq!(
            q(None, None, 0, false).unwrap(),
            CheckpointQuery::Range {
                from: 0,
                to: u64::MAX,
                limit: CheckpointQuery::DEFAULT_LIMIT
            }
        );
        assert_eq!(
            q(Some(5), Some(9), 1_000_000, false).unwrap(),
            CheckpointQuery::Range {
                from: 5,
                to: 9,
                limit: CheckpointQuery::MAX_LIMIT
            }
        );
        let err = q(Some(9), Some(5), 0, false).unwrap_err();
        assert_eq!(
            tonic::Status::from(err).code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn checkpoint_round_trip() {
        let cp = Checkpoint {
            source: CheckpointSource::Heimdall,
            id: 9693,
            range: Range::new(100, 1379).unwrap(),
            root: B256::repeat_byte(7),
            end_block_hash: Some(B256::repeat_byte(8)),
            l1_tx_hash: None,
            l1_block: Some(5),
            proposer: Some(Address::repeat_byte(1)),
            created_at: Some(1_700_000_000),
            verified_by: vec![CheckpointSource::Heimdall, CheckpointSource::L1RootChain],
        };
        let wire = v1::Checkpoint::from(&cp);
        assert_eq!(Checkpoint::try_from(wire).unwrap(), cp);
    }

    #[test]
    fn bad_wire_values_refused() {
        assert_eq!(
            range("r", Some(&v1::BlockRange { start: 5, end: 4 })),
            Err(ConvertError::Range {
                field: "r",
                start: 5,
                end: 4
            })
        );
        assert!(matches!(
            b256("h", &[0u8; 31]),
            Err(ConvertError::Length {
                expected: 32,
                found: 31,
                ..
            })
        ));
        assert!(verification_level("l", 0).is_err());
        assert!(verification_level("l", 99).is_err());
        let block = v1::Block {
            hash: vec![1, 2],
            ..Default::default()
        };
        assert!(RawBlock::try_from(block).is_err());
    }

    #[test]
    fn fault_class_round_trip() {
        for c in [FaultClass::Peer, FaultClass::Local, FaultClass::Fatal] {
            assert_eq!(fault_class(v1::FaultClass::from(c) as i32), Some(c));
        }
        assert_eq!(fault_class(0), None);
        assert_eq!(fault_class(99), None);
    }

    #[test]
    fn status_carries_the_fault() {
        // A detail overrides what the code alone would say.
        let s = with_fault(tonic::Status::unavailable("x"), FaultClass::Fatal, 36);
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert_eq!(status_fault(&s), FaultClass::Fatal);
        let d = fault_detail(&s).unwrap();
        assert_eq!(d.rule, 36);
        assert_eq!(d.fault_class(), v1::FaultClass::Fatal);
        // Without a detail the code decides.
        assert_eq!(
            status_fault(&tonic::Status::unavailable("x")),
            FaultClass::Local
        );
        assert_eq!(
            status_fault(&tonic::Status::data_loss("x")),
            FaultClass::Fatal
        );
        assert_eq!(
            status_fault(&tonic::Status::failed_precondition("x")),
            FaultClass::Peer
        );
        let conv: tonic::Status = ConvertError::Missing("range").into();
        assert_eq!(conv.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            fault_detail(&conv).unwrap().fault_class(),
            v1::FaultClass::Peer
        );
        for c in [FaultClass::Peer, FaultClass::Local, FaultClass::Fatal] {
            assert_eq!(
                status_fault(&tonic::Status::new(fault_code(c), "x")),
                c,
                "{c}"
            );
        }
    }
}
