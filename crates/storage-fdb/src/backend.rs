//! The FoundationDB backend (see the crate docs for the key schema).

use alloy_primitives::{B256, Bytes, keccak256};
use async_trait::async_trait;
use foundationdb::options::{DatabaseOption, MutationType};
use foundationdb::tuple::{Bytes as TupleBytes, Subspace, TupleUnpack};
use foundationdb::{
    Database, FdbBindingError, FdbError, RangeOption, RetryableTransaction, Transaction,
};
use hypasis_gaps::{Range, RangeSet, runs};
use hypasis_primitives::{Checkpoint, RawBlock, VerificationLevel};
use hypasis_storage_api::{
    BlockBatch, BlockStorage, PutOutcome, SchedulerDelta, SchedulerSnapshot, StorageError,
    StorageResult, StorageStats, check_batch, check_checkpoint, check_read, check_same_block,
    check_term, indexed_block,
    record::{decode_checkpoint, encode_checkpoint, len_u32},
};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Largest value chunk written (FoundationDB refuses values over 100,000 bytes).
pub const CHUNK_BYTES: usize = 100_000;

/// Largest batch accepted, as the sum of its blocks' encodings. FoundationDB refuses
/// transactions over 10 MB of writes; 8 MB leaves room for keys, the hash index and ranges.
/// The same bound applies to the records of one scheduler delta.
pub const MAX_BATCH_BYTES: u64 = 8_000_000;

/// A [`BlockStorage::blocks`] call stops after the block that crosses this many bytes, to stay
/// well inside FoundationDB's 5-second transaction limit; callers page on from the last number.
pub const MAX_READ_BYTES: usize = 8_000_000;

/// Version of the key layout written by this crate.
pub const SCHEMA_VERSION: u64 = 1;

const HEAD_FORMAT: u8 = 1;
const HEAD_LEN: usize = 1 + 32 + 32 + 1 + 4 * 4;

// ---------------------------------------------------------------------------------------------
// Network
// ---------------------------------------------------------------------------------------------

const NET_NEVER: u8 = 0;
const NET_RUNNING: u8 = 1;
const NET_STOPPED: u8 = 2;
static NETWORK: AtomicU8 = AtomicU8::new(NET_NEVER);

/// The running FoundationDB client network. Dropping it stops the network for good (it cannot
/// be started again in this process); drop it after every [`FdbStorage`] and before exiting.
pub struct FdbNetwork {
    guard: Option<foundationdb::api::NetworkAutoStop>,
}

impl fmt::Debug for FdbNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdbNetwork")
            .field("running", &self.guard.is_some())
            .finish()
    }
}

impl Drop for FdbNetwork {
    fn drop(&mut self) {
        NETWORK.store(NET_STOPPED, Ordering::SeqCst);
        // Stops the network and joins its thread.
        drop(self.guard.take());
    }
}

