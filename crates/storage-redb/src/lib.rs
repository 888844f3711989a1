//! The embedded default storage backend of Hypasis Sync, on [redb](https://docs.rs/redb) 4.
//!
//! One file, one redb [`Database`]. Every [`BlockStorage::put_batch`] is **one write
//! transaction**: the conflict and neighbour-linkage checks read inside it, then it writes the
//! blocks, the hash index, the present ranges, the verification ranges and the byte counter, and
//! commits with redb's default [`Durability::Immediate`](redb::Durability::Immediate) (fsync
//! before `commit` returns). An acknowledged batch therefore survives `SIGKILL` or power loss, and
//! a batch interrupted at any point is invisible after reopening.
//!
//! All redb work runs on tokio's blocking pool (`spawn_blocking`); redb serializes write
//! transactions, so concurrent writers are applied one after the other.
//!
//! # Tables
//!
//! | table | key | value |
//! |---|---|---|
//! | `blocks` | block number `u64` | block record (see below) |
//! | `block_hashes` | block hash `[u8; 32]` | block number `u64` |
//! | `present_ranges` | range start `u64` | range end `u64` (inclusive) |
//! | `verified_linked`, `verified_checkpoint_root`, `verified_accumulator` | range start `u64` | range end `u64` |
//! | `checkpoints` | checkpoint id `u64` | JSON of [`Checkpoint`] |
//! | `scheduler_records` | record key `u64` | opaque record bytes |
//! | `meta` | name `&str` | `u64`: `schema_version`, `bytes`, `scheduler_term` |
//!
//! Present and verification ranges are kept as one key per disjoint range; a batch applies the
//! [`RangeSetDiff`](hypasis_gaps::RangeSetDiff) of inserting its range, computed from the few
//! neighbouring range keys it reads. Block, range and checkpoint counts are the tables' lengths
//! (O(1) in redb); the byte total is the `bytes` counter.
//!
//! Block record: `format (1) ‖ hash (32) ‖ parent hash (32) ‖ level code (1) ‖ header length
//! (u32 LE) ‖ body length (u32 LE) ‖ receipts length (u32 LE) ‖ header ‖ body ‖ receipts`. The
//! stored parent hash lets the neighbour checks run without decoding headers.

use alloy_primitives::{B256, Bytes, keccak256};
use async_trait::async_trait;
use hypasis_gaps::{Range, RangeSet, runs};
use hypasis_primitives::{Checkpoint, RawBlock, VerificationLevel};
use hypasis_storage_api::{
    BlockBatch, BlockStorage, PutOutcome, SchedulerDelta, SchedulerSnapshot, StorageError,
    StorageResult, StorageStats, check_batch, check_checkpoint, check_read, check_same_block,
    check_term, indexed_block,
    record::{decode_checkpoint, encode_checkpoint, len_u32},
};
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, TableDefinition,
};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const BLOCKS: TableDefinition<'static, u64, &[u8]> = TableDefinition::new("blocks");
const HASHES: TableDefinition<'static, &[u8; 32], u64> = TableDefinition::new("block_hashes");
const PRESENT: TableDefinition<'static, u64, u64> = TableDefinition::new("present_ranges");
const CHECKPOINTS: TableDefinition<'static, u64, &[u8]> = TableDefinition::new("checkpoints");
const SCHEDULER: TableDefinition<'static, u64, &[u8]> = TableDefinition::new("scheduler_records");
const META: TableDefinition<'static, &str, u64> = TableDefinition::new("meta");

const META_SCHEMA_VERSION: &str = "schema_version";
const META_BYTES: &str = "bytes";
const META_SCHEDULER_TERM: &str = "scheduler_term";

/// Version of the table layout written by this crate.
pub const SCHEMA_VERSION: u64 = 1;

/// The table holding the ranges recorded under `level`.
fn level_table(level: VerificationLevel) -> TableDefinition<'static, u64, u64> {
    match level {
        VerificationLevel::Linked => TableDefinition::new("verified_linked"),
        VerificationLevel::CheckpointRoot => TableDefinition::new("verified_checkpoint_root"),
        VerificationLevel::Accumulator => TableDefinition::new("verified_accumulator"),
    }
}

