//! One typed error per validation rule.
//!
//! Every variant names the block (or range) it is about, the rule, and the expected and found
//! values. [`ValidationError::is_peer_fault`] tells whether the data itself is wrong (ban the
//! peer that sent it, refetch elsewhere) or the caller could not supply what a rule needs
//! (missing anchor data, an unsupported fork): those are not the sender's fault.

use alloy_primitives::{Address, B256, Bloom, U256};
use hypasis_primitives::Hardfork;
use std::fmt;

/// A header field whose presence depends on the fork.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderField {
    /// `baseFeePerGas` (London, EIP-1559).
    BaseFee,
    /// `withdrawalsRoot` (Shanghai, EIP-4895).
    WithdrawalsRoot,
    /// `blobGasUsed` (Cancun, EIP-4844).
    BlobGasUsed,
    /// `excessBlobGas` (Cancun, EIP-4844).
    ExcessBlobGas,
    /// `parentBeaconBlockRoot` (Cancun, EIP-4788).
    ParentBeaconBlockRoot,
    /// `requestsHash` (Prague, EIP-7685).
    RequestsHash,
    /// The withdrawals list of the body (Shanghai).
    BodyWithdrawals,
}

impl HeaderField {
    /// The field's JSON-RPC name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::BaseFee => "baseFeePerGas",
            Self::WithdrawalsRoot => "withdrawalsRoot",
            Self::BlobGasUsed => "blobGasUsed",
            Self::ExcessBlobGas => "excessBlobGas",
            Self::ParentBeaconBlockRoot => "parentBeaconBlockRoot",
            Self::RequestsHash => "requestsHash",
            Self::BodyWithdrawals => "body.withdrawals",
        }
    }
}

