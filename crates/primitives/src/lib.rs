//! Shared primitive types of Hypasis Sync.
//!
//! - [`RawBlock`]: a block as it travels and is stored — canonical RLP of header, body and
//!   receipts plus its number and hash, never re-encoded.
//! - [`Checkpoint`], [`CheckpointSource`]: trusted anchors.
//! - [`VerificationLevel`]: how well a stored range is verified.
//! - [`Fault`], [`FaultClass`]: the one fault vocabulary (peer / local / fatal) of every error.
//! - [`chain`]: chain specs (`mainnet`, `sepolia`, `polygon`, `amoy`, `devnet`, or a geth-format
//!   `genesis.json`).

pub mod block;
pub mod chain;
pub mod checkpoint;
pub mod fault;
pub mod rlp;

pub use alloy_primitives::{Address, B256, Bytes, keccak256};
pub use block::{BlockIntegrityError, RawBlock};
pub use chain::{
    ChainSpec, ChainSpecError, ConsensusKind, ForkCondition, Hardfork, StateSyncReceipts,
};
pub use checkpoint::{Checkpoint, CheckpointSource, VerificationLevel};
pub use fault::{Fault, FaultClass};
pub use hypasis_gaps::{Range as BlockRange, RangeSet};