/// Tuning of a [`RedbStorage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedbOptions {
    /// redb page cache size in bytes (`None`: redb's default, 1 GiB).
    pub cache_size: Option<usize>,
    /// redb quick-repair: every commit also saves the allocator state (and uses 2-phase
    /// commit), so reopening after a crash is almost instant instead of a full scan of the file.
    /// Costs some write throughput (see `docs/PERFORMANCE.md`). Default: on, because a full
    /// repair of a multi-hundred-GB chain store takes a long time.
    pub quick_repair: bool,
}

impl Default for RedbOptions {
    fn default() -> Self {
        Self {
            cache_size: None,
            quick_repair: true,
        }
    }
}

struct Inner {
    db: Database,
    path: PathBuf,
    options: RedbOptions,
}

/// The embedded storage backend: a redb database file.
///
/// Cheap to clone (shares the open database). Only one process may open a file at a time.
#[derive(Clone)]
pub struct RedbStorage {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedbStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStorage")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// Maps any redb error to a classified [`StorageError`]: damaged or foreign files are
/// [`StorageError::Corrupt`], everything else (I/O, locks, a closed database) is
/// [`StorageError::Unavailable`].
fn db_err(err: impl Into<redb::Error>) -> StorageError {
    use redb::Error as E;
    let err: redb::Error = err.into();
    match err {
        E::Corrupted(_)
        | E::UpgradeRequired(_)
        | E::RepairAborted
        | E::TableTypeMismatch { .. }
        | E::TypeDefinitionChanged { .. }
        | E::TableIsMultimap(_)
        | E::TableIsNotMultimap(_)
        | E::TableDoesNotExist(_) => StorageError::Corrupt(format!("redb: {err}")),
        E::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            StorageError::Corrupt(format!("redb: not a valid database file: {io}"))
        }
        E::ValueTooLarge(len) => {
            StorageError::InvalidArgument(format!("value of {len} bytes is too large for redb"))
        }
        other => StorageError::Unavailable(format!("redb: {other}")),
    }
}

fn corrupt(what: impl fmt::Display) -> StorageError {
    StorageError::Corrupt(what.to_string())
}

// ---------------------------------------------------------------------------------------------
// Block records
// ---------------------------------------------------------------------------------------------

const RECORD_FORMAT: u8 = 1;
const RECORD_HEADER_LEN: usize = 1 + 32 + 32 + 1 + 4 + 4 + 4;

/// The fixed-size prefix of a block record.
#[derive(Debug, Clone, Copy)]
struct RecordHead {
    hash: B256,
    parent_hash: B256,
    lens: [usize; 3],
}

fn encode_record(
    block: &RawBlock,
    parent_hash: &B256,
    level: VerificationLevel,
) -> StorageResult<Vec<u8>> {
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + block.encoded_len());
    out.push(RECORD_FORMAT);
    out.extend_from_slice(block.hash.as_slice());
    out.extend_from_slice(parent_hash.as_slice());
    out.push(level.code());
    out.extend_from_slice(&len_u32(block.header.len(), "header", block.number)?);
    out.extend_from_slice(&len_u32(block.body.len(), "body", block.number)?);
    out.extend_from_slice(&len_u32(block.receipts.len(), "receipts", block.number)?);
    out.extend_from_slice(&block.header);
    out.extend_from_slice(&block.body);
    out.extend_from_slice(&block.receipts);
    Ok(out)
}

fn decode_head(number: u64, value: &[u8]) -> StorageResult<RecordHead> {
    if value.len() < RECORD_HEADER_LEN {
        return Err(corrupt(format!(
            "block {number}: record of {} bytes is truncated",
            value.len()
        )));
    }
    if value[0] != RECORD_FORMAT {
        return Err(corrupt(format!(
            "block {number}: unknown record format {}",
            value[0]
        )));
    }
    let len_at = |at: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&value[at..at + 4]);
        u32::from_le_bytes(b) as usize
    };
    let lens = [len_at(66), len_at(70), len_at(74)];
    let total = lens.iter().sum::<usize>() + RECORD_HEADER_LEN;
    if total != value.len() {
        return Err(corrupt(format!(
            "block {number}: record lengths add up to {total} bytes but the record has {}",
            value.len()
        )));
    }
    Ok(RecordHead {
        hash: B256::from_slice(&value[1..33]),
        parent_hash: B256::from_slice(&value[33..65]),
        lens,
    })
}

