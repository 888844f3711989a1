//! Validation of headers, bodies and receipts against the chain rules and trusted anchors.
//!
//! Nothing unverified may be stored: fetchers run every downloaded range through
//! [`Validator::validate_range`] and store it with the [`VerificationLevel`] it reached.
//!
//! - [`header`]: header rules per fork, Frontier → Prague (and Osaka's blob rules), and Bor's;
//! - [`body`], [`receipts`]: transactions root, ommers, withdrawals, receipts root (consensus
//!   and eth/69 slim receipts), logs bloom, cumulative gas, counts; Bor's state-sync receipts
//!   per era (set aside before Madhugiri, part of the root after);
//! - [`bor`]: Bor extra-data layout (and Giugliano's `GasTarget` / `BaseFeeChangeDenominator`),
//!   seal hash and signer recovery;
//! - [`gas`]: gas limit, EIP-1559 base fee (Ethereum and Bor parameters), blob gas;
//! - [`checkpoint`]: Polygon checkpoint roots (Bor's `GetRootHash`);
//! - [`accumulator`]: the pre-merge historical accumulator (EIP-7643), embedded for mainnet;
//! - [`range`]: a contiguous range against the anchors, with the level each block reaches;
//! - [`input`]: `chain.rlp` / `receipts.rlp` / `headers.rlp` / era1 inputs.
//!
//! Every rule has its own [`ValidationError`] variant naming the block, the rule, and the
//! expected and found values; [`ValidationError::is_peer_fault`] classifies it.
//!
//! Not covered (documented limits): proof-of-work seals (ethash) and the ethash difficulty
//! formula — pre-merge history is anchored by hash linkage and the accumulator instead; Bor's
//! in-turn difficulty and span producer checks (they need Heimdall spans); Clique seals;
//! execution (state root, requests hash value, gas of individual transactions).

pub mod accumulator;
pub mod body;
pub mod bor;
pub mod checkpoint;
pub mod error;
pub mod gas;
pub mod header;
pub mod input;
pub mod range;
pub mod receipts;
mod rlp;

pub use accumulator::{EpochRecord, HistoricalAccumulator};
pub use checkpoint::{CheckpointAnchor, checkpoint_root};
pub use error::{DecodeError, ErrorDetails, HeaderField, Rule, ValidationError};
pub use header::SealedHeader;
pub use hypasis_primitives::VerificationLevel;
pub use range::{Anchors, BlockData, CheckedBlock, LevelRange, RangeReport, Validator};
pub use rlp::split_concatenated;
