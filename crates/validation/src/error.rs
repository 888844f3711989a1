//! One typed error per validation rule.
//!
//! Every variant names the block (or range) it is about, the rule, and the expected and found
//! values. [`ValidationError::is_peer_fault`] tells whether the data itself is wrong (ban the
//! peer that sent it, refetch elsewhere) or the caller could not supply what a rule needs
//! (missing anchor data, an unsupported fork): those are not the sender's fault.

use alloy_primitives::{Address, B256, Bloom, U256};
use hypasis_primitives::{Fault, FaultClass, Hardfork};
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

/// The validation rules, one per [`ValidationError`] variant, with stable wire codes (the
/// `ValidationRule` enum of the proto carries the same numbers; never renumber, only append).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum Rule {
    /// `header-rlp`.
    MalformedHeader = 1,
    /// `body-rlp`.
    MalformedBody = 2,
    /// `receipts-rlp`.
    MalformedReceipts = 3,
    /// `header-hash`.
    HashMismatch = 4,
    /// `header-number`.
    NumberMismatch = 5,
    /// `extra-data-length`.
    ExtraDataTooLong = 6,
    /// `dao-extra-data`.
    DaoExtraData = 7,
    /// `gas-limit-max`.
    GasLimitTooHigh = 8,
    /// `gas-limit-min`.
    GasLimitTooLow = 9,
    /// `gas-used-limit`.
    GasUsedExceedsLimit = 10,
    /// `fork-field-missing`.
    MissingField = 11,
    /// `fork-field-unexpected`.
    UnexpectedField = 12,
    /// `post-merge-difficulty`.
    PostMergeDifficulty = 13,
    /// `post-merge-nonce`.
    PostMergeNonce = 14,
    /// `ommers-empty`.
    OmmersNotEmpty = 15,
    /// `pow-difficulty`.
    PowDifficultyZero = 16,
    /// `blob-gas-used-max`.
    BlobGasUsedTooHigh = 17,
    /// `blob-gas-used-multiple`.
    BlobGasUsedNotMultiple = 18,
    /// `parent-hash`.
    ParentHash = 19,
    /// `number-continuity`.
    NumberContinuity = 20,
    /// `timestamp`.
    Timestamp = 21,
    /// `gas-limit-change`.
    GasLimitChange = 22,
    /// `base-fee`.
    BaseFee = 23,
    /// `base-fee-change`.
    BaseFeeChange = 24,
    /// `excess-blob-gas`.
    ExcessBlobGas = 25,
    /// `total-difficulty`.
    TotalDifficulty = 26,
    /// `bor-extra-data-length`.
    BorExtraDataTooShort = 27,
    /// `bor-validators-not-sprint-end`.
    BorUnexpectedValidators = 28,
    /// `bor-validator-bytes-length`.
    BorValidatorBytesLength = 29,
    /// `bor-block-extra-data`.
    BorBlockExtraData = 30,
    /// `bor-giugliano-fields`.
    BorMissingGiuglianoFields = 31,
    /// `bor-giugliano-base-fee`.
    BorGiuglianoBaseFee = 32,
    /// `bor-mix-digest`.
    BorMixDigest = 33,
    /// `bor-seal`.
    BorSeal = 34,
    /// `bor-signer`.
    BorSignerNotValidator = 35,
    /// `transactions-root`.
    TransactionsRoot = 36,
    /// `ommers-hash`.
    OmmersHash = 37,
    /// `withdrawals-root`.
    WithdrawalsRoot = 38,
    /// `ommer`.
    InvalidOmmer = 39,
    /// `transaction`.
    InvalidTransaction = 40,
    /// `blob-gas-used`.
    BlobGasUsedMismatch = 41,
    /// `block-size`.
    BlockTooLarge = 42,
    /// `receipt-count`.
    ReceiptCount = 43,
    /// `receipts-root`.
    ReceiptsRoot = 44,
    /// `logs-bloom`.
    LogsBloom = 45,
    /// `receipt-bloom`.
    ReceiptBloom = 46,
    /// `receipt-type`.
    ReceiptType = 47,
    /// `receipt-status`.
    ReceiptStatus = 48,
    /// `cumulative-gas`.
    CumulativeGas = 49,
    /// `gas-used`.
    GasUsed = 50,
    /// `trusted-hash`.
    TrustedHash = 51,
    /// `checkpoint-root`.
    CheckpointRoot = 52,
    /// `accumulator`.
    EpochAccumulator = 53,
    /// `era1-accumulator-record`.
    EraAccumulatorRecord = 54,
    /// `epoch-record-hash`.
    EpochRecordHash = 55,
    /// `contiguous-input`.
    NotContiguous = 56,
    /// `unsupported-fork`.
    UnsupportedFork = 57,
    /// `anchor-not-applicable`.
    AnchorNotApplicable = 58,
}