fn decode_record(number: u64, value: &[u8]) -> StorageResult<RawBlock> {
    let head = decode_head(number, value)?;
    let [h, b, _] = head.lens;
    let data = &value[RECORD_HEADER_LEN..];
    let header = &data[..h];
    if keccak256(header) != head.hash {
        return Err(corrupt(format!(
            "block {number}: stored header does not hash to the stored hash"
        )));
    }
    Ok(RawBlock {
        number,
        hash: head.hash,
        header: Bytes::copy_from_slice(header),
        body: Bytes::copy_from_slice(&data[h..h + b]),
        receipts: Bytes::copy_from_slice(&data[h + b..]),
    })
}

// ---------------------------------------------------------------------------------------------
// Range keys
// ---------------------------------------------------------------------------------------------

/// Reads the stored ranges that an insert of `range` can touch: the last range starting at or
/// before `range.start`, and every range starting inside `range` or right after it.
fn neighbourhood<T: ReadableTable<u64, u64>>(table: &T, range: Range) -> StorageResult<RangeSet> {
    let mut set = RangeSet::new();
    if let Some(entry) = table.range(..=range.start).map_err(db_err)?.next_back() {
        let (s, e) = entry.map_err(db_err)?;
        set.insert(Range::new(s.value(), e.value()).map_err(corrupt)?);
    }
    let upper = range.end.saturating_add(1);
    for entry in table.range(range.start..=upper).map_err(db_err)? {
        let (s, e) = entry.map_err(db_err)?;
        set.insert(Range::new(s.value(), e.value()).map_err(corrupt)?);
    }
    Ok(set)
}

/// Inserts `range` into the range keys of `table` (applying the diff) and returns how the
/// number of keys changed.
fn insert_range(table: &mut Table<'_, u64, u64>, range: Range) -> StorageResult<i64> {
    let diff = neighbourhood(table, range)?.insert(range);
    let mut delta = 0i64;
    for start in &diff.removed {
        if table.remove(*start).map_err(db_err)?.is_some() {
            delta -= 1;
        }
    }
    for added in &diff.added {
        if table
            .insert(added.start, added.end)
            .map_err(db_err)?
            .is_none()
        {
            delta += 1;
        }
    }
    Ok(delta)
}

fn read_ranges<T: ReadableTable<u64, u64>>(table: &T) -> StorageResult<RangeSet> {
    let mut set = RangeSet::new();
    for entry in table.iter().map_err(db_err)? {
        let (s, e) = entry.map_err(db_err)?;
        set.insert(Range::new(s.value(), e.value()).map_err(corrupt)?);
    }
    Ok(set)
}

