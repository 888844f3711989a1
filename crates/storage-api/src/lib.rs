//! The storage API of Hypasis Sync.
//!
//! One trait, [`BlockStorage`], implemented by the embedded backend (`hypasis-storage-redb`, the
//! default) and the FoundationDB backend (`hypasis-storage-fdb`, cargo feature `fdb`). Both run the
//! same contract suite ([`contract`], feature `contract-tests`).
//!
//! # Atomicity
//! [`BlockStorage::put_batch`] writes a contiguous run of blocks, their hash index, the present
//! ranges and the verification ranges **in one atomic commit**: after a crash at any point either
//! the whole batch and its ranges are visible or none of it is. The present ranges therefore never
//! claim a block that is not stored.

use alloy_primitives::B256;
use async_trait::async_trait;
use hypasis_gaps::{Range, RangeSet};
use hypasis_primitives::{
    BlockIntegrityError, Checkpoint, Fault, FaultClass, RawBlock, VerificationLevel,
};
use std::collections::BTreeMap;

pub mod blockfile;
#[cfg(feature = "contract-tests")]
pub mod contract;
pub mod record;
pub mod sink;

/// A contiguous run of validated blocks to write atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockBatch {
    /// Blocks in ascending, consecutive order.
    pub blocks: Vec<RawBlock>,
    /// The verification level the validator reached for the whole batch.
    pub level: VerificationLevel,
}

/// What a successful [`BlockStorage::put_batch`] did.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PutOutcome {
    /// Blocks newly written.
    pub written: u64,
    /// Blocks that were already stored with the same hash (idempotent re-write).
    pub already_present: u64,
    /// Bytes of the newly written blocks' encodings.
    pub bytes: u64,
}

impl PutOutcome {
    /// A batch of `batch` blocks of which `new` are not stored yet (bytes counted as written).
    pub fn counted(batch: usize, new: usize) -> Self {
        Self {
            written: new as u64,
            already_present: batch.saturating_sub(new) as u64,
            bytes: 0,
        }
    }
}

/// Totals kept by the store.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StorageStats {
    /// Blocks stored.
    pub blocks: u64,
    /// Sum of header, body and receipt encodings of stored blocks.
    pub bytes: u64,
    /// Lowest stored block.
    pub lowest: Option<u64>,
    /// Highest stored block.
    pub highest: Option<u64>,
    /// Number of disjoint present ranges.
    pub ranges: u64,
    /// Checkpoints stored.
    pub checkpoints: u64,
}

/// Scheduler state is stored as opaque records (the scheduler owns their encoding) under a
/// fencing term: a write carrying a term lower than the highest seen is refused, so a deposed
/// leader cannot overwrite its successor's state.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SchedulerDelta {
    /// The writer's leadership term (fencing token).
    pub term: u64,
    /// Records to insert or overwrite, by key.
    pub upserts: Vec<(u64, Vec<u8>)>,
    /// Records to delete, by key.
    pub deletes: Vec<u64>,
}

/// All scheduler records with the highest term seen.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SchedulerSnapshot {
    /// Highest term that has written.
    pub term: u64,
    /// Records by key.
    pub records: BTreeMap<u64, Vec<u8>>,
}

