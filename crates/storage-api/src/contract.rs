//! The backend-independent contract test suite (feature `contract-tests`).
//!
//! Every [`BlockStorage`] backend runs the same cases against fresh, empty stores, so the
//! embedded and the FoundationDB backends cannot drift apart. A backend either runs all cases in
//! one test with [`run_all`], or gets one `#[tokio::test]` per case with [`contract_suite!`](crate::contract_suite):
//!
//! ```ignore
//! async fn fresh() -> (MyStorage, tempfile::TempDir) { /* an empty store + its guard */ }
//! hypasis_storage_api::contract_suite!(fresh);
//! ```
//!
//! Each case is also a public `async fn case(store: &S)` taking an **empty** store.
//!
//! Cases panic (assert) on a contract violation, as tests do.
//!
//! The suite also provides the deterministic test-block generator [`test_chain`]: hash-linked
//! blocks with real `alloy_consensus::Header` encodings and well-formed bodies and receipt lists
//! of realistic size, that pass [`RawBlock::check_integrity`].

use crate::{
    BlockBatch, BlockStorage, SchedulerDelta, SchedulerSnapshot, StorageError, StorageStats,
};
use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256, keccak256};
use alloy_rlp::Encodable;
use hypasis_gaps::{Range, RangeSet};
use hypasis_primitives::{
    BlockIntegrityError, Checkpoint, CheckpointSource, RawBlock, VerificationLevel,
};
use std::collections::BTreeMap;
use std::future::Future;

// ---------------------------------------------------------------------------------------------
// Test-block generator
// ---------------------------------------------------------------------------------------------

/// splitmix64: small, deterministic, good enough to make test content look random.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn seeded(parts: &[&[u8]]) -> Self {
        let digest = keccak256(parts.concat());
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&digest[..8]);
        Self(u64::from_le_bytes(seed))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }

    fn b256(&mut self) -> B256 {
        let mut b = [0u8; 32];
        self.fill(&mut b);
        B256::from(b)
    }

    /// ABI-encoded-looking data: 32-byte words that are mostly left-padded small values and
    /// addresses, so the content compresses about as well as real calldata/logs.
    fn abi_words(&mut self, out: &mut Vec<u8>, len: usize) {
        let target = out.len() + len;
        while out.len() < target {
            let mut word = [0u8; 32];
            match self.next_u64() % 4 {
                0 => self.fill(&mut word),       // hash / random word
                1 => self.fill(&mut word[12..]), // address
                _ => self.fill(&mut word[24..]), // small integer
            }
            let take = (target - out.len()).min(32);
            out.extend_from_slice(&word[..take]);
        }
    }
}

/// Encodes `items` (each already a complete RLP item) as an RLP list.
fn rlp_list(items: &[Vec<u8>]) -> Vec<u8> {
    let payload_length: usize = items.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(payload_length + 9);
    alloy_rlp::Header {
        list: true,
        payload_length,
    }
    .encode(&mut out);
    for item in items {
        out.extend_from_slice(item);
    }
    out
}

/// Encodes `bytes` as an RLP byte string.
fn rlp_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 9);
    bytes.encode(&mut out);
    out
}

/// An opaque typed transaction (`0x02 ‖ payload`, as a byte string), 150–550 bytes.
fn test_tx(rng: &mut Rng) -> Vec<u8> {
    let len = rng.between(150, 550);
    let mut tx = Vec::with_capacity(len);
    tx.push(0x02);
    // chain id, nonce, fees, gas, to, value, signature: dense
    let dense = 110.min(len - 1);
    tx.extend_from_slice(&rng.bytes(dense));
    // calldata: ABI words
    rng.abi_words(&mut tx, len - 1 - dense);
    rlp_string(&tx)
}

/// An opaque typed receipt (`0x02 ‖ payload`, as a byte string), 280–560 bytes: a sparse
/// 256-byte bloom plus log-like data.
fn test_receipt(rng: &mut Rng) -> Vec<u8> {
    let len = rng.between(280, 560);
    let mut r = Vec::with_capacity(len);
    r.push(0x02);
    r.extend_from_slice(&rng.bytes(8)); // status + cumulative gas
    let mut bloom = [0u8; 256];
    for _ in 0..6 {
        let bit = (rng.next_u64() % 2048) as usize;
        bloom[bit / 8] |= 1 << (bit % 8);
    }
    r.extend_from_slice(&bloom);
    let rest = len - r.len();
    rng.abi_words(&mut r, rest);
    rlp_string(&r)
}

/// Hash-linked test blocks `start..start+count` on top of `parent`, with `txs_per_block`
/// transactions and as many receipts each.
///
/// Content is deterministic in `(number, parent)`: the same call returns the same blocks, and a
/// different `parent` yields a different chain (a fork). Headers are real
/// `alloy_consensus::Header` encodings with the right number and parent hash; bodies are
/// `rlp([txs, ommers])`, receipts `rlp([receipt, ...])`. About 150 transactions make
/// ~100–150 kB of body + receipts (a busy Polygon block). Every block passes
/// [`RawBlock::check_integrity`]. The chain stops early instead of passing `u64::MAX`.
pub fn test_chain(start: u64, count: u64, txs_per_block: usize, parent: B256) -> Vec<RawBlock> {
    test_chain_with_seed(start, count, txs_per_block, parent, 0)
}

/// [`test_chain`] with an extra `seed`: the same numbers and parent but a different seed give
/// different blocks (a fork that links to the same parent).
pub fn test_chain_with_seed(
    start: u64,
    count: u64,
    txs_per_block: usize,
    parent: B256,
    seed: u64,
) -> Vec<RawBlock> {
    let mut out = Vec::with_capacity(count.min(1 << 16) as usize);
    let mut parent = parent;
    for i in 0..count {
        let Some(number) = start.checked_add(i) else {
            break;
        };
        let block = test_block(number, txs_per_block, parent, seed);
        parent = block.hash;
        out.push(block);
    }
    out
}

