//! Trusted anchors and verification levels.

use alloy_primitives::{Address, B256};
use hypasis_gaps::Range;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a checkpoint came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointSource {
    /// The Polygon RootChain contract on Ethereum L1.
    L1RootChain,
    /// A Heimdall REST endpoint.
    Heimdall,
    /// An Ethereum beacon node, verified with the light-client protocol.
    Beacon,
    /// Static configuration (flags or a checkpoint file).
    Static,
}

impl fmt::Display for CheckpointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::L1RootChain => "l1-root-chain",
            Self::Heimdall => "heimdall",
            Self::Beacon => "beacon",
            Self::Static => "static",
        })
    }
}

/// A trusted anchor over a block range.
///
/// For Polygon, `range` and `root` are a Heimdall checkpoint (Merkle root over the range's
/// headers); for Ethereum, a finalized block is a checkpoint whose range is one block and whose
/// `end_block_hash` is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The source this record was first read from.
    pub source: CheckpointSource,
    /// Checkpoint number as Heimdall counts it (L1 header-block id ÷ 10,000); for other anchors
    /// a monotonically increasing number.
    pub id: u64,
    /// Blocks covered, inclusive.
    pub range: Range,
    /// Merkle root over the range (Polygon); zero when the anchor is a block hash only.
    pub root: B256,
    /// Hash of `range.end`, when known.
    pub end_block_hash: Option<B256>,
    /// L1 transaction that submitted the checkpoint, when known.
    pub l1_tx_hash: Option<B256>,
    /// L1 block containing that transaction, when known.
    pub l1_block: Option<u64>,
    /// Proposer of the checkpoint, when known.
    pub proposer: Option<Address>,
    /// Unix seconds the checkpoint was created, when known.
    pub created_at: Option<u64>,
    /// Sources that agreed on this record.
    pub verified_by: Vec<CheckpointSource>,
}

impl Checkpoint {
    /// A checkpoint known only by its range and root (no end hash, L1 or proposer details).
    pub fn new(source: CheckpointSource, id: u64, range: Range, root: B256) -> Self {
        Self {
            source,
            id,
            range,
            root,
            end_block_hash: None,
            l1_tx_hash: None,
            l1_block: None,
            proposer: None,
            created_at: None,
            verified_by: Vec::new(),
        }
    }
}

/// How well a stored range is verified, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerificationLevel {
    /// Hash-linked to a trusted block (checkpoint end block, milestone, finalized beacon block).
    Linked,
    /// Hash-linked and matching a Polygon checkpoint root.
    CheckpointRoot,
    /// Hash-linked and matching the pre-merge historical accumulator.
    Accumulator,
}

impl VerificationLevel {
    /// All levels, weakest first.
    pub const ALL: [VerificationLevel; 3] = [Self::Linked, Self::CheckpointRoot, Self::Accumulator];

    /// Stable one-byte code used by storage backends.
    pub fn code(self) -> u8 {
        match self {
            Self::Linked => 1,
            Self::CheckpointRoot => 2,
            Self::Accumulator => 3,
        }
    }

    /// Inverse of [`Self::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code() == code)
    }

    /// Stable name as printed on command lines and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Linked => "linked",
            Self::CheckpointRoot => "checkpoint-root",
            Self::Accumulator => "accumulator",
        }
    }
}

impl fmt::Display for VerificationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