impl Rule {
    /// Every rule, in code order.
    pub const ALL: [Rule; 58] = [
        Rule::MalformedHeader,
        Rule::MalformedBody,
        Rule::MalformedReceipts,
        Rule::HashMismatch,
        Rule::NumberMismatch,
        Rule::ExtraDataTooLong,
        Rule::DaoExtraData,
        Rule::GasLimitTooHigh,
        Rule::GasLimitTooLow,
        Rule::GasUsedExceedsLimit,
        Rule::MissingField,
        Rule::UnexpectedField,
        Rule::PostMergeDifficulty,
        Rule::PostMergeNonce,
        Rule::OmmersNotEmpty,
        Rule::PowDifficultyZero,
        Rule::BlobGasUsedTooHigh,
        Rule::BlobGasUsedNotMultiple,
        Rule::ParentHash,
        Rule::NumberContinuity,
        Rule::Timestamp,
        Rule::GasLimitChange,
        Rule::BaseFee,
        Rule::BaseFeeChange,
        Rule::ExcessBlobGas,
        Rule::TotalDifficulty,
        Rule::BorExtraDataTooShort,
        Rule::BorUnexpectedValidators,
        Rule::BorValidatorBytesLength,
        Rule::BorBlockExtraData,
        Rule::BorMissingGiuglianoFields,
        Rule::BorGiuglianoBaseFee,
        Rule::BorMixDigest,
        Rule::BorSeal,
        Rule::BorSignerNotValidator,
        Rule::TransactionsRoot,
        Rule::OmmersHash,
        Rule::WithdrawalsRoot,
        Rule::InvalidOmmer,
        Rule::InvalidTransaction,
        Rule::BlobGasUsedMismatch,
        Rule::BlockTooLarge,
        Rule::ReceiptCount,
        Rule::ReceiptsRoot,
        Rule::LogsBloom,
        Rule::ReceiptBloom,
        Rule::ReceiptType,
        Rule::ReceiptStatus,
        Rule::CumulativeGas,
        Rule::GasUsed,
        Rule::TrustedHash,
        Rule::CheckpointRoot,
        Rule::EpochAccumulator,
        Rule::EraAccumulatorRecord,
        Rule::EpochRecordHash,
        Rule::NotContiguous,
        Rule::UnsupportedFork,
        Rule::AnchorNotApplicable,
    ];

