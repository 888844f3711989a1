//! Readers for e2store archives.
//!
//! - [`e2store`]: the record framing shared by all e2store files
//!   (`type u16 LE | length u32 LE | reserved u16 | data`).
//! - [`era1`]: era1 files — pre-merge Ethereum history, 8192 blocks per file, each block as
//!   snappy-framed header / body / receipts plus its total difficulty, followed by the epoch
//!   accumulator root and a block index.
//!
//! The readers work on an in-memory byte slice and never panic on malformed input: every
//! inconsistency is an [`EraError`]. Decompression is bounded ([`MAX_DECOMPRESSED_LEN`]) so a
//! hostile file cannot make the reader allocate without limit.
//!
//! Format facts (not code) come from the e2store / era1 specification as implemented by geth
//! (`internal/era`) and the Portal network documents.

pub mod e2store;
pub mod era1;

pub use e2store::{E2Record, E2StoreReader};
pub use era1::{Era1, Era1Block};

/// Upper bound on the decompressed size of one era1 entry (header, body or receipts).
///
/// The largest pre-merge blocks are a few MB of body/receipts; this leaves ample room while
/// refusing decompression bombs.
pub const MAX_DECOMPRESSED_LEN: usize = 64 * 1024 * 1024;

/// Why an e2store or era1 file could not be read. Every variant means the file is corrupt or
/// not what it claims to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EraError {
    /// A record header or its data runs past the end of the file.
    #[error("e2store record at offset {offset} is truncated: {reason}")]
    Truncated {
        /// Byte offset of the record.
        offset: usize,
        /// What is missing.
        reason: String,
    },
    /// A record header has a non-zero reserved field.
    #[error("e2store record at offset {offset} has non-zero reserved bytes")]
    Reserved {
        /// Byte offset of the record.
        offset: usize,
    },
    /// The era1 file does not start with a version record.
    #[error(
        "not an era1 file: first record has type {found:#06x}, expected version {expected:#06x}"
    )]
    MissingVersion {
        /// Expected record type.
        expected: u16,
        /// Found record type (or 0 for an empty file).
        found: u16,
    },
    /// A record of an unexpected type at a position the format fixes.
    #[error(
        "era1 record {index} (offset {offset}): expected type {expected:#06x}, found {found:#06x}"
    )]
    UnexpectedRecord {
        /// Index of the record in the file.
        index: usize,
        /// Byte offset of the record.
        offset: usize,
        /// Expected record type.
        expected: u16,
        /// Found record type.
        found: u16,
    },
    /// A record has the wrong data length for its type.
    #[error(
        "era1 record of type {record_type:#06x} at offset {offset} has {found} data bytes, expected {expected}"
    )]
    BadLength {
        /// Record type.
        record_type: u16,
        /// Byte offset of the record.
        offset: usize,
        /// Expected length.
        expected: usize,
        /// Found length.
        found: usize,
    },
    /// The block index is inconsistent with the records.
    #[error("era1 block index is inconsistent: {reason}")]
    BadIndex {
        /// What is inconsistent.
        reason: String,
    },
    /// Snappy decompression failed.
    #[error("era1 block {number}: {what} does not decompress: {reason}")]
    Snappy {
        /// Block number.
        number: u64,
        /// `header`, `body` or `receipts`.
        what: &'static str,
        /// Decoder message.
        reason: String,
    },
    /// Decompressed data exceeds [`MAX_DECOMPRESSED_LEN`].
    #[error("era1 block {number}: {what} decompresses to more than {limit} bytes")]
    TooLarge {
        /// Block number.
        number: u64,
        /// `header`, `body` or `receipts`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

impl hypasis_primitives::Fault for EraError {
    /// A truncated, mis-typed or undecodable era1 file is bad data from whoever served it
    /// (peer: fetch the file elsewhere).
    fn fault(&self) -> hypasis_primitives::FaultClass {
        match self {
            Self::Truncated { .. }
            | Self::Reserved { .. }
            | Self::MissingVersion { .. }
            | Self::UnexpectedRecord { .. }
            | Self::BadLength { .. }
            | Self::BadIndex { .. }
            | Self::Snappy { .. }
            | Self::TooLarge { .. } => hypasis_primitives::FaultClass::Peer,
        }
    }
}