impl fmt::Display for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a block, or a range of blocks, failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    // ---------------------------------------------------------------- encodings
    /// The header is not canonical RLP of a header.
    #[error("block {number}: malformed header: {reason}")]
    MalformedHeader {
        /// Block number (claimed or positional).
        number: u64,
        /// Decoder message.
        reason: String,
    },
    /// The body is not `rlp([txs, ommers(, withdrawals)])`.
    #[error("block {number}: malformed body: {reason}")]
    MalformedBody {
        /// Block number.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// The receipt list is malformed.
    #[error("block {number}: malformed receipts: {reason}")]
    MalformedReceipts {
        /// Block number.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// `keccak256(header)` differs from the hash the block was delivered under.
    #[error("block {number}: header hash: expected {expected}, found {found}")]
    HashMismatch {
        /// Block number.
        number: u64,
        /// The claimed hash.
        expected: B256,
        /// `keccak256(header)`.
        found: B256,
    },
    /// The header's number differs from the number the block was delivered under.
    #[error("block {number}: header number: expected {number}, found {found}")]
    NumberMismatch {
        /// Claimed number.
        number: u64,
        /// Number in the header.
        found: u64,
    },

    // ---------------------------------------------------------------- header, standalone
    /// Extra-data longer than 32 bytes (Ethereum).
    #[error("block {number}: extra-data length: expected at most {max} bytes, found {found}")]
    ExtraDataTooLong {
        /// Block number.
        number: u64,
        /// Limit.
        max: usize,
        /// Actual length.
        found: usize,
    },
    /// The DAO fork blocks must carry `dao-hard-fork` as extra-data.
    #[error(
        "block {number}: DAO fork extra-data: expected 0x{}, found 0x{}",
        hex(expected),
        hex(found)
    )]
    DaoExtraData {
        /// Block number.
        number: u64,
        /// `dao-hard-fork`.
        expected: Vec<u8>,
        /// Actual extra-data.
        found: Vec<u8>,
    },
    /// Gas limit above 2^63 − 1.
    #[error("block {number}: gas limit: expected at most {max}, found {found}")]
    GasLimitTooHigh {
        /// Block number.
        number: u64,
        /// Limit.
        max: u64,
        /// Header gas limit.
        found: u64,
    },
    /// Gas limit below the 5000 minimum.
    #[error("block {number}: gas limit: expected at least {min}, found {found}")]
    GasLimitTooLow {
        /// Block number.
        number: u64,
        /// Minimum.
        min: u64,
        /// Header gas limit.
        found: u64,
    },
    /// Gas used above the gas limit.
    #[error("block {number}: gas used: expected at most the gas limit {limit}, found {found}")]
    GasUsedExceedsLimit {
        /// Block number.
        number: u64,
        /// Header gas limit.
        limit: u64,
        /// Header gas used.
        found: u64,
    },
    /// A fork-dependent field is missing.
    #[error("block {number}: {field}: expected present (from {fork}), found absent")]
    MissingField {
        /// Block number.
        number: u64,
        /// The field.
        field: HeaderField,
        /// The fork that introduced it.
        fork: Hardfork,
    },
    /// A fork-dependent field is present before its fork (or on a chain that never has it).
    #[error("block {number}: {field}: expected absent{}, found present", fork.map(|f| format!(" (before {f})")).unwrap_or_default())]
    UnexpectedField {
        /// Block number.
        number: u64,
        /// The field.
        field: HeaderField,
        /// The fork that introduces it, if the chain has it at all.
        fork: Option<Hardfork>,
    },
    /// Proof-of-stake header with non-zero difficulty.
    #[error("block {number}: post-merge difficulty: expected 0, found {found}")]
    PostMergeDifficulty {
        /// Block number.
        number: u64,
        /// Header difficulty.
        found: U256,
    },
    /// Proof-of-stake header with non-zero nonce.
    #[error("block {number}: post-merge nonce: expected 0, found {found}")]
    PostMergeNonce {
        /// Block number.
        number: u64,
        /// Header nonce.
        found: u64,
    },
    /// Proof-of-stake (or Bor) header with a non-empty ommers hash.
    #[error("block {number}: ommers hash: expected the empty-list hash {expected}, found {found}")]
    OmmersNotEmpty {
        /// Block number.
        number: u64,
        /// `keccak256(rlp([]))`.
        expected: B256,
        /// Header ommers hash.
        found: B256,
    },
    /// Proof-of-work header with zero difficulty.
    #[error("block {number}: proof-of-work difficulty: expected non-zero, found 0")]
    PowDifficultyZero {
        /// Block number.
        number: u64,
    },
    /// `blobGasUsed` above the fork's maximum.
    #[error("block {number}: blob gas used: expected at most {max}, found {found}")]
    BlobGasUsedTooHigh {
        /// Block number.
        number: u64,
        /// Maximum blob gas per block.
        max: u64,
        /// Header value.
        found: u64,
    },
    /// `blobGasUsed` not a multiple of the gas per blob.
    #[error("block {number}: blob gas used: expected a multiple of {per_blob}, found {found}")]
    BlobGasUsedNotMultiple {
        /// Block number.
        number: u64,
        /// Gas per blob (131072).
        per_blob: u64,
        /// Header value.
        found: u64,
    },

    // ---------------------------------------------------------------- header vs parent
    /// The parent hash does not match the previous block's hash.
    #[error("block {number}: parent hash: expected {expected}, found {found}")]
    ParentHash {
        /// Block number.
        number: u64,
        /// Hash of the previous block.
        expected: B256,
        /// The header's parent hash.
        found: B256,
    },
    /// The number is not the parent's plus one.
    #[error("block {number}: number continuity: expected {expected}, found {number}")]
    NumberContinuity {
        /// Header number.
        number: u64,
        /// Parent number + 1.
        expected: u64,
    },
    /// The timestamp does not increase (Ethereum) or not by the block period (Bor).
    #[error("block {number}: timestamp: expected at least {min}, found {found}")]
    Timestamp {
        /// Block number.
        number: u64,
        /// Smallest acceptable timestamp.
        min: u64,
        /// Header timestamp.
        found: u64,
    },
    /// The gas limit moved by parent/1024 or more.
    #[error("block {number}: gas limit change: expected |{found} - {parent}| < {bound}, found a change of {}", found.abs_diff(*parent))]
    GasLimitChange {
        /// Block number.
        number: u64,
        /// Parent gas limit (doubled at the London fork block).
        parent: u64,
        /// `parent / 1024`.
        bound: u64,
        /// Header gas limit.
        found: u64,
    },
    /// The base fee differs from the EIP-1559 value computed from the parent.
    #[error("block {number}: base fee: expected {expected}, found {found}")]
    BaseFee {
        /// Block number.
        number: u64,
        /// Computed from the parent.
        expected: u64,
        /// Header value.
        found: u64,
    },
    /// Bor after Lisovo: the base fee moved more than the allowed percentage.
    #[error(
        "block {number}: base fee change: expected at most {max_change} from {parent}, found {found}"
    )]
    BaseFeeChange {
        /// Block number.
        number: u64,
        /// Parent base fee.
        parent: u64,
        /// Largest allowed change.
        max_change: u64,
        /// Header base fee.
        found: u64,
    },
    /// The excess blob gas differs from the value computed from the parent.
    #[error("block {number}: excess blob gas: expected {expected}, found {found}")]
    ExcessBlobGas {
        /// Block number.
        number: u64,
        /// Computed from the parent.
        expected: u64,
        /// Header value.
        found: u64,
    },
    /// Total difficulty is not the parent's plus the header difficulty.
    #[error("block {number}: total difficulty: expected {expected}, found {found}")]
    TotalDifficulty {
        /// Block number.
        number: u64,
        /// Parent TD + difficulty.
        expected: U256,
        /// Supplied TD.
        found: U256,
    },

    // ---------------------------------------------------------------- Bor
    /// Bor extra-data shorter than vanity (32) + seal (65).
    #[error("block {number}: bor extra-data length: expected at least {min} bytes, found {found}")]
    BorExtraDataTooShort {
        /// Block number.
        number: u64,
        /// 97.
        min: usize,
        /// Actual length.
        found: usize,
    },
    /// Validator bytes in a block that does not end a sprint.
    #[error(
        "block {number}: bor validator bytes: expected none (not a sprint end), found {found} bytes"
    )]
    BorUnexpectedValidators {
        /// Block number.
        number: u64,
        /// Length of the validator bytes.
        found: usize,
    },
    /// Validator bytes at a sprint end not a multiple of 40 (address + power).
    #[error("block {number}: bor validator bytes: expected a multiple of 40, found {found} bytes")]
    BorValidatorBytesLength {
        /// Block number.
        number: u64,
        /// Length of the validator bytes.
        found: usize,
    },
    /// From Giugliano: the extra-data middle is not a valid `BlockExtraData` RLP.
    #[error("block {number}: bor block extra-data: {reason}")]
    BorBlockExtraData {
        /// Block number.
        number: u64,
        /// What is wrong.
        reason: crate::bor::BlockExtraError,
    },
    /// From Giugliano: `GasTarget` or `BaseFeeChangeDenominator` missing from the extra-data.
    #[error(
        "block {number}: bor Giugliano extra-data: expected gas target and base fee change \
         denominator, found {}",
        present_fields(*gas_target, *denominator)
    )]
    BorMissingGiuglianoFields {
        /// Block number.
        number: u64,
        /// Whether `GasTarget` is present.
        gas_target: bool,
        /// Whether `BaseFeeChangeDenominator` is present.
        denominator: bool,
    },
    /// From Giugliano: the base fee is not the one the header's own `GasTarget` and
    /// `BaseFeeChangeDenominator` give from the parent (capped at 5 %).
    #[error(
        "block {number}: base fee from the declared gas target {gas_target} and denominator \
         {denominator}: expected {expected}, found {found}"
    )]
    BorGiuglianoBaseFee {
        /// Block number.
        number: u64,
        /// Declared `GasTarget`.
        gas_target: u64,
        /// Declared `BaseFeeChangeDenominator`.
        denominator: u64,
        /// Computed from the parent with the declared parameters.
        expected: u64,
        /// Header value.
        found: u64,
    },
    /// Bor mix digest must be zero.
    #[error("block {number}: bor mix digest: expected zero, found {found}")]
    BorMixDigest {
        /// Block number.
        number: u64,
        /// Header mix digest.
        found: B256,
    },
    /// The seal is not a valid, canonical (low-s) secp256k1 signature.
    #[error("block {number}: bor seal: {reason}")]
    BorSeal {
        /// Block number.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// The recovered signer is not in the validator set.
    #[error("block {number}: bor signer: expected one of {} validators, found {found}", expected.len())]
    BorSignerNotValidator {
        /// Block number.
        number: u64,
        /// The validator set.
        expected: Vec<Address>,
        /// The recovered signer.
        found: Address,
    },

    // ---------------------------------------------------------------- body
    /// Transactions root mismatch.
    #[error("block {number}: transactions root: expected {expected}, found {found}")]
    TransactionsRoot {
        /// Block number.
        number: u64,
        /// Header value.
        expected: B256,
        /// Computed from the body.
        found: B256,
    },
    /// Ommers hash mismatch.
    #[error("block {number}: ommers hash: expected {expected}, found {found}")]
    OmmersHash {
        /// Block number.
        number: u64,
        /// Header value.
        expected: B256,
        /// Computed from the body.
        found: B256,
    },
    /// Withdrawals root mismatch.
    #[error("block {number}: withdrawals root: expected {expected}, found {found}")]
    WithdrawalsRoot {
        /// Block number.
        number: u64,
        /// Header value.
        expected: B256,
        /// Computed from the body.
        found: B256,
    },
    /// More ommers than allowed, or an ommer that cannot be one.
    #[error("block {number}: ommer {index}: {reason}")]
    InvalidOmmer {
        /// Block number.
        number: u64,
        /// Index in the ommers list.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A transaction type not allowed at this fork, or an undecodable transaction.
    #[error("block {number}: transaction {index}: {reason}")]
    InvalidTransaction {
        /// Block number.
        number: u64,
        /// Index in the block.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// `blobGasUsed` differs from the blobs of the block's blob transactions.
    #[error(
        "block {number}: blob gas used: expected {expected} (from the blob transactions), found {found}"
    )]
    BlobGasUsedMismatch {
        /// Block number.
        number: u64,
        /// Blobs × 131072.
        expected: u64,
        /// Header value.
        found: u64,
    },
    /// The block exceeds the RLP size limit (Osaka, EIP-7934).
    #[error("block {number}: block RLP size: expected at most {max} bytes, found {found}")]
    BlockTooLarge {
        /// Block number.
        number: u64,
        /// Limit.
        max: usize,
        /// Encoded size.
        found: usize,
    },

    // ---------------------------------------------------------------- receipts
    /// Number of receipts differs from the number of transactions.
    #[error(
        "block {number}: receipt count: expected {expected} (one per transaction), found {found}"
    )]
    ReceiptCount {
        /// Block number.
        number: u64,
        /// Transactions in the body.
        expected: usize,
        /// Receipts.
        found: usize,
    },
    /// Receipts root mismatch.
    #[error("block {number}: receipts root: expected {expected}, found {found}")]
    ReceiptsRoot {
        /// Block number.
        number: u64,
        /// Header value.
        expected: B256,
        /// Computed from the receipts.
        found: B256,
    },
    /// The header's logs bloom is not the union of the receipts' blooms.
    #[error("block {number}: logs bloom: expected {expected}, found {found}")]
    LogsBloom {
        /// Block number.
        number: u64,
        /// Union of the receipt blooms.
        expected: Box<Bloom>,
        /// Header value.
        found: Box<Bloom>,
    },
    /// A receipt's bloom is not the bloom of its logs.
    #[error("block {number}: receipt {index} bloom: expected {expected}, found {found}")]
    ReceiptBloom {
        /// Block number.
        number: u64,
        /// Receipt index.
        index: usize,
        /// Computed from the logs.
        expected: Box<Bloom>,
        /// Receipt value.
        found: Box<Bloom>,
    },
    /// A receipt's type differs from its transaction's type.
    #[error(
        "block {number}: receipt {index} type: expected {expected} (the transaction's), found {found}"
    )]
    ReceiptType {
        /// Block number.
        number: u64,
        /// Receipt index.
        index: usize,
        /// Transaction type.
        expected: u8,
        /// Receipt type.
        found: u8,
    },
    /// A receipt's status field has the wrong form for the fork (a 32-byte state root before
    /// Byzantium, 0 or 1 from Byzantium).
    #[error("block {number}: receipt {index} status: expected {expected}, found {found}")]
    ReceiptStatus {
        /// Block number.
        number: u64,
        /// Receipt index.
        index: usize,
        /// What the fork requires.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// Cumulative gas decreases from one receipt to the next.
    #[error(
        "block {number}: receipt {index} cumulative gas: expected at least {expected}, found {found}"
    )]
    CumulativeGas {
        /// Block number.
        number: u64,
        /// Receipt index.
        index: usize,
        /// The previous receipt's cumulative gas.
        expected: u64,
        /// This receipt's cumulative gas.
        found: u64,
    },
    /// The last receipt's cumulative gas differs from the header's gas used.
    #[error(
        "block {number}: gas used: expected {expected} (header), found {found} (last receipt's cumulative gas)"
    )]
    GasUsed {
        /// Block number.
        number: u64,
        /// Header gas used.
        expected: u64,
        /// Last cumulative gas (0 without receipts).
        found: u64,
    },

    // ---------------------------------------------------------------- anchors
    /// A block's hash differs from the trusted hash for its number.
    #[error("block {number}: trusted hash: expected {expected}, found {found}")]
    TrustedHash {
        /// Block number.
        number: u64,
        /// Trusted hash.
        expected: B256,
        /// Hash of the block (or the parent hash of its child).
        found: B256,
    },
    /// A Polygon checkpoint root does not recompute.
    #[error("blocks {start}..={end}: checkpoint root: expected {expected}, found {found}")]
    CheckpointRoot {
        /// First block.
        start: u64,
        /// Last block.
        end: u64,
        /// Checkpoint root.
        expected: B256,
        /// Recomputed root.
        found: B256,
    },
    /// An epoch root differs from the historical accumulator's.
    #[error("epoch {epoch}: accumulator: expected {expected}, found {found}")]
    EpochAccumulator {
        /// Epoch number (block / 8192).
        epoch: u64,
        /// From the historical accumulator.
        expected: B256,
        /// Recomputed from (hash, total difficulty).
        found: B256,
    },
    /// An era1 file's accumulator record differs from the recomputed epoch root.
    #[error(
        "epoch {epoch}: era1 accumulator record: expected {expected} (recomputed), found {found}"
    )]
    EraAccumulatorRecord {
        /// Epoch number.
        epoch: u64,
        /// Recomputed epoch root.
        expected: B256,
        /// Record in the file.
        found: B256,
    },
    /// A block hash differs from the one in a verified epoch record.
    #[error("block {number}: epoch record hash: expected {expected}, found {found}")]
    EpochRecordHash {
        /// Block number.
        number: u64,
        /// Hash in the epoch record.
        expected: B256,
        /// Block hash.
        found: B256,
    },
    /// The input is not a contiguous ascending run of blocks.
    #[error("block {number}: input order: expected block {expected} next")]
    NotContiguous {
        /// Block found.
        number: u64,
        /// Block expected.
        expected: u64,
    },

    // ---------------------------------------------------------------- not the sender's fault
    /// A fork whose rules this validator does not know is active.
    #[error("block {number}: unsupported fork {fork}: its rules are not implemented")]
    UnsupportedFork {
        /// Block number.
        number: u64,
        /// The fork.
        fork: Hardfork,
    },
    /// An anchor could not be applied to the input (e.g. a checkpoint not fully covered, the
    /// accumulator without total difficulties).
    #[error("{what}: anchor not applicable: {reason}")]
    AnchorNotApplicable {
        /// The anchor.
        what: String,
        /// Why.
        reason: String,
    },
}