/// Storage errors, classified by what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The batch is internally inconsistent (bad hash, bad number, bad RLP, count mismatch).
    /// Caller fault: fix or refetch the data; nothing was written.
    #[error(transparent)]
    Integrity(#[from] BlockIntegrityError),
    /// The batch is empty or its blocks are not consecutive / not hash-linked to each other.
    /// Caller fault; nothing was written.
    #[error("batch is not contiguous at block {number}: {reason}")]
    NotContiguous {
        /// First offending block.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// A block conflicts with what is stored (different hash at the same number, or the batch
    /// does not link to a stored neighbour). Nothing was written; the stored data wins.
    #[error("block {number} conflicts with stored data: {reason}")]
    Conflict {
        /// Offending block.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint would move backwards, change an existing record, or not be contiguous.
    #[error("checkpoint {id} refused: {reason}")]
    CheckpointRefused {
        /// Offending checkpoint id.
        id: u64,
        /// What is wrong.
        reason: String,
    },
    /// A scheduler write carried a term lower than the stored one (a deposed leader).
    #[error("scheduler write with term {given} refused: term {current} already wrote")]
    StaleTerm {
        /// Term of the refused write.
        given: u64,
        /// Highest term stored.
        current: u64,
    },
    /// A request argument is out of bounds (e.g. range start > end).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A transient backend failure (I/O, conflict retry budget exhausted, timeout). Retry.
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded: the database is damaged. Stop and investigate.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StorageError {
    /// Whether the caller sent bad data (as opposed to a local/backend problem): the
    /// [`FaultClass::Peer`] class.
    pub fn is_caller_fault(&self) -> bool {
        self.fault() == FaultClass::Peer
    }

    /// Whether retrying the same request later may succeed: the [`FaultClass::Local`] class
    /// (a caller fault is not retried as it is).
    pub fn is_retryable(&self) -> bool {
        self.fault() == FaultClass::Local
    }
}

impl Fault for StorageError {
    /// Bad, non-contiguous, conflicting or refused input and stale terms are the caller's
    /// (peer); an unavailable backend is local; corrupt stored data is fatal.
    fn fault(&self) -> FaultClass {
        match self {
            Self::Integrity(_)
            | Self::NotContiguous { .. }
            | Self::Conflict { .. }
            | Self::CheckpointRefused { .. }
            | Self::StaleTerm { .. }
            | Self::InvalidArgument(_) => FaultClass::Peer,
            Self::Unavailable(_) => FaultClass::Local,
            Self::Corrupt(_) => FaultClass::Fatal,
        }
    }
}

/// Result alias.
pub type StorageResult<T> = Result<T, StorageError>;

/// Checks what every backend must check before writing a batch: non-empty, consecutive numbers,
/// each block's integrity, parent-hash linkage inside the batch. Returns the decoded parent hash
/// of the first block and the batch range.
pub fn check_batch(batch: &BlockBatch) -> StorageResult<(B256, Range)> {
    let first = batch
        .blocks
        .first()
        .ok_or_else(|| StorageError::NotContiguous {
            number: 0,
            reason: "empty batch".into(),
        })?;
    let mut first_parent = B256::ZERO;
    let mut prev: Option<&RawBlock> = None;
    for block in &batch.blocks {
        let header = block.check_integrity()?;
        if let Some(p) = prev {
            if block.number != p.number.wrapping_add(1) || p.number == u64::MAX {
                return Err(StorageError::NotContiguous {
                    number: block.number,
                    reason: format!("follows block {}", p.number),
                });
            }
            if header.parent_hash != p.hash {
                return Err(StorageError::NotContiguous {
                    number: block.number,
                    reason: format!(
                        "parent hash {} is not the hash {} of block {}",
                        header.parent_hash, p.hash, p.number
                    ),
                });
            }
        } else {
            first_parent = header.parent_hash;
        }
        prev = Some(block);
    }
    let last = prev.expect("non-empty");
    Ok((
        first_parent,
        Range {
            start: first.number,
            end: last.number,
        },
    ))
}

/// What every backend checks before a range read (blocks `start..=end`, checkpoint ids
/// `from..=to`): `start > end` is the caller's error. `Ok(false)`: nothing to read (`limit` 0).
pub fn check_read(what: &str, start: u64, end: u64, limit: usize) -> StorageResult<bool> {
    if start > end {
        return Err(StorageError::InvalidArgument(format!(
            "{what} {start}..={end} has start > end"
        )));
    }
    Ok(limit > 0)
}

/// The term of a scheduler write against the highest one stored: lower is a deposed leader
/// ([`StorageError::StaleTerm`]); `u64::MAX` is refused outright, since no later term could
/// fence a leader that held it.
pub fn check_term(given: u64, current: u64) -> StorageResult<()> {
    if given == u64::MAX {
        return Err(StorageError::InvalidArgument(
            "scheduler term u64::MAX is reserved: no later term could fence it".into(),
        ));
    }
    if given < current {
        return Err(StorageError::StaleTerm { given, current });
    }
    Ok(())
}

/// A batch block already stored: it must be the same block (same hash), else the batch
/// conflicts with what is stored and nothing of it is written.
pub fn check_same_block(number: u64, stored: B256, batch: B256) -> StorageResult<()> {
    if stored != batch {
        return Err(StorageError::Conflict {
            number,
            reason: format!("stored with hash {stored}, batch carries {batch}"),
        });
    }
    Ok(())
}

/// The block a hash-index entry points at, as every backend checks it: it must be stored and
/// carry that hash, else the index is damaged ([`StorageError::Corrupt`]).
pub fn indexed_block(hash: B256, number: u64, block: Option<RawBlock>) -> StorageResult<RawBlock> {
    let block = block.ok_or_else(|| {
        StorageError::Corrupt(format!(
            "hash index points {hash} at block {number}, which is not stored"
        ))
    })?;
    if block.hash != hash {
        return Err(StorageError::Corrupt(format!(
            "hash index points {hash} at block {number}, which has hash {}",
            block.hash
        )));
    }
    Ok(block)
}

/// Checks a new checkpoint against the stored latest one: ids and ranges only move forward,
/// contiguously (`start == previous end + 1`), and an existing id never changes.
pub fn check_checkpoint(
    new: &Checkpoint,
    existing_same_id: Option<&Checkpoint>,
    latest: Option<&Checkpoint>,
) -> StorageResult<bool> {
    if let Some(old) = existing_same_id {
        if old.range == new.range && old.root == new.root {
            return Ok(false); // already stored; idempotent
        }
        return Err(StorageError::CheckpointRefused {
            id: new.id,
            reason: format!(
                "a different checkpoint {} ({}, root {}) is already stored",
                old.id, old.range, old.root
            ),
        });
    }
    if let Some(latest) = latest {
        if new.id <= latest.id {
            return Err(StorageError::CheckpointRefused {
                id: new.id,
                reason: format!("goes backwards: latest stored is {}", latest.id),
            });
        }
        if new.range.start != latest.range.end.saturating_add(1) {
            return Err(StorageError::CheckpointRefused {
                id: new.id,
                reason: format!(
                    "not contiguous: starts at {} but latest checkpoint {} ends at {}",
                    new.range.start, latest.id, latest.range.end
                ),
            });
        }
    }
    Ok(true)
}

/// The storage backend trait.
///
/// Implementations must be safe to share between tasks. Reads see only committed batches.
#[async_trait]
pub trait BlockStorage: Send + Sync + std::fmt::Debug + 'static {
    /// Backend name for logs and metrics (`redb`, `fdb`).
    fn backend(&self) -> &'static str;

    /// Writes a contiguous batch atomically (blocks, hash index, present and verification
    /// ranges, stats). Runs [`check_batch`] first, then refuses conflicts with stored blocks
    /// (same number, different hash; or a first/last block that does not hash-link to a stored
    /// neighbour). Blocks already stored with the same hash are left as they are. On any error
    /// nothing of the batch is written.
    async fn put_batch(&self, batch: &BlockBatch) -> StorageResult<PutOutcome>;

    /// The block at `number`, if stored.
    async fn block_by_number(&self, number: u64) -> StorageResult<Option<RawBlock>>;

    /// The block with `hash`, if stored.
    async fn block_by_hash(&self, hash: B256) -> StorageResult<Option<RawBlock>>;

    /// Stored blocks inside `range`, ascending, at most `limit` of them (missing numbers are
    /// skipped). Callers page through a large range by calling again from the last number + 1.
    async fn blocks(&self, range: Range, limit: usize) -> StorageResult<Vec<RawBlock>>;

    /// The set of present block numbers.
    async fn present(&self) -> StorageResult<RangeSet>;

    /// Missing sub-ranges of `within`.
    async fn gaps(&self, within: Range) -> StorageResult<Vec<Range>> {
        Ok(self.present().await?.gaps(within))
    }

    /// Present ranges per verification level. A block is recorded under the level of the batch
    /// that wrote it.
    async fn verification(&self) -> StorageResult<BTreeMap<VerificationLevel, RangeSet>>;

    /// Totals.
    async fn stats(&self) -> StorageResult<StorageStats>;

    /// Stores a checkpoint after [`check_checkpoint`]; returns whether it was new.
    async fn put_checkpoint(&self, checkpoint: &Checkpoint) -> StorageResult<bool>;

    /// The checkpoint with `id`.
    async fn checkpoint(&self, id: u64) -> StorageResult<Option<Checkpoint>>;

    /// The newest stored checkpoint.
    async fn latest_checkpoint(&self) -> StorageResult<Option<Checkpoint>>;

    /// Checkpoints with ids in `from..=to`, ascending, at most `limit`.
    async fn checkpoints(&self, from: u64, to: u64, limit: usize)
    -> StorageResult<Vec<Checkpoint>>;

    /// Applies a scheduler delta atomically, refusing a stale term.
    async fn commit_scheduler(&self, delta: &SchedulerDelta) -> StorageResult<()>;

    /// Loads all scheduler records.
    async fn load_scheduler(&self) -> StorageResult<SchedulerSnapshot>;
}

#[cfg(test)]
mod fault_tests {
    use super::*;

    #[test]
    fn storage_errors_have_a_class() {
        let refused = StorageError::CheckpointRefused {
            id: 1,
            reason: "backwards".into(),
        };
        assert_eq!(refused.fault(), FaultClass::Peer);
        assert!(refused.is_caller_fault() && !refused.is_retryable());
        let stale = StorageError::StaleTerm {
            given: 1,
            current: 2,
        };
        assert_eq!(stale.fault(), FaultClass::Peer);
        let down = StorageError::Unavailable("io".into());
        assert_eq!(down.fault(), FaultClass::Local);
        assert!(down.is_retryable() && !down.is_caller_fault());
        let corrupt = StorageError::Corrupt("bad record".into());
        assert_eq!(corrupt.fault(), FaultClass::Fatal);
        assert!(!corrupt.is_retryable() && !corrupt.is_caller_fault());
    }
}