/// One test block (see [`test_chain`]).
pub fn test_block(number: u64, txs_per_block: usize, parent: B256, seed: u64) -> RawBlock {
    let mut rng = Rng::seeded(&[
        &number.to_be_bytes(),
        parent.as_slice(),
        &seed.to_be_bytes(),
    ]);
    let txs: Vec<Vec<u8>> = (0..txs_per_block).map(|_| test_tx(&mut rng)).collect();
    let receipts: Vec<Vec<u8>> = (0..txs_per_block).map(|_| test_receipt(&mut rng)).collect();
    let body = rlp_list(&[rlp_list(&txs), rlp_list(&[])]);
    let receipts = rlp_list(&receipts);

    let mut bloom = [0u8; 256];
    for _ in 0..32 {
        let bit = (rng.next_u64() % 2048) as usize;
        bloom[bit / 8] |= 1 << (bit % 8);
    }
    let mut beneficiary = [0u8; 20];
    rng.fill(&mut beneficiary);
    let header = Header {
        parent_hash: parent,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: Address::from(beneficiary),
        state_root: rng.b256(),
        transactions_root: keccak256(&body),
        receipts_root: keccak256(&receipts),
        logs_bloom: Bloom::from(bloom),
        difficulty: U256::from(rng.between(1, 30)),
        number,
        gas_limit: 30_000_000,
        gas_used: (txs_per_block as u64)
            .saturating_mul(61_000)
            .min(30_000_000),
        timestamp: 1_600_000_000u64.saturating_add(number.saturating_mul(2)),
        // Polygon: 32 bytes vanity + 65 bytes seal signature
        extra_data: Bytes::from(rng.bytes(97)),
        mix_hash: B256::ZERO,
        nonce: B64::ZERO,
        base_fee_per_gas: Some(30_000_000_000),
        ..Default::default()
    };
    let mut encoded = Vec::with_capacity(header.length());
    header.encode(&mut encoded);
    RawBlock {
        number,
        hash: keccak256(&encoded),
        header: Bytes::from(encoded),
        body: Bytes::from(body),
        receipts: Bytes::from(receipts),
    }
}

/// The same block with its receipt list rebuilt to hold `count` (well-formed) receipts, so body
/// and receipts disagree on the number of transactions.
pub fn with_receipt_count(block: &RawBlock, count: usize) -> RawBlock {
    let mut rng = Rng::seeded(&[block.hash.as_slice(), b"receipts"]);
    let receipts: Vec<Vec<u8>> = (0..count).map(|_| test_receipt(&mut rng)).collect();
    RawBlock {
        receipts: Bytes::from(rlp_list(&receipts)),
        ..block.clone()
    }
}

fn batch(blocks: &[RawBlock], level: VerificationLevel) -> BlockBatch {
    BlockBatch {
        blocks: blocks.to_vec(),
        level,
    }
}

fn linked(blocks: &[RawBlock]) -> BlockBatch {
    batch(blocks, VerificationLevel::Linked)
}

fn r(start: u64, end: u64) -> Range {
    Range { start, end }
}

/// A parent hash for test chains that is not the hash of any generated block.
fn root_parent(tag: u8) -> B256 {
    B256::repeat_byte(tag)
}

fn bytes_of(blocks: &[RawBlock]) -> u64 {
    blocks.iter().map(|b| b.encoded_len() as u64).sum()
}

// ---------------------------------------------------------------------------------------------
// Running the suite
// ---------------------------------------------------------------------------------------------

/// Names of all cases, in the order [`run_all`] runs them.
pub const CASES: &[&str] = &[
    "empty_store",
    "batch_write_and_read",
    "present_ranges_merge_across_batches",
    "idempotent_rewrite",
    "refusals_leave_store_untouched",
    "verification_levels_per_batch",
    "stats_track_totals",
    "checkpoint_rules",
    "scheduler_term_fencing",
    "large_blocks_round_trip",
    "blocks_paging_with_limit",
    "extreme_block_numbers",
    "concurrent_writers_agree",
];

/// Runs every case, each against a fresh empty store from `make`.
///
/// `make` returns the store and a guard kept alive until the case ends (a temp dir, a cleanup
/// handle, or `()`). Prints one line per case to stderr; panics on the first violation.
pub async fn run_all<S, G, F, Fut>(make: F)
where
    S: BlockStorage,
    F: Fn() -> Fut,
    Fut: Future<Output = (S, G)>,
{
    macro_rules! case {
        ($name:ident) => {{
            let (store, guard) = make().await;
            eprintln!("contract [{}] {} ...", store.backend(), stringify!($name));
            $name(&store).await;
            drop(store);
            drop(guard);
        }};
    }
    case!(empty_store);
    case!(batch_write_and_read);
    case!(present_ranges_merge_across_batches);
    case!(idempotent_rewrite);
    case!(refusals_leave_store_untouched);
    case!(verification_levels_per_batch);
    case!(stats_track_totals);
    case!(checkpoint_rules);
    case!(scheduler_term_fencing);
    case!(large_blocks_round_trip);
    case!(blocks_paging_with_limit);
    case!(extreme_block_numbers);
    case!(concurrent_writers_agree);
}

