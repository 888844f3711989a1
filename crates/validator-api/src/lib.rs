//! The seam between the fetcher and whatever validates its units: a [`RangeRequest`] (the
//! downloaded blocks and what they link to), the level the range reached, and a typed
//! [`ValidateError`] naming the block, the [`Rule`] and its [`FaultClass`]. Implementations:
//! in process, `hypasis_validator::LocalValidator` (the validation library on a blocking
//! thread); over gRPC, `hypasis_validator::client::GrpcValidator` (`Validator.ValidateRange`).
//! The fetcher depends on this crate, not on either.

use alloy_primitives::B256;
use hypasis_primitives::{Checkpoint, Fault, FaultClass, RawBlock, VerificationLevel};
pub use hypasis_validation::{Rule, SealedHeader};

/// The trusted parent of a range's first block.
#[derive(Debug, Clone)]
pub struct TrustedParent {
    /// Its hash (the first block must name it).
    pub hash: B256,
    /// Its header, when stored: lets the parent-dependent rules (gas limit, base fee,
    /// timestamp) check the first block too.
    pub header: Option<SealedHeader>,
}

/// A range to validate and what it is anchored by.
#[derive(Debug, Clone, Copy)]
pub struct RangeRequest<'a> {
    /// The blocks, consecutive and ascending.
    pub blocks: &'a [RawBlock],
    /// The trusted parent of the first block (forward linkage).
    pub parent: Option<&'a TrustedParent>,
    /// The trusted hash of the last block (backward linkage).
    pub trusted_end: Option<B256>,
    /// Accepted checkpoints inside the range (Polygon roots).
    pub checkpoints: &'a [Checkpoint],
}

impl RangeRequest<'_> {
    /// The first and last block numbers; an empty range is refused.
    pub fn bounds(&self) -> Result<(u64, u64), ValidateError> {
        match (self.blocks.first(), self.blocks.last()) {
            (Some(first), Some(last)) => Ok((first.number, last.number)),
            _ => Err(ValidateError::Protocol("an empty range")),
        }
    }
}

/// Why a range did not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    /// Block `number` broke `rule`. `class` says whose fault: the data's (peer: score who
    /// sent it, refetch elsewhere), or ours (local: an anchor that could not be applied; fatal).
    #[error("block {number}: {rule}: {message}", rule = rule.as_str())]
    Broken {
        /// The block at fault.
        number: u64,
        /// The rule.
        rule: Rule,
        /// What is wrong.
        message: String,
        /// Whose fault.
        class: FaultClass,
    },
    /// The validator could not be asked or failed (service unreachable, task died): retry.
    #[error("the validator is unavailable: {0}")]
    Unavailable(String),
    /// The validator answered outside its protocol (a verdict without a rule, no verdict).
    #[error("the validator broke its protocol: {0}")]
    Protocol(&'static str),
}

impl ValidateError {
    /// Whether the data is at fault (the peer that sent block [`ValidateError::Broken`]'s
    /// `number` is to blame).
    pub fn is_peer_fault(&self) -> bool {
        self.fault() == FaultClass::Peer
    }
}

impl Fault for ValidateError {
    fn fault(&self) -> FaultClass {
        match self {
            Self::Broken { class, .. } => *class,
            Self::Unavailable(_) | Self::Protocol(_) => FaultClass::Local,
        }
    }
}

/// Validates ranges.
#[async_trait::async_trait]
pub trait RangeValidator: Send + Sync + std::fmt::Debug {
    /// Checks `request` against the chain's rules and its anchors. `Ok(Some(level))`: every
    /// block passes and the whole range reached at least `level`; `Ok(None)`: every block
    /// passes but no anchor raised (all of) the range — the caller decides whether its own
    /// link makes it `linked`.
    async fn validate(
        &self,
        request: RangeRequest<'_>,
    ) -> Result<Option<VerificationLevel>, ValidateError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_say_their_rule_and_class() {
        let e = ValidateError::Broken {
            number: 7,
            rule: Rule::ParentHash,
            message: "wrong parent".into(),
            class: FaultClass::Peer,
        };
        assert_eq!(e.to_string(), "block 7: parent-hash: wrong parent");
        assert!(e.is_peer_fault());
        assert_eq!(
            ValidateError::Unavailable("down".into()).fault(),
            FaultClass::Local
        );
        assert_eq!(
            ValidateError::Protocol("no verdict").fault(),
            FaultClass::Local
        );
    }
}