/// Selects the FoundationDB API version and starts the client network thread, once per
/// process. A second call returns [`StorageError::Unavailable`] instead of panicking.
///
/// # Safety
///
/// As for `foundationdb::boot`: the returned guard must be dropped before the process exits
/// (not leaked, no `std::process::exit` while it lives), otherwise the client library may crash
/// during exit.
#[allow(unsafe_code)]
pub unsafe fn boot() -> StorageResult<FdbNetwork> {
    if NETWORK
        .compare_exchange(NET_NEVER, NET_RUNNING, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return Err(StorageError::Unavailable(
            "the FoundationDB network was already started in this process (it starts once)".into(),
        ));
    }
    let started = foundationdb::api::FdbApiBuilder::default()
        .build()
        // SAFETY: the caller keeps the guard until before exit (this function's contract).
        .and_then(|builder| unsafe { builder.boot() });
    match started {
        Ok(guard) => Ok(FdbNetwork { guard: Some(guard) }),
        Err(e) => {
            NETWORK.store(NET_STOPPED, Ordering::SeqCst);
            Err(StorageError::Unavailable(format!(
                "cannot start the FoundationDB network: {e}"
            )))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a transaction attempt failed: a FoundationDB error (maybe retryable) or our own verdict.
enum Fail {
    Fdb(FdbError),
    Store(StorageError),
}

impl From<FdbError> for Fail {
    fn from(e: FdbError) -> Self {
        Self::Fdb(e)
    }
}

impl From<StorageError> for Fail {
    fn from(e: StorageError) -> Self {
        Self::Store(e)
    }
}

impl Fail {
    fn into_binding(self) -> FdbBindingError {
        match self {
            // `run` asks FoundationDB whether this error is retryable and retries if so.
            Self::Fdb(e) => FdbBindingError::NonRetryableFdbError(e),
            Self::Store(e) => FdbBindingError::CustomError(Box::new(e)),
        }
    }
}

fn corrupt(what: impl fmt::Display) -> Fail {
    Fail::Store(StorageError::Corrupt(what.to_string()))
}

/// Classifies a FoundationDB error.
fn fdb_error(e: FdbError) -> StorageError {
    match e.code() {
        // transaction_too_large, key_too_large, value_too_large: the request is too big
        2101..=2103 => StorageError::InvalidArgument(format!(
            "FoundationDB refused the write: {e} ({})",
            e.code()
        )),
        code => StorageError::Unavailable(format!("FoundationDB error {code}: {e}")),
    }
}

fn binding_error(e: FdbBindingError) -> StorageError {
    match e {
        FdbBindingError::CustomError(inner) => match inner.downcast::<StorageError>() {
            Ok(store) => *store,
            Err(other) => StorageError::Unavailable(other.to_string()),
        },
        FdbBindingError::NonRetryableFdbError(e) => fdb_error(e),
        FdbBindingError::PackError(e) => StorageError::Corrupt(format!("tuple decoding: {e}")),
        other => match other.get_fdb_error() {
            Some(e) => fdb_error(e),
            None => StorageError::Unavailable(other.to_string()),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and values
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Keys {
    root: Subspace,
    blocks: Subspace,
    hashes: Subspace,
    present: Subspace,
    levels: Subspace,
    stats: Subspace,
    checkpoints: Subspace,
    sched: Subspace,
    term: Vec<u8>,
    schema: Vec<u8>,
}

const STAT_BLOCKS: &str = "blocks";
const STAT_BYTES: &str = "bytes";
const STAT_RANGES: &str = "ranges";
const STAT_CHECKPOINTS: &str = "checkpoints";

impl Keys {
    fn new(chain: &str) -> Self {
        let root = Subspace::from(("hypasis", chain));
        Self {
            blocks: root.subspace(&"blk"),
            hashes: root.subspace(&"hash"),
            present: root.subspace(&"present"),
            levels: root.subspace(&"lvl"),
            stats: root.subspace(&"stat"),
            checkpoints: root.subspace(&"ckpt"),
            sched: root.subspace(&"sched"),
            term: root.pack(&"term"),
            schema: root.pack(&"schema"),
            root,
        }
    }

    fn level(&self, level: VerificationLevel) -> Subspace {
        self.levels.subspace(&u64::from(level.code()))
    }

    fn hash(&self, hash: &B256) -> Vec<u8> {
        self.hashes
            .pack(&TupleBytes(Cow::Borrowed(hash.as_slice())))
    }

    fn stat(&self, name: &str) -> Vec<u8> {
        self.stats.pack(&name)
    }
}

/// The exclusive end key that includes `key` and every key it prefixes.
fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = Vec::with_capacity(key.len() + 1);
    end.extend_from_slice(key);
    end.push(0xff);
    end
}

/// The exclusive end key that includes exactly `key` (and nothing it prefixes).
fn key_end(key: &[u8]) -> Vec<u8> {
    let mut end = Vec::with_capacity(key.len() + 1);
    end.extend_from_slice(key);
    end.push(0x00);
    end
}

fn u64_be(what: &str, value: &[u8]) -> Result<u64, Fail> {
    <[u8; 8]>::try_from(value)
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt(format!("{what}: expected 8 bytes, found {}", value.len())))
}

fn u32_le(value: &[u8], at: usize) -> usize {
    let mut b = [0u8; 4];
    b.copy_from_slice(&value[at..at + 4]);
    u32::from_le_bytes(b) as usize
}

fn counter(value: Option<&[u8]>) -> i64 {
    let mut b = [0u8; 8];
    if let Some(v) = value {
        let n = v.len().min(8);
        b[..n].copy_from_slice(&v[..n]);
    }
    i64::from_le_bytes(b)
}

fn add(trx: &Transaction, key: &[u8], delta: i64) {
    if delta != 0 {
        trx.atomic_op(key, &delta.to_le_bytes(), MutationType::Add);
    }
}

fn unpack<'de, T: TupleUnpack<'de>>(sub: &Subspace, key: &'de [u8]) -> Result<T, Fail> {
    sub.unpack(key)
        .map_err(|e| corrupt(format!("undecodable key under {sub}: {e}")))
}

/// The head of a stored block.
#[derive(Debug, Clone, Copy)]
struct Head {
    hash: B256,
    parent_hash: B256,
    lens: [usize; 3],
    chunks: usize,
}

fn encode_head(
    block: &RawBlock,
    parent: &B256,
    level: VerificationLevel,
    chunks: usize,
) -> StorageResult<Vec<u8>> {
    let mut out = Vec::with_capacity(HEAD_LEN);
    out.push(HEAD_FORMAT);
    out.extend_from_slice(block.hash.as_slice());
    out.extend_from_slice(parent.as_slice());
    out.push(level.code());
    out.extend_from_slice(&len_u32(block.header.len(), "header", block.number)?);
    out.extend_from_slice(&len_u32(block.body.len(), "body", block.number)?);
    out.extend_from_slice(&len_u32(block.receipts.len(), "receipts", block.number)?);
    out.extend_from_slice(&len_u32(chunks, "chunk count", block.number)?);
    Ok(out)
}

fn decode_head(number: u64, value: &[u8]) -> Result<Head, Fail> {
    if value.len() != HEAD_LEN || value[0] != HEAD_FORMAT {
        return Err(corrupt(format!(
            "block {number}: bad head ({} bytes, format {:?})",
            value.len(),
            value.first()
        )));
    }
    let lens = [u32_le(value, 66), u32_le(value, 70), u32_le(value, 74)];
    let chunks = u32_le(value, 78);
    let total: usize = lens.iter().sum();
    if chunks != total.div_ceil(CHUNK_BYTES) {
        return Err(corrupt(format!(
            "block {number}: {chunks} chunks cannot hold {total} bytes"
        )));
    }
    Ok(Head {
        hash: B256::from_slice(&value[1..33]),
        parent_hash: B256::from_slice(&value[33..65]),
        lens,
        chunks,
    })
}

/// Reassembles blocks from a key-ordered scan of heads and chunks.
#[derive(Default)]
struct Assembler {
    current: Option<(u64, Head, Vec<u8>, usize)>,
    done: Vec<RawBlock>,
    bytes: usize,
}

impl Assembler {
    fn visit(&mut self, keys: &Keys, key: &[u8], value: &[u8]) -> Result<(), Fail> {
        if let Ok((number, index)) = keys.blocks.unpack::<(u64, u64)>(key) {
            let Some((n, head, data, seen)) = self.current.as_mut() else {
                return Err(corrupt(format!(
                    "block {number}: chunk {index} without a head"
                )));
            };
            if *n != number || *seen as u64 != index || value.len() > CHUNK_BYTES {
                return Err(corrupt(format!("block {number}: unexpected chunk {index}")));
            }
            data.extend_from_slice(value);
            *seen += 1;
            if *seen == head.chunks {
                self.finish()?;
            }
            return Ok(());
        }
        let number: u64 = unpack(&keys.blocks, key)?;
        if let Some((n, ..)) = &self.current {
            return Err(corrupt(format!(
                "block {n}: missing chunks before block {number}"
            )));
        }
        let head = decode_head(number, value)?;
        let total = head.lens.iter().sum();
        self.current = Some((number, head, Vec::with_capacity(total), 0));
        if head.chunks == 0 {
            self.finish()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Fail> {
        let Some((number, head, data, _)) = self.current.take() else {
            return Ok(());
        };
        let [h, b, _] = head.lens;
        if data.len() != head.lens.iter().sum::<usize>() {
            return Err(corrupt(format!(
                "block {number}: chunks hold {} bytes, head says {:?}",
                data.len(),
                head.lens
            )));
        }
        if keccak256(&data[..h]) != head.hash {
            return Err(corrupt(format!(
                "block {number}: stored header does not hash to the stored hash"
            )));
        }
        self.bytes += data.len();
        let data = Bytes::from(data);
        self.done.push(RawBlock {
            number,
            hash: head.hash,
            header: data.slice(..h),
            body: data.slice(h..h + b),
            receipts: data.slice(h + b..),
        });
        Ok(())
    }

    /// The completed blocks; an unfinished block means chunks are missing.
    fn into_blocks(self) -> Result<Vec<RawBlock>, Fail> {
        if let Some((n, ..)) = self.current {
            return Err(corrupt(format!("block {n}: chunks are missing")));
        }
        Ok(self.done)
    }
}

/// Reads `[begin, end)` page by page (at most `limit` pairs if set), calling `visit` on each
/// pair until it returns `false`.
async fn scan(
    trx: &Transaction,
    begin: Vec<u8>,
    end: Vec<u8>,
    reverse: bool,
    limit: Option<usize>,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool, Fail> + Send,
) -> Result<(), Fail> {
    let mut opt = RangeOption {
        limit,
        reverse,
        ..RangeOption::from((begin, end))
    };
    let mut iteration = 1;
    loop {
        let values = trx.get_range(&opt, iteration, false).await?;
        for kv in values.iter() {
            if !visit(kv.key(), kv.value())? {
                return Ok(());
            }
        }
        match opt.next_range(&values) {
            Some(next) => {
                opt = next;
                iteration += 1;
            }
            None => return Ok(()),
        }
    }
}

/// Reads the range keys of `sub` that inserting `range` can touch.
async fn neighbourhood(trx: &Transaction, sub: &Subspace, range: Range) -> Result<RangeSet, Fail> {
    let mut set = RangeSet::new();
    let mut add = |k: &[u8], v: &[u8]| -> Result<bool, Fail> {
        let start: u64 = unpack(sub, k)?;
        let end = u64_be("range end", v)?;
        set.insert(Range::new(start, end).map_err(corrupt)?);
        Ok(true)
    };
    let at_start = key_end(&sub.pack(&range.start));
    scan(trx, sub.bytes().to_vec(), at_start, true, Some(1), &mut add).await?;
    let upper = key_end(&sub.pack(&range.end.saturating_add(1)));
    scan(trx, sub.pack(&range.start), upper, false, None, &mut add).await?;
    Ok(set)
}

/// Inserts `range` into the range keys of `sub` and returns the change in the number of keys.
async fn insert_range(trx: &Transaction, sub: &Subspace, range: Range) -> Result<i64, Fail> {
    let mut set = neighbourhood(trx, sub, range).await?;
    let existing: BTreeSet<u64> = set.iter().map(|r| r.start).collect();
    let diff = set.insert(range);
    let mut delta = 0;
    for start in &diff.removed {
        trx.clear(&sub.pack(start));
        if existing.contains(start) {
            delta -= 1;
        }
    }
    for added in &diff.added {
        trx.set(&sub.pack(&added.start), &added.end.to_be_bytes());
        if !existing.contains(&added.start) {
            delta += 1;
        }
    }
    Ok(delta)
}

async fn read_ranges(trx: &Transaction, sub: &Subspace) -> Result<RangeSet, Fail> {
    let mut set = RangeSet::new();
    let (begin, end) = (sub.bytes().to_vec(), prefix_end(sub.bytes()));
    scan(trx, begin, end, false, None, |k, v| {
        let start: u64 = unpack(sub, k)?;
        set.insert(Range::new(start, u64_be("range end", v)?).map_err(corrupt)?);
        Ok(true)
    })
    .await?;
    Ok(set)
}

/// Writes `data` as a head (`len ‖ chunks`, u32 LE each) under `key` plus chunks under
/// `key ‖ pack(i)`, replacing whatever was there.
fn write_chunked(trx: &Transaction, sub: &Subspace, key: u64, data: &[u8]) -> StorageResult<()> {
    let head_key = sub.pack(&key);
    trx.clear_range(&head_key, &prefix_end(&head_key));
    let chunks = data.chunks(CHUNK_BYTES);
    let mut head = Vec::with_capacity(8);
    head.extend_from_slice(&len_u32(data.len(), "record", key)?);
    head.extend_from_slice(&len_u32(chunks.len(), "chunk count", key)?);
    trx.set(&head_key, &head);
    for (i, chunk) in chunks.enumerate() {
        trx.set(&sub.pack(&(key, i as u64)), chunk);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

/// Transaction settings of an [`FdbStorage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdbOptions {
    /// Timeout of one transaction attempt, in milliseconds (FoundationDB option
    /// `TransactionTimeout`).
    pub timeout_ms: i32,
    /// Retries of a transaction on conflicts and retryable errors (`TransactionRetryLimit`).
    pub retry_limit: i32,
}

impl Default for FdbOptions {
    fn default() -> Self {
        Self {
            timeout_ms: 5_000,
            retry_limit: 20,
        }
    }
}

/// The FoundationDB storage backend for one chain (a tuple subspace `("hypasis", chain)`).
///
/// Cheap to clone. Needs the network started with [`boot`].
#[derive(Clone)]
pub struct FdbStorage {
    db: Arc<Database>,
    keys: Arc<Keys>,
    chain: Arc<str>,
}

impl fmt::Debug for FdbStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdbStorage")
            .field("chain", &self.chain)
            .field("subspace", &self.keys.root.to_string())
            .finish_non_exhaustive()
    }
}

impl FdbStorage {
    /// Connects to the cluster (`cluster_file`, or the default cluster file when `None`) and
    /// opens the subspace of `chain`, with [`FdbOptions::default`]. Checks (or writes, on first
    /// use) the layout version. The network must be running ([`boot`]).
    pub async fn open(cluster_file: Option<&str>, chain: &str) -> StorageResult<Self> {
        Self::open_with(cluster_file, chain, FdbOptions::default()).await
    }

    /// [`FdbStorage::open`] with explicit transaction settings.
    pub async fn open_with(
        cluster_file: Option<&str>,
        chain: &str,
        options: FdbOptions,
    ) -> StorageResult<Self> {
        if chain.is_empty() {
            return Err(StorageError::InvalidArgument("chain name is empty".into()));
        }
        if NETWORK.load(Ordering::SeqCst) != NET_RUNNING {
            return Err(StorageError::Unavailable(
                "the FoundationDB network is not running: call hypasis_storage_fdb::boot() first"
                    .into(),
            ));
        }
        let db = Database::new(cluster_file).map_err(fdb_error)?;
        db.set_option(DatabaseOption::TransactionTimeout(options.timeout_ms))
            .map_err(fdb_error)?;
        db.set_option(DatabaseOption::TransactionRetryLimit(options.retry_limit))
            .map_err(fdb_error)?;
        let store = Self {
            db: Arc::new(db),
            keys: Arc::new(Keys::new(chain)),
            chain: chain.into(),
        };
        let keys = &store.keys;
        store
            .run(|trx| async move {
                match trx.get(&keys.schema, false).await? {
                    None => trx.set(&keys.schema, &SCHEMA_VERSION.to_be_bytes()),
                    Some(v) => {
                        let version = u64_be("schema version", &v)?;
                        if version != SCHEMA_VERSION {
                            return Err(corrupt(format!(
                                "chain {chain} has layout version {version}, expected {SCHEMA_VERSION}"
                            )));
                        }
                    }
                }
                Ok(())
            })
            .await?;
        Ok(store)
    }

    /// The chain name (second element of the subspace).
    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// Deletes **everything** stored for this chain (all blocks, ranges, checkpoints, scheduler
    /// records). For tests and decommissioning.
    pub async fn wipe(&self) -> StorageResult<()> {
        let root = &self.keys.root;
        self.run(|trx| async move {
            trx.clear_range(root.bytes(), &prefix_end(root.bytes()));
            Ok(())
        })
        .await
    }

    /// Runs `f` in FoundationDB's retry loop and classifies the outcome.
    async fn run<'a, T, F, Fut>(&'a self, f: F) -> StorageResult<T>
    where
        F: Fn(RetryableTransaction) -> Fut + Send + Sync + 'a,
        Fut: Future<Output = Result<T, Fail>> + Send + 'a,
        T: Send,
    {
        self.db
            .run(|trx, _maybe_committed| {
                let attempt = f(trx);
                async move { attempt.await.map_err(Fail::into_binding) }
            })
            .await
            .map_err(binding_error)
    }

    async fn read_block(
        trx: &Transaction,
        keys: &Keys,
        number: u64,
    ) -> Result<Option<RawBlock>, Fail> {
        let head = keys.blocks.pack(&number);
        let end = prefix_end(&head);
        let mut asm = Assembler::default();
        scan(trx, head, end, false, None, |k, v| {
            asm.visit(keys, k, v).map(|_| true)
        })
        .await?;
        Ok(asm.into_blocks()?.pop())
    }

    /// The checkpoint with the highest id (one reverse scan of the checkpoint keys).
    async fn read_latest_checkpoint(
        trx: &Transaction,
        keys: &Keys,
    ) -> Result<Option<Checkpoint>, Fail> {
        let mut latest = None;
        let (begin, end) = (
            keys.checkpoints.bytes().to_vec(),
            prefix_end(keys.checkpoints.bytes()),
        );
        scan(trx, begin, end, true, Some(1), |k, v| {
            let id: u64 = unpack(&keys.checkpoints, k)?;
            latest = Some(decode_checkpoint(id, v)?);
            Ok(false)
        })
        .await?;
        Ok(latest)
    }
}

#[async_trait]
impl BlockStorage for FdbStorage {
    fn backend(&self) -> &'static str {
        "fdb"
    }

    async fn put_batch(&self, batch: &BlockBatch) -> StorageResult<PutOutcome> {
        let (first_parent, range) = check_batch(batch)?;
        let total: u64 = batch.blocks.iter().map(|b| b.encoded_len() as u64).sum();
        if total > MAX_BATCH_BYTES {
            return Err(StorageError::InvalidArgument(format!(
                "batch {range} holds {total} bytes; the FoundationDB backend accepts at most {MAX_BATCH_BYTES} per batch"
            )));
        }
        let keys = &*self.keys;
        let blocks = &batch.blocks;
        let level = batch.level;
        self.run(|trx| async move {
            // 1. Checks, inside the transaction: stored neighbours and stored blocks.
            let head_of = |n: u64| trx.get(&keys.blocks.pack(&n), false);
            if let Some(below) = range.start.checked_sub(1)
                && let Some(v) = head_of(below).await?
            {
                let stored = decode_head(below, &v)?;
                if stored.hash != first_parent {
                    return Err(Fail::Store(StorageError::Conflict {
                        number: range.start,
                        reason: format!(
                            "parent hash {first_parent} is not the hash {} of stored block {below}",
                            stored.hash
                        ),
                    }));
                }
            }
            let last = &blocks[blocks.len() - 1];
            if let Some(above) = range.end.checked_add(1)
                && let Some(v) = head_of(above).await?
            {
                let stored = decode_head(above, &v)?;
                if stored.parent_hash != last.hash {
                    return Err(Fail::Store(StorageError::Conflict {
                        number: range.end,
                        reason: format!(
                            "hash {} is not the parent hash {} of stored block {above}",
                            last.hash, stored.parent_hash
                        ),
                    }));
                }
            }
            let stored =
                futures::future::try_join_all(blocks.iter().map(|b| head_of(b.number))).await?;
            let mut new = Vec::with_capacity(blocks.len());
            for (i, (block, value)) in blocks.iter().zip(&stored).enumerate() {
                match value {
                    Some(v) => {
                        let head = decode_head(block.number, v)?;
                        check_same_block(block.number, head.hash, block.hash)?;
                    }
                    None => new.push(i),
                }
            }
            let mut outcome = PutOutcome::counted(blocks.len(), new.len());
            if new.is_empty() {
                return Ok(outcome);
            }

            // 2. Writes.
            let mut numbers = Vec::with_capacity(new.len());
            for &i in &new {
                let block = &blocks[i];
                let parent = if i == 0 {
                    first_parent
                } else {
                    blocks[i - 1].hash
                };
                let mut data = Vec::with_capacity(block.encoded_len());
                data.extend_from_slice(&block.header);
                data.extend_from_slice(&block.body);
                data.extend_from_slice(&block.receipts);
                let chunks = data.len().div_ceil(CHUNK_BYTES);
                let head_key = keys.blocks.pack(&block.number);
                trx.set(&head_key, &encode_head(block, &parent, level, chunks)?);
                for (c, chunk) in data.chunks(CHUNK_BYTES).enumerate() {
                    trx.set(&keys.blocks.pack(&(block.number, c as u64)), chunk);
                }
                trx.set(&keys.hash(&block.hash), &block.number.to_be_bytes());
                outcome.bytes += data.len() as u64;
                numbers.push(block.number);
            }
            let ranges = insert_range(&trx, &keys.present, range).await?;
            let level_sub = keys.level(level);
            for run in runs(&numbers) {
                insert_range(&trx, &level_sub, run).await?;
            }
            add(&trx, &keys.stat(STAT_BLOCKS), outcome.written as i64);
            add(&trx, &keys.stat(STAT_BYTES), outcome.bytes as i64);
            add(&trx, &keys.stat(STAT_RANGES), ranges);
            Ok(outcome)
        })
        .await
    }

    async fn block_by_number(&self, number: u64) -> StorageResult<Option<RawBlock>> {
        let keys = &*self.keys;
        self.run(|trx| async move { Self::read_block(&trx, keys, number).await })
            .await
    }

    async fn block_by_hash(&self, hash: B256) -> StorageResult<Option<RawBlock>> {
        let keys = &*self.keys;
        self.run(|trx| async move {
            let Some(v) = trx.get(&keys.hash(&hash), false).await? else {
                return Ok(None);
            };
            let number = u64_be("hash index", &v)?;
            let block = Self::read_block(&trx, keys, number).await?;
            Ok(Some(indexed_block(hash, number, block)?))
        })
        .await
    }

    async fn blocks(&self, range: Range, limit: usize) -> StorageResult<Vec<RawBlock>> {
        if !check_read("block range", range.start, range.end, limit)? {
            return Ok(Vec::new());
        }
        let keys = &*self.keys;
        self.run(|trx| async move {
            let begin = keys.blocks.pack(&range.start);
            let end = prefix_end(&keys.blocks.pack(&range.end));
            let mut asm = Assembler::default();
            scan(&trx, begin, end, false, None, |k, v| {
                asm.visit(keys, k, v)?;
                Ok(asm.current.is_some() || (asm.done.len() < limit && asm.bytes < MAX_READ_BYTES))
            })
            .await?;
            asm.into_blocks()
        })
        .await
    }

    async fn present(&self) -> StorageResult<RangeSet> {
        let keys = &*self.keys;
        self.run(|trx| async move { read_ranges(&trx, &keys.present).await })
            .await
    }

    async fn verification(&self) -> StorageResult<BTreeMap<VerificationLevel, RangeSet>> {
        let keys = &*self.keys;
        self.run(|trx| async move {
            let mut out = BTreeMap::new();
            for level in VerificationLevel::ALL {
                let set = read_ranges(&trx, &keys.level(level)).await?;
                if !set.is_empty() {
                    out.insert(level, set);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn stats(&self) -> StorageResult<StorageStats> {
        let keys = &*self.keys;
        self.run(|trx| async move {
            let mut values = [0i64; 4];
            for (slot, name) in [STAT_BLOCKS, STAT_BYTES, STAT_RANGES, STAT_CHECKPOINTS]
                .iter()
                .enumerate()
            {
                let v = trx.get(&keys.stat(name), false).await?;
                values[slot] = counter(v.as_deref());
            }
            let [blocks, bytes, ranges, checkpoints] = values
                .map(|v| u64::try_from(v).map_err(|_| corrupt(format!("negative counter {v}"))));
            let (begin, end) = (
                keys.present.bytes().to_vec(),
                prefix_end(keys.present.bytes()),
            );
            let mut lowest = None;
            scan(&trx, begin.clone(), end.clone(), false, Some(1), |k, _| {
                lowest = Some(unpack::<u64>(&keys.present, k)?);
                Ok(false)
            })
            .await?;
            let mut highest = None;
            scan(&trx, begin, end, true, Some(1), |_, v| {
                highest = Some(u64_be("range end", v)?);
                Ok(false)
            })
            .await?;
            Ok(StorageStats {
                blocks: blocks?,
                bytes: bytes?,
                lowest,
                highest,
                ranges: ranges?,
                checkpoints: checkpoints?,
            })
        })
        .await
    }

    async fn put_checkpoint(&self, checkpoint: &Checkpoint) -> StorageResult<bool> {
        let value = encode_checkpoint(checkpoint)?;
        if value.len() > CHUNK_BYTES {
            return Err(StorageError::InvalidArgument(format!(
                "checkpoint {} encodes to {} bytes (limit {CHUNK_BYTES})",
                checkpoint.id,
                value.len()
            )));
        }
        let keys = &*self.keys;
        let value = &value;
        self.run(|trx| async move {
            let key = keys.checkpoints.pack(&checkpoint.id);
            let existing = match trx.get(&key, false).await? {
                Some(v) => Some(decode_checkpoint(checkpoint.id, &v)?),
                None => None,
            };
            let latest = Self::read_latest_checkpoint(&trx, keys).await?;
            let new = check_checkpoint(checkpoint, existing.as_ref(), latest.as_ref())?;
            if new {
                trx.set(&key, value);
                add(&trx, &keys.stat(STAT_CHECKPOINTS), 1);
            }
            Ok(new)
        })
        .await
    }

    async fn checkpoint(&self, id: u64) -> StorageResult<Option<Checkpoint>> {
        let keys = &*self.keys;
        self.run(|trx| async move {
            match trx.get(&keys.checkpoints.pack(&id), false).await? {
                Some(v) => Ok(Some(decode_checkpoint(id, &v)?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn latest_checkpoint(&self) -> StorageResult<Option<Checkpoint>> {
        let keys = &*self.keys;
        self.run(|trx| async move { Self::read_latest_checkpoint(&trx, keys).await })
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
        let keys = &*self.keys;
        self.run(|trx| async move {
            let mut out = Vec::new();
            let (begin, end) = (
                keys.checkpoints.pack(&from),
                key_end(&keys.checkpoints.pack(&to)),
            );
            scan(&trx, begin, end, false, Some(limit), |k, v| {
                let id: u64 = unpack(&keys.checkpoints, k)?;
                out.push(decode_checkpoint(id, v)?);
                Ok(out.len() < limit)
            })
            .await?;
            Ok(out)
        })
        .await
    }

    /// Deletes are applied before upserts, so a key in both lists ends up upserted.
    async fn commit_scheduler(&self, delta: &SchedulerDelta) -> StorageResult<()> {
        let size: u64 = delta.upserts.iter().map(|(_, v)| v.len() as u64).sum();
        if size > MAX_BATCH_BYTES {
            return Err(StorageError::InvalidArgument(format!(
                "scheduler delta holds {size} bytes; the FoundationDB backend accepts at most {MAX_BATCH_BYTES}"
            )));
        }
        let keys = &*self.keys;
        self.run(|trx| async move {
            let current = match trx.get(&keys.term, false).await? {
                Some(v) => u64_be("scheduler term", &v)?,
                None => 0,
            };
            check_term(delta.term, current)?;
            trx.set(&keys.term, &delta.term.to_be_bytes());
            for key in &delta.deletes {
                let head = keys.sched.pack(key);
                trx.clear_range(&head, &prefix_end(&head));
            }
            for (key, value) in &delta.upserts {
                write_chunked(&trx, &keys.sched, *key, value)?;
            }
            Ok(())
        })
        .await
    }

    async fn load_scheduler(&self) -> StorageResult<SchedulerSnapshot> {
        let keys = &*self.keys;
        self.run(|trx| async move {
            let term = match trx.get(&keys.term, false).await? {
                Some(v) => u64_be("scheduler term", &v)?,
                None => 0,
            };
            let mut records = BTreeMap::new();
            // (key, expected length, chunks still to come, data)
            let mut current: Option<(u64, usize, usize, Vec<u8>)> = None;
            let (begin, end) = (keys.sched.bytes().to_vec(), prefix_end(keys.sched.bytes()));
            scan(&trx, begin, end, false, None, |k, v| {
                if let Ok((key, _index)) = keys.sched.unpack::<(u64, u64)>(k) {
                    match current.as_mut() {
                        Some((cur, _, left, data)) if *cur == key && *left > 0 => {
                            data.extend_from_slice(v);
                            *left -= 1;
                        }
                        _ => {
                            return Err(corrupt(format!(
                                "scheduler record {key}: unexpected chunk"
                            )));
                        }
                    }
                } else {
                    let key: u64 = unpack(&keys.sched, k)?;
                    if v.len() != 8 {
                        return Err(corrupt(format!("scheduler record {key}: bad head")));
                    }
                    if let Some((prev, len, left, data)) = current.take() {
                        if left != 0 || data.len() != len {
                            return Err(corrupt(format!(
                                "scheduler record {prev}: chunks missing"
                            )));
                        }
                        records.insert(prev, data);
                    }
                    let (len, chunks) = (u32_le(v, 0), u32_le(v, 4));
                    current = Some((key, len, chunks, Vec::with_capacity(len)));
                }
                Ok(true)
            })
            .await?;
            if let Some((prev, len, left, data)) = current.take() {
                if left != 0 || data.len() != len {
                    return Err(corrupt(format!("scheduler record {prev}: chunks missing")));
                }
                records.insert(prev, data);
            }
            Ok(SchedulerSnapshot { term, records })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_round_trip() {
        let block = RawBlock {
            number: 3,
            hash: B256::repeat_byte(1),
            header: Bytes::from(vec![0u8; 10]),
            body: Bytes::from(vec![0u8; 150_000]),
            receipts: Bytes::from(vec![0u8; 60_000]),
        };
        let chunks = block.encoded_len().div_ceil(CHUNK_BYTES);
        let head = encode_head(
            &block,
            &B256::repeat_byte(2),
            VerificationLevel::Linked,
            chunks,
        )
        .unwrap();
        let decoded = decode_head(3, &head).ok().unwrap();
        assert_eq!(
            (decoded.hash, decoded.parent_hash, decoded.chunks),
            (block.hash, B256::repeat_byte(2), 3)
        );
        assert_eq!(decoded.lens, [10, 150_000, 60_000]);
        assert!(decode_head(3, &head[..10]).is_err());
        let wrong_chunks = encode_head(&block, &B256::ZERO, VerificationLevel::Linked, 2).unwrap();
        assert!(decode_head(3, &wrong_chunks).is_err());
    }

    #[test]
    fn keys_are_ordered_and_scoped() {
        let keys = Keys::new("polygon");
        let other = Keys::new("polygon-amoy");
        assert!(!other.root.bytes().starts_with(keys.root.bytes()));
        assert!(keys.blocks.pack(&5u64) < keys.blocks.pack(&(5u64, 0u64)));
        assert!(keys.blocks.pack(&(5u64, 99u64)) < prefix_end(&keys.blocks.pack(&5u64)));
        assert!(prefix_end(&keys.blocks.pack(&5u64)) <= keys.blocks.pack(&6u64));
        assert!(keys.present.pack(&255u64) < keys.present.pack(&256u64));
        assert!(keys.present.pack(&(u64::MAX - 1)) < keys.present.pack(&u64::MAX));
        let n: u64 = keys
            .blocks
            .unpack(&keys.blocks.pack(&u64::MAX))
            .ok()
            .unwrap();
        assert_eq!(n, u64::MAX);
    }
}