    /// The stable wire code (1-based; 0 is "unspecified" on the wire).
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The rule with wire code `code`, if any.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.code() == code)
    }

    /// The rule's stable kebab-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rule::MalformedHeader => "header-rlp",
            Rule::MalformedBody => "body-rlp",
            Rule::MalformedReceipts => "receipts-rlp",
            Rule::HashMismatch => "header-hash",
            Rule::NumberMismatch => "header-number",
            Rule::ExtraDataTooLong => "extra-data-length",
            Rule::DaoExtraData => "dao-extra-data",
            Rule::GasLimitTooHigh => "gas-limit-max",
            Rule::GasLimitTooLow => "gas-limit-min",
            Rule::GasUsedExceedsLimit => "gas-used-limit",
            Rule::MissingField => "fork-field-missing",
            Rule::UnexpectedField => "fork-field-unexpected",
            Rule::PostMergeDifficulty => "post-merge-difficulty",
            Rule::PostMergeNonce => "post-merge-nonce",
            Rule::OmmersNotEmpty => "ommers-empty",
            Rule::PowDifficultyZero => "pow-difficulty",
            Rule::BlobGasUsedTooHigh => "blob-gas-used-max",
            Rule::BlobGasUsedNotMultiple => "blob-gas-used-multiple",
            Rule::ParentHash => "parent-hash",
            Rule::NumberContinuity => "number-continuity",
            Rule::Timestamp => "timestamp",
            Rule::GasLimitChange => "gas-limit-change",
            Rule::BaseFee => "base-fee",
            Rule::BaseFeeChange => "base-fee-change",
            Rule::ExcessBlobGas => "excess-blob-gas",
            Rule::TotalDifficulty => "total-difficulty",
            Rule::BorExtraDataTooShort => "bor-extra-data-length",
            Rule::BorUnexpectedValidators => "bor-validators-not-sprint-end",
            Rule::BorValidatorBytesLength => "bor-validator-bytes-length",
            Rule::BorBlockExtraData => "bor-block-extra-data",
            Rule::BorMissingGiuglianoFields => "bor-giugliano-fields",
            Rule::BorGiuglianoBaseFee => "bor-giugliano-base-fee",
            Rule::BorMixDigest => "bor-mix-digest",
            Rule::BorSeal => "bor-seal",
            Rule::BorSignerNotValidator => "bor-signer",
            Rule::TransactionsRoot => "transactions-root",
            Rule::OmmersHash => "ommers-hash",
            Rule::WithdrawalsRoot => "withdrawals-root",
            Rule::InvalidOmmer => "ommer",
            Rule::InvalidTransaction => "transaction",
            Rule::BlobGasUsedMismatch => "blob-gas-used",
            Rule::BlockTooLarge => "block-size",
            Rule::ReceiptCount => "receipt-count",
            Rule::ReceiptsRoot => "receipts-root",
            Rule::LogsBloom => "logs-bloom",
            Rule::ReceiptBloom => "receipt-bloom",
            Rule::ReceiptType => "receipt-type",
            Rule::ReceiptStatus => "receipt-status",
            Rule::CumulativeGas => "cumulative-gas",
            Rule::GasUsed => "gas-used",
            Rule::TrustedHash => "trusted-hash",
            Rule::CheckpointRoot => "checkpoint-root",
            Rule::EpochAccumulator => "accumulator",
            Rule::EraAccumulatorRecord => "era1-accumulator-record",
            Rule::EpochRecordHash => "epoch-record-hash",
            Rule::NotContiguous => "contiguous-input",
            Rule::UnsupportedFork => "unsupported-fork",
            Rule::AnchorNotApplicable => "anchor-not-applicable",
        }
    }

    /// The rule with the kebab-case name `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Fault for ValidationError {
    /// Every rule about the data blames its sender (peer). An unsupported fork is fatal
    /// (this build cannot validate the chain there; retrying cannot help); an anchor the
    /// caller could not apply to the range says nothing about the data: local (retry, e.g.
    /// with a re-cut range or once the anchor data is there).
    fn fault(&self) -> FaultClass {
        match self {
            Self::UnsupportedFork { .. } => FaultClass::Fatal,
            Self::AnchorNotApplicable { .. } => FaultClass::Local,
            _ => FaultClass::Peer,
        }
    }
}

/// Bytes that are not the encoding they must be (RLP of a block or header, SSZ of an
/// accumulator or epoch record); the message says where. The sender's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

impl From<String> for DecodeError {
    fn from(reason: String) -> Self {
        Self(reason)
    }
}

impl From<&str> for DecodeError {
    fn from(reason: &str) -> Self {
        Self(reason.to_string())
    }
}

