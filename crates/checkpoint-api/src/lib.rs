//! The seam between the checkpoint service and what it anchors: a [`TrustedBlock`] is a block
//! trusted by number and hash, the **trusted head** is the newest one, and an [`AnchorStream`]
//! hands it out; a [`CheckpointFeed`] hands out the accepted checkpoints (Polygon ranges with
//! their roots). Both are implemented in process by `hypasis_checkpoint::service::Hub` and
//! over gRPC by `hypasis_checkpoint::client::GrpcAnchors` (`CheckpointService.TrustedHead`,
//! `WatchTrustedHead`, `List`). Anchors and checkpoints reach the scheduler and standalone only
//! this way, after the checkpoint service's cross-check, never from a source read directly.

use alloy_primitives::B256;
use hypasis_primitives::{Checkpoint, Fault, FaultClass};
use hypasis_proto::v1;
use std::fmt;

/// Where a trusted block comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrustOrigin {
    /// A Heimdall milestone (Bor's fast finality), agreed by every Heimdall source.
    Milestone,
    /// An accepted block anchor: a finalized beacon execution block or a configured block hash.
    BlockAnchor,
}

impl TrustOrigin {
    /// Lower-case name for logs and status.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Milestone => "milestone",
            Self::BlockAnchor => "block-anchor",
        }
    }

    /// Wire value.
    pub fn to_proto(self) -> v1::TrustOrigin {
        match self {
            Self::Milestone => v1::TrustOrigin::Milestone,
            Self::BlockAnchor => v1::TrustOrigin::BlockAnchor,
        }
    }
}

/// A block trusted by number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedBlock {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Where the trust comes from.
    pub origin: TrustOrigin,
    /// The source's own name for it (a milestone id, a checkpoint id), when it has one.
    pub label: Option<String>,
}

impl fmt::Display for TrustedBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.origin.name(), self.number)?;
        if let Some(l) = &self.label {
            write!(f, " ({l})")?;
        }
        write!(f, " = {}", self.hash)
    }
}

impl From<&TrustedBlock> for v1::TrustedBlock {
    fn from(b: &TrustedBlock) -> Self {
        Self {
            number: b.number,
            hash: b.hash.to_vec(),
            origin: b.origin.to_proto().into(),
            label: b.label.clone().unwrap_or_default(),
        }
    }
}

impl TryFrom<v1::TrustedBlock> for TrustedBlock {
    type Error = AnchorError;

    fn try_from(m: v1::TrustedBlock) -> Result<Self, AnchorError> {
        let hash = <[u8; 32]>::try_from(m.hash.as_slice())
            .map(B256::from)
            .map_err(|_| AnchorError::Invalid("the hash is not 32 bytes"))?;
        let origin = match v1::TrustOrigin::try_from(m.origin) {
            Ok(v1::TrustOrigin::Milestone) => TrustOrigin::Milestone,
            Ok(v1::TrustOrigin::BlockAnchor) => TrustOrigin::BlockAnchor,
            Ok(v1::TrustOrigin::Unspecified) | Err(_) => {
                return Err(AnchorError::Invalid("the origin is unspecified or unknown"));
            }
        };
        Ok(Self {
            number: m.number,
            hash,
            origin,
            label: (!m.label.is_empty()).then_some(m.label),
        })
    }
}

/// Why the trusted head could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// The checkpoint service could not be reached or answered with an error: retry.
    #[error("the checkpoint service is unavailable: {0}")]
    Unavailable(String),
    /// The checkpoint service sent a trusted block that does not decode: it speaks another
    /// version of the API, retrying cannot help.
    #[error("the checkpoint service sent an invalid trusted block: {0}")]
    Invalid(&'static str),
    /// The stream ended (the checkpoint service is shutting down): retry.
    #[error("the checkpoint service ended the trusted-head stream")]
    Closed,
}

impl Fault for AnchorError {
    fn fault(&self) -> FaultClass {
        match self {
            Self::Unavailable(_) | Self::Closed => FaultClass::Local,
            Self::Invalid(_) => FaultClass::Fatal,
        }
    }
}

/// Hands out the trusted head.
#[async_trait::async_trait]
pub trait AnchorStream: Send + Sync + fmt::Debug {
    /// The trusted head now, if there is one yet.
    async fn trusted_head(&self) -> Result<Option<TrustedBlock>, AnchorError>;

    /// Waits until the trusted head is above `after` (any head when `None`) and returns it.
    async fn wait_above(&self, after: Option<u64>) -> Result<TrustedBlock, AnchorError>;
}

/// Hands out the checkpoints the checkpoint service accepted, ascending by id.
#[async_trait::async_trait]
pub trait CheckpointFeed: Send + Sync + fmt::Debug {
    /// Accepted checkpoints with id `from_id` or above, ascending, at most `limit`.
    async fn accepted(&self, from_id: u64, limit: usize) -> Result<Vec<Checkpoint>, AnchorError>;
}

/// A fixed set of checkpoints: none (a deployment anchored on a block hash alone), or those a
/// configuration or a test gives.
#[derive(Debug, Clone, Default)]
pub struct FixedCheckpoints(pub Vec<Checkpoint>);

#[async_trait::async_trait]
impl CheckpointFeed for FixedCheckpoints {
    async fn accepted(&self, from_id: u64, limit: usize) -> Result<Vec<Checkpoint>, AnchorError> {
        let mut out: Vec<Checkpoint> = self.0.iter().filter(|c| c.id >= from_id).cloned().collect();
        out.sort_by_key(|c| c.id);
        out.truncate(limit);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_blocks_round_trip_and_garbage_is_refused() {
        let b = TrustedBlock {
            number: 42,
            hash: B256::repeat_byte(7),
            origin: TrustOrigin::Milestone,
            label: Some("m-9".into()),
        };
        let wire = v1::TrustedBlock::from(&b);
        assert_eq!(TrustedBlock::try_from(wire.clone()).unwrap(), b);
        assert_eq!(b.to_string(), format!("milestone 42 (m-9) = {}", b.hash));

        let short = v1::TrustedBlock {
            hash: vec![1; 31],
            ..wire.clone()
        };
        let err = TrustedBlock::try_from(short).unwrap_err();
        assert_eq!(err, AnchorError::Invalid("the hash is not 32 bytes"));
        assert_eq!(err.fault(), FaultClass::Fatal);
        let unknown = v1::TrustedBlock {
            origin: 99,
            ..wire.clone()
        };
        assert!(TrustedBlock::try_from(unknown).is_err());
        let unspecified = v1::TrustedBlock { origin: 0, ..wire };
        assert!(TrustedBlock::try_from(unspecified).is_err());
        assert_eq!(AnchorError::Closed.fault(), FaultClass::Local);
    }
}
