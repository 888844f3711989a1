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

/// A trusted head an operator gives (`--trusted-head NUMBER:HASH`): always the same block.
#[derive(Debug, Clone)]
pub struct FixedHead(pub TrustedBlock);

impl FixedHead {
    /// The operator's block `number` with `hash`.
    pub fn new(number: u64, hash: B256) -> Self {
        Self(TrustedBlock {
            number,
            hash,
            origin: TrustOrigin::BlockAnchor,
            label: Some("--trusted-head".into()),
        })
    }
}

#[async_trait::async_trait]
impl AnchorStream for FixedHead {
    async fn trusted_head(&self) -> Result<Option<TrustedBlock>, AnchorError> {
        Ok(Some(self.0.clone()))
    }

    async fn wait_above(&self, after: Option<u64>) -> Result<TrustedBlock, AnchorError> {
        if after.is_none_or(|a| self.0.number > a) {
            return Ok(self.0.clone());
        }
        // A fixed head never rises.
        std::future::pending().await
    }
}

/// The highest of several trusted heads (the checkpoint service's beside an operator's): a
/// source that fails is passed over while another answers.
#[derive(Debug)]
pub struct HighestHead(pub Vec<std::sync::Arc<dyn AnchorStream>>);

#[async_trait::async_trait]
impl AnchorStream for HighestHead {
    async fn trusted_head(&self) -> Result<Option<TrustedBlock>, AnchorError> {
        let mut best: Option<TrustedBlock> = None;
        let mut failure = None;
        for source in &self.0 {
            match source.trusted_head().await {
                Ok(Some(b)) if best.as_ref().is_none_or(|x| b.number > x.number) => best = Some(b),
                Ok(_) => {}
                Err(e) => failure = Some(e),
            }
        }
        match (best, failure) {
            (Some(b), _) => Ok(Some(b)),
            (None, Some(e)) => Err(e),
            (None, None) => Ok(None),
        }
    }

    async fn wait_above(&self, after: Option<u64>) -> Result<TrustedBlock, AnchorError> {
        let waits = self.0.iter().map(|s| s.wait_above(after));
        let mut pending: Vec<_> = waits.collect();
        if pending.is_empty() {
            return std::future::pending().await;
        }
        // The first head any source gives above `after`.
        loop {
            let (result, _, rest) = futures::future::select_all(pending).await;
            match result {
                Ok(b) => return Ok(b),
                Err(e) if rest.is_empty() => return Err(e),
                Err(_) => pending = rest,
            }
        }
    }
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

    /// A source that always fails.
    #[derive(Debug)]
    struct Down;

    #[async_trait::async_trait]
    impl AnchorStream for Down {
        async fn trusted_head(&self) -> Result<Option<TrustedBlock>, AnchorError> {
            Err(AnchorError::Unavailable("down".into()))
        }
        async fn wait_above(&self, _: Option<u64>) -> Result<TrustedBlock, AnchorError> {
            Err(AnchorError::Unavailable("down".into()))
        }
    }

    #[test]
    fn the_highest_head_wins_and_a_failing_source_is_passed_over() {
        use futures::executor::block_on;
        use std::sync::Arc;
        let low = FixedHead::new(100, B256::repeat_byte(1));
        let high = FixedHead::new(200, B256::repeat_byte(2));
        assert_eq!(block_on(low.trusted_head()).unwrap().unwrap().number, 100);
        assert_eq!(block_on(low.wait_above(Some(99))).unwrap().number, 100);
        assert_eq!(
            block_on(low.trusted_head())
                .unwrap()
                .unwrap()
                .label
                .as_deref(),
            Some("--trusted-head")
        );
        let both = HighestHead(vec![Arc::new(low.clone()), Arc::new(Down), Arc::new(high)]);
        assert_eq!(block_on(both.trusted_head()).unwrap().unwrap().number, 200);
        assert_eq!(block_on(both.wait_above(Some(150))).unwrap().number, 200);
        let down = HighestHead(vec![Arc::new(Down)]);
        assert!(block_on(down.trusted_head()).is_err());
        assert!(block_on(down.wait_above(None)).is_err());
        assert!(
            block_on(HighestHead(vec![]).trusted_head())
                .unwrap()
                .is_none()
        );
    }

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