/// Field, expected and found values of a [`ValidationError`], as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetails {
    /// The header field or block component.
    pub field: String,
    /// What the rule requires.
    pub expected: String,
    /// What the data has.
    pub found: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ValidationError {
    /// Whether the data is at fault (the sender should be penalised and the data refetched
    /// elsewhere). `false` only for conditions that say nothing about the data: an unsupported
    /// fork or an anchor the caller could not apply.
    pub fn is_peer_fault(&self) -> bool {
        !matches!(
            self,
            Self::UnsupportedFork { .. } | Self::AnchorNotApplicable { .. }
        )
    }

    /// The block the error is about (the first block of a range for range rules).
    pub fn block_number(&self) -> Option<u64> {
        use ValidationError as E;
        match self {
            E::MalformedHeader { number, .. }
            | E::MalformedBody { number, .. }
            | E::MalformedReceipts { number, .. }
            | E::HashMismatch { number, .. }
            | E::NumberMismatch { number, .. }
            | E::ExtraDataTooLong { number, .. }
            | E::DaoExtraData { number, .. }
            | E::GasLimitTooHigh { number, .. }
            | E::GasLimitTooLow { number, .. }
            | E::GasUsedExceedsLimit { number, .. }
            | E::MissingField { number, .. }
            | E::UnexpectedField { number, .. }
            | E::PostMergeDifficulty { number, .. }
            | E::PostMergeNonce { number, .. }
            | E::OmmersNotEmpty { number, .. }
            | E::PowDifficultyZero { number }
            | E::BlobGasUsedTooHigh { number, .. }
            | E::BlobGasUsedNotMultiple { number, .. }
            | E::ParentHash { number, .. }
            | E::NumberContinuity { number, .. }
            | E::Timestamp { number, .. }
            | E::GasLimitChange { number, .. }
            | E::BaseFee { number, .. }
            | E::BaseFeeChange { number, .. }
            | E::ExcessBlobGas { number, .. }
            | E::TotalDifficulty { number, .. }
            | E::BorExtraDataTooShort { number, .. }
            | E::BorUnexpectedValidators { number, .. }
            | E::BorValidatorBytesLength { number, .. }
            | E::BorBlockExtraData { number, .. }
            | E::BorMissingGiuglianoFields { number, .. }
            | E::BorGiuglianoBaseFee { number, .. }
            | E::BorMixDigest { number, .. }
            | E::BorSeal { number, .. }
            | E::BorSignerNotValidator { number, .. }
            | E::TransactionsRoot { number, .. }
            | E::OmmersHash { number, .. }
            | E::WithdrawalsRoot { number, .. }
            | E::InvalidOmmer { number, .. }
            | E::InvalidTransaction { number, .. }
            | E::BlobGasUsedMismatch { number, .. }
            | E::BlockTooLarge { number, .. }
            | E::ReceiptCount { number, .. }
            | E::ReceiptsRoot { number, .. }
            | E::LogsBloom { number, .. }
            | E::ReceiptBloom { number, .. }
            | E::ReceiptType { number, .. }
            | E::ReceiptStatus { number, .. }
            | E::CumulativeGas { number, .. }
            | E::GasUsed { number, .. }
            | E::TrustedHash { number, .. }
            | E::EpochRecordHash { number, .. }
            | E::NotContiguous { number, .. }
            | E::UnsupportedFork { number, .. } => Some(*number),
            E::CheckpointRoot { start, .. } => Some(*start),
            E::EpochAccumulator { epoch, .. } | E::EraAccumulatorRecord { epoch, .. } => {
                Some(epoch * 8192)
            }
            E::AnchorNotApplicable { .. } => None,
        }
    }

    /// The field (or component) the rule is about and the expected and found values, as
    /// text — what a verdict or a command line reports.
    pub fn details(&self) -> ErrorDetails {
        use ValidationError as E;
        fn d(field: &str, expected: impl fmt::Display, found: impl fmt::Display) -> ErrorDetails {
            ErrorDetails {
                field: field.to_string(),
                expected: expected.to_string(),
                found: found.to_string(),
            }
        }
        match self {
            E::MalformedHeader { reason, .. } => d("header", "canonical header RLP", reason),
            E::MalformedBody { reason, .. } => {
                d("body", "rlp([txs, ommers(, withdrawals)])", reason)
            }
            E::MalformedReceipts { reason, .. } => d("receipts", "a receipt list", reason),
            E::HashMismatch {
                expected, found, ..
            } => d("hash", expected, found),
            E::NumberMismatch { number, found } => d("number", number, found),
            E::ExtraDataTooLong { max, found, .. } => d(
                "extraData",
                format!("at most {max} bytes"),
                format!("{found} bytes"),
            ),
            E::DaoExtraData {
                expected, found, ..
            } => d(
                "extraData",
                format!("0x{}", hex(expected)),
                format!("0x{}", hex(found)),
            ),
            E::GasLimitTooHigh { max, found, .. } => d("gasLimit", format!("at most {max}"), found),
            E::GasLimitTooLow { min, found, .. } => d("gasLimit", format!("at least {min}"), found),
            E::GasUsedExceedsLimit { limit, found, .. } => {
                d("gasUsed", format!("at most {limit}"), found)
            }
            E::MissingField { field, fork, .. } => {
                d(field.name(), format!("present from {fork}"), "absent")
            }
            E::UnexpectedField { field, .. } => d(field.name(), "absent", "present"),
            E::PostMergeDifficulty { found, .. } => d("difficulty", 0, found),
            E::PostMergeNonce { found, .. } => d("nonce", 0, found),
            E::OmmersNotEmpty {
                expected, found, ..
            } => d("ommersHash", expected, found),
            E::PowDifficultyZero { .. } => d("difficulty", "non-zero", 0),
            E::BlobGasUsedTooHigh { max, found, .. } => {
                d("blobGasUsed", format!("at most {max}"), found)
            }
            E::BlobGasUsedNotMultiple {
                per_blob, found, ..
            } => d("blobGasUsed", format!("a multiple of {per_blob}"), found),
            E::ParentHash {
                expected, found, ..
            } => d("parentHash", expected, found),
            E::NumberContinuity { number, expected } => d("number", expected, number),
            E::Timestamp { min, found, .. } => d("timestamp", format!("at least {min}"), found),
            E::GasLimitChange {
                parent,
                bound,
                found,
                ..
            } => d(
                "gasLimit",
                format!("within {parent} ± {}", bound.saturating_sub(1)),
                found,
            ),
            E::BaseFee {
                expected, found, ..
            } => d("baseFeePerGas", expected, found),
            E::BaseFeeChange {
                parent,
                max_change,
                found,
                ..
            } => d("baseFeePerGas", format!("{parent} ± {max_change}"), found),
            E::ExcessBlobGas {
                expected, found, ..
            } => d("excessBlobGas", expected, found),
            E::TotalDifficulty {
                expected, found, ..
            } => d("totalDifficulty", expected, found),
            E::BorExtraDataTooShort { min, found, .. } => d(
                "extraData",
                format!("at least {min} bytes"),
                format!("{found} bytes"),
            ),
            E::BorUnexpectedValidators { found, .. } => {
                d("extraData.validators", "none", format!("{found} bytes"))
            }
            E::BorValidatorBytesLength { found, .. } => d(
                "extraData.validators",
                "a multiple of 40 bytes",
                format!("{found} bytes"),
            ),
            E::BorBlockExtraData { reason, .. } => d(
                "extraData.blockExtraData",
                "rlp([validatorBytes, txDependency, gasTarget, baseFeeChangeDenominator])",
                reason,
            ),
            E::BorMissingGiuglianoFields {
                gas_target,
                denominator,
                ..
            } => d(
                "extraData.blockExtraData",
                "gasTarget and baseFeeChangeDenominator",
                present_fields(*gas_target, *denominator),
            ),
            E::BorGiuglianoBaseFee {
                expected, found, ..
            } => d("baseFeePerGas", expected, found),
            E::BorMixDigest { found, .. } => d("mixHash", B256::ZERO, found),
            E::BorSeal { reason, .. } => d("extraData.seal", "a canonical signature", reason),
            E::BorSignerNotValidator {
                expected, found, ..
            } => d(
                "signer",
                expected
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                found,
            ),
            E::TransactionsRoot {
                expected, found, ..
            } => d("transactionsRoot", expected, found),
            E::OmmersHash {
                expected, found, ..
            } => d("ommersHash", expected, found),
            E::WithdrawalsRoot {
                expected, found, ..
            } => d("withdrawalsRoot", expected, found),
            E::InvalidOmmer { index, reason, .. } => {
                d(&format!("ommers[{index}]"), "a valid ommer", reason)
            }
            E::InvalidTransaction { index, reason, .. } => d(
                &format!("transactions[{index}]"),
                "a valid transaction",
                reason,
            ),
            E::BlobGasUsedMismatch {
                expected, found, ..
            } => d("blobGasUsed", expected, found),
            E::BlockTooLarge { max, found, .. } => d(
                "block",
                format!("at most {max} bytes"),
                format!("{found} bytes"),
            ),
            E::ReceiptCount {
                expected, found, ..
            } => d("receipts", expected, found),
            E::ReceiptsRoot {
                expected, found, ..
            } => d("receiptsRoot", expected, found),
            E::LogsBloom {
                expected, found, ..
            } => d("logsBloom", expected, found),
            E::ReceiptBloom {
                index,
                expected,
                found,
                ..
            } => d(&format!("receipts[{index}].bloom"), expected, found),
            E::ReceiptType {
                index,
                expected,
                found,
                ..
            } => d(&format!("receipts[{index}].type"), expected, found),
            E::ReceiptStatus {
                index,
                expected,
                found,
                ..
            } => d(&format!("receipts[{index}].status"), expected, found),
            E::CumulativeGas {
                index,
                expected,
                found,
                ..
            } => d(
                &format!("receipts[{index}].cumulativeGasUsed"),
                format!("at least {expected}"),
                found,
            ),
            E::GasUsed {
                expected, found, ..
            } => d("gasUsed", expected, found),
            E::TrustedHash {
                expected, found, ..
            } => d("hash", expected, found),
            E::CheckpointRoot {
                expected, found, ..
            } => d("checkpoint.root", expected, found),
            E::EpochAccumulator {
                expected, found, ..
            } => d("epochRoot", expected, found),
            E::EraAccumulatorRecord {
                expected, found, ..
            } => d("era1.accumulator", expected, found),
            E::EpochRecordHash {
                expected, found, ..
            } => d("hash", expected, found),
            E::NotContiguous { number, expected } => d("number", expected, number),
            E::UnsupportedFork { fork, .. } => d("fork", "a supported fork", fork),
            E::AnchorNotApplicable { what, reason } => d(what, "an applicable anchor", reason),
        }
    }

    /// A stable kebab-case name of the rule that failed (for logs, metrics and the CLI).
    pub fn rule(&self) -> &'static str {
        use ValidationError as E;
        match self {
            E::MalformedHeader { .. } => "header-rlp",
            E::MalformedBody { .. } => "body-rlp",
            E::MalformedReceipts { .. } => "receipts-rlp",
            E::HashMismatch { .. } => "header-hash",
            E::NumberMismatch { .. } => "header-number",
            E::ExtraDataTooLong { .. } => "extra-data-length",
            E::DaoExtraData { .. } => "dao-extra-data",
            E::GasLimitTooHigh { .. } => "gas-limit-max",
            E::GasLimitTooLow { .. } => "gas-limit-min",
            E::GasUsedExceedsLimit { .. } => "gas-used-limit",
            E::MissingField { .. } => "fork-field-missing",
            E::UnexpectedField { .. } => "fork-field-unexpected",
            E::PostMergeDifficulty { .. } => "post-merge-difficulty",
            E::PostMergeNonce { .. } => "post-merge-nonce",
            E::OmmersNotEmpty { .. } => "ommers-empty",
            E::PowDifficultyZero { .. } => "pow-difficulty",
            E::BlobGasUsedTooHigh { .. } => "blob-gas-used-max",
            E::BlobGasUsedNotMultiple { .. } => "blob-gas-used-multiple",
            E::ParentHash { .. } => "parent-hash",
            E::NumberContinuity { .. } => "number-continuity",
            E::Timestamp { .. } => "timestamp",
            E::GasLimitChange { .. } => "gas-limit-change",
            E::BaseFee { .. } => "base-fee",
            E::BaseFeeChange { .. } => "base-fee-change",
            E::ExcessBlobGas { .. } => "excess-blob-gas",
            E::TotalDifficulty { .. } => "total-difficulty",
            E::BorExtraDataTooShort { .. } => "bor-extra-data-length",
            E::BorUnexpectedValidators { .. } => "bor-validators-not-sprint-end",
            E::BorValidatorBytesLength { .. } => "bor-validator-bytes-length",
            E::BorBlockExtraData { .. } => "bor-block-extra-data",
            E::BorMissingGiuglianoFields { .. } => "bor-giugliano-fields",
            E::BorGiuglianoBaseFee { .. } => "bor-giugliano-base-fee",
            E::BorMixDigest { .. } => "bor-mix-digest",
            E::BorSeal { .. } => "bor-seal",
            E::BorSignerNotValidator { .. } => "bor-signer",
            E::TransactionsRoot { .. } => "transactions-root",
            E::OmmersHash { .. } => "ommers-hash",
            E::WithdrawalsRoot { .. } => "withdrawals-root",
            E::InvalidOmmer { .. } => "ommer",
            E::InvalidTransaction { .. } => "transaction",
            E::BlobGasUsedMismatch { .. } => "blob-gas-used",
            E::BlockTooLarge { .. } => "block-size",
            E::ReceiptCount { .. } => "receipt-count",
            E::ReceiptsRoot { .. } => "receipts-root",
            E::LogsBloom { .. } => "logs-bloom",
            E::ReceiptBloom { .. } => "receipt-bloom",
            E::ReceiptType { .. } => "receipt-type",
            E::ReceiptStatus { .. } => "receipt-status",
            E::CumulativeGas { .. } => "cumulative-gas",
            E::GasUsed { .. } => "gas-used",
            E::TrustedHash { .. } => "trusted-hash",
            E::CheckpointRoot { .. } => "checkpoint-root",
            E::EpochAccumulator { .. } => "accumulator",
            E::EraAccumulatorRecord { .. } => "era1-accumulator-record",
            E::EpochRecordHash { .. } => "epoch-record-hash",
            E::NotContiguous { .. } => "contiguous-input",
            E::UnsupportedFork { .. } => "unsupported-fork",
            E::AnchorNotApplicable { .. } => "anchor-not-applicable",
        }
    }
}

/// Which of the two Giugliano fields are present, for messages.
fn present_fields(gas_target: bool, denominator: bool) -> &'static str {
    match (gas_target, denominator) {
        (true, true) => "both",
        (true, false) => "only the gas target",
        (false, true) => "only the denominator",
        (false, false) => "neither",
    }
}