fn meta_get<T: ReadableTable<&'static str, u64>>(table: &T, key: &str) -> StorageResult<u64> {
    Ok(table
        .get(key)
        .map_err(db_err)?
        .map(|v| v.value())
        .unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

impl RedbStorage {
    /// Opens (or creates) the database file at `path` with [`RedbOptions::default`], creating
    /// missing parent directories and tables. After a crash, redb repairs the file here.
    ///
    /// Blocking; call it at startup or from `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> StorageResult<Self> {
        Self::open_with(path, RedbOptions::default())
    }

    /// Opens (or creates) the database file at `path` with explicit options.
    pub fn open_with(path: impl AsRef<Path>, options: RedbOptions) -> StorageResult<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StorageError::Unavailable(format!(
                    "cannot create directory {}: {e}",
                    parent.display()
                ))
            })?;
        }
        let mut builder = Database::builder();
        if let Some(bytes) = options.cache_size {
            builder.set_cache_size(bytes);
        }
        let db = builder.create(&path).map_err(db_err)?;
        let store = Self {
            inner: Arc::new(Inner { db, path, options }),
        };
        store.write(|txn| {
            // Creates every table, so reads never meet a missing table.
            txn.open_table(BLOCKS).map_err(db_err)?;
            txn.open_table(HASHES).map_err(db_err)?;
            txn.open_table(PRESENT).map_err(db_err)?;
            txn.open_table(CHECKPOINTS).map_err(db_err)?;
            txn.open_table(SCHEDULER).map_err(db_err)?;
            for level in VerificationLevel::ALL {
                txn.open_table(level_table(level)).map_err(db_err)?;
            }
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let version = meta.get(META_SCHEMA_VERSION).map_err(db_err)?.map(|v| v.value());
            match version {
                None => {
                    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION).map_err(db_err)?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(other) => {
                    return Err(corrupt(format!(
                        "database schema version {other} is not supported (expected {SCHEMA_VERSION})"
                    )));
                }
            }
            Ok(())
        })?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options the database was opened with.
    pub fn options(&self) -> &RedbOptions {
        &self.inner.options
    }

    /// Runs `f` in one write transaction and commits if it returns `Ok`; on `Err` the
    /// transaction is aborted and nothing is written. Blocking.
    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> StorageResult<T>,
    ) -> StorageResult<T> {
        let mut txn = self.inner.db.begin_write().map_err(db_err)?;
        txn.set_quick_repair(self.inner.options.quick_repair);
        match f(&txn) {
            Ok(value) => {
                txn.commit().map_err(db_err)?;
                Ok(value)
            }
            Err(e) => {
                // Dropping aborts too; an abort error adds nothing to the original error.
                let _ = txn.abort();
                Err(e)
            }
        }
    }

    /// Runs `f` in one read transaction (a consistent snapshot). Blocking.
    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> StorageResult<T>,
    ) -> StorageResult<T> {
        let txn = self.inner.db.begin_read().map_err(db_err)?;
        f(&txn)
    }

    /// Runs blocking redb work on tokio's blocking pool.
    async fn blocking<T, F>(&self, f: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&RedbStorage) -> StorageResult<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StorageError::Unavailable(format!("redb task failed: {e}")))?
    }

    /// The synchronous body of [`BlockStorage::put_batch`].
    fn put_batch_blocking(&self, batch: &BlockBatch) -> StorageResult<PutOutcome> {
        let (first_parent, range) = check_batch(batch)?;
        let blocks = &batch.blocks;
        self.write(|txn| {
            let mut table = txn.open_table(BLOCKS).map_err(db_err)?;

            // 1. Checks, all inside the transaction, before anything is written.
            if let Some(below) = range.start.checked_sub(1)
                && let Some(value) = table.get(below).map_err(db_err)?
            {
                let stored = decode_head(below, value.value())?;
                if stored.hash != first_parent {
                    return Err(StorageError::Conflict {
                        number: range.start,
                        reason: format!(
                            "parent hash {first_parent} is not the hash {} of stored block {below}",
                            stored.hash
                        ),
                    });
                }
            }
            if let Some(above) = range.end.checked_add(1)
                && let Some(value) = table.get(above).map_err(db_err)?
            {
                let stored = decode_head(above, value.value())?;
                let last = &blocks[blocks.len() - 1];
                if stored.parent_hash != last.hash {
                    return Err(StorageError::Conflict {
                        number: range.end,
                        reason: format!(
                            "hash {} is not the parent hash {} of stored block {above}",
                            last.hash, stored.parent_hash
                        ),
                    });
                }
            }
            let mut new = Vec::with_capacity(blocks.len());
            for (i, block) in blocks.iter().enumerate() {
                match table.get(block.number).map_err(db_err)? {
                    Some(value) => {
                        let stored = decode_head(block.number, value.value())?;
                        check_same_block(block.number, stored.hash, block.hash)?;
                    }
                    None => new.push(i),
                }
            }
            let mut outcome = PutOutcome::counted(blocks.len(), new.len());
            if new.is_empty() {
                return Ok(outcome);
            }

            // 2. Writes.
            let mut hashes = txn.open_table(HASHES).map_err(db_err)?;
            let mut numbers = Vec::with_capacity(new.len());
            for &i in &new {
                let block = &blocks[i];
                let parent = if i == 0 {
                    first_parent
                } else {
                    blocks[i - 1].hash
                };
                let record = encode_record(block, &parent, batch.level)?;
                table
                    .insert(block.number, record.as_slice())
                    .map_err(db_err)?;
                hashes.insert(&block.hash.0, block.number).map_err(db_err)?;
                outcome.bytes += block.encoded_len() as u64;
                numbers.push(block.number);
            }
            insert_range(&mut txn.open_table(PRESENT).map_err(db_err)?, range)?;
            let mut level = txn.open_table(level_table(batch.level)).map_err(db_err)?;
            for run in runs(&numbers) {
                insert_range(&mut level, run)?;
            }
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let bytes = meta_get(&meta, META_BYTES)?.saturating_add(outcome.bytes);
            meta.insert(META_BYTES, bytes).map_err(db_err)?;
            Ok(outcome)
        })
    }
}