/// Generates one `#[tokio::test]` per contract case.
///
/// The argument is a path to an `async fn() -> (S, G)` returning a fresh empty store and a guard
/// kept alive for the case. The calling crate needs `tokio` (with `macros`, `rt-multi-thread`)
/// as a dev-dependency.
#[macro_export]
macro_rules! contract_suite {
    ($make:path) => {
        $crate::contract_suite!(@cases $make;
            empty_store,
            batch_write_and_read,
            present_ranges_merge_across_batches,
            idempotent_rewrite,
            refusals_leave_store_untouched,
            verification_levels_per_batch,
            stats_track_totals,
            checkpoint_rules,
            scheduler_term_fencing,
            large_blocks_round_trip,
            blocks_paging_with_limit,
            extreme_block_numbers,
            concurrent_writers_agree,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, guard) = $make().await;
                $crate::contract::$case(&store).await;
                drop(store);
                drop(guard);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Observing the whole store
// ---------------------------------------------------------------------------------------------

/// Everything observable about a store, to prove a refused write changed nothing.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    stats: StorageStats,
    present: RangeSet,
    verification: BTreeMap<VerificationLevel, RangeSet>,
    blocks: Vec<RawBlock>,
    checkpoints: Vec<Checkpoint>,
    scheduler: SchedulerSnapshot,
}

/// Drops levels without blocks, so backends may or may not report empty levels.
fn levels(
    store_levels: BTreeMap<VerificationLevel, RangeSet>,
) -> BTreeMap<VerificationLevel, RangeSet> {
    store_levels
        .into_iter()
        .filter(|(_, set)| !set.is_empty())
        .collect()
}

async fn observe<S: BlockStorage>(store: &S) -> Observed {
    let present = store.present().await.unwrap();
    let mut blocks = Vec::new();
    for range in present.iter() {
        let mut next = range.start;
        loop {
            let page = store.blocks(r(next, range.end), 64).await.unwrap();
            let Some(last) = page.last().map(|b| b.number) else {
                break;
            };
            blocks.extend(page);
            match last.checked_add(1) {
                Some(n) if n <= range.end => next = n,
                _ => break,
            }
        }
    }
    Observed {
        stats: store.stats().await.unwrap(),
        present,
        verification: levels(store.verification().await.unwrap()),
        blocks,
        checkpoints: store.checkpoints(0, u64::MAX, usize::MAX).await.unwrap(),
        scheduler: store.load_scheduler().await.unwrap(),
    }
}

/// Checks that every present block is readable by number and by hash, and that the stats agree
/// with the present set.
async fn assert_consistent<S: BlockStorage>(store: &S) {
    let seen = observe(store).await;
    assert_eq!(
        seen.blocks.len() as u64,
        seen.present.count(),
        "present set claims blocks that are not readable"
    );
    for block in &seen.blocks {
        assert!(seen.present.contains(block.number));
        assert_eq!(block.check_integrity().map(|h| h.number), Ok(block.number));
        let by_hash = store.block_by_hash(block.hash).await.unwrap();
        assert_eq!(
            by_hash.as_ref(),
            Some(block),
            "hash index disagrees for block {}",
            block.number
        );
    }
    assert_eq!(seen.stats.blocks, seen.present.count());
    assert_eq!(seen.stats.bytes, bytes_of(&seen.blocks));
    assert_eq!(seen.stats.ranges, seen.present.range_count() as u64);
    assert_eq!(seen.stats.lowest, seen.present.first());
    assert_eq!(seen.stats.highest, seen.present.last());
    assert_eq!(seen.stats.checkpoints, seen.checkpoints.len() as u64);
    let mut union = RangeSet::new();
    let mut total = 0;
    for set in seen.verification.values() {
        total += set.count();
        for range in set.iter() {
            union.insert(range);
        }
    }
    assert_eq!(
        union, seen.present,
        "verification levels must cover exactly the present blocks"
    );
    assert_eq!(
        total,
        seen.present.count(),
        "a block is recorded under exactly one level"
    );
}

/// Asserts `result` is an error matching `pred`, that the error is a caller fault, and that the
/// store is unchanged since `before`.
async fn assert_refused<S: BlockStorage, T: std::fmt::Debug>(
    store: &S,
    before: &Observed,
    what: &str,
    result: Result<T, StorageError>,
    pred: impl Fn(&StorageError) -> bool,
) {
    match result {
        Ok(v) => panic!("{what}: expected a refusal, got Ok({v:?})"),
        Err(e) => {
            assert!(pred(&e), "{what}: unexpected error kind: {e:?}");
            assert!(
                e.is_caller_fault(),
                "{what}: refusal must be a caller fault: {e:?}"
            );
            assert!(
                !e.is_retryable(),
                "{what}: refusal must not be retryable: {e:?}"
            );
        }
    }
    let after = observe(store).await;
    assert_eq!(&after, before, "{what}: a refused write changed the store");
}

fn checkpoint(id: u64, start: u64, end: u64, root: u8) -> Checkpoint {
    Checkpoint {
        source: CheckpointSource::L1RootChain,
        id,
        range: r(start, end),
        root: B256::repeat_byte(root),
        end_block_hash: Some(B256::repeat_byte(root.wrapping_add(1))),
        l1_tx_hash: Some(B256::repeat_byte(root.wrapping_add(2))),
        l1_block: Some(18_000_000 + id),
        proposer: Some(Address::repeat_byte(7)),
        created_at: Some(1_700_000_000 + id),
        verified_by: vec![CheckpointSource::L1RootChain, CheckpointSource::Heimdall],
    }
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// A fresh store is empty and answers every read without error.
pub async fn empty_store<S: BlockStorage>(store: &S) {
    assert_eq!(store.block_by_number(0).await.unwrap(), None);
    assert_eq!(store.block_by_number(u64::MAX).await.unwrap(), None);
    assert_eq!(store.block_by_hash(B256::ZERO).await.unwrap(), None);
    assert!(store.blocks(r(0, u64::MAX), 10).await.unwrap().is_empty());
    assert!(store.present().await.unwrap().is_empty());
    assert_eq!(store.gaps(r(5, 9)).await.unwrap(), vec![r(5, 9)]);
    assert!(levels(store.verification().await.unwrap()).is_empty());
    assert_eq!(store.stats().await.unwrap(), StorageStats::default());
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);
    assert_eq!(store.checkpoint(1).await.unwrap(), None);
    assert!(store.checkpoints(0, u64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(
        store.load_scheduler().await.unwrap(),
        SchedulerSnapshot::default()
    );
    assert!(!store.backend().is_empty());
}

/// A batch is readable by number, by hash and by range after the write returns.
pub async fn batch_write_and_read<S: BlockStorage>(store: &S) {
    let chain = test_chain(100, 20, 8, root_parent(1));
    for b in &chain {
        assert_eq!(
            b.check_integrity().map(|h| h.number),
            Ok(b.number),
            "generator produced a bad block"
        );
    }
    let outcome = store.put_batch(&linked(&chain)).await.unwrap();
    assert_eq!(outcome.written, 20);
    assert_eq!(outcome.already_present, 0);
    assert_eq!(outcome.bytes, bytes_of(&chain));

    for b in &chain {
        assert_eq!(
            store.block_by_number(b.number).await.unwrap().as_ref(),
            Some(b)
        );
        assert_eq!(store.block_by_hash(b.hash).await.unwrap().as_ref(), Some(b));
    }
    assert_eq!(store.block_by_number(99).await.unwrap(), None);
    assert_eq!(store.block_by_number(120).await.unwrap(), None);
    assert_eq!(store.block_by_hash(root_parent(1)).await.unwrap(), None);
    assert_eq!(
        store.blocks(r(105, 110), 100).await.unwrap(),
        chain[5..=10].to_vec()
    );
    assert_eq!(store.blocks(r(0, 1000), 100).await.unwrap(), chain);
    assert_eq!(
        store.blocks(r(119, u64::MAX), 100).await.unwrap(),
        chain[19..].to_vec()
    );
    assert_eq!(
        store.present().await.unwrap(),
        RangeSet::from_ranges([r(100, 119)])
    );
    assert_eq!(
        store.gaps(r(90, 130)).await.unwrap(),
        vec![r(90, 99), r(120, 130)]
    );
    assert_eq!(store.gaps(r(100, 119)).await.unwrap(), vec![]);
    assert_consistent(store).await;
}

/// Present ranges merge when batches fill the gap between them or touch them; gaps are right.
pub async fn present_ranges_merge_across_batches<S: BlockStorage>(store: &S) {
    let g = test_chain(0, 60, 2, root_parent(2));
    let put = |a: usize, b: usize| linked(&g[a..=b]);

    store.put_batch(&put(0, 9)).await.unwrap();
    store.put_batch(&put(20, 29)).await.unwrap();
    assert_eq!(
        store.present().await.unwrap(),
        RangeSet::from_ranges([r(0, 9), r(20, 29)])
    );
    assert_eq!(
        store.gaps(r(0, 40)).await.unwrap(),
        vec![r(10, 19), r(30, 40)]
    );
    assert_eq!(store.stats().await.unwrap().ranges, 2);

    store.put_batch(&put(10, 19)).await.unwrap(); // fills the hole exactly
    assert_eq!(
        store.present().await.unwrap(),
        RangeSet::from_ranges([r(0, 29)])
    );
    assert_eq!(store.stats().await.unwrap().ranges, 1);

    store.put_batch(&put(40, 49)).await.unwrap();
    store.put_batch(&put(55, 59)).await.unwrap();
    assert_eq!(
        store.present().await.unwrap().iter().collect::<Vec<_>>(),
        vec![r(0, 29), r(40, 49), r(55, 59)]
    );
    assert_eq!(
        store.gaps(r(0, 59)).await.unwrap(),
        vec![r(30, 39), r(50, 54)]
    );
    assert_eq!(store.stats().await.unwrap().ranges, 3);

    store.put_batch(&put(30, 39)).await.unwrap(); // adjacent on both sides
    store.put_batch(&put(50, 54)).await.unwrap();
    assert_eq!(
        store.present().await.unwrap(),
        RangeSet::from_ranges([r(0, 59)])
    );
    assert_eq!(store.gaps(r(0, 70)).await.unwrap(), vec![r(60, 70)]);
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.ranges, stats.blocks, stats.lowest, stats.highest),
        (1, 60, Some(0), Some(59))
    );
    assert_consistent(store).await;
}

/// Writing blocks that are already stored with the same hash succeeds and changes nothing.
pub async fn idempotent_rewrite<S: BlockStorage>(store: &S) {
    let g = test_chain(0, 20, 4, root_parent(3));
    store.put_batch(&linked(&g[0..10])).await.unwrap();
    let before = observe(store).await;

    let again = store.put_batch(&linked(&g[0..10])).await.unwrap();
    assert_eq!(
        (again.written, again.already_present, again.bytes),
        (0, 10, 0)
    );
    assert_eq!(observe(store).await, before);

    let single = store.put_batch(&linked(&g[3..4])).await.unwrap();
    assert_eq!((single.written, single.already_present), (0, 1));

    // half stored, half new
    let overlap = store.put_batch(&linked(&g[5..15])).await.unwrap();
    assert_eq!((overlap.written, overlap.already_present), (5, 5));
    assert_eq!(overlap.bytes, bytes_of(&g[10..15]));
    assert_eq!(
        store.present().await.unwrap(),
        RangeSet::from_ranges([r(0, 14)])
    );
    assert_eq!(store.stats().await.unwrap().blocks, 15);

    // a stored block in the middle of a new batch
    let fresh = test_chain(100, 5, 1, root_parent(4));
    store.put_batch(&linked(&fresh[2..3])).await.unwrap();
    let mid = store.put_batch(&linked(&fresh)).await.unwrap();
    assert_eq!((mid.written, mid.already_present), (4, 1));
    assert_eq!(
        store.present().await.unwrap(),
        RangeSet::from_ranges([r(0, 14), r(100, 104)])
    );
    assert_consistent(store).await;
}

/// Every refused batch leaves blocks, ranges, stats, checkpoints and scheduler untouched.
pub async fn refusals_leave_store_untouched<S: BlockStorage>(store: &S) {
    use StorageError as E;
    let g = test_chain(0, 40, 3, root_parent(5));
    store.put_batch(&linked(&g[10..20])).await.unwrap();
    store
        .put_checkpoint(&checkpoint(1, 0, 99, 9))
        .await
        .unwrap();
    store
        .commit_scheduler(&SchedulerDelta {
            term: 1,
            upserts: vec![(1, b"x".to_vec())],
            deletes: vec![],
        })
        .await
        .unwrap();
    let before = observe(store).await;
    let is_contiguity = |e: &E| matches!(e, E::NotContiguous { .. });
    let is_conflict = |e: &E| matches!(e, E::Conflict { .. });

    let res = store.put_batch(&linked(&[])).await;
    assert_refused(store, &before, "empty batch", res, is_contiguity).await;

    let res = store
        .put_batch(&linked(&[g[20].clone(), g[22].clone()]))
        .await;
    assert_refused(
        store,
        &before,
        "non-consecutive numbers",
        res,
        is_contiguity,
    )
    .await;

    let res = store
        .put_batch(&linked(&[g[22].clone(), g[21].clone()]))
        .await;
    assert_refused(store, &before, "descending numbers", res, is_contiguity).await;

    let stranger = test_chain(22, 1, 3, root_parent(6));
    let res = store
        .put_batch(&linked(&[
            g[20].clone(),
            g[21].clone(),
            stranger[0].clone(),
        ]))
        .await;
    assert_refused(
        store,
        &before,
        "broken parent linkage inside the batch",
        res,
        is_contiguity,
    )
    .await;

    let mut bad_hash = g[21].clone();
    bad_hash.hash = B256::repeat_byte(0xab);
    let res = store.put_batch(&linked(&[g[20].clone(), bad_hash])).await;
    assert_refused(store, &before, "bad hash", res, |e| {
        matches!(
            e,
            E::Integrity(BlockIntegrityError::HashMismatch { number: 21, .. })
        )
    })
    .await;

    let mut bad_number = g[20].clone();
    bad_number.number = 25;
    let res = store.put_batch(&linked(&[bad_number])).await;
    assert_refused(store, &before, "header number mismatch", res, |e| {
        matches!(
            e,
            E::Integrity(BlockIntegrityError::NumberMismatch {
                number: 25,
                header_number: 20
            })
        )
    })
    .await;

    let res = store
        .put_batch(&linked(&[g[20].clone(), with_receipt_count(&g[21], 2)]))
        .await;
    assert_refused(store, &before, "body/receipt count mismatch", res, |e| {
        matches!(
            e,
            E::Integrity(BlockIntegrityError::CountMismatch {
                number: 21,
                transactions: 3,
                receipts: 2
            })
        )
    })
    .await;

    let mut bad_body = g[20].clone();
    bad_body.body = Bytes::from_static(&[0xc0]);
    let res = store.put_batch(&linked(&[bad_body])).await;
    assert_refused(store, &before, "malformed body", res, |e| {
        matches!(e, E::Integrity(BlockIntegrityError::MalformedBody { .. }))
    })
    .await;

    let mut bad_receipts = g[20].clone();
    bad_receipts.receipts = Bytes::from_static(&[0xff, 0x00]);
    let res = store.put_batch(&linked(&[bad_receipts])).await;
    assert_refused(store, &before, "malformed receipts", res, |e| {
        matches!(
            e,
            E::Integrity(BlockIntegrityError::MalformedReceipts { .. })
        )
    })
    .await;

    // A fork block at a stored number (it links to stored 14, but 15 is stored with another hash).
    let fork = test_chain_with_seed(15, 1, 3, g[14].hash, 1);
    assert_ne!(fork[0].hash, g[15].hash);
    let res = store.put_batch(&linked(&fork)).await;
    assert_refused(
        store,
        &before,
        "different hash at a stored number",
        res,
        is_conflict,
    )
    .await;

    // New blocks 5..=9 first, then a conflict at 10..=12: nothing of the batch may be written.
    let mut mixed = g[5..10].to_vec();
    mixed.extend(test_chain_with_seed(10, 3, 3, g[9].hash, 1));
    let res = store.put_batch(&linked(&mixed)).await;
    assert_refused(
        store,
        &before,
        "new blocks followed by a conflict",
        res,
        is_conflict,
    )
    .await;

    // First block does not link to the stored parent 19.
    let orphan = test_chain_with_seed(20, 3, 3, B256::repeat_byte(0x66), 2);
    let res = store.put_batch(&linked(&orphan)).await;
    assert_refused(
        store,
        &before,
        "first block not linked to stored parent",
        res,
        is_conflict,
    )
    .await;

    // Last block is not the parent of the stored block 10.
    let dangling = test_chain_with_seed(5, 5, 3, g[4].hash, 3);
    let res = store.put_batch(&linked(&dangling)).await;
    assert_refused(
        store,
        &before,
        "last block not the parent of stored successor",
        res,
        is_conflict,
    )
    .await;

    // One block bridging both neighbours but linked to neither.
    store.put_batch(&linked(&g[21..25])).await.unwrap();
    let before = observe(store).await;
    let bridge = test_chain_with_seed(20, 1, 3, g[19].hash, 4);
    let res = store.put_batch(&linked(&bridge)).await;
    assert_refused(
        store,
        &before,
        "block between two stored neighbours, linked to one only",
        res,
        is_conflict,
    )
    .await;

    // Controls: the correct neighbours are accepted.
    store.put_batch(&linked(&g[5..10])).await.unwrap();
    store.put_batch(&linked(&g[20..21])).await.unwrap();
    assert_eq!(
        store.present().await.unwrap(),
        RangeSet::from_ranges([r(5, 24)])
    );
    assert_consistent(store).await;
}

/// Blocks are recorded under the level of the batch that wrote them; re-writing stored blocks
/// does not change their level.
pub async fn verification_levels_per_batch<S: BlockStorage>(store: &S) {
    use VerificationLevel::*;
    let g = test_chain(0, 50, 1, root_parent(7));
    store.put_batch(&batch(&g[0..10], Linked)).await.unwrap();
    store
        .put_batch(&batch(&g[10..20], CheckpointRoot))
        .await
        .unwrap();
    store
        .put_batch(&batch(&g[20..30], Accumulator))
        .await
        .unwrap();
    let expected = BTreeMap::from([
        (Linked, RangeSet::from_ranges([r(0, 9)])),
        (CheckpointRoot, RangeSet::from_ranges([r(10, 19)])),
        (Accumulator, RangeSet::from_ranges([r(20, 29)])),
    ]);
    assert_eq!(levels(store.verification().await.unwrap()), expected);

    // stored blocks keep their level
    store
        .put_batch(&batch(&g[5..15], Accumulator))
        .await
        .unwrap();
    assert_eq!(levels(store.verification().await.unwrap()), expected);

    // only the new blocks of a partly stored batch get its level
    store.put_batch(&batch(&g[25..35], Linked)).await.unwrap();
    store.put_batch(&batch(&g[40..50], Linked)).await.unwrap();
    store
        .put_batch(&batch(&g[35..40], CheckpointRoot))
        .await
        .unwrap();
    let got = levels(store.verification().await.unwrap());
    assert_eq!(
        got[&Linked],
        RangeSet::from_ranges([r(0, 9), r(30, 34), r(40, 49)])
    );
    assert_eq!(
        got[&CheckpointRoot],
        RangeSet::from_ranges([r(10, 19), r(35, 39)])
    );
    assert_eq!(got[&Accumulator], RangeSet::from_ranges([r(20, 29)]));
    assert_consistent(store).await;
}

/// Stats count blocks, bytes, bounds, ranges and checkpoints.
pub async fn stats_track_totals<S: BlockStorage>(store: &S) {
    assert_eq!(store.stats().await.unwrap(), StorageStats::default());
    let g = test_chain(1_000, 30, 6, root_parent(8));
    store.put_batch(&linked(&g[10..20])).await.unwrap();
    let s = store.stats().await.unwrap();
    assert_eq!(
        s,
        StorageStats {
            blocks: 10,
            bytes: bytes_of(&g[10..20]),
            lowest: Some(1_010),
            highest: Some(1_019),
            ranges: 1,
            checkpoints: 0,
        }
    );
    store.put_batch(&linked(&g[0..5])).await.unwrap();
    store.put_batch(&linked(&g[25..30])).await.unwrap();
    store.put_checkpoint(&checkpoint(4, 0, 9, 1)).await.unwrap();
    store
        .put_checkpoint(&checkpoint(5, 10, 19, 2))
        .await
        .unwrap();
    let s = store.stats().await.unwrap();
    let mut all = g[0..5].to_vec();
    all.extend_from_slice(&g[10..20]);
    all.extend_from_slice(&g[25..30]);
    assert_eq!(
        s,
        StorageStats {
            blocks: 20,
            bytes: bytes_of(&all),
            lowest: Some(1_000),
            highest: Some(1_029),
            ranges: 3,
            checkpoints: 2,
        }
    );
    // idempotent writes do not double count
    store.put_batch(&linked(&g[0..5])).await.unwrap();
    store
        .put_checkpoint(&checkpoint(5, 10, 19, 2))
        .await
        .unwrap();
    assert_eq!(store.stats().await.unwrap(), s);
    assert_consistent(store).await;
}

/// Checkpoints: new, idempotent, changed id refused, backwards refused, non-contiguous refused,
/// latest, by id, listing with bounds and limit.
pub async fn checkpoint_rules<S: BlockStorage>(store: &S) {
    let is_refused = |id: u64| move |e: &StorageError| matches!(e, StorageError::CheckpointRefused { id: i, .. } if *i == id);
    let c1 = checkpoint(10, 0, 99, 1);
    let c2 = checkpoint(11, 100, 199, 2);
    let c3 = checkpoint(12, 200, 255, 3);

    assert!(store.put_checkpoint(&c1).await.unwrap());
    assert!(
        !store.put_checkpoint(&c1).await.unwrap(),
        "re-put of the same checkpoint is idempotent"
    );
    assert!(store.put_checkpoint(&c2).await.unwrap());
    let before = observe(store).await;

    let changed_root = Checkpoint {
        root: B256::repeat_byte(0xee),
        ..c2.clone()
    };
    let res = store.put_checkpoint(&changed_root).await;
    assert_refused(
        store,
        &before,
        "same id, different root",
        res,
        is_refused(11),
    )
    .await;

    let changed_range = Checkpoint {
        range: r(100, 150),
        ..c1.clone()
    };
    let res = store.put_checkpoint(&changed_range).await;
    assert_refused(
        store,
        &before,
        "older id, different range",
        res,
        is_refused(10),
    )
    .await;

    let backwards = checkpoint(9, 200, 299, 4);
    let res = store.put_checkpoint(&backwards).await;
    assert_refused(store, &before, "id goes backwards", res, is_refused(9)).await;

    let gap = checkpoint(12, 250, 299, 4);
    let res = store.put_checkpoint(&gap).await;
    assert_refused(store, &before, "range not contiguous", res, is_refused(12)).await;

    let overlap = checkpoint(12, 150, 299, 4);
    let res = store.put_checkpoint(&overlap).await;
    assert_refused(store, &before, "range overlaps", res, is_refused(12)).await;

    assert!(
        !store.put_checkpoint(&c1).await.unwrap(),
        "an older identical checkpoint is still idempotent"
    );
    assert!(store.put_checkpoint(&c3).await.unwrap());

    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(c3.clone()));
    assert_eq!(store.checkpoint(11).await.unwrap(), Some(c2.clone()));
    assert_eq!(store.checkpoint(13).await.unwrap(), None);
    assert_eq!(store.checkpoint(0).await.unwrap(), None);
    assert_eq!(
        store.checkpoints(0, u64::MAX, 100).await.unwrap(),
        vec![c1.clone(), c2.clone(), c3.clone()]
    );
    assert_eq!(
        store.checkpoints(11, 12, 100).await.unwrap(),
        vec![c2.clone(), c3.clone()]
    );
    assert_eq!(
        store.checkpoints(10, 12, 2).await.unwrap(),
        vec![c1.clone(), c2.clone()]
    );
    assert_eq!(
        store.checkpoints(11, 11, 1).await.unwrap(),
        vec![c2.clone()]
    );
    assert!(
        store
            .checkpoints(13, u64::MAX, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.checkpoints(10, 12, 0).await.unwrap().is_empty());
    assert!(matches!(
        store.checkpoints(12, 10, 10).await,
        Err(StorageError::InvalidArgument(_))
    ));
    assert_eq!(store.stats().await.unwrap().checkpoints, 3);
}

/// Scheduler records: upserts and deletes apply atomically; a lower term is refused with
/// `StaleTerm` and changes nothing; the snapshot carries the highest term.
pub async fn scheduler_term_fencing<S: BlockStorage>(store: &S) {
    let delta = |term: u64, upserts: &[(u64, &[u8])], deletes: &[u64]| SchedulerDelta {
        term,
        upserts: upserts.iter().map(|(k, v)| (*k, v.to_vec())).collect(),
        deletes: deletes.to_vec(),
    };
    let snapshot = |term: u64, records: &[(u64, &[u8])]| SchedulerSnapshot {
        term,
        records: records.iter().map(|(k, v)| (*k, v.to_vec())).collect(),
    };

    store
        .commit_scheduler(&delta(1, &[(1, b"a"), (2, b"b"), (7, b"")], &[]))
        .await
        .unwrap();
    assert_eq!(
        store.load_scheduler().await.unwrap(),
        snapshot(1, &[(1, b"a"), (2, b"b"), (7, b"")])
    );

    store
        .commit_scheduler(&delta(1, &[(2, b"c")], &[1, 99]))
        .await
        .unwrap();
    assert_eq!(
        store.load_scheduler().await.unwrap(),
        snapshot(1, &[(2, b"c"), (7, b"")])
    );

    let big = vec![0x5a; 50_000];
    store
        .commit_scheduler(&delta(3, &[(5, &big)], &[7]))
        .await
        .unwrap();
    assert_eq!(
        store.load_scheduler().await.unwrap(),
        snapshot(3, &[(2, b"c"), (5, &big)])
    );

    let before = observe(store).await;
    let res = store
        .commit_scheduler(&delta(2, &[(2, b"stale")], &[5]))
        .await;
    assert_refused(store, &before, "stale term", res, |e| {
        matches!(
            e,
            StorageError::StaleTerm {
                given: 2,
                current: 3
            }
        )
    })
    .await;

    // The largest term would make fencing impossible (nothing could follow it): refused,
    // nothing changes.
    let before = observe(store).await;
    let res = store
        .commit_scheduler(&delta(u64::MAX, &[(2, b"takeover")], &[5]))
        .await;
    assert_refused(store, &before, "term u64::MAX", res, |e| {
        matches!(e, StorageError::InvalidArgument(_))
    })
    .await;

    store
        .commit_scheduler(&delta(3, &[(u64::MAX, b"max")], &[]))
        .await
        .unwrap();
    // an empty delta with a higher term fences out the previous leader
    store.commit_scheduler(&delta(4, &[], &[])).await.unwrap();
    assert_eq!(
        store.load_scheduler().await.unwrap(),
        snapshot(4, &[(2, b"c"), (5, &big), (u64::MAX, b"max")])
    );
    assert!(matches!(
        store.commit_scheduler(&delta(3, &[], &[])).await,
        Err(StorageError::StaleTerm {
            given: 3,
            current: 4
        })
    ));
}

/// Blocks whose body and receipts are each larger than 250 kB round-trip unchanged (exercises
/// value chunking in backends with a value size limit).
pub async fn large_blocks_round_trip<S: BlockStorage>(store: &S) {
    let g = test_chain(5_000, 3, 1_000, root_parent(9));
    for b in &g {
        assert!(
            b.body.len() > 250_000 && b.receipts.len() > 250_000,
            "generator: block too small"
        );
    }
    let out = store
        .put_batch(&batch(&g, VerificationLevel::CheckpointRoot))
        .await
        .unwrap();
    assert_eq!((out.written, out.bytes), (3, bytes_of(&g)));
    for b in &g {
        assert_eq!(
            store.block_by_number(b.number).await.unwrap().as_ref(),
            Some(b)
        );
        assert_eq!(store.block_by_hash(b.hash).await.unwrap().as_ref(), Some(b));
    }
    assert_eq!(store.blocks(r(0, u64::MAX), 10).await.unwrap(), g);
    assert_eq!(
        store.blocks(r(5_001, 5_001), 10).await.unwrap(),
        g[1..2].to_vec()
    );
    assert_eq!(store.stats().await.unwrap().bytes, bytes_of(&g));
    // a small block next to the large ones
    let next = test_chain(5_003, 1, 1, g[2].hash);
    store.put_batch(&linked(&next)).await.unwrap();
    assert_eq!(
        store.blocks(r(5_002, 5_003), 10).await.unwrap(),
        vec![g[2].clone(), next[0].clone()]
    );
    assert_consistent(store).await;
}

/// `blocks()` returns at most `limit` blocks, ascending, skipping missing numbers; paging from
/// the last number + 1 visits every stored block once.
pub async fn blocks_paging_with_limit<S: BlockStorage>(store: &S) {
    let g = test_chain(0, 70, 1, root_parent(10));
    store.put_batch(&linked(&g[0..50])).await.unwrap();
    store.put_batch(&linked(&g[60..70])).await.unwrap();

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut next = 0u64;
    loop {
        let page = store.blocks(r(next, 100), 7).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        pages += 1;
        next = page.last().unwrap().number + 1;
        seen.extend(page);
    }
    let mut expected = g[0..50].to_vec();
    expected.extend_from_slice(&g[60..70]);
    assert_eq!(seen, expected);
    assert_eq!(pages, 9);

    assert!(store.blocks(r(0, 100), 0).await.unwrap().is_empty());
    assert!(store.blocks(r(50, 59), 10).await.unwrap().is_empty());
    assert!(
        store
            .blocks(r(1_000, u64::MAX), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let around = store.blocks(r(45, 65), 100).await.unwrap();
    assert_eq!(
        around.iter().map(|b| b.number).collect::<Vec<_>>(),
        [45, 46, 47, 48, 49, 60, 61, 62, 63, 64, 65]
    );
    assert_eq!(
        store.blocks(r(45, 65), 6).await.unwrap(),
        around[..6].to_vec()
    );
    assert!(matches!(
        store.blocks(Range { start: 10, end: 5 }, 10).await,
        Err(StorageError::InvalidArgument(_))
    ));
}

/// Block 0 (no parent below) and `u64::MAX` (no successor above) work without overflow.
pub async fn extreme_block_numbers<S: BlockStorage>(store: &S) {
    let low = test_chain(0, 3, 1, B256::ZERO);
    store.put_batch(&linked(&low)).await.unwrap();
    let high = test_chain(u64::MAX - 2, 3, 1, root_parent(11));
    assert_eq!(high.last().map(|b| b.number), Some(u64::MAX));
    store.put_batch(&linked(&high)).await.unwrap();
    store.put_batch(&linked(&high[2..])).await.unwrap();
    assert_eq!(
        store.present().await.unwrap().iter().collect::<Vec<_>>(),
        vec![r(0, 2), r(u64::MAX - 2, u64::MAX)]
    );
    assert_eq!(
        store.block_by_number(u64::MAX).await.unwrap().as_ref(),
        high.last()
    );
    assert_eq!(
        store.blocks(r(u64::MAX, u64::MAX), 5).await.unwrap(),
        high[2..].to_vec()
    );
    assert_eq!(
        store.gaps(r(0, u64::MAX)).await.unwrap(),
        vec![r(3, u64::MAX - 3)]
    );
    let s = store.stats().await.unwrap();
    assert_eq!(
        (s.lowest, s.highest, s.ranges),
        (Some(0), Some(u64::MAX), 2)
    );
    // a fork block at u64::MAX conflicts
    let before = observe(store).await;
    let fork = test_chain_with_seed(u64::MAX, 1, 1, high[1].hash, 1);
    let res = store.put_batch(&linked(&fork)).await;
    assert_refused(store, &before, "fork at u64::MAX", res, |e| {
        matches!(e, StorageError::Conflict { .. })
    })
    .await;
    assert_consistent(store).await;
}

/// Concurrent, overlapping writers serialize: every block is written exactly once.
pub async fn concurrent_writers_agree<S: BlockStorage>(store: &S) {
    let g = test_chain(0, 80, 2, root_parent(12));
    let batches = [
        linked(&g[0..30]),
        linked(&g[20..50]),
        linked(&g[40..80]),
        linked(&g[0..30]),
        linked(&g[10..70]),
    ];
    let (a, b, c, d, e) = tokio::join!(
        store.put_batch(&batches[0]),
        store.put_batch(&batches[1]),
        store.put_batch(&batches[2]),
        store.put_batch(&batches[3]),
        store.put_batch(&batches[4]),
    );
    let outcomes = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap(), e.unwrap()];
    let written: u64 = outcomes.iter().map(|o| o.written).sum();
    let present: u64 = outcomes.iter().map(|o| o.already_present).sum();
    assert_eq!(
        written, 80,
        "each block must be written by exactly one batch"
    );
    assert_eq!(written + present, 30 + 30 + 40 + 30 + 60);
    assert_eq!(
        store.present().await.unwrap(),
        RangeSet::from_ranges([r(0, 79)])
    );
    let s = store.stats().await.unwrap();
    assert_eq!((s.blocks, s.bytes, s.ranges), (80, bytes_of(&g), 1));
    assert_consistent(store).await;
}