impl Fault for DecodeError {
    fn fault(&self) -> FaultClass {
        FaultClass::Peer
    }
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
        self.fault() == FaultClass::Peer
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
        self.rule_code().as_str()
    }

    /// The rule that failed, as a stable code (what the wire carries).
    pub fn rule_code(&self) -> Rule {
        use ValidationError as E;
        match self {
            E::MalformedHeader { .. } => Rule::MalformedHeader,
            E::MalformedBody { .. } => Rule::MalformedBody,
            E::MalformedReceipts { .. } => Rule::MalformedReceipts,
            E::HashMismatch { .. } => Rule::HashMismatch,
            E::NumberMismatch { .. } => Rule::NumberMismatch,
            E::ExtraDataTooLong { .. } => Rule::ExtraDataTooLong,
            E::DaoExtraData { .. } => Rule::DaoExtraData,
            E::GasLimitTooHigh { .. } => Rule::GasLimitTooHigh,
            E::GasLimitTooLow { .. } => Rule::GasLimitTooLow,
            E::GasUsedExceedsLimit { .. } => Rule::GasUsedExceedsLimit,
            E::MissingField { .. } => Rule::MissingField,
            E::UnexpectedField { .. } => Rule::UnexpectedField,
            E::PostMergeDifficulty { .. } => Rule::PostMergeDifficulty,
            E::PostMergeNonce { .. } => Rule::PostMergeNonce,
            E::OmmersNotEmpty { .. } => Rule::OmmersNotEmpty,
            E::PowDifficultyZero { .. } => Rule::PowDifficultyZero,
            E::BlobGasUsedTooHigh { .. } => Rule::BlobGasUsedTooHigh,
            E::BlobGasUsedNotMultiple { .. } => Rule::BlobGasUsedNotMultiple,
            E::ParentHash { .. } => Rule::ParentHash,
            E::NumberContinuity { .. } => Rule::NumberContinuity,
            E::Timestamp { .. } => Rule::Timestamp,
            E::GasLimitChange { .. } => Rule::GasLimitChange,
            E::BaseFee { .. } => Rule::BaseFee,
            E::BaseFeeChange { .. } => Rule::BaseFeeChange,
            E::ExcessBlobGas { .. } => Rule::ExcessBlobGas,
            E::TotalDifficulty { .. } => Rule::TotalDifficulty,
            E::BorExtraDataTooShort { .. } => Rule::BorExtraDataTooShort,
            E::BorUnexpectedValidators { .. } => Rule::BorUnexpectedValidators,
            E::BorValidatorBytesLength { .. } => Rule::BorValidatorBytesLength,
            E::BorBlockExtraData { .. } => Rule::BorBlockExtraData,
            E::BorMissingGiuglianoFields { .. } => Rule::BorMissingGiuglianoFields,
            E::BorGiuglianoBaseFee { .. } => Rule::BorGiuglianoBaseFee,
            E::BorMixDigest { .. } => Rule::BorMixDigest,
            E::BorSeal { .. } => Rule::BorSeal,
            E::BorSignerNotValidator { .. } => Rule::BorSignerNotValidator,
            E::TransactionsRoot { .. } => Rule::TransactionsRoot,
            E::OmmersHash { .. } => Rule::OmmersHash,
            E::WithdrawalsRoot { .. } => Rule::WithdrawalsRoot,
            E::InvalidOmmer { .. } => Rule::InvalidOmmer,
            E::InvalidTransaction { .. } => Rule::InvalidTransaction,
            E::BlobGasUsedMismatch { .. } => Rule::BlobGasUsedMismatch,
            E::BlockTooLarge { .. } => Rule::BlockTooLarge,
            E::ReceiptCount { .. } => Rule::ReceiptCount,
            E::ReceiptsRoot { .. } => Rule::ReceiptsRoot,
            E::LogsBloom { .. } => Rule::LogsBloom,
            E::ReceiptBloom { .. } => Rule::ReceiptBloom,
            E::ReceiptType { .. } => Rule::ReceiptType,
            E::ReceiptStatus { .. } => Rule::ReceiptStatus,
            E::CumulativeGas { .. } => Rule::CumulativeGas,
            E::GasUsed { .. } => Rule::GasUsed,
            E::TrustedHash { .. } => Rule::TrustedHash,
            E::CheckpointRoot { .. } => Rule::CheckpointRoot,
            E::EpochAccumulator { .. } => Rule::EpochAccumulator,
            E::EraAccumulatorRecord { .. } => Rule::EraAccumulatorRecord,
            E::EpochRecordHash { .. } => Rule::EpochRecordHash,
            E::NotContiguous { .. } => Rule::NotContiguous,
            E::UnsupportedFork { .. } => Rule::UnsupportedFork,
            E::AnchorNotApplicable { .. } => Rule::AnchorNotApplicable,
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

#[cfg(test)]
mod fault_tests {
    use super::*;

    #[test]
    fn rules_have_stable_codes_and_names() {
        for (i, r) in Rule::ALL.iter().enumerate() {
            assert_eq!(r.code(), i as i32 + 1, "{r}");
            assert_eq!(Rule::from_code(r.code()), Some(*r));
            assert_eq!(Rule::from_name(r.as_str()), Some(*r));
        }
        assert_eq!(Rule::from_code(0), None);
        assert_eq!(Rule::TransactionsRoot.as_str(), "transactions-root");
        let e = ValidationError::BaseFee {
            number: 1,
            expected: 2,
            found: 3,
        };
        assert_eq!(e.rule_code(), Rule::BaseFee);
        assert_eq!(e.rule(), "base-fee");
    }

    #[test]
    fn data_rules_blame_the_peer_others_do_not() {
        let e = ValidationError::ParentHash {
            number: 1,
            expected: B256::ZERO,
            found: B256::repeat_byte(1),
        };
        assert_eq!(e.fault(), FaultClass::Peer);
        assert!(e.is_peer_fault());
        let e = ValidationError::UnsupportedFork {
            number: 1,
            fork: Hardfork::Prague,
        };
        assert_eq!(e.fault(), FaultClass::Fatal);
        assert!(!e.is_peer_fault());
        let e = ValidationError::AnchorNotApplicable {
            what: "checkpoint".into(),
            reason: "not covered".into(),
        };
        assert_eq!(e.fault(), FaultClass::Local);
        assert!(!e.is_peer_fault());
    }
}