#[async_trait]
impl BlockStorage for RedbStorage {
    fn backend(&self) -> &'static str {
        "redb"
    }

    async fn put_batch(&self, batch: &BlockBatch) -> StorageResult<PutOutcome> {
        // Cheap: the block encodings are reference-counted `Bytes`.
        let batch = batch.clone();
        self.blocking(move |s| s.put_batch_blocking(&batch)).await
    }

    async fn block_by_number(&self, number: u64) -> StorageResult<Option<RawBlock>> {
        self.blocking(move |s| {
            s.read(|txn| {
                let table = txn.open_table(BLOCKS).map_err(db_err)?;
                let value = table.get(number).map_err(db_err)?;
                value.map(|v| decode_record(number, v.value())).transpose()
            })
        })
        .await
    }

    async fn block_by_hash(&self, hash: B256) -> StorageResult<Option<RawBlock>> {
        self.blocking(move |s| {
            s.read(|txn| {
                let hashes = txn.open_table(HASHES).map_err(db_err)?;
                let Some(number) = hashes.get(&hash.0).map_err(db_err)?.map(|v| v.value()) else {
                    return Ok(None);
                };
                let table = txn.open_table(BLOCKS).map_err(db_err)?;
                let value = table.get(number).map_err(db_err)?;
                let block = value
                    .map(|v| decode_record(number, v.value()))
                    .transpose()?;
                indexed_block(hash, number, block).map(Some)
            })
        })
        .await
    }

    async fn blocks(&self, range: Range, limit: usize) -> StorageResult<Vec<RawBlock>> {
        if !check_read("block range", range.start, range.end, limit)? {
            return Ok(Vec::new());
        }
        self.blocking(move |s| {
            s.read(|txn| {
                let table = txn.open_table(BLOCKS).map_err(db_err)?;
                let mut out = Vec::new();
                for entry in table
                    .range(range.start..=range.end)
                    .map_err(db_err)?
                    .take(limit)
                {
                    let (k, v) = entry.map_err(db_err)?;
                    out.push(decode_record(k.value(), v.value())?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn present(&self) -> StorageResult<RangeSet> {
        self.blocking(|s| s.read(|txn| read_ranges(&txn.open_table(PRESENT).map_err(db_err)?)))
            .await
    }

    async fn verification(&self) -> StorageResult<BTreeMap<VerificationLevel, RangeSet>> {
        self.blocking(|s| {
            s.read(|txn| {
                let mut out = BTreeMap::new();
                for level in VerificationLevel::ALL {
                    let set = read_ranges(&txn.open_table(level_table(level)).map_err(db_err)?)?;
                    if !set.is_empty() {
                        out.insert(level, set);
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn stats(&self) -> StorageResult<StorageStats> {
        self.blocking(|s| {
            s.read(|txn| {
                let blocks = txn.open_table(BLOCKS).map_err(db_err)?;
                let present = txn.open_table(PRESENT).map_err(db_err)?;
                let checkpoints = txn.open_table(CHECKPOINTS).map_err(db_err)?;
                let meta = txn.open_table(META).map_err(db_err)?;
                let lowest = present.first().map_err(db_err)?.map(|(s, _)| s.value());
                let highest = present.last().map_err(db_err)?.map(|(_, e)| e.value());
                Ok(StorageStats {
                    blocks: blocks.len().map_err(db_err)?,
                    bytes: meta_get(&meta, META_BYTES)?,
                    lowest,
                    highest,
                    ranges: present.len().map_err(db_err)?,
                    checkpoints: checkpoints.len().map_err(db_err)?,
                })
            })
        })
        .await
    }

    async fn put_checkpoint(&self, checkpoint: &Checkpoint) -> StorageResult<bool> {
        let checkpoint = checkpoint.clone();
        let value = encode_checkpoint(&checkpoint)?;
        self.blocking(move |s| {
            s.write(|txn| {
                let mut table = txn.open_table(CHECKPOINTS).map_err(db_err)?;
                let existing = table
                    .get(checkpoint.id)
                    .map_err(db_err)?
                    .map(|v| decode_checkpoint(checkpoint.id, v.value()))
                    .transpose()?;
                let latest = table
                    .last()
                    .map_err(db_err)?
                    .map(|(k, v)| decode_checkpoint(k.value(), v.value()))
                    .transpose()?;
                let new = check_checkpoint(&checkpoint, existing.as_ref(), latest.as_ref())?;
                if new {
                    table
                        .insert(checkpoint.id, value.as_slice())
                        .map_err(db_err)?;
                }
                Ok(new)
            })
        })
        .await
    }

    async fn checkpoint(&self, id: u64) -> StorageResult<Option<Checkpoint>> {
        self.blocking(move |s| {
            s.read(|txn| {
                let table = txn.open_table(CHECKPOINTS).map_err(db_err)?;
                let value = table.get(id).map_err(db_err)?;
                value.map(|v| decode_checkpoint(id, v.value())).transpose()
            })
        })
        .await
    }

    async fn latest_checkpoint(&self) -> StorageResult<Option<Checkpoint>> {
        self.blocking(|s| {
            s.read(|txn| {
                let table = txn.open_table(CHECKPOINTS).map_err(db_err)?;
                let last = table.last().map_err(db_err)?;
                last.map(|(k, v)| decode_checkpoint(k.value(), v.value()))
                    .transpose()
            })
        })
        .await
    }

    async fn checkpoints(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> StorageResult<Vec<Checkpoint>> {
        if !check_read("checkpoint ids", from, to, limit)? {
            return Ok(Vec::new());
        }
        self.blocking(move |s| {
            s.read(|txn| {
                let table = txn.open_table(CHECKPOINTS).map_err(db_err)?;
                let mut out = Vec::new();
                for entry in table.range(from..=to).map_err(db_err)?.take(limit) {
                    let (k, v) = entry.map_err(db_err)?;
                    out.push(decode_checkpoint(k.value(), v.value())?);
                }
                Ok(out)
            })
        })
        .await
    }

    /// Deletes are applied before upserts, so a key in both lists ends up upserted.
    async fn commit_scheduler(&self, delta: &SchedulerDelta) -> StorageResult<()> {
        let delta = delta.clone();
        self.blocking(move |s| {
            s.write(|txn| {
                let mut meta = txn.open_table(META).map_err(db_err)?;
                let current = meta_get(&meta, META_SCHEDULER_TERM)?;
                check_term(delta.term, current)?;
                meta.insert(META_SCHEDULER_TERM, delta.term)
                    .map_err(db_err)?;
                let mut table = txn.open_table(SCHEDULER).map_err(db_err)?;
                for key in &delta.deletes {
                    table.remove(*key).map_err(db_err)?;
                }
                for (key, value) in &delta.upserts {
                    table.insert(*key, value.as_slice()).map_err(db_err)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn load_scheduler(&self) -> StorageResult<SchedulerSnapshot> {
        self.blocking(|s| {
            s.read(|txn| {
                let meta = txn.open_table(META).map_err(db_err)?;
                let table = txn.open_table(SCHEDULER).map_err(db_err)?;
                let mut records = BTreeMap::new();
                for entry in table.iter().map_err(db_err)? {
                    let (k, v) = entry.map_err(db_err)?;
                    records.insert(k.value(), v.value().to_vec());
                }
                Ok(SchedulerSnapshot {
                    term: meta_get(&meta, META_SCHEDULER_TERM)?,
                    records,
                })
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_damage() {
        let header = vec![0xc0];
        let block = RawBlock {
            number: 5,
            hash: keccak256(&header),
            header: header.into(),
            body: Bytes::from_static(b"body"),
            receipts: Bytes::from_static(b"rcpt"),
        };
        let parent = B256::repeat_byte(9);
        let rec = encode_record(&block, &parent, VerificationLevel::Accumulator).unwrap();
        let head = decode_head(5, &rec).unwrap();
        assert_eq!((head.hash, head.parent_hash), (block.hash, parent));
        assert_eq!(decode_record(5, &rec).unwrap(), block);
        for cut in 0..rec.len() {
            assert!(matches!(
                decode_record(5, &rec[..cut]),
                Err(StorageError::Corrupt(_))
            ));
        }
        let mut flipped = rec.clone();
        flipped[RECORD_HEADER_LEN] ^= 1;
        assert!(matches!(
            decode_record(5, &flipped),
            Err(StorageError::Corrupt(_))
        ));
        let mut format = rec;
        format[0] = 7;
        assert!(matches!(
            decode_record(5, &format),
            Err(StorageError::Corrupt(_))
        ));
    }
}
